// How the edge authenticates to an introspection endpoint (RFC 7662 §2.1: the endpoint requires
// it), per the block's clientAuth: HTTP Basic with both parts form-urlencoded first (RFC 6749
// §2.3.1), client_id and client_secret in the form body (the same section), or an RFC 7523 client
// assertion signed by the tenant's edge key (OIDC Core §9 private_key_jwt): `iss` and `sub` the
// client id, `aud` the URL of the endpoint it is sent to, a fresh `jti`, `iat` now and `exp` 60 s
// later. One assertion per call: a provider remembers each jti, so none is reused.
//
// Why not `aud` the issuer (RFC 7523 §3 allows any value naming the server): an endpoint re-pointed
// by an admin-token holder, or by a typo to a host someone else holds, receives the assertion, and
// providers take their issuer as an audience at every endpoint (oidc-provider, Keycloak), so it would
// authenticate as the edge's client there until its exp. Sealed to the URL it goes to, as a client
// secret is sealed to its endpoint, it is refused anywhere else; oidc-provider and Keycloak accept
// the introspection endpoint's URL, and Okta requires it.
//
//   const auth = await clientAuthentication(issuer.introspection, endpoint, tenant.edgeKey, now());
//   if (!auth.ok) return auth;                          // internal_error: a secret or key the config lacks
//   auth.value.headers;  auth.value.form;               // added to the call's headers and form body
import { SignJWT } from 'jose';
import { deny, ok, type Outcome } from '../base/denial';
import type { EdgeKey } from '../tenants/edge-key';
import type { IntrospectionPolicy } from '../tenants/tenant';

/** RFC 7523 §2.2. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** How long an assertion is good for (the contract: at most 60 s). */
export const ASSERTION_SECONDS = 60;

export interface ClientAuthentication {
  readonly headers: Readonly<Record<string, string>>;
  readonly form: Readonly<Record<string, string>>;
}

export async function clientAuthentication(policy: IntrospectionPolicy, endpoint: string, edgeKey: EdgeKey | null, nowMs: number):
  Promise<Outcome<ClientAuthentication>> {
  if (policy.clientAuth === 'private_key_jwt') {
    // The schema refuses private_key_jwt without an edge key; a record that still lacks one is ours.
    if (edgeKey?.signingKey == null) return deny({ error: 'internal_error', note: 'private_key_jwt without the tenant edge key' });
    const now = Math.floor(nowMs / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: edgeKey.kid, typ: 'JWT' })
      .setIssuer(policy.clientId)
      .setSubject(policy.clientId)
      .setAudience(endpoint)
      .setJti(crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_SECONDS)
      .sign(edgeKey.signingKey);
    return ok({ headers: {}, form: { client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion } });
  }
  const secret = policy.clientSecret?.reveal();
  if (secret === undefined) return deny({ error: 'internal_error', note: `${policy.clientAuth} without a client secret` });
  if (policy.clientAuth === 'client_secret_post') return ok({ headers: {}, form: { client_id: policy.clientId, client_secret: secret } });
  return ok({ headers: { authorization: `Basic ${btoa(`${formEncoded(policy.clientId)}:${formEncoded(secret)}`)}` }, form: {} });
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants each part of the Basic credentials
 *  (a space is "+", a ":" in the id is "%3A", so the two parts split where they should). */
export function formEncoded(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
