// Whether a verified token is still good against its tenant's state (docs/revocation.md): the tenant claim, the token version, revokedBefore, revoked subjects and sessions
// and the jti denylist. Pure: the state is a snapshot read elsewhere, and the object's exact
// answer, when the snapshot cannot decide, is asked for elsewhere too (tenant-states.ts).
//
//   const checked = checkRevocation(verified, snapshot, { tenantId: tenant.id, versionClaim: compileClaimName('tv'), tenantClaim: null });
//   if (checked.ok !== 'ask') return checked;            // invalid_token: wrong_tenant | revoked, or ok
//   const times = await stub.check(checked.query);       // only on "maybe"
//   return settleRevocation(verified, snapshot, times);
//
// The rules, with iat in whole seconds (a fractional iat counts as its second): a token is
// revoked when issued at or before revokedBefore (no iat counts as before), unless it carries
// versionClaim equal to tokenVersion (judged by the version alone, so a first-party issuer can
// mint right after a revoke-all); when its versionClaim differs from tokenVersion; when its sub
// or sid was revoked at or after its iat (no iat: whenever); and when its jti is denied. A jti
// list too long to ship whole is checked as "denied at or after iat", the denial time reaching
// JTI_REACH_SECONDS ahead (tenant-state.ts): a denied jti names a token issued before the denial.
import { invalidToken, ok, type Outcome } from '../denial';
import type { ClaimReader } from '../verify/claim-names';
import { hash32, latestRevocation, type RevocationList } from './revocation-list';
import type { RevocationQuery, RevocationTimes, TenantStateSnapshot } from './tenant-state';

export interface RevocationSubject {
  readonly subject: string | null;
  /** `iat`, epoch seconds, when present. */
  readonly issuedAt: number | null;
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface RevocationPolicy {
  readonly tenantId: string;
  /** Compiled claim names (a top-level name or a JSON Pointer); null when not configured. */
  readonly versionClaim: ClaimReader | null;
  readonly tenantClaim: ClaimReader | null;
}

/** The snapshot could not clear these values: only the object's exact times can. */
export interface RevocationAsk {
  readonly ok: 'ask';
  readonly query: RevocationQuery;
}

const PASSED: Outcome<void> = ok(undefined);

/** Every rule the snapshot decides; "ask" when a list may hold the token's sub, sid or jti.
 *  Notes name the rule that refused, never a claim value. */
export function checkRevocation(verified: RevocationSubject, state: TenantStateSnapshot, policy: RevocationPolicy,
  hash: (value: string) => number = hash32): Outcome<void> | RevocationAsk {
  if (policy.tenantClaim !== null && policy.tenantClaim.read(verified.claims) !== policy.tenantId) {
    return invalidToken('wrong_tenant', `the ${policy.tenantClaim.name} claim does not name the tenant`);
  }
  let current = false;
  if (policy.versionClaim !== null) {
    const version = policy.versionClaim.read(verified.claims);
    if (version !== undefined) {
      // A first-party issuer may write the version as a number or as its decimal string.
      if (version !== state.tokenVersion && version !== String(state.tokenVersion)) {
        return invalidToken('revoked', `the ${policy.versionClaim.name} claim differs from tokenVersion`);
      }
      current = true;
    }
  }
  const issued = issuedSecond(verified);
  if (state.revokedBefore > 0 && !current) {
    // Without iat there is no telling when the token was issued, so it counts as before.
    if (issued === null) return invalidToken('revoked', 'no iat, and tokens issued at or before revokedBefore are revoked');
    if (issued <= state.revokedBefore) return invalidToken('revoked', 'issued at or before revokedBefore');
  }

  let query: { sub?: string; sid?: string; jti?: string } | null = null;
  if (verified.subject !== null && mayHold(state.subjects, verified.subject, issued, false, hash)) (query ??= {}).sub = verified.subject;
  const sid = claim(verified.claims, 'sid');
  if (typeof sid === 'string' && mayHold(state.sessions, sid, issued, false, hash)) (query ??= {}).sid = sid;
  const jti = claim(verified.claims, 'jti');
  if (typeof jti === 'string' && mayHold(state.jtis, jti, issued, true, hash)) (query ??= {}).jti = jti;
  return query === null ? PASSED : { ok: 'ask', query };
}

/** The list rules once the object has said when each asked value was revoked (null: never, or
 *  no longer). Only asked values are settled here: the snapshot cleared the others. */
export function settleRevocation(verified: RevocationSubject, state: TenantStateSnapshot, times: RevocationTimes): Outcome<void> {
  const issued = issuedSecond(verified);
  const covers = (at: number | null) => at !== null && (issued === null || at >= issued);
  if (covers(times.sub)) return invalidToken('revoked', 'subject revoked at or after the token was issued');
  if (covers(times.sid)) return invalidToken('revoked', 'session revoked at or after the token was issued');
  if (times.jti !== null && (state.jtis.horizon === 0 || covers(times.jti))) return invalidToken('revoked', 'jti denied');
  return PASSED;
}

/** Whether `list` may hold `value` revoked at or after `issued`. Exact "no" when: no shipped
 *  entry under its hash is that recent, and the token was issued at or after the horizon (every
 *  entry not shipped was revoked before it). `membership`: a whole list matches by value alone. */
function mayHold(list: RevocationList, value: string, issued: number | null, membership: boolean,
  hash: (value: string) => number): boolean {
  if (list.horizon === 0 && list.entries.length === 0) return false;
  const at = latestRevocation(list, hash(value) >>> 0);
  if (at >= 0 && (issued === null || at >= issued || (membership && list.horizon === 0))) return true;
  return list.horizon > 0 && (issued === null || issued < list.horizon);
}

/** iat has one-second resolution: a token issued during the second of a revocation is revoked. */
function issuedSecond(verified: RevocationSubject): number | null {
  return verified.issuedAt === null ? null : Math.floor(verified.issuedAt);
}

/** An own claim only: a claim named like an Object.prototype member is absent unless present. */
function claim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}
