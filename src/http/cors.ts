// CORS's response half (docs/headers.md): the preflight answer when the tenant sets `cors` (the
// configured request headers and always Authorization and DPoP), and the
// Access-Control-Allow-Origin and -Expose-Headers a browser needs to read forwarded responses and
// our own errors, challenges included. Whether an origin is allowed is the pipeline's
// (pipeline/cors.ts corsFor).
//
//   if (isPreflight(request.method, request.headers)) ...   // an OPTIONS with Origin and Access-Control-Request-Method
//   const headers = corsHeaders(decided.cors);           // for an allowed origin
//   return preflightResponse(tenant.cors, decided.cors, requestId);   // 204
import type { CorsAnswer } from '../pipeline/cors';
import type { CompiledCors } from '../tenants/tenant';

export function isPreflight(method: string, headers: Headers): boolean {
  return method === 'OPTIONS' && headers.has('origin') && headers.has('access-control-request-method');
}

/** What a browser script may read of an answer besides the safelisted headers: the challenge and
 *  the DPoP nonce, so that a client can follow a DPoP or step-up challenge cross-origin. Added to
 *  what a forwarded response exposes itself, never in its place. */
export const EXPOSED_HEADERS = 'WWW-Authenticate, DPoP-Nonce';

/** The headers every answer to an allowed cross-origin request carries. */
export const corsHeaders = (allowed: CorsAnswer): Headers =>
  new Headers({ 'access-control-allow-origin': allowed.allowOrigin, 'access-control-expose-headers': EXPOSED_HEADERS, vary: 'Origin' });

/** 204 for a preflight from an allowed origin (corsFor answered it; otherwise the pipeline
 *  refused it with origin_not_allowed). */
export function preflightResponse(cors: CompiledCors, allowed: CorsAnswer | null, requestId: string): Response {
  const headers = allowed === null ? new Headers() : corsHeaders(allowed);
  headers.set('access-control-allow-methods', cors.allowMethods);
  headers.set('access-control-allow-headers', cors.allowHeaders);
  headers.set('access-control-max-age', String(cors.maxAgeSeconds));
  headers.set('x-request-id', requestId);
  return new Response(null, { status: 204, headers });
}
