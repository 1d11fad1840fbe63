// The package's public face, edge-token-verifier/hono (src/hono.ts): what a user's Worker may
// import, and nothing local to forwarding or to the pipeline; and what a handler after edgeAuth
// sees on the context: the verified identity alone, never the compiled tenant the isolate shares.
import { env } from 'cloudflare:workers';
import { Hono } from 'hono';
import * as face from 'edge-token-verifier/hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { uniqueTenant } from './support/gateway';
import { TestIssuer } from './support/issuer';

afterEach(() => vi.restoreAllMocks());

describe('edge-token-verifier/hono', () => {
  it('exports edgeAuth, its error and the token cache, and the Durable Object classes: nothing of forwarding', () => {
    expect(Object.keys(face).sort()).toEqual([
      'DpopReplay', 'EdgeAuthConfigError', 'IssuerKeys', 'RateLimiter', 'TenantState', 'createTokenCache', 'edgeAuth',
    ]);
  });

  it('puts the identity on the context and nothing else of the decision', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const issuer = await TestIssuer.create();
    const { id, domain } = uniqueTenant('face');
    const host = `api.${domain}`;
    const app = new Hono<{ Variables: face.EdgeAuthVariables }>();
    app.use('*', face.edgeAuth({ tenant: { id, hosts: [host], issuers: [{ issuer: issuer.issuer, audiences: [`https://${host}`] }] }, bindings: () => env }));
    // Every variable a handler can read, whatever its name.
    app.get('*', (c) => c.json({ variables: Object.keys(c.var), subject: c.get('auth')?.subject ?? null }));
    const token = await issuer.sign({ sub: 'u1', aud: `https://${host}` });
    const response = await app.request(`https://${host}/orders`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ variables: ['auth'], subject: 'u1' });
  });
});
