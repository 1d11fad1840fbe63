// The audit lines of the event endpoints (docs/events.md): one JSON line per
// processed event (tenant, issuer, event type, what the subject named, the effect, jti) and one
// per refused request. Never the token, never a subject's value.
//
//   const audit = deps.audit ?? writeAuditLine;
//   audit({ event: 'revocation_event', tenant: 'acme', channel: 'ssf', ... });

export type EventChannel = 'backchannel_logout' | 'ssf';
export type EventSubject = 'sid' | 'sub' | 'email' | 'phone_number' | 'none';

export interface ProcessedEventLine {
  readonly event: 'revocation_event';
  readonly tenant: string;
  readonly channel: EventChannel;
  readonly issuer: string;
  /** The event type URI (at most 256 characters of it). */
  readonly eventType: string;
  /** What the subject names that the edge reads: a session, a subject, an email address or
   *  phone number, or none of them. */
  readonly subject: EventSubject;
  /** SSF: the RFC 9493 format of the subject as sent ('none' without one). */
  readonly subjectFormat?: string;
  readonly effect: 'session_revoked' | 'subject_revoked' | 'claim_value_revoked' | 'none';
  /** The jti was processed before: nothing changed again. */
  readonly replayed: boolean;
  readonly jti: string;
  /** Why an event changed nothing, when it did not (an unknown event type, an untrusted iss, ...). */
  readonly note?: string;
}

export interface RefusedEventLine {
  readonly event: 'revocation_event_refused';
  readonly tenant: string;
  readonly channel: EventChannel;
  readonly status: number;
  /** The RFC 8935 code, or the 503 error. */
  readonly error: string;
  /** The verifier's reason code when the token itself was refused. */
  readonly reason?: string;
  readonly description: string;
  /** A token-free note from the step that refused. */
  readonly note?: string;
}

export type AuditLine = ProcessedEventLine | RefusedEventLine;

export function writeAuditLine(line: AuditLine): void {
  console.log(JSON.stringify(line));
}

/** A value from a signed token, bounded for the log. */
export const forLog = (value: string): string => value.length <= 256 ? value : `${value.slice(0, 256)}…`;
