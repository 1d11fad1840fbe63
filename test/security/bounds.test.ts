// No client can grow an isolate's memory past a bound through the host it names: a wildcard
// tenant is compiled once per stored record whatever the subdomain, host entries are bounded in
// bytes, and a host that cannot be a DNS name costs no KV read and no cache entry, on every door.
import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { Hono } from 'hono';
import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { VerifyResult } from '../../src/rpc/verifier';
import { isDnsName } from '../../src/config/hosts';
import { createTenantStore } from '../../src/tenants/store';
import { config, countingKv, seed, unique } from '../tenants/fixtures';
import { TestIssuer } from '../support/issuer';
import { tenantConfig, testEdge, uniqueTenant } from '../support/gateway';

let log: ReturnType<typeof vi.spyOn>;
beforeEach(() => { log = vi.spyOn(console, 'log').mockImplementation(() => {}); });
afterEach(() => log.mockRestore());

/** A valid config padded to about `kib` KiB with routes (the schema allows 200 of them). */
function bigConfig(id: string, hosts: string[], kib: number): Record<string, unknown> {
  const segment = 'x'.repeat(Math.max(1, Math.floor((kib * 1024) / 200) - 20));
  const routes = Array.from({ length: 199 }, (_, i) => ({ path: `/${segment}/${i}/*`, scopes: [`s${i}`] }));
  return config(id, hosts, { routes: [...routes, { path: '/*' }] });
}

describe('a wildcard tenant under many subdomains', () => {
  it('is compiled once per stored record, shared by every subdomain', async () => {
    const { id, domain } = unique('wild');
    await seed(bigConfig(id, [`*.${domain}`], 50));
    const store = createTenantStore({ now: () => 0 });
    const counted = countingKv(env.TENANTS);
    const tenants = new Set<unknown>();
    for (let i = 0; i < 300; i++) {
      const found = await store.resolve(`s${i}.${domain}`, { kv: counted.kv, cacheSeconds: 30 });
      expect(found.ok).toBe(true);
      if (found.ok) tenants.add(found.value.tenant);
    }
    expect(store.counters.compiles).toBe(1);
    expect(tenants.size).toBe(1);
    expect(counted.reads).toBe(300);
  });

  it('costs at most the byte bound for host entries, and one record, however many subdomains', async () => {
    const { id, domain } = unique('wild');
    await seed(bigConfig(id, [`*.${domain}`], 50));
    const maxHostBytes = 16 * 1024;
    const store = createTenantStore({ now: () => 0, maxHostBytes });
    let peak = 0;
    for (let i = 0; i < 800; i++) {
      const found = await store.resolve(`subdomain-${'z'.repeat(40)}-${i}.${domain}`, { kv: env.TENANTS, cacheSeconds: 30 });
      expect(found.ok).toBe(true);
      peak = Math.max(peak, store.bytes.hosts);
    }
    expect(peak).toBeLessThanOrEqual(maxHostBytes);
    expect(store.counters.compiles).toBe(1);
    expect(store.bytes.records).toBeLessThan(2 * 1024 * 1024);
  });

  it('unknown subdomains of no tenant are bounded the same way', async () => {
    const { domain } = unique('none');
    const maxHostBytes = 16 * 1024;
    const store = createTenantStore({ now: () => 0, maxHostBytes });
    for (let i = 0; i < 800; i++) {
      expect(await store.resolve(`h${i}.${domain}`, { kv: env.TENANTS, cacheSeconds: 30 })).toEqual({ ok: false, denial: { error: 'unknown_host' } });
    }
    expect(store.bytes.hosts).toBeLessThanOrEqual(maxHostBytes);
  });

  it('compiled records are bounded in bytes: more distinct records than fit are evicted, never held past the bound', async () => {
    const maxRecordBytes = 2 * 1024 * 1024;
    const store = createTenantStore({ now: () => 0, maxRecordBytes });
    for (let i = 0; i < 12; i++) {
      const { id, domain } = unique('big');
      await seed(bigConfig(id, [`api.${domain}`], 50));
      expect((await store.resolve(`api.${domain}`, { kv: env.TENANTS, cacheSeconds: 30 })).ok).toBe(true);
      expect(store.bytes.records).toBeLessThanOrEqual(maxRecordBytes);
    }
  });

  it('the verified-token cache hits across subdomains when the tenant names one resource', async () => {
    const edge = testEdge();
    const issuer = await TestIssuer.create();
    const { id, domain } = uniqueTenant('wt');
    await edge.putTenant(tenantConfig({ id, hosts: [`*.${domain}`], issuer, audience: 'https://api.shared.test', resource: 'https://api.shared.test' }));
    const token = await issuer.sign({ sub: 'u', aud: 'https://api.shared.test' }, { now: edge.now });
    for (let i = 0; i < 5; i++) expect((await edge.request(`https://s${i}.${domain}/orders`, { token })).status).toBe(200);
    // The first two requests verify (a token is kept on its second verification), the rest hit.
    expect(edge.app.isolate.tokenCache!.counters.hits).toBe(3);
    edge.restoreLog();
  });
});

describe('a host that cannot be a DNS name', () => {
  const long = `${'a'.repeat(60)}.`.repeat(10) + 'example.test'; // 622 characters
  const longLabel = `${'b'.repeat(64)}.example.test`;

  it('isDnsName: 253 characters and 63 per label at most', () => {
    expect(isDnsName(`${'a'.repeat(63)}.example.test`)).toBe(true);
    expect(isDnsName(`${'a.'.repeat(126)}b`)).toBe(true); // 253
    expect(isDnsName(`${'a.'.repeat(126)}bc`)).toBe(false); // 254
    for (const host of [long, longLabel, '', 'a..b', '[::1]', 'a b.test']) expect(isDnsName(host), host).toBe(false);
  });

  it('is 404 unknown_host at the gateway with no KV read and no cache entry', async () => {
    const counted = countingKv(env.TENANTS);
    const store = createTenantStore({ now: () => 0 });
    for (const host of [long, longLabel]) {
      expect(await store.resolve(host, { kv: counted.kv, cacheSeconds: 30 })).toEqual({ ok: false, denial: { error: 'unknown_host' } });
    }
    expect(counted.reads).toBe(0);
    expect(store.bytes.hosts).toBe(0);
    const edge = testEdge();
    for (const host of [long, longLabel]) {
      const response = await edge.request(`https://${host}/orders`);
      expect(response.status).toBe(404);
      expect((await response.json() as { error: string }).error).toBe('unknown_host');
    }
    edge.restoreLog();
  });

  it('is unknown_host through RPC and the Hono middleware too', async () => {
    const consumer = (env as unknown as { CONSUMER: Fetcher }).CONSUMER;
    for (const host of [long, longLabel]) {
      const answer = await consumer.fetch('http://consumer/', { method: 'POST', body: JSON.stringify({ call: 'verify', args: [{ host, token: 'x.y.z' }] }) });
      expect(await answer.json() as VerifyResult).toMatchObject({ ok: false, status: 404, error: 'unknown_host' });
      const app = new Hono<{ Variables: EdgeAuthVariables }>();
      app.use('*', edgeAuth({ tenant: 'kv', bindings: () => env }));
      app.get('*', (c) => c.text('reached'));
      const ctx = createExecutionContext();
      const response = await app.fetch(new Request(`https://${host}/orders`), env, ctx);
      await waitOnExecutionContext(ctx);
      expect(response.status).toBe(404);
    }
  });
});
