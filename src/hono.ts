// The package's library door, `edge-token-verifier/hono` (README.md "In your own Worker"): the
// edgeAuth middleware and its types, the identity it puts on the context (AuthIdentity), the
// config types, the verified-token cache, and the Durable Object classes for a Worker that hosts
// them itself rather than binding the gateway's. Nothing else of src/ is public: an edit inside
// the pipeline, the doors or forwarding is no breaking change for library users.
//
//   import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
export {
  edgeAuth, EdgeAuthConfigError,
  type EdgeAuthBindings, type EdgeAuthOptions, type EdgeAuthVariables, type TenantResolver,
} from './http/edge-auth';
export type { Identity as AuthIdentity } from './pipeline/identity';
export type { TenantConfig, TenantConfigInput } from './config/schema';
export { createTokenCache, type TokenCache } from './verify/token-cache';
export { IssuerKeys } from './keys/issuer-keys';
export { DpopReplay } from './possession/dpop-replay';
export { RateLimiter } from './limits/rate-limiter';
export { TenantState } from './revocation/tenant-state';
