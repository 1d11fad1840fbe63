// What the HTTP door reads of a request for decide(), once: the host and path from its URL
// (request-url.ts), a request id (cf-ray, else one of this isolate's), the methods it names for
// itself, its credentials, DPoP proof, client certificate and address, and what only HTTP has:
// the Origin, whether it is a CORS preflight, which public document it asks for.
//
//   const target = requestUrl(c.req.url);
//   const decided = await decide(isolate, pipelineRequestOf(c.req.raw, target, tenants), io);
import type { PipelineRequest, TenantLookup } from '../pipeline/request';
import { methodOverridesOf } from '../policy/routes';
import { certificateOfRequest } from '../possession/certificate';
import { extractCredentials } from '../verify/extract';
import { isPreflight } from './cors';
import { publicDocumentOf } from './metadata';
import type { RequestUrl } from './request-url';

export function pipelineRequestOf(request: Request, target: RequestUrl, tenants: TenantLookup): PipelineRequest {
  const headers = request.headers;
  return {
    host: target.host,
    requestId: headers.get('cf-ray') ?? newRequestId(),
    method: request.method,
    methodOverrides: methodOverridesOf(request.method, headers, target.search),
    pathname: target.pathname,
    credentials: extractCredentials(headers.get('authorization'), target.search),
    proof: headers.get('dpop'),
    url: target.href,
    certificate: certificateOfRequest(request.cf),
    clientIp: headers.get('cf-connecting-ip'),
    http: { origin: headers.get('origin'), preflight: isPreflight(request), metadata: publicDocumentOf(request.method, target.pathname) },
    tenants,
  };
}

/** A request id where Cloudflare gave none (cf-ray is there in production): unique per isolate by
 *  a counter behind a random prefix, which is all a log needs, without a random UUID a request. */
let isolatePrefix: string | null = null;
let requestCounter = 0;
export function newRequestId(): string {
  // Random values may not be made at global scope in Workers: on the first request.
  isolatePrefix ??= crypto.randomUUID().slice(0, 13);
  return `${isolatePrefix}-${(++requestCounter).toString(36)}`;
}
