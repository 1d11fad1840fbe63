// What decide() answers (docs/errors.md "Request outcomes"): the verdict, the decision's log
// record (record.ts) and what every answer to the request carries besides: CORS for an allowed
// origin, the rate limits it was counted against, a 401's DPoP challenge, the DPoP-Nonce. Plain
// data for the doors: no Request, no Response.
//
// A Decision is the one decide() is making: its lines fill it in as the steps pass (the tenant,
// the CORS answer, the limits, the verified token, a lap per step), and each return ends it with
// its verdict.
//
//   const d = new Decision(isolate.now, request);
//   d.lap('tenant');                                   // how long the step took
//   return d.refused({ error: 'missing_token' });      // the Decided a door answers from
import type { Clock } from '../base/clock';
import { noteOf, type Denial } from '../base/denial';
import type { Algorithm } from '../config/algorithms';
import type { EventChannel } from '../events/audit';
import type { LimitDecision } from '../limits/rate-limits';
import type { Tenant } from '../tenants/tenant';
import type { Scheme } from '../verify/extract';
import type { VerifiedToken } from '../verify/token';
import type { CorsAnswer } from './cors';
import type { Identity } from './identity';
import { newDecisionRecord, type DecisionRecord } from './record';
import type { PipelineRequest, PublicDocument } from './request';

export type Verdict =
  | { readonly kind: 'refused'; readonly denial: Denial }
  /** A public document of the tenant: the RFC 9728 metadata under `resource`, or its edge JWKS. */
  | { readonly kind: 'metadata'; readonly tenant: Tenant; readonly resource: string; readonly document: PublicDocument }
  /** A preflight the edge answers from the tenant's `cors` (204). */
  | { readonly kind: 'preflight'; readonly tenant: Tenant }
  /** A revocation event the tenant's provider pushes (events/): the HTTP door runs its receiver. */
  | { readonly kind: 'event'; readonly tenant: Tenant; readonly channel: EventChannel }
  /** Admitted: identity null on an `auth: none` route, or for a preflight sent on to the origin. */
  | { readonly kind: 'passed'; readonly tenant: Tenant; readonly identity: Identity | null; readonly preflight: boolean };

export interface Decided {
  readonly verdict: Verdict;
  /** The decision's log record, written by decide() alone; the door finishes it (finishDecision). */
  readonly record: DecisionRecord;
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

/** The decision decide() is making, and, once ended, the Decided it returns. */
export class Decision implements Decided {
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
export const schemeOf = (r: PipelineRequest): Scheme => (r.credentials.ok && r.credentials.value !== null ? r.credentials.value.scheme : 'bearer');
