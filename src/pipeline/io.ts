// The bindings and request-scoped I/O the pipeline's steps use, as every door lends them: the
// Worker's Env has every binding; a user's own Worker (edgeAuth) may bind only ISSUER_KEYS. No
// TenantState means no status or revocation, no RateLimiter no limits, no DpopReplay no
// DPoP-bound tokens.
//
//   const io = ioOf(env, settingsOf(env), (promise) => ctx.waitUntil(promise));   // per request
import type { Settings } from '../config/settings';
import type { IssuerKeys } from '../keys/issuer-keys';
import type { RateLimiter } from '../limits/rate-limiter';
import type { DpopReplay } from '../possession/dpop-replay';
import type { TenantState } from '../revocation/tenant-state';

export interface PipelineIo {
  readonly issuerKeys: DurableObjectNamespace<IssuerKeys>;
  readonly tenantState: DurableObjectNamespace<TenantState> | null;
  readonly rateLimiter: DurableObjectNamespace<RateLimiter> | null;
  /** null: no DPoP replay objects bound (a user's own Worker), so DPoP-bound tokens are refused. */
  readonly dpopReplay: DurableObjectNamespace<DpopReplay> | null;
  readonly cache: Cache | null;
  readonly allowInsecure: boolean;
  waitUntil(promise: Promise<unknown>): void;
}

/** The bindings the steps read. */
export interface PipelineBindings {
  ISSUER_KEYS: DurableObjectNamespace<IssuerKeys>;
  TENANT_STATE?: DurableObjectNamespace<TenantState>;
  RATE_LIMITER?: DurableObjectNamespace<RateLimiter>;
  DPOP_REPLAY?: DurableObjectNamespace<DpopReplay>;
}

export function ioOf(bindings: PipelineBindings, settings: Settings, waitUntil: (promise: Promise<unknown>) => void): PipelineIo {
  return {
    issuerKeys: bindings.ISSUER_KEYS,
    tenantState: bindings.TENANT_STATE ?? null,
    rateLimiter: bindings.RATE_LIMITER ?? null,
    dpopReplay: bindings.DPOP_REPLAY ?? null,
    cache: typeof caches === 'undefined' ? null : caches.default,
    allowInsecure: settings.allowInsecureIssuers,
    waitUntil,
  };
}
