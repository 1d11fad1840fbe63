// The one place jose's errors become our reason codes (SPEC.md "Reason codes"). jose's codes
// are coarser than ours: a too-old `iat` arrives as ERR_JWT_EXPIRED with claim 'iat'.
//
//   try { await jwtVerify(token, key, options) }
//   catch (error) { const why = reasonOfJoseError(error); /* { reason, note } */ }
import { errors } from 'jose';
import type { Reason } from '../denial';

export interface JoseDenial {
  readonly reason: Reason;
  /** For the log: jose's code and the claim, never anything from the token's value. */
  readonly note: string;
}

/** Our reason for an error jose threw while verifying a compact JWT. Anything that is not a
 *  jose error (a key of the wrong type from the key tiers, a TypeError for bad options) is a
 *  bug on our side and is thrown again. */
export function reasonOfJoseError(error: unknown): JoseDenial {
  if (error instanceof errors.JWSSignatureVerificationFailed) return { reason: 'bad_signature', note: error.code };
  if (error instanceof errors.JWTExpired) {
    // exp in the past is expiry; iat beyond maxTokenAge is age.
    return { reason: error.claim === 'iat' ? 'too_old' : 'expired', note: `${error.code} ${error.claim}` };
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const note = `${error.code} ${error.claim} ${error.reason}`;
    // 'missing' (no exp; no iat under maxTokenAge) and 'invalid' (not a number) are both malformed.
    if (error.reason !== 'check_failed') return { reason: 'malformed', note };
    switch (error.claim) {
      case 'nbf': case 'iat': return { reason: 'not_yet_valid', note };
      case 'typ': return { reason: 'wrong_type', note };
      case 'iss': return { reason: 'unknown_issuer', note };
      case 'aud': return { reason: 'wrong_audience', note };
      default: return { reason: 'malformed', note };
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return { reason: 'alg_not_allowed', note: error.code };
  // JWSInvalid, JWTInvalid (e.g. b64:false), JOSENotSupported (an unknown crit extension).
  if (error instanceof errors.JOSEError) return { reason: 'malformed', note: error.code };
  throw error;
}
