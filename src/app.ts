// Top-level wiring: the admin API on ADMIN_HOST, the gateway on every other host. The pipeline
// (and with it every isolate cache) is shared with the RPC door when index.ts passes its own.
//
//   const app = createApp({ now: () => t });   // tests inject the clock; index.ts uses the system's
//   await app.fetch(request, env, ctx);
import { createAdminApp } from './admin/app';
import { systemClock, type Clock } from './clock';
import type { Env } from './env';
import { createGateway } from './gateway/gateway';
import { createPipeline, type Pipeline } from './gateway/pipeline';
import { normalizeRequestHost } from './tenants/hosts';

export interface AppOptions {
  now?: Clock;
  /** For log sampling. */
  random?: () => number;
  /** The isolate's pipeline, when another door shares it. */
  pipeline?: Pipeline;
}

export function createApp(options: AppOptions = {}) {
  const now = options.now ?? systemClock;
  const pipeline = options.pipeline ?? createPipeline({ now });
  const gateway = createGateway(pipeline, { random: options.random ?? Math.random });
  const admin = createAdminApp({ now });
  return {
    pipeline,
    fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      const url = new URL(request.url);
      if (normalizeRequestHost(url) === (env.ADMIN_HOST || 'admin.localhost')) {
        return Promise.resolve(admin.fetch(request, env, ctx));
      }
      return gateway.fetch(request, env, ctx, url);
    },
  };
}
