// Revoked claim values (docs/revocation.md, docs/events.md "Claim subjects"): what an `email` or
// `phone_number` subject of a Shared Signals event revokes. Each transmitter names, per format,
// the access-token claim that holds such a value (`subjectClaims`); an event revokes every token
// whose claim, named by that transmitter, holds the value. So an entry of the list is the triple
// (format, claim name, value), and a tenant whose transmitters name different claims checks each
// claim any of them names, each only against the entries made under its own name.
//
//   const key = claimValueKey('email', 'email', 'Ann@Example.COM');   // '["email","email","Ann@example.com"]'
//   claimKeysOf(token.claims, tenant.revocation.claimSubjects);        // the keys this token carries
//
// An email address is compared with its domain in lowercase (providers send it differently
// cased; the local part is the mailbox's own business, RFC 5321 §2.4); a phone number as sent.
import type { ClaimReader } from '../config/claim-names';

export type ClaimFormat = 'email' | 'phone_number';
export const CLAIM_FORMATS: readonly ClaimFormat[] = ['email', 'phone_number'];

/** A claim the tenant's transmitters name for a format: compiled once per tenant. */
export interface ClaimSubject {
  readonly format: ClaimFormat;
  readonly claim: ClaimReader;
}

/** The longest value an event may revoke (as for `sub` and `sid`); a token's claim longer than
 *  this can hold no revoked value. */
export const MAX_CLAIM_VALUE_LENGTH = 256;
/** The longest entry: the format, a claim name (at most 256 characters) and a value, in JSON. */
export const MAX_CLAIM_KEY_LENGTH = 4096;

/** The value as it is compared: an email's domain in lowercase, anything else as sent. */
export function normalizeClaimValue(format: ClaimFormat, value: string): string {
  if (format !== 'email') return value;
  const at = value.lastIndexOf('@');
  return at < 0 ? value : `${value.slice(0, at)}@${value.slice(at + 1).toLowerCase()}`;
}

/** The list entry for a value of `format` held by the claim `claimName`. JSON, so no choice of
 *  names or values can make two different triples one key. */
export function claimValueKey(format: ClaimFormat, claimName: string, value: string): string {
  return JSON.stringify([format, claimName, normalizeClaimValue(format, value)]);
}

/** The entries a token's claims could match: one per configured claim that holds a string of 1
 *  to MAX_CLAIM_VALUE_LENGTH characters. */
export function claimKeysOf(claims: Readonly<Record<string, unknown>>, subjects: readonly ClaimSubject[]): string[] {
  const keys: string[] = [];
  for (const { format, claim } of subjects) {
    const value = claim.read(claims);
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CLAIM_VALUE_LENGTH) continue;
    keys.push(claimValueKey(format, claim.name, value));
  }
  return keys;
}
