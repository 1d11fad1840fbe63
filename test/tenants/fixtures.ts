// Tenant configs and KV seeding for tenant and admin tests.
//
//   await seed(config('acme', ['api.acme.com']));      // host/<pattern> copies, as the Directory writes them
//   const counted = countingKv(env.TENANTS);            // counted.kv for resolve, counted.reads after
import { env } from 'cloudflare:workers';
import { hostKey, tenantKey } from '../../src/tenants/kv-keys';
import { storedRecord } from '../../src/tenants/record';
import { parseTenantConfig } from '../../src/config/schema';
import type { TenantKv } from '../../src/tenants/store';

export function config(id: string, hosts: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, hosts, issuers: [{ issuer: 'https://issuer.example/', audiences: ['https://api.example'] }], ...extra };
}

/** Writes a valid config the way the Directory does: `tenant/<id>` and one copy per host. */
export async function seed(input: Record<string, unknown>): Promise<void> {
  const parsed = parseTenantConfig(input);
  if (!parsed.ok) throw new Error(`fixture is invalid: ${JSON.stringify(parsed.issues)}`);
  const { json } = await storedRecord(parsed.config);
  await env.TENANTS.put(tenantKey(parsed.config.id), json);
  for (const host of parsed.config.hosts) await env.TENANTS.put(hostKey(host), json);
}

export function countingKv(kv: KVNamespace): { kv: TenantKv; readonly reads: number } {
  let reads = 0;
  const counted = { get: (...args: unknown[]) => { reads++; return (kv.get as (...a: unknown[]) => unknown)(...args); } };
  return { kv: counted as unknown as TenantKv, get reads() { return reads; } };
}

let counter = 0;
/** A tenant id and domain no other test uses (storage may be shared between tests). */
export function unique(prefix = 't'): { id: string; domain: string } {
  const n = `${Date.now().toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return { id: `${prefix}-${n}`, domain: `${prefix}${n}.test` };
}
