// The HTTP door as Hono middleware (README.md "Other ways in"): runs the verifier's pipeline and
// puts the verified identity on the context. It is what users install in their own Worker. The
// door itself is door.ts, which the gateway (app.ts) runs as a plain fetch handler, so both
// answer metadata, preflights, revocation events and every refusal with the same code.
//
//   import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
//   const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();
//   app.use('*', edgeAuth({ tenant: { id: 'acme', hosts: ['api.acme.com'], issuers: [...] } }));
//   app.get('/orders', (c) => c.json({ user: c.get('auth')?.subject }));
//
// `tenant` is one config (single tenant), a resolver `(c) => config | null`, or 'kv' to look the
// host up in a TENANTS namespace the way the gateway does (tenant-lookup.ts). The bindings it uses
// come from `bindings(c)` (default: c.env): ISSUER_KEYS is required; without TENANT_STATE there is
// no status or revocation, without RATE_LIMITER no rate limits. Bind them to the gateway's
// objects with `script_name` so revocations and limits are shared.
//
// A handler after it sees `auth` alone: the compiled tenant, shared by every request of the
// isolate, stays with the door (door.ts, which the gateway's plain fetch handler shares).
import type { MiddlewareHandler } from 'hono';
import { systemClock, type Clock } from '../base/clock';
import { settingsOf } from '../config/settings';
import type { Identity } from '../pipeline/identity';
import { createIsolate, type Isolate } from '../pipeline/isolate';
import type { TenantConfigInput } from '../config/schema';
import type { TokenCache } from '../verify/token-cache';
import { createDoor, openDoor, type EdgeAuthBindings } from './door';
import { requestUrl } from './request-url';
import { tenantLookup, type AnyContext, type TenantResolver } from './tenant-lookup';

export { EdgeAuthConfigError, type TenantResolver } from './tenant-lookup';
export type { EdgeAuthBindings } from './door';

/** `c.get('auth')`: the verified identity, or null on an `auth: none` route. */
export type EdgeAuthVariables = { auth: Identity | null };

export interface EdgeAuthOptions {
  tenant: TenantConfigInput | 'kv' | TenantResolver;
  bindings?: (c: AnyContext) => EdgeAuthBindings;
  now?: Clock;
  random?: () => number;
  /** The verified-token cache: by default one per middleware (10,000 tokens or 8 MiB); pass
   *  one from createTokenCache to read its counters, or false to verify every token every time. */
  tokenCache?: TokenCache | false;
}

export function edgeAuth(options: EdgeAuthOptions): MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const now = options.now ?? systemClock;
  return edgeAuthWith(createIsolate({ now, tokenCache: options.tokenCache }), options);
}

/** The middleware over a given isolate state (the tests share one with the RPC door). */
export function edgeAuthWith(isolate: Isolate, options: EdgeAuthOptions): MiddlewareHandler<{ Variables: EdgeAuthVariables }> {
  const door = createDoor(isolate, { random: options.random });
  const lookup = tenantLookup(options.tenant);

  return async (c, next) => {
    const bindings: EdgeAuthBindings = options.bindings ? options.bindings(c) : c.env as EdgeAuthBindings;
    const settings = settingsOf(bindings);
    const opened = await openDoor(door, c.req.raw, requestUrl(c.req.url), lookup(c, bindings, settings), bindings, settings,
      waitUntilOf(c));
    if (opened instanceof Response) return opened;
    c.set('auth', opened.identity);
    await next();
    // A handler's throw is the handler's (its onError answered); the log says so.
    const answered = opened.answer(c.res, c.error);
    if (answered !== c.res) replaceResponse(c, answered);
  };
}

/** Hono's c.res setter copies the old response's headers over the new one's (and the body into
 *  a new Response): ours already hold every header of the old one and must win, so the old one
 *  goes first. */
function replaceResponse(c: AnyContext, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/** ctx.waitUntil, or, under app.request() in tests (no execution context), background work
 *  that just runs. */
function waitUntilOf(c: AnyContext): (promise: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return (promise) => { void promise.catch(() => undefined); };
  }
}
