// The Directory object: claims are exclusive, writes of one tenant run one at a time, and a
// write that stopped half way is finished by repeating it.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DIRECTORY_NAME, hostKey, tenantKey } from '../../src/tenants/kv-keys';
import { parseTenantConfig, type TenantConfig } from '../../src/tenants/schema';
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
