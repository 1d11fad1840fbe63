// What the HTTP door reads of a request for decide(): the host and path from its URL
// (request-url.ts), a request id (cf-ray, else one of this isolate's), the methods it names for
// itself, its credentials, and what only HTTP has: whether it is a CORS preflight, which public
// document it asks for. Its DPoP proof, client certificate, address and Origin are read when a
// step asks for them (HttpRequest).
//
//   const target = requestUrl(c.req.url);
//   const decided = await decide(isolate, pipelineRequestOf(c.req.raw, target, tenants), io);
import type { PipelineRequest, PublicDocument, TenantLookup } from '../pipeline/request';
import { methodOverridesOf } from '../policy/routes';
import { certificateOfRequest } from '../possession/certificate';
import { extractCredentials } from '../verify/extract';
import { isPreflight } from './cors';
import { publicDocumentOf } from './metadata';
import type { RequestUrl } from './request-url';

export function pipelineRequestOf(request: Request, target: RequestUrl, tenants: TenantLookup): PipelineRequest {
  return new HttpRequest(request, target, tenants);
}

/** The fields every request's steps read are read here, once; those only some requests need (the
 *  DPoP header, the client certificate from `request.cf`, the client's address for perIp, the
 *  Origin for a tenant with `cors`) when a step first asks: a bearer token on a tenant without
 *  perIp or CORS reads none of them. */
class HttpRequest implements PipelineRequest {
  readonly host: string;
  readonly requestId: string;
  readonly method: string;
  readonly methodOverrides: readonly string[] | null;
  readonly pathname: string;
  readonly credentials: PipelineRequest['credentials'];
  readonly url: string;
  readonly http: NonNullable<PipelineRequest['http']>;
  readonly tenants: TenantLookup;
  readonly #headers: Headers;
  readonly #request: Request;

  constructor(request: Request, target: RequestUrl, tenants: TenantLookup) {
    const headers = request.headers;
    const method = request.method;
    this.#request = request;
    this.#headers = headers;
    this.host = target.host;
    this.requestId = headers.get('cf-ray') ?? newRequestId();
    this.method = method;
    this.methodOverrides = methodOverridesOf(method, headers, target.search);
    this.pathname = target.pathname;
    this.credentials = extractCredentials(headers.get('authorization'), target.search);
    this.url = target.href;
    this.http = new HttpParts(headers, isPreflight(method, headers), publicDocumentOf(method, target.pathname));
    this.tenants = tenants;
  }

  get proof(): string | null { return this.#headers.get('dpop'); }
  get certificate(): string | null { return certificateOfRequest(this.#request.cf); }
  get clientIp(): string | null { return this.#headers.get('cf-connecting-ip'); }
}

class HttpParts {
  readonly preflight: boolean;
  readonly metadata: PublicDocument | null;
  readonly #headers: Headers;

  constructor(headers: Headers, preflight: boolean, metadata: PublicDocument | null) {
    this.#headers = headers;
    this.preflight = preflight;
    this.metadata = metadata;
  }

  get origin(): string | null { return this.#headers.get('origin'); }
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
