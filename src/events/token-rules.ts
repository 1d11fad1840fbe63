// The rules logout tokens and SETs share once their JWS has verified (verify/jws.ts): explicit
// typing, audience, issued-at window, expiry, jti (plus the body's media type); and the one mapping from a verifier denial
// (reason codes, issuer_unavailable) to an endpoint answer. Pure: `now` is passed in.
//
//   const refusedBy = typeRefusal(header, 'logout+jwt');        // null when typ is absent or fits
//   const iat = readIssuedAt(payload, { nowSeconds, toleranceSeconds: 30, maxAgeSeconds: 300 });
//   if (!iat.ok) return iat;                                    // { ok: false, refusal }
import type { Denial, Reason } from '../base/denial';
import { refused, type EventAnswer, type SetErrorCode } from './answer';
import { MAX_EVENT_VALUE_LENGTH } from '../revocation/event-ledger';

/** A refusal with what the log needs besides the answer. */
export interface EventRefusal {
  readonly answer: EventAnswer;
  /** The verifier's reason code, when the token was refused. */
  readonly reason?: Reason;
  /** Token-free detail for the log. */
  readonly note?: string;
}

export type EventOutcome<T> = { ok: true; value: T } | { ok: false; refusal: EventRefusal };

export const refuse = (err: SetErrorCode, description: string, reason?: Reason, note?: string): { ok: false; refusal: EventRefusal } =>
  ({ ok: false, refusal: { answer: refused(err, description), ...(reason ? { reason } : {}), ...(note ? { note } : {}) } });

/** RFC 8935 §2.4 for each reason a verification can give (documented in docs/events.md). */
export const SET_CODES: Record<Reason, SetErrorCode> = {
  malformed: 'invalid_request',
  alg_not_allowed: 'invalid_key',
  unknown_issuer: 'invalid_issuer',
  unknown_kid: 'invalid_key',
  bad_signature: 'authentication_failed',
  expired: 'invalid_request',
  not_yet_valid: 'invalid_request',
  too_old: 'invalid_request',
  wrong_audience: 'invalid_audience',
  wrong_resource: 'invalid_request',
  wrong_type: 'invalid_request',
  wrong_tenant: 'invalid_request',
  revoked: 'invalid_request',
  // Reasons of access tokens' proof of possession: a SET is never sender-constrained.
  pop_required: 'invalid_request',
  cert_mismatch: 'invalid_request',
  // An access token's introspection answer: a SET is never introspected.
  inactive: 'invalid_request',
};

/** Fixed descriptions: a description never echoes anything of the token. */
const DESCRIPTIONS: Partial<Record<Reason, string>> = {
  malformed: 'not a signed JWT of the expected form',
  alg_not_allowed: 'not signed with an asymmetric algorithm the sender may use',
  unknown_kid: 'no key of the sender fits the token',
  bad_signature: 'the signature does not verify',
};

/** The answer for a JWS verification that did not pass: 400 with the RFC 8935 code of its
 *  reason, or 503 when the sender's keys cannot be had (the sender should retry). */
export function refusalOfDenial(denial: Denial, unknownSender: string): EventRefusal {
  switch (denial.error) {
    case 'invalid_token': {
      const description = denial.reason === 'unknown_issuer' ? unknownSender : DESCRIPTIONS[denial.reason] ?? 'the token is refused';
      const note = denial.note ? { note: denial.note } : {};
      return { answer: refused(SET_CODES[denial.reason], description), reason: denial.reason, ...note };
    }
    case 'issuer_unavailable':
      return {
        answer: {
          kind: 'unavailable', error: 'issuer_unavailable', description: "the sender's keys cannot be fetched now",
          retryAfterSeconds: denial.retryAfterSeconds,
        },
        ...(denial.note ? { note: denial.note } : {}),
      };
    default:
      // The key tiers deny nothing else: anything more is a bug, answered 500 by the caller's funnel.
      throw new Error(`unexpected denial from the JWS verifier: ${denial.error}`);
  }
}

/** null when `typ` is absent or names the media type (case-insensitive, `application/` optional,
 *  RFC 7515 §4.1.9); else why not. */
export function typeRefusal(header: Readonly<Record<string, unknown>>, mediaType: string): string | null {
  if (!Object.hasOwn(header, 'typ')) return null;
  const typ = header.typ;
  if (typeof typ !== 'string') return 'typ is not a string';
  const lower = typ.toLowerCase();
  return (lower.includes('/') ? lower : `application/${lower}`) === `application/${mediaType}` ? null : `typ must be ${mediaType}`;
}

/** Whether an `aud` claim (string or array of strings) holds one accepted value; null for any
 *  other JSON type. */
export function audienceHolds(claim: unknown, accepts: (audience: string) => boolean): boolean | null {
  if (typeof claim === 'string') return accepts(claim);
  if (!Array.isArray(claim)) return null;
  let found = false;
  for (const item of claim) {
    if (typeof item !== 'string') return null;
    if (accepts(item)) found = true;
  }
  return found;
}

/** `jti` required: a string of 1 to 256 characters (it is remembered to refuse replays). */
export function readJti(payload: Readonly<Record<string, unknown>>): EventOutcome<string> {
  const jti = own(payload, 'jti');
  if (jti === undefined) return refuse('invalid_request', 'jti is required', 'malformed');
  if (typeof jti !== 'string' || jti.length === 0) return refuse('invalid_request', 'jti is not a non-empty string', 'malformed');
  if (jti.length > MAX_EVENT_VALUE_LENGTH) {
    return refuse('invalid_request', `jti is longer than ${MAX_EVENT_VALUE_LENGTH} characters`, 'malformed');
  }
  return { ok: true, value: jti };
}

/** The media type of a Content-Type value, lowercased, without parameters. */
export function mediaTypeOf(contentType: string | null): string | null {
  return contentType === null ? null : contentType.split(';', 1)[0]!.trim().toLowerCase();
}

/** An own member only: a claim named like an Object.prototype property is absent unless present. */
export const own = (value: Readonly<Record<string, unknown>>, name: string): unknown =>
  Object.hasOwn(value, name) ? value[name] : undefined;
export const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
