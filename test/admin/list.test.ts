// GET /tenants paging and POST /tenants/:id/dns-check inside workerd: the real Directory object,
// and a DoH stand-in served by the auxiliary Worker (public DNS is unreachable from the tests).
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app';
import { tenantStateStub } from '../../src/revocation/tenant-state';
import { dohStandIn } from '../cron/doh';
import { hitsOn } from '../support/issuer';
import { config, unique } from '../tenants/fixtures';
import { adminCaller, json } from './caller';

const app = createAdminApp({ now: () => Date.now() });
const call = adminCaller(app);

async function put(input: Record<string, unknown>): Promise<void> {
  const response = await call('PUT', `/tenants/${String(input.id)}`, { body: input });
  if (response.status !== 201 && response.status !== 200) throw new Error(`PUT failed: ${response.status} ${await response.text()}`);
}

beforeEach(() => { vi.spyOn(console, 'log').mockImplementation(() => {}); });
afterEach(() => vi.restoreAllMocks());

describe('GET /tenants', () => {
  it('pages through 25 tenants 10 at a time, in id order, each exactly once, ending with a null cursor', async () => {
    const base = unique('list').id;
    const ids = Array.from({ length: 25 }, (_, i) => `${base}-${String(i).padStart(2, '0')}`);
    for (const id of [...ids].reverse()) await put(config(id, [`${id}.test`, `*.${id}.test`]));

    const seen: { id: string; hosts: string[] }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await call('GET', `/tenants?limit=10${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(response.status).toBe(200);
      const page = await json(response);
      expect(page.tenants.length).toBeLessThanOrEqual(10);
      seen.push(...page.tenants);
      cursor = page.cursor;
      pages++;
    } while (cursor !== null && pages < 1000);

    const ours = seen.filter((t) => t.id.startsWith(`${base}-`));
    expect(ours.map((t) => t.id)).toEqual(ids);
    expect(ours[0]).toEqual({ id: ids[0], hosts: [`${ids[0]}.test`, `*.${ids[0]}.test`] });
    const all = seen.map((t) => t.id);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(all);
  });

  it('defaults to 100 a page, empty parameters included, and the last page has a null cursor', async () => {
    const first = await json(await call('GET', '/tenants?cursor=&limit='));
    expect(first.tenants.length).toBeLessThanOrEqual(100);
    if (first.tenants.length < 100) expect(first.cursor).toBeNull();
  });

  it('a deleted tenant leaves the listing at once (the Directory is strongly consistent)', async () => {
    const { id } = unique('gone');
    await put(config(id, [`${id}.test`]));
    expect((await call('DELETE', `/tenants/${id}`)).status).toBe(204);
    const { tenants } = await json(await call('GET', `/tenants?limit=1000`));
    expect(tenants.map((t: { id: string }) => t.id)).not.toContain(id);
  });

  it.each(['0', '1001', '-1', '1.5', 'ten', '1e3'])('refuses limit=%s with 400 invalid_limit', async (limit) => {
    const response = await call('GET', `/tenants?limit=${limit}`);
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe('invalid_limit');
  });

  it.each(['!!!', 'Zm9v=', btoa('UPPER'), btoa('a b'), 'x'.repeat(200)])('refuses cursor=%s with 400 invalid_cursor', async (cursor) => {
    const response = await call('GET', `/tenants?cursor=${encodeURIComponent(cursor)}`);
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe('invalid_cursor');
  });

  it('answers 405 to other methods', async () => {
    const response = await call('POST', '/tenants', { body: {} });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('POST /tenants/:id/dns-check', () => {
  it('reports each exact host, skips wildcards, and counts nothing toward a hold', async () => {
    const doh = dohStandIn();
    const { id, domain } = unique('dns');
    await put(config(id, [`api.${domain}`, `www.${domain}`, `gone.${domain}`, `*.apps.${domain}`],
      { dnsCheck: { type: 'CNAME', target: 'edge.saas.test', failuresBeforeHold: 1 } }));
    await doh.cname(`api.${domain}`, 'edge.saas.test');
    await doh.cname(`www.${domain}`, 'other.test');
    await doh.rcode(`gone.${domain}`, 'CNAME', 3);

    const response = await call('POST', `/tenants/${id}/dns-check`, { env: { ...env, DOH_URL: doh.url } });
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.results).toEqual([
      { host: `api.${domain}`, expected: 'CNAME edge.saas.test', found: ['edge.saas.test'], verdict: 'ok' },
      { host: `www.${domain}`, expected: 'CNAME edge.saas.test', found: ['other.test'], verdict: 'mismatch', note: 'another target' },
      { host: `gone.${domain}`, expected: 'CNAME edge.saas.test', found: [], verdict: 'mismatch', note: 'NXDOMAIN' },
    ]);
    expect(body.skipped).toEqual([{ host: `*.apps.${domain}`, reason: expect.any(String) }]);
    expect(await hitsOn({ url: doh.url })).toBe(3);
    // failuresBeforeHold is 1: one counted failure would have held the tenant.
    expect((await tenantStateStub(env.TENANT_STATE, id).snapshot()).status).toBe('active');
  });

  it('answers 404 unknown_tenant and 400 dns_check_not_configured', async () => {
    const unknown = await call('POST', `/tenants/${unique('nobody').id}/dns-check`);
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error).toBe('unknown_tenant');

    const { id } = unique('nodns');
    await put(config(id, [`${id}.test`]));
    const response = await call('POST', `/tenants/${id}/dns-check`);
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe('dns_check_not_configured');
  });

  it('answers 405 to other methods', async () => {
    const response = await call('GET', `/tenants/${unique('m').id}/dns-check`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});
