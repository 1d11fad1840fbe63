// The key tiers end to end: isolate memory -> Cache API -> IssuerKeys object -> the auxiliary
// issuer Worker, counting the issuer's hits and the isolates' object calls.
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/base/denial';
import type { KeyLookup } from '../../src/keys/key-source';
import { TestIssuer, hitsOn, makeKey, register } from '../support/issuer';
import { isolate, objectOf, policyFor, transmitterPolicyFor, useClock, weakRsaJwk } from './isolates';

const DISCOVERY = '/.well-known/openid-configuration';
const HOUR = 3_600_000;

const lookup = (found: Outcome<KeyLookup>) => {
  if (!found.ok) throw new Error(`expected keys, got ${JSON.stringify(found.denial)}`);
  return found.value;
};

/** A test issuer, its policy, a clock moved by assignment, and the object on that clock. */
async function setUp(options: Parameters<typeof TestIssuer.create>[0] & { jwksUri?: boolean; fetchTimeoutMs?: number } = {}) {
  const issuer = await TestIssuer.create(options);
  const clock = { t: Date.now() };
  const now = () => clock.t;
  const policy = policyFor(issuer, { jwksUri: options.jwksUri ? issuer.jwksUri : null });
  await useClock(policy, now, options.fetchTimeoutMs);
  const kid = issuer.keys[0]!.kid;
  return { issuer, clock, now, policy, kid, header: { alg: 'RS256' as const, kid } };
}

describe('key tiers: caching', () => {
  it('fetches discovery and JWKS once, then serves memory with the same imported key', async () => {
    const { issuer, now, policy, header } = await setUp();
    const edge = isolate(now);
    const first = lookup(await edge.keys.candidates(policy, header));
    const second = lookup(await edge.keys.candidates(policy, header));
    expect(first.tier).toBe('network');
    expect(second.tier).toBe('memory');
    expect(second.version).toBe(first.version);
    expect(second.keys[0]!.key).toBe(first.keys[0]!.key);
    expect(second.keys.map((k) => k.kid)).toEqual([header.kid]);
    expect(edge.objectCalls).toBe(1);
    expect(await issuer.hits(DISCOVERY)).toBe(1);
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('keys verify tokens the issuer signs', async () => {
    const { issuer, now, policy, header } = await setUp({ algs: ['RS256', 'ES256', 'EdDSA'] });
    const edge = isolate(now);
    for (const key of issuer.keys) {
      const token = await issuer.sign({ sub: 'u1' }, { key });
      const found = lookup(await edge.keys.candidates(policy, { alg: key.alg as 'RS256', kid: key.kid }));
      expect((await jwtVerify(token, found.keys[0]!.key)).payload.sub).toBe('u1');
    }
    expect(header.kid).toBe(issuer.keys[0]!.kid);
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('refetches after the default 10 minutes, reusing the discovered jwks_uri', async () => {
    const { issuer, clock, now, policy, header } = await setUp();
    const edge = isolate(now);
    const first = lookup(await edge.keys.candidates(policy, header));
    clock.t += 599_000;
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('memory');
    clock.t += 2_000;
    const later = lookup(await edge.keys.candidates(policy, header));
    expect(later.tier).toBe('network');
    expect(later.version).toBeGreaterThan(first.version);
    expect(await issuer.hits('/jwks')).toBe(2);
    expect(await issuer.hits(DISCOVERY)).toBe(1);
  });

  it('clamps a short max-age up to 60 s', async () => {
    const { issuer, clock, now, policy, header } = await setUp({ cacheControl: 'max-age=5' });
    const edge = isolate(now);
    await edge.keys.candidates(policy, header);
    clock.t += 59_000;
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('memory');
    clock.t += 2_000;
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('network');
    expect(await issuer.hits('/jwks')).toBe(2);
  });

  it('clamps a long max-age down to 24 h', async () => {
    const { issuer, clock, now, policy, header } = await setUp({ cacheControl: 'public, max-age=604800' });
    const edge = isolate(now);
    await edge.keys.candidates(policy, header);
    clock.t += 24 * HOUR - 1_000;
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('memory');
    clock.t += 2_000;
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('network');
    expect(await issuer.hits('/jwks')).toBe(2);
  });

  it('serves a fresh isolate from the Cache API without an object call', async () => {
    const { issuer, now, policy, header } = await setUp();
    const warm = isolate(now, { cache: true });
    const first = lookup(await warm.keys.candidates(policy, header));
    await warm.settle();
    const cold = isolate(now, { cache: true });
    const found = lookup(await cold.keys.candidates(policy, header));
    expect(found.tier).toBe('cache');
    expect(found.version).toBe(first.version);
    expect(cold.objectCalls).toBe(0);
    expect(lookup(await cold.keys.candidates(policy, header)).tier).toBe('memory');
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('skips an expired Cache API entry', async () => {
    const { issuer, clock, now, policy, header } = await setUp();
    const warm = isolate(now, { cache: true });
    await warm.keys.candidates(policy, header);
    await warm.settle();
    clock.t += 601_000;
    const cold = isolate(now, { cache: true });
    expect(lookup(await cold.keys.candidates(policy, header)).tier).toBe('network');
    expect(cold.objectCalls).toBe(1);
    expect(await issuer.hits('/jwks')).toBe(2);
  });

  it('answers 20 concurrent cold isolates with one discovery and one JWKS fetch', async () => {
    const { issuer, now, policy, header } = await setUp();
    const edges = Array.from({ length: 20 }, () => isolate(now));
    const found = await Promise.all(edges.map((edge) => edge.keys.candidates(policy, header)));
    expect(found.every((f) => f.ok)).toBe(true);
    expect(new Set(found.map((f) => lookup(f).version)).size).toBe(1);
    expect(await issuer.hits(DISCOVERY)).toBe(1);
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('keeps the key set in object storage across eviction', async () => {
    const { issuer, now, policy, header } = await setUp();
    const first = lookup(await isolate(now).keys.candidates(policy, header));
    await evictDurableObject(objectOf(policy));
    await useClock(policy, now);
    const found = lookup(await isolate(now).keys.candidates(policy, header));
    expect(found.tier).toBe('object');
    expect(found.version).toBe(first.version);
    expect(await issuer.hits()).toBe(2); // discovery + JWKS, once
  });

  it('uses a configured jwksUri without discovery', async () => {
    const { issuer, now, policy, header } = await setUp({ jwksUri: true });
    lookup(await isolate(now).keys.candidates(policy, header));
    expect(await issuer.hits(DISCOVERY)).toBe(0);
    expect(await issuer.hits('/jwks')).toBe(1);
  });
});

describe('key tiers: the introspection endpoint discovery names', () => {
  async function withEndpoint(options: Parameters<typeof setUp>[0] = {}) {
    const set = await setUp(options);
    const endpoint = `${set.issuer.origin}/oauth/introspect`;
    await register(set.issuer.discoveryUrl, { body: { issuer: set.issuer.issuer, jwks_uri: set.issuer.jwksUri, introspection_endpoint: endpoint } });
    return { ...set, endpoint };
  }

  it('comes with the keys: one discovery read for both, then memory; a fresh isolate reads the Cache API', async () => {
    const { issuer, now, policy, header, endpoint } = await withEndpoint();
    const edge = isolate(now, { cache: true });
    expect(await edge.introspectionEndpoint(policy)).toEqual({ ok: true, value: endpoint });
    lookup(await edge.keys.candidates(policy, header));
    expect(await edge.introspectionEndpoint(policy)).toEqual({ ok: true, value: endpoint });
    expect(edge.objectCalls).toBe(1);
    expect(await issuer.hits(DISCOVERY)).toBe(1);
    await edge.settle();
    const other = isolate(now, { cache: true });
    expect(await other.introspectionEndpoint(policy)).toEqual({ ok: true, value: endpoint });
    expect(other.objectCalls).toBe(0);
  });

  it('is issuer_unavailable when the document names none', async () => {
    const { now, policy } = await setUp();
    const found = await isolate(now).introspectionEndpoint(policy);
    expect(found).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable', note: 'discovery names no introspection_endpoint' } });
  });

  it('reads discovery again, once, for a key set the object kept before it kept the endpoint', async () => {
    const { issuer, now, policy, header, endpoint } = await withEndpoint();
    lookup(await isolate(now).keys.candidates(policy, header));
    // What an object that ran the earlier code holds: the same set without the member.
    await runInDurableObject(objectOf(policy), async (_instance, state) => {
      const stored = await state.storage.get<Record<string, unknown>>('keySet');
      delete stored!.introspectionEndpoint;
      await state.storage.put('keySet', stored);
    });
    await evictDurableObject(objectOf(policy));
    await useClock(policy, now);
    const edge = isolate(now);
    lookup(await edge.keys.candidates(policy, header));
    expect(await issuer.hits(DISCOVERY)).toBe(1);
    expect(await edge.introspectionEndpoint(policy)).toEqual({ ok: true, value: endpoint });
    expect(await edge.introspectionEndpoint(policy)).toEqual({ ok: true, value: endpoint });
    expect(await issuer.hits(DISCOVERY)).toBe(2);
  });
});

describe('key tiers: unknown kid', () => {
  it('finds a rotated key with one refetch', async () => {
    const { issuer, clock, now, policy, header } = await setUp();
    const edge = isolate(now);
    const first = lookup(await edge.keys.candidates(policy, header));
    clock.t += 31_000;
    const rotated = await makeKey('RS256');
    issuer.keys.push(rotated);
    await issuer.publishJwks();
    const found = lookup(await edge.keys.candidates(policy, { alg: 'RS256', kid: rotated.kid }));
    expect(found.tier).toBe('network');
    expect(found.version).toBeGreaterThan(first.version);
    const token = await issuer.sign({ sub: 'u2' }, { key: rotated });
    expect((await jwtVerify(token, found.keys[0]!.key)).payload.sub).toBe('u2');
    expect(await issuer.hits('/jwks')).toBe(2);
    // The refreshed set replaced the old one in memory.
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('memory');
  });

  it('refreshes at most once per 30 s per isolate under a random-kid flood', async () => {
    const { issuer, clock, now, policy, header } = await setUp();
    const edge = isolate(now);
    await edge.keys.candidates(policy, header);
    clock.t += 31_000;
    for (let i = 0; i < 50; i++) {
      const found = await edge.keys.candidates(policy, { alg: 'RS256', kid: `random-${i}` });
      expect(found).toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'unknown_kid' } });
    }
    expect(edge.objectCalls).toBe(2); // the first lookup and one refresh
    expect(await issuer.hits('/jwks')).toBe(2);
    // Another isolate's miss within 30 s of that fetch: the object answers without fetching.
    const other = isolate(now);
    expect(await other.keys.candidates(policy, { alg: 'RS256', kid: 'other' })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
    expect(await issuer.hits('/jwks')).toBe(2);
    clock.t += 31_000;
    await edge.keys.candidates(policy, { alg: 'RS256', kid: 'after-cooldown' });
    expect(await issuer.hits('/jwks')).toBe(3);
  });

  it('does not refetch for a miss within 30 s of the keys being fetched', async () => {
    const { issuer, now, policy, header } = await setUp();
    const edge = isolate(now);
    await edge.keys.candidates(policy, header);
    expect(await edge.keys.candidates(policy, { alg: 'RS256', kid: 'new' })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
    expect(edge.objectCalls).toBe(2);
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('ignores a weak RSA key', async () => {
    const { issuer, now, policy } = await setUp();
    await issuer.publishJwks({ keys: [await weakRsaJwk('weak')] });
    expect(await isolate(now).keys.candidates(policy, { alg: 'RS256', kid: 'weak' }))
      .toEqual({ ok: false, denial: { error: 'invalid_token', reason: 'unknown_kid' } });
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('ignores a key marked use: enc', async () => {
    const { issuer, now, policy, header } = await setUp();
    await issuer.publishJwks({ keys: [{ ...issuer.keys[0]!.publicJwk, use: 'enc' }] });
    expect(await isolate(now).keys.candidates(policy, header))
      .toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'unknown_kid' } });
  });

  it('ignores keys whose alg or curve differ from the token alg', async () => {
    const { issuer, now, policy } = await setUp({ algs: ['RS256', 'ES256'] });
    const [rsa, ec] = issuer.keys;
    const edge = isolate(now);
    expect(await edge.keys.candidates(policy, { alg: 'PS256', kid: rsa!.kid })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
    expect(await edge.keys.candidates(policy, { alg: 'ES384', kid: ec!.kid })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
    expect(lookup(await edge.keys.candidates(policy, { alg: 'ES256', kid: ec!.kid })).keys).toHaveLength(1);
  });

  it('gives a token without kid up to 3 keys that fit its alg', async () => {
    const { issuer, now, policy } = await setUp({ algs: ['ES256', 'RS256', 'RS256', 'RS256', 'RS256'] });
    const edge = isolate(now);
    const found = lookup(await edge.keys.candidates(policy, { alg: 'RS256', kid: undefined }));
    expect(found.keys.map((k) => k.kid)).toEqual(issuer.keys.slice(1, 4).map((k) => k.kid));
    expect(lookup(await edge.keys.candidates(policy, { alg: 'ES256', kid: undefined })).keys).toHaveLength(1);
    expect(await edge.keys.candidates(policy, { alg: 'EdDSA', kid: undefined })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
  });
});

describe('key tiers: failures', () => {
  it('serves the last good keys for 24 h past expiry while the issuer fails', async () => {
    const { issuer, clock, now, policy, header } = await setUp();
    const edge = isolate(now);
    const first = lookup(await edge.keys.candidates(policy, header));
    await issuer.serve('/jwks', { status: 500 });
    clock.t += 601_000;
    const stale = lookup(await edge.keys.candidates(policy, header));
    expect(stale.version).toBe(first.version);
    expect(await issuer.hits('/jwks')).toBe(2);
    // Held briefly in memory: the next request costs no object call.
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('memory');
    expect(edge.objectCalls).toBe(2);
    // A cold isolate gets the stale set from the object, which holds off the dead issuer.
    expect(lookup(await isolate(now).keys.candidates(policy, header)).version).toBe(first.version);
    expect(await issuer.hits('/jwks')).toBe(2);

    clock.t += 24 * HOUR - 2_000; // 1 s before the stale limit
    expect(lookup(await edge.keys.candidates(policy, header)).version).toBe(first.version);
    clock.t += 2_000; // past it: the object, which failed 2 s ago, holds off for 28 s more
    expect(await edge.keys.candidates(policy, header))
      .toEqual({ ok: false, denial: expect.objectContaining({ error: 'issuer_unavailable', retryAfterSeconds: 28 }) });
    expect(await issuer.hits('/jwks')).toBe(3);
  });

  it('fails fast for 30 s after a cold fetch fails', async () => {
    const { issuer, clock, now, policy, header } = await setUp();
    await issuer.serve('/jwks', { status: 503 });
    const edge = isolate(now);
    expect(await edge.keys.candidates(policy, header))
      .toEqual({ ok: false, denial: expect.objectContaining({ error: 'issuer_unavailable', retryAfterSeconds: 30 }) });
    expect(await edge.keys.candidates(policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(edge.objectCalls).toBe(1);
    clock.t += 10_000;
    const other = isolate(now);
    expect(await other.keys.candidates(policy, header))
      .toEqual({ ok: false, denial: expect.objectContaining({ error: 'issuer_unavailable', retryAfterSeconds: 20 }) });
    expect(await issuer.hits('/jwks')).toBe(1);
    clock.t += 21_000;
    await issuer.publishJwks();
    expect(lookup(await edge.keys.candidates(policy, header)).tier).toBe('network');
    expect(await issuer.hits('/jwks')).toBe(2);
  });

  it('times out a hanging JWKS endpoint', async () => {
    const { issuer, now, policy, header } = await setUp({ fetchTimeoutMs: 200 });
    await issuer.serve('/jwks', { behaviour: 'hang' });
    const started = Date.now();
    expect(await isolate(now).keys.candidates(policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('refuses a JWKS body over 256 KiB', async () => {
    const { issuer, now, policy, header } = await setUp();
    await issuer.serve('/jwks', { behaviour: 'huge' });
    expect(await isolate(now).keys.candidates(policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
  });

  it('refuses a redirected JWKS', async () => {
    const { issuer, now, policy, header } = await setUp();
    const elsewhere = await TestIssuer.create();
    await issuer.serve('/jwks', { status: 302, headers: { location: elsewhere.jwksUri } });
    expect(await isolate(now).keys.candidates(policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(await elsewhere.hits()).toBe(0);
  });

  it('treats a discovery document naming another issuer as unavailable', async () => {
    const { issuer, now, policy, header } = await setUp({ publish: false });
    await issuer.publish({ documentIssuer: 'https://evil.issuer.test/' });
    expect(await isolate(now).keys.candidates(policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(await issuer.hits('/jwks')).toBe(0);
  });

  it('falls back to RFC 8414 metadata', async () => {
    const { issuer, now, policy, header } = await setUp({ path: '/tenant-a', publish: false });
    await issuer.serve('/.well-known/oauth-authorization-server/tenant-a', { body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri } });
    await issuer.publishJwks();
    expect(lookup(await isolate(now).keys.candidates(policy, header)).tier).toBe('network');
    expect(await issuer.hits(`/tenant-a${DISCOVERY}`)).toBe(1);
    expect(await issuer.hits('/.well-known/oauth-authorization-server/tenant-a')).toBe(1);
  });

  it('refuses an http issuer unless insecure issuers are allowed, and then only on loopback', async () => {
    const key = await makeKey('ES256');
    const serveAt = async (origin: string) => {
      const name = `${origin}/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      await register(`${name}${DISCOVERY}`, { body: { issuer: name, jwks_uri: `${name}/jwks` } });
      await register(`${name}/jwks`, { body: { keys: [key.publicJwk] } });
      const clock = { t: Date.now() };
      const policy = policyFor(name);
      await useClock(policy, () => clock.t);
      return { name, policy, now: () => clock.t };
    };
    const header = { alg: 'ES256' as const, kid: key.kid };

    const refused = await serveAt('http://127.0.0.1');
    expect(await isolate(refused.now).keys.candidates(refused.policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(await hitsOn({ url: `${refused.name}/jwks` })).toBe(0);

    const allowed = await serveAt('http://127.0.0.1');
    expect(lookup(await isolate(allowed.now, { allowInsecure: true }).keys.candidates(allowed.policy, header)).keys).toHaveLength(1);

    const remote = await serveAt('http://plain.issuer.test');
    expect(await isolate(remote.now, { allowInsecure: true }).keys.candidates(remote.policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(await hitsOn({ url: `${remote.name}${DISCOVERY}` })).toBe(0);
  });
});

describe('key tiers: SSF transmitters', () => {
  /** A transmitter on its own host with a path in its issuer, publishing its ssf-configuration. */
  async function transmitter(options: { publish?: boolean } = {}) {
    const issuer = await TestIssuer.create({ path: '/tenants/t1', publish: false });
    if (options.publish !== false) await issuer.publishSsf();
    const clock = { t: Date.now() };
    const now = () => clock.t;
    const policy = transmitterPolicyFor(issuer);
    await useClock(policy, now);
    return { issuer, clock, now, policy, header: { alg: 'RS256' as const, kid: issuer.keys[0]!.kid } };
  }
  const SSF_AT = '/.well-known/ssf-configuration/tenants/t1';

  it('finds the JWKS through /.well-known/ssf-configuration inserted before the issuer path (RFC 8414 placement)', async () => {
    const { issuer, now, policy, header } = await transmitter();
    expect(issuer.ssfConfigurationUrl).toBe(`${issuer.origin}${SSF_AT}`);
    const found = lookup(await isolate(now).keys.candidates(policy, header));
    expect(found.tier).toBe('network');
    expect(found.keys.map((k) => k.kid)).toEqual([header.kid]);
    expect(await issuer.hits(SSF_AT)).toBe(1);
    expect(await issuer.hits(`/tenants/t1${DISCOVERY}`)).toBe(0);
    expect(await issuer.hits('/.well-known/oauth-authorization-server/tenants/t1')).toBe(0);
    expect(await issuer.hits('/jwks')).toBe(1);
  });

  it('falls back to the older RISC location after a 404', async () => {
    const { issuer, now, policy, header } = await transmitter({ publish: false });
    await issuer.serve('/.well-known/risc-configuration/tenants/t1', { body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri } });
    await issuer.publishJwks();
    expect(lookup(await isolate(now).keys.candidates(policy, header)).tier).toBe('network');
    expect(await issuer.hits(SSF_AT)).toBe(1);
    expect(await issuer.hits('/.well-known/risc-configuration/tenants/t1')).toBe(1);
  });

  it('treats a configuration naming another issuer as unavailable', async () => {
    const { issuer, now, policy, header } = await transmitter({ publish: false });
    await issuer.publishSsf({ documentIssuer: 'https://evil.issuer.test/tenants/t1' });
    expect(await isolate(now).keys.candidates(policy, header)).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(await issuer.hits('/jwks')).toBe(0);
  });

  it('keeps a transmitter\'s key set apart from an issuer\'s at the same URL', async () => {
    const { issuer, now, policy, header } = await transmitter();
    // The same URL as an OpenID issuer publishes another JWKS: each key set keeps its own.
    const other = await makeKey('RS256');
    await issuer.serve(`/tenants/t1${DISCOVERY}`, { body: { issuer: issuer.issuer, jwks_uri: `${issuer.origin}/oidc-jwks` } });
    await issuer.serve('/oidc-jwks', { body: { keys: [other.publicJwk] } });
    const asIssuer = policyFor(issuer);
    await useClock(asIssuer, now);
    const edge = isolate(now);
    expect(lookup(await edge.keys.candidates(policy, header)).keys).toHaveLength(1);
    expect(lookup(await edge.keys.candidates(asIssuer, { alg: 'RS256', kid: other.kid })).keys).toHaveLength(1);
    expect(await edge.keys.candidates(asIssuer, header)).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
    expect(await edge.keys.candidates(policy, { alg: 'RS256', kid: other.kid })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
  });

  it('holds a transmitter to the kid-miss cooldown: one refetch per 30 s under a random-kid flood', async () => {
    const { issuer, clock, now, policy, header } = await transmitter();
    const edge = isolate(now);
    await edge.keys.candidates(policy, header);
    clock.t += 31_000;
    for (let i = 0; i < 50; i++) {
      expect(await edge.keys.candidates(policy, { alg: 'RS256', kid: `random-${i}` })).toMatchObject({ ok: false, denial: { reason: 'unknown_kid' } });
    }
    expect(await issuer.hits('/jwks')).toBe(2);
    expect(await issuer.hits(SSF_AT)).toBe(1); // the discovered jwks_uri is reused
    expect(edge.objectCalls).toBe(2);
  });
});
