// The admin API as a Hono app for ADMIN_HOST (docs/admin-api.md): bearer-token guard, then
// the tenant routes; every refusal leaves through adminError.
//
//   const admin = createAdminApp({ now: systemClock });
//   if (host === env.ADMIN_HOST) return admin.fetch(request, env, ctx);
import { Hono } from 'hono';
import type { Clock } from '../base/clock';
import type { Env } from '../env';
import { noteOf } from '../base/denial';
import { adminError } from './answer';
import { authenticateAdmin } from './auth';
import { checkTenantDns } from './dns-check';
import { getTenantJwks } from './jwks';
import { listTenants } from './list';
import { getTenantState, revokeTokens, setTenantStatus } from './state';
import { createTenantStream, deleteTenantStream, listTenantStreams, verifyTenantStream } from './streams';
import { deleteTenant, getTenant, putTenant, type AdminCall } from './tenants';

export type AdminEnv = { Bindings: Env; Variables: { who: string } };
export type AdminApp = Hono<AdminEnv>;

export function createAdminApp(deps: { now: Clock }): AdminApp {
  const app = new Hono<AdminEnv>();
  const call = (c: { env: Env; get(key: 'who'): string }): AdminCall => ({ env: c.env, who: c.get('who'), now: deps.now });

  app.use('*', async (c, next) => {
    // No token configured: the admin API does not exist, rather than being open.
    if (!c.env.ADMIN_TOKEN) return adminError('not_found', 'not found');
    const caller = await authenticateAdmin(c.req.header('authorization') ?? null, c.env.ADMIN_TOKEN);
    if (!caller.ok) {
      return adminError(caller.error, 'a valid admin bearer token is required', {}, { 'www-authenticate': 'Bearer realm="admin"' });
    }
    c.set('who', caller.who);
    await next();
  });

  app.put('/tenants/:id', (c) => putTenant(c.req.raw, c.req.param('id'), call(c)));
  app.get('/tenants/:id', (c) => getTenant(c.req.raw, c.req.param('id'), call(c)));
  app.delete('/tenants/:id', (c) => deleteTenant(c.req.raw, c.req.param('id'), call(c)));
  app.all('/tenants/:id', () =>
    adminError('method_not_allowed', 'allowed: GET, HEAD, PUT, DELETE', {}, { allow: 'GET, HEAD, PUT, DELETE' }));
  app.post('/tenants/:id/revoke', (c) => revokeTokens(c.req.raw, c.req.param('id'), call(c)));
  app.all('/tenants/:id/revoke', () => adminError('method_not_allowed', 'allowed: POST', {}, { allow: 'POST' }));
  app.post('/tenants/:id/status', (c) => setTenantStatus(c.req.raw, c.req.param('id'), call(c)));
  app.all('/tenants/:id/status', () => adminError('method_not_allowed', 'allowed: POST', {}, { allow: 'POST' }));
  app.get('/tenants/:id/state', (c) => getTenantState(c.req.raw, c.req.param('id'), call(c)));
  app.all('/tenants/:id/state', () => adminError('method_not_allowed', 'allowed: GET, HEAD', {}, { allow: 'GET, HEAD' }));

  app.get('/tenants', (c) => listTenants(c.req.raw, call(c)));
  app.all('/tenants', () => adminError('method_not_allowed', 'allowed: GET, HEAD', {}, { allow: 'GET, HEAD' }));
  app.post('/tenants/:id/dns-check', (c) => checkTenantDns(c.req.param('id'), call(c)));
  app.all('/tenants/:id/dns-check', () => adminError('method_not_allowed', 'allowed: POST', {}, { allow: 'POST' }));
  app.get('/tenants/:id/jwks', (c) => getTenantJwks(c.req.param('id'), call(c)));
  app.all('/tenants/:id/jwks', () => adminError('method_not_allowed', 'allowed: GET, HEAD', {}, { allow: 'GET, HEAD' }));
  app.post('/tenants/:id/streams', (c) => createTenantStream(c.req.raw, c.req.param('id'), call(c)));
  app.get('/tenants/:id/streams', (c) => listTenantStreams(c.req.param('id'), call(c)));
  app.delete('/tenants/:id/streams', (c) => deleteTenantStream(c.req.raw, c.req.param('id'), call(c)));
  app.all('/tenants/:id/streams', () =>
    adminError('method_not_allowed', 'allowed: GET, HEAD, POST, DELETE', {}, { allow: 'GET, HEAD, POST, DELETE' }));
  app.post('/tenants/:id/streams/verify', (c) => verifyTenantStream(c.req.raw, c.req.param('id'), call(c)));
  app.all('/tenants/:id/streams/verify', () => adminError('method_not_allowed', 'allowed: POST', {}, { allow: 'POST' }));

  app.notFound(() => adminError('not_found', 'not found'));
  app.onError((error) => {
    console.log(JSON.stringify({ event: 'admin_error', note: noteOf(error) }));
    return adminError('internal_error', 'the change could not be completed; repeating the request finishes it');
  });
  return app;
}
