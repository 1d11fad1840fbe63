// Whether a verified token is still good against its tenant's state (docs/revocation.md): the
// tenant claim, the token version, revokedBefore, revoked subjects, sessions and claim values
// (the claims the tenant's transmitters name: claim-values.ts), the jti denylist, and what the
// lists have forgotten. Pure: the state is a snapshot read
// elsewhere, and the object's exact answer, when the snapshot cannot decide, is asked for
// elsewhere too (tenant-states.ts).
//
//   const checked = checkRevocation(verified, snapshot, { tenantId: tenant.id, versionClaim: compileClaimName('tv'), tenantClaim: null });
//   if (checked.ok !== 'ask') return checked;            // invalid_token: wrong_tenant | revoked | too_old, or ok
//   const times = await stub.check(checked.query);       // only on "maybe"
//   return settleRevocation(verified, snapshot, times);
//
// The rules, with iat in whole seconds (a fractional iat counts as its second): a token is
// revoked when issued at or before revokedBefore (no iat counts as before), unless it carries
// versionClaim equal to tokenVersion (judged by the version alone, so a first-party issuer can
// mint right after a revoke-all); when its versionClaim differs from tokenVersion; when its sub,
// sid or a claim value it holds was revoked at or after its iat (no iat: whenever); and when its
// jti is denied. A jti
// list too long to ship whole is checked as "denied at or after iat", the denial time reaching
// JTI_REACH_SECONDS ahead (tenant-state.ts): a denied jti names a token issued before the denial.
// A list that forgot entries at its capacity refuses, as a group, every token carrying a value
// for it issued at or before its floor (or without iat); one that forgot entries with age
// refuses such a token issued at or before agedThrough as too_old.
import { invalidToken, ok, type Denial, type Outcome } from '../base/denial';
import type { ClaimReader } from '../config/claim-names';
import { claimKeysOf, type ClaimSubject } from './claim-values';
import { hash32, mayHold, shipsWhole, type RevocationList } from './revocation-list';
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
  /** The claims the tenant's transmitters name for `email` and `phone_number` subjects (none:
   *  no claim is checked against the claim values list). */
  readonly claimSubjects?: readonly ClaimSubject[];
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

  let query: { sub?: string; sid?: string; jti?: string; claims?: string[] } | null = null;
  for (const field of FIELDS) {
    const value = valueOf(verified, field);
    if (value === null) continue;
    const list = state[LIST_OF[field]];
    const forgotten = forgottenBy(list, issued, field);
    if (forgotten !== null) return forgotten;
    if (mayHold(list, value, issued, field === 'jti', hash)) (query ??= {})[field] = value;
  }
  // The claims are read only while the list holds anything: most tenants never revoke by value.
  const claimValues = state.claimValues;
  if (policy.claimSubjects !== undefined && policy.claimSubjects.length > 0 && !isEmpty(claimValues)) {
    for (const key of claimKeysOf(verified.claims, policy.claimSubjects)) {
      const forgotten = forgottenBy(claimValues, issued, 'claim value');
      if (forgotten !== null) return forgotten;
      if (mayHold(claimValues, key, issued, false, hash)) ((query ??= {}).claims ??= []).push(key);
    }
  }
  return query === null ? PASSED : { ok: 'ask', query };
}

/** The list rules once the object has said when each asked value was revoked (null: never, or
 *  no longer). Only asked values are settled here: the snapshot cleared the others. */
export function settleRevocation(
  verified: RevocationSubject, state: TenantStateSnapshot, times: Omit<RevocationTimes, 'asOf'>,
): Outcome<void> {
  const issued = issuedSecond(verified);
  const covers = (at: number | null) => at !== null && (issued === null || at >= issued);
  if (covers(times.sub)) return invalidToken('revoked', 'subject revoked at or after the token was issued');
  if (covers(times.sid)) return invalidToken('revoked', 'session revoked at or after the token was issued');
  if (times.claims?.some(covers)) return invalidToken('revoked', 'a claim value revoked at or after the token was issued');
  if (times.jti !== null && (shipsWhole(state.jtis) || covers(times.jti))) return invalidToken('revoked', 'jti denied');
  return PASSED;
}

/** The token's claim each list matches, in the order they are checked. */
export const FIELDS = ['sub', 'sid', 'jti'] as const;
export type Field = (typeof FIELDS)[number];
export const LIST_OF = { sub: 'subjects', sid: 'sessions', jti: 'jtis' } as const satisfies Record<Field, keyof TenantStateSnapshot>;

/** The value a token carries for a list: its sub, or a string sid or jti claim; else null. */
export function valueOf(verified: RevocationSubject, field: Field): string | null {
  if (field === 'sub') return verified.subject;
  const value = claim(verified.claims, field);
  return typeof value === 'string' ? value : null;
}

/** The refusal of a token carrying a value for `list` that the list may have forgotten: issued
 *  at or before its floor (or without iat), revoked as a group; issued at or before what age
 *  took, too old. */
function forgottenBy(list: RevocationList, issued: number | null, field: Field | 'claim value'): { ok: false; denial: Denial } | null {
  if (list.floor > 0 && (issued === null || issued <= list.floor)) {
    return invalidToken('revoked', `issued at or before the ${field} list's forgetting floor`);
  }
  if (issued !== null && issued <= list.agedThrough) {
    return invalidToken('too_old', `issued before the ${field} list's memory of revocations`);
  }
  return null;
}

/** A list that holds nothing and has forgotten nothing: no token can match it. */
function isEmpty(list: RevocationList): boolean {
  return list.entries.length === 0 && list.filter === null && list.horizon === 0 && list.floor === 0 && list.agedThrough === 0;
}

/** iat has one-second resolution: a token issued during the second of a revocation is revoked. */
function issuedSecond(verified: RevocationSubject): number | null {
  return verified.issuedAt === null ? null : Math.floor(verified.issuedAt);
}

/** An own claim only: a claim named like an Object.prototype member is absent unless present. */
function claim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}
