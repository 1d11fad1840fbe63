// The one place jose's errors become our reason codes (docs/errors.md), for access
// tokens and for DPoP proofs. Only compactVerify and importJWK run under a try: verifyToken and
// verifyProof parse the header and payload themselves and apply their claim rules, so the JWS
// errors below are all jose can throw there.
//
//   try { await compactVerify(token, key, { algorithms: [alg] }) }
//   catch (error) { const why = reasonOfJoseError(error); /* { reason, note } */ }
import { errors } from 'jose';
import type { DpopReason, Reason } from '../base/denial';

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

export interface ProofDenial {
  readonly reason: DpopReason;
  readonly note: string;
}

/** Our reason for an error compactVerify threw on a DPoP proof (RFC 9449 §4.3), under the same
 *  rule: anything that is not a jose error is a bug and is thrown again. */
export function proofReasonOfJoseError(error: unknown): ProofDenial {
  if (error instanceof errors.JWSSignatureVerificationFailed) return { reason: 'dpop_bad_signature', note: error.code };
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JWSInvalid || error instanceof errors.JOSENotSupported) {
    return { reason: 'dpop_malformed', note: error.code };
  }
  throw error;
}

/** Our reason for a proof's `jwk` that would not import. The key came from the client, so
 *  whatever the import threw (jose's errors, WebCrypto's DataError for a point off its curve)
 *  is about the input: malformed, never a bug. */
export function proofReasonOfKeyImport(error: unknown): ProofDenial {
  const name = error instanceof Error ? (error instanceof errors.JOSEError ? error.code : error.name) : 'unknown';
  return { reason: 'dpop_malformed', note: `jwk does not import (${name})` };
}
