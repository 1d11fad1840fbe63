// The seam between verification and the key tiers. INTERFACE: implemented by the key tiers.
import type { Outcome } from '../base/denial';
import type { Algorithm } from '../config/algorithms';

/** Where a key set's JWKS URI is found when none is configured: OIDC Discovery (then RFC 8414)
 *  for issuers of access and logout tokens, the SSF transmitter configuration (then the older
 *  RISC one) for SSF transmitters. */
export type KeyDiscovery = 'oidc' | 'ssf';

/** What the key tiers need of whoever signs with a key set: an issuer (IssuerPolicy) or an SSF
 *  transmitter (TransmitterPolicy). */
export interface KeySetPolicy {
  readonly issuer: string;
  /** The configured JWKS URI; null means discovery. */
  readonly jwksUri: string | null;
  readonly discovery: KeyDiscovery;
  /** Names the key set in every key tier (memory, Cache API, IssuerKeys object). */
  readonly keySetId: string;
}

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
  /** Keys for a token with this header from this issuer or transmitter; denies
   *  `invalid_token/unknown_kid` or `issuer_unavailable` (with retryAfterSeconds). No I/O when
   *  memory answers. */
  candidates(keySet: KeySetPolicy, header: { alg: Algorithm; kid: string | undefined }): Promise<Outcome<KeyLookup>>;
}
