// The ordered pipeline every door shares (docs/errors.md): one function, `steps`, that reads
// top to bottom, one step a line and one early return each:
//
//   tenant, metadata, status (the isolate's copy), perIp, status (a fresh read when due),
//   revocation events, preflight, route, credentials, verify, proof of possession, revocation,
//   scopes, claims, step-up, perSubject, the proof recorded
//
// The doors only say how a request reaches it and what to do with what it decided: the HTTP
// door (http/door.ts: edgeAuth, and the gateway's fetch handler) renders refusals, runs the event
// endpoints and forwards or runs the user's handler; the RPC door returns a plain result. Steps return values:
// a refusal is the step's Denial. `decide` runs them and makes what they decided into the Decided
// once (the verdict, the decision's log record, a refusal's challenge); the door finishes the
// record with one call (record.ts finishDecision). It never throws: a bug or a broken binding is
// `internal_error`.
//
//   const isolate = createIsolate({ now });                               // once per isolate: caches live there
//   const decided = await decide(isolate, request, ioOf(env, settings, waitUntil));
//   decided.verdict.kind;          // refused | metadata | event | preflight | passed
import type { Clock } from '../base/clock';
import { noteOf, type Denial, type Outcome } from '../base/denial';
import { BACKCHANNEL_LOGOUT_PATH } from '../events/backchannel-logout';
import type { EventChannel } from '../events/audit';
import { SSF_PATH } from '../events/ssf';
import { checkToken, type Checked } from '../introspection/introspect';
import { clientIpKey, countRequest, type LimitDecision } from '../limits/rate-limits';
import { checkPossession, mayBeBound, recordProof, type Pop } from '../possession/decision';
import type { VerifiedProof } from '../possession/dpop';
import { checkClaims, checkStepUp } from '../policy/conditions';
import { routeOf } from '../policy/routes';
import { missingScopes } from '../policy/scopes';
import { EMPTY_LIST } from '../revocation/revocation-list';
import type { TenantStateSnapshot } from '../revocation/tenant-state';
import { decideRevocation, peekState, readState, type StateRead } from '../revocation/tenant-states';
import { resolveTenant } from '../tenants/store';
import type { Tenant } from '../tenants/tenant';
import type { Scheme } from '../verify/extract';
import { verifyToken, type VerifiedToken } from '../verify/token';
import { corsFor, type CorsAnswer } from './cors';
import type { Identity } from './identity';
import type { PipelineIo } from './io';
import type { Isolate } from './isolate';
import type { DecisionRecord } from './record';
import type { PipelineRequest } from './request';
import type { Challenge, Decided, Verdict } from './verdict';

/** The state of a tenant whose Worker binds no TenantState object (library use). */
const UNTRACKED: StateRead = {
  ok: true, tier: 'none',
  snapshot: {
    status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY_LIST, sessions: EMPTY_LIST, jtis: EMPTY_LIST,
    claimValues: EMPTY_LIST, asOf: 0, dpopNonceSecret: null,
  } satisfies TenantStateSnapshot,
};

/** One request through every step, in the contract's order (steps), and what was decided, made
 *  into the Decided once: the verdict, the log record and a refusal's challenge. */
export async function decide(isolate: Isolate, r: PipelineRequest, io: PipelineIo): Promise<Decided> {
  const d = new Decision(isolate.now);
  let answer: Answer | Denial;
  try {
    answer = await steps(isolate, r, io, d);
  } catch (error) {
    // Thrown only by bugs and broken bindings (a KV or object call that fails outright): 500.
    d.dpopNonce = null;
    answer = { error: 'internal_error', note: noteOf(error) };
  }
  return d.end(r, answer);
}

/** What a step answers when it does not refuse. */
type Answer = Exclude<Verdict, { kind: 'refused' }>;

/** The steps, one call and one early return each: a refusal is the step's Denial, anything else
 *  the answer. What every answer carries besides (CORS, the limits, the DPoP-Nonce) and what the
 *  log line says are written on `d` as the steps pass. */
async function steps(isolate: Isolate, r: PipelineRequest, io: PipelineIo, d: Decision): Promise<Answer | Denial> {
  // The door's own way, or by host: the isolate's cache, else KV.
  const found = 'find' in r.tenants ? await r.tenants.find() : await resolveTenant(isolate.tenants, r.host, r.tenants);
  d.lap('tenant');
  if (!found.ok) return found.denial;
  const { tenant } = found.value;
  d.tenant = tenant;
  if ('cached' in found.value) d.tiers.tenant = found.value.cached ? 'memory' : 'kv';
  // The Origin is read only where the tenant has `cors` (most have none).
  d.cors = r.http !== null && tenant.cors !== null ? corsFor(tenant.cors, r.http.origin) : null;
  const scheme = schemeOf(r);
  const resource = tenant.resource ?? `https://${r.host}`;

  if (r.http?.metadata) return { kind: 'metadata', tenant, resource, document: r.http.metadata };

  // No object call before perIp admits the request: the status check reads the isolate's copy
  // alone here, and the fresh read, when one is due, follows perIp.
  const copy = io.tenantState === null ? null : peekState(isolate.states, tenant.id, tenant.revocation.maxStalenessSeconds);
  if (copy !== null && copy.snapshot.status === 'hold') return { error: 'tenant_on_hold' };

  const perIp = tenant.rateLimit.perIp;
  const ip = perIp === null ? null
    : await countRequest(isolate.limits, tenant.id, 'ip', perIp, clientIpKey(r.clientIp), io.rateLimiter);
  if (ip !== null) d.counted(ip);
  if (ip?.admitted === false) return { error: 'rate_limited', retryAfterSeconds: ip.retryAfterSeconds };

  const state = io.tenantState === null ? UNTRACKED : await readState(isolate.states, tenant.id,
    tenant.revocation.maxStalenessSeconds, { tenantState: io.tenantState, waitUntil: io.waitUntil }, tenant.revocation.retainSeconds);
  d.lap('state');
  if (state.ok) d.tiers.state = state.tier;
  const nonceSecret = state.ok ? state.snapshot.dpopNonceSecret : null;
  // RFC 9449 §8: every answer to a DPoP request on such a tenant, refusals included.
  if (scheme === 'dpop' && tenant.dpop.nonce && nonceSecret !== null) {
    d.dpopNonce = await isolate.nonces.forTenant(tenant.id, nonceSecret).issue();
  }
  // An unreachable state is no refusal here: it closes token routes at revocation, leaves auth:none open.
  if (state.ok && state.snapshot.status === 'hold') return { error: 'tenant_on_hold' };

  // Authenticated by the event's signature, not a token: no route applies (perIp did).
  const channel = r.http !== null && tenant.events !== null && io.tenantState !== null ? eventChannelOf(r.pathname) : null;
  if (channel !== null) return { kind: 'event', tenant, channel };

  if (r.http?.preflight) {
    if (tenant.cors === null) return { kind: 'passed', tenant, identity: null, preflight: true };
    return d.cors === null ? { error: 'origin_not_allowed' } : { kind: 'preflight', tenant };
  }

  const route = routeOf(tenant.routes, r.method, r.pathname, r.methodOverrides);
  if (typeof route === 'string') return { error: 'invalid_request', description: route };
  d.route = route.path;
  if (route.auth === 'none') return { kind: 'passed', tenant, identity: null, preflight: false };

  if (!r.credentials.ok) return r.credentials.denial;
  if (r.credentials.value === null) return { error: 'missing_token' };

  const { token: accessToken } = r.credentials.value;
  const token = await verifiedOrIntrospected(isolate, accessToken, tenant, resource, io);
  d.lap('verify');
  if (!token.ok) return token.denial;
  d.token = token.value;
  // A hit was verified earlier under the key set memory holds now; no key vouched for an opaque token.
  if (token.value.keyTier !== null) d.tiers.keys = token.hit === true ? 'memory' : token.value.keyTier;
  if (token.hit === true) d.tiers.token = 'hit';
  if (token.introspection !== undefined) d.tiers.introspection = token.introspection;

  // Part of verification, on every request (a cached token's proof is new each time): the
  // binding the token carries, the proof or certificate for it, and the issuer's requirement.
  let pop: Pop | null = null;
  let proof: VerifiedProof | null = null;
  if (mayBeBound(token.value, scheme)) {
    if (!state.ok && scheme === 'dpop' && tenant.dpop.nonce) return unavailable(state);
    const possession = await checkPossession(token.value,
      { scheme, accessToken, proof: r.proof, method: r.method, url: r.url ?? '', certificate: r.certificate }, tenant,
      { now: isolate.now, replays: isolate.replays, nonces: isolate.nonces, dpopReplay: io.dpopReplay, nonceSecret });
    d.lap('pop');
    if (!possession.ok) return possession.denial;
    ({ pop, proof } = possession.value);
  }

  const revocation = { tenantId: tenant.id, ...tenant.revocation };
  const revoked = await decideRevocation(isolate.states, token.value, state, revocation, io.tenantState);
  d.lap('revocation');
  if (!revoked.ok) return revoked.denial;

  if (missingScopes(route, token.value.scopes).length > 0) return { error: 'insufficient_scope', needed: route.scopes };

  // Evaluated per request from the payload (a cached token's auth_time ages like any other).
  const claims = checkClaims(route, token.value.claims);
  if (!claims.ok) return claims.denial;
  const stepUp = route.stepUp === null ? claims : checkStepUp(route, token.value.claims, isolate.now());
  if (!stepUp.ok) return stepUp.denial;

  // Keyed by what the signature vouches for, never by an unverified claim.
  const perSubject = tenant.rateLimit.perSubject;
  const sub = perSubject === null ? null
    : await countRequest(isolate.limits, tenant.id, 'sub', perSubject, token.value.subject ?? token.value.clientId, io.rateLimiter);
  if (sub !== null) d.counted(sub);
  if (sub?.admitted === false) return { error: 'rate_limited', retryAfterSeconds: sub.retryAfterSeconds };

  // Last: only an admitted request uses its proof up. A replay refused here has used its
  // perSubject permit (a limit counts attempts).
  if (proof !== null) {
    const used = await recordProof(proof, tenant.id, { replays: isolate.replays, dpopReplay: io.dpopReplay });
    d.lap('replay');
    if (!used.ok) return used.denial;
  }

  return { kind: 'passed', tenant, identity: identityOf(tenant, token.value, pop), preflight: false };
}

/** The decision decide() is making: the steps fill it in as they pass (the tenant, the CORS
 *  answer, the limits, the verified token, the cache tiers, a lap per step), and end() makes it
 *  the Decided a door answers from, once. */
class Decision implements Decided {
  /** Written by end(), with the record. */
  verdict!: Verdict;
  record!: DecisionRecord;
  challenge: Challenge | null = null;
  cors: CorsAnswer | null = null;
  readonly limits: LimitDecision[] = [];
  dpopNonce: string | null = null;
  readonly startedAt: number;
  decidedAt = 0;
  tenant: Tenant | null = null;
  route: string | undefined;
  token: VerifiedToken | null = null;
  readonly tiers: DecisionRecord['tiers'] = {};
  readonly ms: DecisionRecord['ms'] = {};
  readonly #now: Clock;
  #lapAt: number;

  constructor(now: Clock) {
    this.#now = now;
    this.startedAt = now();
    this.#lapAt = this.startedAt;
  }

  /** Records how long a step took since the one before (a step answered from memory takes 0:
   *  workerd's clock moves only with I/O), one clock read a step. */
  lap(step: string): void {
    const at = this.#now();
    this.ms[step] = (this.ms[step] ?? 0) + at - this.#lapAt;
    this.#lapAt = at;
  }

  /** A limit the request was counted against. */
  counted(decision: LimitDecision): void {
    this.lap('limit');
    this.limits.push(decision);
  }

  /** The steps' answer or refusal as the verdict, the request's log record, and what a 401's
   *  challenges need (only a refusal challenges; built then, not per request). */
  end(r: PipelineRequest, answer: Answer | Denial): Decided {
    const refused = 'error' in answer;
    this.verdict = refused ? { kind: 'refused', denial: answer } : answer;
    const record: DecisionRecord = { requestId: r.requestId, host: r.host, outcome: 'denied', tiers: this.tiers, ms: this.ms };
    const { tenant, token } = this;
    if (tenant !== null) record.tenant = tenant.id;
    if (this.route !== undefined) record.route = this.route;
    if (token !== null) {
      record.issuer = token.issuer.issuer;
      record.kid = token.kid;
    }
    this.record = record;
    // Every step that waits for I/O laps after it, and workerd's clock moves only with I/O: the
    // last lap is the time the decision ended, without another clock read.
    this.decidedAt = this.#lapAt;
    if (refused && tenant !== null) {
      this.challenge = { scheme: schemeOf(r), algs: [...(token?.issuer.algorithms ?? tenant.dpopAlgorithms)] };
    }
    return this;
  }
}

/** The scheme the request's token came with (Bearer when there is none). */
const schemeOf = (r: PipelineRequest): Scheme => (r.credentials.ok && r.credentials.value !== null ? r.credentials.value.scheme : 'bearer');

/** The verify step: a JWT by its signature; on a tenant with an issuer that takes opaque tokens,
 *  an opaque token (and that issuer's JWTs with `tokens: "all"`) by introspection too. */
function verifiedOrIntrospected(isolate: Isolate, credential: string, tenant: Tenant, resource: string, io: PipelineIo):
  Checked | Promise<Checked> {
  if (tenant.introspection === null) return verified(isolate, credential, tenant, resource, io);
  return checkToken(credential, { id: tenant.id, introspection: tenant.introspection, edgeKey: tenant.edgeKey }, resource,
    (jwt) => verified(isolate, jwt, tenant, resource, io),
    { now: isolate.now, introspections: isolate.introspections, keyTiers: isolate.keyTiers, io });
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
