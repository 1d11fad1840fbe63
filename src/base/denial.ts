// What a refusal is: the closed set of reasons and denials (docs/errors.md).
// Steps return an Outcome; only http/respond.ts turns a Denial into a Response.

export const REASONS = [
  'malformed', 'alg_not_allowed', 'unknown_issuer', 'unknown_kid', 'bad_signature', 'expired',
  'not_yet_valid', 'too_old', 'wrong_audience', 'wrong_resource', 'wrong_type', 'wrong_tenant',
  'revoked', 'pop_required', 'cert_mismatch', 'inactive',
] as const;
export type Reason = (typeof REASONS)[number];

/** The `reason` of an `invalid_dpop_proof` body (docs/dpop.md). */
export const DPOP_REASONS = [
  'dpop_malformed', 'dpop_bad_signature', 'dpop_mismatch', 'dpop_stale', 'dpop_replayed', 'dpop_key_mismatch',
] as const;
export type DpopReason = (typeof DPOP_REASONS)[number];

export type Denial =
  | { error: 'unknown_host' }
  | { error: 'tenant_config_invalid' }
  | { error: 'tenant_on_hold' }
  | { error: 'origin_not_allowed' }
  | { error: 'missing_token' }
  | { error: 'invalid_request'; description: string }
  | { error: 'invalid_token'; reason: Reason; note?: string } // note is for the log, never the token
  | { error: 'insufficient_scope'; needed: readonly string[] }
  | { error: 'access_denied'; note?: string } // the route's claim conditions
  // RFC 9470 step-up: what the challenge names (acr_values, max_age); null when not required.
  | { error: 'insufficient_user_authentication'; acrValues: readonly string[] | null; maxAge: number | null; note?: string }
  | { error: 'invalid_dpop_proof'; reason: DpopReason; note?: string } // RFC 9449 §7.1; note as above
  | { error: 'use_dpop_nonce'; nonce: string } // RFC 9449 §9: the nonce to send in DPoP-Nonce
  | { error: 'rate_limited' | 'issuer_unavailable' | 'revocation_unavailable'; retryAfterSeconds: number; note?: string }
  | { error: 'upstream_unavailable'; note?: string }
  | { error: 'internal_error'; note?: string }; // a bug or a broken binding: 500, logged

/** Every Denial error code once: a code added to Denial and missing here (or listed here and not
 *  in Denial) does not compile. docs/errors.md lists the same set (a test compares them). */
const ERROR_CODES: { readonly [E in Denial['error']]: true } = {
  unknown_host: true, tenant_config_invalid: true, tenant_on_hold: true, origin_not_allowed: true, missing_token: true,
  invalid_request: true, invalid_token: true, insufficient_scope: true, access_denied: true,
  insufficient_user_authentication: true, invalid_dpop_proof: true, use_dpop_nonce: true, rate_limited: true,
  issuer_unavailable: true, revocation_unavailable: true, upstream_unavailable: true, internal_error: true,
};
export const DENIAL_ERRORS = Object.freeze(Object.keys(ERROR_CODES) as Denial['error'][]);

export type Outcome<T> = { ok: true; value: T } | { ok: false; denial: Denial };

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const deny = (denial: Denial): { ok: false; denial: Denial } => ({ ok: false, denial });
/** A token-free description of a thrown error, for a denial's note or a log line only. */
export function noteOf(error: unknown): string {
  return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 200);
}

export const invalidToken = (reason: Reason, note?: string): { ok: false; denial: Denial } =>
  deny(note === undefined ? { error: 'invalid_token', reason } : { error: 'invalid_token', reason, note });

export const invalidProof = (reason: DpopReason, note?: string): { ok: false; denial: Denial } =>
  deny(note === undefined ? { error: 'invalid_dpop_proof', reason } : { error: 'invalid_dpop_proof', reason, note });
