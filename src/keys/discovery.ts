// Finds a key set's JWKS URI. Issuers: OpenID Connect Discovery 1.0 §4, falling back to RFC 8414
// §3 (the well-known segment inserted before the issuer's path). SSF transmitters: the transmitter
// configuration (OpenID Shared Signals Framework 1.0 §7.2, the same placement as RFC 8414),
// falling back to the older RISC location. The document must name the configured issuer exactly
// (OIDC Discovery §4.3, RFC 8414 §3.3, SSF §7.2.3), or the issuer is unavailable.
//
// The same read keeps the issuer's RFC 7662 `introspection_endpoint` (RFC 8414 §2), under the same
// URL rules, for an issuer whose introspection block names no endpoint (introspection/): one
// discovery fetch serves both, and its answer lives with the key set in every key tier.
//
//   const found = await discoverJwksUri('https://acme.eu.auth0.com/', rules);            // OIDC
//   const found = await discoverJwksUri('https://tr.example.com/t1', rules, 'ssf');      // SSF
//   if (found.ok) found.jwksUri;   // else found.note for the log
//   found.introspectionEndpoint;   // null: the document names none (or one not allowed)
import { fetchIssuerJson, issuerUrl, type FetchRules } from './issuer-fetch';
import type { KeyDiscovery } from './key-source';

export type Discovered = { ok: true; jwksUri: string; introspectionEndpoint: string | null } | { ok: false; note: string };

/** Where OpenID Connect Discovery looks: the issuer with the well-known path appended. */
export function oidcDiscoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/** RFC 8414 §3 placement: `/.well-known/<suffix>` after the host, then the issuer's path without
 *  its trailing "/" (`https://tr.example.com/issuer1` -> `https://tr.example.com/.well-known/<suffix>/issuer1`). */
export function wellKnownUrl(issuer: string, suffix: string): string | null {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return null;
  }
  const path = url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/${suffix}${path}`;
}

/** Where RFC 8414 looks. */
export const oauthMetadataUrl = (issuer: string): string | null => wellKnownUrl(issuer, 'oauth-authorization-server');
/** Where an SSF receiver looks (SSF 1.0 §7.2). */
export const ssfConfigurationUrl = (issuer: string): string | null => wellKnownUrl(issuer, 'ssf-configuration');
/** Where existing RISC transmitters may still publish (SSF 1.0 §7.2.2). */
export const riscConfigurationUrl = (issuer: string): string | null => wellKnownUrl(issuer, 'risc-configuration');

/** The documents to try, in order; the second only after the first answered other than 200. */
function locations(issuer: string, discovery: KeyDiscovery): [string | null, string | null] {
  return discovery === 'ssf'
    ? [ssfConfigurationUrl(issuer), riscConfigurationUrl(issuer)]
    : [oidcDiscoveryUrl(issuer), oauthMetadataUrl(issuer)];
}

export async function discoverJwksUri(issuer: string, rules: FetchRules, discovery: KeyDiscovery = 'oidc'): Promise<Discovered> {
  if (issuerUrl(issuer, rules.allowInsecure) === null) return { ok: false, note: 'issuer url not allowed' };
  const [first, fallback] = locations(issuer, discovery);
  if (first === null) return { ok: false, note: 'issuer url not allowed' };
  let fetched = await fetchIssuerJson(first, rules);
  // Only an answer other than 200 sends us to the fallback; a timeout would just cost another 5 s.
  if (!fetched.ok && fetched.status !== undefined && fallback !== null) fetched = await fetchIssuerJson(fallback, rules);
  if (!fetched.ok) return { ok: false, note: `discovery: ${fetched.note}` };
  const document = fetched.body;
  if (typeof document !== 'object' || document === null) return { ok: false, note: 'discovery: not an object' };
  const { issuer: named, jwks_uri: jwksUri, introspection_endpoint: introspection } = document as Record<string, unknown>;
  if (named !== issuer) return { ok: false, note: 'discovery: issuer mismatch' };
  if (typeof jwksUri !== 'string' || issuerUrl(jwksUri, rules.allowInsecure) === null) {
    return { ok: false, note: 'discovery: jwks_uri missing or not allowed' };
  }
  // Only issuers' documents name one (RFC 8414 §2); an endpoint the URL rules refuse is none.
  const introspectionEndpoint = discovery === 'oidc' && typeof introspection === 'string'
    && issuerUrl(introspection, rules.allowInsecure) !== null ? introspection : null;
  return { ok: true, jwksUri, introspectionEndpoint };
}
