// The ordered pipeline every door shares (docs/errors.md): one function, `decide`,
// that reads top to bottom, one step a line and one early return each:
//
//   tenant, metadata, status (the isolate's copy), perIp, status (a fresh read when due),
//   revocation events, preflight, route, credentials, verify, proof of possession, revocation,
//   scopes, claims, step-up, perSubject, the proof recorded
//
// The doors only say how a request reaches it and what to do with the verdict: the HTTP door
// (edgeAuth, which the gateway is built from) renders refusals and forwards or runs the user's
// handler; the RPC door returns a plain result. Steps return values; `decide` alone writes the
// decision's log record, and the door finishes it with one call (log.ts finishDecision).
//
//   const pipeline = createPipeline({ now });                        // once per isolate: caches live here
//   const decided = await pipeline.decide(request, ioOf(env, settings, waitUntil));
//   decided.verdict.kind;                                            // refused | metadata | preflight | passed
import type { Clock } from '../base/clock';
import { noteOf, ok, type Denial, type Outcome } from '../base/denial';
import type { IssuerKeys } from '../keys/issuer-keys';
import { createKeyTiers } from '../keys/tiers';
import { DEFAULT_MATCH, MAX_METHOD_OVERRIDES, matchRoute, pathRefusal, type RouteMatch } from '../policy/routes';
import { checkClaims, checkStepUp } from '../policy/conditions';
import { missingScopes } from '../policy/scopes';
import type { Settings } from '../config/settings';
import type { RateLimiter } from '../limits/rate-limiter';
import { admitLimit, clientIpKey, createRateLimits, type LimitDecision, type LimitPolicy } from '../limits/rate-limits';
import { EMPTY_LIST } from '../revocation/revocation-list';
import type { TenantState, TenantStateSnapshot } from '../revocation/tenant-state';
import { createTenantStates, decideRevocation, peekState, readState, type StateRead, type TenantStates } from '../revocation/tenant-states';
import { createTenantStore, resolveTenant, type TenantSource, type TenantStore } from '../tenants/store';
import type { LimitConfig, Tenant } from '../tenants/tenant';
import { verifyToken, type VerifiedToken } from '../verify/token';
import { createTokenCache, type TokenCache } from '../verify/token-cache';
import { createDpopNonces } from '../possession/dpop-nonce';
import type { Credentials } from '../verify/extract';
import { checkPossession, mayBeBound, recordProof, type Pop } from '../possession/decision';
import type { Scheme } from '../verify/extract';
import type { VerifiedProof } from '../possession/dpop';
import type { DpopReplay } from '../possession/dpop-replay';
import { createProofReplays } from '../possession/proof-replays';
import { BACKCHANNEL_LOGOUT_PATH, handleBackchannelLogout } from '../events/backchannel-logout';
import { revocationSinkOf } from '../events/sink';
import { SSF_PATH, handleSsfPush } from '../events/ssf';
import { tenantStateStub } from '../revocation/tenant-state';
import { corsFor, type CorsAnswer } from './cors';
import type { Identity } from './forward';
import type { PublicDocument } from './metadata';
import { newDecisionRecord, type DecisionRecord } from './log';

/** The bindings and request-scoped I/O the steps use. The optional ones may be absent in a
 *  user's own Worker (Hono middleware): no TenantState means no status or revocation, no
 *  RateLimiter means no limits. */
export interface PipelineIo {
  readonly issuerKeys: DurableObjectNamespace<IssuerKeys>;
  readonly tenantState: DurableObjectNamespace<TenantState> | null;
  readonly rateLimiter: DurableObjectNamespace<RateLimiter> | null;
  /** null: no DPoP replay objects bound (a user's own Worker), so DPoP-bound tokens are refused. */
  readonly dpopReplay: DurableObjectNamespace<DpopReplay> | null;
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
  DPOP_REPLAY?: DurableObjectNamespace<DpopReplay>;
}

export function ioOf(bindings: PipelineBindings, settings: Settings, waitUntil: (promise: Promise<unknown>) => void): PipelineIo {
  return {
    issuerKeys: bindings.ISSUER_KEYS,
    tenantState: bindings.TENANT_STATE ?? null,
    rateLimiter: bindings.RATE_LIMITER ?? null,
    dpopReplay: bindings.DPOP_REPLAY ?? null,
    cache: typeof caches === 'undefined' ? null : caches.default,
    allowInsecure: settings.allowInsecureIssuers,
    waitUntil,
  };
}

/** How a door finds the tenant: by host in KV (the gateway, RPC, edgeAuth 'kv'), or its own way
 *  (edgeAuth with one config or a resolver). */
export type TenantLookup =
  | TenantSource
  | { readonly find: () => Promise<Outcome<Tenant>> };

/** One request as every door describes it. */
export interface PipelineRequest {
  /** The normalized request host (config/hosts.ts normalizeRequestHost). */
  readonly host: string;
  readonly requestId: string;
  readonly method: string;
  /** Other methods the request names for itself (policy/routes.ts methodOverridesOf), which an
   *  origin may run it as; null when it names too many. */
  readonly methodOverrides: readonly string[] | null;
  /** The WHATWG-normalized path; null (RPC without a path) applies the default policy. */
  readonly pathname: string | null;
  /** The access token and its scheme, null when there is none, or the extractor's refusal. */
  readonly credentials: Outcome<Credentials | null>;
  /** The DPoP header as received (RFC 9449 §4): a proof, several joined by ", ", or null. */
  readonly proof: string | null;
  /** The URL the client addressed (the tenant host, never `upstream`): what a proof's htu names. */
  readonly url: string | null;
  /** base64url SHA-256 of the client certificate Cloudflare verified (RFC 8705), or null. */
  readonly certificate: string | null;
  /** CF-Connecting-IP, or the RPC caller's clientIp: the perIp key. */
  readonly clientIp: string | null;
  /** What only HTTP doors have: metadata documents, CORS and revocation events. null for RPC. */
  readonly http: {
    /** The request itself, for the revocation-event endpoints, which read its body. */
    readonly request: Request;
    readonly origin: string | null;
    readonly preflight: boolean;
    /** GET or HEAD of a public document: /.well-known/oauth-protected-resource (or a path below
     *  it), or /_edge/jwks; null for every other request. */
    readonly metadata: PublicDocument | null;
  } | null;
  readonly tenants: TenantLookup;
}

export type Verdict =
  | { readonly kind: 'refused'; readonly denial: Denial }
  /** A public document of the tenant: the RFC 9728 metadata under `resource`, or its edge JWKS. */
  | { readonly kind: 'metadata'; readonly tenant: Tenant; readonly resource: string; readonly document: PublicDocument }
  /** A preflight the edge answers from the tenant's `cors` (204). */
  | { readonly kind: 'preflight'; readonly tenant: Tenant }
  /** A revocation event the tenant's provider pushed (events/): the endpoint's own answer. */
  | { readonly kind: 'event'; readonly response: Response }
  /** Admitted: identity null on an `auth: none` route, or for a preflight sent on to the origin. */
  | { readonly kind: 'passed'; readonly tenant: Tenant; readonly identity: Identity | null; readonly preflight: boolean };

export interface Decided {
  readonly verdict: Verdict;
  /** The decision's log record, written by decide() alone; the door finishes it (finishDecision). */
  readonly log: DecisionRecord;
  /** CORS for an allowed origin, on every HTTP answer. */
  readonly cors: CorsAnswer | null;
  /** The limits this request was counted against, for the RateLimit headers. */
  readonly limits: readonly LimitDecision[];
  /** What a 401's challenges need (RFC 9449 §7.1), null until the tenant is known. */
  readonly challenge: Challenge | null;
  /** The DPoP-Nonce every response to a DPoP request carries on a tenant with dpop.nonce. */
  readonly dpopNonce: string | null;
  /** When the decision started (its clock), for the log line's total. */
  readonly startedAt: number;
}

/** What a 401's second challenge needs: every tenant honours DPoP-bound tokens, so every 401
 *  offers the DPoP scheme beside Bearer. */
export interface Challenge {
  /** The scheme the request used: its challenge carries the error. */
  readonly scheme: Scheme;
  /** `algs` of the DPoP challenge: the token issuer's algorithms, else every issuer's. */
  readonly algs: readonly string[];
}

/** What decide() gathers besides the verdict, for the door's answer. */
interface Gathered {
  cors: CorsAnswer | null;
  limits: LimitDecision[];
  tenant: Tenant | null;
  /** The token issuer's algorithms, once the token is verified: the DPoP challenge's `algs`. */
  algorithms: ReadonlySet<string> | null;
  /** The tenant's DPoP nonce key, when the request was DPoP and the tenant wants nonces. */
  nonces: { tenant: string; secret: Uint8Array } | null;
}

export interface Pipeline {
  /** One request through every step. Never throws: a bug or a broken binding is `internal_error`. */
  decide(request: PipelineRequest, io: PipelineIo): Promise<Decided>;
  readonly now: Clock;
  /** The verified-token cache, null when off (its counters are for logs and the bench). */
  readonly tokenCache: TokenCache | null;
  /** The isolate's tenant cache (its counters and byte sizes are for tests and the bench). */
  readonly tenants: TenantStore;
  /** The isolate's copies of tenant states (their object-call counters are for tests and the bench). */
  readonly states: TenantStates;
}

export interface PipelineOptions {
  now: Clock;
  /** The verified-token cache: this isolate's default (10,000 tokens or 8 MiB), one given (to
   *  read its counters), or false for none (every token verified every time). */
  tokenCache?: TokenCache | false;
}

/** The state of a tenant whose Worker binds no TenantState object (library use). */
const UNTRACKED: StateRead = {
  ok: true, tier: 'none',
  snapshot: { status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY_LIST, sessions: EMPTY_LIST, jtis: EMPTY_LIST, asOf: 0, dpopNonceSecret: null } satisfies TenantStateSnapshot,
};

export function createPipeline(options: PipelineOptions): Pipeline {
  const now = options.now;
  const tokens = options.tokenCache === false ? null : options.tokenCache ?? createTokenCache({ now });
  const tenants = createTenantStore({ now });
  const keyTiers = createKeyTiers({ now });
  const states = createTenantStates({ now });
  const limits = createRateLimits({ now });
  const replays = createProofReplays({ now });
  const nonces = createDpopNonces({ now });

  async function decide(request: PipelineRequest, io: PipelineIo): Promise<Decided> {
    const startedAt = now();
    const log = newDecisionRecord(request.requestId, request.host);
    const gathered: Gathered = { cors: null, limits: [], tenant: null, algorithms: null, nonces: null };
    let verdict: Verdict;
    let dpopNonce: string | null = null;
    try {
      verdict = await steps(request, io, log, gathered, laps(log, startedAt));
      // RFC 9449 §8: every answer to a DPoP request on such a tenant, refusals included.
      if (gathered.nonces !== null) dpopNonce = await nonces.forTenant(gathered.nonces.tenant, gathered.nonces.secret).issue();
    } catch (error) {
      // Thrown only by bugs and broken bindings (a KV or object call that fails outright).
      verdict = refused({ error: 'internal_error', note: noteOf(error) });
    }
    const { cors, limits, tenant, algorithms } = gathered;
    // Only a refusal challenges; built then, not per request.
    const challenge = verdict.kind !== 'refused' || tenant === null ? null : {
      scheme: schemeOf(request), algs: [...(algorithms ?? tenant.dpopAlgorithms)],
    };
    return { verdict, log, cors, limits, challenge, dpopNonce, startedAt };
  }

  /** Records how long each step took since the one before (a step answered from memory takes 0:
   *  workerd's clock moves only with I/O), one clock read a step. */
  function laps(log: DecisionRecord, startedAt: number): (step: string) => void {
    let last = startedAt;
    return (step) => {
      const at = now();
      log.ms[step] = (log.ms[step] ?? 0) + at - last;
      last = at;
    };
  }

  /** The steps in the contract's order. Only this function writes the log record. */
  async function steps(r: PipelineRequest, io: PipelineIo, log: DecisionRecord, answer: Gathered, lap: (step: string) => void): Promise<Verdict> {
    const found = await findTenant(r.host, r.tenants);
    lap('tenant');
    if (!found.ok) return refused(found.denial);
    const { tenant } = found;
    answer.tenant = tenant;
    log.tenant = tenant.id;
    if (found.tier !== undefined) log.tiers.tenant = found.tier;
    answer.cors = r.http && corsFor(tenant.cors, r.http.origin);
    const scheme = schemeOf(r);
    const resource = tenant.resource ?? `https://${r.host}`;

    if (r.http?.metadata) return { kind: 'metadata', tenant, resource, document: r.http.metadata };

    // No object call before perIp admits the request: the status check reads the isolate's copy
    // alone here, and the fresh read, when one is due, follows perIp.
    const copy = io.tenantState === null ? null : peekState(states, tenant.id, tenant.revocation.maxStalenessSeconds);
    if (copy !== null && copy.snapshot.status === 'hold') return refused({ error: 'tenant_on_hold' });

    const ip = tenant.rateLimit.perIp === null ? null : await limit(tenant, 'ip', tenant.rateLimit.perIp, clientIpKey(r.clientIp), io, lap, answer.limits);
    if (ip !== null) return refused(ip);

    const state = io.tenantState === null ? UNTRACKED
      : await readState(states, tenant.id, tenant.revocation.maxStalenessSeconds, { tenantState: io.tenantState, waitUntil: io.waitUntil }, tenant.revocation.retainSeconds);
    lap('state');
    if (state.ok) log.tiers.state = state.tier;
    const nonceSecret = state.ok ? state.snapshot.dpopNonceSecret : null;
    if (scheme === 'dpop' && tenant.dpop.nonce && nonceSecret !== null) answer.nonces = { tenant: tenant.id, secret: nonceSecret };
    // An unreachable state is no refusal here: it closes token routes at revocation, leaves auth:none open.
    if (state.ok && state.snapshot.status === 'hold') return refused({ error: 'tenant_on_hold' });

    // Authenticated by the event's signature, not a token: no route applies (perIp did).
    const channel = r.http && tenant.events !== null && io.tenantState !== null ? eventChannelOf(r.pathname) : null;
    if (channel !== null) {
      const response = await receiveEvent(channel, r.http!.request, tenant, io, io.tenantState!);
      lap('event');
      return { kind: 'event', response };
    }

    if (r.http?.preflight) {
      if (tenant.cors === null) return { kind: 'passed', tenant, identity: null, preflight: true };
      return answer.cors === null ? refused({ error: 'origin_not_allowed' }) : { kind: 'preflight', tenant };
    }

    const refusal = r.pathname === null ? null : pathRefusal(r.pathname);
    if (refusal !== null) return refused({ error: 'invalid_request', description: refusal });
    if (r.methodOverrides === null) return refused({ error: 'invalid_request', description: `The request names more than ${MAX_METHOD_OVERRIDES} methods.` });
    const route: RouteMatch = r.pathname === null ? DEFAULT_MATCH : matchRoute(tenant.routes, r.method, r.pathname, r.methodOverrides);
    log.route = route.path;
    if (route.auth === 'none') return { kind: 'passed', tenant, identity: null, preflight: false };

    if (!r.credentials.ok) return refused(r.credentials.denial);
    if (r.credentials.value === null) return refused({ error: 'missing_token' });

    const { token: accessToken } = r.credentials.value;
    const token = await verified(accessToken, tenant, resource, io, log);
    lap('verify');
    if (!token.ok) return refused(token.denial);
    log.issuer = token.value.issuer.issuer;
    log.kid = token.value.kid;
    answer.algorithms = token.value.issuer.algorithms;

    // Part of verification, on every request (a cached token's proof is new each time): the
    // binding the token carries, the proof or certificate for it, and the issuer's requirement.
    let pop: Pop | null = null;
    let proof: VerifiedProof | null = null;
    if (mayBeBound(token.value, scheme)) {
      if (!state.ok && scheme === 'dpop' && tenant.dpop.nonce) return refused(unavailable(state));
      const possession = await checkPossession(token.value,
        { scheme, accessToken, proof: r.proof, method: r.method, url: r.url ?? '', certificate: r.certificate }, tenant,
        { now, replays, nonces, dpopReplay: io.dpopReplay, nonceSecret });
      lap('pop');
      if (!possession.ok) return refused(possession.denial);
      ({ pop, proof } = possession.value);
    }

    const revoked = await decideRevocation(states, token.value, state, { tenantId: tenant.id, ...tenant.revocation }, io.tenantState);
    lap('revocation');
    if (!revoked.ok) return refused(revoked.denial);

    if (missingScopes(route, token.value.scopes).length > 0) return refused({ error: 'insufficient_scope', needed: route.scopes });

    // Evaluated per request from the payload (a cached token's auth_time ages like any other).
    const claims = checkClaims(route, token.value.claims);
    if (!claims.ok) return refused(claims.denial);
    const stepUp = route.stepUp === null ? claims : checkStepUp(route, token.value.claims, now());
    if (!stepUp.ok) return refused(stepUp.denial);

    // Keyed by what the signature vouches for, never by an unverified claim.
    const perSubject = tenant.rateLimit.perSubject;
    const sub = perSubject === null ? null : await limit(tenant, 'sub', perSubject, token.value.subject ?? token.value.clientId, io, lap, answer.limits);
    if (sub !== null) return refused(sub);

    // Last: only an admitted request uses its proof up. A replay refused here has used its
    // perSubject permit (a limit counts attempts).
    if (proof !== null) {
      const used = await recordProof(proof, tenant.id, { replays, dpopReplay: io.dpopReplay });
      lap('replay');
      if (!used.ok) return refused(used.denial);
    }

    return { kind: 'passed', tenant, identity: identityOf(tenant, token.value, pop), preflight: false };
  }

  /** A revocation event: verified with the tenant's issuers' (or transmitters') keys through the
   *  isolate's key tiers, applied by the tenant's state object. */
  function receiveEvent(channel: 'backchannel_logout' | 'ssf', request: Request, tenant: Tenant, io: PipelineIo,
    tenantState: DurableObjectNamespace<TenantState>): Promise<Response> {
    const deps = { now, keys: keyTiers.source(io), sink: revocationSinkOf(tenantStateStub(tenantState, tenant.id)) };
    return channel === 'ssf' ? handleSsfPush(request, tenant, deps) : handleBackchannelLogout(request, tenant, deps);
  }

  /** The tenant step: the isolate's cache or KV for a host, or the door's own way. */
  async function findTenant(host: string, lookup: TenantLookup): Promise<{ ok: true; tenant: Tenant; tier?: 'memory' | 'kv' } | { ok: false; denial: Denial }> {
    if ('find' in lookup) {
      const given = await lookup.find();
      return given.ok ? { ok: true, tenant: given.value } : given;
    }
    const resolved = await resolveTenant(tenants, host, lookup);
    return resolved.ok ? { ok: true, tenant: resolved.value.tenant, tier: resolved.value.cached ? 'memory' : 'kv' } : resolved;
  }

  /** A token this isolate verified for the tenant and resource (no signature work), or a fresh
   *  verification, kept for the next time. */
  async function verified(credential: string, tenant: Tenant, resource: string, io: PipelineIo, log: DecisionRecord): Promise<Outcome<VerifiedToken>> {
    const hit = tokens?.get(credential, tenant, resource, keyTiers);
    if (hit !== undefined) {
      // Verified earlier under the key set memory holds now.
      log.tiers.keys = 'memory';
      log.tiers.token = 'hit';
      return ok(hit);
    }
    const fresh = await verifyToken(credential, { id: tenant.id, issuers: tenant.issuers, resource }, { now, keys: keyTiers.source(io) });
    if (fresh.ok) {
      tokens?.set(credential, tenant, resource, fresh.value);
      log.tiers.keys = fresh.value.keyTier;
    }
    return fresh;
  }

  /** A limit step: counts the request against the key, or denies `rate_limited`. No limit
   *  configured, no key, or no limiter bound: admitted. */
  async function limit(tenant: Tenant, policy: LimitPolicy, config: LimitConfig, key: string | null, io: PipelineIo,
    lap: (step: string) => void, counted: LimitDecision[]): Promise<Denial | null> {
    if (key === null || io.rateLimiter === null) return null;
    const decision = await admitLimit(limits, { tenantId: tenant.id, policy, key, ...config }, { rateLimiter: io.rateLimiter });
    lap('limit');
    counted.push(decision);
    return decision.admitted ? null : { error: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds };
  }

  return { decide, now, tokenCache: tokens, tenants, states };
}

const refused = (denial: Denial): Verdict => ({ kind: 'refused', denial });

/** The scheme the request's token came with (Bearer when there is none). */
const schemeOf = (r: PipelineRequest): Scheme => (r.credentials.ok && r.credentials.value !== null ? r.credentials.value.scheme : 'bearer');

/** Which revocation-event endpoint a path is (exactly as written), if any. */
function eventChannelOf(pathname: string | null): 'backchannel_logout' | 'ssf' | null {
  return pathname === BACKCHANNEL_LOGOUT_PATH ? 'backchannel_logout' : pathname === SSF_PATH ? 'ssf' : null;
}

function identityOf(tenant: Tenant, token: VerifiedToken, pop: Pop | null): Identity {
  return {
    tenant: tenant.id, issuer: token.issuer.issuer, subject: token.subject, clientId: token.clientId,
    scopes: token.scopes, claims: token.claims, pop,
  };
}

const unavailable = (state: Extract<StateRead, { ok: false }>): Denial =>
  ({ error: 'revocation_unavailable', retryAfterSeconds: state.retryAfterSeconds, note: state.note });

