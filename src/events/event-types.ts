// What each security event does to the tenant's state (docs/events.md): the event
// table and the one function that turns an event of a SET into at most one revocation, or into
// a signal about the edge's stream (SSF 1.0 §8.1.4-5). Total: any type and any JSON payload in, a
// reading out, never a throw (property-tested).
//
//   const reading = readEvent(type, payload, set.sub_id, { issuers: tenant.issuers, subjectClaims: transmitter.subjectClaims });
//   reading.effect;   // { kind: 'session' | 'subject' | 'claim', value } or null
//   reading.stream;   // { kind: 'verification', state } | { kind: 'stream_updated', status, reason } | null
//
// | event | effect |
// |---|---|
// | CAEP session-revoked | the session (a sid in the subject), else the subject (a sub, or an email or phone number) |
// | CAEP credential-change; RISC account-disabled, account-purged, sessions-revoked, tokens-revoked, | the subject |
// | account-credential-change-required                                                             |             |
// | SSF verification | nothing (accepted; its state goes to the stream's record) |
// | SSF stream-updated | nothing (accepted; the stream's new status goes to its record) |
// | anything else | nothing (accepted and logged) |
//
// An `email` or `phone_number` subject names the value the transmitter's subjectClaims claim
// holds in the tokens it concerns (claim-values.ts); with no claim named for that format it
// changes nothing.
import type { ClaimReader } from '../config/claim-names';
import { claimValueKey } from '../revocation/claim-values';
import type { RevocationEffect } from '../revocation/event-ledger';
import { readSubject, type IssuerSet, type SubjectReading } from './subjects';

export const CAEP_EVENT = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC_EVENT = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF_VERIFICATION_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
export const SSF_STREAM_UPDATED_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';
/** OpenID Connect Back-Channel Logout 1.0 §2.4: the member of a logout token's `events`. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** What an event type asks for. */
export type EventRule = 'session_or_subject' | 'subject' | 'verification' | 'stream_updated' | 'unknown';

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
  [SSF_STREAM_UPDATED_EVENT, 'stream_updated'],
]);

/** The event types a stream the edge creates asks for (`events_requested`): those it acts on. */
export const EVENTS_REQUESTED: readonly string[] = [...EVENT_RULES]
  .filter(([, rule]) => rule === 'session_or_subject' || rule === 'subject').map(([type]) => type);

/** The statuses of a stream (SSF 1.0 §8.1.2). */
export const STREAM_STATUSES = ['enabled', 'paused', 'disabled'] as const;
export type StreamStatus = (typeof STREAM_STATUSES)[number];

/** The longest verification `state` and stream-updated `reason` kept (SSF leaves them open). */
export const MAX_STREAM_TEXT = 1024;

/** What an event says about the stream it came on, for the stream's record (events/ssf-stream.ts). */
export type StreamSignal =
  /** SSF §8.1.4: the `state` the verification request carried, if any. */
  | { readonly kind: 'verification'; readonly state: string | null }
  /** SSF §8.1.5: the stream's new status; `streamId` from an opaque subject, when the event names one. */
  | { readonly kind: 'stream_updated'; readonly status: StreamStatus; readonly reason: string | null; readonly streamId: string | null };

/** What a verified SET tells the stream it came on (its record: events/stream-management.ts). */
export interface SetObservation {
  readonly jti: string;
  readonly issuedAt: number;
  readonly signals: readonly StreamSignal[];
}

/** Who the tenant is to the event: its trusted issuers (iss_sub subjects), and the claims the
 *  sending transmitter names for email and phone_number subjects. */
export interface EventContext {
  readonly issuers: IssuerSet;
  readonly subjectClaims: { readonly email: ClaimReader | null; readonly phone_number: ClaimReader | null };
}

export interface EventReading {
  readonly rule: EventRule;
  readonly subject: SubjectReading;
  /** The revocation this event asks for, or null. */
  readonly effect: RevocationEffect | null;
  /** What it says about the stream, or null. */
  readonly stream: StreamSignal | null;
  /** Why the event changes nothing, when it does not. */
  readonly note?: string;
}

/** `setSubject` is the SET's top-level `sub_id` (undefined when absent): it wins over the event's
 *  own `subject` (SSF 1.0 §3.1.1: older CAEP and RISC events carried it there). */
export function readEvent(type: string, payload: unknown, setSubject: unknown, context: EventContext): EventReading {
  const rule = EVENT_RULES.get(type) ?? 'unknown';
  const event = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload as Record<string, unknown> : {};
  const eventSubject = Object.hasOwn(event, 'subject') ? event.subject : undefined;
  const subject = readSubject(setSubject !== undefined ? setSubject : eventSubject, context.issuers);
  const quiet = { rule, subject, effect: null, stream: null };
  switch (rule) {
    case 'session_or_subject':
      if (subject.session !== null) return { ...quiet, effect: { kind: 'session', value: subject.session } };
      return subjectEffect(quiet, context, 'the subject names no session and no sub');
    case 'subject':
      return subjectEffect(quiet, context, 'the subject names no sub');
    case 'verification':
      return { ...quiet, stream: { kind: 'verification', state: text(event, 'state') } };
    case 'stream_updated': {
      const status = text(event, 'status');
      const known = (STREAM_STATUSES as readonly (string | null)[]).includes(status);
      if (!known) return { ...quiet, note: 'stream-updated without a known status' };
      const streamId = subject.format === 'opaque' ? subject.user : null;
      return { ...quiet, stream: { kind: 'stream_updated', status: status as StreamStatus, reason: text(event, 'reason'), streamId } };
    }
    case 'unknown':
      return { ...quiet, note: 'an event type this edge does not act on' };
  }
}

/** A subject revocation: the `sub`, else the claim value under the transmitter's claim for its format. */
function subjectEffect(quiet: EventReading, context: EventContext, nothing: string): EventReading {
  const { subject } = quiet;
  if (subject.user !== null) return { ...quiet, effect: { kind: 'subject', value: subject.user } };
  if (subject.claim === null) return { ...quiet, note: subject.note ?? nothing };
  const claim = context.subjectClaims[subject.claim.format];
  if (claim === null) return { ...quiet, note: `no claim is configured for ${subject.claim.format} subjects` };
  return { ...quiet, effect: { kind: 'claim', value: claimValueKey(subject.claim.format, claim.name, subject.claim.value) } };
}

/** A string member of at most MAX_STREAM_TEXT characters, or null. */
function text(event: Record<string, unknown>, name: string): string | null {
  const value = Object.hasOwn(event, name) ? event[name] : undefined;
  return typeof value === 'string' && value.length <= MAX_STREAM_TEXT ? value : null;
}
