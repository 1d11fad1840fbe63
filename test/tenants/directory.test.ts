// The Directory object: claims are exclusive, writes of one tenant run one at a time, and a
// write that stopped half way is finished by repeating it.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { runScheduled } from '../../src/cron/scheduled';
import type { Directory } from '../../src/tenants/directory';
import { DIRECTORY_NAME, hostKey, tenantKey } from '../../src/tenants/kv-keys';
import { parseTenantConfig, type TenantConfig } from '../../src/config/schema';
import { config, unique } from './fixtures';

const directory = () => env.DIRECTORY.get(env.DIRECTORY.idFromName(DIRECTORY_NAME));
function valid(input: Record<string, unknown>): TenantConfig {
  const parsed = parseTenantConfig(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.config;
}

describe('Directory', () => {
  it('reports the hosts a tenant holds and releases dropped ones', async () => {
    const { id, domain } = unique('acme');
    await directory().put(valid(config(id, [`b.${domain}`, `a.${domain}`])), null);
    expect(await directory().hostsOf(id)).toEqual([`a.${domain}`, `b.${domain}`]);
    await directory().put(valid(config(id, [`a.${domain}`])), null);
    expect(await directory().hostsOf(id)).toEqual([`a.${domain}`]);
    await directory().remove(id, null);
    expect(await directory().hostsOf(id)).toEqual([]);
  });

  it('runs concurrent writes of one tenant one after another, leaving KV consistent', async () => {
    const { id, domain } = unique('acme');
    const first = valid(config(id, [`a.${domain}`, `b.${domain}`]));
    const second = valid(config(id, [`a.${domain}`, `c.${domain}`]));
    const results = await Promise.all([directory().put(first, null), directory().put(second, null)]);
    expect(results.map((r) => r.ok && r.created).sort()).toEqual([false, true]);
    // Whichever ran second is what KV holds, with no host copy left over from the first.
    const last = results[0]!.ok && !results[0]!.created ? first : second;
    const dropped = last === first ? `c.${domain}` : `b.${domain}`;
    const record = await env.TENANTS.get(tenantKey(id), 'text');
    expect(JSON.parse(record!)).toEqual(last);
    for (const host of last.hosts) expect(await env.TENANTS.get(hostKey(host), 'text')).toBe(record);
    expect(await env.TENANTS.get(hostKey(dropped))).toBeNull();
    expect(await directory().hostsOf(id)).toEqual([...last.hosts].sort());
  });

  it('keeps the claims of a write that stopped half way, so repeating it finishes the job', async () => {
    const a = unique('a');
    const b = unique('b');
    const host = `api.${a.domain}`;
    // A create that claimed its host and then died before any KV write.
    await runInDurableObject(directory(), (_, state) => {
      state.storage.sql.exec('INSERT INTO claims (host, tenant) VALUES (?, ?)', host, a.id);
    });
    const taken = await directory().put(valid(config(b.id, [host])), null);
    expect(taken).toEqual({ ok: false, refusal: { error: 'host_conflict', conflicts: [{ host, tenant: a.id }] } });
    const finished = await directory().put(valid(config(a.id, [host])), null);
    expect(finished.ok && finished.created).toBe(true);
    expect(JSON.parse((await env.TENANTS.get(hostKey(host), 'text'))!).id).toBe(a.id);
  });

  it('lets DELETE clean up a tenant known only by its claims', async () => {
    const { id, domain } = unique('acme');
    await runInDurableObject(directory(), (_, state) => {
      state.storage.sql.exec('INSERT INTO claims (host, tenant) VALUES (?, ?)', `api.${domain}`, id);
    });
    expect(await directory().remove(id, null)).toEqual({ ok: true, before: null });
    expect(await directory().hostsOf(id)).toEqual([]);
    expect(await directory().remove(id, null)).toEqual({ ok: false, refusal: { error: 'unknown_tenant' } });
  });
});

describe('repairing writes a failure left half done', () => {
  /** A Directory of its own, whose KV fails the calls `fails` picks until `heal()`. */
  async function flakyDirectory(fails: (op: 'put' | 'delete', key: string) => boolean) {
    const stub = env.DIRECTORY.get(env.DIRECTORY.idFromName(`repair-${unique().id}`));
    const broken = {
      get: env.TENANTS.get.bind(env.TENANTS),
      put: (key: string, value: string) => fails('put', key) ? Promise.reject(new Error('KV put failed')) : env.TENANTS.put(key, value),
      delete: (key: string) => fails('delete', key) ? Promise.reject(new Error('KV delete failed')) : env.TENANTS.delete(key),
    };
    await runInDurableObject(stub, (instance: Directory) => { Object.assign(instance, { env: { ...env, TENANTS: broken } }); });
    return {
      stub,
      heal: () => runInDurableObject(stub, (instance: Directory) => { Object.assign(instance, { env }); }),
      age: () => runInDurableObject(stub, (_, state) => { state.storage.sql.exec('UPDATE pending SET since = since - 120000'); }),
    };
  }

  it('finishes a PUT that wrote the record but none of its host copies', async () => {
    const { id, domain } = unique('half');
    const tenant = valid(config(id, [`api.${domain}`, `www.${domain}`]));
    const { stub, heal } = await flakyDirectory((op, key) => op === 'put' && key.startsWith('host/'));
    expect(await stub.put(tenant, null)).toEqual({ ok: false, refusal: { error: 'incomplete', note: 'KV put failed' } });
    expect(await env.TENANTS.get(hostKey(`api.${domain}`))).toBeNull();
    await heal();
    expect(await stub.repairPending(60_000)).toEqual([]); // too young: it may still be under way
    expect(await stub.repairPending(0)).toEqual([{ id, op: 'put', result: 'finished' }]);
    for (const host of tenant.hosts) expect(JSON.parse((await env.TENANTS.get(hostKey(host), 'text'))!)).toEqual(tenant);
    expect(await stub.recordOf(id)).toMatchObject({ json: JSON.stringify(tenant) });
    expect(await stub.repairPending(0)).toEqual([]);
  });

  it('never replays a failed write over a later one that succeeded', async () => {
    const { id, domain } = unique('half');
    let failing = true;
    const { stub } = await flakyDirectory((op, key) => failing && op === 'put' && key.startsWith('host/'));
    expect((await stub.put(valid(config(id, [`old.${domain}`])), null)).ok).toBe(false);
    failing = false;
    const later = valid(config(id, [`new.${domain}`]));
    expect((await stub.put(later, null)).ok).toBe(true);
    expect(await stub.repairPending(0)).toEqual([]);
    expect(JSON.parse((await env.TENANTS.get(tenantKey(id), 'text'))!)).toEqual(later);
    expect(await env.TENANTS.get(hostKey(`old.${domain}`))).toBeNull();
  });

  it('finishes a DELETE that removed the host copies but not the record, and frees the hosts', async () => {
    const { id, domain } = unique('half');
    const { stub, heal } = await flakyDirectory((op, key) => op === 'delete' && key === tenantKey(id));
    expect((await stub.put(valid(config(id, [`api.${domain}`])), null)).ok).toBe(true);
    expect(await stub.remove(id, null)).toEqual({ ok: false, refusal: { error: 'incomplete', note: 'KV delete failed' } });
    expect(await env.TENANTS.get(hostKey(`api.${domain}`))).toBeNull();
    await heal();
    expect(await stub.repairPending(0)).toEqual([{ id, op: 'remove', result: 'finished' }]);
    expect(await env.TENANTS.get(tenantKey(id))).toBeNull();
    expect(await stub.hostsOf(id)).toEqual([]);
  });

  it('is the first thing every cron run does', async () => {
    const { id, domain } = unique('half');
    const { stub, heal, age } = await flakyDirectory((op, key) => op === 'put' && key.startsWith('host/'));
    expect((await stub.put(valid(config(id, [`api.${domain}`])), null)).ok).toBe(false);
    await heal();
    await age();
    const lines: Record<string, unknown>[] = [];
    const run = await runScheduled(env, { now: () => Date.now(), directory: stub, log: (line) => lines.push(line) });
    expect(run.repaired).toEqual([{ id, op: 'put', result: 'finished' }]);
    expect(lines).toContainEqual({ event: 'tenant_write_repaired', id, op: 'put', result: 'finished' });
    expect(await env.TENANTS.get(hostKey(`api.${domain}`))).not.toBeNull();
  });
});
