// The one place jose's errors become our reason codes (docs/errors.md): only importJWK runs
// under a try, for a DPoP proof's own key (the signature check is compact.ts's, with WebCrypto,
// and answers a verdict, not an error).
//
//   try { key = await importJWK(jwk, alg) } catch (error) { const why = proofReasonOfKeyImport(error) }
import { errors } from 'jose';
import type { DpopReason } from '../base/denial';

export interface ProofDenial {
  readonly reason: DpopReason;
  readonly note: string;
}

/** Our reason for a proof's `jwk` that would not import. The key came from the client, so
 *  whatever the import threw (jose's errors, WebCrypto's DataError for a point off its curve)
 *  is about the input: malformed, never a bug. */
export function proofReasonOfKeyImport(error: unknown): ProofDenial {
  const name = error instanceof Error ? (error instanceof errors.JOSEError ? error.code : error.name) : 'unknown';
  return { reason: 'dpop_malformed', note: `jwk does not import (${name})` };
}
