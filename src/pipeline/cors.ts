// CORS's decision half (docs/headers.md): whether a request's Origin may read the answer, and with
// which Access-Control-Allow-Origin. A listed origin is reflected; `"*"` answers `*` itself, never
// a reflected origin, and marks the answer a wildcard (the HTTP door then takes
// Access-Control-Allow-Credentials off forwarded responses). The headers are the HTTP door's
// (http/cors.ts).
//
//   const cors = corsFor(tenant.cors, request.headers.get('origin'));   // null: not allowed, or no Origin
import type { CompiledCors } from '../tenants/tenant';

/** What an answer to an allowed cross-origin request says. */
export interface CorsAnswer {
  /** The Access-Control-Allow-Origin value: the origin itself, or "*". */
  readonly allowOrigin: string;
  /** Allowed by "*" only: the origin's Access-Control-Allow-Credentials is removed. */
  readonly wildcard: boolean;
}

const ANY_ORIGIN: CorsAnswer = Object.freeze({ allowOrigin: '*', wildcard: true });

/** The answer for a request from `origin`, or null when it is not a CORS request or not allowed. */
export function corsFor(cors: CompiledCors | null, origin: string | null): CorsAnswer | null {
  if (cors === null || origin === null) return null;
  if (cors.origins.has(origin)) return { allowOrigin: origin, wildcard: false };
  return cors.anyOrigin ? ANY_ORIGIN : null;
}
