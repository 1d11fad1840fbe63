// The RFC 9728 protected resource metadata of a tenant host, served under
// /.well-known/oauth-protected-resource and any path suffix of it (§3.1).
import type { Tenant } from '../tenants/tenant';

const PREFIX = '/.well-known/oauth-protected-resource';

/** GET or HEAD of the document, or of a path below it. */
export function isMetadataRequest(method: string, pathname: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (pathname === PREFIX || pathname.startsWith(`${PREFIX}/`));
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
