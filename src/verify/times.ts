// The JWT claims set's checks that jose's jwtVerify would make (RFC 7519 §4.1, RFC 9068 §2.1
// for typ), made here on the payload verifyToken already parsed, so a token's payload is decoded
// and parsed once, not twice. The rules and their order are jose 6's validateClaimsSet, in whole
// seconds with the issuer's clock tolerance; jose still does all of the JWS (compactVerify).
// Plus one rule of ours: a future iat is refused with or without maxTokenAge.
//
//   const times = checkTimes(header, payload, issuer, now());
//   if (!times.ok) return times;       // wrong_type, malformed, not_yet_valid, expired, too_old
import { invalidToken, ok, type Outcome } from '../denial';
import type { IssuerPolicy } from '../tenants/tenant';

type Claims = Readonly<Record<string, unknown>>;

export function checkTimes(header: Claims, claims: Claims, issuer: IssuerPolicy, nowMs: number): Outcome<void> {
  const required = issuer.requiredType;
  if (required !== null && (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(required))) {
    return invalidToken('wrong_type', 'typ header');
  }
  // Presence in jose's order (iss was required before the issuer was chosen).
  const maxAge = issuer.maxTokenAgeSeconds;
  if (maxAge !== null && !Object.hasOwn(claims, 'iat')) return invalidToken('malformed', 'iat missing');
  if (!Object.hasOwn(claims, 'exp')) return invalidToken('malformed', 'exp missing');

  const now = Math.floor(nowMs / 1000);
  const tolerance = issuer.clockToleranceSeconds;
  const iat = claims.iat;
  if (iat !== undefined && typeof iat !== 'number') return invalidToken('malformed', 'iat is not a number');
  const nbf = claims.nbf;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') return invalidToken('malformed', 'nbf is not a number');
    if (nbf > now + tolerance) return invalidToken('not_yet_valid', 'nbf in the future');
  }
  const exp = claims.exp;
  if (typeof exp !== 'number') return invalidToken('malformed', 'exp is not a number');
  if (exp <= now - tolerance) return invalidToken('expired', 'exp in the past');
  // 1e309 parses as Infinity: a token that would never expire is not a token we accept.
  if (exp === Number.POSITIVE_INFINITY) return invalidToken('malformed', 'exp is not a finite number');
  if (maxAge !== null) {
    const age = now - (iat as number);
    if (age - tolerance > maxAge) return invalidToken('too_old', 'iat older than maxTokenAgeSeconds');
    if (age < -tolerance) return invalidToken('not_yet_valid', 'iat in the future');
  }
  if (iat !== undefined && iat > now + tolerance) return invalidToken('not_yet_valid', 'iat in the future');
  return ok(undefined);
}

/** RFC 9068 §2.1: "at+jwt" and "application/at+jwt" are the same media type, in any case. */
function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
}
