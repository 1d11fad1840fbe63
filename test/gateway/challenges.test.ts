// Every 401 on every tenant carries both challenges (RFC 9449 §7.1): every tenant honours
// DPoP-bound tokens, with or without a `dpop` block, so a client must learn it may use DPoP. The
// Bearer challenge comes first; the error goes in the challenge of the scheme the request used.
// 400 and 403 keep the Bearer challenge alone. The RFC 9728 metadata always states
// dpop_bound_access_tokens_required. Through the gateway and the Hono middleware (one funnel).
import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { Hono } from 'hono';
import { edgeAuth, type EdgeAuthVariables } from 'edge-token-verifier/hono';
import { describe, expect, it } from 'vitest';
import { proofKey, signProof, type ProofKey } from '../support/dpop';
import { gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';
import { TestIssuer } from '../support/issuer';

let edge: TestEdge;
let issuer: TestIssuer;
let client: ProofKey;
let host: string;
let config: ReturnType<typeof tenantConfig>;

gatewayTest('ch', { issuer: { algs: ['RS256'] } }, async (made) => {
  ({ edge, issuer, host } = made);
  client = await proofKey('ES256');
  // No `dpop` block, and an issuer that requires no binding: the tenant that used to offer Bearer alone.
  config = tenantConfig({
    id: made.id, hosts: [host], issuer,
    issuers: [{ issuer: issuer.issuer, audiences: [`https://${host}`], algorithms: ['RS256', 'ES256'] }],
    routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', scopes: ['admin'] }, { path: '/stepup/*', acr: ['mfa'] }, { path: '/*' }],
  });
  await edge.putTenant(config);
});

const rm = () => `resource_metadata="https://${host}/.well-known/oauth-protected-resource"`;
const seconds = () => Math.floor(edge.now / 1000);
const plain = (claims: Record<string, unknown> = {}) => issuer.sign({ sub: 'u1', aud: `https://${host}`, ...claims }, { now: edge.now });
const bound = (claims: Record<string, unknown> = {}) => plain({ cnf: { jkt: client.jkt }, ...claims });
const send = async (path: string, init: { scheme?: string; token?: string; proofFor?: string } = {}) => {
  const headers = new Headers();
  if (init.token !== undefined) headers.set('authorization', `${init.scheme ?? 'Bearer'} ${init.token}`);
  if (init.proofFor !== undefined) {
    headers.set('dpop', await signProof(client, { htm: 'GET', htu: `https://${host}${path}`, accessToken: init.proofFor, now: edge.now }));
  }
  return edge.fetch(new Request(`https://${host}${path}`, { headers }));
};
const challengeOf = async (response: Response) => [response.status, response.headers.get('www-authenticate')];

describe('a tenant without a dpop block', () => {
  it('offers both schemes on every 401, Bearer first, with no error when there were no credentials', async () => {
    expect(await challengeOf(await send('/orders'))).toEqual([401, `Bearer realm="${host}", ${rm()}, DPoP algs="RS256 ES256"`]);
  });

  it('puts the error in the Bearer challenge for a request sent as Bearer', async () => {
    const expired = await plain({ exp: seconds() - 3600 });
    expect(await challengeOf(await send('/orders', { token: expired }))).toEqual([401,
      `Bearer realm="${host}", error="invalid_token", error_description="The token has expired.", ${rm()}, DPoP algs="RS256 ES256"`]);
    // A DPoP-bound token sent as Bearer (RFC 9449 §7.2).
    const token = await bound();
    expect(await challengeOf(await send('/orders', { token }))).toEqual([401,
      `Bearer realm="${host}", error="invalid_token", error_description="The token must be presented with proof of possession of its key.", ${rm()}, DPoP algs="RS256 ES256"`]);
  });

  it('puts the error in the DPoP challenge for a request sent as DPoP (RFC 9449 §7.1)', async () => {
    // A bearer token sent with the DPoP scheme, and an expired bound token with a good proof.
    const unbound = await plain();
    const expired = await bound({ exp: seconds() - 3600 });
    for (const [token, description] of [[unbound, 'The token must be presented with proof of possession of its key.'], [expired, 'The token has expired.']] as const) {
      for (const scheme of ['DPoP', 'dpop']) {
        expect(await challengeOf(await send('/orders', { scheme, token, proofFor: token }))).toEqual([401,
          `Bearer realm="${host}", ${rm()}, DPoP error="invalid_token", error_description="${description}", algs="RS256 ES256"`]);
      }
    }
  });

  it('adds the DPoP challenge to a step-up 401 too, and keeps 400 and 403 with the Bearer challenge alone', async () => {
    const token = await plain({ acr: 'pwd', scope: 'read' });
    const [status, stepUp] = await challengeOf(await send('/stepup/x', { token }));
    expect([status, stepUp]).toEqual([401, expect.stringMatching(/^Bearer realm="[^"]+", error="insufficient_user_authentication", .*acr_values="mfa", resource_metadata="[^"]+", DPoP algs="RS256 ES256"$/)]);
    expect(await challengeOf(await send('/admin/x', { token }))).toEqual([403,
      `Bearer realm="${host}", error="insufficient_scope", error_description="The token lacks a scope this route requires.", scope="admin", ${rm()}`]);
    const [badStatus, bad] = await challengeOf(await send('/orders', { scheme: 'Basic', token: 'dXNlcjpwYXNz' }));
    expect([badStatus, bad]).toEqual([400, expect.stringMatching(/^Bearer realm="[^"]+", error="invalid_request", error_description="[^"]+", resource_metadata="[^"]+"$/)]);
  });

  it('answers the same through the Hono middleware', async () => {
    const app = new Hono<{ Variables: EdgeAuthVariables }>();
    app.use('*', edgeAuth({ tenant: config, bindings: () => env }));
    app.all('*', (c) => c.text('ok'));
    const ctx = createExecutionContext();
    const response = await app.fetch(new Request(`https://${host}/orders`), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await challengeOf(response)).toEqual([401, `Bearer realm="${host}", ${rm()}, DPoP algs="RS256 ES256"`]);
  });

  it('states dpop_bound_access_tokens_required: false in the metadata (true only when every issuer requires DPoP)', async () => {
    const metadata = await (await send('/.well-known/oauth-protected-resource')).json() as Record<string, unknown>;
    expect(metadata).toMatchObject({ dpop_signing_alg_values_supported: ['RS256', 'ES256'], dpop_bound_access_tokens_required: false });
  });
});
