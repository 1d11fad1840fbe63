// The tenant's edge key (docs/admin-api.md "GET /tenants/:id/jwks"): an ES256 (P-256) key pair
// the edge makes when the tenant is created, kept across replaces, with which it signs RFC 7523
// client assertions (private_key_jwt). Its record holds the public coordinates and the kid
// (RFC 7638 thumbprint) in the clear and the private scalar `d` sealed like a write-only secret
// (tenants/secrets.ts seals and opens it; config/stored-edge-key.ts is the record's shape); its
// public key set is served at /_edge/jwks.
//
//   const made = await generateEdgeKey();              // { publicKey: { kid, x, y }, d }  (d: seal it at once)
//   edgeKeyJwks(config.edgeKey);                       // { keys: [{ kty, crv, x, y, kid, alg: 'ES256', use: 'sig' }] }
//   await importSigningKey(config.edgeKey, d);         // non-extractable CryptoKey, usages ['sign']
import { calculateJwkThumbprint } from 'jose';

export interface EdgePublicKey { readonly kid: string; readonly x: string; readonly y: string }

export interface EdgeJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: 'ES256';
  readonly use: 'sig';
}
export interface EdgeJwks { readonly keys: readonly EdgeJwk[] }

/** The compiled edge key of a tenant (Tenant.edgeKey). */
export interface EdgeKey {
  readonly kid: string;
  /** What /_edge/jwks and GET /tenants/:id/jwks answer. */
  readonly jwks: EdgeJwks;
  /** Imported once per compiled record, non-extractable, for a tenant that signs with it (an
   *  issuer with clientAuth private_key_jwt); null otherwise (its private part is not opened). */
  readonly signingKey: CryptoKey | null;
}

/** The sealed `d` opens only for this tenant and this public key. */
export const edgeKeyPlace = (key: EdgePublicKey) =>
  ({ pointer: '/edgeKey/d', owner: 'edge key', destination: `${key.kid} ${key.x} ${key.y}` }) as const;

/** A new key pair: the public part as stored, and `d` for the caller to seal. */
export async function generateEdgeKey(): Promise<{ publicKey: EdgePublicKey; d: string }> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey) as JsonWebKey;
  const x = jwk.x!;
  const y = jwk.y!;
  const kid = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x, y }, 'sha256');
  return { publicKey: { kid, x, y }, d: jwk.d! };
}

export function edgeKeyJwks(key: EdgePublicKey | undefined): EdgeJwks {
  return { keys: key === undefined ? [] : [{ kty: 'EC', crv: 'P-256', x: key.x, y: key.y, kid: key.kid, alg: 'ES256', use: 'sig' }] };
}

export function importSigningKey(key: EdgePublicKey, d: string): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: key.x, y: key.y, d }, { name: 'ECDSA', namedCurve: 'P-256' },
    false, ['sign']);
}
