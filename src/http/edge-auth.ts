// The HTTP door (README.md "Other ways in"): a Hono middleware that runs the verifier's pipeline
// and puts the verified identity on the context. It is what users install in their own Worker,
// and what the gateway is made of (app.ts: this middleware in front of a forwarding handler), so
// both answer metadata, preflights, revocation events and every refusal with the same code.
//
//   import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
//   const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();
//   app.use('*', edgeAuth({ tenant: { id: 'acme', hosts: ['api.acme.com'], issuers: [...] } }));
//   app.get('/orders', (c) => c.json({ user: c.get('auth')?.subject }));
//
// `tenant` is one config (single tenant), a resolver `(c) => config | null`, or 'kv' to look the
// host up in a TENANTS namespace the way the gateway does (tenant-lookup.ts). The bindings it uses
// come from `bindings(c)` (default: c.env): ISSUER_KEYS is required; without TENANT_STATE there is
// no status or revocation, without RATE_LIMITER no rate limits. Bind them to the gateway's
// objects with `script_name` so revocations and limits are shared.
//
// A handler after it sees `auth` alone: the compiled tenant, shared by every request of the
// isolate, stays with the door (admittedOf, for the gateway's forwarder).
import type { MiddlewareHandler } from 'hono';
import { systemClock, type Clock } from '../base/clock';
import { noteOf, type Denial } from '../base/denial';
import { settingsOf, type Settings, type SettingsVars } from '../config/settings';
import type { SsfStream } from '../events/ssf-stream';
import { decide } from '../pipeline/decide';
import type { Decided } from '../pipeline/verdict';
import type { Identity } from '../pipeline/identity';
import { ioOf, type PipelineBindings } from '../pipeline/io';
import { createIsolate, type Isolate } from '../pipeline/isolate';
import { finishDecision, type DecisionEnd } from '../pipeline/record';
import type { TenantConfigInput } from '../config/schema';
import type { Tenant } from '../tenants/tenant';
import type { TokenCache } from '../verify/token-cache';
import { decisionHeaders, edgeAnswer, passThrough } from './answers';
import { eventResponse } from './events';
import { pipelineRequestOf } from './request';
import { requestUrl, type RequestUrl } from './request-url';
import { denialResponse } from './respond';
import { tenantLookup, type AnyContext, type TenantResolver } from './tenant-lookup';

export { EdgeAuthConfigError, type TenantResolver } from './tenant-lookup';

/** `c.get('auth')`: the verified identity, or null on an `auth: none` route. */
export type EdgeAuthVariables = { auth: Identity | null };

/** ISSUER_KEYS is required; TENANT_STATE adds status and revocation, RATE_LIMITER limits. */
export interface EdgeAuthBindings extends PipelineBindings, SettingsVars {
  /** Only for `tenant: 'kv'`. */
  TENANTS?: KVNamespace;
  /** The gateway's SSF stream objects: a push from a transmitter the edge manages a push stream
   *  at must then carry the stream's authorization_header. */
  SSF_STREAMS?: DurableObjectNamespace<SsfStream>;
}

export interface EdgeAuthOptions {
  tenant: TenantConfigInput | 'kv' | TenantResolver;
  bindings?: (c: AnyContext) => EdgeAuthBindings;
  now?: Clock;
  random?: () => number;
  /** The verified-token cache: by default one per middleware (10,000 tokens or 8 MiB); pass
   *  one from createTokenCache to read its counters, or false to verify every token every time. */
  tokenCache?: TokenCache | false;
}

export function edgeAuth(options: EdgeAuthOptions): MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const now = options.now ?? systemClock;
  return edgeAuthWith(createIsolate({ now, tokenCache: options.tokenCache }), options);
}

/** The middleware over a given isolate state: the gateway shares the Worker's with the RPC door.
 *  `handlerStep` names the time spent after the middleware in the log and Server-Timing. */
export function edgeAuthWith(isolate: Isolate, options: EdgeAuthOptions & { handlerStep?: string }):
  MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const random = options.random ?? Math.random;
  const handlerStep = options.handlerStep ?? 'handler';
  const lookup = tenantLookup(options.tenant);

  return async (c, next) => {
    const bindings: EdgeAuthBindings = options.bindings ? options.bindings(c) : c.env as EdgeAuthBindings;
    const settings = settingsOf(bindings);
    const target = requestUrl(c.req.url);
    const io = ioOf(bindings, settings, waitUntilOf(c));
    const decided = await decide(isolate, pipelineRequestOf(c.req.raw, target, lookup(c, bindings, settings)), io);

    const { verdict } = decided;
    if (verdict.kind === 'event') {
      const started = isolate.now();
      const answer = await eventResponse(verdict, c.req.raw, decided.record.requestId, isolate, io, bindings.SSF_STREAMS ?? null);
      decided.record.ms.event = isolate.now() - started;
      finish(decided, { outcome: 'event', status: answer.status }, settings, random, isolate.now());
      return answer;
    }
    if (verdict.kind !== 'passed') {
      const answer = edgeAnswer(decided, verdict, target.host);
      const denial = verdict.kind === 'refused' ? verdict.denial : undefined;
      const outcome = verdict.kind === 'refused' ? 'denied' : verdict.kind;
      finish(decided, { outcome, status: answer.status, denial }, settings, random, isolate.now());
      return answer;
    }

    c.set('auth', verdict.identity);
    const admitted = new Admitted(decided, verdict.tenant, target, verdict.preflight);
    admittedRequests.set(c, admitted);
    const started = isolate.now();
    await next();
    decided.record.ms[handlerStep] = isolate.now() - started;

    const outcome = verdict.preflight ? 'preflight' : verdict.identity === null ? 'public' : 'allowed';
    // Answered through the funnel after the door admitted it (the forwarder's 502): as it is.
    if (admitted.refusal !== null) {
      return finish(decided, { outcome, status: c.res.status, denial: admitted.refusal }, settings, random, isolate.now());
    }
    const answered = passThrough(c.res, decided, settings.debugTiming);
    if (answered !== c.res) replaceResponse(c, answered);
    // A handler's throw is the handler's (its onError answered); the log says so.
    const failed: Denial | undefined = c.error === undefined ? undefined : { error: 'internal_error', note: noteOf(c.error) };
    finish(decided, { outcome, status: c.res.status, denial: failed }, settings, random, isolate.now());
  };
}

/** A request the door admitted, as the gateway's forwarder needs it: kept by the door, never a
 *  context variable (the compiled tenant is the isolate's, shared by every request). */
export class Admitted {
  readonly decided: Decided;
  readonly tenant: Tenant;
  /** The request's URL as read once (the forwarder builds the origin's from it). */
  readonly target: RequestUrl;
  /** A CORS preflight of a tenant without `cors`: sent on to the origin without a token. */
  readonly preflight: boolean;
  /** A token this isolate verified before (a token cache hit): what follows from it alone may be
   *  kept for its next request. */
  readonly repeated: boolean;
  /** Set by refuse(): the door logs the answer as this refusal. */
  refusal: Denial | null = null;

  constructor(decided: Decided, tenant: Tenant, target: RequestUrl, preflight: boolean) {
    this.decided = decided;
    this.tenant = tenant;
    this.target = target;
    this.preflight = preflight;
    this.repeated = decided.record.tiers.token === 'hit';
  }

  get requestId(): string { return this.decided.record.requestId; }

  /** A refusal after admission (the origin cannot be reached: 502), through the one funnel with
   *  the decision's headers. */
  refuse(denial: Denial): Response {
    this.refusal = denial;
    const { decided } = this;
    return denialResponse(denial,
      { host: this.target.host, requestId: this.requestId, headers: decisionHeaders(decided), challenge: decided.challenge });
  }
}

const admittedRequests = new WeakMap<AnyContext, Admitted>();

/** What the door admitted for this request (the gateway's forwarder), or undefined. */
export const admittedOf = (c: AnyContext): Admitted | undefined => admittedRequests.get(c);

/** The one call that ends a decision's record, whichever way the door answered. */
function finish(decided: Decided, end: DecisionEnd, settings: Settings, random: () => number, now: number): void {
  finishDecision(decided.record, end, { sampleRate: settings.logSampleRate, random, startedAt: decided.startedAt, now });
}

/** Hono's c.res setter copies the old response's headers over the new one's (and the body into
 *  a new Response): ours already hold every header of the old one and must win, so the old one
 *  goes first. */
function replaceResponse(c: AnyContext, response: Response): void {
  c.res = undefined;
  c.res = response;
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
