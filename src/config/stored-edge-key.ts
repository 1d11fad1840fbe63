// A tenant record's `edgeKey` member as stored (docs/admin-api.md "GET /tenants/:id/jwks"): the
// public coordinates and the kid (RFC 7638 thumbprint) in the clear, the private scalar `d`
// sealed like a write-only secret. Only its shape is known here; tenants/edge-key.ts makes,
// publishes and imports the key.
//
//   isStoredEdgeKey({ kid, x, y, d: { sealed: 'v1.…' } })   // true
import { isSealed, type Sealed } from '../secrets/sealed';

export interface StoredEdgeKey {
  readonly kid: string;
  readonly x: string;
  readonly y: string;
  readonly d: Sealed;
}

const COORDINATE = /^[A-Za-z0-9_-]{43}$/;

export function isStoredEdgeKey(value: unknown): value is StoredEdgeKey {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const key = value as Record<string, unknown>;
  return Object.keys(key).sort().join() === 'd,kid,x,y'
    && [key.kid, key.x, key.y].every((part) => typeof part === 'string' && COORDINATE.test(part))
    && isSealed(key.d);
}
