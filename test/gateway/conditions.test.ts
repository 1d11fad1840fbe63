// Route conditions through the whole Worker and the RPC door: claim conditions (403
// access_denied), step-up (401 insufficient_user_authentication, RFC 9470) in the contract's
// order after scopes, evaluated per request on a verified-token cache hit too.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { VerifyResult } from '../../src/rpc/verifier';
import { TestIssuer } from '../support/issuer';
import { gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;

gatewayTest('cond', {}, async (made) => {
  ({ edge, issuer, host } = made);
  await edge.putTenant(tenantConfig({
    id: made.id, hosts: [host], issuer,
    issuers: [{ issuer: issuer.issuer, audiences: [`https://${host}`], scopeClaims: ['scope', '/realm_access/roles'] }],
    routes: [
      { path: '/admin/*', scopes: ['admin'], claims: { '/org/role': ['owner', 'admin'] }, acr: ['urn:mfa', 'phr"x\\y'], maxAuthAgeSeconds: 600 },
      { path: '/account/*', acr: ['urn:mfa'], maxAuthAgeSeconds: 600 },
      { path: '/*' },
    ],
  }));
});

const seconds = () => Math.floor(edge.now / 1000);
const token = (claims: Record<string, unknown>) => issuer.sign({ sub: 'u1', aud: `https://${host}`, ...claims }, { now: edge.now });
const call = (path: string, t: string) => edge.request(`https://${host}${path}`, { token: t });
const errorOf = async (response: Response) => (await response.json() as { error: string }).error;

describe('route conditions at the gateway', () => {
  it('orders scopes (403), claims (403), then step-up (401), and admits a token meeting all', async () => {
    const full = { scope: 'admin', org: { role: 'owner' }, acr: 'urn:mfa', auth_time: seconds() - 60 };
    expect((await call('/admin/x', await token(full))).status).toBe(200);

    const noScope = await call('/admin/x', await token({ ...full, scope: 'read', acr: undefined }));
    expect([noScope.status, await errorOf(noScope)]).toEqual([403, 'insufficient_scope']);

    const wrongRole = await call('/admin/x', await token({ ...full, org: { role: 'viewer' }, acr: undefined }));
    expect([wrongRole.status, await errorOf(wrongRole)]).toEqual([403, 'access_denied']);
    expect(wrongRole.headers.get('www-authenticate')).toBe(`Bearer realm="${host}", resource_metadata="https://${host}/.well-known/oauth-protected-resource"`);

    const weak = await call('/admin/x', await token({ ...full, acr: 'urn:password' }));
    expect([weak.status, await errorOf(weak)]).toEqual([401, 'insufficient_user_authentication']);
    const challenge = weak.headers.get('www-authenticate')!;
    expect(challenge).toContain('error="insufficient_user_authentication"');
    expect(challenge).toContain('acr_values="urn:mfa phr\\"x\\\\y"');
    expect(challenge).toContain('max_age=600');
  });

  it('roles from a JSON Pointer scope claim grant scopes', async () => {
    const t = await token({ realm_access: { roles: ['admin'] }, org: { role: 'admin' }, acr: 'urn:mfa', auth_time: seconds() });
    expect((await call('/admin/x', t)).status).toBe(200);
  });

  it('missing auth_time or acr is not met; a cached token whose auth_time ages past the limit is refused', async () => {
    expect((await call('/account/me', await token({ acr: 'urn:mfa' }))).status).toBe(401);
    expect((await call('/account/me', await token({ auth_time: seconds() }))).status).toBe(401);
    const fresh = await token({ acr: 'urn:mfa', auth_time: seconds() });
    for (let i = 0; i < 3; i++) expect((await call('/account/me', fresh)).status).toBe(200);
    expect(edge.app.isolate.tokenCache!.counters.hits).toBeGreaterThan(0);
    edge.advance(601_000);
    const aged = await call('/account/me', fresh);
    expect([aged.status, await errorOf(aged)]).toEqual([401, 'insufficient_user_authentication']);
    expect(aged.headers.get('www-authenticate')).toContain('max_age=600');
  });
});

describe('route conditions over RPC', () => {
  it('returns the error with acr_values and max_age for the caller to send the user back with', async () => {
    const consumer = (env as unknown as { CONSUMER: Fetcher }).CONSUMER;
    const verify = async (input: unknown) => (await (await consumer.fetch('http://consumer/', {
      method: 'POST', body: JSON.stringify({ call: 'verify', args: [input] }),
    })).json()) as VerifyResult;
    // The RPC door runs on the real clock: tokens are signed for it.
    const t = await issuer.sign({ sub: 'u1', aud: `https://${host}`, acr: 'urn:password', auth_time: Math.floor(Date.now() / 1000) });
    expect(await verify({ host, token: t, path: '/account/me' })).toEqual({
      ok: false, status: 401, error: 'insufficient_user_authentication', acr_values: 'urn:mfa', max_age: 600,
    });
    const denied = await issuer.sign({ sub: 'u1', aud: `https://${host}`, scope: 'admin', org: { role: 'viewer' } });
    expect(await verify({ host, token: denied, path: '/admin/x' })).toEqual({ ok: false, status: 403, error: 'access_denied' });
  });
});
