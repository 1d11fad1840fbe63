// The signature algorithms the edge verifies (docs/configuration.md "algorithms"): asymmetric
// JWS algorithms only, never none or HMAC, whatever a config says. An issuer's allowlist is a
// subset; DPoP proofs and SETs are held to the same set.
//
//   ALGORITHMS.includes(header.alg)        // the whole set, in the order metadata lists them
//   const alg: Algorithm = 'ES256';

export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
