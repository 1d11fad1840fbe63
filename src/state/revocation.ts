// Whether a verified token is still good against its tenant's state (SPEC.md "Tenant status and
// revocation"): the tenant claim, revokedBefore, revoked subjects, the jti denylist and the
// token version. Pure: the state is a snapshot read elsewhere.
//
//   const checked = checkRevocation(
//     { subject: token.subject, issuedAt: token.issuedAt, claims: token.claims },
//     snapshot, { tenantId: tenant.id, versionClaim: 'tv', tenantClaim: 'tid' });
//   if (!checked.ok) return d.deny(checked.denial);   // invalid_token: wrong_tenant | revoked
import { invalidToken, ok, type Outcome } from '../denial';
import type { TenantStateSnapshot } from './tenant-state';

export interface RevocationSubject {
  readonly subject: string | null;
  /** `iat`, epoch seconds, when present. */
  readonly issuedAt: number | null;
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface RevocationPolicy {
  readonly tenantId: string;
  readonly versionClaim: string | null;
  readonly tenantClaim: string | null;
}

/** Notes name the rule that refused, never a claim value. */
export function checkRevocation(token: RevocationSubject, state: TenantStateSnapshot, policy: RevocationPolicy): Outcome<void> {
  if (policy.tenantClaim !== null && claim(token.claims, policy.tenantClaim) !== policy.tenantId) {
    return invalidToken('wrong_tenant', `the ${policy.tenantClaim} claim does not name the tenant`);
  }
  if (state.revokedBefore > 0) {
    // Without iat there is no telling when the token was issued, so it counts as before.
    if (token.issuedAt === null) return invalidToken('revoked', 'no iat, and tokens issued before revokedBefore are revoked');
    if (token.issuedAt < state.revokedBefore) return invalidToken('revoked', 'issued before revokedBefore');
  }
  if (token.subject !== null && Object.hasOwn(state.revokedSubjects, token.subject)) {
    const revokedAt = state.revokedSubjects[token.subject]!;
    if (token.issuedAt === null || revokedAt > token.issuedAt) return invalidToken('revoked', 'subject revoked after the token was issued');
  }
  const jti = claim(token.claims, 'jti');
  if (typeof jti === 'string' && Object.hasOwn(state.deniedJtis, jti)) return invalidToken('revoked', 'jti denied');
  if (policy.versionClaim !== null) {
    const version = claim(token.claims, policy.versionClaim);
    // A first-party issuer may write the version as a number or as its decimal string.
    if (version !== undefined && version !== state.tokenVersion && version !== String(state.tokenVersion)) {
      return invalidToken('revoked', `the ${policy.versionClaim} claim differs from tokenVersion`);
    }
  }
  return ok(undefined);
}

/** An own claim only: a claim named like an Object.prototype member is absent unless present. */
function claim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}
