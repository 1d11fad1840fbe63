// Forwarding to the tenant's origin (docs/headers.md): strips every incoming header the
// edge owns, in every spelling an origin may read as the same name, adds the verified identity,
// rewrites to `upstream`, and passes the response through. The gateway's handler behind the door.
//
//   const opened = await openDoor(door, request, target, tenants, env, settings, waitUntil);
//   if (!(opened instanceof Response)) return opened.answer(await forwardToOrigin(request, opened));
//                                        // an origin that cannot be reached: 502 through the one funnel
import { noteOf } from '../base/denial';
import type { Admitted } from '../http/door';
import type { RequestUrl } from '../http/request-url';
import type { Identity } from '../pipeline/identity';
import type { Tenant } from '../tenants/tenant';

const MAX_CLAIMS_HEADER = 8 * 1024;
const utf8 = new TextEncoder();
const BASE64URL = { alphabet: 'base64url', omitPadding: true } as const;

/** The gateway's handler: the request, as the origin may see it, to the origin; its response
 *  as it comes, or the contract's 502 upstream_unavailable when the origin cannot be reached. */
export async function forwardToOrigin(incoming: Request, admitted: Admitted): Promise<Response> {
  const request = originRequest(incoming, admitted.target, admitted.tenant, admitted.identity, admitted);
  try {
    return await fetch(request);
  } catch (error) {
    return admitted.refuse({ error: 'upstream_unavailable', note: noteOf(error) });
  }
}

export function originRequest(incoming: Request, url: RequestUrl, tenant: Tenant, identity: Identity | null,
  options: { requestId: string; preflight: boolean; repeated: boolean }): Request {
  const { requestId, preflight } = options;
  const target = tenant.upstream === null ? url.href : `${tenant.upstream}${url.pathname}${url.search}`;
  const forwarded = preflight
    // Without its body: no browser sends one, and it reached the origin without a token.
    ? new Request(target, { method: incoming.method, headers: incoming.headers, body: null, redirect: 'manual' })
    // The received request itself as the init, so its body comes along for every method: workerd
    // refuses a GET or HEAD body given in an init dictionary (a 500 for a client's GET with a body,
    // which Elasticsearch's search API takes), but keeps the one a received request brings.
    : new Request(target, incoming);
  // The constructor's own copy of the headers, edited in place.
  const headers = forwarded.headers;
  // forEach, not keys(): one call into the runtime instead of an iterator's step per header
  // (about half the cost in workerd, bench/RESULTS.md "The gateway's budget").
  let spoofed: string[] | null = null;
  headers.forEach((_value, name) => { if (isEdgeOwned(name)) (spoofed ??= []).push(name); });
  if (spoofed !== null) for (const name of spoofed as string[]) headers.delete(name);
  headers.set('x-request-id', requestId);
  headers.set('x-forwarded-host', url.authority);
  headers.set('x-forwarded-proto', url.scheme);
  if (identity !== null) setIdentity(headers, tenant, identity, options.repeated);
  if (tenant.stripAuthorization) headers.delete('authorization');
  if (preflight) headers.delete('content-length');
  // A received request already has manual redirects (the origin's 3xx goes back to the client);
  // one a test or a user's code built may not.
  return forwarded.redirect === 'manual' ? forwarded : new Request(forwarded, { redirect: 'manual' });
}

// Its own frame: the bench's budget names the header writes as the identity's (bench/budget.mjs).
function setIdentity(headers: Headers, tenant: Tenant, identity: Identity, repeated: boolean): void {
  for (const [name, value] of identityHeaders(tenant, identity, repeated)) headers.set(name, value);
}

/** The identity headers of a verified token at a tenant. Everything in them follows from the
 *  token (its claims, and its binding), so a token the isolate keeps (a token cache hit brings the
 *  same claims object back) has them built once per tenant, not once per request: a memo of a
 *  pure function, keyed weakly, holding at most the tenants one token is valid at. A token seen
 *  for the first time is not remembered: its claims object is never seen again (the cache keeps
 *  the verification of its second sighting), so its entry would only cost the garbage collector. */
const forwarded = new WeakMap<object, { tenant: Tenant; pop: Identity['pop']; headers: readonly (readonly [string, string])[] }[]>();

export function identityHeaders(tenant: Tenant, identity: Identity, repeated: boolean): readonly (readonly [string, string])[] {
  const known = repeated ? forwarded.get(identity.claims) : undefined;
  const hit = known?.find((entry) => entry.tenant === tenant && entry.pop === identity.pop);
  if (hit !== undefined) return hit.headers;
  const built: [string, string][] = [['x-auth-tenant', identity.tenant], ['x-auth-issuer', headerValue(identity.issuer)]];
  if (identity.subject !== null) built.push(['x-auth-subject', headerValue(identity.subject)]);
  if (identity.clientId !== null) built.push(['x-auth-client-id', headerValue(identity.clientId)]);
  built.push(['x-auth-scopes', headerValue([...identity.scopes].join(' '))]);
  if (identity.pop !== null) built.push(['x-auth-pop', identity.pop]);
  const claims = utf8.encode(JSON.stringify(identity.claims)).toBase64(BASE64URL);
  built.push(claims.length <= MAX_CLAIMS_HEADER ? ['x-auth-claims', claims] : ['x-auth-claims-omitted', 'too-large']);
  for (const [claim, header] of tenant.claimHeaders) {
    const value = claimHeaderValue(claim.read(identity.claims));
    if (value !== null) built.push([header, value]);
  }
  if (!repeated) return built;
  // A few tenants at most (the tenants whose audience the token names); a stranger list is reset.
  const entries = known !== undefined && known.length < 8 ? known : [];
  entries.push({ tenant, pop: identity.pop, headers: built });
  if (entries !== known) forwarded.set(identity.claims, entries);
  return built;
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

/** Names the edge sets itself, and the other names through which a proxy tells the origin what
 *  host, scheme, port, prefix or URL the client addressed (RFC 7239 `Forwarded`; Rack reads
 *  `X-Forwarded-Ssl` and `-Scheme`; Spring `-Prefix`; IIS and Symfony take the path from
 *  `X-Original-URL` / `X-Rewrite-URL`): the edge alone says those. CGI-style servers (Rack, PHP,
 *  older gunicorn) read `X_Auth_Subject` and `x-auth-subject` as one variable,
 *  HTTP_X_AUTH_SUBJECT, so `_` is read as `-`. */
const EDGE_OWNED = /^(?:x-(?:auth-|request-id$|forwarded-(?:host|proto|ssl|scheme|port|prefix)$|original-ur[il]$|rewrite-url$)|forwarded$)/;
/** The method-override headers (policy/routes.ts) are read, and stay, in their own spelling; one
 *  with `_`, which the edge never read but a CGI server would, is removed. */
const OVERRIDE_HEADER = /^x-(?:http-method(?:-override)?|method-override)$/;

export function isEdgeOwned(name: string): boolean {
  // Every such name starts with "x" or "f": most names (host, accept, authorization...) stop here.
  const first = name.charCodeAt(0) | 0x20;
  if (first !== 120 && first !== 102) return false;
  const lower = name.toLowerCase();
  if (!lower.includes('_')) return EDGE_OWNED.test(lower);
  const dashed = lower.replaceAll('_', '-');
  return EDGE_OWNED.test(dashed) || OVERRIDE_HEADER.test(dashed);
}
