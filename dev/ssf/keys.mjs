// @ts-check
// The dev SSF transmitter's signing keys and compact JWS (RFC 7515) over Web Crypto alone, so the
// same code signs in Node and inside workerd (an auxiliary Worker may import no npm package).
// The key id is the key's RFC 7638 thumbprint; the JWKS lists the newest key first and keeps the
// old ones, so SETs signed before a rotation still verify.
//
//   const keys = await createKeyRing('ES256');
//   keys.jwks();                                   // { keys: [{ kty, crv, x, y, kid, alg, use }] }
//   const set = await signJws(keys.current(), { typ: 'secevent+jwt' }, claims);
//   await keys.rotate();                           // a new current key, the old one still published
//   const rogue = await createSigningKey('ES256'); // a key no JWKS of ours lists

/** @typedef {'ES256' | 'RS256'} SigningAlg */
/** @typedef {import('node:crypto').webcrypto.CryptoKey} CryptoKey Web Crypto's, typed from Node's (workerd's is the same) */
/** @typedef {import('node:crypto').webcrypto.CryptoKeyPair} CryptoKeyPair */
/**
 * @typedef {object} SigningKey
 * @property {SigningAlg} alg
 * @property {string} kid
 * @property {CryptoKey} privateKey
 * @property {Record<string, string>} publicJwk with kid, alg and use
 */

const ALGORITHMS = {
  ES256: { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  RS256: {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

/** @param {unknown} alg @returns {alg is SigningAlg} */
export function isSigningAlg(alg) {
  return alg === 'ES256' || alg === 'RS256';
}

/** @param {SigningAlg} alg @returns {Promise<SigningKey>} */
export async function createSigningKey(alg) {
  const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ALGORITHMS[alg].generate, true, ['sign', 'verify']));
  const exported = await crypto.subtle.exportKey('jwk', pair.publicKey);
  /** @type {Record<string, string>} RFC 7638 §3.2: only the required members, in this order */
  const required = alg === 'ES256'
    ? { crv: String(exported.crv), kty: 'EC', x: String(exported.x), y: String(exported.y) }
    : { e: String(exported.e), kty: 'RSA', n: String(exported.n) };
  const kid = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(JSON.stringify(required)))));
  return { alg, kid, privateKey: pair.privateKey, publicJwk: { ...required, kid, alg, use: 'sig' } };
}

/** @param {SigningAlg} alg */
export async function createKeyRing(alg) {
  /** @type {SigningKey[]} newest first */
  const keys = [await createSigningKey(alg)];
  return {
    alg,
    /** @returns {SigningKey} */
    current: () => /** @type {SigningKey} */ (keys[0]),
    jwks: () => ({ keys: keys.map((key) => key.publicJwk) }),
    /** A new current key; the old ones stay published (at most 5 in all). */
    async rotate() {
      keys.unshift(await createSigningKey(alg));
      keys.splice(5);
      return /** @type {SigningKey} */ (keys[0]).kid;
    },
  };
}

/**
 * A compact JWS of `payload` signed by `key`; the header gets the key's alg and kid unless
 * `header` names another kid (a SET signed by a foreign key under our kid).
 * @param {SigningKey} key @param {Record<string, unknown>} header @param {Record<string, unknown>} payload
 */
export async function signJws(key, header, payload) {
  const signingInput = `${base64url(utf8(JSON.stringify({ alg: key.alg, kid: key.kid, ...header })))}.${base64url(utf8(JSON.stringify(payload)))}`;
  // Web Crypto's ECDSA signature is r || s, which is JWS's form already (RFC 7518 §3.4).
  const signature = await crypto.subtle.sign(ALGORITHMS[key.alg].sign, key.privateKey, utf8(signingInput));
  return `${signingInput}.${base64url(new Uint8Array(signature))}`;
}

/** @param {number} bytes */
export function randomId(bytes = 16) {
  const value = new Uint8Array(bytes);
  crypto.getRandomValues(value);
  return [...value].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** @param {number} bytes */
export function randomToken(bytes = 32) {
  const value = new Uint8Array(bytes);
  crypto.getRandomValues(value);
  return base64url(value);
}

/**
 * Whether two secrets are equal, in time that does not depend on where they differ: both are
 * hashed first, so their lengths do not show either.
 * @param {string} given @param {string} expected
 */
export async function secretsEqual(given, expected) {
  const [a, b] = await Promise.all([given, expected].map(async (text) => new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(text)))));
  let difference = 0;
  for (let i = 0; i < 32; i++) difference |= /** @type {number} */ (a?.[i]) ^ /** @type {number} */ (b?.[i]);
  return difference === 0;
}

/** @param {string} text */
function utf8(text) {
  return new TextEncoder().encode(text);
}

/** @param {Uint8Array} bytes */
function base64url(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
