// @ts-check
// HTTP answers of the dev SSF transmitter (dev/ssf-transmitter.mjs): JSON bodies, the one error
// shape every refusal uses (`{"error", "error_description"}`, as OAuth 2.0 and RFC 6750 answer),
// and request bodies read under a byte cap, refused (413) before anything is parsed.
//
//   return json(200, config);                         // application/json, Cache-Control: no-store
//   return refusal(404, 'not_found', 'no stream with that stream_id for this receiver');
//   const body = await readJson(request, 64 * 1024);  // { ok: true, value } | { ok: false, response }
//   if (!body.ok) return body.response;

/** @template T @typedef {{ ok: true, value: T } | { ok: false, response: Response }} Read */

/** @param {number} status @param {unknown} body @param {Record<string, string>} [headers] */
export function json(status, body, headers = {}) {
  // A final newline, as the edge's own JSON answers end: a curl's output then ends its line.
  return new Response(`${JSON.stringify(body)}\n`, {
    status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}

/** @param {number} status @param {Record<string, string>} [headers] */
export function empty(status, headers = {}) {
  return new Response(null, { status, headers: { 'cache-control': 'no-store', ...headers } });
}

/**
 * A refused request: its status, a stable code and a description that never holds a credential.
 * @param {number} status @param {string} error @param {string} description @param {Record<string, string>} [headers]
 */
export function refusal(status, error, description, headers = {}) {
  return json(status, { error, error_description: description }, headers);
}

/** @param {string[]} allowed */
export function methodNotAllowed(allowed) {
  return refusal(405, 'method_not_allowed', `this endpoint answers ${allowed.join(', ')}`, { allow: allowed.join(', ') });
}

/**
 * The body of a request (or of a response the transmitter reads) as UTF-8 text, at most
 * `maxBytes`: a larger one (declared or streamed) is 413 and is not read further; bytes that are
 * not UTF-8 are 400.
 * @param {Request | Response} request @param {number} maxBytes @returns {Promise<Read<string>>}
 */
export async function readText(request, maxBytes) {
  const tooLarge = { ok: /** @type {const} */ (false), response: refusal(413, 'too_large', `the body may hold at most ${maxBytes} bytes`) };
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge;
  if (request.body === null) return { ok: true, value: '' };
  const reader = request.body.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return tooLarge;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return { ok: true, value: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { ok: false, response: refusal(400, 'invalid_request', 'the body is not UTF-8') };
  }
}

/**
 * The body as a JSON object, at most `maxBytes`. An empty body is `{}` (SSF's create request and
 * RFC 8936's default poll may carry nothing); anything but an object is 400.
 * @param {Request | Response} request @param {number} maxBytes @returns {Promise<Read<Record<string, unknown>>>}
 */
export async function readJson(request, maxBytes) {
  const text = await readText(request, maxBytes);
  if (!text.ok) return text;
  if (text.value.trim() === '') return { ok: true, value: {} };
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(text.value);
  } catch {
    return { ok: false, response: refusal(400, 'invalid_request', 'the body is not JSON') };
  }
  if (!isObject(value)) return { ok: false, response: refusal(400, 'invalid_request', 'the body must be a JSON object') };
  return { ok: true, value };
}

/** @param {unknown} value @returns {value is Record<string, unknown>} */
export function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `object` has `key` as its own member (not one inherited, such as `__proto__`). @param {object} object @param {string} key */
export function has(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/** JSON with its object members sorted: two values are the same JSON exactly when these are equal. @param {unknown} value @returns {string} */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
