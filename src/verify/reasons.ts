// The one place jose's errors become our reason codes (SPEC.md "Reason codes"). Only
// compactVerify runs under a try: verifyToken parses the header and payload itself and applies
// the claim rules in times.ts and claims.ts, so the JWS errors below are all jose can throw here.
//
//   try { await compactVerify(token, key, { algorithms: [alg] }) }
//   catch (error) { const why = reasonOfJoseError(error); /* { reason, note } */ }
import { errors } from 'jose';
import type { Reason } from '../denial';

export interface JoseDenial {
  readonly reason: Reason;
  /** For the log: jose's code, never anything from the token's value. */
  readonly note: string;
}

/** Our reason for an error compactVerify threw. Anything that is not a jose error (a key of the
 *  wrong type from the key tiers, a TypeError for bad options) is a bug on our side and is
 *  thrown again. */
export function reasonOfJoseError(error: unknown): JoseDenial {
  if (error instanceof errors.JWSSignatureVerificationFailed) return { reason: 'bad_signature', note: error.code };
  if (error instanceof errors.JOSEAlgNotAllowed) return { reason: 'alg_not_allowed', note: error.code };
  // JWSInvalid (structure, b64: false), JOSENotSupported (an unknown crit extension).
  if (error instanceof errors.JWSInvalid || error instanceof errors.JOSENotSupported) return { reason: 'malformed', note: error.code };
  throw error;
}
