// The admin API's tenant records inside workerd: real KV and the real Directory object.
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app';
import type { Env } from '../../src/env';
import { hostKey, tenantKey } from '../../src/tenants/kv-keys';
import { createTenantStore } from '../../src/tenants/store';
import { config, unique } from '../tenants/fixtures';
import { ADMIN_TOKEN as TOKEN, adminCaller, auditLines as auditLinesOf, json } from './caller';

let t: number;
let log: ReturnType<typeof vi.spyOn>;
const app = createAdminApp({ now: () => t });

const call = adminCaller(app);
const put = (id: string, body: unknown, headers: Record<string, string> = {}) => call('PUT', `/tenants/${id}`, { body, headers });
const auditLines = () => auditLinesOf(log);
const resolveHost = (host: string) =>
  createTenantStore({ now: () => t }).resolve(host, { kv: env.TENANTS, cacheSeconds: 30 });

beforeEach(() => {
  t = 1_800_000_000_000;
  log = vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterEach(() => log.mockRestore());

describe('authentication', () => {
  it('answers 404 to everything when no ADMIN_TOKEN is configured', async () => {
    const response = await call('GET', '/tenants/acme', { env: { ...env, ADMIN_TOKEN: undefined } });
    expect(response.status).toBe(404);
    expect((await json(response)).error).toBe('not_found');
  });

  it.each([
    ['no Authorization header', null, 'missing_token'],
    ['a wrong token', 'wrong-token', 'invalid_token'],
    ['a token that only starts right', `${TOKEN}x`, 'invalid_token'],
  ])('refuses %s with 401 and a Bearer challenge', async (_, token, error) => {
    const response = await call('GET', '/tenants/acme', { token });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="admin"');
    expect((await json(response)).error).toBe(error);
  });

  it('refuses a scheme other than Bearer', async () => {
    const response = await call('GET', '/tenants/acme', { headers: { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` } });
    expect(response.status).toBe(401);
  });

  it('authenticates before answering 404 for an unknown path', async () => {
    expect((await call('GET', '/nothing', { token: null })).status).toBe(401);
    const response = await call('GET', '/nothing');
    expect(response.status).toBe(404);
    expect((await json(response)).error).toBe('not_found');
  });
});

describe('PUT and GET /tenants/:id', () => {
  it('creates (201), replaces (200) and reads back the stored config with defaults and its ETag', async () => {
    const { id, domain } = unique('acme');
    const created = await put(id, config(id, [`API.${domain}`]));
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/tenants/${id}`);
    const etag = created.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const stored = await json(created);
    expect(stored.hosts).toEqual([`api.${domain}`]);
    expect(stored.issuers[0].algorithms).toEqual(['RS256', 'ES256', 'PS256', 'EdDSA']);
    expect(stored.routes).toEqual([{ path: '/*', auth: 'required', scopes: [] }]);

    const read = await call('GET', `/tenants/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(etag);
    expect(read.headers.get('content-type')).toBe('application/json');
    expect(await json(read)).toEqual(stored);

    const same = await put(id, config(id, [`api.${domain}`]));
    expect(same.status).toBe(200);
    expect(same.headers.get('etag')).toBe(etag);
    const changed = await put(id, config(id, [`api.${domain}`], { upstream: 'https://origin.example' }));
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('answers HEAD like GET, without a body', async () => {
    const { id, domain } = unique('acme');
    const etag = (await put(id, config(id, [`api.${domain}`]))).headers.get('etag');
    const response = await call('HEAD', `/tenants/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe(etag);
    expect(await response.text()).toBe('');
  });

  it('answers 304 to a GET whose If-None-Match holds the current ETag', async () => {
    const { id, domain } = unique('acme');
    const etag = (await put(id, config(id, [`api.${domain}`]))).headers.get('etag')!;
    const response = await call('GET', `/tenants/${id}`, { headers: { 'if-none-match': `W/${etag}` } });
    expect(response.status).toBe(304);
  });

  it('takes the id from the path when the body has none', async () => {
    const { id, domain } = unique('acme');
    const { id: _, ...body } = config(id, [`api.${domain}`]);
    const response = await put(id, body);
    expect(response.status).toBe(201);
    expect((await json(response)).id).toBe(id);
  });

  it('writes tenant/<id> and one host/<pattern> copy per host', async () => {
    const { id, domain } = unique('acme');
    await put(id, config(id, [`api.${domain}`, `*.${domain}`]));
    const record = await env.TENANTS.get(tenantKey(id), 'text');
    expect(await env.TENANTS.get(hostKey(`api.${domain}`), 'text')).toBe(record);
    expect(await env.TENANTS.get(hostKey(`*.${domain}`), 'text')).toBe(record);
    const found = await resolveHost(`x.${domain}`);
    expect(found.ok && found.value.tenant.id).toBe(id);
  });

  it('answers 404 unknown_tenant for a tenant that does not exist', async () => {
    for (const id of ['nobody-here', 'Not%20An%20Id']) {
      const response = await call('GET', `/tenants/${id}`);
      expect(response.status).toBe(404);
      expect((await json(response)).error).toBe('unknown_tenant');
    }
  });

  it('answers 405 with Allow for other methods', async () => {
    const response = await call('POST', '/tenants/acme', { body: {} });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
    expect((await json(response)).error).toBe('method_not_allowed');
  });
});

describe('request bodies', () => {
  const big = JSON.stringify({ ...config('acme', ['api.acme.example']), padding: 'x'.repeat(64 * 1024) });

  it('refuses a declared body over 64 KiB with 413 before reading it', async () => {
    const response = await call('PUT', '/tenants/acme', { raw: big, headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(413);
    expect((await json(response)).error).toBe('body_too_large');
  });

  it('refuses a streamed body that grows past 64 KiB with 413', async () => {
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 8192) controller.enqueue(bytes.slice(at, at + 8192));
        controller.close();
      },
    });
    const request = new Request('http://admin.localhost/tenants/acme', {
      method: 'PUT', body: stream, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
    expect(request.headers.get('content-length')).toBeNull();
    const response = await app.fetch(request, env, createExecutionContext());
    expect(response.status).toBe(413);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['no content type', undefined],
  ])('refuses %s with 415', async (_, type) => {
    const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
    const response = await call('PUT', '/tenants/acme', { raw: new TextEncoder().encode('{}'), headers });
    expect(response.status).toBe(415);
    expect((await json(response)).error).toBe('unsupported_media_type');
  });

  it('accepts application/json with parameters and +json types', async () => {
    const { id, domain } = unique('acme');
    const raw = JSON.stringify(config(id, [`api.${domain}`]));
    const response = await call('PUT', `/tenants/${id}`, { raw, headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' } });
    expect(response.status).toBe(201);
  });

  it('refuses unparsable JSON with 400 invalid_json', async () => {
    const response = await call('PUT', '/tenants/acme', { raw: '{"id":', headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe('invalid_json');
  });
});

describe('validation', () => {
  it('answers 400 invalid_config with JSON Pointer issues', async () => {
    const { id } = unique('acme');
    const response = await put(id, {
      id, hosts: ['*.com'], issuers: [{ issuer: 'http://evil.example/', audiences: ['x'] }], routes: [{ path: 'nope' }],
    });
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body.error).toBe('invalid_config');
    expect(body.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['/hosts/0', '/issuers/0/issuer', '/routes/0/path']);
    expect(await env.TENANTS.get(tenantKey(id))).toBeNull();
  });

  it('answers 400 (never 500) for a value that is not a URL where a URL is expected', async () => {
    const { id, domain } = unique('acme');
    const cases: [Record<string, unknown>, string][] = [
      [{ issuers: [{ issuer: 'not a url', audiences: ['x'] }] }, '/issuers/0/issuer'],
      [{ upstream: 'origin without scheme' }, '/upstream'],
      [{ upstream: 'http://[' }, '/upstream'],
      [{ resource: 'no scheme' }, '/resource'],
      [{ issuers: [{ issuer: 'https://i.example/', jwksUri: '/jwks', audiences: ['x'] }] }, '/issuers/0/jwksUri'],
    ];
    for (const [override, path] of cases) {
      const response = await put(id, { ...config(id, [`api.${domain}`]), ...override });
      expect(response.status, JSON.stringify(override)).toBe(400);
      const body = await json(response);
      expect(body.error).toBe('invalid_config');
      expect(body.issues.map((issue: { path: string }) => issue.path)).toContain(path);
    }
  });

  it('a stored record holding such a value is that tenant\'s 500 tenant_config_invalid, not internal_error', async () => {
    const { id, domain } = unique('acme');
    const host = `api.${domain}`;
    await env.TENANTS.put(hostKey(host), JSON.stringify({ ...config(id, [host]), upstream: 'origin without scheme' }));
    expect(await resolveHost(host)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
  });

  it('refuses a body naming another id, at /id', async () => {
    const { id, domain } = unique('acme');
    const response = await put(id, config('someone-else', [`api.${domain}`]));
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body.error).toBe('invalid_config');
    expect(body.issues).toEqual([{ path: '/id', message: expect.any(String) }]);
  });

  it('refuses a body that is not an object', async () => {
    const response = await put('acme', [1, 2]);
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe('invalid_config');
  });
});

describe('host claims', () => {
  it('refuses a host another tenant holds with 409, naming it', async () => {
    const a = unique('a');
    const b = unique('b');
    expect((await put(a.id, config(a.id, [`api.${a.domain}`, `*.${a.domain}`]))).status).toBe(201);
    const response = await put(b.id, config(b.id, [`api.${b.domain}`, `api.${a.domain}`, `*.${a.domain}`]));
    expect(response.status).toBe(409);
    const body = await json(response);
    expect(body.error).toBe('host_conflict');
    expect(body.conflicts).toEqual([{ host: `api.${a.domain}`, tenant: a.id }, { host: `*.${a.domain}`, tenant: a.id }]);
    expect(await env.TENANTS.get(tenantKey(b.id))).toBeNull();
    expect(await env.TENANTS.get(hostKey(`api.${b.domain}`))).toBeNull();
  });

  it('lets another tenant hold an exact host under a wildcard, and the exact host wins', async () => {
    const a = unique('a');
    const b = unique('b');
    expect((await put(a.id, config(a.id, [`*.${a.domain}`]))).status).toBe(201);
    expect((await put(b.id, config(b.id, [`special.${a.domain}`]))).status).toBe(201);
    const special = await resolveHost(`special.${a.domain}`);
    expect(special.ok && special.value.tenant.id).toBe(b.id);
    const other = await resolveHost(`other.${a.domain}`);
    expect(other.ok && other.value.tenant.id).toBe(a.id);
  });

  it('lets exactly one of two concurrent writers claim a host, and KV agrees', async () => {
    const a = unique('a');
    const b = unique('b');
    const shared = `shared.${a.domain}`;
    const [first, second] = await Promise.all([
      put(a.id, config(a.id, [shared, `api.${a.domain}`])),
      put(b.id, config(b.id, [shared, `api.${b.domain}`])),
    ]);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([201, 409]);
    const [winner, loser] = first.status === 201 ? [a, b] : [b, a];
    const record = JSON.parse((await env.TENANTS.get(hostKey(shared), 'text'))!) as { id: string };
    expect(record.id).toBe(winner.id);
    expect(await env.TENANTS.get(tenantKey(loser.id))).toBeNull();
    expect(await env.TENANTS.get(hostKey(`api.${loser.domain}`))).toBeNull();
    expect((await call('GET', `/tenants/${loser.id}`)).status).toBe(404);
  });

  it('moves a host from A to B once A drops it', async () => {
    const a = unique('a');
    const b = unique('b');
    const moving = `moving.${a.domain}`;
    await put(a.id, config(a.id, [`api.${a.domain}`, moving]));
    expect((await put(b.id, config(b.id, [moving]))).status).toBe(409);
    expect((await put(a.id, config(a.id, [`api.${a.domain}`]))).status).toBe(200);
    expect(await env.TENANTS.get(hostKey(moving))).toBeNull();
    expect((await put(b.id, config(b.id, [moving]))).status).toBe(201);
    const found = await resolveHost(moving);
    expect(found.ok && found.value.tenant.id).toBe(b.id);
    const stillA = await resolveHost(`api.${a.domain}`);
    expect(stillA.ok && stillA.value.tenant.id).toBe(a.id);
  });
});

describe('DELETE /tenants/:id', () => {
  it('answers 204, removes the record and the host bindings, and frees the hosts', async () => {
    const a = unique('a');
    const b = unique('b');
    await put(a.id, config(a.id, [`api.${a.domain}`, `*.${a.domain}`]));
    const response = await call('DELETE', `/tenants/${a.id}`);
    expect(response.status).toBe(204);
    expect(await env.TENANTS.get(tenantKey(a.id))).toBeNull();
    expect(await env.TENANTS.get(hostKey(`api.${a.domain}`))).toBeNull();
    expect(await env.TENANTS.get(hostKey(`*.${a.domain}`))).toBeNull();
    expect(await resolveHost(`api.${a.domain}`)).toEqual({ ok: false, denial: { error: 'unknown_host' } });
    expect((await call('GET', `/tenants/${a.id}`)).status).toBe(404);
    expect((await put(b.id, config(b.id, [`api.${a.domain}`]))).status).toBe(201);
  });

  it('answers 404 unknown_tenant for a tenant that does not exist, also when deleted twice', async () => {
    const { id, domain } = unique('acme');
    await put(id, config(id, [`api.${domain}`]));
    expect((await call('DELETE', `/tenants/${id}`)).status).toBe(204);
    const again = await call('DELETE', `/tenants/${id}`);
    expect(again.status).toBe(404);
    expect((await json(again)).error).toBe('unknown_tenant');
  });
});

describe('preconditions', () => {
  it('replaces only while If-Match holds the current ETag (412 otherwise)', async () => {
    const { id, domain } = unique('acme');
    const etag = (await put(id, config(id, [`api.${domain}`]))).headers.get('etag')!;
    const stale = await put(id, config(id, [`api.${domain}`], { upstream: 'https://a.example' }), { 'if-match': '"0000"' });
    expect(stale.status).toBe(412);
    expect((await json(stale)).error).toBe('precondition_failed');
    const weak = await put(id, config(id, [`api.${domain}`], { upstream: 'https://a.example' }), { 'if-match': `W/${etag}` });
    expect(weak.status).toBe(412);
    const fresh = await put(id, config(id, [`api.${domain}`], { upstream: 'https://a.example' }), { 'if-match': `"1111", ${etag}` });
    expect(fresh.status).toBe(200);
    const lost = await put(id, config(id, [`api.${domain}`], { upstream: 'https://b.example' }), { 'if-match': etag });
    expect(lost.status).toBe(412);
    expect((await json(await call('GET', `/tenants/${id}`))).upstream).toBe('https://a.example');
  });

  it('hands out the current ETag on GET even while KV still holds an older copy', async () => {
    const { id, domain } = unique('acme');
    await put(id, config(id, [`api.${domain}`]));
    const second = await put(id, config(id, [`api.${domain}`], { upstream: 'https://a.example' }));
    // KV reaches other locations up to a minute late: play that location.
    await env.TENANTS.put(tenantKey(id), JSON.stringify(config(id, [`api.${domain}`])));
    const read = await call('GET', `/tenants/${id}`);
    expect(read.headers.get('etag')).toBe(second.headers.get('etag'));
    expect((await json(read)).upstream).toBe('https://a.example');
    const next = await put(id, config(id, [`api.${domain}`], { upstream: 'https://b.example' }), { 'if-match': read.headers.get('etag')! });
    expect(next.status).toBe(200);
  });

  it('requires existence for If-Match: * and absence for If-None-Match: *', async () => {
    const { id, domain } = unique('acme');
    expect((await put(id, config(id, [`api.${domain}`]), { 'if-match': '*' })).status).toBe(412);
    expect(await env.TENANTS.get(tenantKey(id))).toBeNull();
    expect((await put(id, config(id, [`api.${domain}`]), { 'if-none-match': '*' })).status).toBe(201);
    expect((await put(id, config(id, [`api.${domain}`]), { 'if-none-match': '*' })).status).toBe(412);
    expect((await put(id, config(id, [`api.${domain}`]), { 'if-match': '*' })).status).toBe(200);
  });

  it('deletes only while If-Match holds', async () => {
    const { id, domain } = unique('acme');
    const etag = (await put(id, config(id, [`api.${domain}`]))).headers.get('etag')!;
    expect((await call('DELETE', `/tenants/${id}`, { headers: { 'if-match': '"0000"' } })).status).toBe(412);
    expect((await call('DELETE', `/tenants/${id}`, { headers: { 'if-match': etag } })).status).toBe(204);
  });
});

describe('audit', () => {
  it('logs one line per change naming the token by hash prefix, never the token', async () => {
    const { id, domain } = unique('acme');
    await put(id, config(id, [`api.${domain}`]));
    await put(id, config(id, [`api.${domain}`], { upstream: 'https://origin.example' }));
    await call('GET', `/tenants/${id}`);
    await put(id, config('other', [`api.${domain}`]));
    await call('DELETE', `/tenants/${id}`);

    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(TOKEN)));
    const who = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 12);
    const lines = auditLines();
    expect(lines.map((line) => line.action)).toEqual(['tenant.create', 'tenant.replace', 'tenant.delete']);
    expect(lines[0]).toEqual({
      event: 'audit', at: new Date(t).toISOString(), who, action: 'tenant.create', tenant: id,
      before: null, after: expect.objectContaining({ id, hosts: [`api.${domain}`] }),
    });
    expect(lines[1]).toMatchObject({ before: { upstream: null }, after: { upstream: 'https://origin.example' } });
    expect(lines[2]).toMatchObject({ who, tenant: id, before: { id }, after: null });
    for (const call of log.mock.calls) expect(JSON.stringify(call)).not.toContain(TOKEN);
  });
});
