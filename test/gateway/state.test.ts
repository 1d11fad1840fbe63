// Tenant status, revocation and rate limits in their pipeline slots (docs/errors.md),
// against the real TenantState and RateLimiter objects.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import { ADMIN, type Echo, gatewayTest, tenantConfig, testEdge, type TestEdge } from '../support/gateway';
import { TestIssuer } from '../support/issuer';

let edge: TestEdge;
let issuer: TestIssuer;
let id: string;
let host: string;

gatewayTest('s', {}, (made) => ({ edge, issuer, id, host } = made));

const put = (extra: Record<string, unknown> = {}) => edge.putTenant(tenantConfig({
  id, hosts: [host], issuer, routes: [{ path: '/health', auth: 'none' }, { path: '/*' }], ...extra,
}));
const nowSeconds = () => Math.floor(edge.now / 1000);
const token = (claims: Record<string, unknown> = {}) =>
  issuer.sign({ sub: 'user-1', aud: `https://${host}`, ...claims }, { now: edge.now });
const admin = (path: string, body?: unknown) => edge.fetch(new Request(`http://admin.localhost/tenants/${id}${path}`, {
  method: body === undefined ? 'GET' : 'POST', headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body),
}));
const errorOf = async (response: Response) => (await response.json() as { error: string; reason?: string });
/** The tenant's TenantState reads the edge's clock, so "the same second" means the same second. */
const shareClock = () => runInDurableObject(tenantStateStub(env.TENANT_STATE, id), (instance: TenantState) => { instance.now = () => edge.now; });
/** 200, or "<status> <reason or error>". */
const statusOf = async (tokenText: string, path = '/x') => {
  const response = await edge.request(`https://${host}${path}`, { token: tokenText });
  if (response.status === 200) return 200;
  const body = await errorOf(response);
  return `${response.status} ${body.reason ?? body.error}`;
};

describe('tenant status', () => {
  it('answers 403 tenant_on_hold on every route, still serves the metadata, and reactivation kills older tokens', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    const before = await token({ iat: nowSeconds() - 10 });
    expect((await edge.request(`https://${host}/orders`, { token: before })).status).toBe(200);
    expect((await admin('/status', { status: 'hold' })).status).toBe(200);
    for (const path of ['/orders', '/health']) {
      const held = await edge.request(`https://${host}${path}`, { token: before });
      expect(held.status, path).toBe(403);
      expect((await errorOf(held)).error).toBe('tenant_on_hold');
    }
    expect((await edge.request(`https://${host}/.well-known/oauth-protected-resource`)).status).toBe(200);
    expect((await admin('/status', { status: 'active' })).status).toBe(200);
    // Before perIp the status is read from the isolate's copy, up to 1 s old with maxStalenessSeconds 0.
    edge.advance(1_000);
    const stale = await edge.request(`https://${host}/orders`, { token: before });
    expect(stale.status).toBe(401);
    expect((await errorOf(stale)).reason).toBe('revoked');
    edge.advance(2_000);
    const again = await edge.request(`https://${host}/orders`, { token: await token() });
    expect(again.status, await again.clone().text()).toBe(200);
  });
});

describe('revocation', () => {
  it('revokes every token issued before POST /revoke {}, from any issuer', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    const old = await token({ iat: nowSeconds() - 5 });
    expect((await admin('/revoke', {})).status).toBe(200);
    const refused = await edge.request(`https://${host}/orders`, { token: old });
    expect(await errorOf(refused)).toMatchObject({ error: 'invalid_token', reason: 'revoked' });
    edge.advance(2_000);
    expect((await edge.request(`https://${host}/orders`, { token: await token() })).status).toBe(200);
  });

  it('refuses a token older than revocation.retainSeconds as too_old, and a long-lived token without iat', async () => {
    await put({ revocation: { maxStalenessSeconds: 0, retainSeconds: 3_600 } });
    expect(await statusOf(await token({ iat: nowSeconds() - 3_000, exp: nowSeconds() + 86_400 }))).toBe(200);
    expect(await statusOf(await token({ iat: nowSeconds() - 3_700, exp: nowSeconds() + 86_400 }))).toBe('401 too_old');
    expect(await statusOf(await token({ iat: undefined, exp: nowSeconds() + 7_200 }))).toBe('401 too_old');
    expect(await statusOf(await token({ iat: undefined, exp: nowSeconds() + 600 }))).toBe(200);
  });

  it('revokes one subject and one jti', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    const alice = await token({ sub: 'alice', iat: nowSeconds() - 5 });
    const bob = await token({ sub: 'bob', jti: 'j-1' });
    await admin('/revoke', { sub: 'alice' });
    await admin('/revoke', { jti: 'j-1', exp: nowSeconds() + 3600 });
    expect((await errorOf(await edge.request(`https://${host}/x`, { token: alice }))).reason).toBe('revoked');
    expect((await errorOf(await edge.request(`https://${host}/x`, { token: bob }))).reason).toBe('revoked');
    expect((await edge.request(`https://${host}/x`, { token: await token({ sub: 'carol' }) })).status).toBe(200);
  });

  it('checks versionClaim against tokenVersion and tenantClaim against the tenant id', async () => {
    await put({ revocation: { versionClaim: 'tv', tenantClaim: 'tid', maxStalenessSeconds: 0 } });
    expect((await edge.request(`https://${host}/x`, { token: await token({ tv: 1, tid: id }) })).status).toBe(200);
    expect((await errorOf(await edge.request(`https://${host}/x`, { token: await token({ tv: 2, tid: id }) }))).reason).toBe('revoked');
    expect((await errorOf(await edge.request(`https://${host}/x`, { token: await token({ tv: 1, tid: 'other' }) }))).reason).toBe('wrong_tenant');
    expect((await errorOf(await edge.request(`https://${host}/x`, { token: await token({ tv: 1 }) }))).reason).toBe('wrong_tenant');
  });

  it('serves the cached state within maxStalenessSeconds, then sees a revocation', async () => {
    await put({ revocation: { maxStalenessSeconds: 5 } });
    const old = await token({ iat: nowSeconds() - 5 });
    expect((await edge.request(`https://${host}/x`, { token: old })).status).toBe(200);
    await admin('/revoke', {});
    expect((await edge.request(`https://${host}/x`, { token: old })).status).toBe(200);
    edge.advance(5_001);
    expect((await errorOf(await edge.request(`https://${host}/x`, { token: old }))).reason).toBe('revoked');
  });

  it('keeps serving the last state for 60 s when the object is unreachable, then fails closed on token routes only', async () => {
    let reachable = true;
    const real = env.TENANT_STATE;
    const flaky = {
      idFromName: (name: string) => real.idFromName(name),
      get: (objectId: DurableObjectId) => reachable ? real.get(objectId)
        : { snapshot: () => Promise.reject(new Error('object unreachable')) },
    } as unknown as Env['TENANT_STATE'];
    const flakyEdge = testEdge({ env: { TENANT_STATE: flaky } });
    await put({ revocation: { maxStalenessSeconds: 5 } });
    const t = await token();
    expect((await flakyEdge.request(`https://${host}/x`, { token: t })).status).toBe(200);
    reachable = false;
    flakyEdge.advance(60_000);
    expect((await flakyEdge.request(`https://${host}/x`, { token: await token({}) })).status).toBe(200);
    flakyEdge.advance(6_000);
    const closed = await flakyEdge.request(`https://${host}/x`, { token: t });
    expect(closed.status).toBe(503);
    expect((await errorOf(closed)).error).toBe('revocation_unavailable');
    expect(Number(closed.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await flakyEdge.request(`https://${host}/health`)).status).toBe(200);
    flakyEdge.restoreLog();
  });

  it('deleting a tenant never brings a revoked token back, though isolates still serve the tenant; a re-create starts clean', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    await shareClock();
    const alice = await token({ sub: 'alice', iat: nowSeconds() - 5 });
    const bob = await token({ sub: 'bob', iat: nowSeconds() - 5 });
    await admin('/revoke', { sub: 'alice' });
    expect(await statusOf(alice)).toBe('401 revoked');
    expect(await statusOf(bob)).toBe(200); // this isolate now holds the tenant (TENANT_CACHE_SECONDS)
    expect((await edge.fetch(new Request(`http://admin.localhost/tenants/${id}`, { method: 'DELETE', headers: ADMIN }))).status).toBe(204);
    // The isolate still serves the deleted tenant from its cache: nothing passes, alice least of all.
    for (const old of [alice, bob, await token({ sub: 'carol' })]) {
      const refused = await edge.request(`https://${host}/x`, { token: old });
      expect(refused.status).toBe(403);
      expect((await errorOf(refused)).error).toBe('tenant_on_hold');
    }
    expect(await tenantStateStub(env.TENANT_STATE, id).summary()).toMatchObject({ status: 'hold', tokenVersion: 2, revokedBefore: nowSeconds() });

    await put({ revocation: { maxStalenessSeconds: 0 } });
    expect(await tenantStateStub(env.TENANT_STATE, id).summary())
      .toEqual({ status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: 0, revokedSessions: 0, revokedClaimValues: 0, deniedJtis: 0 });
    // The isolate's copy (on hold) serves the status check before perIp for up to 1 s.
    expect(await statusOf(await token({ sub: 'dave' }))).toBe('403 tenant_on_hold');
    edge.advance(1_000);
    expect(await statusOf(await token({ sub: 'dave' }))).toBe(200);
  });
});

describe('revocation in the second it happens', () => {
  it('revokes a token issued in the same second as a revoke-all, and passes one issued the next second', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    await shareClock();
    edge.advance(1_000 - (edge.now % 1_000) + 200); // 200 ms into a second
    const sameSecond = await token();
    expect(await statusOf(sameSecond)).toBe(200);
    edge.advance(500);
    expect((await admin('/revoke', {})).status).toBe(200);
    expect(await statusOf(sameSecond)).toBe('401 revoked');
    expect(await statusOf(await token())).toBe('401 revoked'); // still the same second: fail closed
    expect(await statusOf(await token({ iat: undefined }))).toBe('401 revoked');
    edge.advance(1_000);
    expect(await statusOf(await token())).toBe(200);
  });

  it('judges a token carrying the current versionClaim by the version, so a first-party issuer can mint right after a revoke-all', async () => {
    await put({ revocation: { versionClaim: 'tv', maxStalenessSeconds: 0 } });
    await shareClock();
    const revoked = await admin('/revoke', {}).then((r) => r.json()) as { tokenVersion: number; revokedBefore: number };
    expect(revoked).toMatchObject({ tokenVersion: 2, revokedBefore: nowSeconds() });
    expect(await statusOf(await token({ tv: 2 }))).toBe(200);
    expect(await statusOf(await token({ tv: '2', iat: undefined }))).toBe(200);
    expect(await statusOf(await token({ tv: 1 }))).toBe('401 revoked');
    expect(await statusOf(await token())).toBe('401 revoked');
    // The version does not lift a subject revocation in the same second.
    await admin('/revoke', { sub: 'user-1' });
    expect(await statusOf(await token({ tv: 2 }))).toBe('401 revoked');
    expect(await statusOf(await token({ tv: 2, sub: 'user-2' }))).toBe(200);
  });

  it('revokes a subject\'s and a session\'s tokens issued in the second of their revocation', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    await shareClock();
    const subject = await token({ sub: 'alice' });
    const session = await token({ sub: 'bob', sid: 'session-1' });
    await admin('/revoke', { sub: 'alice' });
    await admin('/revoke', { sid: 'session-1' });
    expect(await statusOf(subject)).toBe('401 revoked');
    expect(await statusOf(session)).toBe('401 revoked');
    expect(await statusOf(await token({ sub: 'alice', iat: undefined }))).toBe('401 revoked');
    edge.advance(1_000);
    expect(await statusOf(await token({ sub: 'alice' }))).toBe(200);
    expect(await statusOf(await token({ sub: 'bob', sid: 'session-1' }))).toBe(200);
  });
});

describe('sessions', () => {
  it('revokes every token of one session through the admin API, and no other session\'s', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 } });
    const mine = await token({ sub: 'alice', sid: 'sess-a', iat: nowSeconds() - 5 });
    const sameUserOtherSession = await token({ sub: 'alice', sid: 'sess-b', iat: nowSeconds() - 5 });
    const noSession = await token({ sub: 'alice', iat: nowSeconds() - 5 });
    const revoked = await admin('/revoke', { sid: 'sess-a' });
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({ revokedSessions: 1, revokedSubjects: 0 });
    expect(await statusOf(mine)).toBe('401 revoked');
    expect(await statusOf(sameUserOtherSession)).toBe(200);
    expect(await statusOf(noSession)).toBe(200);
    expect(await admin('/state').then((r) => r.json())).toMatchObject({ revokedSessions: 1 });
    edge.advance(2_000);
    expect(await statusOf(await token({ sub: 'alice', sid: 'sess-a' }))).toBe(200);
  });

  it('sees a session revocation within maxStalenessSeconds', async () => {
    await put({ revocation: { maxStalenessSeconds: 5 } });
    const t = await token({ sid: 'sess-z', iat: nowSeconds() - 5 });
    expect(await statusOf(t)).toBe(200);
    await admin('/revoke', { sid: 'sess-z' });
    expect(await statusOf(t)).toBe(200);
    edge.advance(5_001);
    expect(await statusOf(t)).toBe('401 revoked');
  });
});

describe('rate limits', () => {
  it('admits exactly `limit` of 50 concurrent requests from one IP, with 429 and headers', async () => {
    await put({ rateLimit: { perIp: { limit: 5, windowSeconds: 60 } } });
    const responses = await Promise.all(Array.from({ length: 50 }, () =>
      edge.request(`https://${host}/health`, { headers: { 'cf-connecting-ip': '203.0.113.7' } })));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(45);
    const limited = responses.find((r) => r.status === 429)!;
    expect((await errorOf(limited)).error).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('ratelimit-policy')).toBe('"ip";q=5;w=60');
    expect(limited.headers.get('ratelimit')).toMatch(/^"ip";r=0;t=\d+$/);
    const admitted = responses.find((r) => r.status === 200)!;
    expect(admitted.headers.get('ratelimit-policy')).toBe('"ip";q=5;w=60');
    // another address has its own budget
    expect((await edge.request(`https://${host}/health`, { headers: { 'cf-connecting-ip': '203.0.113.8' } })).status).toBe(200);
  });

  it('limits per verified subject after verification, and names the tighter policy', async () => {
    await put({ rateLimit: { perIp: { limit: 100, windowSeconds: 60 }, perSubject: { limit: 2, windowSeconds: 60 } } });
    const t = await token({ sub: 'heavy' });
    const send = () => edge.request(`https://${host}/x`, { token: t, headers: { 'cf-connecting-ip': '198.51.100.1' } });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"ip";q=100;w=60, "sub";q=2;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"sub";r=1;t=\d+$/);
    expect((await send()).status).toBe(200);
    const third = await send();
    expect(third.status).toBe(429);
    expect((await edge.request(`https://${host}/x`, { token: await token({ sub: 'light' }), headers: { 'cf-connecting-ip': '198.51.100.1' } })).status).toBe(200);
  });

  it('costs no TenantState call before perIp admits a request (maxStalenessSeconds 0)', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 }, rateLimit: { perIp: { limit: 1, windowSeconds: 60 } } });
    const reads = () => edge.app.isolate.states.counters.reads;
    const from = (ip: string) => edge.request(`https://${host}/x`, { headers: { 'cf-connecting-ip': ip } });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await from('203.0.113.20')).status);
    expect(statuses).toEqual([401, ...Array(19).fill(429)]);
    // One read, for the one request perIp admitted.
    expect(reads()).toBe(1);
    // Concurrently, from another address: still one read per admitted request.
    const concurrent = await Promise.all(Array.from({ length: 20 }, () => from('203.0.113.21').then((r) => r.status)));
    expect(concurrent.filter((s) => s === 401)).toHaveLength(1);
    expect(reads()).toBe(2);
    // Past the 1 s the copy serves the status check before perIp, refused requests still read nothing.
    edge.advance(1_500);
    for (let i = 0; i < 5; i++) expect((await from('203.0.113.20')).status).toBe(429);
    expect(reads()).toBe(2);
  });

  it('costs no TenantState call before perIp admits a request, nor a background refresh (maxStalenessSeconds 5)', async () => {
    await put({ rateLimit: { perIp: { limit: 1, windowSeconds: 60 } } });
    const reads = () => edge.app.isolate.states.counters.reads;
    const from = (ip: string) => edge.request(`https://${host}/x`, { headers: { 'cf-connecting-ip': ip } });
    expect((await from('203.0.113.30')).status).toBe(401);
    expect(reads()).toBe(1);
    // Past half the allowance a copy is refreshed in the background, and past all of it read
    // through: neither for a request perIp refuses.
    for (const step of [3_000, 3_000, 30_000]) {
      edge.advance(step);
      for (let i = 0; i < 5; i++) expect((await from('203.0.113.30')).status).toBe(429);
      expect(reads(), `after ${step} ms more`).toBe(1);
    }
  });

  it('refuses a tenant on hold from the isolate\'s copy before perIp, without counting or reading', async () => {
    await put({ revocation: { maxStalenessSeconds: 0 }, rateLimit: { perIp: { limit: 2, windowSeconds: 60 } } });
    expect((await admin('/status', { status: 'hold' })).status).toBe(200);
    const reads = () => edge.app.isolate.states.counters.reads;
    for (let i = 0; i < 20; i++) {
      const response = await edge.request(`https://${host}/health`, { headers: { 'cf-connecting-ip': '203.0.113.40' } });
      expect([response.status, (await errorOf(response)).error]).toEqual([403, 'tenant_on_hold']);
    }
    // The first request found no copy: perIp admitted it, then the read saw the hold. The rest were
    // refused from that copy, before perIp.
    expect(reads()).toBe(1);
    expect((await admin('/status', { status: 'active' })).status).toBe(200);
    edge.advance(1_500);
    // The address used one of its two requests.
    expect((await edge.request(`https://${host}/health`, { headers: { 'cf-connecting-ip': '203.0.113.40' } })).status).toBe(200);
    expect((await edge.request(`https://${host}/health`, { headers: { 'cf-connecting-ip': '203.0.113.40' } })).status).toBe(429);
  });

  it('never counts a bad token against the subject limit: junk stops at the IP limit', async () => {
    await put({ rateLimit: { perIp: { limit: 3, windowSeconds: 60 }, perSubject: { limit: 1, windowSeconds: 60 } } });
    const forged = `${(await token({ sub: 'victim' })).slice(0, -4)}AAAA`;
    for (let i = 0; i < 3; i++) {
      expect((await edge.request(`https://${host}/x`, { token: forged, headers: { 'cf-connecting-ip': '192.0.2.1' } })).status).toBe(401);
    }
    expect((await edge.request(`https://${host}/x`, { token: forged, headers: { 'cf-connecting-ip': '192.0.2.1' } })).status).toBe(429);
    // the victim's own budget is untouched
    const own = await edge.request(`https://${host}/x`, { token: await token({ sub: 'victim' }), headers: { 'cf-connecting-ip': '192.0.2.2' } });
    expect(own.status).toBe(200);
    expect(((await own.json()) as Echo).headers['x-auth-subject']).toBe('victim');
  });
});
