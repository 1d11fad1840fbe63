// The pipeline end to end inside workerd: real KV, Cache API and Durable Objects; the issuer and
// the origin are the auxiliary Worker (test/fixtures/issuer-worker.js).
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { TestIssuer } from '../support/issuer';
import { type Echo, gatewayTest, tenantConfig, testEdge, type TestEdge, uniqueTenant } from '../support/gateway';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;
let id: string;

// Every decision in the log (production samples allowed ones).
gatewayTest(undefined, { env: { LOG_SAMPLE_RATE: '1' } }, (made) => ({ edge, issuer, id, host } = made));

const metadata = (h: string) => `https://${h}/.well-known/oauth-protected-resource`;

async function putBasic(extra: Record<string, unknown> = {}) {
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer,
    routes: [
      { path: '/health', auth: 'none' },
      { path: '/admin/*', methods: ['POST', 'DELETE', 'GET'], scopes: ['admin'] },
      { path: '/*', auth: 'required' },
    ],
    ...extra,
  }));
}

const token = (claims: Record<string, unknown> = {}) =>
  issuer.sign({ sub: 'user-1', aud: `https://${host}`, scope: 'read write', ...claims });

describe('tenant step', () => {
  it('answers 404 unknown_host for a host bound to no tenant, without a challenge', async () => {
    const response = await edge.request(`https://nobody.${host}/x`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'unknown_host', error_description: expect.any(String) });
    expect(response.headers.get('www-authenticate')).toBeNull();
    expect(response.headers.get('x-request-id')).toMatch(/.+/);
  });

  it('answers 500 tenant_config_invalid for a broken record, for that tenant only', async () => {
    await putBasic();
    const broken = uniqueTenant();
    await edge.env.TENANTS.put(`host/api.${broken.domain}`, JSON.stringify({ id: broken.id, hosts: 'nope' }));
    const bad = await edge.request(`https://api.${broken.domain}/x`, { token: await token() });
    expect(bad.status).toBe(500);
    expect((await bad.json() as { error: string }).error).toBe('tenant_config_invalid');
    const good = await edge.request(`https://${host}/x`, { token: await token() });
    expect(good.status).toBe(200);
  });

  it('matches the host whatever its case, port or trailing dot', async () => {
    await putBasic();
    const response = await edge.request(`https://${host.toUpperCase()}.:8443/x`, { token: await token() });
    expect(response.status).toBe(200);
  });

  it('caches nothing with TENANT_CACHE_SECONDS "0"', async () => {
    const uncached = testEdge({ env: { TENANT_CACHE_SECONDS: '0' } });
    await putBasic();
    const t = await token({ scope: 'read' });
    expect((await uncached.request(`https://${host}/orders`, { token: t })).status).toBe(200);
    await putBasic({ routes: [{ path: '/orders', scopes: ['orders:read'] }] });
    expect((await uncached.request(`https://${host}/orders`, { token: t })).status).toBe(403);
    uncached.restoreLog();
  });

  it('serves a changed tenant from the isolate cache for at most TENANT_CACHE_SECONDS', async () => {
    await putBasic();
    const t = await token({ scope: 'read' });
    expect((await edge.request(`https://${host}/orders`, { token: t })).status).toBe(200);
    await putBasic({ routes: [{ path: '/orders', scopes: ['orders:read'] }] });
    // the admin write went to KV; this isolate keeps the tenant it compiled until the TTL ends
    expect((await edge.request(`https://${host}/orders`, { token: t })).status).toBe(200);
    const other = testEdge();
    expect((await other.request(`https://${host}/orders`, { token: t })).status).toBe(403);
    other.restoreLog();
    edge.advance(31_000);
    expect((await edge.request(`https://${host}/orders`, { token: t })).status).toBe(403);
  });
});

describe('credentials and verification', () => {
  it('forwards a valid token with identity headers and strips spoofed ones', async () => {
    await putBasic({ forward: { claimHeaders: { email: 'x-auth-email', groups: 'x-auth-groups', address: 'x-auth-address' } } });
    const t = await token({ email: 'zoë@example.com', groups: ['a', 'b'], address: { city: 'x' }, azp: 'client-9' });
    const response = await edge.request(`https://${host}/orders?x=1`, {
      token: t, headers: { 'x-auth-subject': 'admin', 'X-Auth-Tenant': 'other', 'x-auth-role': 'root', 'cf-ray': 'ray-123' },
    });
    expect(response.status).toBe(200);
    const echo = await response.json() as Echo;
    expect(echo.url).toBe(`https://${host}/orders?x=1`);
    expect(echo.headers['x-auth-subject']).toBe('user-1');
    expect(echo.headers['x-auth-tenant']).toBe(id);
    expect(echo.headers['x-auth-issuer']).toBe(issuer.issuer);
    expect(echo.headers['x-auth-scopes']).toBe('read write');
    expect(echo.headers['x-auth-client-id']).toBe('client-9');
    expect(echo.headers['x-auth-role']).toBeUndefined();
    expect(echo.headers['x-auth-email']).toBe(encodeURIComponent('zoë@example.com'));
    expect(echo.headers['x-auth-groups']).toBe('a b');
    expect(echo.headers['x-auth-address']).toBeUndefined();
    expect(echo.headers['x-request-id']).toBe('ray-123');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(echo.headers['x-auth-claims']!)));
    expect(claims).toMatchObject({ sub: 'user-1', iss: issuer.issuer, email: 'zoë@example.com' });
    expect(echo.headers.authorization).toBe(`Bearer ${t}`);
  });

  it('leaves out x-auth-claims over 8 KiB and says so', async () => {
    await putBasic();
    const response = await edge.request(`https://${host}/x`, { token: await token({ blob: 'y'.repeat(7000) }) });
    const echo = await response.json() as Echo;
    expect(echo.headers['x-auth-claims']).toBeUndefined();
    expect(echo.headers['x-auth-claims-omitted']).toBe('too-large');
  });

  it('answers 401 missing_token with a challenge without an error parameter', async () => {
    await putBasic();
    const response = await edge.request(`https://${host}/orders`);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: 'missing_token', error_description: expect.any(String) });
    // Every tenant honours DPoP-bound tokens, so every 401 offers DPoP too (the issuer's default algorithms).
    expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="${host}", resource_metadata="${metadata(host)}", DPoP algs="RS256 PS256 ES256 EdDSA"`);
  });

  it('answers 400 invalid_request for a non-Bearer scheme and for header plus query token', async () => {
    await putBasic();
    const basic = await edge.request(`https://${host}/orders`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(400);
    expect(basic.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer realm="${host}", error="invalid_request", error_description="[^"]+", resource_metadata="${metadata(host)}"$`));
    const both = await edge.request(`https://${host}/orders?access_token=abc`, { token: await token() });
    expect(both.status).toBe(400);
    expect((await both.json() as { error: string }).error).toBe('invalid_request');
    const queryOnly = await edge.request(`https://${host}/orders?access_token=${await token()}`);
    expect(queryOnly.status).toBe(401);
    expect((await queryOnly.json() as { error: string }).error).toBe('missing_token');
  });

  it('answers 401 invalid_token with the reason in the body and the challenge', async () => {
    await putBasic();
    const t = await token();
    const [h, p] = t.split('.');
    const tampered = `${h}.${p}.${base64url.encode(new Uint8Array(256))}`;
    const response = await edge.request(`https://${host}/orders`, { token: tampered });
    expect(response.status).toBe(401);
    const body = await response.json() as Record<string, string>;
    expect(body).toEqual({ error: 'invalid_token', error_description: expect.any(String), reason: 'bad_signature' });
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="${host}", error="invalid_token", error_description="${body.error_description}", resource_metadata="${metadata(host)}", DPoP algs="RS256 PS256 ES256 EdDSA"`);
  });

  it('refuses a token of one tenant on another tenant host', async () => {
    await putBasic();
    const other = uniqueTenant();
    await edge.putTenant(tenantConfig({ id: other.id, hosts: [`api.${other.domain}`], issuer }));
    const response = await edge.request(`https://api.${other.domain}/x`, { token: await token() });
    expect(response.status).toBe(401);
    expect((await response.json() as { reason: string }).reason).toBe('wrong_audience');
  });

  it('answers 503 issuer_unavailable with Retry-After when keys cannot be fetched', async () => {
    const dead = await TestIssuer.create({ publish: false });
    await dead.serve('/.well-known/openid-configuration', { status: 500 });
    await edge.putTenant(tenantConfig({ id, hosts: [host], issuer: dead }));
    const t = await dead.sign({ sub: 'u', aud: `https://${host}` });
    const response = await edge.request(`https://${host}/x`, { token: t });
    expect(response.status).toBe(503);
    expect((await response.json() as { error: string }).error).toBe('issuer_unavailable');
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('never logs or echoes the token', async () => {
    await putBasic();
    const t = await token({ aud: 'https://elsewhere' });
    const response = await edge.request(`https://${host}/x`, { token: t });
    const text = await response.text();
    const signature = t.split('.')[2]!;
    expect(text).not.toContain(signature);
    expect(response.headers.get('www-authenticate')).not.toContain(signature);
    expect(edge.logs.length).toBeGreaterThan(0);
    for (const line of edge.logs) expect(line).not.toContain(signature);
    const [decision] = edge.decisions();
    expect(decision).toMatchObject({ requestId: expect.any(String), tenant: id, host, outcome: 'denied', error: 'invalid_token', reason: 'wrong_audience' });
  });
});

describe('routes and scopes', () => {
  it('answers 403 insufficient_scope listing what the route needs, also for /ADMIN/x', async () => {
    await putBasic();
    const t = await token();
    for (const path of ['/admin/users', '/ADMIN/users', '/%61dmin/users']) {
      const response = await edge.request(`https://${host}${path}`, { method: 'POST', token: t });
      expect(response.status, path).toBe(403);
      expect((await response.json() as { error: string }).error).toBe('insufficient_scope');
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer realm="${host}", error="insufficient_scope", error_description="The token lacks a scope this route requires.", scope="admin", resource_metadata="${metadata(host)}"`);
    }
    const admin = await edge.request(`https://${host}/admin/users`, { method: 'HEAD', token: await token({ scope: 'admin' }) });
    expect(admin.status).toBe(200);
  });

  it('forwards auth:none routes without a token, case-sensitively, with identity headers stripped', async () => {
    await putBasic();
    const response = await edge.request(`https://${host}/health`, { headers: { 'x-auth-subject': 'admin' } });
    expect(response.status).toBe(200);
    const echo = await response.json() as Echo;
    expect(echo.headers['x-auth-subject']).toBeUndefined();
    expect((await edge.request(`https://${host}/Health`)).status).toBe(401);
  });

  it('answers 400 invalid_request for an encoded slash, backslash or NUL in the path', async () => {
    await putBasic();
    for (const path of ['/health%2F..%2Fadmin', '/a%5cb', '/a%00']) {
      const response = await edge.request(`https://${host}${path}`);
      expect(response.status, path).toBe(400);
      expect((await response.json() as { error: string }).error).toBe('invalid_request');
    }
  });
});

describe('metadata and CORS', () => {
  it('serves RFC 9728 metadata, also under a path suffix', async () => {
    await putBasic({ resource: 'https://api.acme.com' });
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const response = await edge.request(`https://${host}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        resource: 'https://api.acme.com',
        authorization_servers: [issuer.issuer],
        bearer_methods_supported: ['header'],
        resource_signing_alg_values_supported: ['RS256', 'ES256', 'PS256', 'EdDSA'],
        scopes_supported: ['admin'],
        dpop_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        dpop_bound_access_tokens_required: false,
      });
    }
  });

  it('answers preflights from cors and adds the origin to errors', async () => {
    await putBasic({ cors: { allowOrigins: ['https://app.acme.com'] } });
    const preflight = { method: 'OPTIONS', headers: { origin: 'https://app.acme.com', 'access-control-request-method': 'GET' } };
    const allowed = await edge.request(`https://${host}/orders`, preflight);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.acme.com');
    expect(allowed.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop');
    expect(allowed.headers.get('access-control-max-age')).toBe('600');
    const refused = await edge.request(`https://${host}/orders`, { ...preflight, headers: { ...preflight.headers, origin: 'https://evil.test' } });
    expect(refused.status).toBe(403);
    expect((await refused.json() as { error: string }).error).toBe('origin_not_allowed');
    const error = await edge.request(`https://${host}/orders`, { headers: { origin: 'https://app.acme.com' } });
    expect(error.status).toBe(401);
    expect(error.headers.get('access-control-allow-origin')).toBe('https://app.acme.com');
    expect(error.headers.get('vary')).toContain('Origin');
    const ok = await edge.request(`https://${host}/orders`, { token: await token(), headers: { origin: 'https://app.acme.com' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.acme.com');
  });

  it('forwards a preflight without a token when the tenant has no cors', async () => {
    await putBasic();
    const response = await edge.request(`https://${host}/orders`, {
      method: 'OPTIONS', headers: { origin: 'https://app.acme.com', 'access-control-request-method': 'GET' },
    });
    expect(response.status).toBe(200);
    expect((await response.json() as Echo).method).toBe('OPTIONS');
  });
});

describe('forwarding', () => {
  it('rewrites to upstream and replaces x-forwarded-host and -proto', async () => {
    await putBasic({ upstream: 'https://origin.internal.test', forward: { stripAuthorization: true } });
    const response = await edge.request(`https://${host}/a/b?c=d`, {
      token: await token(), headers: { 'x-forwarded-host': 'evil', 'x-forwarded-proto': 'gopher', 'x-request-id': 'mine' },
    });
    const echo = await response.json() as Echo;
    expect(echo.url).toBe('https://origin.internal.test/a/b?c=d');
    expect(echo.headers['x-forwarded-host']).toBe(host);
    expect(echo.headers['x-forwarded-proto']).toBe('https');
    expect(echo.headers['x-request-id']).not.toBe('mine');
    expect(echo.headers.authorization).toBeUndefined();
    expect(response.headers.get('x-origin')).toBe('echo');
  });

  it('passes a request body through', async () => {
    await putBasic();
    const response = await edge.request(`https://${host}/orders`, { method: 'POST', token: await token(), body: 'hello' });
    expect((await response.json() as Echo).body).toBe('hello');
  });
});

describe('observability', () => {
  it('adds Server-Timing only with DEBUG_TIMING on', async () => {
    await putBasic();
    const t = await token();
    expect((await edge.request(`https://${host}/x`, { token: t })).headers.get('server-timing')).toBeNull();
    const timed = testEdge({ env: { DEBUG_TIMING: 'true' } });
    const response = await timed.request(`https://${host}/x`, { token: t });
    timed.restoreLog();
    expect(response.headers.get('server-timing')).toMatch(/(^|, )tenant;dur=\d+.*verify;dur=\d+.*origin;dur=\d+/);
  });

  it('samples allowed decisions at LOG_SAMPLE_RATE and logs every denial', async () => {
    await putBasic();
    await edge.request(`https://${host}/x`, { token: await token() });
    expect(edge.decisions().map((d) => d.outcome)).toEqual(['allowed']); // this edge's rate is 1
    const quiet = testEdge({ env: { LOG_SAMPLE_RATE: '0' } });
    await quiet.request(`https://${host}/x`, { token: await token() });
    await quiet.request(`https://${host}/x`);
    quiet.restoreLog();
    expect(quiet.decisions().map((d) => d.outcome)).toEqual(['denied']);
    // wrangler.toml's 0.01: a decision is logged when the random draw falls under it (testEdge draws 0.5).
    const production = testEdge();
    await production.request(`https://${host}/x`, { token: await token() });
    await production.request(`https://${host}/x`);
    production.restoreLog();
    expect(production.decisions().map((d) => d.outcome)).toEqual(['denied']);
  });
});

describe('faults', () => {
  it('answers 500 internal_error when KV throws, and logs it', async () => {
    const broken = testEdge({ env: { TENANTS: { get: () => { throw new Error('KV down'); } } as unknown as KVNamespace } });
    const response = await broken.request(`https://${host}/x`);
    expect(response.status).toBe(500);
    expect((await response.json() as { error: string }).error).toBe('internal_error');
    expect(broken.decisions()[0]).toMatchObject({ error: 'internal_error', note: 'Error: KV down' });
    broken.restoreLog();
  });
});
