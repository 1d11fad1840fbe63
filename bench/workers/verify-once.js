// One crypto.subtle.verify of a bearer token's signature with the issuer's key imported once per
// isolate; no claim checks at all. Shared by the crypto-limit and forward-after-verify baselines:
// nothing that verifies a token can do less.
const encoder = new TextEncoder();
/** @type {Map<string, Promise<CryptoKey>>} kid -> imported key */
const keys = new Map();
const PARAMS = {
  RS256: { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, verify: { name: 'RSASSA-PKCS1-v1_5' } },
  ES256: { import: { name: 'ECDSA', namedCurve: 'P-256' }, verify: { name: 'ECDSA', hash: 'SHA-256' } },
};

function base64urlBytes(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function keyFor(jwksJson, kid) {
  let key = keys.get(kid);
  if (key === undefined) {
    const jwk = JSON.parse(jwksJson).keys.find((k) => k.kid === kid);
    key = crypto.subtle.importKey('jwk', jwk, PARAMS[jwk.alg].import, false, ['verify']);
    keys.set(kid, key);
  }
  return key;
}

/** True if the request's bearer token carries a valid signature by a key in the JWKS (JSON). */
export async function verifyOnce(request, jwksJson) {
  const token = (request.headers.get('authorization') ?? '').slice(7);
  const dot1 = token.indexOf('.');
  const dot2 = token.lastIndexOf('.');
  // The kid and alg come from the bench's own token layout: header {alg, kid} only.
  const header = JSON.parse(atob(token.slice(0, dot1).replace(/-/g, '+').replace(/_/g, '/')));
  const key = await keyFor(jwksJson, header.kid);
  return crypto.subtle.verify(PARAMS[header.alg].verify, key, base64urlBytes(token.slice(dot2 + 1)), encoder.encode(token.slice(0, dot2)));
}
