// The one way this service fetches from an issuer (README.md "Keys: discovery and JWKS"): https
// only (loopback http when allowed), no redirects, 200 only, a deadline covering the body, a
// body cap, JSON. Every failure is a value with a short note for the log; nothing here throws.
//
//   const fetched = await fetchIssuerJson(jwksUri, { allowInsecure: false, timeoutMs: 5_000 });
//   if (!fetched.ok) return fetched.note;       // 'status 302', 'timeout', 'body over 262144 bytes'
//   fetched.body; fetched.headers.get('cache-control');
//   await fetchIssuerJson(endpoint, rules, { headers: { authorization }, form: 'token=…' });   // a POST (RFC 7662)

import { discard, readBody } from '../base/body';

export const FETCH_TIMEOUT_MS = 5_000;
export const MAX_BODY_BYTES = 256 * 1024;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface FetchRules {
  /** ALLOW_INSECURE_ISSUERS === "true": http is then allowed, and only on loopback. */
  readonly allowInsecure: boolean;
  readonly timeoutMs: number;
  readonly maxBytes?: number;
  /** The network; tests of a decision may pass their own. */
  readonly fetch?: typeof fetch;
}

export type Fetched =
  | { ok: true; body: unknown; headers: Headers }
  /** status is set when the issuer answered with something other than 200. */
  | { ok: false; note: string; status?: number };

/** The URL when an issuer URL may be fetched under the rules, else null. */
export function issuerUrl(raw: string, allowInsecure: boolean): URL | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  // Credentials in a URL would be sent to whoever the document names.
  if (url.username !== '' || url.password !== '') return null;
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && allowInsecure && LOOPBACK_HOSTS.has(url.hostname)) return url;
  return null;
}

/** A POST of an application/x-www-form-urlencoded body (an introspection call), with its headers. */
export interface FormPost {
  readonly headers: Readonly<Record<string, string>>;
  readonly form: string;
}

/** A GET, or with `post` a form POST, under the same rules. */
export async function fetchIssuerJson(raw: string, rules: FetchRules, post?: FormPost): Promise<Fetched> {
  const url = issuerUrl(raw, rules.allowInsecure);
  if (url === null) return { ok: false, note: 'url not allowed' };
  // A timer we clear, rather than AbortSignal.timeout: a pending timer would keep the calling
  // request (and a Durable Object's eviction) waiting out the full deadline after the answer.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), rules.timeoutMs);
  try {
    return await fetchWithin(url, rules, deadline.signal, post);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchWithin(url: URL, rules: FetchRules, signal: AbortSignal, post: FormPost | undefined): Promise<Fetched> {
  const maxBytes = rules.maxBytes ?? MAX_BODY_BYTES;
  const network = rules.fetch ?? fetch;
  let response: Response;
  try {
    // manual: a 3xx comes back as itself and is refused below, so no redirect is ever followed.
    response = await network(url.href, post === undefined
      ? { redirect: 'manual', signal, headers: { accept: 'application/json' } }
      : {
        method: 'POST', redirect: 'manual', signal, body: post.form,
        headers: { ...post.headers, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      });
  } catch {
    return { ok: false, note: signal.aborted ? 'timeout' : 'network error' };
  }
  if (response.status !== 200) {
    await discard(response.body);
    return { ok: false, note: `status ${response.status}`, status: response.status };
  }
  const read = await readBody(response, { maxBytes, signal });
  if (!read.ok) {
    const note = read.failure === 'too_large' ? `body over ${maxBytes} bytes` : read.failure === 'timeout' ? 'timeout' : 'network error';
    return { ok: false, note };
  }
  try {
    return { ok: true, body: JSON.parse(new TextDecoder().decode(read.bytes)), headers: response.headers };
  } catch {
    return { ok: false, note: 'body is not JSON' };
  }
}
