// Paths that try to escape their route through the whole Worker: path parameters, dot segments
// with parameters, trailing slashes and format suffixes that an origin (Tomcat, Spring, Rails,
// Express) reads as another path than the one the edge sees. Each case asserts the exact status
// and error code, and that neither the log nor the answer carries the credential.
import { beforeEach, describe, expect, it } from 'vitest';
import { TestIssuer } from '../support/issuer';
import { type Echo, gatewayTest, tenantConfig, type TestEdge, uniqueTenant } from '../support/gateway';
import { expectDenial } from './forge';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;

// Every decision in the log (production samples allowed ones).
gatewayTest('rte', { env: { LOG_SAMPLE_RATE: '1' } }, async (made) => {
  ({ edge, issuer, host } = made);
  await edge.putTenant(tenantConfig({
    id: made.id, hosts: [host], issuer,
    routes: [
      { path: '/health', auth: 'none' },
      { path: '/public/*', auth: 'none' },
      { path: '/admin', scopes: ['admin'] },
      { path: '/api/*', scopes: ['orders'] },
      { path: '/*' },
    ],
  }));
});

const token = (scope: string) => issuer.sign({ sub: 'user-1', aud: `https://${host}`, scope });
const get = (path: string, bearer?: string) => edge.request(`https://${host}${path}`, bearer === undefined ? {} : { token: bearer });

async function served(path: string, bearer?: string): Promise<Echo> {
  const response = await get(path, bearer);
  expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
  return response.json() as Promise<Echo>;
}

async function denied(path: string, expected: { status: number; error: string }, bearer?: string) {
  const body = await expectDenial(await get(path, bearer), expected, { token: bearer, logs: edge.logs });
  return body;
}

describe('dot segments with path parameters (Tomcat, Jetty, Spring read "..;" as "..")', () => {
  const traversals = [
    '/public/..;/api/orders', '/public/.;/api/orders', '/public/..;x/api/orders', '/public/..;jsessionid=1/api/orders',
    '/public/%2e%2e;/api/orders', '/public/%2E%2E%3B/api/orders', '/public/.%2e;/api/orders', '/public/%2e.%3bx/api/orders',
    '/public/..%3B/api/orders', '/public/x/..;/..;/api/orders', '/public//..;/api/orders', '/health/..;/admin', '/..;/admin',
    '/public/.;', '/public/..;',
  ];

  it('are 400 invalid_request, without a token', async () => {
    for (const path of traversals) {
      const body = await denied(path, { status: 400, error: 'invalid_request' });
      expect(body.error_description, path).toBe('The path holds a dot segment with parameters.');
    }
  });

  it('are 400 invalid_request even with a token that holds every scope', async () => {
    const bearer = await token('orders admin');
    for (const path of traversals) await denied(path, { status: 400, error: 'invalid_request' }, bearer);
  });

  it('leave names that only contain dots and semicolons alone', async () => {
    const bearer = await token('read');
    for (const path of ['/files/...;x', '/files/a..;b', '/files/.x;y', '/files/..a;']) expect((await get(path, bearer)).status, path).toBe(200);
    await served('/public/x');
  });

  it('are 400 for encoded slashes, backslashes and NUL, in either case', async () => {
    for (const path of ['/public/..%2Fapi/orders', '/public%2f..%2fapi', '/public/%5c..%5Capi', '/health%00', '/admin%2F']) {
      await denied(path, { status: 400, error: 'invalid_request' });
    }
  });
});

describe('path parameters (";" and "%3B") on a token prefix route', () => {
  const variants = [
    '/api;x/orders', '/api%3Bv=1/orders', '/api%3bv=1/orders', '/API;X/Orders', '/api/orders;jsessionid=1',
    '/;x/api/orders', '/api/;x/orders', '/api;/orders', '//api;x//orders', '/%61pi;x/orders', '/api;a;b/orders',
    '/api;x', '/api%3B', '/api.json', '/api/', '/Api;x.json/orders',
  ];

  it('need the route scope: 403 insufficient_scope without it', async () => {
    const bearer = await token('read');
    for (const path of variants) {
      const response = await get(path, bearer);
      expect(response.headers.get('www-authenticate'), path).toContain('scope="orders"');
      await expectDenial(response, { status: 403, error: 'insufficient_scope' }, { token: bearer, logs: edge.logs });
    }
  });

  it('are served with it', async () => {
    const bearer = await token('orders');
    for (const path of variants) await served(path, bearer);
  });

  it('need a token at all', async () => {
    for (const path of variants) await denied(path, { status: 401, error: 'missing_token' });
  });
});

describe('an exact token route covers what Express, Rails and Spring serve as it', () => {
  const variants = [
    '/admin;jsessionid=1', '/admin/', '/admin.json', '/ADMIN', '/%61dmin', '/Admin.JSON', '/admin.xml', '/admin.tar.gz',
    '/admin%3Bx', '/admin;x.json', '/admin.json/', '//admin//', '/%41DMIN.json', '/adm%69n;v=2', '/admin%2ejson', '/admin.',
  ];

  it('403 insufficient_scope without the scope', async () => {
    const bearer = await token('read');
    for (const path of ['/admin', ...variants]) await denied(path, { status: 403, error: 'insufficient_scope' }, bearer);
  });

  it('200 with it', async () => {
    const bearer = await token('admin');
    for (const path of ['/admin', ...variants]) await served(path, bearer);
  });

  it('logs the route that applied', async () => {
    await served('/admin.json', await token('admin'));
    expect(edge.decisions().at(-1)).toMatchObject({ route: '/admin' });
  });

  it('leaves longer names and deeper paths to the next route', async () => {
    const bearer = await token('read');
    for (const path of ['/administrator', '/admin/x', '/admin-old', '/x/admin']) await served(path, bearer);
  });
});

describe('a public route matches only its raw path, exactly as written', () => {
  it('serves /health and /public/* without a token', async () => {
    for (const path of ['/health', '/public', '/public/', '/public/a/b.css']) await served(path);
  });

  it('sends every variant to the token routes: 401 missing_token', async () => {
    for (const path of [
      '/health;x', '/health/', '/health%3Bx', '/health%3b', '/health;', '/health.json', '/Health', '/HEALTH', '/%68ealth',
      '//health', '/health//', '/public/x;y', '/public;x/y', '/PUBLIC/x', '/%70ublic/x', '/public/%61', '/public%3B/x',
    ]) {
      await denied(path, { status: 401, error: 'missing_token' });
    }
  });
});

describe('escaped reserved characters and padded segments (Go, Django, Flask, Spring and Tomcat decode them before routing)', () => {
  let custom: string;
  beforeEach(async () => {
    const t = uniqueTenant('rtr');
    custom = `api.${t.domain}`;
    await edge.putTenant(tenantConfig({
      id: t.id, hosts: [custom], issuer,
      routes: [
        { path: '/v1/items:purge', scopes: ['admin'] },
        { path: '/users/@me/*', scopes: ['profile'] },
        { path: '/admin/*', scopes: ['admin'] },
        { path: '/*' },
      ],
    }));
  });
  const at = (path: string, bearer: string) => edge.request(`https://${custom}${path}`, { method: 'POST', token: bearer });
  const variants = ['/v1/items%3Apurge', '/v1/items%3apurge', '/v1/Items%3APurge', '/v1/items%3Apurge/', '/v1/items%3Apurge.json',
    '/v1%20/items:purge', '/v1/items:purge%20', '/v1/items%3Apurge%3Bx', '/users/%40me/keys', '/users/%40ME/keys', '/admin%20/users', '/%20admin/users',
    '/admin%09/users', '/%61dmin%20;x/users',
    // Every character up to U+0020 at a segment's edge, as Java's String.trim() drops it.
    '/admin%0b/users', '/admin%0B/users', '/admin%01/users', '/%1Fadmin/users', '/admin%0d%0a/users', '/%0c%61dmin%1f%20/users'];

  it('403 insufficient_scope for every variant without the route scope', async () => {
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${custom}`, scope: 'read' });
    for (const path of variants) {
      await expectDenial(await at(path, bearer), { status: 403, error: 'insufficient_scope' }, { token: bearer, logs: edge.logs });
    }
  });

  it('served with the scope', async () => {
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${custom}`, scope: 'admin profile' });
    for (const path of variants) expect((await at(path, bearer)).status, path).toBe(200);
  });
});

/** Spellings of `_method` in a query that the frameworks honouring it read as `_method`: escapes
 *  of any of its letters (either case), `+` for a space, and the names PHP renames to it. */
const ESCAPED_METHOD_NAMES = [
  '_%6Dethod', '_%6dethod', '%5F%6D%65%74%68%6F%64', '_meth%6Fd', '_METHOD', '.method', '%2Emethod', '+method', '%20method',
  '[method', '%5Bmethod', '++_method', '%20.method',
  // PHP reads a name up to its first NUL: `_method%00` is `$_GET['_method']` to Laravel and Symfony.
  '_method%00', '_method%00x', '.method%00%5B%5D',
];

describe('method overrides (Rails, Express method-override, Laravel, Symfony and ASP.NET Core run a POST as the method it names)', () => {
  let scoped: string;
  beforeEach(async () => {
    const t = uniqueTenant('rtm');
    scoped = `api.${t.domain}`;
    await edge.putTenant(tenantConfig({
      id: t.id, hosts: [scoped], issuer,
      routes: [
        { path: '/status', auth: 'none', methods: ['GET'] },
        { path: '/hooks/*', auth: 'none', methods: ['POST'] },
        { path: '/admin/*', methods: ['DELETE'], scopes: ['admin'] },
        { path: '/files/*', methods: ['LOCK', 'UNLOCK', 'MKCOL'], scopes: ['admin'] },
        { path: '/*' },
      ],
    }));
  });
  const send = (path: string, init: { method: string; token?: string; headers?: Record<string, string> }) =>
    edge.request(`https://${scoped}${path}`, init);
  const overrides: { path: string; headers?: Record<string, string> }[] = [
    { path: '/admin/users/1', headers: { 'x-http-method-override': 'DELETE' } },
    { path: '/admin/users/1', headers: { 'X-HTTP-Method-Override': 'delete' } },
    { path: '/admin/users/1', headers: { 'x-http-method': 'DELETE' } },
    { path: '/admin/users/1', headers: { 'x-method-override': 'GET, DELETE' } },
    { path: '/admin/users/1?_method=DELETE' },
    { path: '/admin/users/1?x=1&_method=delete' },
    { path: '/admin/users/1?%5Fmethod=DELETE' },
    // The name is read after form-decoding, as Laravel, Symfony, Spring and Express read it.
    ...ESCAPED_METHOD_NAMES.map((name) => ({ path: `/admin/users/1?${name}=DELETE` })),
    { path: '/admin/users/1?_method=%44ELETE' },
    { path: '/admin/users/1?a=1&%5F%6D%65%74%68%6F%64=+delete+' },
  ];

  it('a POST naming DELETE needs the DELETE route scope: 403 insufficient_scope', async () => {
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${scoped}`, scope: 'read' });
    expect((await send('/admin/users/1', { method: 'POST', token: bearer })).status).toBe(200);
    for (const { path, headers } of overrides) {
      await expectDenial(await send(path, { method: 'POST', token: bearer, headers }), { status: 403, error: 'insufficient_scope' }, { token: bearer, logs: edge.logs });
    }
  });

  it('a POST naming LOCK with the Kelvin sign (U+212A, k to Express method-override) needs the LOCK route scope', async () => {
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${scoped}`, scope: 'read' });
    expect((await send('/files/a', { method: 'POST', token: bearer })).status).toBe(200);
    for (const path of ['/files/a?_method=LOC%E2%84%AA', '/files/a?_method=loc%E2%84%AA', '/files/a?_method=UNLOC%E2%84%AA',
      '/files/a?_method=M%E2%84%AACOL', '/files/a?%5Fmethod=+lo%63%E2%84%AA+']) {
      await expectDenial(await send(path, { method: 'POST', token: bearer }), { status: 403, error: 'insufficient_scope' }, { token: bearer, logs: edge.logs });
    }
  });

  it('served with the scope, the override header passed on as sent', async () => {
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${scoped}`, scope: 'admin' });
    const response = await send('/admin/users/1', { method: 'POST', token: bearer, headers: { 'x-http-method-override': 'DELETE' } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as Echo).headers['x-http-method-override']).toBe('DELETE');
  });

  it('a public POST route naming DELETE with an escaped or PHP-renamed _method needs a token', async () => {
    expect((await send('/hooks/x', { method: 'POST' })).status).toBe(200);
    for (const name of ['_method', ...ESCAPED_METHOD_NAMES]) {
      await expectDenial(await send(`/hooks/x?${name}=DELETE`, { method: 'POST' }), { status: 401, error: 'missing_token' }, { logs: edge.logs });
    }
    // Names no framework reads as _method leave the public route public.
    for (const name of ['method', 'x_method', '_methods', '%2B_method']) expect((await send(`/hooks/x?${name}=DELETE`, { method: 'POST' })).status, name).toBe(200);
  });

  it('a public GET-only route naming another method needs a token', async () => {
    expect((await send('/status', { method: 'GET' })).status).toBe(200);
    await expectDenial(await send('/status', { method: 'GET', headers: { 'x-http-method-override': 'DELETE' } }), { status: 401, error: 'missing_token' }, { logs: edge.logs });
    await expectDenial(await send('/status?_method=PUT', { method: 'GET' }), { status: 401, error: 'missing_token' }, { logs: edge.logs });
  });

  it('more than 8 named methods: 400 invalid_request; the CGI spelling is removed, not read', async () => {
    const bearer = await issuer.sign({ sub: 'user-1', aud: `https://${scoped}`, scope: 'admin' });
    const many = Array.from({ length: 9 }, (_, i) => `M${i}`).join(',');
    await expectDenial(await send('/orders', { method: 'POST', token: bearer, headers: { 'x-http-method-override': many } }), { status: 400, error: 'invalid_request' }, { token: bearer, logs: edge.logs });
    const response = await send('/orders', { method: 'POST', token: bearer, headers: { X_HTTP_METHOD_OVERRIDE: 'DELETE' } });
    expect(response.status).toBe(200);
    expect(Object.keys(((await response.json()) as Echo).headers).map((n) => n.toLowerCase())).not.toContain('x_http_method_override');
  });
});
