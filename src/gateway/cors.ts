// CORS at the edge (SPEC.md "CORS"): the preflight answer when the tenant sets `cors`, and the
// Access-Control-Allow-Origin a browser needs to read forwarded responses and our own errors.
//
//   if (isPreflight(request)) return tenant.cors ? preflightResponse(...) : forward(...)
//   const headers = corsHeaders(tenant.cors, request.headers.get('origin'))  // null: add nothing
import type { CompiledCors } from '../tenants/tenant';

export function isPreflight(request: Request): boolean {
  return request.method === 'OPTIONS' && request.headers.has('origin') && request.headers.has('access-control-request-method');
}

export function isAllowedOrigin(cors: CompiledCors, origin: string | null): origin is string {
  return origin !== null && (cors.anyOrigin || cors.origins.has(origin));
}

/** Headers for a response to a request from an allowed origin, or null. */
export function corsHeaders(cors: CompiledCors | null, origin: string | null): Headers | null {
  if (cors === null || !isAllowedOrigin(cors, origin)) return null;
  return new Headers({ 'access-control-allow-origin': origin, vary: 'Origin' });
}

/** 204 for an allowed origin; null when the origin is not allowed (the caller denies it). */
export function preflightResponse(cors: CompiledCors, origin: string | null, requestId: string): Response | null {
  if (!isAllowedOrigin(cors, origin)) return null;
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': cors.allowMethods,
      'access-control-allow-headers': cors.allowHeaders,
      'access-control-max-age': String(cors.maxAgeSeconds),
      vary: 'Origin',
      'x-request-id': requestId,
    },
  });
}
