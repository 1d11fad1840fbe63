// The one way the edge calls an SSF transmitter (its metadata, token endpoint, stream management
// API and poll endpoint: docs/events.md "Streams"): the URL rules of discovery (https, or http on
// loopback with ALLOW_INSECURE_ISSUERS; no credentials in the URL), no redirects, a deadline that
// covers the body, a body cap, JSON. Any status comes back with its body read as JSON when it is
// one, for the caller to judge; a failure to get an answer at all is a value with a short note.
// Nothing here logs, and no note holds a header or a body.
//
//   const answer = await callTransmitter({ method: 'POST', url, authorization, json: body }, rules);
//   if (!answer.ok) answer.note;                    // 'timeout', 'body over 65536 bytes', 'url not allowed'
//   answer.status; answer.body;                     // 201, { stream_id: ... } (null: empty or not JSON)
import { discard, readBody, utf8 } from '../base/body';
import { FETCH_TIMEOUT_MS, issuerUrl } from '../keys/issuer-fetch';

export interface TransmitterRules {
  /** ALLOW_INSECURE_ISSUERS === "true": http is then allowed, and only on loopback. */
  readonly allowInsecure: boolean;
  /** The network (the stream object's, which tests replace). */
  readonly fetch: typeof fetch;
  readonly timeoutMs?: number;
}

export interface TransmitterRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  /** The Authorization header value, when the call is authenticated. */
  readonly authorization?: string;
  /** A JSON body, or a form body (the token endpoint). */
  readonly json?: unknown;
  readonly form?: URLSearchParams;
  /** The largest answer read; default 64 KiB. */
  readonly maxBytes?: number;
}

export type TransmitterAnswer =
  | { readonly ok: true; readonly status: number; readonly body: unknown }
  | { readonly ok: false; readonly note: string };

/** Management answers (metadata, stream configurations, tokens, errors) are small. */
export const MAX_MANAGEMENT_BYTES = 64 * 1024;

export async function callTransmitter(request: TransmitterRequest, rules: TransmitterRules): Promise<TransmitterAnswer> {
  const url = issuerUrl(request.url, rules.allowInsecure);
  if (url === null) return { ok: false, note: 'url not allowed' };
  // A timer we clear (as keys/issuer-fetch.ts): a pending one would keep the object busy.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), rules.timeoutMs ?? FETCH_TIMEOUT_MS);
  try {
    return await callWithin(url, request, rules, deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function callWithin(url: URL, request: TransmitterRequest, rules: TransmitterRules, signal: AbortSignal): Promise<TransmitterAnswer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.authorization !== undefined) headers.authorization = request.authorization;
  let body: string | undefined;
  if (request.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.json);
  } else if (request.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = request.form.toString();
  }
  let response: Response;
  try {
    // manual: a 3xx comes back as itself, and the caller refuses it; no redirect is followed.
    response = await rules.fetch(url.href, { method: request.method, headers, body, redirect: 'manual', signal });
  } catch {
    return { ok: false, note: signal.aborted ? 'timeout' : 'network error' };
  }
  const maxBytes = request.maxBytes ?? MAX_MANAGEMENT_BYTES;
  if (response.status === 204 || response.status === 205) {
    await discard(response.body);
    return { ok: true, status: response.status, body: null };
  }
  const read = await readBody(response, { maxBytes, signal });
  if (!read.ok) {
    const note = read.failure === 'too_large' ? `body over ${maxBytes} bytes` : read.failure === 'timeout' ? 'timeout' : 'network error';
    return { ok: false, note };
  }
  return { ok: true, status: response.status, body: jsonOf(read.bytes) };
}

function jsonOf(bytes: Uint8Array): unknown {
  const text = bytes.length === 0 ? null : utf8(bytes);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** What a refusing transmitter said, bounded, for the admin (never logged): its OAuth-style
 *  `error` and `error_description`, or Okta's `errorCode` and `errorSummary`. */
export function transmitterError(status: number | null, body: unknown): { status: number | null; error?: string; description?: string } {
  const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? body as Record<string, unknown> : {};
  const pick = (names: string[], max: number) => {
    for (const name of names) {
      const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
      if (typeof value === 'string' && value !== '') return value.slice(0, max);
    }
    return undefined;
  };
  const error = pick(['error', 'err', 'errorCode'], 64);
  const description = pick(['error_description', 'description', 'errorSummary'], 256);
  return { status, ...(error === undefined ? {} : { error }), ...(description === undefined ? {} : { description }) };
}
