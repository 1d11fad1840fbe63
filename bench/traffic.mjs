// @ts-check
// What the bench's requests carry: the issuer's signing keys, tokens like real access tokens, and
// per kind of traffic the header sets of a run's requests, turned into raw HTTP/1.1 requests that
// autocannon sends as they are (the Node side does no per-request formatting).
//
//   const { keys, jwks } = await makeKeys();
//   const traffic = createTraffic({ keys, pool: 60_000 });
//   const { buffers, unique, resendRefused, cursor } = await traffic.requests(row);
//
// A new kind of traffic (say DPoP tokens with fresh proofs) is one entry in TRAFFIC: a list of
// header sets, and whether an entry may repeat within a run.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';

/** The bench's one issuer, its audience and the Host every row sends unless it names another. */
export const ISSUER = 'https://issuer.bench.test/';
export const AUDIENCE = 'https://api.bench.test';
export const HOST = 'api.bench.test';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

/** @typedef {'RS256' | 'ES256'} Alg */
/** @typedef {{ kid: string; privateKey: import('node:crypto').webcrypto.CryptoKey }} SigningKey */
/** @typedef {{ keys: Record<Alg, SigningKey>; pool: number }} TrafficContext */
/** @typedef {import('./run.mjs').Row} Row */

/** Kinds of traffic: the header sets a run's requests carry (one each, in order), and whether an
 *  entry may repeat within a run (`unique`: a run stops early rather than repeat one). Built once,
 *  when a selected row first needs it. */
export const TRAFFIC = /** @type {Record<string, { unique: boolean; resendRefused?: boolean; build: (t: TrafficContext) => Promise<Record<string, string>[]> }>} */ ({
  'distinct RS256': { unique: true, build: async (t) => (await tokenPool(t.keys.RS256, 'RS256', t.pool)).map(bearer) },
  'distinct ES256': { unique: true, build: async (t) => (await tokenPool(t.keys.ES256, 'ES256', t.pool)).map(bearer) },
  'repeated RS256': { unique: false, build: async (t) => [bearer(await signToken(t.keys.RS256, 'RS256', 0))] },
  // Distinct DPoP-bound tokens (cnf.jkt) of 64 client keys, each request with its own proof for
  // the URL the Worker sees (the Host header's): one more ES256 signature and one replay-object
  // call per request.
  'dpop ES256': { unique: true, resendRefused: true, build: async (t) => dpopPool(t.keys.ES256, t.pool) },
  // Opaque access tokens (32 random bytes, base64url, as providers make them): the stand-in's
  // introspection endpoint answers every one of them active (run.mjs registers it).
  'repeated opaque': { unique: false, build: async () => [bearer(opaqueToken())] },
  'distinct opaque': { unique: true, build: async (t) => Array.from({ length: t.pool }, () => bearer(opaqueToken())) },
});
const opaqueToken = () => randomBytes(32).toString('base64url');
const bearer = (/** @type {string} */ token) => ({ authorization: `Bearer ${token}` });

/** The header sets of each kind of traffic, built once, and each row's requests. */
export function createTraffic(/** @type {TrafficContext} */ context) {
  /** @type {Map<string, Promise<Record<string, string>[]>>} */
  const headerSets = new Map();
  /** @type {Map<string, Buffer[]>} */
  const buffers = new Map();
  /** @type {Map<string, { at: number }>} */
  const cursors = new Map();
  const headersOf = (/** @type {string} */ name) => {
    const traffic = TRAFFIC[name];
    if (!traffic) throw new Error(`no traffic ${name}`);
    let sets = headerSets.get(name);
    if (!sets) headerSets.set(name, sets = traffic.build(context));
    return sets;
  };
  return {
    headersOf,
    /** A row's requests as raw HTTP/1.1 (Host, keep-alive, the traffic's headers), and the cursor
     *  of its traffic at its Worker: a Worker sees an entry again only after the whole pool. */
    async requests(/** @type {Row} */ row) {
      const traffic = /** @type {(typeof TRAFFIC)[string]} */ (TRAFFIC[row.traffic]);
      const key = `${row.traffic} ${row.host ?? HOST} ${row.path ?? '/orders'}`;
      let built = buffers.get(key);
      if (!built) {
        const head = `GET ${row.path ?? '/orders'} HTTP/1.1\r\nHost: ${row.host ?? HOST}\r\nConnection: keep-alive\r\n`;
        built = (await headersOf(row.traffic)).map((set) =>
          Buffer.from(`${head}${Object.entries(set).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`, 'latin1'));
        buffers.set(key, built);
      }
      let cursor = cursors.get(`${row.traffic} ${row.worker}`);
      if (!cursor) cursors.set(`${row.traffic} ${row.worker}`, cursor = { at: 0 });
      return { buffers: built, unique: traffic.unique, resendRefused: traffic.resendRefused ?? false, cursor };
    },
  };
}

/** @typedef {ReturnType<typeof createTraffic>} Traffic */

/** An RS256 and an ES256 signing key, and the JWKS (JSON) that publishes both. */
export async function makeKeys() {
  /** @type {Record<Alg, SigningKey>} */
  const keys = /** @type {any} */ ({});
  const jwks = [];
  for (const alg of /** @type {Alg[]} */ (['RS256', 'ES256'])) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `bench-${alg.toLowerCase()}`;
    keys[alg] = { kid, privateKey };
    jwks.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  }
  return { keys, jwks: { keys: jwks } };
}

/** A token like a real access token (~0.9 KB for RS256): 50 users, distinct jti. */
export function signToken(/** @type {SigningKey} */ key, /** @type {Alg} */ alg, /** @type {number} */ i,
  options = /** @type {{ issuer?: string; audience?: string; kid?: string; claims?: Record<string, unknown> }} */ ({})) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    scope: 'orders:read orders:write profile', azp: 'bench-client', email: `user-${i % 50}@bench.example`,
    name: `Bench User ${i % 50}`, roles: ['reader', 'writer'], tenant_tier: 'gold', sid: `s-${i.toString(36).padStart(12, '0')}`,
    ...options.claims,
  })
    .setProtectedHeader({ alg, kid: options.kid ?? key.kid })
    .setIssuer(options.issuer ?? ISSUER).setAudience(options.audience ?? AUDIENCE).setSubject(`user-${i % 50}`)
    .setJti(`jti-${alg}-${i}-${Math.random().toString(36).slice(2)}`).setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(key.privateKey);
}

/** DPoP-bound ES256 tokens, each with a fresh ES256 proof (RFC 9449 §4.2) for GET http://<HOST>/orders. */
async function dpopPool(/** @type {SigningKey} */ key, /** @type {number} */ n) {
  const started = Date.now();
  const clients = await Promise.all(Array.from({ length: 64 }, async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(publicKey);
    const jwk = { kty, crv, x, y };
    return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
  }));
  const htu = `http://${HOST}/orders`;
  /** @type {Record<string, string>[]} */
  const sets = [];
  for (let i = 0; i < n; i += 200) {
    sets.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, async (_, j) => {
      const client = /** @type {(typeof clients)[number]} */ (clients[(i + j) % clients.length]);
      const token = await signToken(key, 'ES256', i + j, { claims: { cnf: { jkt: client.jkt } } });
      const ath = createHash('sha256').update(token).digest('base64url');
      const proof = await new SignJWT({ jti: randomUUID(), htm: 'GET', htu, ath })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: client.jwk }).setIssuedAt().sign(client.privateKey);
      return { authorization: `DPoP ${token}`, dpop: proof };
    }))));
  }
  log(`signed ${n} DPoP-bound ES256 tokens and proofs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return sets;
}

async function tokenPool(/** @type {SigningKey} */ key, /** @type {Alg} */ alg, /** @type {number} */ n) {
  const started = Date.now();
  /** @type {string[]} */
  const tokens = [];
  for (let i = 0; i < n; i += 200) {
    tokens.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, j) => signToken(key, alg, i + j)))));
  }
  log(`signed ${n} ${alg} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return tokens;
}
