// What each security event does to the tenant's state (docs/events.md): the event
// table and the one function that turns an event of a SET into at most one revocation. Total:
// any type and any JSON payload in, a reading out, never a throw (property-tested).
//
//   const reading = readEvent(type, payload, set.sub_id, tenant.issuers);
//   reading.effect;   // { kind: 'session' | 'subject', value } or null
//
// | event | effect |
// |---|---|
// | CAEP session-revoked | the session (a sid in the subject), else the subject |
// | CAEP credential-change; RISC account-disabled, account-purged, sessions-revoked, tokens-revoked, | the subject |
// | account-credential-change-required                                                             |             |
// | SSF verification | nothing (accepted) |
// | anything else | nothing (accepted and logged) |
import type { RevocationEffect } from '../revocation/event-ledger';
import { readSubject, type IssuerSet, type SubjectReading } from './subjects';

export const CAEP_EVENT = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC_EVENT = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF_VERIFICATION_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
/** OpenID Connect Back-Channel Logout 1.0 §2.4: the member of a logout token's `events`. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** What an event type asks for. */
export type EventRule = 'session_or_subject' | 'subject' | 'verification' | 'unknown';

/** A Map, so no event type can be read as an Object.prototype member. */
export const EVENT_RULES: ReadonlyMap<string, EventRule> = new Map<string, EventRule>([
  [`${CAEP_EVENT}session-revoked`, 'session_or_subject'],
  [`${CAEP_EVENT}credential-change`, 'subject'],
  [`${RISC_EVENT}account-disabled`, 'subject'],
  [`${RISC_EVENT}account-purged`, 'subject'],
  [`${RISC_EVENT}sessions-revoked`, 'subject'],
  [`${RISC_EVENT}tokens-revoked`, 'subject'],
  [`${RISC_EVENT}account-credential-change-required`, 'subject'],
  [SSF_VERIFICATION_EVENT, 'verification'],
]);

export interface EventReading {
  readonly rule: EventRule;
  readonly subject: SubjectReading;
  /** The revocation this event asks for, or null. */
  readonly effect: RevocationEffect | null;
  /** Why the event changes nothing, when it does not. */
  readonly note?: string;
}

/** `setSubject` is the SET's top-level `sub_id` (undefined when absent): it wins over the event's
 *  own `subject` (SSF 1.0 §3.1.1: older CAEP and RISC events carried it there). */
export function readEvent(type: string, payload: unknown, setSubject: unknown, issuers: IssuerSet): EventReading {
  const rule = EVENT_RULES.get(type) ?? 'unknown';
  const eventSubject = typeof payload === 'object' && payload !== null && !Array.isArray(payload) && Object.hasOwn(payload, 'subject')
    ? (payload as Record<string, unknown>).subject : undefined;
  const subject = readSubject(setSubject !== undefined ? setSubject : eventSubject, issuers);
  switch (rule) {
    case 'session_or_subject':
      if (subject.session !== null) return { rule, subject, effect: { kind: 'session', value: subject.session } };
      if (subject.user !== null) return { rule, subject, effect: { kind: 'subject', value: subject.user } };
      return { rule, subject, effect: null, note: subject.note ?? 'the subject names no session and no sub' };
    case 'subject':
      if (subject.user !== null) return { rule, subject, effect: { kind: 'subject', value: subject.user } };
      return { rule, subject, effect: null, note: subject.note ?? 'the subject names no sub' };
    case 'verification':
      return { rule, subject, effect: null };
    case 'unknown':
      return { rule, subject, effect: null, note: 'an event type this edge does not act on' };
  }
}
