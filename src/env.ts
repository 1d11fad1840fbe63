// The Worker's bindings and vars, exactly as wrangler.toml declares them (README.md "Bindings").
import type { Directory } from './tenants/directory';
import type { DpopReplay } from './possession/dpop-replay';
import type { IssuerKeys } from './keys/issuer-keys';
import type { RateLimiter } from './limits/rate-limiter';
import type { SsfStream } from './events/ssf-stream';
import type { TenantState } from './revocation/tenant-state';

export interface Env {
  TENANTS: KVNamespace;
  ISSUER_KEYS: DurableObjectNamespace<IssuerKeys>;
  DIRECTORY: DurableObjectNamespace<Directory>;
  TENANT_STATE: DurableObjectNamespace<TenantState>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  DPOP_REPLAY: DurableObjectNamespace<DpopReplay>;
  SSF_STREAMS: DurableObjectNamespace<SsfStream>;
  ADMIN_HOST: string;
  ADMIN_TOKEN?: string;
  /** Secret: 32 random bytes, base64url; seals the write-only values of tenant configs. */
  SECRETS_KEY?: string;
  /** Secret, while rotating SECRETS_KEY: the key before it, still accepted for opening. */
  SECRETS_KEY_PREVIOUS?: string;
  TENANT_CACHE_SECONDS: string;
  ALLOW_INSECURE_ISSUERS: string;
  DOH_URL: string;
  LOG_SAMPLE_RATE: string;
  DEBUG_TIMING: string;
}
