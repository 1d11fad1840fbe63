// The JWT claims set's time and type rules (RFC 7519 §4.1, RFC 9068 §2.1 for typ), the one home
// of the rules jose's jwtVerify would apply, in whole seconds with the issuer's clock tolerance,
// made here on the payload verifyToken already parsed (jose still does all of the JWS). Two
// parts: readTimes once per verification (types and presence: malformed, wrong_type), and
// checkTimes on every request, a verified-token cache hit included (expired, not_yet_valid,
// too_old), so a cached token is held to exactly the rules that admitted it.
// Plus two rules of ours: a future iat is refused with or without maxTokenAge; and no token is
// older than the tenant's memory of revocations (revocation.retainSeconds, docs/revocation.md):
// an iat more than retainSeconds ago, or without iat an exp more than retainSeconds ahead, is
// too_old, as maxTokenAgeSeconds is (with the clock tolerance).
//
//   const times = readTimes(header, payload, issuer);
//   if (!times.ok) return times;                         // wrong_type, malformed
//   const valid = checkTimes(times.value, issuer, now()); // expired, not_yet_valid, too_old
import { invalidToken, ok, type Outcome } from '../base/denial';
import type { IssuerPolicy } from '../tenants/tenant';

type Claims = Readonly<Record<string, unknown>>;

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
  const now = Math.floor(nowMs / 1000);
  const tolerance = issuer.clockToleranceSeconds;
  if (times.notBefore !== null && times.notBefore > now + tolerance) return invalidToken('not_yet_valid', 'nbf in the future');
  if (times.expiresAt <= now - tolerance) return invalidToken('expired', 'exp in the past');
  const iat = times.issuedAt;
  const maxAge = issuer.maxTokenAgeSeconds;
  if (maxAge !== null && iat !== null && now - iat - tolerance > maxAge) return invalidToken('too_old', 'iat older than maxTokenAgeSeconds');
  // A token without iat shows its age only through its lifetime: one that lives on past the
  // memory of revocations may have been issued before what that memory has forgotten.
  const retain = issuer.retainSeconds;
  if (iat !== null && now - iat - tolerance > retain) return invalidToken('too_old', 'iat older than revocation.retainSeconds');
  if (iat === null && times.expiresAt - now - tolerance > retain) return invalidToken('too_old', 'no iat, and exp further ahead than revocation.retainSeconds');
  if (iat !== null && iat > now + tolerance) return invalidToken('not_yet_valid', 'iat in the future');
  return PASSED;
}

const PASSED: Outcome<void> = ok(undefined);
const isFinite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** RFC 9068 §2.1: "at+jwt" and "application/at+jwt" are the same media type, in any case. */
function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
}
