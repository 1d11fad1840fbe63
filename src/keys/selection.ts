// Which of an issuer's keys may verify a token: the JWK must fit the token's alg (RFC 7518 §3,
// RFC 8037) and carry its kid; a token without kid gets at most 3 fitting keys (the contract, docs/).
//
//   const picked = selectKeys(keySet.keys, { alg: 'ES256', kid: 'k1' });   // [{ jwk, index }]
import type { Algorithm } from '../config/algorithms';
import type { PublicJwk } from './jwks';

export const MAX_KEYS_WITHOUT_KID = 3;

export interface SelectedKey {
  readonly jwk: PublicJwk;
  /** Position in the key set: names the key even when kids repeat or are absent. */
  readonly index: number;
}

export function fitsAlg(jwk: PublicJwk, alg: Algorithm): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  switch (alg) {
    case 'RS256': case 'RS384': case 'RS512': case 'PS256': case 'PS384': case 'PS512':
      return jwk.kty === 'RSA';
    case 'ES256': return jwk.kty === 'EC' && jwk.crv === 'P-256';
    case 'ES384': return jwk.kty === 'EC' && jwk.crv === 'P-384';
    case 'ES512': return jwk.kty === 'EC' && jwk.crv === 'P-521';
    case 'EdDSA': return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
  }
}

export function selectKeys(
  keys: readonly PublicJwk[], header: { alg: Algorithm; kid: string | undefined },
): SelectedKey[] {
  const selected: SelectedKey[] = [];
  for (const [index, jwk] of keys.entries()) {
    if (!fitsAlg(jwk, header.alg)) continue;
    if (header.kid !== undefined && jwk.kid !== header.kid) continue;
    selected.push({ jwk, index });
    if (header.kid === undefined && selected.length === MAX_KEYS_WITHOUT_KID) break;
  }
  return selected;
}
