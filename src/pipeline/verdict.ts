// What decide() answers (docs/errors.md "Request outcomes"): the verdict, the decision's log
// record (record.ts) and what every answer to the request carries besides: CORS for an allowed
// origin, the rate limits it was counted against, a 401's DPoP challenge, the DPoP-Nonce. Plain
// data for the doors: no Request, no Response.
//
//   const decided = await decide(isolate, request, io);
//   if (decided.verdict.kind === 'refused') return denialResponse(decided.verdict.denial, { ..., challenge: decided.challenge });
import type { Denial } from '../base/denial';
import type { EventChannel } from '../events/audit';
import type { LimitDecision } from '../limits/rate-limits';
import type { Tenant } from '../tenants/tenant';
import type { Scheme } from '../verify/extract';
import type { CorsAnswer } from './cors';
import type { Identity } from './identity';
import type { DecisionRecord } from './record';
import type { PublicDocument } from './request';

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
  /** When it ended: the handler's time in the log line is counted from here. */
  readonly decidedAt: number;
}

/** What a 401's second challenge needs: every tenant honours DPoP-bound tokens, so every 401
 *  offers the DPoP scheme beside Bearer. */
export interface Challenge {
  /** The scheme the request used: its challenge carries the error. */
  readonly scheme: Scheme;
  /** `algs` of the DPoP challenge: the token issuer's algorithms, else every issuer's. */
  readonly algs: readonly string[];
}
