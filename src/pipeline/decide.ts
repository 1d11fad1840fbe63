// The ordered pipeline every door shares (docs/errors.md): one function, `decide`, that reads
// top to bottom, one step a line and one early return each:
//
//   tenant, metadata, status (the isolate's copy), perIp, status (a fresh read when due),
//   revocation events, preflight, route, credentials, verify, proof of possession, revocation,
//   scopes, claims, step-up, perSubject, the proof recorded
//
// The doors only say how a request reaches it and what to do with what it decided: the HTTP
// door (edgeAuth, which the gateway is built from) renders refusals, runs the event endpoints and
// forwards or runs the user's handler; the RPC door returns a plain result. Steps return values;
// decide alone writes the decision's record (decision.ts), returns it with the verdict, and the
// door finishes it with one call (record.ts finishDecision). It never throws: a bug or a broken
// binding is `internal_error`.
//
//   const isolate = createIsolate({ now });                               // once per isolate: caches live there
//   const decided = await decide(isolate, request, ioOf(env, settings, waitUntil));
//   decided.verdict.kind;          // refused | metadata | event | preflight | passed
import type { Clock } from '../base/clock';
import { noteOf, type Denial, type Outcome } from '../base/denial';
import type { Algorithm } from '../config/algorithms';
import { BACKCHANNEL_LOGOUT_PATH } from '../events/backchannel-logout';
import type { EventChannel } from '../events/audit';
import { SSF_PATH } from '../events/ssf';
import { admitLimit, clientIpKey, type LimitDecision, type LimitPolicy } from '../limits/rate-limits';
import { checkPossession, mayBeBound, recordProof, type Pop } from '../possession/decision';
import type { VerifiedProof } from '../possession/dpop';
import { checkClaims, checkStepUp } from '../policy/conditions';
import { routeOf } from '../policy/routes';
import { missingScopes } from '../policy/scopes';
import { EMPTY_LIST } from '../revocation/revocation-list';
import type { TenantStateSnapshot } from '../revocation/tenant-state';
import { decideRevocation, peekState, readState, type StateRead } from '../revocation/tenant-states';
import { resolveTenant } from '../tenants/store';
import type { LimitConfig, Tenant } from '../tenants/tenant';
import type { Scheme } from '../verify/extract';
import { verifyToken, type VerifiedToken } from '../verify/token';
import { corsFor, type CorsAnswer } from './cors';
import type { Identity } from './identity';
import type { PipelineIo } from './io';
import type { Isolate } from './isolate';
import { newDecisionRecord, type DecisionRecord } from './record';
import type { PipelineRequest, TenantLookup } from './request';
import type { Challenge, Decided, Verdict } from './verdict';

/** The state of a tenant whose Worker binds no TenantState object (library use). */
const UNTRACKED: StateRead = {
  ok: true, tier: 'none',
  snapshot: {
    status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY_LIST, sessions: EMPTY_LIST, jtis: EMPTY_LIST,
    claimValues: EMPTY_LIST, asOf: 0, dpopNonceSecret: null,
  } satisfies TenantStateSnapshot,
};

/** One request through every step, in the contract's order. */
export async function decide(isolate: Isolate, r: PipelineRequest, io: PipelineIo): Promise<Decided> {
  const d = new Decision(isolate.now, r);
  try {
    const found = await findTenant(isolate, r.host, r.tenants);
    d.lap('tenant');
    if (!found.ok) return d.refused(found.denial);
    const { tenant } = found;
    d.tenantFound(tenant, found.tier, r.http && corsFor(tenant.cors, r.http.origin));
    const scheme = schemeOf(r);
    const resource = tenant.resource ?? `https://${r.host}`;

    if (r.http?.metadata) return d.answered({ kind: 'metadata', tenant, resource, document: r.http.metadata });

    // No object call before perIp admits the request: the status check reads the isolate's copy
    // alone here, and the fresh read, when one is due, follows perIp.
    const copy = io.tenantState === null ? null : peekState(isolate.states, tenant.id, tenant.revocation.maxStalenessSeconds);
    if (copy !== null && copy.snapshot.status === 'hold') return d.refused({ error: 'tenant_on_hold' });

    const perIp = tenant.rateLimit.perIp;
    const ip = perIp === null ? null : await countRequest(isolate, tenant, 'ip', perIp, clientIpKey(r.clientIp), io);
    const ipRefusal = ip === null ? null : d.counted(ip);
    if (ipRefusal !== null) return d.refused(ipRefusal);

    const state = io.tenantState === null ? UNTRACKED : await readState(isolate.states, tenant.id,
      tenant.revocation.maxStalenessSeconds, { tenantState: io.tenantState, waitUntil: io.waitUntil }, tenant.revocation.retainSeconds);
    d.lap('state');
    if (state.ok) d.record.tiers.state = state.tier;
    const nonceSecret = state.ok ? state.snapshot.dpopNonceSecret : null;
    // RFC 9449 §8: every answer to a DPoP request on such a tenant, refusals included.
    if (scheme === 'dpop' && tenant.dpop.nonce && nonceSecret !== null) {
      d.dpopNonce = await isolate.nonces.forTenant(tenant.id, nonceSecret).issue();
    }
    // An unreachable state is no refusal here: it closes token routes at revocation, leaves auth:none open.
    if (state.ok && state.snapshot.status === 'hold') return d.refused({ error: 'tenant_on_hold' });

    // Authenticated by the event's signature, not a token: no route applies (perIp did).
    const channel = r.http !== null && tenant.events !== null && io.tenantState !== null ? eventChannelOf(r.pathname) : null;
    if (channel !== null) return d.answered({ kind: 'event', tenant, channel });

    if (r.http?.preflight) {
      if (tenant.cors === null) return d.answered({ kind: 'passed', tenant, identity: null, preflight: true });
      return d.cors === null ? d.refused({ error: 'origin_not_allowed' }) : d.answered({ kind: 'preflight', tenant });
    }

    const route = routeOf(tenant.routes, r.method, r.pathname, r.methodOverrides);
    if (typeof route === 'string') return d.refused({ error: 'invalid_request', description: route });
    d.record.route = route.path;
    if (route.auth === 'none') return d.answered({ kind: 'passed', tenant, identity: null, preflight: false });

    if (!r.credentials.ok) return d.refused(r.credentials.denial);
    if (r.credentials.value === null) return d.refused({ error: 'missing_token' });

    const { token: accessToken } = r.credentials.value;
    const token = await verified(isolate, accessToken, tenant, resource, io);
    d.lap('verify');
    if (!token.ok) return d.refused(token.denial);
    d.verified(token.value, token.hit === true);

    // Part of verification, on every request (a cached token's proof is new each time): the
    // binding the token carries, the proof or certificate for it, and the issuer's requirement.
    let pop: Pop | null = null;
    let proof: VerifiedProof | null = null;
    if (mayBeBound(token.value, scheme)) {
      if (!state.ok && scheme === 'dpop' && tenant.dpop.nonce) return d.refused(unavailable(state));
      const possession = await checkPossession(token.value,
        { scheme, accessToken, proof: r.proof, method: r.method, url: r.url ?? '', certificate: r.certificate }, tenant,
        { now: isolate.now, replays: isolate.replays, nonces: isolate.nonces, dpopReplay: io.dpopReplay, nonceSecret });
      d.lap('pop');
      if (!possession.ok) return d.refused(possession.denial);
      ({ pop, proof } = possession.value);
    }

    const revocation = { tenantId: tenant.id, ...tenant.revocation };
    const revoked = await decideRevocation(isolate.states, token.value, state, revocation, io.tenantState);
    d.lap('revocation');
    if (!revoked.ok) return d.refused(revoked.denial);

    if (missingScopes(route, token.value.scopes).length > 0) return d.refused({ error: 'insufficient_scope', needed: route.scopes });

    // Evaluated per request from the payload (a cached token's auth_time ages like any other).
    const claims = checkClaims(route, token.value.claims);
    if (!claims.ok) return d.refused(claims.denial);
    const stepUp = route.stepUp === null ? claims : checkStepUp(route, token.value.claims, isolate.now());
    if (!stepUp.ok) return d.refused(stepUp.denial);

    // Keyed by what the signature vouches for, never by an unverified claim.
    const perSubject = tenant.rateLimit.perSubject;
    const sub = perSubject === null ? null
      : await countRequest(isolate, tenant, 'sub', perSubject, token.value.subject ?? token.value.clientId, io);
    const subRefusal = sub === null ? null : d.counted(sub);
    if (subRefusal !== null) return d.refused(subRefusal);

    // Last: only an admitted request uses its proof up. A replay refused here has used its
    // perSubject permit (a limit counts attempts).
    if (proof !== null) {
      const used = await recordProof(proof, tenant.id, { replays: isolate.replays, dpopReplay: io.dpopReplay });
      d.lap('replay');
      if (!used.ok) return d.refused(used.denial);
    }

    return d.answered({ kind: 'passed', tenant, identity: identityOf(tenant, token.value, pop), preflight: false });
  } catch (error) {
    return d.failed(error);
  }
}

/** The decision decide() is making: its lines fill it in as the steps pass (the tenant, the CORS
 *  answer, the limits, the verified token, a lap per step), and each return ends it with its
 *  verdict, as the Decided a door answers from. */
class Decision implements Decided {
  verdict: Verdict = UNDECIDED;
  readonly record: DecisionRecord;
  cors: CorsAnswer | null = null;
  readonly limits: LimitDecision[] = [];
  challenge: Challenge | null = null;
  dpopNonce: string | null = null;
  readonly startedAt: number;
  readonly #now: Clock;
  readonly #request: PipelineRequest;
  #tenant: Tenant | null = null;
  /** The token issuer's algorithms, once the token is verified: the DPoP challenge's `algs`. */
  #algorithms: ReadonlySet<Algorithm> | null = null;
  #lapAt: number;

  constructor(now: Clock, request: PipelineRequest) {
    this.#now = now;
    this.#request = request;
    this.startedAt = now();
    this.#lapAt = this.startedAt;
    this.record = newDecisionRecord(request.requestId, request.host);
  }

  /** Records how long a step took since the one before (a step answered from memory takes 0:
   *  workerd's clock moves only with I/O), one clock read a step. */
  lap(step: string): void {
    const at = this.#now();
    this.record.ms[step] = (this.record.ms[step] ?? 0) + at - this.#lapAt;
    this.#lapAt = at;
  }

  /** The tenant step found the tenant (in the isolate's memory or KV, or the door's own way). */
  tenantFound(tenant: Tenant, tier: 'memory' | 'kv' | undefined, cors: CorsAnswer | null): void {
    this.#tenant = tenant;
    this.record.tenant = tenant.id;
    if (tier !== undefined) this.record.tiers.tenant = tier;
    this.cors = cors;
  }

  /** A limit the request was counted against: null when admitted, else its refusal. */
  counted(decision: LimitDecision): Denial | null {
    this.lap('limit');
    this.limits.push(decision);
    return decision.admitted ? null : { error: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds };
  }

  /** The verify step passed: the token from this isolate's cache (`hit`) or verified now. */
  verified(token: VerifiedToken, hit: boolean): void {
    const { record } = this;
    // A hit was verified earlier under the key set memory holds now.
    record.tiers.keys = hit ? 'memory' : token.keyTier;
    if (hit) record.tiers.token = 'hit';
    record.issuer = token.issuer.issuer;
    record.kid = token.kid;
    this.#algorithms = token.issuer.algorithms;
  }

  answered(verdict: Exclude<Verdict, { kind: 'refused' }>): Decided {
    this.verdict = verdict;
    return this;
  }

  /** Only a refusal challenges; built then, not per request. */
  refused(denial: Denial): Decided {
    this.verdict = { kind: 'refused', denial };
    const tenant = this.#tenant;
    if (tenant !== null) this.challenge = { scheme: schemeOf(this.#request), algs: [...(this.#algorithms ?? tenant.dpopAlgorithms)] };
    return this;
  }

  /** Thrown only by bugs and broken bindings (a KV or object call that fails outright): 500. */
  failed(error: unknown): Decided {
    this.dpopNonce = null;
    return this.refused({ error: 'internal_error', note: noteOf(error) });
  }
}

const UNDECIDED: Verdict = Object.freeze({ kind: 'refused', denial: Object.freeze({ error: 'internal_error', note: 'undecided' }) });

/** The scheme the request's token came with (Bearer when there is none). */
const schemeOf = (r: PipelineRequest): Scheme => (r.credentials.ok && r.credentials.value !== null ? r.credentials.value.scheme : 'bearer');

/** The tenant step: the isolate's cache or KV for a host, or the door's own way. */
async function findTenant(isolate: Isolate, host: string, lookup: TenantLookup):
  Promise<{ ok: true; tenant: Tenant; tier?: 'memory' | 'kv' } | { ok: false; denial: Denial }> {
  if ('find' in lookup) {
    const given = await lookup.find();
    return given.ok ? { ok: true, tenant: given.value } : given;
  }
  const resolved = await resolveTenant(isolate.tenants, host, lookup);
  return resolved.ok ? { ok: true, tenant: resolved.value.tenant, tier: resolved.value.cached ? 'memory' : 'kv' } : resolved;
}

/** A token this isolate verified for the tenant and resource (no signature work, `hit`), or a
 *  fresh verification, kept for the next time. */
async function verified(isolate: Isolate, credential: string, tenant: Tenant, resource: string, io: PipelineIo):
  Promise<Outcome<VerifiedToken> & { readonly hit?: true }> {
  const tokens = isolate.tokenCache;
  const hit = tokens?.get(credential, tenant, resource, isolate.keyTiers);
  if (hit !== undefined) return { ok: true, value: hit, hit: true };
  const fresh = await verifyToken(credential, { id: tenant.id, issuers: tenant.issuers, resource },
    { now: isolate.now, keys: isolate.keyTiers.source(io) });
  if (fresh.ok) tokens?.set(credential, tenant, resource, fresh.value);
  return fresh;
}

/** A limit step: the request counted against the key, or null when there is no key or no
 *  limiter bound (admitted without counting). */
async function countRequest(isolate: Isolate, tenant: Tenant, policy: LimitPolicy, config: LimitConfig, key: string | null,
  io: PipelineIo): Promise<LimitDecision | null> {
  if (key === null || io.rateLimiter === null) return null;
  return admitLimit(isolate.limits, { tenantId: tenant.id, policy, key, ...config }, { rateLimiter: io.rateLimiter });
}

/** Which revocation-event endpoint a path is (exactly as written), if any. */
function eventChannelOf(pathname: string | null): EventChannel | null {
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
