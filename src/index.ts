// Worker entry: the gateway's fetch handler (app.ts), the cron's scheduled handler, the Verifier RPC entrypoint
// and the Durable Object classes wrangler.toml binds.
import { createApp } from './app';
import { systemClock } from './base/clock';
import { runScheduled } from './cron/scheduled';
import type { Env } from './env';
import { workerIsolate } from './pipeline/isolate';

export { IssuerKeys } from './keys/issuer-keys';
export { Directory } from './tenants/directory';
export { DpopReplay } from './possession/dpop-replay';
export { RateLimiter } from './limits/rate-limiter';
export { SsfStream } from './events/ssf-stream';
export { TenantState } from './revocation/tenant-state';
export { Verifier } from './rpc/verifier';
export type { VerifyRequest, VerifyResult } from './rpc/verifier';

const app = createApp({ isolate: workerIsolate() });

export default {
  fetch: app.fetch,
  // Every 5 minutes (wrangler.toml): DNS drift checks and IssuerKeys pre-warm, a batch a run.
  scheduled: async (_controller, env, _ctx) => { await runScheduled(env, { now: systemClock }); },
} satisfies ExportedHandler<Env>;
