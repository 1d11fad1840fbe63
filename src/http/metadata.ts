// The public documents of a tenant host: the RFC 9728 protected resource metadata, served under
// /.well-known/oauth-protected-resource and any path suffix of it (§3.1), and the tenant's edge
// public key set at /_edge/jwks (what a provider checks private_key_jwt assertions with).
//
//   publicDocumentOf('GET', '/_edge/jwks');     // 'jwks' | 'resource' | null
//   edgeJwksResponse(tenant, requestId);         // 200 { keys: [...] }, public, cacheable
import type { PublicDocument } from '../pipeline/request';
import type { Tenant } from '../tenants/tenant';

const PREFIX = '/.well-known/oauth-protected-resource';
export const EDGE_JWKS_PATH = '/_edge/jwks';

/** Which public document a request asks for: GET or HEAD of the metadata (or a path below it),
 *  or of /_edge/jwks exactly as written. */
export function publicDocumentOf(method: string, pathname: string): PublicDocument | null {
  if (method !== 'GET' && method !== 'HEAD') return null;
  if (pathname === EDGE_JWKS_PATH) return 'jwks';
  return pathname === PREFIX || pathname.startsWith(`${PREFIX}/`) ? 'resource' : null;
}

/** The tenant's edge public key set (`{"keys": []}` without an edge key). It changes only when
 *  the tenant is created again, so providers may keep it a while. */
export function edgeJwksResponse(tenant: Tenant, requestId: string): Response {
  return new Response(JSON.stringify(tenant.edgeKey?.jwks ?? { keys: [] }), {
    headers: {
      'content-type': 'application/json',
      'access-control-allow-origin': '*',
      'cache-control': 'public, max-age=300',
      'x-request-id': requestId,
    },
  });
}

export function metadataResponse(tenant: Tenant, resource: string, requestId: string): Response {
  const algorithms = new Set<string>();
  for (const issuer of tenant.issuers.values()) for (const alg of issuer.algorithms) algorithms.add(alg);
  const document = {
    resource,
    authorization_servers: [...tenant.issuers.keys()],
    bearer_methods_supported: ['header'],
    resource_signing_alg_values_supported: [...algorithms],
    scopes_supported: tenant.routes.scopes,
    // RFC 9728 §2 with RFC 9449 §5.1 and RFC 8705: DPoP-bound tokens are honoured on every tenant.
    dpop_signing_alg_values_supported: tenant.dpopAlgorithms,
    // Stated always, false included (RFC 9728 §2 reads its absence as false; a client need not know that).
    dpop_bound_access_tokens_required: [...tenant.issuers.values()].every((i) => i.proofOfPossession === 'dpop'),
    ...([...tenant.issuers.values()].some((i) => i.proofOfPossession === 'mtls' || i.proofOfPossession === 'dpop-or-mtls')
      ? { tls_client_certificate_bound_access_tokens: true } : {}),
  };
  return new Response(`${JSON.stringify(document)}\n`, {
    headers: {
      'content-type': 'application/json',
      // A public document: any browser client (MCP clients among them) may read it.
      'access-control-allow-origin': '*',
      'cache-control': 'public, max-age=60',
      'x-request-id': requestId,
    },
  });
}
