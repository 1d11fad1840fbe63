// CORS at the edge (docs/headers.md): the preflight answer when the tenant sets `cors` (the
// configured request headers and always Authorization and DPoP), and the
// Access-Control-Allow-Origin and -Expose-Headers a browser needs to read forwarded responses and
// our own errors, challenges included.
// A listed origin is reflected; `"*"` answers `*` itself, never a reflected origin, and takes
// Access-Control-Allow-Credentials off forwarded responses (a wildcard must not carry credentials).
//
//   const cors = corsFor(tenant.cors, request.headers.get('origin'))  // null: add nothing
import type { CompiledCors } from '../tenants/tenant';

/** What a response to an allowed cross-origin request gets. */
export interface CorsAnswer {
  readonly headers: Headers;
  /** Allowed by "*" only: the origin's Access-Control-Allow-Credentials is removed. */
  readonly wildcard: boolean;
}

export function isPreflight(request: Request): boolean {
  return request.method === 'OPTIONS' && request.headers.has('origin') && request.headers.has('access-control-request-method');
}

/** What a browser script may read of an answer besides the safelisted headers: the challenge and
 *  the DPoP nonce, so that a client can follow a DPoP or step-up challenge cross-origin. Added to
 *  what a forwarded response exposes itself, never in its place. */
export const EXPOSED_HEADERS = 'WWW-Authenticate, DPoP-Nonce';

/** The answer for a request from `origin`, or null when it is not a CORS request or not allowed. */
export function corsFor(cors: CompiledCors | null, origin: string | null): CorsAnswer | null {
  if (cors === null || origin === null) return null;
  if (cors.origins.has(origin)) return { headers: corsHeaders(origin), wildcard: false };
  if (cors.anyOrigin) return { headers: corsHeaders('*'), wildcard: true };
  return null;
}

const corsHeaders = (allowOrigin: string): Headers =>
  new Headers({ 'access-control-allow-origin': allowOrigin, 'access-control-expose-headers': EXPOSED_HEADERS, vary: 'Origin' });

/** 204 for a preflight from an allowed origin (corsFor answered it; otherwise the pipeline
 *  refused it with origin_not_allowed). */
export function preflightResponse(cors: CompiledCors, allowed: CorsAnswer | null, requestId: string): Response {
  const headers = new Headers(allowed?.headers ?? undefined);
  headers.set('access-control-allow-methods', cors.allowMethods);
  headers.set('access-control-allow-headers', cors.allowHeaders);
  headers.set('access-control-max-age', String(cors.maxAgeSeconds));
  headers.set('x-request-id', requestId);
  return new Response(null, { status: 204, headers });
}
