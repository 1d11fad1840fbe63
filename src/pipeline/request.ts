// One request as every door describes it to decide(): plain data read once from an HTTP request
// (http/request.ts) or from RPC arguments (rpc/verifier.ts). Nothing here is a Request or a
// Response: the doors keep those.
//
//   const decided = await decide(isolate, { host, requestId, method, pathname, credentials, ..., http: null, tenants }, io);
import type { Outcome } from '../base/denial';
import type { TenantSource } from '../tenants/store';
import type { Tenant } from '../tenants/tenant';
import type { Credentials } from '../verify/extract';

/** How a door finds the tenant: by host in KV (the gateway, RPC, edgeAuth 'kv'), or its own way
 *  (edgeAuth with one config or a resolver), whose answers are made once per config. */
export type TenantLookup =
  | TenantSource
  | { readonly find: () => Promise<Outcome<{ readonly tenant: Tenant }>> };

/** A public document of a tenant host: GET or HEAD of /.well-known/oauth-protected-resource (or
 *  a path below it), or of /_edge/jwks. */
export type PublicDocument = 'resource' | 'jwks';

export interface PipelineRequest {
  /** The normalized request host (config/hosts.ts normalizeRequestHost). */
  readonly host: string;
  readonly requestId: string;
  readonly method: string;
  /** Other methods the request names for itself (policy/routes.ts methodOverridesOf), which an
   *  origin may run it as; null when it names too many. */
  readonly methodOverrides: readonly string[] | null;
  /** The WHATWG-normalized path; null (RPC without a path) applies the default policy. */
  readonly pathname: string | null;
  /** The access token and its scheme, null when there is none, or the extractor's refusal. */
  readonly credentials: Outcome<Credentials | null>;
  /** The DPoP header as received (RFC 9449 §4): a proof, several joined by ", ", or null. */
  readonly proof: string | null;
  /** The URL the client addressed (the tenant host, never `upstream`): what a proof's htu names. */
  readonly url: string | null;
  /** base64url SHA-256 of the client certificate Cloudflare verified (RFC 8705), or null. */
  readonly certificate: string | null;
  /** CF-Connecting-IP, or the RPC caller's clientIp: the perIp key. */
  readonly clientIp: string | null;
  /** What only HTTP doors have: public documents, CORS and revocation events. null for RPC. */
  readonly http: {
    readonly origin: string | null;
    readonly preflight: boolean;
    /** The public document a GET or HEAD asks for; null for every other request. */
    readonly metadata: PublicDocument | null;
  } | null;
  readonly tenants: TenantLookup;
}
