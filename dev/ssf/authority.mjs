// @ts-check
// Who may call the dev SSF transmitter's management API and poll endpoints (SSF 1.0 §8: the
// credential names the receiver, and a receiver sees only its own streams). A receiver holds a
// static bearer token (RFC 6750), or OAuth 2.0 client credentials (RFC 6749 §4.4) for the
// transmitter's own token endpoint, described by an RFC 8414 document; either way its token
// carries scopes: `ssf.read` for reading configuration and status and for polling, `ssf.manage`
// for everything (the CAEP interoperability profile's scopes; manage includes read).
//
//   const authority = createAuthority({ receivers, now, tokenTtlSeconds: 3600 });
//   const caller = await authority.authenticate(request, 'manage');   // { ok, receiver } | { ok: false, response }
//   if (!caller.ok) return caller.response;
//   return authority.token(request);                                  // the token endpoint (POST, form body)

import { randomToken, secretsEqual } from './keys.mjs';
import { readText, refusal } from './responses.mjs';

export const READ = 'ssf.read';
export const MANAGE = 'ssf.manage';
const SCOPES = [READ, MANAGE];
const MAX_TOKENS = 10_000;
const MAX_FORM_BYTES = 8 * 1024;

/**
 * A receiver as configured: who it is, the `aud` of its streams, how it authenticates and what
 * it may do.
 * @typedef {object} ReceiverOptions
 * @property {string} id names it in the dev log
 * @property {string | string[]} audience the `aud` of its streams and SETs
 * @property {string} [bearerToken] a static token it sends as `Authorization: Bearer`
 * @property {string} [clientId] OAuth client credentials for the token endpoint
 * @property {string} [clientSecret]
 * @property {string} [scope] what its credentials may do; default "ssf.read ssf.manage"
 * @property {number} [maxStreams] streams it may hold at once (a create past it is 409); default 1
 */
/** @typedef {Required<Pick<ReceiverOptions, 'id' | 'audience' | 'maxStreams'>> & { bearerToken?: string, clientId?: string, clientSecret?: string, scopes: Set<string> }} Receiver */

/**
 * The receivers, checked once: ids and credentials unique, an audience, at least one credential.
 * @param {unknown} list @returns {Receiver[]}
 */
export function compileReceivers(list) {
  if (!Array.isArray(list) || list.length === 0) throw new TypeError('receivers: at least one receiver is needed');
  const seen = new Set();
  return list.map((/** @type {ReceiverOptions} */ options) => {
    const { id, audience, bearerToken, clientId, clientSecret, scope = `${READ} ${MANAGE}`, maxStreams = 1 } = options;
    if (typeof id !== 'string' || id === '') throw new TypeError('receivers: each needs an id');
    const audienceOk = typeof audience === 'string' ? audience !== '' : Array.isArray(audience) && audience.length > 0 && audience.every((a) => typeof a === 'string' && a !== '');
    if (!audienceOk) throw new TypeError(`receiver ${id}: audience must be a string or an array of strings`);
    if (bearerToken === undefined && clientId === undefined) throw new TypeError(`receiver ${id}: needs a bearerToken or a clientId and clientSecret`);
    if (clientId !== undefined && (typeof clientSecret !== 'string' || clientSecret === '')) throw new TypeError(`receiver ${id}: clientId needs a clientSecret`);
    if (!Number.isInteger(maxStreams) || maxStreams < 1) throw new TypeError(`receiver ${id}: maxStreams must be a positive integer`);
    const scopes = new Set(scope.split(' ').filter(Boolean));
    if ([...scopes].some((s) => !SCOPES.includes(s))) throw new TypeError(`receiver ${id}: scope may hold ${SCOPES.join(', ')}`);
    for (const key of [`id:${id}`, bearerToken && `token:${bearerToken}`, clientId && `client:${clientId}`]) {
      if (!key) continue;
      if (seen.has(key)) throw new TypeError(`receivers: ${key.split(':')[0]} values must be unique`);
      seen.add(key);
    }
    return { id, audience, maxStreams, scopes, ...(bearerToken ? { bearerToken } : {}), ...(clientId ? { clientId, clientSecret } : {}) };
  });
}

/**
 * @param {{ receivers: Receiver[], now: () => number, tokenTtlSeconds: number }} setup
 */
export function createAuthority({ receivers, now, tokenTtlSeconds }) {
  /** Access tokens issued by the token endpoint, oldest first. @type {Map<string, { receiver: Receiver, scopes: Set<string>, expiresAt: number }>} */
  const tokens = new Map();

  return {
    /**
     * The receiver a request's bearer token names, if it may do `need`: 401 without a valid
     * token, 403 when its scopes fall short (RFC 6750 §3.1).
     * @param {Request} request @param {'read' | 'manage'} need
     * @returns {Promise<{ ok: true, receiver: Receiver } | { ok: false, response: Response }>}
     */
    async authenticate(request, need) {
      const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(request.headers.get('authorization') ?? '');
      if (match === null) {
        return { ok: false, response: refusal(401, 'invalid_request', 'a bearer token is needed', { 'www-authenticate': 'Bearer realm="ssf"' }) };
      }
      const presented = /** @type {string} */ (match[1]);
      const found = await findToken(presented);
      if (found === null) {
        return { ok: false, response: refusal(401, 'invalid_token', 'the bearer token is not valid', { 'www-authenticate': 'Bearer realm="ssf", error="invalid_token"' }) };
      }
      const allowed = need === 'manage' ? found.scopes.has(MANAGE) : found.scopes.has(READ) || found.scopes.has(MANAGE);
      if (!allowed) {
        const scope = need === 'manage' ? MANAGE : READ;
        return { ok: false, response: refusal(403, 'insufficient_scope', `this call needs the scope ${scope}`, { 'www-authenticate': `Bearer realm="ssf", error="insufficient_scope", scope="${scope}"` }) };
      }
      return { ok: true, receiver: found.receiver };
    },

    /** The token endpoint (RFC 6749 §4.4, §5): client_secret_basic or client_secret_post. @param {Request} request */
    async token(request) {
      if (request.method !== 'POST') return refusal(405, 'invalid_request', 'the token endpoint takes POST', { allow: 'POST' });
      const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (mediaType !== 'application/x-www-form-urlencoded') return refusal(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
      const text = await readText(request, MAX_FORM_BYTES);
      if (!text.ok) return text.response;
      const form = new URLSearchParams(text.value);
      const client = readClient(request, form);
      if (!client.ok) return client.response;
      const receiver = receivers.find((r) => r.clientId === client.id);
      const secretOk = await secretsEqual(client.secret, receiver?.clientSecret ?? '\0no such client');
      if (receiver === undefined || !secretOk) {
        return refusal(401, 'invalid_client', 'client authentication failed', client.basic ? { 'www-authenticate': 'Basic realm="ssf"' } : {});
      }
      if (form.get('grant_type') !== 'client_credentials') return refusal(400, 'unsupported_grant_type', 'only client_credentials is supported');
      const asked = form.get('scope');
      const scopes = asked === null ? new Set(receiver.scopes) : new Set(asked.split(' ').filter(Boolean));
      if (scopes.size === 0 || [...scopes].some((s) => !receiver.scopes.has(s))) {
        return refusal(400, 'invalid_scope', `this client may ask for ${[...receiver.scopes].join(' ')}`);
      }
      const accessToken = randomToken();
      for (const [token, entry] of tokens) if (entry.expiresAt <= now()) tokens.delete(token);
      while (tokens.size >= MAX_TOKENS) tokens.delete(/** @type {string} */ (tokens.keys().next().value));
      tokens.set(accessToken, { receiver, scopes, expiresAt: now() + tokenTtlSeconds * 1000 });
      return new Response(JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: tokenTtlSeconds, scope: [...scopes].join(' ') }), {
        status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' },
      });
    },

    /** RFC 8414 §2 metadata of the transmitter as its own authorization server. @param {string} issuer @param {string} tokenEndpoint */
    metadata(issuer, tokenEndpoint) {
      return {
        issuer,
        token_endpoint: tokenEndpoint,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        scopes_supported: SCOPES,
        // REQUIRED by RFC 8414; no authorization endpoint, so no response types.
        response_types_supported: [],
      };
    },
  };

  /** @param {string} presented */
  async function findToken(presented) {
    const issued = tokens.get(presented);
    if (issued !== undefined) {
      if (issued.expiresAt > now()) return issued;
      tokens.delete(presented);
      return null;
    }
    for (const receiver of receivers) {
      if (receiver.bearerToken !== undefined && await secretsEqual(presented, receiver.bearerToken)) {
        return { receiver, scopes: receiver.scopes };
      }
    }
    return null;
  }
}

/**
 * The client's id and secret, from HTTP Basic (RFC 6749 §2.3.1, form-encoded inside) or the
 * form; both at once is refused (§2.3: one method per request).
 * @param {Request} request @param {URLSearchParams} form
 * @returns {{ ok: true, id: string, secret: string, basic: boolean } | { ok: false, response: Response }}
 */
function readClient(request, form) {
  const header = request.headers.get('authorization');
  const inForm = form.has('client_secret');
  if (header !== null) {
    if (inForm) return { ok: false, response: refusal(400, 'invalid_request', 'use one client authentication method') };
    const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
    const decoded = match === null ? null : decodeBasic(/** @type {string} */ (match[1]));
    if (decoded === null) return { ok: false, response: refusal(401, 'invalid_client', 'client authentication failed', { 'www-authenticate': 'Basic realm="ssf"' }) };
    return { ok: true, ...decoded, basic: true };
  }
  const id = form.get('client_id');
  const secret = form.get('client_secret');
  if (id === null || secret === null) return { ok: false, response: refusal(401, 'invalid_client', 'client authentication is needed', { 'www-authenticate': 'Basic realm="ssf"' }) };
  return { ok: true, id, secret, basic: false };
}

/** @param {string} encoded @returns {{ id: string, secret: string } | null} */
function decodeBasic(encoded) {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)));
    const colon = text.indexOf(':');
    if (colon < 0) return null;
    return { id: decodeURIComponent(text.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(text.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    return null;
  }
}
