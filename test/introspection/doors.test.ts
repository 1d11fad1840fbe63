// Opaque tokens on the other doors: the RPC door (a second Worker calling Verifier.verify over a
// service binding) and edgeAuth in a user's own Hono app with a config given in code. Both
// introspect as the gateway does (the same decide()).
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Hono } from 'hono';
import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { VerifyResult } from '../../src/rpc/verifier';
import { tenantConfig, testEdge, uniqueTenant, type TestEdge } from '../support/gateway';
import { active, introspectionEndpoint, opaqueToken, type TestIntrospectionEndpoint } from '../support/introspection';
import { TestIssuer } from '../support/issuer';

const consumer = (env as unknown as { CONSUMER: Fetcher }).CONSUMER;
async function verify(input: Record<string, unknown>): Promise<VerifyResult> {
  const response = await consumer.fetch('http://consumer/', { method: 'POST', body: JSON.stringify({ call: 'verify', args: [input] }) });
  return response.json();
}

let issuer: TestIssuer;
let id: string;
let host: string;
let token: string;
let endpoint: TestIntrospectionEndpoint;
let admin: TestEdge;

beforeEach(async () => {
  admin = testEdge();
  issuer = await TestIssuer.create();
  ({ id } = uniqueTenant('od'));
  host = `api.${id}.example.test`;
  token = opaqueToken();
  endpoint = await introspectionEndpoint(issuer, {
    [token]: active(issuer, host, { sub: 'user-7', scope: 'read admin', client_id: 'app-7', org: 'acme' }),
  });
});
afterEach(() => {
  admin.restoreLog();
  vi.restoreAllMocks();
});

const block = () => ({ endpoint: endpoint.url, clientId: 'edge', clientAuth: 'client_secret_post' as const, clientSecret: 'edge-secret' });

describe('the RPC door', () => {
  it('introspects an opaque token and returns its identity; inactive is 401 inactive', async () => {
    const config = tenantConfig({ id, hosts: [host], issuer, routes: [{ path: '/admin/*', scopes: ['admin'] }, { path: '/*' }] });
    (config.issuers as Record<string, unknown>[])[0]!.introspection = block();
    await admin.putTenant(config);
    expect(await verify({ host, token, path: '/admin/users' })).toEqual({
      ok: true, tenant: id, subject: 'user-7', clientId: 'app-7', scopes: ['read', 'admin'],
      claims: expect.objectContaining({ sub: 'user-7', org: 'acme', iss: issuer.issuer }), pop: null,
    });
    const inactive = opaqueToken();
    await endpoint.answer(inactive, { active: false });
    expect(await verify({ host, token: inactive })).toEqual({ ok: false, status: 401, error: 'invalid_token', reason: 'inactive' });
    expect(await endpoint.calls()).toBe(2);
  });
});

describe('the RPC door: credentials over 16 KiB', () => {
  it('an opaque token over 16 KiB (bytes) is 401 malformed without being sent to the provider, as over the HTTP doors', async () => {
    const config = tenantConfig({ id, hosts: [host], issuer });
    (config.issuers as Record<string, unknown>[])[0]!.introspection = block();
    await admin.putTenant(config);
    const malformed = { ok: false, status: 401, error: 'invalid_token', reason: 'malformed' };
    // 16 KiB and one byte: in ASCII, and in fewer characters of UTF-8 (the limit is in bytes).
    for (const oversized of ['o'.repeat(16 * 1024 + 1), 'é'.repeat(8 * 1024 + 1), '€'.repeat(5462)]) {
      expect(await verify({ host, token: oversized }), `${oversized.length} characters`).toEqual(malformed);
    }
    expect(await endpoint.calls()).toBe(0);
    // At the limit it is a token like any other: asked about.
    await endpoint.answer('o'.repeat(16 * 1024), active(issuer, host));
    expect(await verify({ host, token: 'o'.repeat(16 * 1024) })).toMatchObject({ ok: true });
    expect(await endpoint.calls()).toBe(1);
  });
});

describe('edgeAuth in a user Worker, config in code', () => {
  it('introspects with the secret as written, and puts the answer identity on the context', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const config = tenantConfig({ id, hosts: [host], issuer });
    (config.issuers as Record<string, unknown>[])[0]!.introspection = block();
    const app = new Hono<{ Variables: EdgeAuthVariables }>();
    app.use('*', edgeAuth({ tenant: config as never, bindings: () => env }));
    app.get('*', (c) => c.json({ subject: c.get('auth')?.subject, scopes: [...(c.get('auth')?.scopes ?? [])], org: c.get('auth')?.claims.org }));
    const request = async (credential: string) => {
      const ctx = createExecutionContext();
      const response = await app.fetch(new Request(`https://${host}/orders`, { headers: { authorization: `Bearer ${credential}` } }), env, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    const accepted = await request(token);
    expect(await accepted.json()).toEqual({ subject: 'user-7', scopes: ['read', 'admin'], org: 'acme' });
    expect((await request(token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    const [sent] = await endpoint.requests();
    expect(new URLSearchParams(sent!.body).get('client_secret')).toBe('edge-secret');
    expect(await (await request(opaqueToken())).json()).toMatchObject({ error: 'invalid_token', reason: 'inactive' });
  });
});
