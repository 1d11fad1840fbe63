// Finds an issuer's JWKS URI: OpenID Connect Discovery 1.0 §4, falling back to RFC 8414 §3
// (the well-known segment inserted before the issuer's path). The document must name the
// configured issuer exactly (OIDC Discovery §4.3, RFC 8414 §3.3), or the issuer is unavailable.
//
//   const found = await discoverJwksUri('https://acme.eu.auth0.com/', rules);
//   if (found.ok) found.jwksUri;   // else found.note for the log
import { fetchIssuerJson, issuerUrl, type FetchRules } from './issuer-fetch';

export type Discovered = { ok: true; jwksUri: string } | { ok: false; note: string };

/** Where OpenID Connect Discovery looks: the issuer with the well-known path appended. */
export function oidcDiscoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/** Where RFC 8414 looks: the well-known path after the host, then the issuer's path. */
export function oauthMetadataUrl(issuer: string): string | null {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return null;
  }
  const path = url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

export async function discoverJwksUri(issuer: string, rules: FetchRules): Promise<Discovered> {
  if (issuerUrl(issuer, rules.allowInsecure) === null) return { ok: false, note: 'issuer url not allowed' };
  let fetched = await fetchIssuerJson(oidcDiscoveryUrl(issuer), rules);
  // Only an answer other than 200 sends us to RFC 8414; a timeout would just cost another 5 s.
  if (!fetched.ok && fetched.status !== undefined) {
    const fallback = oauthMetadataUrl(issuer);
    if (fallback !== null) fetched = await fetchIssuerJson(fallback, rules);
  }
  if (!fetched.ok) return { ok: false, note: `discovery: ${fetched.note}` };
  const document = fetched.body;
  if (typeof document !== 'object' || document === null) return { ok: false, note: 'discovery: not an object' };
  const { issuer: named, jwks_uri: jwksUri } = document as Record<string, unknown>;
  if (named !== issuer) return { ok: false, note: 'discovery: issuer mismatch' };
  if (typeof jwksUri !== 'string' || issuerUrl(jwksUri, rules.allowInsecure) === null) {
    return { ok: false, note: 'discovery: jwks_uri missing or not allowed' };
  }
  return { ok: true, jwksUri };
}
