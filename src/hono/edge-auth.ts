// The HTTP door (README.md "Other ways in"): a Hono middleware that runs the verifier's pipeline
// and puts the verified identity on the context. It is what users install in their own Worker,
// and what the gateway is made of (app.ts: this middleware in front of a forwarding handler), so
// both answer metadata, preflights and every refusal with the same code.
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
import { systemClock, type Clock } from '../base/clock';
import { deny, noteOf, ok, type Denial, type Outcome } from '../base/denial';
import { isPreflight } from '../gateway/cors';
import type { Identity } from '../gateway/forward';
import { edgeAnswer, passThrough, decisionHeaders } from '../gateway/http';
import { finishDecision, type DecisionOutcome } from '../gateway/log';
import { publicDocumentOf } from '../gateway/metadata';
import { requestUrl, type RequestUrl } from '../gateway/request-url';
import { createPipeline, ioOf, type Pipeline, type PipelineBindings, type TenantLookup } from '../gateway/pipeline';
import { denialResponse } from '../gateway/respond';
import { methodOverridesOf } from '../policy/routes';
import { settingsOf, type Settings, type SettingsVars } from '../config/settings';
import { parseTenantConfig, type ConfigIssue, type TenantConfigInput } from '../config/schema';
import { compileTenant, type Tenant } from '../tenants/tenant';
import { certificateOfRequest } from '../possession/certificate';
import { extractCredentials } from '../verify/extract';
import type { TokenCache } from '../verify/token-cache';

export type { Identity as AuthIdentity } from '../gateway/forward';
export type { TenantConfig, TenantConfigInput } from '../config/schema';
export { createTokenCache, type TokenCache } from '../verify/token-cache';
// The objects it binds, for a Worker that hosts them itself rather than binding the gateway's.
export { IssuerKeys } from '../keys/issuer-keys';
export { DpopReplay } from '../possession/dpop-replay';
export { RateLimiter } from '../limits/rate-limiter';
export { TenantState } from '../revocation/tenant-state';

/** What the middleware decided, for what runs after it (the gateway's forwarding handler). */
export interface EdgeDecision {
  readonly requestId: string;
  readonly tenant: Tenant;
  /** The request's URL as read once (the forwarding handler builds the origin's from it). */
  readonly target: RequestUrl;
  /** A CORS preflight of a tenant without `cors`: sent on to the origin without a token. */
  readonly preflight: boolean;
}

/** `c.get('auth')`: the verified identity, or null on an `auth: none` route. */
export type EdgeAuthVariables = { auth: Identity | null; edgeDecision: EdgeDecision };

/** ISSUER_KEYS is required; TENANT_STATE adds status and revocation, RATE_LIMITER limits. */
export interface EdgeAuthBindings extends PipelineBindings, SettingsVars {
  /** Only for `tenant: 'kv'`. */
  TENANTS?: KVNamespace;
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

/** Thrown by a handler after edgeAuth when the origin cannot be reached: the middleware answers
 *  it with the contract's 502 upstream_unavailable (after Hono's onError has run). */
export class UpstreamUnavailable extends Error {
  constructor(cause: unknown) {
    super(noteOf(cause));
    this.name = 'UpstreamUnavailable';
  }
}

export function edgeAuth(options: EdgeAuthOptions): MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const now = options.now ?? systemClock;
  return edgeAuthWith(createPipeline({ now, tokenCache: options.tokenCache }), options);
}

/** The middleware over a given pipeline: the gateway shares the isolate's with the RPC door.
 *  `handlerStep` names the time spent after the middleware in the log and Server-Timing. */
export function edgeAuthWith(pipeline: Pipeline, options: EdgeAuthOptions & { handlerStep?: string }): MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const random = options.random ?? Math.random;
  const handlerStep = options.handlerStep ?? 'handler';
  const lookup = tenantLookup(options.tenant);

  return async (c, next) => {
    const bindings: EdgeAuthBindings = options.bindings ? options.bindings(c) : c.env as EdgeAuthBindings;
    const settings = settingsOf(bindings);
    const request = c.req.raw;
    const target = requestUrl(request.url);
    const { host } = target;
    const headers = request.headers;
    const decided = await pipeline.decide({
      host,
      requestId: headers.get('cf-ray') ?? newRequestId(),
      method: request.method,
      methodOverrides: methodOverridesOf(request.method, headers, target.search),
      pathname: target.pathname,
      credentials: extractCredentials(headers.get('authorization'), target.search),
      proof: headers.get('dpop'),
      url: target.href,
      certificate: certificateOfRequest(request.cf),
      clientIp: headers.get('cf-connecting-ip'),
      http: { request, origin: headers.get('origin'), preflight: isPreflight(request), metadata: publicDocumentOf(request.method, target.pathname) },
      tenants: lookup(c, bindings, settings),
    }, ioOf(bindings, settings, waitUntilOf(c)));
    const finish = (outcome: DecisionOutcome, status: number, denial?: Denial) =>
      finishDecision(decided.log, { outcome, status, denial }, { sampleRate: settings.logSampleRate, random, startedAt: decided.startedAt, now: pipeline.now() });

    const { verdict } = decided;
    if (verdict.kind !== 'passed') {
      const answer = edgeAnswer({ ...decided, verdict }, host);
      finish(verdict.kind === 'refused' ? 'denied' : verdict.kind, answer.status, verdict.kind === 'refused' ? verdict.denial : undefined);
      return answer;
    }

    c.set('auth', verdict.identity);
    c.set('edgeDecision', { requestId: decided.log.requestId, tenant: verdict.tenant, preflight: verdict.preflight, target });
    const started = pipeline.now();
    await next();
    decided.log.ms[handlerStep] = pipeline.now() - started;

    const outcome = verdict.preflight ? 'preflight' : verdict.identity === null ? 'public' : 'allowed';
    if (c.error instanceof UpstreamUnavailable) {
      const denial: Denial = { error: 'upstream_unavailable', note: c.error.message };
      replaceResponse(c, denialResponse(denial, { host, requestId: decided.log.requestId, headers: decisionHeaders(decided), challenge: decided.challenge }));
      finish(outcome, c.res.status, denial);
      return;
    }
    const answered = passThrough(c.res, decided, settings.debugTiming);
    if (answered !== c.res) replaceResponse(c, answered);
    // A handler's throw is the handler's (its onError answered); the log says so.
    finish(outcome, c.res.status, c.error === undefined ? undefined : { error: 'internal_error', note: noteOf(c.error) });
  };
}


/** The pipeline's tenant lookup for a request. Compiles once what can be compiled once: a single
 *  config at creation, a resolver's configs once per returned object. */
function tenantLookup(source: EdgeAuthOptions['tenant']): (c: AnyContext, bindings: EdgeAuthBindings, settings: Settings) => TenantLookup {
  if (source === 'kv') {
    const unbound: TenantLookup = { find: () => Promise.reject(new Error("edgeAuth({ tenant: 'kv' }) needs a TENANTS binding")) };
    return (_c, bindings, settings) =>
      (bindings.TENANTS ? { kv: bindings.TENANTS, cacheSeconds: settings.tenantCacheSeconds, secrets: settings.secrets } : unbound);
  }
  if (typeof source === 'function') {
    const compiled = new WeakMap<object, Outcome<Tenant>>();
    const tenantFor = (config: unknown): Outcome<Tenant> => {
      if (config === null || config === undefined) return deny({ error: 'unknown_host' });
      if (typeof config !== 'object') return invalid([{ path: '', message: 'not an object' }]);
      let tenant = compiled.get(config);
      if (tenant === undefined) {
        const parsed = parseTenantConfig(config);
        tenant = parsed.ok ? ok(compileTenant(parsed.config)) : invalid(parsed.issues);
        compiled.set(config, tenant);
      }
      return tenant;
    };
    return (c) => ({ find: async () => tenantFor(await source(c)) });
  }
  const parsed = parseTenantConfig(source);
  if (!parsed.ok) throw new EdgeAuthConfigError(parsed.issues);
  const tenant = ok(compileTenant(parsed.config));
  const fixed: TenantLookup = { find: async () => tenant };
  return () => fixed;
}

function invalid(issues: readonly ConfigIssue[]): Outcome<Tenant> {
  console.log(JSON.stringify({ event: 'tenant_config_invalid', issues }));
  return deny({ error: 'tenant_config_invalid' });
}

/** Hono's c.res setter copies the old response's headers over the new one's (and the body into
 *  a new Response): ours already hold every header of the old one and must win, so the old one
 *  goes first. */
function replaceResponse(c: AnyContext, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/** A request id where Cloudflare gave none (cf-ray is there in production): unique per isolate by
 *  a counter behind a random prefix, which is all a log needs, without a random UUID a request. */
let isolatePrefix: string | null = null;
let requestCounter = 0;
export function newRequestId(): string {
  // Random values may not be made at global scope in Workers: on the first request.
  isolatePrefix ??= crypto.randomUUID().slice(0, 13);
  return `${isolatePrefix}-${(++requestCounter).toString(36)}`;
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
