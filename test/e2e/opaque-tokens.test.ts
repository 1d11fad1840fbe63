// The demo provider's opaque access tokens (dev/issuer.mjs), without wrangler: what the edge's
// RFC 7662 introspection relies on, against the real `oidc-provider`. acme's opaque-token
// client gets a token that is not a JWT (`npm run token -- --opaque`); acme's two resource-server
// clients introspect it, one with client_secret_basic, one with private_key_jwt (RFC 7523) whose
// key set is the tenant's edge JWKS at https://api.acme.test/_edge/jwks. The test plays the edge:
// it makes an ES256 key, serves its public JWKS on a loopback server that the provider reaches as
// api.acme.test (the provider sends *.test names to the edge's port), and signs assertions with
// jose. Revocation at the provider (RFC 7009, `npm run token -- --revoke`) turns the answer to
// `{"active": false}`. The JWT access tokens of every other client are as they were.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestToken, revokeToken, startIssuer, type Issuer } from '../../dev/issuer.mjs';
import { DEMO_CLIENTS, DEMO_INTROSPECTION_CLIENTS, DEMO_OPAQUE_CLIENTS, demoResources, demoTenants } from '../../dev/tenants.mjs';
import { ROOT } from './support/cli';

const execFileAsync = promisify(execFile);
const opaque = DEMO_OPAQUE_CLIENTS.acme!;
const { basic, privateKeyJwt } = DEMO_INTROSPECTION_CLIENTS.acme!;
/** Another API of the same provider, with an opaque-token client of its own (not acme's to see). */
const other = {
  resource: 'https://api.other.test', scopes: ['read'], alg: 'ES256' as const,
  clients: [{ clientId: 'other-opaque', clientSecret: 'other-opaque-secret', opaque: true }],
};

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

let issuer: Issuer;
/** The tenant edge's stand-in: serves the JWKS of `edgeKey` at /_edge/jwks, records who asked. */
let edgeStandIn: Server;
let jwksRequests: { host: string | undefined; path: string | undefined }[] = [];
let edgeKey: SigningKey;
let edgeKid: string;
let discovery: { introspection_endpoint: string; revocation_endpoint: string; token_endpoint: string } & Record<string, unknown>;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  edgeKey = privateKey;
  edgeKid = `edge-${randomUUID()}`;
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: edgeKid, alg: 'ES256', use: 'sig' }] };
  edgeStandIn = createServer((request, response) => {
    jwksRequests.push({ host: request.headers.host, path: request.url });
    if (request.url !== '/_edge/jwks') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' });
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((listening) => edgeStandIn.listen(0, '127.0.0.1', listening));
  const address = edgeStandIn.address();
  const edgePort = typeof address === 'object' && address !== null ? address.port : 0;
  issuer = await startIssuer({ resources: [...demoResources(), other], edgePort });
  discovery = await (await fetch(`${issuer.url}/.well-known/openid-configuration`)).json() as typeof discovery;
});

afterAll(async () => {
  await issuer?.stop();
  edgeStandIn?.close();
});

/** `npm run -s token -- ...`, as a user runs it; stdout trimmed. */
async function tokenCli(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [join(ROOT, 'dev/token.mjs'), ...args, '--issuer', issuer.url], { cwd: ROOT });
  return stdout.trim();
}

function opaqueToken(scope = 'read admin'): Promise<string> {
  return requestToken(issuer.url, { clientId: opaque.clientId, clientSecret: opaque.clientSecret, scope });
}

/** RFC 7662 §2.1 as the edge sends it: form body, token_type_hint, Accept JSON. */
function introspect(token: string, auth: { headers?: Record<string, string>; body?: Record<string, string> }): Promise<Response> {
  return fetch(discovery.introspection_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth.headers },
    body: new URLSearchParams({ token, token_type_hint: 'access_token', ...auth.body }),
  });
}

/** HTTP Basic (RFC 6749 §2.3.1): both parts form-urlencoded first. */
const basicAuth = (clientId: string, secret: string) => ({
  headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
});

/** A client assertion (RFC 7523 §3) as the edge signs it; `claims` override the defaults. */
async function assertion(claims: Record<string, unknown> = {}, key: SigningKey = edgeKey, kid = edgeKid) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({
    iss: privateKeyJwt.clientId, sub: privateKeyJwt.clientId, aud: issuer.url, jti: randomUUID(), iat: now, exp: now + 60, ...claims,
  }).setProtectedHeader({ alg: 'ES256', kid }).sign(key);
  return {
    body: {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
    },
  };
}

const isCompactJws = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

describe('the provider\'s endpoints', () => {
  it('discovery names the introspection and revocation endpoints and the client authentications they take', () => {
    expect(discovery.introspection_endpoint).toBe(`${issuer.url}/token/introspection`);
    expect(discovery.revocation_endpoint).toBe(`${issuer.url}/token/revocation`);
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']));
    expect(discovery.token_endpoint_auth_signing_alg_values_supported).toContain('ES256');
  });
});

describe('an opaque access token for acme\'s opaque-token client', () => {
  it('npm run token -- --tenant acme --opaque prints a token that is not a JWT', async () => {
    const token = await tokenCli(['--tenant', 'acme', '--opaque', '--scope', 'read']);
    expect(token).toMatch(/^[\w-]{32,}$/);
    expect(isCompactJws(token)).toBe(false);
    expect(() => decodeJwt(token)).toThrow();
  });

  it('is introspected with client_secret_basic: active, with iss, exp, iat, scope, client_id, sub, token_type and acme\'s audience', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await tokenCli(['--tenant', 'acme', '--opaque', '--scope', 'read admin']);
    const response = await introspect(token, basicAuth(basic.clientId, basic.clientSecret));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const answer = await response.json() as Record<string, unknown>;
    expect(answer).toMatchObject({
      active: true,
      iss: issuer.url,
      aud: DEMO_CLIENTS.acme.resource,
      client_id: opaque.clientId,
      sub: opaque.clientId,
      scope: 'read admin',
      token_type: 'Bearer',
    });
    expect(answer.iat).toBeGreaterThanOrEqual(before - 1);
    expect(answer.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    expect(answer.exp).toBe((answer.iat as number) + 3600);
    // The token's value is its identifier; nothing in the answer repeats it.
    expect(JSON.stringify(answer)).not.toContain(token);
  });

  it('keeps the requested scopes the API knows and no others', async () => {
    const answer = await (await introspect(await opaqueToken('read'), basicAuth(basic.clientId, basic.clientSecret))).json();
    expect(answer).toMatchObject({ active: true, scope: 'read' });
  });

  it('is introspected with the secret in the body too (client_secret_post): oidc-provider takes either for a secret', async () => {
    const answer = await (await introspect(await opaqueToken(), { body: { client_id: basic.clientId, client_secret: basic.clientSecret } })).json();
    expect(answer).toMatchObject({ active: true, aud: DEMO_CLIENTS.acme.resource });
  });

  it('is introspected with private_key_jwt: the provider fetches the client\'s jwks_uri (the edge\'s key set, as api.acme.test)', async () => {
    const token = await opaqueToken();
    const response = await introspect(token, await assertion());
    expect(response.status, await response.clone().text()).toBe(200);
    expect(await response.json()).toMatchObject({
      active: true, iss: issuer.url, aud: DEMO_CLIENTS.acme.resource, client_id: opaque.clientId, sub: opaque.clientId,
      scope: 'read admin', token_type: 'Bearer',
    });
    expect(privateKeyJwt.jwksUri).toBe('https://api.acme.test/_edge/jwks');
    expect(jwksRequests).toContainEqual({ host: 'api.acme.test', path: '/_edge/jwks' });
  });

  it('takes an assertion whose aud is the issuer, the token endpoint, the introspection endpoint, or a list holding one', async () => {
    const token = await opaqueToken();
    for (const aud of [issuer.url, discovery.token_endpoint, discovery.introspection_endpoint, ['https://elsewhere.test', issuer.url]]) {
      const response = await introspect(token, await assertion({ aud }));
      expect(response.status, `aud ${JSON.stringify(aud)}: ${await response.clone().text()}`).toBe(200);
      expect(await response.json()).toMatchObject({ active: true });
    }
  });

  it('refuses an assertion with another aud, a replayed jti, another key, iss not the client, or no exp: 401 invalid_client', async () => {
    const token = await opaqueToken();
    const replayed = await assertion();
    expect((await introspect(token, replayed)).status).toBe(200);
    const { privateKey: stranger } = await generateKeyPair('ES256');
    const refused = [
      ['aud the API', await assertion({ aud: DEMO_CLIENTS.acme.resource })],
      ['aud the revocation endpoint', await assertion({ aud: discovery.revocation_endpoint })],
      ['a replayed jti', replayed],
      ['another key, same kid', await assertion({}, stranger)],
      ['another key, unknown kid', await assertion({}, stranger, 'not-the-edge')],
      ['iss not the client', await assertion({ iss: basic.clientId })],
      ['expired', await assertion({ exp: Math.floor(Date.now() / 1000) - 60 })],
      ['no exp', await assertion({ exp: undefined })],
    ] as const;
    for (const [what, auth] of refused) {
      const response = await introspect(token, auth);
      expect(response.status, what).toBe(401);
      expect(await response.json(), what).toMatchObject({ error: 'invalid_client' });
    }
  });

  it('refuses a wrong client secret, an unknown client and no client authentication: 401 invalid_client', async () => {
    const token = await opaqueToken();
    for (const auth of [
      basicAuth(basic.clientId, `${basic.clientSecret}x`),
      basicAuth('no-such-client', basic.clientSecret),
      { body: { client_id: basic.clientId, client_secret: 'wrong' } },
      // The private_key_jwt client has no secret to guess.
      basicAuth(privateKeyJwt.clientId, basic.clientSecret),
    ]) {
      const response = await introspect(token, auth);
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'invalid_client' });
    }
    expect((await introspect(token, { body: { client_id: basic.clientId } })).status).toBe(401);
  });

  it('is inactive to acme\'s resource servers when it is another API\'s token, or a token without an audience', async () => {
    const otherToken = await requestToken(issuer.url, { ...other.clients[0]!, scope: 'read' });
    // A token for another API of the same provider: acme's edge learns nothing about it.
    expect(await (await introspect(otherToken, basicAuth(basic.clientId, basic.clientSecret))).json()).toEqual({ active: false });
    expect(await (await introspect(otherToken, await assertion())).json()).toEqual({ active: false });
    // A JWT client that names no resource gets an opaque token for no API: no resource server sees it.
    const acme = DEMO_CLIENTS.acme;
    const unaddressed = await requestToken(issuer.url, { clientId: acme.clientId, clientSecret: acme.clientSecret, scope: 'read' });
    expect(isCompactJws(unaddressed)).toBe(false);
    expect(await (await introspect(unaddressed, basicAuth(basic.clientId, basic.clientSecret))).json()).toEqual({ active: false });
  });

  it('is unknown to another provider in the same process (each issuer keeps its own tokens)', async () => {
    const second = await startIssuer({ resources: demoResources() });
    try {
      const token = await opaqueToken();
      const there = await fetch(`${second.url}/token/introspection`, {
        method: 'POST', headers: basicAuth(basic.clientId, basic.clientSecret).headers, body: new URLSearchParams({ token }),
      });
      expect(await there.json()).toEqual({ active: false });
    } finally {
      await second.stop();
    }
  });

  it('an unknown token is {"active": false}', async () => {
    const answer = await introspect('x'.repeat(43), basicAuth(basic.clientId, basic.clientSecret));
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ active: false });
  });
});

describe('revocation at the provider (RFC 7009)', () => {
  it('npm run token -- --revoke TOKEN revokes it as its client: then every introspection answers {"active": false}', async () => {
    const token = await tokenCli(['--tenant', 'acme', '--opaque', '--scope', 'read']);
    const kept = await opaqueToken('read');
    expect(await (await introspect(token, basicAuth(basic.clientId, basic.clientSecret))).json()).toMatchObject({ active: true });

    const printed = await tokenCli(['--revoke', token]);
    expect(printed).toContain(discovery.revocation_endpoint);
    expect(printed).not.toContain(token);

    expect(await (await introspect(token, basicAuth(basic.clientId, basic.clientSecret))).json()).toEqual({ active: false });
    expect(await (await introspect(token, await assertion())).json()).toEqual({ active: false });
    // Only that token.
    expect(await (await introspect(kept, basicAuth(basic.clientId, basic.clientSecret))).json()).toMatchObject({ active: true });
  });

  it('npm run token -- --revoke says why it cannot: a JWT (exit 1, the provider\'s unsupported_token_type), a tenant without an opaque client (exit 2)', async () => {
    const acme = DEMO_CLIENTS.acme;
    const jwt = await issuer.token({ clientId: acme.clientId, clientSecret: acme.clientSecret, resource: acme.resource, scope: 'read' });
    const refused = await execFileAsync(process.execPath, [join(ROOT, 'dev/token.mjs'), '--revoke', jwt, '--issuer', issuer.url], { cwd: ROOT })
      .then(() => ({ code: 0, stderr: '' }), (error: { code: number; stderr: string }) => error);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('unsupported_token_type');
    expect(refused.stderr).not.toContain(jwt);
    const globex = await execFileAsync(process.execPath, [join(ROOT, 'dev/token.mjs'), '--tenant', 'globex', '--opaque', '--issuer', issuer.url], { cwd: ROOT })
      .then(() => ({ code: 0, stderr: '' }), (error: { code: number; stderr: string }) => error);
    expect(globex.code).toBe(2);
    expect(globex.stderr).toMatch(/globex has no opaque-token client/);
  });

  it('a resource server cannot revoke a client\'s token; a wrong secret is 401', async () => {
    const token = await opaqueToken();
    const revoke = (auth: Record<string, string>) => fetch(discovery.revocation_endpoint, {
      method: 'POST', body: new URLSearchParams({ token, token_type_hint: 'access_token', ...auth }),
    });
    const asEdge = await fetch(discovery.revocation_endpoint, {
      method: 'POST', headers: basicAuth(basic.clientId, basic.clientSecret).headers, body: new URLSearchParams({ token }),
    });
    expect(asEdge.status).toBe(400);
    expect((await revoke({ client_id: opaque.clientId, client_secret: 'wrong' })).status).toBe(401);
    expect(await (await introspect(token, basicAuth(basic.clientId, basic.clientSecret))).json()).toMatchObject({ active: true });
  });
});

describe('the provider\'s own notices', () => {
  it('issuing, introspecting and revoking an opaque token prints no oidc-provider warning (every policy is its own)', async () => {
    const warn = vi.spyOn(console, 'warn');
    const info = vi.spyOn(console, 'info');
    try {
      const token = await opaqueToken();
      await (await introspect(token, basicAuth(basic.clientId, basic.clientSecret))).arrayBuffer();
      await (await introspect(token, await assertion())).arrayBuffer();
      await revokeToken(issuer.url, { clientId: opaque.clientId, clientSecret: opaque.clientSecret, token });
      expect([...warn.mock.calls, ...info.mock.calls]).toEqual([]);
    } finally {
      warn.mockRestore();
      info.mockRestore();
    }
  });
});

describe('JWT access tokens of every other client, as before', () => {
  it('acme\'s and globex\'s service clients still get RFC 9068 JWTs for their API', async () => {
    for (const client of Object.values(DEMO_CLIENTS)) {
      const token = await issuer.token({ clientId: client.clientId, clientSecret: client.clientSecret, resource: client.resource, scope: 'read' });
      expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'at+jwt', alg: client.alg });
      expect(decodeJwt(token)).toMatchObject({ aud: client.resource, client_id: client.clientId, sub: client.clientId, scope: 'read' });
    }
  });

  it('oidc-provider does not introspect JWTs (400 unsupported_token_type): the demo provider cannot serve tokens: "all"', async () => {
    const acme = DEMO_CLIENTS.acme;
    const jwt = await issuer.token({ clientId: acme.clientId, clientSecret: acme.clientSecret, resource: acme.resource, scope: 'read' });
    const response = await introspect(jwt, basicAuth(basic.clientId, basic.clientSecret));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'unsupported_token_type' });
  });

  it('the opaque client cannot ask for another API\'s tokens', async () => {
    await expect(requestToken(issuer.url, { clientId: opaque.clientId, clientSecret: opaque.clientSecret, resource: DEMO_CLIENTS.globex.resource, scope: 'read' }))
      .rejects.toThrow(/invalid_target/);
  });
});

describe('the seed', () => {
  it('acme\'s issuer carries an introspection block for acme-edge (client_secret_basic, opaque tokens, endpoint from discovery)', () => {
    const acme = demoTenants({ issuer: issuer.url, upstream: 'http://127.0.0.1:1' }).find((tenant) => tenant.id === 'acme')!;
    expect(acme.issuers[0]).toMatchObject({
      issuer: issuer.url,
      introspection: { endpoint: null, clientId: basic.clientId, clientAuth: 'client_secret_basic', clientSecret: basic.clientSecret, tokens: 'opaque' },
    });
    const globex = demoTenants({ issuer: issuer.url, upstream: 'http://127.0.0.1:1' }).find((tenant) => tenant.id === 'globex')!;
    expect(globex.issuers.every((entry) => !('introspection' in entry))).toBe(true);
  });
});
