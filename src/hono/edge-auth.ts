// The library door (SPEC.md "Other ways in"): a Hono middleware that runs the verifier's pipeline
// inside the user's own Worker, without forwarding. It answers metadata, preflights and every
// refusal exactly as the gateway does, and puts the verified identity on the context.
//
//   import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
//   const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();
//   app.use('*', edgeAuth({ tenant: { id: 'acme', hosts: ['api.acme.com'], issuers: [...] } }));
//   app.get('/orders', (c) => c.json({ user: c.get('auth')?.subject }));
//
// `tenant` is one config (single tenant), a resolver `(c) => config | null`, or 'kv' to look the
// host up in a TENANTS namespace the way the gateway does. The bindings it uses come from
// `bindings(c)` (default: c.env): ISSUER_KEYS is required; without TENANT_STATE there is no
// status or revocation, without RATE_LIMITER no rate limits. Bind them to the gateway's objects
// with `script_name` so revocations and limits are shared.
import type { Context, MiddlewareHandler } from 'hono';
import { systemClock, type Clock } from '../clock';
import { deny, noteOf, ok, type Outcome } from '../denial';
import { Decision } from '../gateway/decision';
import type { Identity } from '../gateway/forward';
import { decideHttp } from '../gateway/http';
import { sampleRateOf } from '../gateway/log';
import { createPipeline, ioOf, type Pipeline, type PipelineBindings } from '../gateway/pipeline';
import { normalizeRequestHost } from '../tenants/hosts';
import { tenantCacheSecondsOf } from '../tenants/store';
import { parseTenantConfig, type ConfigIssue, type TenantConfigInput } from '../tenants/schema';
import { compileTenant, type Tenant } from '../tenants/tenant';
import type { TokenCache } from '../verify/token-cache';

export type { Identity as AuthIdentity } from '../gateway/forward';
export type { TenantConfig, TenantConfigInput } from '../tenants/schema';
export { createTokenCache, type TokenCache } from '../verify/token-cache';

/** What `c.get('auth')` holds: the verified identity, or null on an `auth: none` route. */
export type EdgeAuthVariables = { auth: Identity | null };

/** ISSUER_KEYS is required; TENANT_STATE adds status and revocation, RATE_LIMITER limits. */
export interface EdgeAuthBindings extends PipelineBindings {
  /** Only for `tenant: 'kv'`. */
  TENANTS?: KVNamespace;
  TENANT_CACHE_SECONDS?: string;
  LOG_SAMPLE_RATE?: string;
}

type AnyContext = Context<any, string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Finds the tenant config for a request (validated and compiled once per returned object);
 *  null or undefined answers 404 unknown_host. */
export type TenantResolver = (c: AnyContext) => unknown | Promise<unknown>;

export interface EdgeAuthOptions {
  tenant: TenantConfigInput | 'kv' | TenantResolver;
  bindings?: (c: AnyContext) => EdgeAuthBindings;
  now?: Clock;
  random?: () => number;
  /** The verified-token cache: by default one per middleware (10,000 tokens or 8 MiB); pass
   *  one from createTokenCache to read its counters, or false to verify every token every time. */
  tokenCache?: TokenCache | false;
}

/** A single-tenant config that fails validation: thrown at creation, with the issues' paths. */
export class EdgeAuthConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid tenant config: ${issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ')}`);
    this.name = 'EdgeAuthConfigError';
    this.issues = issues;
  }
}

export function edgeAuth(options: EdgeAuthOptions): MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const now = options.now ?? systemClock;
  const random = options.random ?? Math.random;
  const pipeline = createPipeline({ now, tokenCache: options.tokenCache });
  const tenantOf = tenantResolver(options.tenant, pipeline);

  return async (c, next) => {
    const url = new URL(c.req.url);
    const d = new Decision({ host: normalizeRequestHost(url), requestId: c.req.header('cf-ray') ?? crypto.randomUUID(), now });
    const bindings: EdgeAuthBindings = options.bindings ? options.bindings(c) : c.env as EdgeAuthBindings;
    const sampleRate = sampleRateOf(bindings.LOG_SAMPLE_RATE);
    let identity: Identity | null;
    let outcome: 'allowed' | 'public' | 'preflight';
    try {
      const found = tenantOf(c, bindings, d);
      const tenant = found instanceof Promise ? await found : found;
      const decided = tenant.ok
        ? await decideHttp(pipeline, tenant.value, c.req.raw, url, ioOf(bindings, waitUntilOf(c)), d)
        : { kind: 'answer' as const, response: d.deny(tenant.denial) };
      if (decided.kind === 'answer') {
        d.log(sampleRate, random);
        return decided.response;
      }
      ({ identity, outcome } = decided);
    } catch (error) {
      // A bug or a broken binding. The user's own handler is outside: its errors are Hono's onError's.
      const response = d.deny({ error: 'internal_error', note: noteOf(error) });
      d.log(1, random);
      return response;
    }
    c.set('auth', identity);
    await next();
    // Hono's c.res setter copies the old response into a new one: only when headers were added.
    const answered = d.answer(outcome, c.res);
    if (answered !== c.res) c.res = answered;
    d.log(sampleRate, random);
  };
}

/** Synchronous for a single config: nothing to wait for. */
type TenantOf = (c: AnyContext, bindings: EdgeAuthBindings, d: Decision) => Outcome<Tenant> | Promise<Outcome<Tenant>>;

/** Compiles once what can be compiled once: a single config at creation, a resolver's configs
 *  once per returned object. */
function tenantResolver(source: EdgeAuthOptions['tenant'], pipeline: Pipeline): TenantOf {
  if (source === 'kv') {
    return async (_c, bindings, d) => {
      if (!bindings.TENANTS) throw new Error("edgeAuth({ tenant: 'kv' }) needs a TENANTS binding");
      const resolved = await pipeline.resolveTenant(d.host, bindings.TENANTS, tenantCacheSecondsOf(bindings.TENANT_CACHE_SECONDS), d);
      return resolved.ok ? ok(resolved.value.tenant) : resolved;
    };
  }
  if (typeof source === 'function') {
    const compiled = new WeakMap<object, Outcome<Tenant>>();
    const tenantFor = (config: unknown, d: Decision): Outcome<Tenant> => {
      if (config === null || config === undefined) return deny({ error: 'unknown_host' });
      if (typeof config !== 'object') return invalid(d, [{ path: '', message: 'not an object' }]);
      let tenant = compiled.get(config);
      if (tenant === undefined) {
        const parsed = parseTenantConfig(config);
        tenant = parsed.ok ? ok(compileTenant(parsed.config)) : invalid(d, parsed.issues);
        compiled.set(config, tenant);
      }
      if (tenant.ok) d.record.tenant = tenant.value.id;
      return tenant;
    };
    return (c, _bindings, d) => {
      const config: unknown = source(c);
      // Any thenable, as `await` would take it; a plain config is compiled without a tick.
      return isThenable(config) ? Promise.resolve(config).then((value) => tenantFor(value, d)) : tenantFor(config, d);
    };
  }
  const parsed = parseTenantConfig(source);
  if (!parsed.ok) throw new EdgeAuthConfigError(parsed.issues);
  const tenant = ok(compileTenant(parsed.config));
  return () => tenant;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function invalid(d: Decision, issues: readonly ConfigIssue[]): Outcome<Tenant> {
  console.log(JSON.stringify({ event: 'tenant_config_invalid', host: d.host, issues }));
  return deny({ error: 'tenant_config_invalid' });
}

/** ctx.waitUntil, or, under app.request() in tests (no execution context), background work
 *  that just runs. */
function waitUntilOf(c: AnyContext): (promise: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return (promise) => { void promise.catch(() => undefined); };
  }
}
