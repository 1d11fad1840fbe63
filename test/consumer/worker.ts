// A sample consumer Worker: the Hono middleware door bound to the gateway's objects, and the RPC
// door through a service binding. Only typechecked (tsc -p test/consumer); the behaviour is
// tested in test/hono and test/rpc.
import { Hono } from 'hono';
import type { IssuerKeys, RateLimiter, TenantState, Verifier } from 'edge-token-verifier';
import { edgeAuth, type AuthIdentity, type EdgeAuthVariables } from 'edge-token-verifier/hono';

interface Env {
  ISSUER_KEYS: DurableObjectNamespace<IssuerKeys>;
  TENANT_STATE: DurableObjectNamespace<TenantState>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  VERIFIER: Service<Verifier>;
}

const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();

app.use('/api/*', edgeAuth({
  tenant: {
    id: 'acme',
    hosts: ['api.acme.com'],
    issuers: [{ issuer: 'https://acme.eu.auth0.com/', audiences: ['https://api.acme.com'] }],
    routes: [{ path: '/api/admin/*', scopes: ['admin'] }, { path: '/api/*' }],
  },
  bindings: (c) => c.env,
}));

app.get('/api/orders', (c) => {
  const auth: AuthIdentity | null = c.get('auth');
  return c.json({ subject: auth?.subject ?? null, admin: auth?.scopes.has('admin') ?? false });
});

app.get('/rpc/orders', async (c) => {
  const token = c.req.header('authorization')?.replace(/^Bearer /i, '') ?? '';
  const result = await c.env.VERIFIER.verify({ host: 'api.acme.com', token, path: '/orders' });
  if (!result.ok) {
    const refusal: { error: string; reason: string | null } = { error: result.error, reason: result.reason ?? null };
    return Response.json(refusal, { status: result.status });
  }
  const identity: { tenant: string; subject: string | null; scopes: string[] } = {
    tenant: result.tenant, subject: result.subject, scopes: result.scopes,
  };
  return Response.json(identity);
});

export default app;
