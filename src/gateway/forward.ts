// Forwarding to the tenant's origin (docs/headers.md): strips every incoming header the
// edge owns, in every spelling an origin may read as the same name, adds the verified identity,
// rewrites to `upstream`, and passes the response through. The gateway's handler after edgeAuth.
//
//   app.use('*', edgeAuthWith(pipeline, { tenant: 'kv' }));
//   app.all('*', forwardToOrigin);       // a failed fetch throws UpstreamUnavailable: edgeAuth answers 502
import type { Context } from 'hono';
import { base64url } from 'jose';
import { UpstreamUnavailable, type EdgeAuthVariables } from '../hono/edge-auth';
import type { Tenant } from '../tenants/tenant';
import type { RequestUrl } from './request-url';

/** What the origin learns about a verified caller. */
export interface Identity {
  readonly tenant: string;
  readonly issuer: string;
  readonly subject: string | null;
  readonly clientId: string | null;
  readonly scopes: ReadonlySet<string>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** How the request proved possession of a sender-constrained token; null for a bearer token. */
  readonly pop: 'dpop' | 'mtls' | null;
}

const MAX_CLAIMS_HEADER = 8 * 1024;

/** The gateway's handler: the request, as the origin may see it, to the origin. */
export async function forwardToOrigin(c: Context<{ Variables: EdgeAuthVariables }>): Promise<Response> {
  const { tenant, requestId, preflight, target } = c.get('edgeDecision');
  const request = originRequest(c.req.raw, target, tenant, c.get('auth'), { requestId, preflight });
  try {
    return await fetch(request);
  } catch (error) {
    throw new UpstreamUnavailable(error);
  }
}

export function originRequest(incoming: Request, url: RequestUrl, tenant: Tenant, identity: Identity | null,
  options: { requestId: string; preflight: boolean }): Request {
  const { requestId, preflight } = options;
  const headers = new Headers(incoming.headers);
  const spoofed: string[] = [];
  for (const name of headers.keys()) if (isEdgeOwned(name)) spoofed.push(name);
  for (const name of spoofed) headers.delete(name);
  headers.set('x-request-id', requestId);
  headers.set('x-forwarded-host', url.authority);
  headers.set('x-forwarded-proto', url.scheme);
  if (identity !== null) setIdentity(headers, tenant, identity);
  if (tenant.stripAuthorization) headers.delete('authorization');

  const target = tenant.upstream === null ? url.href : `${tenant.upstream}${url.pathname}${url.search}`;
  // A preflight is forwarded without its body: no browser sends one, and it reached the origin
  // without a token.
  if (preflight) headers.delete('content-length');
  return new Request(target, { method: incoming.method, headers, body: preflight ? null : incoming.body, redirect: 'manual' });
}

function setIdentity(headers: Headers, tenant: Tenant, identity: Identity): void {
  headers.set('x-auth-tenant', identity.tenant);
  headers.set('x-auth-issuer', headerValue(identity.issuer));
  if (identity.subject !== null) headers.set('x-auth-subject', headerValue(identity.subject));
  if (identity.clientId !== null) headers.set('x-auth-client-id', headerValue(identity.clientId));
  headers.set('x-auth-scopes', headerValue([...identity.scopes].join(' ')));
  if (identity.pop !== null) headers.set('x-auth-pop', identity.pop);
  const claims = claimsHeader(identity.claims);
  if (claims.length <= MAX_CLAIMS_HEADER) headers.set('x-auth-claims', claims);
  else headers.set('x-auth-claims-omitted', 'too-large');
  for (const [claim, header] of tenant.claimHeaders) {
    const value = claimHeaderValue(claim.read(identity.claims));
    if (value !== null) headers.set(header, value);
  }
}

// Once per verified claim set, not once per request: a token cache hit brings the same claims
// object back, and its encoding with it (a memo of a pure function, keyed weakly).
const encodedClaims = new WeakMap<object, string>();

function claimsHeader(claims: Readonly<Record<string, unknown>>): string {
  let encoded = encodedClaims.get(claims);
  if (encoded === undefined) encodedClaims.set(claims, encoded = base64url.encode(JSON.stringify(claims)));
  return encoded;
}

/** Strings, numbers and booleans, arrays of them joined by spaces; anything else is left out. */
export function claimHeaderValue(value: unknown): string | null {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return headerValue(String(value));
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) {
    return headerValue(value.join(' '));
  }
  return null;
}

/** A value holding "%", anything outside printable ASCII, or a leading or trailing space is
 *  percent-encoded, so an origin may always percent-decode identity headers and get the exact
 *  value (HTTP drops the spaces around a field value, RFC 9110 §5.5). */
export function headerValue(value: string): string {
  if (PLAIN_VALUE.test(value)) return value;
  // A lone surrogate (JSON allows "\ud800") would make encodeURIComponent throw: it becomes U+FFFD.
  return encodeURIComponent(value.replace(LONE_SURROGATE, '\ufffd'));
}
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const PLAIN_VALUE = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/;

/** Names the edge sets itself. CGI-style servers (Rack, PHP, older gunicorn) read `X_Auth_Subject`
 *  and `x-auth-subject` as one variable, HTTP_X_AUTH_SUBJECT, so `_` is read as `-`. */
const EDGE_OWNED = /^x-(?:auth-|request-id$|forwarded-host$|forwarded-proto$)/;

export function isEdgeOwned(name: string): boolean {
  const lower = name.toLowerCase();
  return EDGE_OWNED.test(lower.includes('_') ? lower.replaceAll('_', '-') : lower);
}
