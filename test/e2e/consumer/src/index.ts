import { Hono } from 'hono';
import { edgeAuth, type EdgeAuthVariables, type IssuerKeys, type TenantConfigInput, type TenantState } from 'edge-token-verifier/hono';

export { IssuerKeys, TenantState } from 'edge-token-verifier/hono';

interface Env {
  ISSUER_KEYS: DurableObjectNamespace<IssuerKeys>;
  TENANT_STATE: DurableObjectNamespace<TenantState>;
  ISSUER: string;
}

// One config object per isolate: edgeAuth validates and compiles each object it is given once.
let tenant: TenantConfigInput | undefined;

const app = new Hono<{ Bindings: Env; Variables: EdgeAuthVariables }>();

app.use('/api/*', edgeAuth({
  tenant: (c) => (tenant ??= {
    id: 'acme',
    hosts: ['api.acme.com'],
    issuers: [{ issuer: c.env.ISSUER, audiences: ['https://api.acme.com'] }],
    routes: [{ path: '/api/admin/*', scopes: ['admin'] }, { path: '/api/*' }],
  }),
}));

app.get('/api/orders', (c) => {
  const auth = c.get('auth');
  return c.json({ subject: auth?.subject ?? null, scopes: [...(auth?.scopes ?? [])] });
});

export default app;
