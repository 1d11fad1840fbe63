// Reading the subject of a security event (RFC 9493 subject identifiers, as profiled by OpenID
// Shared Signals Framework 1.0 §3): which `sub`, which session (`sid`), or which email address or
// phone number it names, if any, for a tenant. Total: any JSON value in, a reading out, never a
// throw (property-tested).
//
//   readSubject({ format: 'iss_sub', iss: 'https://idp.example/', sub: 'u1' }, tenant.issuers)
//     // { format: 'iss_sub', user: 'u1', session: null, claim: null }  (when the tenant trusts that iss)
//   readSubject({ format: 'complex', user: { format: 'opaque', id: 'u1' },
//                 session: { format: 'opaque', id: 's1' } }, tenant.issuers)
//     // { format: 'complex', user: 'u1', session: 's1', claim: null }
//   readSubject({ format: 'email', email: 'ann@example.com' }, tenant.issuers).claim   // { format: 'email', value: 'ann@example.com' }
//
// - `iss_sub` ({format, iss, sub}): `sub` names the user when `iss` is one of the tenant's issuers.
// - `opaque` ({format, id}): `id` is a `sub`.
// - `email` ({format, email}) and `phone_number` ({format, phone_number}): a value some claim of
//   the tenant's tokens may hold (which claim is the transmitter's subjectClaims: event-types.ts).
// - `complex` ({format: 'complex', user?, session?, ...}): `user` as one of the four above,
//   `session` as `opaque` giving a `sid`; other members (device, tenant, ...) are not read.
// - any other format (account, aliases, jwt_id, ...): names nothing here.
// Google's RISC transmitter spells `format` as `subject_type` (RISC 1.0 §4.1): read when `format`
// is absent.
import type { ClaimFormat } from '../revocation/claim-values';

export interface SubjectReading {
  /** The format as sent (at most 64 characters), 'none' without a subject object, 'invalid'
   *  when the object has no string format. */
  readonly format: string;
  /** A `sub` of the tenant's users, or null. */
  readonly user: string | null;
  /** A session id (`sid`), or null. */
  readonly session: string | null;
  /** An email address or phone number (as sent; may be long: the caller judges), or null. */
  readonly claim: ClaimValue | null;
  /** Why a subject (or part of it) names nothing here, for the log. */
  readonly note?: string;
}

export interface ClaimValue {
  readonly format: ClaimFormat;
  readonly value: string;
}

/** The tenant's trusted issuers, by exact `iss`. */
export interface IssuerSet {
  has(iss: string): boolean;
}

export function readSubject(value: unknown, issuers: IssuerSet): SubjectReading {
  if (!isObject(value)) {
    const why = value === undefined ? 'no subject' : 'subject is not an object';
    return { format: 'none', user: null, session: null, claim: null, note: why };
  }
  const format = formatOf(value);
  if (format === null) return { format: 'invalid', user: null, session: null, claim: null, note: 'subject has no format' };
  if (format !== 'complex') {
    const simple = readSimple(value, format, issuers);
    return { format: forLog(format), user: simple.user, session: null, claim: simple.claim, ...note(simple.note) };
  }
  const user = Object.hasOwn(value, 'user') ? readMember(value.user, issuers) : NOTHING;
  const session = Object.hasOwn(value, 'session') ? readSession(value.session) : { session: null, note: undefined };
  const notes = [user.note && `user: ${user.note}`, session.note && `session: ${session.note}`].filter(Boolean).join('; ');
  const named = user.user !== null || user.claim !== null || session.session !== null;
  return {
    format: 'complex',
    user: user.user,
    session: session.session,
    claim: user.claim,
    ...note(notes || (named ? undefined : 'complex subject without user or session')),
  };
}

type Simple = { user: string | null; claim: ClaimValue | null; note: string | undefined };
const NOTHING: Simple = { user: null, claim: null, note: undefined };
const none = (why: string): Simple => ({ user: null, claim: null, note: why });

/** A complex subject's `user`: a simple subject identifier (never another complex one). */
function readMember(value: unknown, issuers: IssuerSet): Simple {
  if (!isObject(value)) return none('not an object');
  const format = formatOf(value);
  if (format === null) return none('no format');
  if (format === 'complex') return none('a complex subject inside a complex subject');
  return readSimple(value, format, issuers);
}

function readSimple(value: Readonly<Record<string, unknown>>, format: string, issuers: IssuerSet): Simple {
  switch (format) {
    case 'iss_sub': {
      const iss = own(value, 'iss');
      const sub = own(value, 'sub');
      if (typeof iss !== 'string' || !isValue(sub)) return none('iss_sub without string iss and sub');
      // A sub is only meaningful under its issuer: another issuer's "u1" is not this tenant's "u1".
      if (!issuers.has(iss)) return none('iss_sub names an issuer this tenant does not trust');
      return { user: sub, claim: null, note: undefined };
    }
    case 'opaque': {
      const id = own(value, 'id');
      return isValue(id) ? { user: id, claim: null, note: undefined } : none('opaque without a string id');
    }
    case 'email':
    case 'phone_number': {
      // RFC 9493 §3.2.2-3.2.3: the member is named as the format.
      const claimed = own(value, format);
      if (!isValue(claimed)) return none(`${format} without a string ${format}`);
      return { user: null, claim: { format, value: claimed }, note: undefined };
    }
    default:
      return none(`format ${forLog(format)} names no sub or sid here`);
  }
}

/** A complex subject's `session`: opaque, its id the `sid`. */
function readSession(value: unknown): { session: string | null; note: string | undefined } {
  if (!isObject(value)) return { session: null, note: 'not an object' };
  const format = formatOf(value);
  if (format !== 'opaque') return { session: null, note: `format ${format === null ? 'missing' : forLog(format)} is not opaque` };
  const id = own(value, 'id');
  return isValue(id) ? { session: id, note: undefined } : { session: null, note: 'opaque without a string id' };
}

function formatOf(value: Readonly<Record<string, unknown>>): string | null {
  const format = Object.hasOwn(value, 'format') ? value.format : own(value, 'subject_type');
  return typeof format === 'string' ? format : null;
}

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
/** An own member only: a member named like an Object.prototype property is absent unless present. */
const own = (value: Readonly<Record<string, unknown>>, name: string): unknown => Object.hasOwn(value, name) ? value[name] : undefined;
/** A non-empty string: an empty sub or sid names nobody. Length is judged by the caller. */
const isValue = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const forLog = (value: string): string => value.length <= 64 ? value : `${value.slice(0, 64)}…`;
const note = (text: string | undefined): { note?: string } => text ? { note: text } : {};
