// The one home of the time rules of every signed token the edge reads (RFC 7519 §4.1), in whole
// seconds with a clock tolerance: exp, nbf, iat and how old an iat may be. Access tokens (below:
// readTimes and checkTimes, the rules jose's jwtVerify would apply, made on the payload
// verifyToken already parsed), logout tokens and SETs (readEventTimes), and DPoP proofs
// (possession/dpop.ts) all ask the same three questions here: olderThan, inFuture, hasExpired.
//
// For access tokens, two parts: readTimes once per verification (typ and presence: malformed,
// wrong_type), and checkTimes on every request, a verified-token cache hit included (expired,
// not_yet_valid, too_old), so a cached token is held to exactly the rules that admitted it.
// Plus two rules of ours: a future iat is refused with or without maxTokenAge; and no token is
// older than the tenant's memory of revocations (revocation.retainSeconds, docs/revocation.md):
// an iat more than retainSeconds ago, or without iat an exp more than retainSeconds ahead, is
// too_old, as maxTokenAgeSeconds is (with the clock tolerance).
//
//   const times = readTimes(header, payload, issuer);
//   if (!times.ok) return times;                         // wrong_type, malformed
//   const answered = readClaimTimes(answer, issuer);     // an introspection answer: no header, no typ
//   const valid = checkTimes(times.value, issuer, now()); // expired, not_yet_valid, too_old
//   const iat = readEventTimes(payload, { nowSeconds, toleranceSeconds: 30, maxAgeSeconds: 300 });
//   olderThan(proof.iat, secondsOf(now()), maxAgeSeconds, 0);   // a DPoP proof's age
import { invalidToken, ok, type Outcome, type Reason } from '../base/denial';
import type { IssuerPolicy } from '../tenants/tenant';

type Claims = Readonly<Record<string, unknown>>;

/** Whole seconds of a clock reading (epoch milliseconds): a fractional second has not passed. */
export const secondsOf = (ms: number): number => Math.floor(ms / 1000);

/** Issued more than `maxAgeSeconds` before `now`, beyond the clock tolerance `slackSeconds`. */
export const olderThan = (iat: number, now: number, maxAgeSeconds: number, slackSeconds: number): boolean =>
  now - iat - slackSeconds > maxAgeSeconds;

/** Later than `now` by more than the tolerance: an nbf or iat not reached yet. */
export const inFuture = (time: number, now: number, toleranceSeconds: number): boolean => time > now + toleranceSeconds;

/** An exp at or before `now`, less the tolerance. */
export const hasExpired = (exp: number, now: number, toleranceSeconds: number): boolean => exp <= now - toleranceSeconds;

/** The time claims of a token, epoch seconds. */
export interface TokenTimes {
  readonly expiresAt: number;
  readonly notBefore: number | null;
  readonly issuedAt: number | null;
}

export function readTimes(header: Claims, claims: Claims, issuer: IssuerPolicy): Outcome<TokenTimes> {
  const required = issuer.requiredType;
  if (required !== null && (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(required))) {
    return invalidToken('wrong_type', 'typ header');
  }
  return readClaimTimes(claims, issuer);
}

/** The time claims of a claims set without a JOSE header (an introspection answer: RFC 7662 §2.2
 *  uses the JWT claims' names and meanings), under the same presence and type rules. */
export function readClaimTimes(claims: Claims, issuer: Pick<IssuerPolicy, 'maxTokenAgeSeconds'>): Outcome<TokenTimes> {
  // Presence in jose's order (iss was required before the issuer was chosen).
  if (issuer.maxTokenAgeSeconds !== null && !Object.hasOwn(claims, 'iat')) return invalidToken('malformed', 'iat missing');
  if (!Object.hasOwn(claims, 'exp')) return invalidToken('malformed', 'exp missing');
  const { iat, nbf, exp } = claims;
  if (iat !== undefined && !isFinite(iat)) return invalidToken('malformed', 'iat is not a finite number');
  if (nbf !== undefined && !isFinite(nbf)) return invalidToken('malformed', 'nbf is not a finite number');
  // 1e309 parses as Infinity: a token that would never expire is not a token we accept.
  if (!isFinite(exp)) return invalidToken('malformed', 'exp is not a finite number');
  return ok({ expiresAt: exp, notBefore: nbf ?? null, issuedAt: iat ?? null });
}

export function checkTimes(times: TokenTimes, issuer: IssuerPolicy, nowMs: number): Outcome<void> {
  const now = secondsOf(nowMs);
  const tolerance = issuer.clockToleranceSeconds;
  if (times.notBefore !== null && inFuture(times.notBefore, now, tolerance)) return invalidToken('not_yet_valid', 'nbf in the future');
  if (hasExpired(times.expiresAt, now, tolerance)) return invalidToken('expired', 'exp in the past');
  const iat = times.issuedAt;
  const maxAge = issuer.maxTokenAgeSeconds;
  if (maxAge !== null && iat !== null && olderThan(iat, now, maxAge, tolerance)) {
    return invalidToken('too_old', 'iat older than maxTokenAgeSeconds');
  }
  // A token without iat shows its age only through its lifetime: one that lives on past the
  // memory of revocations may have been issued before what that memory has forgotten.
  const retain = issuer.retainSeconds;
  if (iat !== null && olderThan(iat, now, retain, tolerance)) return invalidToken('too_old', 'iat older than revocation.retainSeconds');
  if (iat === null && times.expiresAt - now - tolerance > retain) {
    return invalidToken('too_old', 'no iat, and exp further ahead than revocation.retainSeconds');
  }
  if (iat !== null && inFuture(iat, now, tolerance)) return invalidToken('not_yet_valid', 'iat in the future');
  return PASSED;
}

/** The window a logout token or SET is accepted in (events/). */
export interface EventTimeRules {
  readonly nowSeconds: number;
  readonly toleranceSeconds: number;
  /** The oldest `iat` accepted: now minus this, minus the tolerance. */
  readonly maxAgeSeconds: number;
}

/** Why an event's times refuse it: the reason code, and the description its 400 carries. */
export type EventTimes = { ok: true; value: number } | { ok: false; reason: Reason; description: string };

/** A logout token's or SET's times: `iat` required, finite, not in the future and not older than
 *  allowed (each with the clock tolerance); `nbf` and `exp` honoured when present. The issued-at
 *  time, or why not. */
export function readEventTimes(payload: Claims, rules: EventTimeRules): EventTimes {
  const { nowSeconds: now, toleranceSeconds: tolerance } = rules;
  const iat = own(payload, 'iat');
  if (iat === undefined) return refused('malformed', 'iat is required');
  if (!isFinite(iat)) return refused('malformed', 'iat is not a number');
  if (inFuture(iat, now, tolerance)) return refused('not_yet_valid', 'iat is in the future');
  if (olderThan(iat, now, rules.maxAgeSeconds, tolerance)) return refused('too_old', `iat is more than ${rules.maxAgeSeconds} seconds old`);
  const nbf = own(payload, 'nbf');
  if (nbf !== undefined && !isFinite(nbf)) return refused('malformed', 'nbf is not a number');
  if (nbf !== undefined && inFuture(nbf, now, tolerance)) return refused('not_yet_valid', 'nbf is in the future');
  const exp = own(payload, 'exp');
  if (exp !== undefined && !isFinite(exp)) return refused('malformed', 'exp is not a number');
  if (exp !== undefined && hasExpired(exp, now, tolerance)) return refused('expired', 'exp has passed');
  return { ok: true, value: iat };
}

const PASSED: Outcome<void> = ok(undefined);
const refused = (reason: Reason, description: string): EventTimes => ({ ok: false, reason, description });
const isFinite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
/** An own member only: a claim named like an Object.prototype property is absent unless present. */
const own = (value: Claims, name: string): unknown => Object.hasOwn(value, name) ? value[name] : undefined;

/** RFC 9068 §2.1: "at+jwt" and "application/at+jwt" are the same media type, in any case. */
function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
}
