// The seam between the event endpoints and the tenant state (docs/events.md): where one logout
// token or SET sends its batch (revocation/event-ledger.ts says what a batch is and applies it in
// one storage transaction, exactly once per (issuer, jti)). INTERFACE: implemented by
// TenantState.applyEvents, and by fakes in tests.
//
//   const sink = revocationSinkOf(tenantStateStub(env.TENANT_STATE, tenant.id));   // under the 2 s object deadline
//   const result = await sink.applyEvents({ issuer, jti, rememberUntil, effects: [{ kind: 'session', value: sid }] });
//   result.outcome;   // 'applied' | 'replayed' (nothing changed again)
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';
import type { BatchResult, EventBatch } from '../revocation/event-ledger';

export interface RevocationSink {
  /** Remembers the jti and writes every effect in one transaction, or (replay) does nothing. */
  applyEvents(batch: EventBatch): Promise<BatchResult>;
}

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
