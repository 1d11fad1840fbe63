// Test isolates for the key tiers: each `isolate()` is a fresh createKeyTiers (a cold isolate)
// bound to the real IssuerKeys namespace through a wrapper that counts object calls. The
// object's clock is the test's clock, set on the instance.
//
//   let t = Date.now(); const now = () => t;
//   const policy = policyFor(issuer);
//   await useClock(policy, now);
//   const a = isolate(now);
//   await a.keys.candidates(policy, { alg: 'RS256', kid });   a.objectCalls;  await a.settle();
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { Clock } from '../../src/base/clock';
import type { Outcome } from '../../src/base/denial';
import { issuerKeysStub, type IssuerKeys } from '../../src/keys/issuer-keys';
import type { KeySetPolicy, KeySource } from '../../src/keys/key-source';
import { createKeyTiers } from '../../src/keys/tiers';
import type { Algorithm } from '../../src/config/algorithms';
import { ALGORITHMS } from '../../src/config/algorithms';
import { keySetIdOf, type IssuerPolicy, type TransmitterPolicy } from '../../src/tenants/tenant';
import { compileClaimName } from '../../src/config/claim-names';

export function policyFor(
  issuer: { issuer: string } | string, options: { jwksUri?: string | null; algorithms?: Algorithm[] } = {},
): IssuerPolicy {
  const name = typeof issuer === 'string' ? issuer : issuer.issuer;
  const jwksUri = options.jwksUri ?? null;
  return {
    issuer: name,
    jwksUri,
    discovery: 'oidc',
    audiences: new Set(['https://api.test']),
    audienceClaim: 'aud',
    algorithms: new Set(options.algorithms ?? ['RS256', 'ES256', 'PS256', 'EdDSA']),
    clockToleranceSeconds: 30,
    maxTokenAgeSeconds: null,
    retainSeconds: 86_400,
    requiredType: null,
    scopeClaims: [compileClaimName('scope')],
    clientIdClaims: ['azp'],
    proofOfPossession: 'optional',
    keySetId: keySetIdOf(name, jwksUri),
    introspection: null,
  };
}

/** An SSF transmitter as compileTenant makes it: keys from its ssf-configuration unless jwksUri. */
export function transmitterPolicyFor(
  issuer: { issuer: string } | string, options: { jwksUri?: string | null; audience?: string } = {},
): TransmitterPolicy {
  const name = typeof issuer === 'string' ? issuer : issuer.issuer;
  const jwksUri = options.jwksUri ?? null;
  return {
    issuer: name, jwksUri, discovery: 'ssf', keySetId: keySetIdOf(name, jwksUri, 'ssf'),
    audience: options.audience ?? 'https://api.test/ssf', algorithms: new Set(ALGORITHMS), clockToleranceSeconds: 30,
    delivery: 'push', pollSeconds: null, management: null,
    subjectClaims: { email: compileClaimName('email'), phone_number: compileClaimName('phone_number') },
  };
}

export const objectOf = (policy: KeySetPolicy) => issuerKeysStub(env.ISSUER_KEYS, policy.keySetId);

/** Gives the policy's IssuerKeys object the test clock (and optionally a short fetch timeout). */
export async function useClock(policy: KeySetPolicy, now: Clock, fetchTimeoutMs?: number): Promise<void> {
  await runInDurableObject(objectOf(policy), (instance: IssuerKeys) => {
    instance.now = now;
    if (fetchTimeoutMs !== undefined) instance.fetchTimeoutMs = fetchTimeoutMs;
  });
}

export interface TestIsolate {
  readonly keys: KeySource;
  /** The key tiers' introspection_endpoint of a key set's discovery document. */
  introspectionEndpoint(keySet: KeySetPolicy): Promise<Outcome<string>>;
  /** Calls this isolate made to IssuerKeys objects. */
  readonly objectCalls: number;
  /** Waits for the waitUntil work (Cache API writes). */
  settle(): Promise<void>;
}

export function isolate(now: Clock, options: { cache?: boolean; allowInsecure?: boolean } = {}): TestIsolate {
  let objectCalls = 0;
  const pending: Promise<unknown>[] = [];
  const issuerKeys = {
    idFromName: (name: string) => env.ISSUER_KEYS.idFromName(name),
    get: (id: DurableObjectId) => {
      objectCalls++;
      return env.ISSUER_KEYS.get(id);
    },
  } as unknown as DurableObjectNamespace<IssuerKeys>;
  const io = {
    issuerKeys,
    cache: options.cache ? caches.default : null,
    waitUntil: (promise: Promise<unknown>) => { pending.push(promise); },
    allowInsecure: options.allowInsecure ?? false,
  };
  const tiers = createKeyTiers({ now });
  const keys = tiers.source(io);
  return {
    keys,
    introspectionEndpoint: (keySet) => tiers.introspectionEndpoint(io, keySet),
    get objectCalls() { return objectCalls; },
    settle: async () => { await Promise.all(pending); },
  };
}

/** A 1024-bit RSA public JWK (jose refuses to generate one, WebCrypto does not). */
export async function weakRsaJwk(kid: string): Promise<JsonWebKey & { kid: string; alg: string; use: string }> {
  const pair = await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true, ['sign', 'verify'],
  ) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey) as JsonWebKey;
  return { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: 'RS256', use: 'sig' };
}
