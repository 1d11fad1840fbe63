// @ts-check
// What the dev SSF transmitter says: the event types it supports (CAEP 1.0, RISC 1.0, and SSF's
// own verification and stream-updated, SSF 1.0 §8.1.4-5), the claims of one SET (RFC 8417 as SSF
// §4 profiles it: no `sub`, no `exp`, one event, `sub_id` at the top level), subject identifiers
// (RFC 9493 formats, SSF §3.3 complex subjects) and how two subjects match (SSF §8.1.3.1).
//
//   const type = eventTypeOf('session-revoked');    // the CAEP URI, or null for an unknown name
//   const subject = readSubject({ format: 'email', email: 'ann@example.com' });  // { ok, value } | { ok, problem }
//   const claims = setClaims({ issuer, audience, jti, now, type, subject, event: {}, txn });
//   subjectsMatch(added, subject);                  // SSF §8.1.3.1

import { canonicalJson, has, isObject } from './responses.mjs';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';

export const VERIFICATION = `${SSF}verification`;
export const STREAM_UPDATED = `${SSF}stream-updated`;

const CAEP_NAMES = ['session-revoked', 'credential-change', 'token-claims-change', 'assurance-level-change',
  'device-compliance-change', 'session-established', 'session-presented', 'risk-level-change'];
// RISC 1.0's types, and `tokens-revoked` of its drafts, which transmitters still send.
const RISC_NAMES = ['account-credential-change-required', 'account-purged', 'account-disabled', 'account-enabled',
  'identifier-changed', 'identifier-recycled', 'credential-compromise', 'opt-in', 'opt-out-initiated',
  'opt-out-cancelled', 'opt-out-effective', 'recovery-activated', 'recovery-information-changed',
  'sessions-revoked', 'tokens-revoked'];

/** Every stream's `events_supported`: what a receiver may request. */
export const EVENTS_SUPPORTED = Object.freeze([...CAEP_NAMES.map((name) => `${CAEP}${name}`), ...RISC_NAMES.map((name) => `${RISC}${name}`)]);

/**
 * The type URI for a short name (`session-revoked`, `account-disabled`, `verification`) or a
 * supported URI; null for anything else.
 * @param {unknown} name @returns {string | null}
 */
export function eventTypeOf(name) {
  if (typeof name !== 'string') return null;
  if (name === 'verification' || name === VERIFICATION) return VERIFICATION;
  if (EVENTS_SUPPORTED.includes(name)) return name;
  if (CAEP_NAMES.includes(name)) return `${CAEP}${name}`;
  if (RISC_NAMES.includes(name)) return `${RISC}${name}`;
  return null;
}

/**
 * The claims a type's event carries unless the caller says otherwise: CAEP events their
 * `event_timestamp`, and what the CAEP interoperability profile requires of session-revoked
 * (`reason_admin`) and credential-change (`credential_type`, `change_type`, `reason_admin`).
 * @param {string} type @param {number} nowSeconds @returns {Record<string, unknown>}
 */
export function defaultEventClaims(type, nowSeconds) {
  if (!type.startsWith(CAEP)) return {};
  const claims = { event_timestamp: nowSeconds };
  if (type === `${CAEP}session-revoked`) {
    return { ...claims, initiating_entity: 'admin', reason_admin: { en: 'Session revoked from the dev transmitter' } };
  }
  if (type === `${CAEP}credential-change`) {
    return { ...claims, credential_type: 'password', change_type: 'update', initiating_entity: 'user', reason_admin: { en: 'Password changed' } };
  }
  return claims;
}

/**
 * The claims of one SET (RFC 8417 §2.2, SSF §4.1): `iss`, `aud`, `jti`, `iat`, `txn`, the subject
 * as the top-level `sub_id` (SSF 1.0) or, with `placement: 'event'`, as the event's `subject`
 * (as SSF's drafts and older transmitters placed it), and one event.
 * @param {{ issuer: string, audience: string | string[], jti: string, nowSeconds: number, txn: string,
 *   type: string, subject: Record<string, unknown>, event: Record<string, unknown>, placement?: 'sub_id' | 'event' }} set
 */
export function setClaims({ issuer, audience, jti, nowSeconds, txn, type, subject, event, placement = 'sub_id' }) {
  const body = placement === 'event' ? { subject, ...event } : event;
  return {
    iss: issuer, aud: audience, jti, iat: nowSeconds, txn,
    ...(placement === 'sub_id' ? { sub_id: subject } : {}),
    events: { [type]: body },
  };
}

/** RFC 9493 §3.2's formats: the members each requires (all strings, but `identifiers`). */
const FORMATS = {
  account: ['uri'], email: ['email'], iss_sub: ['iss', 'sub'], opaque: ['id'], phone_number: ['phone_number'],
  did: ['url'], uri: ['uri'],
};
/** SSF §3.3: the members a complex subject may have, each a simple subject. */
export const COMPLEX_MEMBERS = ['user', 'device', 'session', 'application', 'tenant', 'org_unit', 'group'];
const MAX_SUBJECT_JSON = 2048;

/**
 * A subject identifier as given, checked: known formats (RFC 9493 §3.2, `complex`, `aliases`)
 * must carry their members as strings; other formats (SSF's `jwt_id`, proprietary ones) are
 * taken as they are, so receivers can be shown a format they do not know.
 * @param {unknown} value @returns {{ ok: true, value: Record<string, unknown> } | { ok: false, problem: string }}
 */
export function readSubject(value) {
  if (!isObject(value)) return { ok: false, problem: 'a subject must be an object' };
  if (canonicalJson(value).length > MAX_SUBJECT_JSON) return { ok: false, problem: `a subject may take at most ${MAX_SUBJECT_JSON} bytes of JSON` };
  const problem = subjectProblem(value, 0);
  return problem === null ? { ok: true, value } : { ok: false, problem };
}

/** @param {Record<string, unknown>} subject @param {number} depth @returns {string | null} */
function subjectProblem(subject, depth) {
  const format = subject.format;
  if (typeof format !== 'string' || format === '') return 'a subject needs a format';
  if (format === 'complex') {
    if (depth > 0) return 'a complex subject cannot hold another complex subject';
    const members = COMPLEX_MEMBERS.filter((name) => has(subject, name));
    if (members.length === 0) return `a complex subject needs one of ${COMPLEX_MEMBERS.join(', ')}`;
    for (const name of members) {
      const member = subject[name];
      if (!isObject(member)) return `complex subject member ${name} must be an object`;
      const inner = subjectProblem(member, depth + 1);
      if (inner !== null) return `${name}: ${inner}`;
    }
    return null;
  }
  if (format === 'aliases') {
    const identifiers = subject.identifiers;
    if (!Array.isArray(identifiers) || identifiers.length === 0) return 'an aliases subject needs identifiers';
    for (const identifier of identifiers) {
      if (!isObject(identifier) || identifier.format === 'aliases') return 'aliases identifiers must be subjects, not aliases';
      const inner = subjectProblem(identifier, depth + 1);
      if (inner !== null) return `identifiers: ${inner}`;
    }
    return null;
  }
  const required = has(FORMATS, format) ? FORMATS[/** @type {keyof typeof FORMATS} */ (format)] : [];
  for (const name of required) {
    if (typeof subject[name] !== 'string' || subject[name] === '') return `a ${format} subject needs ${name}`;
  }
  return null;
}

/**
 * SSF §8.1.3.1: simple subjects match when identical; complex ones when every member defined in
 * both is identical in both.
 * @param {Record<string, unknown>} a @param {Record<string, unknown>} b
 */
export function subjectsMatch(a, b) {
  if (a.format === 'complex' && b.format === 'complex') {
    return COMPLEX_MEMBERS.every((name) => !has(a, name) || !has(b, name) || canonicalJson(a[name]) === canonicalJson(b[name]));
  }
  return canonicalJson(a) === canonicalJson(b);
}
