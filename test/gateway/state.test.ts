// Tenant status, revocation and rate limits in their pipeline slots (SPEC.md "Request outcomes"),
// against the real TenantState and RateLimiter objects.
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { tenantStateStub } from '../../src/state/tenant-state';
import { ADMIN, tenantConfig, testEdge, uniqueTenant, type Echo } from '../support/gateway';
import { TestIssuer } from '../support/issuer';

let edge: ReturnType<typeof testEdge>;
let issuer: TestIssuer;
let id: string;
let host: string;

beforeEach(async () => {
  edge = testEdge();
  issuer = await TestIssuer.create();
  const t = uniqueTenant('s');
  id = t.id;
  host = `api.${t.domain}`;
});
afterEach(() => edge.restoreLog());

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
    const stale = await edge.request(`https://${host}/orders`, { token: before });
    expect(stale.status).toBe(401);
    expect((await errorOf(stale)).reason).toBe('revoked');
    edge.advance(2_000);
    expect((await edge.request(`https://${host}/orders`, { token: await token() })).status).toBe(200);
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

  it('deleting a tenant wipes its state, so a reused id starts clean', async () => {
    await put();
    await admin('/revoke', {});
    expect((await admin('/state').then((r) => r.json()) as { tokenVersion: number }).tokenVersion).toBe(2);
    await edge.fetch(new Request(`http://admin.localhost/tenants/${id}`, { method: 'DELETE', headers: ADMIN }));
    expect(await tenantStateStub(env.TENANT_STATE, id).summary()).toMatchObject({ tokenVersion: 1, revokedBefore: 0, status: 'active' });
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
