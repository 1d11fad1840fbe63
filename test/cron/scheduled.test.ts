// The scheduled work inside workerd: real Directory, TenantState and IssuerKeys objects, a DoH
// stand-in and test issuers served by the auxiliary Worker (public DNS is unreachable from the
// test runtime, so every DNS answer here is a registered one). Each test walks a Directory of
// its own, so tenants of other tests never enter its runs.
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RUN_DEADLINE_MS, runScheduled, type ScheduledDeps } from '../../src/cron/scheduled';
import worker from '../../src/index';
import { issuerKeysStub, type IssuerKeys } from '../../src/keys/issuer-keys';
import { tenantStateStub } from '../../src/revocation/tenant-state';
import { DIRECTORY_NAME } from '../../src/tenants/kv-keys';
import { parseTenantConfig } from '../../src/config/schema';
import { keySetIdOf } from '../../src/tenants/tenant';
import { testEdge, uniqueTenant } from '../support/gateway';
import { TestIssuer } from '../support/issuer';
import { dohStandIn } from './doh';

const TARGET = 'edge.saas.test';
let t: number;
let logs: Record<string, unknown>[];
let issuer: TestIssuer;

beforeAll(async () => { issuer = await TestIssuer.create(); });
beforeEach(() => {
  t = Date.now();
  logs = [];
});
afterEach(() => vi.restoreAllMocks());

function ownDirectory() {
  return env.DIRECTORY.get(env.DIRECTORY.idFromName(`cron-test-${uniqueTenant().id}`));
}
type OwnDirectory = ReturnType<typeof ownDirectory>;

async function addTenant(directory: OwnDirectory, input: Record<string, unknown>): Promise<void> {
  const parsed = parseTenantConfig({ issuers: [{ issuer: issuer.issuer, audiences: ['https://api.test'] }], ...input });
  if (!parsed.ok) throw new Error(`invalid fixture: ${JSON.stringify(parsed.issues)}`);
  const written = await directory.put(parsed.config, null);
  if (!written.ok) throw new Error(`put failed: ${JSON.stringify(written.refusal)}`);
}

function run(directory: OwnDirectory, dohUrl: string, deps: Partial<ScheduledDeps> = {}) {
  return runScheduled({ ...env, DOH_URL: dohUrl }, { now: () => t, directory, log: (line) => logs.push(line), ...deps });
}

const drifts = (tenant: string) => logs.filter((l) => l.event === 'dns_drift' && l.tenant === tenant);
const statusOf = async (tenant: string) => (await tenantStateStub(env.TENANT_STATE, tenant).snapshot()).status;

describe('DNS drift', () => {
  it('a healthy tenant is checked on its exact hosts only and nothing is counted', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('ok');
    await addTenant(directory, { id, hosts: [`api.${domain}`, `www.${domain}`, `*.apps.${domain}`], dnsCheck: { type: 'CNAME', target: TARGET } });
    await doh.cname(`api.${domain}`, TARGET);
    await doh.cname(`www.${domain}`, TARGET);

    const result = await run(directory, doh.url);
    expect(result.checked).toEqual([id]);
    expect(result.failing).toEqual([]);
    expect(drifts(id)).toEqual([]);
    expect(await statusOf(id)).toBe('active');
  });

  it.each([
    ['NXDOMAIN', (doh: ReturnType<typeof dohStandIn>, host: string) => doh.rcode(host, 'CNAME', 3), 'NXDOMAIN'],
    ['a wrong target', (doh: ReturnType<typeof dohStandIn>, host: string) => doh.cname(host, 'someone-else.test'), 'another target'],
  ])('%s on one host fails the run for the tenant', async (_, serve, note) => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('mm');
    await addTenant(directory, { id, hosts: [`api.${domain}`, `www.${domain}`], dnsCheck: { type: 'CNAME', target: TARGET } });
    await doh.cname(`api.${domain}`, TARGET);
    await serve(doh, `www.${domain}`);

    const result = await run(directory, doh.url);
    expect(result.failing).toEqual([id]);
    expect(drifts(id)).toEqual([expect.objectContaining({
      failures: 1, mode: 'enforce', held: false, status: 'active',
      hosts: [expect.objectContaining({ host: `www.${domain}`, expected: `CNAME ${TARGET}`, note })],
    })]);
  });

  it('SERVFAIL and a hanging resolver change nothing; a healthy answer resets the count', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('tr');
    const host = `api.${domain}`;
    await addTenant(directory, { id, hosts: [host], dnsCheck: { type: 'CNAME', target: TARGET, failuresBeforeHold: 10 } });
    const failuresAfter = async (serve: () => Promise<void>) => {
      await serve();
      logs = [];
      await run(directory, doh.url, { dnsTimeoutMs: 50 });
      return drifts(id)[0]?.failures ?? null;
    };

    expect(await failuresAfter(() => doh.rcode(host, 'CNAME', 3))).toBe(1);
    expect(await failuresAfter(() => doh.rcode(host, 'CNAME', 2))).toBeNull();    // SERVFAIL: no change
    expect(await failuresAfter(() => doh.rcode(host, 'CNAME', 3))).toBe(2);
    expect(await failuresAfter(() => doh.hang(host, 'CNAME'))).toBeNull();         // timeout: no change
    expect(await failuresAfter(() => doh.rcode(host, 'CNAME', 3))).toBe(3);
    expect(await failuresAfter(() => doh.cname(host, TARGET))).toBeNull();         // healthy: reset
    expect(await failuresAfter(() => doh.rcode(host, 'CNAME', 3))).toBe(1);
    expect(await statusOf(id)).toBe('active');
  });

  it('one healthy host and one transient host make a healthy run (the count resets)', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('mx');
    await addTenant(directory, { id, hosts: [`a.${domain}`, `b.${domain}`], dnsCheck: { type: 'CNAME', target: TARGET } });
    await doh.rcode(`a.${domain}`, 'CNAME', 3);
    await doh.rcode(`b.${domain}`, 'CNAME', 3);
    await run(directory, doh.url);
    await doh.cname(`a.${domain}`, TARGET);
    await doh.rcode(`b.${domain}`, 'CNAME', 2);
    await run(directory, doh.url);
    await doh.rcode(`a.${domain}`, 'CNAME', 3);
    logs = [];
    await run(directory, doh.url);
    expect(drifts(id)[0]!.failures).toBe(1);
  });

  it('failuresBeforeHold failing runs hold an enforce tenant; it stays held after DNS is fixed', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('hold');
    const host = `api.${domain}`;
    await addTenant(directory, { id, hosts: [host], dnsCheck: { type: 'CNAME', target: TARGET, failuresBeforeHold: 2, mode: 'enforce' } });
    await doh.rcode(host, 'CNAME', 3);

    await run(directory, doh.url);
    expect(await statusOf(id)).toBe('active');
    await run(directory, doh.url);
    expect(await statusOf(id)).toBe('hold');
    expect(drifts(id).map((l) => [l.failures, l.held, l.status])).toEqual([[1, false, 'active'], [2, true, 'hold']]);

    await doh.cname(host, TARGET);
    await run(directory, doh.url);
    expect(await statusOf(id)).toBe('hold');

    // The request path sees the hold (a fresh isolate cache, so the state is read now).
    const edge = testEdge();
    const token = await issuer.sign({ sub: 'u1', aud: 'https://api.test' });
    const response = await edge.request(`https://${host}/orders`, { token });
    edge.restoreLog();
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: string }).error).toBe('tenant_on_hold');
  });

  it('report mode only logs, however many runs fail', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('rep');
    const host = `api.${domain}`;
    await addTenant(directory, { id, hosts: [host], dnsCheck: { type: 'CNAME', target: TARGET, failuresBeforeHold: 2, mode: 'report' } });
    await doh.cname(host, 'elsewhere.test');
    for (let i = 0; i < 3; i++) await run(directory, doh.url);
    expect(await statusOf(id)).toBe('active');
    expect(drifts(id).map((l) => [l.failures, l.mode, l.held])).toEqual([[1, 'report', false], [2, 'report', false], [3, 'report', false]]);
    expect(drifts(id)[0]!.hosts).toEqual([{ host, expected: `CNAME ${TARGET}`, found: ['elsewhere.test'], note: 'another target' }]);
  });

  it('a tenant without dnsCheck, or with wildcards only, resolves nothing', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const a = uniqueTenant('none');
    const b = uniqueTenant('wild');
    await addTenant(directory, { id: a.id, hosts: [`api.${a.domain}`] });
    await addTenant(directory, { id: b.id, hosts: [`*.apps.${b.domain}`], dnsCheck: { type: 'CNAME', target: TARGET } });
    const result = await run(directory, doh.url);
    expect(result.visited).toHaveLength(2);
    expect(result.checked).toEqual([]);
  });
});

describe('batches and the cursor', () => {
  it('a tiny budget spreads 7 tenants over 3 runs, each visited exactly once per cycle', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const base = uniqueTenant('cur').id;
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((letter) => `${base}-${letter}`);
    for (const id of ids) {
      await addTenant(directory, { id, hosts: [`${id}.test`], dnsCheck: { type: 'CNAME', target: TARGET } });
      await doh.cname(`${id}.test`, TARGET);
    }
    // Per run: 3 (pending-write repair, page read, cursor save) + 3 tenants x 2 (one DoH query,
    // recordDnsCheck) + 1 (their shared issuer's pre-warm) = 10.
    const budget = 10;
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await run(directory, doh.url, { subrequests: budget }));

    expect(runs.map((r) => r.visited)).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6), ids.slice(0, 3)]);
    expect(runs.map((r) => [r.from, r.cursor])).toEqual([[null, ids[2]], [ids[2], ids[5]], [ids[5], null], [null, ids[2]]]);
    expect(runs.every((r) => r.subrequests <= budget)).toBe(true);
    expect(runs.slice(0, 3).flatMap((r) => r.checked).sort()).toEqual(ids);
    expect(runs.map((r) => r.prewarmed)).toEqual(Array(4).fill([keySetIdOf(issuer.issuer, null)]));
  });

  it('starts no tenant past the run deadline, so runs never overlap; the next run resumes', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const base = uniqueTenant('late').id;
    const ids = Array.from({ length: 8 }, (_, i) => `${base}-${i}`);
    for (const id of ids) await addTenant(directory, { id, hosts: [`${id}.test`], dnsCheck: { type: 'CNAME', target: TARGET } });
    // The clock reads: the deadline's start, the first wave's check, then past the deadline.
    let reads = 0;
    const late = await run(directory, doh.url, { now: () => (++reads <= 2 ? t : t + RUN_DEADLINE_MS) });
    expect(late.visited).toEqual(ids.slice(0, 6)); // one wave of six
    expect(late.cursor).toBe(ids[5]);
    const next = await run(directory, doh.url);
    expect(next.visited).toEqual(ids.slice(6));
    expect(next.cursor).toBeNull();
  });

  it('passes over, with a log line, a tenant with more hosts than any run can resolve', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const base = uniqueTenant('big').id;
    await addTenant(directory, { id: `${base}-a`, hosts: Array.from({ length: 10 }, (_, i) => `h${i}.${base}.test`), dnsCheck: { type: 'CNAME', target: TARGET } });
    await addTenant(directory, { id: `${base}-b`, hosts: [`${base}.test`], dnsCheck: { type: 'CNAME', target: TARGET } });
    const result = await run(directory, doh.url, { subrequests: 9 });
    expect(result.skipped).toEqual([`${base}-a`]);
    expect(result.checked).toEqual([`${base}-b`]);
    expect(logs.find((l) => l.event === 'scheduled_skip')).toMatchObject({ tenant: `${base}-a` });
  });
});

describe('IssuerKeys pre-warm', () => {
  it('refetches key sets expiring before the next run, leaves fresh ones, skips held tenants, once per issuer', async () => {
    const directory = ownDirectory();
    const doh = dohStandIn();
    const soon = await TestIssuer.create({ cacheControl: 'max-age=120' });
    const fresh = await TestIssuer.create({ cacheControl: 'max-age=3600' });
    const cold = await TestIssuer.create();
    const heldOnly = await TestIssuer.create();
    const issuersOf = (...list: TestIssuer[]) => list.map((i) => ({ issuer: i.issuer, audiences: ['https://api.test'] }));

    // The objects' clocks move with the test's, so the 30 s refresh cool-down can pass.
    for (const i of [soon, fresh]) {
      const stub = issuerKeysStub(env.ISSUER_KEYS, keySetIdOf(i.issuer, null));
      await runInDurableObject(stub, (instance: IssuerKeys) => { instance.now = () => t; });
      expect((await stub.keySet({ issuer: i.issuer, jwksUri: null, refresh: false, allowInsecure: false })).ok).toBe(true);
    }
    t += 60_000;

    const base = uniqueTenant('warm').id;
    await addTenant(directory, { id: `${base}-a`, hosts: [`a.${base}.test`], issuers: issuersOf(soon, fresh) });
    await addTenant(directory, { id: `${base}-b`, hosts: [`b.${base}.test`], issuers: issuersOf(soon, cold) });
    await addTenant(directory, { id: `${base}-c`, hosts: [`c.${base}.test`], issuers: issuersOf(heldOnly) });
    await tenantStateStub(env.TENANT_STATE, `${base}-c`).setStatus('hold');

    const result = await run(directory, doh.url);
    const id = (i: TestIssuer) => keySetIdOf(i.issuer, null);
    expect(result.prewarmed).toEqual([id(soon), id(fresh), id(cold)]);
    expect([...result.refetched].sort()).toEqual([id(soon), id(cold)].sort());
    expect(await soon.hits('/jwks')).toBe(2);
    expect(await fresh.hits('/jwks')).toBe(1);
    expect(await cold.hits('/jwks')).toBe(1);
    expect(await heldOnly.hits()).toBe(0);
  });
});

describe('the Worker entry', () => {
  it('runs through the exported scheduled handler on the global Directory and saves its cursor', async () => {
    const doh = dohStandIn();
    const { id, domain } = uniqueTenant('entry');
    const global = env.DIRECTORY.get(env.DIRECTORY.idFromName(DIRECTORY_NAME));
    await addTenant(global, { id, hosts: [`api.${domain}`], dnsCheck: { type: 'CNAME', target: TARGET } });
    await doh.rcode(`api.${domain}`, 'CNAME', 3);
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { lines.push(args.map(String).join(' ')); });

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: t, cron: '*/5 * * * *' }), { ...env, DOH_URL: doh.url }, ctx);
    await waitOnExecutionContext(ctx);

    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.find((l) => l.event === 'dns_drift' && l.tenant === id)).toMatchObject({ failures: 1 });
    expect(parsed.find((l) => l.event === 'scheduled_run')).toMatchObject({ cycleDone: true, cursor: null });
  });
});
