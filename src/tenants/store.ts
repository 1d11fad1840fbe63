// The request path's tenant lookup (SPEC.md "Tenant configuration"): a request host to its
// compiled Tenant with one KV read per cold host; found, unknown and invalid answers are all
// cached per isolate for TENANT_CACHE_SECONDS.
//
//   const tenants = createTenantStore({ now: systemClock });          // once per isolate
//   const found = await tenants.resolve(normalizeRequestHost(url), {
//     kv: env.TENANTS, cacheSeconds: tenantCacheSecondsOf(env.TENANT_CACHE_SECONDS) });
//   if (!found.ok) return found.denial;      // unknown_host | tenant_config_invalid
//   found.value.tenant.routes.match(method, path);
import { BoundedCache, type CacheCounters } from '../cache';
import type { Clock } from '../clock';
import { deny, ok, type Outcome } from '../denial';
import { hostLookupOrder } from './hosts';
import { hostKey } from './kv-keys';
import { parseTenantConfig, type ConfigIssue, type TenantConfig } from './schema';
import { compileTenant, type Tenant } from './tenant';

/** TENANT_CACHE_SECONDS's default (wrangler.toml sets the same). */
export const DEFAULT_TENANT_CACHE_SECONDS = 30;

/** TENANT_CACHE_SECONDS as seconds: "0" turns the isolate cache off; unset or unparsable is
 *  the default. Every door reads the var through this. */
export function tenantCacheSecondsOf(value: string | undefined): number {
  const seconds = value === undefined || value.trim() === '' ? Number.NaN : Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : DEFAULT_TENANT_CACHE_SECONDS;
}

export interface ResolvedTenant {
  readonly tenant: Tenant;
  /** The stored pattern the host was found under: the host itself, or its one-label wildcard. */
  readonly pattern: string;
  /** Answered from this isolate's cache (true) or read from KV (false), for the decision log. */
  readonly cached: boolean;
}

/** The part of the TENANTS binding the lookup uses (tests wrap it to count reads). */
export type TenantKv = Pick<KVNamespace, 'get'>;

export interface TenantSource {
  readonly kv: TenantKv;
  readonly cacheSeconds: number;
}

export interface TenantStore {
  /** `host` is already normalized (normalizeRequestHost): lowercase ASCII, no port, no trailing dot. */
  /** Synchronous when this isolate's cache answers (the hot path). */
  resolve(host: string, source: TenantSource): Outcome<ResolvedTenant> | Promise<Outcome<ResolvedTenant>>;
  readonly counters: { readonly tenants: Readonly<CacheCounters>; readonly refusals: Readonly<CacheCounters> };
}

export function createTenantStore(options: {
  now: Clock;
  maxEntries?: number;
  /** Seam for tests; the request path always compiles with compileTenant. */
  compile?: (config: TenantConfig) => Tenant;
}): TenantStore {
  const maxEntries = options.maxEntries ?? 10_000;
  const compile = options.compile ?? compileTenant;
  // Refusals live in their own cache so a flood of unknown hosts cannot evict real tenants.
  const tenants = new BoundedCache<string, Outcome<ResolvedTenant>>({ now: options.now, maxEntries });
  const refusals = new BoundedCache<string, Outcome<ResolvedTenant>>({ now: options.now, maxEntries });
  /** The record text each compiled tenant came from. */
  const compiledFrom = new WeakMap<Tenant, string>();

  /** The tenant compiled from the same record under the same pattern, kept across reloads: no
   *  re-parse, and what hangs off its identity (verified tokens) stays valid. */
  function unchanged(host: string, pattern: string, text: string): Outcome<ResolvedTenant> | null {
    const previous = tenants.getStale(host)?.value;
    if (previous === undefined || !previous.ok || previous.value.pattern !== pattern) return null;
    return compiledFrom.get(previous.value.tenant) === text ? ok({ ...previous.value, cached: false }) : null;
  }

  async function load(host: string, source: TenantSource): Promise<Outcome<ResolvedTenant>> {
    const patterns = hostLookupOrder(host);
    // Text, not 'json': a record that is not JSON must be this tenant's 500, not a thrown read.
    const records = await source.kv.get(patterns.map(hostKey), 'text');
    const pattern = patterns.find((p) => typeof records.get(hostKey(p)) === 'string');
    const outcome = pattern === undefined
      ? deny({ error: 'unknown_host' })
      : unchanged(host, pattern, records.get(hostKey(pattern))!) ?? admit(host, pattern, records.get(hostKey(pattern))!, compile);
    const ttlMs = source.cacheSeconds * 1000;
    if (outcome.ok) {
      compiledFrom.set(outcome.value.tenant, records.get(hostKey(outcome.value.pattern))!);
      refusals.delete(host);
      tenants.set(host, ok({ ...outcome.value, cached: true }), { ttlMs });
    } else {
      tenants.delete(host);
      refusals.set(host, outcome, { ttlMs });
    }
    return outcome;
  }

  return {
    resolve(host, source) {
      const cached = tenants.get(host) ?? refusals.get(host);
      if (cached !== undefined) return cached;
      // Concurrent cold requests each read: sharing one request's KV promise with another is
      // cross-request I/O in workerd. A thrown read is not cached; the pipeline answers 500.
      return load(host, source);
    },
    counters: {
      get tenants() { return tenants.counters; },
      get refusals() { return refusals.counters; },
    },
  };
}

/** A stored record becomes a Tenant only if it validates, lists the pattern it was found under
 *  (a stale copy must not keep serving a host its tenant dropped) and compiles. */
function admit(host: string, pattern: string, text: string, compile: (config: TenantConfig) => Tenant): Outcome<ResolvedTenant> {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return invalid(host, undefined, [{ path: '', message: 'not JSON' }]);
  }
  const parsed = parseTenantConfig(record);
  if (!parsed.ok) return invalid(host, record, parsed.issues);
  if (!parsed.config.hosts.includes(pattern)) {
    return invalid(host, record, [{ path: '/hosts', message: `does not list ${pattern}, the key it was found under` }]);
  }
  try {
    return ok({ tenant: compile(parsed.config), pattern, cached: false });
  } catch (error) {
    return invalid(host, record, [{ path: '', message: `does not compile: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}

function invalid(host: string, record: unknown, issues: ConfigIssue[]): Outcome<ResolvedTenant> {
  const id = typeof record === 'object' && record !== null && 'id' in record ? record.id : undefined;
  const tenant = typeof id === 'string' ? id : null;
  // Logged once per load, then cached like any answer, so a bad record is not re-read per request.
  console.log(JSON.stringify({ event: 'tenant_config_invalid', host, tenant, issues }));
  return deny({ error: 'tenant_config_invalid' });
}
