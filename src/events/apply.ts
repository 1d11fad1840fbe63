// The last step both event endpoints share: one sink call for every revocation a logout token or
// SET asks for (one storage transaction, once per jti), one audit line per event, and the
// answer; and the audit line of a refusal.
//
//   return applyEvents(tenant, 'ssf', { issuer, jti, rememberUntil }, processed, deps);
//   return refuseRequest(tenant, 'ssf', refusal, deps);
import type { Clock } from '../base/clock';
import { noteOf } from '../base/denial';
import type { KeySource } from '../keys/key-source';
import { ACCEPTED, type EventAnswer } from './answer';
import { forLog, writeAuditLine, type AuditLine, type EventChannel, type EventSubject, type ProcessedEventLine } from './audit';
import type { BatchResult, RevocationEffect } from '../revocation/event-ledger';
import type { RevocationSink } from './sink';
import type { StreamSignal } from './event-types';
import type { EventRefusal } from './token-rules';

/** What an event endpoint needs besides the request and the tenant. */
export interface EventDeps {
  readonly now: Clock;
  /** The key tiers (the isolate's, so issuers' and transmitters' keys are cached with the rest). */
  readonly keys: KeySource;
  /** The tenant's state: TenantState.applyEvents, through its stub. */
  readonly sink: RevocationSink;
  /** Where audit lines go; one JSON line on the console by default. */
  readonly audit?: (line: AuditLine) => void;
}

/** One event of a logout token or SET, read and judged. */
export interface ProcessedEvent {
  readonly eventType: string;
  readonly subject: EventSubject;
  readonly subjectFormat?: string;
  readonly effect: RevocationEffect | null;
  /** What the event says about the stream it came on (SSF verification, stream-updated). */
  readonly stream?: StreamSignal;
  readonly note?: string;
}

/** A verified logout token or SET: who sent it, its jti, and until when to remember it. */
export interface EventMessage {
  readonly issuer: string;
  readonly jti: string;
  readonly rememberUntil: number;
}

const EFFECT_NAMES = {
  session: 'session_revoked', subject: 'subject_revoked', claim: 'claim_value_revoked',
} as const satisfies Record<RevocationEffect['kind'], ProcessedEventLine['effect']>;

/** A state that cannot be reached is asked again soon. */
const STATE_RETRY_SECONDS = 30;

export async function applyEvents(
  tenant: { readonly id: string }, channel: EventChannel, message: EventMessage, events: readonly ProcessedEvent[], deps: EventDeps,
): Promise<EventAnswer> {
  const audit = deps.audit ?? writeAuditLine;
  const effects = distinct(events);
  let replayed = false;
  // Nothing to revoke: nothing to remember either, since a replay would change nothing again.
  if (effects.length > 0) {
    let outcome: BatchResult;
    try {
      outcome = await deps.sink.applyEvents({ ...message, effects });
    } catch (error) {
      return refuseRequest(tenant, channel, { answer: {
        kind: 'unavailable', error: 'revocation_unavailable', description: 'the tenant state cannot be reached now',
        retryAfterSeconds: STATE_RETRY_SECONDS,
      }, note: noteOf(error) }, deps);
    }
    replayed = outcome.outcome === 'replayed';
  }
  for (const event of events) {
    audit({
      event: 'revocation_event',
      tenant: tenant.id,
      channel,
      issuer: message.issuer,
      eventType: forLog(event.eventType),
      subject: event.subject,
      ...(event.subjectFormat === undefined ? {} : { subjectFormat: event.subjectFormat }),
      effect: replayed || event.effect === null ? 'none' : EFFECT_NAMES[event.effect.kind],
      replayed,
      jti: message.jti,
      ...(event.note === undefined ? {} : { note: event.note }),
    });
  }
  return ACCEPTED;
}

export function refuseRequest(
  tenant: { readonly id: string }, channel: EventChannel, refusal: EventRefusal, deps: Pick<EventDeps, 'audit'>,
): EventAnswer {
  const { answer } = refusal;
  const audit = deps.audit ?? writeAuditLine;
  switch (answer.kind) {
    case 'accepted':
      return answer;
    case 'refused':
      // What the sender was told: a logout token is always invalid_request (OIDC Back-Channel Logout §2.8).
      audit(refusedLine(tenant, channel, 400, channel === 'ssf' ? answer.err : 'invalid_request', answer.description, refusal));
      return answer;
    case 'method_not_allowed':
      audit(refusedLine(tenant, channel, 405, 'method_not_allowed', 'not POST', refusal));
      return answer;
    case 'unauthorized':
      audit(refusedLine(tenant, channel, 401, 'authentication_failed', answer.description, refusal));
      return answer;
    case 'unavailable':
      audit(refusedLine(tenant, channel, 503, answer.error, answer.description, refusal));
      return answer;
  }
}

function refusedLine(
  tenant: { readonly id: string }, channel: EventChannel, status: number, error: string, description: string, refusal: EventRefusal,
): AuditLine {
  return {
    event: 'revocation_event_refused', tenant: tenant.id, channel, status, error, description,
    ...(refusal.reason === undefined ? {} : { reason: refusal.reason }),
    ...(refusal.note === undefined ? {} : { note: refusal.note }),
  };
}

/** Each revocation once, in the order the events asked for them. */
function distinct(events: readonly ProcessedEvent[]): RevocationEffect[] {
  const seen = new Set<string>();
  const effects: RevocationEffect[] = [];
  for (const { effect } of events) {
    if (effect === null) continue;
    const key = `${effect.kind} ${effect.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    effects.push(effect);
  }
  return effects;
}
