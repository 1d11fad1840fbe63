// The verified-token cache: as a unit (a counting KeySource, a spy on the signature check, an
// injected clock) and in the pipeline (real key tiers, TenantState and tenant store).
import { importJWK, type JWTPayload } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { invalidToken, ok, type Outcome } from '../../src/base/denial';
import type { KeySource } from '../../src/keys/key-source';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant, type Tenant } from '../../src/tenants/tenant';
import { verifyToken, type VerifiedToken } from '../../src/verify/token';
import { createTokenCache, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_MAX_TOKENS, type TokenCache } from '../../src/verify/token-cache';
import { policyFor, useClock } from '../keys/isolates';
import { ADMIN, gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';
import { TestIssuer, makeKey, type TestKey } from '../support/issuer';

const API = 'https://api.acme.com';
const ISS = 'https://cache.issuer.test/';
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const S0 = T0 / 1000;

describe('the cache as a unit', () => {
  let t = T0;
  const now = () => t;
  let key: TestKey;
  let cryptoKey: CryptoKey;
  let tenant: Tenant;
  let cache: TokenCache;
  let keyCalls = 0;
  let version = 1;
  const versions = { currentVersion: () => version };
  const keys: KeySource = {
    async candidates(_issuer, header) {
      keyCalls++;
      if (header.kid !== key.kid) return invalidToken('unknown_kid');
      return ok({ keys: [{ key: cryptoKey, kid: key.kid }], tier: 'memory', version });
    },
  };

  const compile = (extra: Record<string, unknown> = {}) => {
    const parsed = parseTenantConfig({ id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: ISS, audiences: [API], ...extra }] });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return compileTenant(parsed.config);
  };

  const sign = async (claims: JWTPayload = {}) => {
    const { SignJWT } = await import('jose');
    return new SignJWT({ iss: ISS, sub: 'user-1', aud: API, iat: S0, exp: S0 + 3600, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey);
  };

  /** What the pipeline's verify step does: the cache, else verification (kept when it passes). */
  async function decide(token: string, forTenant = tenant, resource = API): Promise<Outcome<VerifiedToken> & { hit?: boolean }> {
    const hit = cache.get(token, forTenant, resource, versions);
    if (hit !== undefined) return { ...ok(hit), hit: true };
    const verified = await verifyToken(token, { id: forTenant.id, issuers: forTenant.issuers, resource }, { now, keys });
    if (verified.ok) cache.set(token, forTenant, resource, verified.value);
    return verified;
  }

  /** Verified twice: the second verification admits it (the doorkeeper saw the first). */
  async function admitted(token: string, forTenant = tenant): Promise<VerifiedToken> {
    await decide(token, forTenant);
    const second = await decide(token, forTenant);
    if (!second.ok || second.hit) throw new Error(`expected a second verification, got ${JSON.stringify(second)}`);
    return second.value;
  }

  beforeAll(async () => {
    key = await makeKey('ES256', 'cache-1');
    cryptoKey = await importJWK(key.publicJwk, 'ES256') as CryptoKey;
  });

  beforeEach(() => {
    t = T0;
    keyCalls = 0;
    version = 1;
    tenant = compile();
    cache = createTokenCache({ now });
  });
  afterEach(() => vi.restoreAllMocks());

  it('defaults to the documented bounds: 10,000 tokens or 8 MiB', () => {
    expect(DEFAULT_MAX_TOKENS).toBe(10_000);
    expect(DEFAULT_MAX_TOKEN_BYTES).toBe(8 * 1024 * 1024);
  });

  it('keeps a token from its second verification, not its first', async () => {
    const token = await sign();
    expect((await decide(token)).ok).toBe(true);
    expect(cache.size).toBe(0);
    expect((await decide(token)).ok).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('remembers a first verification among hundreds of others (the doorkeeper spreads its slots)', async () => {
    const tokens = await Promise.all(Array.from({ length: 300 }, (_, i) => sign({ jti: `j${i}` })));
    for (const token of tokens) await decide(token);
    for (const token of tokens) await decide(token);
    // 300 fingerprints in 4,093 slots: a few collide and wait for a third look.
    expect(cache.size).toBeGreaterThanOrEqual(250);
  });

  it('answers a repeated token without the key source or a signature check', async () => {
    const token = await sign();
    const verified = await admitted(token);
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const hit = await decide(token);
    expect(hit).toMatchObject({ ok: true, hit: true });
    expect(hit.ok && hit.value).toBe(verified);
    expect(keyCalls).toBe(2);
    expect(verify).not.toHaveBeenCalled();
    expect(cache.counters).toMatchObject({ hits: 1, misses: 2 });
  });

  it('keys by the whole token: another token of the same subject is verified on its own', async () => {
    const a = await sign({ jti: 'a' });
    const b = await sign({ jti: 'b' });
    await decide(a);
    expect(await decide(b)).toMatchObject({ ok: true });
    expect(keyCalls).toBe(2);
    // A token that differs only in its signature is not the cached one.
    await decide(a);   // its second verification: kept
    const forged = `${a.slice(0, a.lastIndexOf('.') + 1)}${'A'.repeat(86)}`;
    expect(await decide(forged)).toMatchObject({ ok: false, denial: { reason: 'bad_signature' } });
    // Nor is one that ends like it (the same fingerprint) with other claims before the signature.
    const spliced = `${b.slice(0, b.lastIndexOf('.'))}${a.slice(a.lastIndexOf('.'))}`;
    expect(cache.get(spliced, tenant, API, versions)).toBeUndefined();
    expect(await decide(spliced)).toMatchObject({ ok: false, denial: { reason: 'bad_signature' } });
    expect(await decide(a)).toMatchObject({ ok: true, hit: true });
  });

  it('stops answering when the token expires (with the tolerance), and verification says why', async () => {
    const token = await sign({ exp: S0 + 60 });
    await admitted(token);
    t = T0 + (60 + 29) * 1000;
    expect(await decide(token)).toMatchObject({ ok: true, hit: true });
    t = T0 + (60 + 30) * 1000;
    expect(await decide(token)).toMatchObject({ ok: false, denial: { reason: 'expired' } });
    expect(keyCalls).toBe(3);
  });

  it('re-checks maxTokenAgeSeconds and nbf on a hit, as verification would', async () => {
    tenant = compile({ maxTokenAgeSeconds: 600 });
    const token = await sign();
    await admitted(token);
    t = T0 + (600 + 30) * 1000;
    expect(await decide(token)).toMatchObject({ ok: true, hit: true });
    t = T0 + (600 + 31) * 1000;
    expect(await decide(token)).toMatchObject({ ok: false, denial: { reason: 'too_old' } });
  });

  it('re-checks revocation.retainSeconds on a hit: a cached token grows too old like any other', async () => {
    const token = await sign({ exp: S0 + 3 * 86_400 });
    await admitted(token);
    t = T0 + (86_400 + 30) * 1000;
    expect(await decide(token)).toMatchObject({ ok: true, hit: true });
    t = T0 + (86_400 + 31) * 1000;
    expect(await decide(token)).toMatchObject({ ok: false, denial: { reason: 'too_old' } });
  });

  it('stops answering when the key set that verified the token is no longer the current one', async () => {
    const token = await sign();
    await admitted(token);
    version = 2;
    expect(cache.get(token, tenant, API, versions)).toBeUndefined();
    // Nothing in memory (expired or never fetched): no answer either.
    await decide(token);
    expect(cache.size).toBe(1);
    expect(cache.get(token, tenant, API, { currentVersion: () => null })).toBeUndefined();
  });

  it('answers only for the compiled tenant and the resource it was verified for', async () => {
    const token = await sign();
    await admitted(token);
    expect(cache.get(token, compile(), API, versions)).toBeUndefined();
    await decide(token);
    expect(cache.size).toBe(1);
    expect(cache.get(token, tenant, 'https://other.acme.com', versions)).toBeUndefined();
  });

  it('never keeps a failure', async () => {
    const token = await sign({ aud: 'https://elsewhere.test' });
    expect(await decide(token)).toMatchObject({ ok: false, denial: { reason: 'wrong_audience' } });
    expect(await decide(token)).toMatchObject({ ok: false, denial: { reason: 'wrong_audience' } });
    expect(keyCalls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used token past its entry bound', async () => {
    cache = createTokenCache({ now, maxEntries: 2 });
    const [a, b, c] = await Promise.all([sign({ jti: 'a' }), sign({ jti: 'b' }), sign({ jti: 'c' })]);
    await admitted(a);
    await admitted(b);
    expect(await decide(a)).toMatchObject({ hit: true });   // a is now the most recent
    await admitted(c);                                      // evicts b
    expect(cache.size).toBe(2);
    expect(cache.counters.evictions).toBe(1);
    expect(cache.get(a, tenant, API, versions)).toBeDefined();
    expect(cache.get(b, tenant, API, versions)).toBeUndefined();
  });

  it('evicts past its byte bound, counting the token and its claims', async () => {
    const a = await sign({ jti: 'a' });
    cache = createTokenCache({ now, maxBytes: 3 * (2 * a.length + 512) });
    for (const jti of ['a', 'b', 'c', 'd', 'e']) await admitted(await sign({ jti }));
    expect(cache.size).toBe(3);
    expect(cache.bytes).toBeLessThanOrEqual(3 * (2 * a.length + 512));
    expect(cache.counters.evictions).toBe(2);
  });

  it('freezes the claims it hands out again, so no request can change them for the next', async () => {
    const kept = await admitted(await sign({ roles: ['reader'] }));
    expect(Object.isFrozen(kept.claims)).toBe(true);
    expect(Object.isFrozen(kept.claims.roles)).toBe(true);
  });
});

describe('the cache in the pipeline', () => {
  let edge: TestEdge;
  let issuer: TestIssuer;
  let id: string;
  let host: string;

  // Every decision in the log (production samples allowed ones).
  gatewayTest('tc', { env: { LOG_SAMPLE_RATE: '1' } }, async (made) => {
    ({ edge, issuer, id, host } = made);
    // The issuer's IssuerKeys object runs on the test's clock (its 30 s refetch cooldown).
    await useClock(policyFor(issuer), () => edge.now);
  });

  const put = (extra: Record<string, unknown> = {}) => edge.putTenant(tenantConfig({ id, hosts: [host], issuer, ...extra }));
  const token = (claims: Record<string, unknown> = {}, key?: TestKey) =>
    issuer.sign({ sub: 'user-1', aud: `https://${host}`, ...claims }, { now: edge.now, key });
  const get = (t: string) => edge.request(`https://${host}/orders`, { token: t });
  const reasonOf = async (response: Response) => ((await response.json()) as { reason?: string }).reason;
  const cacheOf = () => edge.app.isolate.tokenCache!;

  it('answers a repeated token from the cache, and says so in the decision log', async () => {
    await put();
    const t = await token();
    for (let i = 0; i < 3; i++) expect((await get(t)).status).toBe(200);
    expect(cacheOf().counters.hits).toBe(1);
    const [first, second, third] = edge.decisions();
    expect((first!.tiers as Record<string, unknown>).token).toBeUndefined();
    expect((second!.tiers as Record<string, unknown>).token).toBeUndefined();
    expect(third!.tiers).toMatchObject({ token: 'hit', keys: 'memory' });
  });

  it('still refuses a revoked token that the cache holds', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    const t = await token({ iat: Math.floor(edge.now / 1000) - 5 });
    expect((await get(t)).status).toBe(200);
    expect((await get(t)).status).toBe(200);
    const revoke = await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/revoke`, { method: 'POST', headers: ADMIN, body: '{}' }));
    expect(revoke.status).toBe(200);
    const refused = await get(t);
    expect(refused.status).toBe(401);
    expect(await reasonOf(refused)).toBe('revoked');
    expect(edge.decisions().at(-1)!.tiers).toMatchObject({ token: 'hit' });
  });

  it('stops answering for a key the issuer removed, once the refetch brought the new set', async () => {
    await put();
    const old = await token();
    expect((await get(old)).status).toBe(200);
    expect((await get(old)).status).toBe(200);
    const rotated = await makeKey('RS256');
    issuer.keys = [rotated];
    await issuer.publishJwks();
    edge.advance(31_000);
    // A token with the new kid makes the isolate refetch; the new set lacks the old key.
    expect((await get(await token({}, rotated))).status).toBe(200);
    const refused = await get(old);
    expect(refused.status).toBe(401);
    expect(await reasonOf(refused)).toBe('unknown_kid');
    expect(await issuer.hits('/jwks')).toBe(2);
  });

  it('forgets what a tenant verified when its config changes', async () => {
    await put();
    const t = await token();
    expect((await get(t)).status).toBe(200);
    expect((await get(t)).status).toBe(200);
    expect(cacheOf().size).toBe(1);
    await put({ issuers: [{ issuer: issuer.issuer, audiences: ['https://someone-else.test'] }] });
    edge.advance(31_000);
    const refused = await get(t);
    expect(refused.status).toBe(401);
    expect(await reasonOf(refused)).toBe('wrong_audience');
  });

  it('keeps what a tenant verified across a reload of an unchanged config', async () => {
    await put();
    const t = await token();
    expect((await get(t)).status).toBe(200);
    expect((await get(t)).status).toBe(200);
    edge.advance(31_000);
    expect((await get(t)).status).toBe(200);
    expect(edge.decisions().at(-1)!.tiers).toMatchObject({ tenant: 'kv', token: 'hit' });
  });

  it('never keeps a refusal', async () => {
    await put();
    const t = await token({ aud: 'https://elsewhere.test' });
    for (let i = 0; i < 2; i++) {
      const refused = await get(t);
      expect(await reasonOf(refused)).toBe('wrong_audience');
    }
    expect(cacheOf().counters.hits).toBe(0);
    expect(cacheOf().size).toBe(0);
  });
});
