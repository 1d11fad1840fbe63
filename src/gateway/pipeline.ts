// The ordered pipeline every door shares (SPEC.md "Request outcomes"): tenant, status, perIp
// limit, route, credentials, verification, revocation, scopes, perSubject limit. The doors add
// only what is theirs: the gateway and the Hono middleware answer metadata and CORS preflights
// between status and perIp, and the gateway forwards; RPC returns a plain result.
//
//   const pipeline = createPipeline({ now });                  // once per isolate: caches live here
//   const io = ioOf(env, (promise) => ctx.waitUntil(promise));
//   const state = await pipeline.admit(tenant, io, d);         // 403 tenant_on_hold
//   const allowed = await pipeline.authorize(tenant, { method, pathname, credentials, clientIp, resource }, state.value, io, d);
//   if (allowed.ok) allowed.value.identity;                    // null on an auth:none route
import type { Clock } from '../clock';
import { deny, ok, type Denial, type Outcome } from '../denial';
import type { IssuerKeys } from '../keys/issuer-keys';
import { createKeyTiers } from '../keys/tiers';
import { DEFAULT_MATCH, pathRefusal, type RouteMatch } from '../policy/routes';
import { missingScopes } from '../policy/scopes';
import type { RateLimiter } from '../state/rate-limiter';
import { clientIpKey, createRateLimits, type LimitDecision, type LimitRequest } from '../state/rate-limits';
import { EMPTY_LIST } from '../state/revocation-list';
import type { TenantState, TenantStateSnapshot } from '../state/tenant-state';
import { createTenantStates, type StateRead } from '../state/tenant-states';
import { createTenantStore, type ResolvedTenant, type TenantKv } from '../tenants/store';
import type { Tenant } from '../tenants/tenant';
import { verifyToken } from '../verify/token';
import { createTokenCache, type TokenCache } from '../verify/token-cache';
import type { Decision } from './decision';
import type { Identity } from './forward';

/** The bindings and request-scoped I/O the steps use. The optional ones may be absent in a
 *  user's own Worker (Hono middleware): no TenantState means no status or revocation, no
 *  RateLimiter means no limits. */
export interface PipelineIo {
  readonly issuerKeys: DurableObjectNamespace<IssuerKeys>;
  readonly tenantState: DurableObjectNamespace<TenantState> | null;
  readonly rateLimiter: DurableObjectNamespace<RateLimiter> | null;
  readonly cache: Cache | null;
  readonly allowInsecure: boolean;
  waitUntil(promise: Promise<unknown>): void;
}

/** The bindings the steps read: the Worker's Env has them all; a user's own Worker (Hono
 *  middleware) may bind only ISSUER_KEYS. */
export interface PipelineBindings {
  ISSUER_KEYS: DurableObjectNamespace<IssuerKeys>;
  TENANT_STATE?: DurableObjectNamespace<TenantState>;
  RATE_LIMITER?: DurableObjectNamespace<RateLimiter>;
  ALLOW_INSECURE_ISSUERS?: string;
}

export function ioOf(bindings: PipelineBindings, waitUntil: (promise: Promise<unknown>) => void): PipelineIo {
  return {
    issuerKeys: bindings.ISSUER_KEYS,
    tenantState: bindings.TENANT_STATE ?? null,
    rateLimiter: bindings.RATE_LIMITER ?? null,
    cache: typeof caches === 'undefined' ? null : caches.default,
    allowInsecure: bindings.ALLOW_INSECURE_ISSUERS === 'true',
    waitUntil,
  };
}

/** What the authorization steps need of one request, whichever door it came through. */
export interface RequestFacts {
  readonly method: string;
  /** The WHATWG-normalized path; null (RPC without a path) applies the default policy. */
  readonly pathname: string | null;
  /** The bearer token, null when there is none, or the extractor's refusal. */
  readonly credentials: Outcome<string | null>;
  /** The effective RFC 8707 resource identifier (the tenant's, or https://<host>). */
  readonly resource: string;
}

export interface Authorized {
  readonly route: RouteMatch;
  /** null on an `auth: none` route. */
  readonly identity: Identity | null;
}

export interface Pipeline {
  /** Synchronous when the isolate's tenant cache answers. */
  resolveTenant(host: string, kv: TenantKv, cacheSeconds: number, d: Decision): Outcome<ResolvedTenant> | Promise<Outcome<ResolvedTenant>>;
  /** The status step: the tenant's state, denying `tenant_on_hold`. An unreachable state is not
   *  a denial here: it closes token routes at the revocation step and leaves auth:none open.
   *  Synchronous when memory answers, so the hot path awaits nothing it need not. */
  admit(tenant: Tenant, io: PipelineIo, d: Decision): Outcome<StateRead> | Promise<Outcome<StateRead>>;
  /** The perIp limit, before anything about the request's credentials (a preflight included). */
  limitIp(tenant: Tenant, clientIp: string | null, io: PipelineIo, d: Decision): Promise<Outcome<void>>;
  /** Route, credentials, verification, revocation, scopes, perSubject limit. */
  authorize(tenant: Tenant, facts: RequestFacts, state: StateRead, io: PipelineIo, d: Decision): Promise<Outcome<Authorized>>;
  readonly now: Clock;
  /** The verified-token cache, null when off (its counters are for logs and the bench). */
  readonly tokenCache: TokenCache | null;
}

/** The state of a tenant whose Worker binds no TenantState object (library use). */
const UNTRACKED: Outcome<StateRead> = ok({
  ok: true, tier: 'none',
  snapshot: { status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY_LIST, sessions: EMPTY_LIST, jtis: EMPTY_LIST } satisfies TenantStateSnapshot,
});

const PASSED: Outcome<void> = ok(undefined);

/** Records the tenant a request resolved to. */
function found(resolved: Outcome<ResolvedTenant>, d: Decision): Outcome<ResolvedTenant> {
  if (resolved.ok) {
    d.record.tenant = resolved.value.tenant.id;
    d.record.tiers.tenant = resolved.value.cached ? 'memory' : 'kv';
  }
  return resolved;
}

/** Records a limit decision on the request; a refusal becomes the step's denial. */
function limited(decision: LimitDecision, d: Decision): Denial | null {
  d.limits.push(decision);
  return decision.admitted ? null : { error: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds };
}

export interface PipelineOptions {
  now: Clock;
  /** The verified-token cache: this isolate's default (10,000 tokens or 8 MiB), one given (to
   *  read its counters), or false for none (every token verified every time). */
  tokenCache?: TokenCache | false;
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const now = options.now;
  const tokens = options.tokenCache === false ? null : options.tokenCache ?? createTokenCache({ now });
  const tenants = createTenantStore({ now });
  const keyTiers = createKeyTiers({ now });
  const states = createTenantStates({ now });
  const limits = createRateLimits({ now });

  /** A limit step: counts the request, or denies `rate_limited`. No limiter bound: admitted.
   *  Synchronous when the isolate's leases decide. */
  function limit(request: LimitRequest, io: PipelineIo, d: Decision): Denial | null | Promise<Denial | null> {
    if (io.rateLimiter === null) return null;
    const decision = limits.admit(request, { rateLimiter: io.rateLimiter });
    return decision instanceof Promise ? d.timed('limit', decision).then((late) => limited(late, d)) : limited(decision, d);
  }

  /** The state step's outcome: a tenant on hold is refused. */
  function status(state: StateRead, d: Decision): Outcome<StateRead> {
    if (!state.ok) return ok(state);
    d.record.tiers.state = state.tier;
    return state.snapshot.status === 'hold' ? deny({ error: 'tenant_on_hold' }) : ok(state);
  }

  return {
    now,
    tokenCache: tokens,

    resolveTenant(host, kv, cacheSeconds, d) {
      const resolved = tenants.resolve(host, { kv, cacheSeconds });
      return resolved instanceof Promise ? d.timed('tenant', resolved).then((late) => found(late, d)) : found(resolved, d);
    },

    admit(tenant, io, d) {
      d.record.tenant = tenant.id;
      if (io.tenantState === null) return UNTRACKED;
      const state = states.read(tenant.id, tenant.config.revocation.maxStalenessSeconds,
        { tenantState: io.tenantState, waitUntil: io.waitUntil });
      return state instanceof Promise ? d.timed('state', state).then((read) => status(read, d)) : status(state, d);
    },

    async limitIp(tenant, clientIp, io, d) {
      const perIp = tenant.config.rateLimit?.perIp;
      const ipKey = perIp ? clientIpKey(clientIp) : null;
      if (!perIp || ipKey === null) return PASSED;
      const ip = limit({ tenantId: tenant.id, policy: 'ip', key: ipKey, ...perIp }, io, d);
      const refused = ip instanceof Promise ? await ip : ip;
      return refused ? deny(refused) : PASSED;
    },

    async authorize(tenant, facts, state, io, d) {
      const { rateLimit, revocation } = tenant.config;

      const refusal = facts.pathname === null ? null : pathRefusal(facts.pathname);
      if (refusal !== null) return deny({ error: 'invalid_request', description: refusal });
      const route = facts.pathname === null ? DEFAULT_MATCH : tenant.routes.match(facts.method, facts.pathname);
      d.record.route = route.path;
      if (route.auth === 'none') return ok({ route, identity: null });

      if (!facts.credentials.ok) return facts.credentials;
      if (facts.credentials.value === null) return deny({ error: 'missing_token' });

      const credential = facts.credentials.value;
      let token = tokens?.get(credential, tenant, facts.resource, keyTiers);
      if (token === undefined) {
        const keys = keyTiers.source(io);
        const started = now();
        const verified = await verifyToken(credential, { id: tenant.id, issuers: tenant.issuers, resource: facts.resource }, { now, keys });
        d.record.ms.verify = now() - started;
        if (!verified.ok) return verified;
        token = verified.value;
        tokens?.set(credential, tenant, facts.resource, token);
        d.record.tiers.keys = token.keyTier;
      } else {
        // Verified earlier under the key set memory holds now.
        d.record.tiers.keys = 'memory';
        d.record.tiers.token = 'hit';
      }
      d.record.issuer = token.issuer.issuer;
      d.record.kid = token.kid;

      const checked = states.revocation(token, state, { tenantId: tenant.id, ...revocation }, io.tenantState);
      const revoked = checked instanceof Promise ? await d.timed('revocation', checked) : checked;
      if (!revoked.ok) return revoked;

      if (missingScopes(route, token.scopes).length > 0) return deny({ error: 'insufficient_scope', needed: route.scopes });

      // Keyed by what the signature vouches for, never by an unverified claim.
      const subjectKey = token.subject ?? token.clientId;
      if (rateLimit?.perSubject && subjectKey !== null) {
        const subject = limit({ tenantId: tenant.id, policy: 'sub', key: subjectKey, ...rateLimit.perSubject }, io, d);
        const refused = subject instanceof Promise ? await subject : subject;
        if (refused) return deny(refused);
      }

      return ok({
        route,
        identity: {
          tenant: tenant.id, issuer: token.issuer.issuer, subject: token.subject, clientId: token.clientId,
          scopes: token.scopes, claims: token.claims,
        },
      });
    },
  };
}
