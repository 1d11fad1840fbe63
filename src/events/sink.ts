// The seam between the event endpoints and the tenant state (docs/events.md): what
// one logout token or SET asks the state to do, in one storage transaction, exactly once per
// (issuer, jti). INTERFACE: implemented by TenantState.applyEvents (state/event-ledger.ts holds
// the storage side), and by fakes in tests.
//
//   const sink = revocationSinkOf(tenantStateStub(env.TENANT_STATE, tenant.id));   // under the 2 s object deadline
//   const result = await sink.applyEvents({ issuer, jti, rememberUntil, effects: [{ kind: 'session', value: sid }] });
//   result.outcome;   // 'applied' | 'replayed' (nothing changed again)
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';

/** One revocation an event asks for: a `sub` (every token of the subject issued up to now) or a
 *  `sid` (every token of the session issued up to now). */
export interface RevocationEffect {
  readonly kind: 'subject' | 'session';
  /** 1 to MAX_EVENT_VALUE_LENGTH characters. */
  readonly value: string;
}

export interface EventBatch {
  /** The `iss` of the logout token or SET: a jti is unique per issuer (RFC 7519 §4.1.7). */
  readonly issuer: string;
  /** 1 to MAX_EVENT_VALUE_LENGTH characters. */
  readonly jti: string;
  /** Epoch seconds: the (issuer, jti) pair is remembered until then, so a replay changes nothing. */
  readonly rememberUntil: number;
  /** Distinct, at most MAX_EVENTS_PER_SET; may be empty (the jti is still remembered). */
  readonly effects: readonly RevocationEffect[];
}

/** A full list never refuses: it makes room (docs/revocation.md, "Retention is exact"). */
export type BatchResult = { readonly outcome: 'applied' | 'replayed' };

export interface RevocationSink {
  /** Remembers the jti and writes every effect in one transaction, or (replay) does nothing. */
  applyEvents(batch: EventBatch): Promise<BatchResult>;
}

/** The longest `sub`, `sid` or `jti` an event may carry, as for the admin API (docs/revocation.md): longer values are refused with the whole event (400). */
export const MAX_EVENT_VALUE_LENGTH = 256;
/** The most events one SET may carry; more is refused (400 invalid_request) before any is read. */
export const MAX_EVENTS_PER_SET = 100;
/** The edge's and the object's clocks may differ a little: a jti is remembered this much
 *  longer than its event could be accepted, by the edge's clock. */
export const JTI_MEMORY_SLACK_SECONDS = 60;

/** Until when to remember a jti: past the last moment the same token could still be accepted
 *  (its iat plus the accepted age plus the clock tolerance), and no longer: a token that old is
 *  refused by its iat, so a replay cannot change anything. */
export function rememberUntil(issuedAt: number, maxAgeSeconds: number, toleranceSeconds: number): number {
  // iat is a NumericDate, which may have a fraction: the ledger keeps whole seconds.
  return Math.ceil(issuedAt) + maxAgeSeconds + toleranceSeconds + 1 + JTI_MEMORY_SLACK_SECONDS;
}

/** The sink of an object that applies event batches (TenantState's stub), under the deadline of
 *  every Durable Object call on the request path: past it the call fails, the endpoint answers
 *  503, and the sender retries. */
export function revocationSinkOf(
  state: { applyEvents(batch: EventBatch): Promise<BatchResult> }, deadlineMs: number = OBJECT_DEADLINE_MS,
): RevocationSink {
  return { applyEvents: (batch) => withDeadline(state.applyEvents(batch), deadlineMs, 'TenantState') };
}
