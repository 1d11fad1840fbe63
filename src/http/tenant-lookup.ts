// How edgeAuth finds a request's tenant (README.md "Other ways in"): one config given in code
// (validated and compiled once, at creation), a resolver `(c) => config | null` (each returned
// config object validated and compiled once), or 'kv' to look the host up in a TENANTS namespace
// the way the gateway does.
//
//   const lookup = tenantLookup(options.tenant);        // throws EdgeAuthConfigError for a bad config
//   const tenants = kvTenantSource(env, settingsOf(env)); // the gateway's: by host in KV
//   decide(isolate, pipelineRequestOf(request, target, lookup(c, bindings, settings)), io);
import type { Context } from 'hono';
import { deny, ok, type Denial, type Outcome } from '../base/denial';
import { parseTenantConfig, type ConfigIssue, type TenantConfigInput } from '../config/schema';
import type { Settings } from '../config/settings';
import type { TenantLookup } from '../pipeline/request';
import type { TenantSource } from '../tenants/store';
import { compileTenant, type Tenant } from '../tenants/tenant';

export type AnyContext = Context<any, string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Finds the tenant config for a request (validated and compiled once per returned object);
 *  null or undefined answers 404 unknown_host. */
export type TenantResolver = (c: AnyContext) => unknown | Promise<unknown>;

/** A single-tenant config that fails validation: thrown at creation, with the issues' paths. */
export class EdgeAuthConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid tenant config: ${issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ')}`);
    this.name = 'EdgeAuthConfigError';
    this.issues = issues;
  }
}

/** The pipeline's tenant lookup for a request. Compiles once what can be compiled once: a single
 *  config at creation, a resolver's configs once per returned object. */
export function tenantLookup(source: TenantConfigInput | 'kv' | TenantResolver):
  (c: AnyContext, bindings: { TENANTS?: KVNamespace }, settings: Settings) => TenantLookup {
  if (source === 'kv') {
    const unbound: TenantLookup = { find: () => Promise.reject(new Error("edgeAuth({ tenant: 'kv' }) needs a TENANTS binding")) };
    return (_c, bindings, settings) => (bindings.TENANTS ? kvTenantSource({ TENANTS: bindings.TENANTS }, settings) : unbound);
  }
  if (typeof source === 'function') {
    const compiled = new WeakMap<object, Outcome<{ tenant: Tenant }>>();
    const tenantFor = (config: unknown): Outcome<{ tenant: Tenant }> => {
      if (config === null || config === undefined) return deny({ error: 'unknown_host' });
      if (typeof config !== 'object') return invalid([{ path: '', message: 'not an object' }]);
      let tenant = compiled.get(config);
      if (tenant === undefined) {
        const parsed = parseTenantConfig(config);
        tenant = parsed.ok ? ok({ tenant: compileTenant(parsed.config) }) : invalid(parsed.issues);
        compiled.set(config, tenant);
      }
      return tenant;
    };
    return (c) => ({ find: async () => tenantFor(await source(c)) });
  }
  const parsed = parseTenantConfig(source);
  if (!parsed.ok) throw new EdgeAuthConfigError(parsed.issues);
  const tenant = ok({ tenant: compileTenant(parsed.config) });
  const fixed: TenantLookup = { find: async () => tenant };
  return () => fixed;
}

/** Tenants by host in a TENANTS namespace, behind the isolate's cache (tenants/store.ts), as the
 *  gateway finds them: made once per settings (settingsOf makes those once per env object, and
 *  Workers hand every request of an isolate the same env). */
export function kvTenantSource(bindings: { readonly TENANTS: KVNamespace }, settings: Settings): TenantSource {
  const made = kvSources.get(settings);
  if (made !== undefined && made.kv === bindings.TENANTS) return made;
  const source = { kv: bindings.TENANTS, cacheSeconds: settings.tenantCacheSeconds, secrets: settings.secrets };
  kvSources.set(settings, source);
  return source;
}
const kvSources = new WeakMap<Settings, TenantSource>();

function invalid(issues: readonly ConfigIssue[]): { ok: false; denial: Denial } {
  console.log(JSON.stringify({ event: 'tenant_config_invalid', issues }));
  return deny({ error: 'tenant_config_invalid' });
}
