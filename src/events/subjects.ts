// Reading the subject of a security event (RFC 9493 subject identifiers, as profiled by OpenID
// Shared Signals Framework 1.0 §3): which `sub` and which session (`sid`) it names, if any, for a
// tenant. Total: any JSON value in, a reading out, never a throw (property-tested).
//
//   readSubject({ format: 'iss_sub', iss: 'https://idp.example/', sub: 'u1' }, tenant.issuers)
//     // { format: 'iss_sub', user: 'u1', session: null }  (when the tenant trusts that iss)
//   readSubject({ format: 'complex', user: { format: 'opaque', id: 'u1' },
//                 session: { format: 'opaque', id: 's1' } }, tenant.issuers)
//     // { format: 'complex', user: 'u1', session: 's1' }
//
// - `iss_sub` ({format, iss, sub}): `sub` names the user when `iss` is one of the tenant's issuers.
// - `opaque` ({format, id}): `id` is a `sub`.
// - `complex` ({format: 'complex', user?, session?, ...}): `user` as one of the two above,
//   `session` as `opaque` giving a `sid`; other members (device, tenant, ...) are not read.
// - any other format (email, phone_number, account, aliases, jwt_id, ...): names nothing here.
// Google's RISC transmitter spells `format` as `subject_type` (RISC 1.0 §4.1): read when `format`
// is absent.

export interface SubjectReading {
  /** The format as sent (at most 64 characters), 'none' without a subject object, 'invalid'
   *  when the object has no string format. */
  readonly format: string;
  /** A `sub` of the tenant's users, or null. */
  readonly user: string | null;
  /** A session id (`sid`), or null. */
  readonly session: string | null;
  /** Why a subject (or part of it) names nothing here, for the log. */
  readonly note?: string;
}

/** The tenant's trusted issuers, by exact `iss`. */
export interface IssuerSet {
  has(iss: string): boolean;
}

export function readSubject(value: unknown, issuers: IssuerSet): SubjectReading {
  if (!isObject(value)) {
    return { format: 'none', user: null, session: null, note: value === undefined ? 'no subject' : 'subject is not an object' };
  }
  const format = formatOf(value);
  if (format === null) return { format: 'invalid', user: null, session: null, note: 'subject has no format' };
  if (format !== 'complex') {
    const simple = readSimple(value, format, issuers);
    return { format: forLog(format), user: simple.user, session: null, ...note(simple.note) };
  }
  const user = Object.hasOwn(value, 'user') ? readMember(value.user, issuers) : { user: null, note: undefined };
  const session = Object.hasOwn(value, 'session') ? readSession(value.session) : { session: null, note: undefined };
  const notes = [user.note && `user: ${user.note}`, session.note && `session: ${session.note}`].filter(Boolean).join('; ');
  return {
    format: 'complex',
    user: user.user,
    session: session.session,
    ...note(notes || (user.user === null && session.session === null ? 'complex subject without user or session' : undefined)),
  };
}

/** A complex subject's `user`: a simple subject identifier (never another complex one). */
function readMember(value: unknown, issuers: IssuerSet): { user: string | null; note: string | undefined } {
  if (!isObject(value)) return { user: null, note: 'not an object' };
  const format = formatOf(value);
  if (format === null) return { user: null, note: 'no format' };
  if (format === 'complex') return { user: null, note: 'a complex subject inside a complex subject' };
  return readSimple(value, format, issuers);
}

function readSimple(value: Readonly<Record<string, unknown>>, format: string, issuers: IssuerSet):
  { user: string | null; note: string | undefined } {
  switch (format) {
    case 'iss_sub': {
      const iss = own(value, 'iss');
      const sub = own(value, 'sub');
      if (typeof iss !== 'string' || !isValue(sub)) return { user: null, note: 'iss_sub without string iss and sub' };
      // A sub is only meaningful under its issuer: another issuer's "u1" is not this tenant's "u1".
      if (!issuers.has(iss)) return { user: null, note: 'iss_sub names an issuer this tenant does not trust' };
      return { user: sub, note: undefined };
    }
    case 'opaque': {
      const id = own(value, 'id');
      return isValue(id) ? { user: id, note: undefined } : { user: null, note: 'opaque without a string id' };
    }
    default:
      return { user: null, note: `format ${forLog(format)} names no sub or sid here` };
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
