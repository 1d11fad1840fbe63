// The request path's tenant lookup against real KV: host matching, one read per cold host,
// positive and negative caching with an injected clock, invalid records kept to their tenant.
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { normalizeRequestHost } from '../../src/config/hosts';
import { hostKey } from '../../src/tenants/kv-keys';
import { parseTenantConfig } from '../../src/config/schema';
import { parseSettings } from '../../src/config/settings';
import { createTenantStore, type TenantStore } from '../../src/tenants/store';
import { config, countingKv, seed, unique } from './fixtures';

let t: number;
let store: TenantStore;
let counted: ReturnType<typeof countingKv>;
let log: ReturnType<typeof vi.spyOn>;
const resolve = (host: string) => store.resolve(host, { kv: counted.kv, cacheSeconds: 30 });
const hostOf = (url: string) => normalizeRequestHost(new URL(url));
const invalidLines = () => log.mock.calls.map((call: unknown[]) => String(call[0])).filter((line: string) => line.includes('"tenant_config_invalid"'))
  .map((line: string) => JSON.parse(line) as Record<string, unknown>);

beforeEach(() => {
  t = 1_800_000_000_000;
  store = createTenantStore({ now: () => t });
  counted = countingKv(env.TENANTS);
  log = vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterEach(() => log.mockRestore());

describe('host matching', () => {
  it('ignores case, port and a trailing dot', async () => {
    const { id, domain } = unique('acme');
    await seed(config(id, [`api.${domain}`]));
    const found = await resolve(hostOf(`http://API.${domain.toUpperCase()}.:8443/`));
    expect(found.ok && found.value.tenant.id).toBe(id);
    expect(found.ok && found.value.pattern).toBe(`api.${domain}`);
  });

  it('stores and looks up the punycode form', async () => {
    const { id, domain } = unique('idn');
    await seed(config(id, [`bücher.${domain}`]));
    expect(await env.TENANTS.get(hostKey(`xn--bcher-kva.${domain}`), 'text')).not.toBeNull();
    const found = await resolve(hostOf(`http://BÜCHER.${domain}/`));
    expect(found.ok && found.value.tenant.id).toBe(id);
    expect(found.ok && found.value.pattern).toBe(`xn--bcher-kva.${domain}`);
  });

  it('matches a wildcard for exactly one label', async () => {
    const { id, domain } = unique('wild');
    await seed(config(id, [`*.${domain}`]));
    const one = await resolve(`a.${domain}`);
    expect(one.ok && one.value.tenant.id).toBe(id);
    expect(one.ok && one.value.pattern).toBe(`*.${domain}`);
    expect(await resolve(`a.b.${domain}`)).toEqual({ ok: false, denial: { error: 'unknown_host' } });
    expect(await resolve(domain)).toEqual({ ok: false, denial: { error: 'unknown_host' } });
  });

  it('refuses a wildcard over a single label', () => {
    const parsed = parseTenantConfig(config('acme', ['*.com']));
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.issues.map((issue) => issue.path)).toEqual(['/hosts/0']);
  });

  it('prefers an exact host over a wildcard, across tenants', async () => {
    const wild = unique('wild');
    const exact = unique('exact');
    await seed(config(wild.id, [`*.${wild.domain}`]));
    await seed(config(exact.id, [`special.${wild.domain}`]));
    const special = await resolve(`special.${wild.domain}`);
    expect(special.ok && special.value.tenant.id).toBe(exact.id);
    expect(special.ok && special.value.pattern).toBe(`special.${wild.domain}`);
    const other = await resolve(`other.${wild.domain}`);
    expect(other.ok && other.value.tenant.id).toBe(wild.id);
  });
});

describe('reads and caching', () => {
  it('answers unknown_host, never a default tenant, and caches the answer', async () => {
    const { domain } = unique('none');
    expect(await resolve(`api.${domain}`)).toEqual({ ok: false, denial: { error: 'unknown_host' } });
    expect(await resolve(`api.${domain}`)).toEqual({ ok: false, denial: { error: 'unknown_host' } });
    expect(counted.reads).toBe(1);
  });

  it('reads KV once per cold host, exact and wildcard in one bulk read', async () => {
    const { id, domain } = unique('wild');
    await seed(config(id, [`*.${domain}`]));
    const first = await resolve(`a.${domain}`);
    expect(counted.reads).toBe(1);
    expect(first.ok && first.value.cached).toBe(false);
    const again = await resolve(`a.${domain}`);
    expect(again.ok && again.value.cached).toBe(true);
    expect(counted.reads).toBe(1);
    await resolve(`b.${domain}`);
    expect(counted.reads).toBe(2);
  });

  it('serves a changed tenant from the cache until TENANT_CACHE_SECONDS pass', async () => {
    const { id, domain } = unique('acme');
    const host = `api.${domain}`;
    await seed(config(id, [host]));
    await resolve(host);
    await seed(config(id, [host], { upstream: 'https://origin.example' }));
    t += 29_999;
    const cached = await resolve(host);
    expect(cached.ok && cached.value.tenant.upstream).toBeNull();
    expect(counted.reads).toBe(1);
    t += 1;
    const fresh = await resolve(host);
    expect(fresh.ok && fresh.value.tenant.upstream).toBe('https://origin.example');
    expect(counted.reads).toBe(2);
  });

  it('re-reads an unknown host after the TTL, so a new tenant is found', async () => {
    const { id, domain } = unique('late');
    const host = `api.${domain}`;
    expect((await resolve(host)).ok).toBe(false);
    await seed(config(id, [host]));
    expect((await resolve(host)).ok).toBe(false);
    t += 30_000;
    const found = await resolve(host);
    expect(found.ok && found.value.tenant.id).toBe(id);
    expect(counted.reads).toBe(2);
  });

  it('lets a failed KV read throw and does not cache it', async () => {
    const { id, domain } = unique('acme');
    await seed(config(id, [`api.${domain}`]));
    const broken = { get: () => Promise.reject(new Error('kv down')) } as unknown as KVNamespace;
    await expect(store.resolve(`api.${domain}`, { kv: broken, cacheSeconds: 30 })).rejects.toThrow('kv down');
    const found = await resolve(`api.${domain}`);
    expect(found.ok && found.value.tenant.id).toBe(id);
  });
});

describe('invalid records', () => {
  it('answers tenant_config_invalid for a record that is not JSON, only for that host', async () => {
    const good = unique('good');
    const bad = unique('bad');
    await seed(config(good.id, [`api.${good.domain}`]));
    await env.TENANTS.put(hostKey(`api.${bad.domain}`), '{not json');
    expect(await resolve(`api.${bad.domain}`)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    const found = await resolve(`api.${good.domain}`);
    expect(found.ok && found.value.tenant.id).toBe(good.id);
    expect(invalidLines()).toEqual([{ event: 'tenant_config_invalid', host: `api.${bad.domain}`, tenant: null, issues: [{ path: '', message: expect.any(String) }] }]);
  });

  it('logs a record that fails the schema once per load, with JSON Pointer issues', async () => {
    const bad = unique('bad');
    const host = `api.${bad.domain}`;
    await env.TENANTS.put(hostKey(host), JSON.stringify({ id: bad.id, hosts: [host], issuers: [{ issuer: 'http://evil.example/', audiences: ['x'] }] }));
    expect(await resolve(host)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expect(await resolve(host)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expect(counted.reads).toBe(1);
    const lines = invalidLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ host, tenant: bad.id });
    expect((lines[0]!.issues as { path: string }[]).map((issue) => issue.path)).toEqual(['/issuers/0/issuer']);
    t += 30_000;
    await resolve(host);
    expect(invalidLines()).toHaveLength(2);
  });

  it('refuses a record that does not list the host it was found under', async () => {
    const { id, domain } = unique('stale');
    const parsed = parseTenantConfig(config(id, [`other.${domain}`]));
    await env.TENANTS.put(hostKey(`api.${domain}`), JSON.stringify(parsed.ok && parsed.config));
    expect(await resolve(`api.${domain}`)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expect(invalidLines()[0]).toMatchObject({ tenant: id, issues: [{ path: '/hosts' }] });
  });

  it('refuses a record whose compilation throws', async () => {
    const { id, domain } = unique('acme');
    await seed(config(id, [`api.${domain}`]));
    store = createTenantStore({ now: () => t, compile: () => { throw new Error('cannot compile'); } });
    expect(await resolve(`api.${domain}`)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expect(invalidLines()[0]).toMatchObject({ tenant: id, issues: [{ path: '' }] });
  });
});

describe('settings', () => {
  it('reads TENANT_CACHE_SECONDS "0" as no caching and falls back to 30 only for unset or unparsable values', () => {
    expect(parseSettings({ TENANT_CACHE_SECONDS: '0' }).tenantCacheSeconds).toBe(0);
    expect(parseSettings({ TENANT_CACHE_SECONDS: '45' }).tenantCacheSeconds).toBe(45);
    for (const value of [undefined, '', ' ', 'soon', '-5']) expect(parseSettings({ TENANT_CACHE_SECONDS: value }).tenantCacheSeconds).toBe(30);
  });

  it('reads every var once per bindings object, with the defaults of wrangler.toml', () => {
    const vars = { LOG_SAMPLE_RATE: '0.25', DEBUG_TIMING: 'true', ALLOW_INSECURE_ISSUERS: 'yes', ADMIN_HOST: 'Admin.Example.com' };
    expect(parseSettings(vars)).toEqual({
      adminHost: 'admin.example.com', tenantCacheSeconds: 30, allowInsecureIssuers: false, logSampleRate: 0.25, debugTiming: true,
      dohUrl: 'https://cloudflare-dns.com/dns-query', secrets: expect.objectContaining({ problem: 'SECRETS_KEY is not set' }),
    });
    expect(parseSettings({ LOG_SAMPLE_RATE: '7' }).logSampleRate).toBe(1);
    expect(parseSettings({ LOG_SAMPLE_RATE: '-1' }).logSampleRate).toBe(0);
    expect(parseSettings({ LOG_SAMPLE_RATE: '1.0' }).logSampleRate).toBe(1);
  });

  it('samples 1 in 100 allowed decisions in production: wrangler.toml says 0.01, and so does the default of a Worker that sets nothing', () => {
    // docs/configuration.md "Worker settings": a log line per request would cost twice the request.
    expect(env.LOG_SAMPLE_RATE).toBe('0.01');
    expect(parseSettings(env).logSampleRate).toBe(0.01);
    for (const value of [undefined, '', ' ', 'x', 'NaN']) expect(parseSettings({ LOG_SAMPLE_RATE: value }).logSampleRate).toBe(0.01);
  });
});
