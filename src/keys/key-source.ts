// The seam between verification and the key tiers. INTERFACE: implemented by the key tiers.
import type { Outcome } from '../denial';
import type { Algorithm } from '../tenants/schema';
import type { IssuerPolicy } from '../tenants/tenant';

export interface KeyCandidate {
  readonly key: CryptoKey;
  readonly kid: string | undefined;
}

export type KeyTier = 'memory' | 'cache' | 'object' | 'network';

export interface KeyLookup {
  /** The kid's key, or when the token has no kid up to 3 keys that fit its alg. Never empty. */
  readonly keys: readonly KeyCandidate[];
  /** The tier that answered (for the decision log). */
  readonly tier: KeyTier;
  /** Changes whenever the issuer's key set changes (its fetch time, ms). */
  readonly version: number;
}

export interface KeySource {
  /** Keys for a token with this header from this issuer; denies `invalid_token/unknown_kid`
   *  or `issuer_unavailable` (with retryAfterSeconds). No I/O when memory answers. */
  candidates(issuer: IssuerPolicy, header: { alg: Algorithm; kid: string | undefined }): Promise<Outcome<KeyLookup>>;
}
