// The Worker's fetch handler: the admin API on ADMIN_HOST, and on every other host the HTTP door
// (http/door.ts, the code edgeAuth runs as Hono middleware) in front of the forwarder to the
// tenant's origin. A plain handler, not a Hono app: the gateway has one route, so a router would
// only add its dispatch to every request (bench/RESULTS.md, "The gateway's budget"). The
// isolate's state (every cache of the pipeline) is shared with the RPC door when index.ts passes
// the Worker's.
//
//   const app = createApp({ now: () => t, random: () => 0.5 });   // tests inject the clock and sampling
//   await app.fetch(request, env, ctx);
import { createAdminApp } from './admin/app';
import { systemClock, type Clock } from './base/clock';
import { noteOf } from './base/denial';
import { settingsOf } from './config/settings';
import type { Env } from './env';
import { forwardToOrigin } from './gateway/forward';
import { createDoor, openDoor, type Admitted } from './http/door';
import { newRequestId } from './http/request';
import { requestUrl } from './http/request-url';
import { kvTenantSource } from './http/tenant-lookup';
import { denialResponse } from './http/respond';
import { createIsolate, type Isolate } from './pipeline/isolate';
import { finishDecision } from './pipeline/record';

export interface AppOptions {
  now?: Clock;
  /** For log sampling. */
  random?: () => number;
  /** The isolate's state, when another door shares it. */
  isolate?: Isolate;
}

export interface GatewayApp {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response>;
  readonly isolate: Isolate;
}

export function createApp(options: AppOptions = {}): GatewayApp {
  const now = options.now ?? systemClock;
  const isolate = options.isolate ?? createIsolate({ now });
  const admin = createAdminApp({ now });
  const door = createDoor(isolate, { random: options.random, handlerStep: 'origin' });

  async function serve(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const settings = settingsOf(env);
    const target = requestUrl(request.url);
    if (target.host === settings.adminHost) return admin.fetch(request, env, ctx);
    const tenants = kvTenantSource(env, settings);
    let admitted: Admitted | null = null;
    try {
      const opened = await openDoor(door, request, target, tenants, env, settings, (promise) => ctx.waitUntil(promise));
      if (opened instanceof Response) return opened;
      admitted = opened;
      return admitted.answer(await forwardToOrigin(request, opened));
    } catch (error) {
      // A bug (a throw) in the forwarder, or an origin's answer that cannot take the decision's
      // headers (a status outside 200-599; answer throws before it logs): the contract's 500
      // as a refusal of the admitted request (its headers, its log line), the way the forwarder
      // refuses an unreachable origin (502); the door answers an event receiver's throw itself.
      if (admitted === null) {
        // Before any decision (a binding that throws as the door reads it): a record of its own,
        // an id as any request's.
        const requestId = request.headers.get('cf-ray') ?? newRequestId();
        const at = isolate.now();
        finishDecision({ requestId, host: target.host, outcome: 'denied', tiers: {}, ms: {} },
          { outcome: 'denied', status: 500, denial: { error: 'internal_error', note: noteOf(error) } },
          { sampleRate: settings.logSampleRate, random: door.random, startedAt: at, now: at });
        return denialResponse({ error: 'internal_error' }, { host: target.host, requestId });
      }
      return admitted.answer(admitted.refuse({ error: 'internal_error', note: noteOf(error) }));
    }
  }

  return {
    // HEAD: the edge's own answers carry a body for GET; a HEAD answer has none (RFC 9110 §9.3.2).
    fetch: async (request, env, ctx) => {
      const response = await serve(request, env, ctx);
      return request.method === 'HEAD' && response.body !== null ? new Response(null, response) : response;
    },
    isolate,
  };
}
