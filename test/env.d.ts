import type { Env as WorkerEnv } from '../src/env';
import type { DpopReplay } from '../src/state/dpop-replay';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      /** Bound by vitest.config.ts until wrangler.toml binds it (src/env.ts then declares it). */
      DPOP_REPLAY: DurableObjectNamespace<DpopReplay>;
    }
  }
}
