// The one way this service fetches from an issuer (SPEC.md "Keys: discovery and JWKS"): https
// only (loopback http when allowed), no redirects, 200 only, a deadline covering the body, a
// body cap, JSON. Every failure is a value with a short note for the log; nothing here throws.
//
//   const fetched = await fetchIssuerJson(jwksUri, { allowInsecure: false, timeoutMs: 5_000 });
//   if (!fetched.ok) return fetched.note;       // 'status 302', 'timeout', 'body over 262144 bytes'
//   fetched.body; fetched.headers.get('cache-control');

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

export async function fetchIssuerJson(raw: string, rules: FetchRules): Promise<Fetched> {
  const url = issuerUrl(raw, rules.allowInsecure);
  if (url === null) return { ok: false, note: 'url not allowed' };
  // A timer we clear, rather than AbortSignal.timeout: a pending timer would keep the calling
  // request (and a Durable Object's eviction) waiting out the full deadline after the answer.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), rules.timeoutMs);
  try {
    return await fetchWithin(url, rules, deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchWithin(url: URL, rules: FetchRules, signal: AbortSignal): Promise<Fetched> {
  const maxBytes = rules.maxBytes ?? MAX_BODY_BYTES;
  const network = rules.fetch ?? fetch;
  let response: Response;
  try {
    // manual: a 3xx comes back as itself and is refused below, so no redirect is ever followed.
    response = await network(url.href, { redirect: 'manual', signal, headers: { accept: 'application/json' } });
  } catch {
    return { ok: false, note: signal.aborted ? 'timeout' : 'network error' };
  }
  if (response.status !== 200) {
    await discard(response);
    return { ok: false, note: `status ${response.status}`, status: response.status };
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await discard(response);
    return { ok: false, note: `body over ${maxBytes} bytes` };
  }
  const text = await readCapped(response, maxBytes, signal);
  if (!text.ok) return text;
  try {
    return { ok: true, body: JSON.parse(text.value), headers: response.headers };
  } catch {
    return { ok: false, note: 'body is not JSON' };
  }
}

/** Reads the body counting bytes (content-length may be absent or lie), racing the deadline. */
async function readCapped(
  response: Response, maxBytes: number, signal: AbortSignal,
): Promise<{ ok: true; value: string } | { ok: false; note: string }> {
  if (response.body === null) return { ok: true, value: '' };
  const reader = response.body.getReader();
  let onAbort = () => {};
  const deadline = new Promise<'timeout'>((resolve) => {
    onAbort = () => resolve('timeout');
    if (signal.aborted) resolve('timeout');
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), deadline]);
      if (next === 'timeout') {
        void reader.cancel().catch(() => {});
        return { ok: false, note: 'timeout' };
      }
      if (next.done) break;
      total += next.value.byteLength;
      if (total > maxBytes) {
        void reader.cancel().catch(() => {});
        return { ok: false, note: `body over ${maxBytes} bytes` };
      }
      chunks.push(next.value);
    }
  } catch {
    return { ok: false, note: signal.aborted ? 'timeout' : 'network error' };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, value: new TextDecoder().decode(bytes) };
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // Nothing to do: the body is not wanted either way.
  }
}
