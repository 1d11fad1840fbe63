// The RPC door through a real service binding: a second Worker (test/fixtures/rpc-consumer.js)
// calls env.VERIFIER.verify(...) on this Worker's `Verifier` entrypoint.
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { CompactSign } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import { createIsolate } from '../../src/pipeline/isolate';
import { verifyThroughPipeline, type VerifyRequest, type VerifyResult } from '../../src/rpc/verifier';
import { proofKey, signProof } from '../support/dpop';
import { ADMIN, gatewayTest, tenantConfig, type TestEdge, uniqueTenant } from '../support/gateway';
import { TestIssuer } from '../support/issuer';

const consumer = (env as unknown as { CONSUMER: Fetcher }).CONSUMER;
const call = async (name: 'verify' | 'tenantState', ...args: unknown[]): Promise<unknown> => {
  const response = await consumer.fetch('http://consumer/', { method: 'POST', body: JSON.stringify({ call: name, args }) });
  return response.json();
};
const verify = (input: Partial<VerifyRequest> | unknown) => call('verify', input) as Promise<VerifyResult>;

let edge: TestEdge;
let issuer: TestIssuer;
let id: string;
let host: string;

gatewayTest('r', {}, async (made) => {
  ({ edge, issuer, id, host } = made);
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer,
    routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', scopes: ['admin'] }, { path: '/*' }],
    rateLimit: { perIp: { limit: 2, windowSeconds: 60 }, perSubject: { limit: 3, windowSeconds: 60 } },
    revocation: { maxStalenessSeconds: 0 },
  }));
});

const token = (claims: Record<string, unknown> = {}) =>
  issuer.sign({ sub: 'user-1', aud: `https://${host}`, scope: 'read', azp: 'app-1', ...claims });

describe('the URL a DPoP proof is checked against', () => {
  it('is https://<host><path> when the caller passes no url (query and fragment aside), else the url the caller vouches for', async () => {
    const { id: other } = uniqueTenant('rh');
    const otherHost = `api.${other}.example.test`;
    const rpcIssuer = await TestIssuer.create({ algs: ['ES256'] });
    await edge.putTenant(tenantConfig({ id: other, hosts: [otherHost], issuer: rpcIssuer }));
    const client = await proofKey('ES256');
    // The RPC door runs on the real clock.
    const bound = () => rpcIssuer.sign({ sub: `u-${crypto.randomUUID()}`, aud: `https://${otherHost}`, cnf: { jkt: client.jkt } });
    const attempt = async (htu: string, input: Partial<VerifyRequest>) => {
      const bearer = await bound();
      const dpop = await signProof(client, { htm: 'GET', htu, accessToken: bearer });
      return verify({ host: otherHost, token: bearer, scheme: 'DPoP', dpop, ...input });
    };
    const accepted = { ok: true, pop: 'dpop' };
    const mismatch = { ok: false, status: 401, error: 'invalid_dpop_proof', reason: 'dpop_mismatch' };
    expect(await attempt(`https://${otherHost}/orders`, { path: '/orders' })).toMatchObject(accepted);
    expect(await attempt(`https://${otherHost}/orders`, { path: '/orders?page=2' })).toMatchObject(accepted);
    expect(await attempt(`https://${otherHost.toUpperCase()}:443/%6Frders`, { path: '/orders' })).toMatchObject(accepted);
    // Without a path the default policy applies, at the root.
    expect(await attempt(`https://${otherHost}/`, {})).toMatchObject(accepted);
    expect(await attempt(`https://${otherHost}/other`, { path: '/orders' })).toMatchObject(mismatch);
    expect(await attempt(`https://evil.test/orders`, { path: '/orders' })).toMatchObject(mismatch);
    // A url given is what htu must name, whatever the path says: the caller vouches for it.
    expect(await attempt(`https://public.example/v1/orders`, { path: '/orders', url: 'https://public.example/v1/orders?x=1' })).toMatchObject(accepted);
    expect(await attempt(`https://${otherHost}/orders`, { path: '/orders', url: 'https://public.example/v1/orders' })).toMatchObject(mismatch);
  });
});

describe('what the RPC door hands out', () => {
  it('a caller that mutates a result (nested claims included) leaves the next call with the same token refused as before', async () => {
    // The door as a Worker in this isolate calls it: the result object itself, not a clone.
    const { id: other } = uniqueTenant('rm');
    const otherHost = `api.${other}.example.test`;
    await edge.putTenant(tenantConfig({
      id: other, hosts: [otherHost], issuer,
      routes: [{ path: '/admin/*', scopes: ['admin'] }, { path: '/roles/*', claims: { '/realm_access/roles': ['admin'] } }, { path: '/*' }],
    }));
    const isolate = createIsolate({ now: () => Date.now() });
    const ctx = createExecutionContext();
    const call = (input: VerifyRequest) => verifyThroughPipeline(isolate, input, env as Env, ctx, { random: () => 1 });
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${otherHost}`, scope: 'read', realm_access: { roles: ['reader'] } });
    const widenings = [
      (result: VerifyResult & { ok: true }) => result.scopes.push('admin'),
      (result: VerifyResult & { ok: true }) => { (result.claims as { scope: string }).scope = 'read admin'; },
      (result: VerifyResult & { ok: true }) => (result.claims.realm_access as { roles: string[] }).roles.push('admin'),
      (result: VerifyResult & { ok: true }) => { (result.claims.realm_access as { roles: string[] }).roles[0] = 'admin'; },
    ];
    // After the first verification, the second (the token cache keeps it) and cache hits.
    for (let round = 0; round < 3; round++) {
      const result = await call({ host: otherHost, token: bearer, path: '/orders' });
      expect(result).toEqual({
        ok: true, tenant: other, subject: 'user-1', clientId: null, scopes: ['read'],
        claims: expect.objectContaining({ scope: 'read', realm_access: { roles: ['reader'] } }), pop: null,
      });
      for (const widen of widenings) {
        try {
          widen(result as VerifyResult & { ok: true });
        } catch {
          // Refused outright is as good as ignored.
        }
      }
      expect(await call({ host: otherHost, token: bearer, path: '/admin/x' })).toMatchObject({ ok: false, status: 403, error: 'insufficient_scope' });
      expect(await call({ host: otherHost, token: bearer, path: '/roles/x' })).toMatchObject({ ok: false, status: 403, error: 'access_denied' });
    }
    expect(isolate.tokenCache!.counters.hits).toBeGreaterThan(0);
    await waitOnExecutionContext(ctx);
  });
});

describe('Verifier.verify over a service binding', () => {
  it('accepts a valid token and returns the identity', async () => {
    const result = await verify({ host, token: await token(), method: 'GET', path: '/orders' });
    expect(result).toEqual({
      ok: true, tenant: id, subject: 'user-1', clientId: 'app-1', scopes: ['read'],
      claims: expect.objectContaining({ sub: 'user-1', iss: issuer.issuer }), pop: null,
    });
  });

  it('answers a signed token nesting thousands of levels deep as malformed, never a throw the caller sees', async () => {
    // 16 KiB of [[[…]]]: the structured clone of the RPC answer would overflow the stack.
    const s = Math.floor(Date.now() / 1000);
    const levels = 5_700;
    const json = `{"iss":"${issuer.issuer}","iat":${s},"exp":${s + 3600},"sub":"u1","aud":"https://${host}","x":${'['.repeat(levels)}1${']'.repeat(levels)}}`;
    const key = issuer.keys[0]!;
    const deep = await new CompactSign(new TextEncoder().encode(json)).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
    expect(await verify({ host, token: deep })).toEqual({ ok: false, status: 401, error: 'invalid_token', reason: 'malformed' });
    expect((await edge.request(`https://${host}/orders`, { token: deep })).status).toBe(401);
  });

  it('applies the default policy without a path, and route scopes with one', async () => {
    expect((await verify({ host, token: await token() })).ok).toBe(true);
    expect(await verify({ host, token: await token(), path: '/ADMIN/users' }))
      .toEqual({ ok: false, status: 403, error: 'insufficient_scope' });
    expect(await verify({ host, token: '', path: '/health' })).toMatchObject({ ok: true, tenant: id, subject: null });
  });

  it('rejects with the status, error and reason the gateway would give', async () => {
    const t = await token();
    expect(await verify({ host, token: `${t.slice(0, -6)}AAAAAA` })).toEqual({ ok: false, status: 401, error: 'invalid_token', reason: 'bad_signature' });
    expect(await verify({ host, token: '' })).toEqual({ ok: false, status: 401, error: 'missing_token' });
    expect(await verify({ host: `nobody.${host}`, token: t })).toEqual({ ok: false, status: 404, error: 'unknown_host' });
  });

  it('refuses a token older than the tenant\'s memory of revocations as too_old, as the gateway does', async () => {
    const s = Math.floor(Date.now() / 1000);
    const old = await token({ iat: s - 2 * 86_400, exp: s + 3_600 });
    expect(await verify({ host, token: old })).toEqual({ ok: false, status: 401, error: 'invalid_token', reason: 'too_old' });
    const noIat = await token({ iat: undefined, exp: s + 2 * 86_400 });
    expect(await verify({ host, token: noIat })).toEqual({ ok: false, status: 401, error: 'invalid_token', reason: 'too_old' });
  });

  it('sees revocations made through the admin API', async () => {
    const old = await issuer.sign({ sub: 'user-1', aud: `https://${host}`, iat: Math.floor(Date.now() / 1000) - 10 });
    expect((await verify({ host, token: old })).ok).toBe(true);
    await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/revoke`, { method: 'POST', headers: ADMIN, body: '{}' }));
    expect(await verify({ host, token: old })).toEqual({ ok: false, status: 401, error: 'invalid_token', reason: 'revoked' });
  });

  it('rate-limits per subject, and per IP only when clientIp is given', async () => {
    const t = await token({ sub: 'busy' });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await verify({ host, token: t }));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
    expect(results[3]).toMatchObject({ ok: false, status: 429, error: 'rate_limited', retryAfterSeconds: expect.any(Number) });
    const fromIp = [];
    for (let i = 0; i < 3; i++) fromIp.push(await verify({ host, token: await token({ sub: `u${i}` }), clientIp: '203.0.113.9' }));
    expect(fromIp.map((r) => r.ok)).toEqual([true, true, false]);
  });

  it('refuses hostile arguments without throwing', async () => {
    for (const input of [null, 'x', { host: 5, token: 't' }, { host, token: 7 }, { host: 'evil.test/x', token: 't' },
      { host, token: 't', path: 'no-slash' }, { host, token: 't', method: 'GE T' }]) {
      expect(await verify(input)).toEqual({ ok: false, status: 400, error: 'invalid_request' });
    }
    expect(await verify({ host, token: 'x'.repeat(20_000) })).toMatchObject({ status: 401, reason: 'malformed' });
  });
});

describe('Verifier.tenantState', () => {
  it('gives first-party issuers the tokenVersion, and null for an unknown tenant', async () => {
    expect(await call('tenantState', id)).toEqual({
      status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: 0, revokedSessions: 0, revokedClaimValues: 0, deniedJtis: 0,
    });
    await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/revoke`, { method: 'POST', headers: ADMIN, body: '{}' }));
    await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/revoke`, { method: 'POST', headers: ADMIN, body: '{"sid":"s-1"}' }));
    expect(await call('tenantState', id)).toMatchObject({ tokenVersion: 2, revokedSessions: 1 });
    expect(await call('tenantState', 'no-such-tenant')).toBeNull();
    expect(await call('tenantState', '../x')).toBeNull();
  });
});
