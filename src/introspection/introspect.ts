// The verify step of a tenant with an issuer that takes opaque tokens (docs/introspection.md; RFC
// 7662): which credentials go where, and the one call per token and window.
//
// A credential with the shape of a compact JWS is a JWT: verified by its signature as on every
// tenant (`jwt`, the caller's own path), then, when its issuer's block says `tokens: "all"`,
// introspected too. Anything else is an opaque token, sent to the tenant's one introspecting
// issuer and to no other endpoint. Either way the result is the VerifiedToken every later step
// reads, with the tier that answered; an introspected token's claims are the answer's members.
//
// An answer comes from memory, else from a call under way in this isolate (cache.ts: plain data,
// never a shared promise), else this request leads: the location's Cache API, then the provider
// (call.ts: finding the endpoint and the call within 2 s), and keeps what it got for the answer's
// window. The token itself
// goes only into the call's form body: keys, URLs and log notes hold its SHA-256 or nothing.
//
//   const checked = await checkToken(credential, tenant, resource, (jwt) => verified(jwt), deps);
//   if (!checked.ok) return refuse(checked.denial);     // invalid_token (inactive, …), issuer_unavailable
//   checked.value;                                      // VerifiedToken
//   checked.introspection;                              // 'memory' | 'cache' | 'network', when introspected
import type { Clock } from '../base/clock';
import { withDeadline } from '../base/deadline';
import { deny, invalidToken, noteOf, ok, type Denial, type Outcome } from '../base/denial';
import type { KeyTierIo, KeyTiers } from '../keys/tiers';
import type { EdgeKey } from '../tenants/edge-key';
import { keySetIdOf, type IntrospectionPolicy, type IssuerPolicy } from '../tenants/tenant';
import { isCompactJws } from '../verify/compact';
import { checkTimes } from '../verify/times';
import type { VerifiedToken } from '../verify/token';
import { judgeAnswer, type Answer } from './answer';
import { callIntrospection, INTROSPECTION_RETRY_AFTER_SECONDS, INTROSPECTION_TIMEOUT_MS } from './call';
import {
  answerKey, answerWindowMs, awaitFlight, endFlight, flightOf, keepAnswer, keptWithin, readCachedAnswer, startFlight,
  type AnswerKey, type Held, type Introspections, type IntrospectionTier, type Settled,
} from './cache';

/** The issuer that takes the tenant's opaque tokens (Tenant.introspection). */
export type IntrospectingIssuer = IssuerPolicy & { readonly introspection: IntrospectionPolicy };

export interface IntrospectingTenant {
  readonly id: string;
  readonly introspection: IntrospectingIssuer;
  /** private_key_jwt's signing key. */
  readonly edgeKey: EdgeKey | null;
}

/** A verification's outcome as the pipeline records it: a token cache hit, the introspection tier. */
export type Checked = Outcome<VerifiedToken> & { readonly hit?: true; readonly introspection?: IntrospectionTier };

export interface IntrospectionDeps {
  readonly now: Clock;
  readonly introspections: Introspections;
  /** Endpoints named by discovery come through the key tiers (the issuer's discovery document). */
  readonly keyTiers: Pick<KeyTiers, 'introspectionEndpoint'>;
  /** The request's I/O: the Cache API, waitUntil, ALLOW_INSECURE_ISSUERS, the IssuerKeys binding. */
  readonly io: KeyTierIo;
  /** The network; tests of a decision pass their own. */
  readonly fetch?: typeof fetch;
}

/** A memory hit is answered without an async frame (the repeated token's path); anything else
 *  returns a promise. */
export function checkToken(credential: string, tenant: IntrospectingTenant, resource: string,
  jwt: (credential: string) => Promise<Checked>, deps: IntrospectionDeps): Checked | Promise<Checked> {
  if (isCompactJws(credential)) return checkJwt(credential, tenant, resource, jwt, deps);
  return introspect(credential, tenant, resource, deps);
}

/** An issuer's JWT: its signature first; with `tokens: "all"`, its answer too. */
async function checkJwt(credential: string, tenant: IntrospectingTenant, resource: string,
  jwt: (credential: string) => Promise<Checked>, deps: IntrospectionDeps): Promise<Checked> {
  const issuer = tenant.introspection;
  const verified = await jwt(credential);
  if (!verified.ok || verified.value.issuer.issuer !== issuer.issuer || issuer.introspection.tokens !== 'all') return verified;
  // The signature turns forgeries away without a call; the answer then says whether the token
  // lives and what it grants now, as for an opaque token (a Keycloak lightweight token's JWT
  // carries few claims, its answer all of them). The log keeps the key that verified it.
  const asked = await introspect(credential, tenant, resource, deps);
  if (!asked.ok) return asked;
  const { kid, alg, keyTier, keySetVersion } = verified.value;
  const value = { ...asked.value, kid, alg, keyTier, keySetVersion };
  return { ok: true, value, ...(verified.hit ? HIT : {}), introspection: asked.introspection };
}

type Introspected = { ok: true; value: VerifiedToken; introspection: IntrospectionTier } | { ok: false; denial: Denial };

function introspect(token: string, tenant: IntrospectingTenant, resource: string, deps: IntrospectionDeps):
  Introspected | Promise<Introspected> {
  const issuer = tenant.introspection;
  const key = answerKey(tenant.id, issuer.issuer, token);
  const held = deps.introspections.memory.get(key.memory);
  if (held !== undefined) {
    const now = deps.now();
    if (keptWithin(held.answer, held.keptAt, issuer, now)) return judged(held, issuer, resource, now, 'memory');
    deps.introspections.memory.delete(key.memory);
  }
  return introspectCold(token, key, tenant, resource, deps);
}

/** Not in memory: a call under way in this isolate, or this request's own. */
async function introspectCold(token: string, key: AnswerKey, tenant: IntrospectingTenant, resource: string, deps: IntrospectionDeps):
  Promise<Introspected> {
  // No await between looking for a flight and starting one (lead): one leader per key.
  const flight = flightOf(deps.introspections, key);
  const settled = flight !== undefined ? await awaitFlight(flight) : await lead(token, key, tenant, deps);
  if (settled === undefined) return unavailable('introspection: the call this request waited for did not end in time');
  if (!settled.ok) return settled;
  // A waiter's answer came from this isolate's call: memory, for the log.
  const tier = flight !== undefined ? 'memory' : settled.tier;
  return judged({ answer: settled.answer, judged: null }, tenant.introspection, resource, deps.now(), tier);
}

/** This request makes the call (or finds it in the Cache API) and settles it for every request
 *  that joined meanwhile. Its work runs under waitUntil, so it ends (and settles) even if this
 *  request's client goes away. */
async function lead(token: string, key: AnswerKey, tenant: IntrospectingTenant, deps: IntrospectionDeps): Promise<Settled> {
  const state = deps.introspections;
  const flight = startFlight(state, key, Date.now() + INTROSPECTION_TIMEOUT_MS + WAIT_MARGIN_MS);
  const work = answerFor(token, key, tenant, deps).catch((error: unknown): Settled =>
    deny({ error: 'internal_error', note: `introspection: ${noteOf(error)}` }));
  if (flight === null) return work;
  const settled = work.then((outcome) => {
    endFlight(state, key, flight, outcome);
    return outcome;
  });
  deps.io.waitUntil(settled);
  return settled;
}

/** The Cache API, then the provider; what either gives is kept for its window. */
async function answerFor(token: string, key: AnswerKey, tenant: IntrospectingTenant, deps: IntrospectionDeps): Promise<Settled> {
  const { introspections: state, io } = deps;
  const issuer = tenant.introspection;
  if (io.cache !== null) {
    const cached = await readCachedAnswer(io.cache, key, deps.now());
    if (cached !== null && keptWithin(cached.answer, cached.keptAt, issuer, deps.now())) {
      keepAnswer(state, key, cached.answer, cached.expiresAt - deps.now(), { cache: null, waitUntil: io.waitUntil }, cached.keptAt);
      return { ok: true, answer: cached.answer, tier: 'cache' };
    }
  }
  const started = Date.now();
  const endpoint = await endpointOf(issuer, deps);
  if (!endpoint.ok) return endpoint;
  const called = await callIntrospection(token, {
    endpoint: endpoint.value, policy: issuer.introspection, edgeKey: tenant.edgeKey, now: deps.now(),
    allowInsecure: io.allowInsecure, timeoutMs: Math.max(1, INTROSPECTION_TIMEOUT_MS - (Date.now() - started)), fetch: deps.fetch,
  });
  if (!called.ok) return called;
  keepAnswer(state, key, called.value, answerWindowMs(called.value, issuer, deps.now()), io);
  return { ok: true, answer: called.value, tier: 'network' };
}

/** The block's endpoint, or the one the issuer's discovery document names (the key tiers: memory
 *  when the issuer's keys are held), within the call's deadline. */
async function endpointOf(issuer: IntrospectingIssuer, deps: IntrospectionDeps): Promise<Outcome<string>> {
  if (issuer.introspection.endpoint !== null) return ok(issuer.introspection.endpoint);
  // Discovery's key set: the issuer's own unless its JWKS URI is configured (then none discovers).
  const discovered = issuer.jwksUri === null ? issuer
    : { issuer: issuer.issuer, jwksUri: null, discovery: 'oidc' as const, keySetId: keySetIdOf(issuer.issuer, null) };
  try {
    return await withDeadline(deps.keyTiers.introspectionEndpoint(deps.io, discovered), INTROSPECTION_TIMEOUT_MS, 'discovery');
  } catch (error) {
    return unavailable(`introspection: ${noteOf(error)}`);
  }
}

/** An answer judged for this issuer and resource: inactive, the memo of its claims' judgement
 *  when the same policy read it last (else judged now), then its times, on every use. */
function judged(held: Pick<Held, 'answer' | 'judged'>, issuer: IssuerPolicy, resource: string, nowMs: number,
  tier: IntrospectionTier): Introspected {
  const { answer } = held;
  if (!answer.active) return invalidToken('inactive', 'introspection: active is false');
  let memo = held.judged;
  if (memo === null || memo.issuer !== issuer || memo.resource !== resource) {
    memo = { issuer, resource, token: judgeAnswer((answer as Extract<Answer, { active: true }>).claims, issuer, resource) };
    held.judged = memo;
  }
  if (!memo.token.ok) return memo.token;
  const times = checkTimes(memo.token.value, issuer, nowMs);
  return times.ok ? { ok: true, value: memo.token.value, introspection: tier } : times;
}

const HIT = { hit: true } as const;

/** Waiters give the leader this long past the call's deadline to write its outcome. */
const WAIT_MARGIN_MS = 250;

const unavailable = (note: string): { ok: false; denial: Denial } =>
  deny({ error: 'issuer_unavailable', retryAfterSeconds: INTROSPECTION_RETRY_AFTER_SECONDS, note });
