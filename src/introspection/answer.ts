// An introspection answer (RFC 7662 §2.2) as the edge reads and judges it (docs/introspection.md).
// Reading: the answer must be a JSON object whose `active` is a boolean, nesting no deeper than a
// token's claims may; anything else is no answer at all (the caller's 503 issuer_unavailable). Its
// members without `active` are the token's claims. Judging an active answer holds it to the rules
// of a verified JWT's payload: `iss` when present is the issuer, `token_type` when present is
// Bearer or DPoP, the time claims as readClaimTimes reads them, then audience, resource, sub, jti,
// sid, scopes and client id (acceptClaims, the JWT path's own). checkTimes (exp, nbf, iat,
// maxTokenAgeSeconds, retainSeconds) is the caller's, on every use of an answer, as for a cached JWT.
//
//   const answer = readAnswer(fetched.body);            // null: not an answer (503)
//   if (!answer.active) return invalidToken('inactive');
//   const token = judgeAnswer(answer.claims, issuer, resource);   // Outcome<VerifiedToken>
//   if (token.ok) checkTimes(token.value, issuer, now());
import type { JWTPayload } from 'jose';
import { invalidToken, type Outcome } from '../base/denial';
import type { IssuerPolicy } from '../tenants/tenant';
import { MAX_JSON_DEPTH } from '../verify/compact';
import { readClaimTimes } from '../verify/times';
import { acceptClaims, type VerifiedToken, type Vouched } from '../verify/token';

/** The answer with `active` read: the claims are the members without it, frozen once judged. */
export type Answer =
  | { readonly active: true; readonly claims: Record<string, unknown> }
  | { readonly active: false };

export const INACTIVE: Answer = Object.freeze({ active: false });

/** A token's claims and their answer fit in this; a larger body is no answer (and never read on). */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** RFC 6750 and RFC 9449 access tokens: the token types an answer may name (case-insensitive). */
const ACCESS_TOKEN_TYPES = new Set(['bearer', 'dpop']);

/** What an opaque token's VerifiedToken says of its signature: none. */
const BY_ANSWER: Vouched = Object.freeze({ kid: undefined, alg: null, keyTier: null, keySetVersion: 0 });

/** The answer in a parsed body, or null unless it is a JSON object with a boolean `active`
 *  nesting at most MAX_JSON_DEPTH levels. */
export function readAnswer(body: unknown): Answer | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { active, ...claims } = body as Record<string, unknown>;
  if (typeof active !== 'boolean') return null;
  if (!nestsWithin(claims, MAX_JSON_DEPTH)) return null;
  // Whatever else an inactive answer says is not the edge's business (RFC 7662 §2.2).
  return active ? { active: true, claims } : INACTIVE;
}

/** An active answer's claims held to the JWT rules that do not move with time. */
export function judgeAnswer(claims: Record<string, unknown>, issuer: IssuerPolicy, resource: string): Outcome<VerifiedToken> {
  const iss = claims.iss;
  if (iss !== undefined && typeof iss !== 'string') return invalidToken('malformed', 'introspection: iss is not a string');
  if (iss !== undefined && iss !== issuer.issuer) return invalidToken('unknown_issuer', 'introspection: the answer names another issuer');
  const type = claims.token_type;
  if (type !== undefined && (typeof type !== 'string' || !ACCESS_TOKEN_TYPES.has(type.toLowerCase()))) {
    return invalidToken('wrong_type', 'introspection: token_type is not Bearer or DPoP');
  }
  const times = readClaimTimes(claims, issuer);
  if (!times.ok) return times;
  return acceptClaims(claims as JWTPayload, issuer, resource, times.value, BY_ANSWER);
}

/** Whether a parsed JSON value nests at most `limit` objects and arrays deep; the walk itself
 *  never goes deeper than that. */
function nestsWithin(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (limit === 0) return false;
  for (const inner of Object.values(value)) if (!nestsWithin(inner, limit - 1)) return false;
  return true;
}
