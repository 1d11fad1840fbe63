// The library door: edgeAuth() inside a user's own Hono app, imported by package name, with
// the bindings given as options (here the test Worker's own objects and KV).
import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { Hono } from 'hono';
import { edgeAuth, EdgeAuthConfigError, type AuthIdentity, type EdgeAuthVariables, type TenantConfigInput } from 'edge-token-verifier/hono';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tenantStateStub } from '../../src/revocation/tenant-state';
import { tenantConfig, testEdge, uniqueTenant } from '../support/gateway';
import { proofKey, signProof } from '../support/dpop';
import { TestIssuer } from '../support/issuer';

let issuer: TestIssuer;
let id: string;
let host: string;
let config: ReturnType<typeof tenantConfig>;

beforeEach(async () => {
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  issuer = await TestIssuer.create();
  ({ id } = uniqueTenant('h'));
  host = `api.${id}.example.test`;
  config = tenantConfig({
    id, hosts: [host], issuer,
    routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', scopes: ['admin'] }, { path: '/*' }],
    cors: { allowOrigins: ['https://app.example.test'] },
    revocation: { maxStalenessSeconds: 0 },
  });
});
afterEach(() => vi.restoreAllMocks());

function userApp(tenant: Parameters<typeof edgeAuth>[0]['tenant']) {
  const app = new Hono<{ Variables: EdgeAuthVariables }>();
  app.use('*', edgeAuth({ tenant, bindings: () => env }));
  app.get('/health', (c) => c.json({ auth: c.get('auth') }));
  app.all('*', (c) => {
    const auth = c.get('auth');
    return c.json({ subject: auth?.subject, scopes: [...(auth?.scopes ?? [])], tenant: auth?.tenant });
  });
  return async (path: string, init: RequestInit & { token?: string; host?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set('authorization', `Bearer ${init.token}`);
    const ctx = createExecutionContext();
    const response = await app.fetch(new Request(`https://${init.host ?? host}${path}`, { ...init, headers }), env, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
}
const token = (claims: Record<string, unknown> = {}) => issuer.sign({ sub: 'user-1', aud: `https://${host}`, scope: 'read', ...claims });

describe('edgeAuth with one tenant config', () => {
  it("puts the verified identity on the context for the user's handler", async () => {
    const request = userApp(config);
    const response = await request('/orders', { token: await token(), headers: { origin: 'https://app.example.test' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ subject: 'user-1', scopes: ['read'], tenant: id });
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
  });

  it('answers refusals exactly as the gateway does', async () => {
    const request = userApp(config);
    const missing = await request('/orders');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(
      `Bearer realm="${host}", resource_metadata="https://${host}/.well-known/oauth-protected-resource", DPoP algs="RS256 PS256 ES256 EdDSA"`);
    expect(await missing.json()).toEqual({ error: 'missing_token', error_description: 'A bearer token is required.' });
    const scope = await request('/admin/x', { token: await token() });
    expect(scope.status).toBe(403);
    expect(scope.headers.get('www-authenticate')).toContain('scope="admin"');
    const bad = await request('/orders', { token: await token({ aud: 'https://other' }) });
    expect(await bad.json()).toMatchObject({ error: 'invalid_token', reason: 'wrong_audience' });
  });

  it('refuses a token older than the memory of revocations (revocation.retainSeconds) as too_old', async () => {
    const request = userApp({ ...config, revocation: { maxStalenessSeconds: 0, retainSeconds: 300 } });
    const s = Math.floor(Date.now() / 1000);
    expect((await request('/orders', { token: await token({ iat: s - 200 }) })).status).toBe(200);
    const old = await request('/orders', { token: await token({ iat: s - 400 }) });
    expect([old.status, await old.json()]).toEqual([401, expect.objectContaining({ error: 'invalid_token', reason: 'too_old' })]);
  });

  it('lets auth:none routes through with a null identity, and serves metadata and preflights', async () => {
    const request = userApp(config);
    expect(await (await request('/health')).json()).toEqual({ auth: null });
    const metadata = await request('/.well-known/oauth-protected-resource');
    expect(await metadata.json()).toMatchObject({ resource: `https://${host}`, authorization_servers: [issuer.issuer] });
    const preflight = await request('/orders', { method: 'OPTIONS', headers: { origin: 'https://app.example.test', 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(204);
  });

  it("shares revocations through the gateway's TenantState object", async () => {
    const request = userApp(config);
    const old = await token({ iat: Math.floor(Date.now() / 1000) - 10 });
    expect((await request('/orders', { token: old })).status).toBe(200);
    await tenantStateStub(env.TENANT_STATE, id).revokeAll();
    expect(await (await request('/orders', { token: old })).json()).toMatchObject({ error: 'invalid_token', reason: 'revoked' });
  });

  it('checks DPoP proofs like the gateway, and without DPOP_REPLAY refuses a DPoP-bound token as a broken binding (500)', async () => {
    const client = await proofKey('ES256');
    const bound = await token({ cnf: { jkt: client.jkt } });
    const withProof = async (bindings: () => typeof env) => {
      const app = new Hono<{ Variables: EdgeAuthVariables }>();
      app.use('*', edgeAuth({ tenant: config, bindings }));
      app.all('*', (c) => c.json({ pop: c.get('auth')?.pop }));
      const proof = await signProof(client, { htm: 'GET', htu: `https://${host}/orders`, accessToken: bound });
      const ctx = createExecutionContext();
      const response = await app.fetch(new Request(`https://${host}/orders`, { headers: { authorization: `DPoP ${bound}`, dpop: proof } }), env, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    const accepted = await withProof(() => env);
    expect([accepted.status, await accepted.json()]).toEqual([200, { pop: 'dpop' }]);
    const unbound = await withProof(() => ({ ...env, DPOP_REPLAY: undefined as never }));
    expect([unbound.status, (await unbound.json() as { error: string }).error]).toEqual([500, 'internal_error']);
  });

  it('refuses an invalid config at creation, naming the paths', () => {
    expect(() => edgeAuth({ tenant: { ...config, issuers: [{ issuer: 'http://idp.example/' }] } as unknown as TenantConfigInput })).toThrow(EdgeAuthConfigError);
    try {
      edgeAuth({ tenant: { ...config, issuers: [{ issuer: 'http://idp.example/' }] } as unknown as TenantConfigInput });
    } catch (error) {
      expect((error as EdgeAuthConfigError).issues.map((i) => i.path)).toEqual(expect.arrayContaining(['/issuers/0/issuer', '/issuers/0/audiences']));
    }
  });
});

describe('what a handler gets cannot change what a later request sees', () => {
  /** Every way a handler might try to widen the identity it was handed, each tried in turn. */
  const widenings: [string, (auth: AuthIdentity) => void][] = [
    ['scopes.add', (auth) => { (auth.scopes as Set<string>).add('admin'); }],
    ['Set.prototype.add on scopes', (auth) => { Set.prototype.add.call(auth.scopes, 'admin'); }],
    ['Set.prototype.clear on scopes', (auth) => { Set.prototype.clear.call(auth.scopes); }],
    ['claims.scope', (auth) => { (auth.claims as { scope: string }).scope = 'read admin'; }],
    ['claims.realm_access.roles.push', (auth) => { (auth.claims as { realm_access: { roles: string[] } }).realm_access.roles.push('admin'); }],
    ['claims.realm_access.roles[0]', (auth) => { (auth.claims as { realm_access: { roles: string[] } }).realm_access.roles[0] = 'admin'; }],
    ['claims.acr', (auth) => { Object.assign(auth.claims, { acr: 'mfa' }); }],
    ['delete claims.sub', (auth) => { delete (auth.claims as { sub?: string }).sub; }],
  ];

  it('a handler that mutates c.get(\'auth\') leaves the next request with the same token refused as before', async () => {
    const app = new Hono<{ Variables: EdgeAuthVariables }>();
    app.use('*', edgeAuth({
      tenant: {
        ...config,
        routes: [
          { path: '/admin/*', scopes: ['admin'] }, { path: '/roles/*', claims: { '/realm_access/roles': ['admin'] } },
          { path: '/stepup/*', acr: ['mfa'] }, { path: '/*' },
        ],
      },
      bindings: () => env,
    }));
    const attempted: string[] = [];
    app.get('/widen/:which', (c) => {
      const auth = c.get('auth')!;
      const [name, widen] = widenings[Number(c.req.param('which'))]!;
      try {
        widen(auth);
      } catch {
        // Refused outright is as good as ignored.
      }
      attempted.push(name);
      return c.json({ scopes: [...auth.scopes], claims: auth.claims });
    });
    app.get('*', (c) => c.json({ scopes: [...c.get('auth')!.scopes], claims: c.get('auth')!.claims }));
    const send = async (path: string, bearer: string) => {
      const ctx = createExecutionContext();
      const response = await app.fetch(new Request(`https://${host}${path}`, { headers: { authorization: `Bearer ${bearer}` } }), env, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    // One token, verified once and served from the token cache after that.
    const bearer = await token({ realm_access: { roles: ['reader'] }, acr: 'pwd' });
    const before = await (await send('/orders', bearer)).json();
    for (let which = 0; which < widenings.length; which++) {
      expect((await send(`/widen/${which}`, bearer)).status).toBe(200);
      const label = widenings[which]![0];
      expect((await send('/admin/x', bearer)).status, label).toBe(403);
      expect(await (await send('/roles/x', bearer)).json(), label).toMatchObject({ error: 'access_denied' });
      expect((await send('/stepup/x', bearer)).status, label).toBe(401);
      expect(await (await send('/orders', bearer)).json(), label).toEqual(before);
    }
    expect(attempted).toHaveLength(widenings.length);
  });
});

describe('edgeAuth with many tenants', () => {
  it('takes a resolver: null is unknown_host, an invalid config is tenant_config_invalid', async () => {
    const broken = { id: 'x', hosts: [] };
    const request = userApp((c) => {
      const h = new URL(c.req.url).hostname;
      return h === host ? config : h === 'broken.example.test' ? broken : null;
    });
    expect((await request('/orders', { token: await token() })).status).toBe(200);
    expect((await request('/orders', { host: 'nobody.example.test' })).status).toBe(404);
    expect(await (await request('/orders', { host: 'broken.example.test' })).json()).toMatchObject({ error: 'tenant_config_invalid' });
  });

  it("looks hosts up in KV like the gateway with tenant: 'kv'", async () => {
    const edge = testEdge();
    await edge.putTenant(config);
    edge.restoreLog();
    const request = userApp('kv');
    expect(await (await request('/orders', { token: await token() })).json()).toMatchObject({ subject: 'user-1', tenant: id });
    expect((await request('/orders', { host: `other.${host}` })).status).toBe(404);
  });
});
