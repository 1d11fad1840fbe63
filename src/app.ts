// Top-level wiring: the admin API on ADMIN_HOST, the verifier pipeline on every other host.
//
//   const app = createApp({ now: () => t });   // tests inject the clock; index.ts uses the system's
//   await app.fetch(request, env, ctx);
import { createAdminApp } from './admin/app';
import { systemClock } from './clock';
import type { Env } from './env';
import { createGateway, type GatewayOptions } from './gateway/pipeline';
import { normalizeRequestHost } from './tenants/hosts';

export function createApp(options: GatewayOptions = {}) {
  const gateway = createGateway(options);
  const admin = createAdminApp({ now: options.now ?? systemClock });
  return {
    fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      const url = new URL(request.url);
      if (normalizeRequestHost(url) === (env.ADMIN_HOST || 'admin.localhost')) {
        return Promise.resolve(admin.fetch(request, env, ctx));
      }
      return gateway.fetch(request, env, ctx, url);
    },
  };
}
