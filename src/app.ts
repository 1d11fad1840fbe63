// The Worker as a Hono app: the admin API on ADMIN_HOST, and on every other host the product's
// own middleware, edgeAuth, in front of a handler that forwards to the tenant's origin. What a
// user's Hono app gets from edgeAuth and what the gateway does are the same code by construction.
// The isolate's state (every cache of the pipeline) is shared with the RPC door when index.ts
// passes the Worker's.
//
//   const app = createApp({ now: () => t, random: () => 0.5 });   // tests inject the clock and sampling
//   await app.fetch(request, env, ctx);
import { Hono } from 'hono';
import { createAdminApp } from './admin/app';
import { systemClock, type Clock } from './base/clock';
import { settingsOf } from './config/settings';
import type { Env } from './env';
import { forwardToOrigin } from './gateway/forward';
import { admittedOf, edgeAuthWith, type EdgeAuthVariables } from './http/edge-auth';
import { requestUrl } from './http/request-url';
import { denialResponse } from './http/respond';
import { createIsolate, type Isolate } from './pipeline/isolate';

export interface AppOptions {
  now?: Clock;
  /** For log sampling. */
  random?: () => number;
  /** The isolate's state, when another door shares it. */
  isolate?: Isolate;
}

export type GatewayApp = Hono<{ Bindings: Env; Variables: EdgeAuthVariables }> & { readonly isolate: Isolate };

export function createApp(options: AppOptions = {}): GatewayApp {
  const now = options.now ?? systemClock;
  const isolate = options.isolate ?? createIsolate({ now });
  const admin = createAdminApp({ now });
  const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();

  app.use('*', async (c, next) => {
    if (requestUrl(c.req.url).host !== settingsOf(c.env).adminHost) return next();
    return admin.fetch(c.req.raw, c.env, c.executionCtx);
  });
  app.use('*', edgeAuthWith(isolate, { tenant: 'kv', random: options.random, handlerStep: 'origin' }));
  app.all('*', forwardToOrigin);
  // A bug in the forwarding handler (a throw): the contract's 500 through the one funnel; edgeAuth
  // logs it when it resumes. An unreachable origin is the handler's own 502, not a throw.
  app.onError((_error, c) => denialResponse({ error: 'internal_error' }, {
    host: requestUrl(c.req.url).host, requestId: admittedOf(c)?.requestId ?? 'unknown',
  }));
  return Object.assign(app, { isolate });
}
