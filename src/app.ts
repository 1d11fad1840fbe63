// The Worker as a Hono app: the admin API on ADMIN_HOST, and on every other host the product's
// own middleware, edgeAuth, in front of a handler that forwards to the tenant's origin. What a
// user's Hono app gets from edgeAuth and what the gateway does are the same code by construction.
// The pipeline (and with it every isolate cache) is shared with the RPC door when index.ts
// passes the isolate's.
//
//   const app = createApp({ now: () => t, random: () => 0.5 });   // tests inject the clock and sampling
//   await app.fetch(request, env, ctx);
import { Hono } from 'hono';
import { createAdminApp } from './admin/app';
import { systemClock, type Clock } from './base/clock';
import type { Env } from './env';
import { forwardToOrigin } from './gateway/forward';
import { createPipeline, type Pipeline } from './gateway/pipeline';
import { denialResponse } from './gateway/respond';
import { edgeAuthWith, type EdgeAuthVariables } from './hono/edge-auth';
import { settingsOf } from './config/settings';
import { requestUrl } from './gateway/request-url';

export interface AppOptions {
  now?: Clock;
  /** For log sampling. */
  random?: () => number;
  /** The isolate's pipeline, when another door shares it. */
  pipeline?: Pipeline;
}

export type GatewayApp = Hono<{ Bindings: Env; Variables: EdgeAuthVariables }> & { readonly pipeline: Pipeline };

export function createApp(options: AppOptions = {}): GatewayApp {
  const now = options.now ?? systemClock;
  const pipeline = options.pipeline ?? createPipeline({ now });
  const admin = createAdminApp({ now });
  const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();

  app.use('*', async (c, next) => {
    if (requestUrl(c.req.url).host !== settingsOf(c.env).adminHost) return next();
    return admin.fetch(c.req.raw, c.env, c.executionCtx);
  });
  app.use('*', edgeAuthWith(pipeline, { tenant: 'kv', random: options.random, handlerStep: 'origin' }));
  app.all('*', forwardToOrigin);
  // Reached only by a throw after edgeAuth admitted the request (the forwarding handler): edgeAuth
  // answers an unreachable origin with 502 upstream_unavailable when it resumes, and logs any other.
  app.onError((_error, c) => denialResponse({ error: 'internal_error' }, {
    host: requestUrl(c.req.url).host, requestId: c.get('edgeDecision')?.requestId ?? 'unknown',
  }));
  return Object.assign(app, { pipeline });
}
