// Opaque access tokens through the whole Worker (docs/introspection.md): which credentials go to
// the introspection endpoint and which never do, what the edge sends, how the answer is judged,
// and what an accepted token becomes for every later step. Real KV, Cache API and Durable
// Objects; the provider is the stand-in's introspection endpoint, whose calls are counted.
import { base64url, createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ADMIN, type Echo, gatewayTest, tenantConfig, type TestEdge, uniqueTenant } from '../support/gateway';
import { active, introspectionEndpoint, opaqueToken, type TestIntrospectionEndpoint } from '../support/introspection';
import { proofKey, signProof } from '../support/dpop';
import { register, TestIssuer } from '../support/issuer';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;
let id: string;

gatewayTest('o', { env: { LOG_SAMPLE_RATE: '1' } }, (made) => ({ edge, issuer, id, host } = made));

const CLIENT_ID = 'edge resource:server';
const CLIENT_SECRET = 'p@ss word=&:%';

/** The tenant with an introspection block on its one issuer; `block` overrides its fields. */
async function putIntrospecting(endpoint: TestIntrospectionEndpoint | null, block: Record<string, unknown> = {},
  extra: Record<string, unknown> = {}) {
  const config = tenantConfig({ id, hosts: [host], issuer, ...extra });
  const issuers = config.issuers as Record<string, unknown>[];
  issuers[0]!.introspection = {
    endpoint: endpoint?.url ?? null, clientId: CLIENT_ID, clientAuth: 'client_secret_basic', clientSecret: CLIENT_SECRET, ...block,
  };
  await edge.putTenant(config);
}

const answer = (claims: Record<string, unknown> = {}) => active(issuer, host, claims, edge.now);
const call = (token: string, path = '/orders', headers: Record<string, string> = {}) =>
  edge.request(`https://${host}${path}`, { token, headers });

describe('an opaque token, introspected', () => {
  it('is accepted with the answer as its claims: subject, client id, scopes, claim headers and x-auth-claims', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer({ email: 'ana@example.test', scope: 'read admin' }) });
    await putIntrospecting(endpoint, {}, { forward: { claimHeaders: { email: 'x-auth-email' } } });
    const response = await call(token);
    expect(response.status).toBe(200);
    const echo = await response.json() as Echo;
    expect(echo.headers['x-auth-subject']).toBe('user-1');
    expect(echo.headers['x-auth-client-id']).toBe('app-1');
    expect(echo.headers['x-auth-scopes']).toBe('read admin');
    expect(echo.headers['x-auth-issuer']).toBe(issuer.issuer);
    expect(echo.headers['x-auth-email']).toBe('ana@example.test');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(echo.headers['x-auth-claims']!)));
    const { active: _, ...members } = answer({ email: 'ana@example.test', scope: 'read admin' });
    expect(claims).toEqual(members);
    expect(echo.headers['x-auth-pop']).toBeUndefined();
    expect(await endpoint.calls()).toBe(1);
  });

  it('is sent as RFC 7662 §2.1 says: POST, a form body with token_type_hint, Accept JSON, HTTP Basic with both parts form-encoded', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint);
    expect((await call(token)).status).toBe(200);
    const [sent] = await endpoint.requests();
    expect(sent!.method).toBe('POST');
    expect(sent!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent!.headers.accept).toBe('application/json');
    expect(Object.fromEntries(new URLSearchParams(sent!.body))).toEqual({ token, token_type_hint: 'access_token' });
    // RFC 6749 §2.3.1: each part application/x-www-form-urlencoded, then base64.
    const form = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
    expect(sent!.headers.authorization).toBe(`Basic ${btoa(`${form(CLIENT_ID)}:${form(CLIENT_SECRET)}`)}`);
    expect(form(CLIENT_SECRET)).toBe('p%40ss+word%3D%26%3A%25');
  });

  it('with client_secret_post sends client_id and client_secret in the body and no Authorization', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { clientAuth: 'client_secret_post' });
    expect((await call(token)).status).toBe(200);
    const [sent] = await endpoint.requests();
    expect(sent!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(sent!.body)))
      .toEqual({ token, token_type_hint: 'access_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  });

  it('with private_key_jwt sends an RFC 7523 assertion signed by the tenant edge key: iss = sub = client id, aud the endpoint called, a fresh jti, exp ≤ 60 s', async () => {
    const endpoint = await introspectionEndpoint(issuer);
    await putIntrospecting(endpoint, { clientAuth: 'private_key_jwt', clientSecret: undefined });
    const first = opaqueToken();
    const second = opaqueToken();
    await endpoint.answer(first, answer());
    await endpoint.answer(second, answer());
    expect((await call(first)).status).toBe(200);
    expect((await call(second)).status).toBe(200);
    const jwks = await (await edge.request(`https://${host}/_edge/jwks`)).json() as { keys: JsonWebKey[] };
    const jtis = new Set<string>();
    for (const sent of await endpoint.requests()) {
      expect(sent.headers.authorization).toBeUndefined();
      const form = Object.fromEntries(new URLSearchParams(sent.body));
      expect(form.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      expect(form.client_secret).toBeUndefined();
      const { payload, protectedHeader } = await jwtVerify(form.client_assertion!, createLocalJWKSet(jwks as never),
        { currentDate: new Date(edge.now) });
      expect(protectedHeader.alg).toBe('ES256');
      expect(payload).toMatchObject({ iss: CLIENT_ID, sub: CLIENT_ID, aud: endpoint.url });
      expect(payload.exp! - Math.floor(edge.now / 1000)).toBeLessThanOrEqual(60);
      expect(payload.exp! - Math.floor(edge.now / 1000)).toBeGreaterThan(0);
      jtis.add(payload.jti!);
    }
    expect(jtis.size).toBe(2);
  });

  // Whoever re-points the block's endpoint (an admin-token holder, or a typo naming a host someone
  // else holds) receives the edge's assertions. A provider takes an assertion whose aud is its
  // issuer (oidc-provider, Keycloak), so one with aud = issuer would authenticate as the edge's
  // client at the real provider until its exp; aud = the URL it was sent to is refused there.
  it('private_key_jwt: an assertion sent to a re-pointed endpoint names that endpoint alone, so the real provider refuses it', async () => {
    const token = opaqueToken();
    const real = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(real, { clientAuth: 'private_key_jwt', clientSecret: undefined });
    expect((await call(token)).status).toBe(200);
    const harvest = await introspectionEndpoint(issuer, {}, { path: '/harvest' });
    await putIntrospecting(harvest, { clientAuth: 'private_key_jwt', clientSecret: undefined });
    edge.advance(31_000);
    await call(opaqueToken());
    const jwks = await (await edge.request(`https://${host}/_edge/jwks`)).json() as { keys: JsonWebKey[] };
    const [sent] = await harvest.requests();
    const assertion = new URLSearchParams(sent!.body).get('client_assertion')!;
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks as never), { currentDate: new Date(edge.now) });
    // One audience, a string: no list in which the provider could find its own name.
    expect(payload.aud).toBe(harvest.url);
    for (const accepted of [issuer.issuer, real.url, `${issuer.issuer}/token`]) {
      await expect(jwtVerify(assertion, createLocalJWKSet(jwks as never), { currentDate: new Date(edge.now), audience: accepted }))
        .rejects.toThrow(/aud/);
    }
    // Short-lived and unique: the real endpoint's own assertions were others.
    const [own] = await real.requests();
    const ownPayload = (await jwtVerify(new URLSearchParams(own!.body).get('client_assertion')!, createLocalJWKSet(jwks as never),
      { currentDate: new Date(edge.now - 31_000) })).payload;
    expect(ownPayload.aud).toBe(real.url);
    expect(payload.jti).not.toBe(ownPayload.jti);
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  });

  it('private_key_jwt with the endpoint from discovery: aud is the introspection_endpoint the document names', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() }, { path: '/oauth2/v1/introspect' });
    await register(issuer.discoveryUrl, {
      body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, introspection_endpoint: endpoint.url },
    });
    await putIntrospecting(null, { clientAuth: 'private_key_jwt', clientSecret: undefined });
    expect((await call(token)).status).toBe(200);
    const [sent] = await endpoint.requests();
    const jwks = await (await edge.request(`https://${host}/_edge/jwks`)).json() as { keys: JsonWebKey[] };
    const { payload } = await jwtVerify(new URLSearchParams(sent!.body).get('client_assertion')!, createLocalJWKSet(jwks as never),
      { currentDate: new Date(edge.now) });
    expect(payload.aud).toBe(endpoint.url);
  });

  it('finds the endpoint in the issuer discovery document (introspection_endpoint) when the block names none', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await register(issuer.discoveryUrl, {
      body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, introspection_endpoint: endpoint.url },
    });
    await putIntrospecting(null);
    expect((await call(token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
  });

  it('answers 503 issuer_unavailable when discovery names no introspection endpoint', async () => {
    await putIntrospecting(null);
    const response = await call(opaqueToken());
    expect(response.status).toBe(503);
    expect((await response.json() as { error: string }).error).toBe('issuer_unavailable');
    expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  // The endpoint from discovery lives with the issuer's key set: the edge takes it from the same
  // read, so a key set it has never been able to fetch (a JWKS that fails from the start, a
  // document without jwks_uri) names no endpoint either. Fail closed, and the block's own
  // `endpoint` does not depend on the key set at all (docs/introspection.md).
  it('discovery whose JWKS fails (nothing held) or that names no jwks_uri: 503 issuer_unavailable, no call; a named endpoint is not affected', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await register(issuer.jwksUri, { status: 500, body: 'down' });
    await register(issuer.discoveryUrl, {
      body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, introspection_endpoint: endpoint.url },
    });
    await putIntrospecting(null);
    const down = await call(token);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: 'issuer_unavailable' });
    expect(down.headers.get('retry-after')).toMatch(/^\d+$/);

    // RFC 8414 makes jwks_uri optional; OpenID Connect Discovery, which the edge reads first, does not.
    const bare = await TestIssuer.create();
    const { id: bareId, domain } = uniqueTenant('od');
    await register(bare.discoveryUrl, { body: { issuer: bare.issuer, introspection_endpoint: endpoint.url } });
    const config = tenantConfig({ id: bareId, hosts: [`api.${domain}`], issuer: bare });
    (config.issuers as Record<string, unknown>[])[0]!.introspection = { endpoint: null, clientId: 'edge', clientSecret: 's' };
    await edge.putTenant(config);
    expect((await edge.request(`https://api.${domain}/orders`, { token })).status).toBe(503);
    expect(await endpoint.calls()).toBe(0);

    await putIntrospecting(endpoint);
    edge.advance(31_000);
    expect((await call(token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
  });
});

describe('which credentials go to the provider', () => {
  it('an opaque token on a tenant without introspection is 401 malformed, and no endpoint is called', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await edge.putTenant(tenantConfig({ id, hosts: [host], issuer }));
    const response = await call(token);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_token', reason: 'malformed' });
    expect(await issuer.hits()).toBe(0);
    expect(await endpoint.calls()).toBe(0);
  });

  it('three dot-separated base64url parts are a JWS: malformed when they do not decode, never introspected', async () => {
    const endpoint = await introspectionEndpoint(issuer, {}, { otherwise: answer() });
    await putIntrospecting(endpoint);
    for (const jwsShaped of ['abc.def.ghi', 'eyJhbGciOiJSUzI1NiJ9.x.', 'a_b-c.d.e']) {
      const response = await call(jwsShaped);
      expect(response.status, jwsShaped).toBe(401);
      expect(await response.json()).toMatchObject({ reason: 'malformed' });
    }
    expect(await endpoint.calls()).toBe(0);
  });

  it('two dots around parts that are not base64url are an opaque token: introspected here, malformed without introspection', async () => {
    const endpoint = await introspectionEndpoint(issuer, {}, { otherwise: answer() });
    await putIntrospecting(endpoint);
    const notJws = ['ab+c.de/f.gh', 'abc.def.gh~i', 'abc.def.ghi=', 'a.b.c.d', 'abc..def'];
    for (const token of notJws) expect((await call(token)).status, token).toBe(200);
    expect(await endpoint.calls()).toBe(notJws.length);

    const { id: plainId, domain } = uniqueTenant('op');
    await edge.putTenant(tenantConfig({ id: plainId, hosts: [`api.${domain}`], issuer }));
    for (const token of notJws) {
      const response = await edge.request(`https://api.${domain}/orders`, { token });
      expect(await response.json(), token).toMatchObject({ error: 'invalid_token', reason: 'malformed' });
    }
    expect(await endpoint.calls()).toBe(notJws.length);
  });

  it('a JWT of the introspecting issuer is verified by its signature alone with tokens "opaque"', async () => {
    const endpoint = await introspectionEndpoint(issuer, {}, { otherwise: { active: false } });
    await putIntrospecting(endpoint);
    const jwt = await issuer.sign({ sub: 'u', aud: `https://${host}` });
    expect((await call(jwt)).status).toBe(200);
    expect(await endpoint.calls()).toBe(0);
  });

  it('with tokens "all" a JWT is verified, then introspected: an inactive answer refuses it, a bad signature never reaches the provider', async () => {
    const endpoint = await introspectionEndpoint(issuer);
    await putIntrospecting(endpoint, { tokens: 'all', cacheSeconds: 0 });
    const jwt = await issuer.sign({ sub: 'u', aud: `https://${host}`, scope: 'read' });
    await endpoint.answer(jwt, answer({ sub: 'u' }));
    expect((await call(jwt)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    await endpoint.answer(jwt, { active: false });
    const refused = await call(jwt);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token', reason: 'inactive' });
    expect(await endpoint.calls()).toBe(2);

    const forged = `${jwt.slice(0, jwt.lastIndexOf('.'))}.${'A'.repeat(342)}`;
    expect(await (await call(forged)).json()).toMatchObject({ reason: 'bad_signature' });
    expect(await endpoint.calls()).toBe(2);
  });

  it('with tokens "all" the answer is what the JWT grants: its members are the claims (a Keycloak lightweight token)', async () => {
    const endpoint = await introspectionEndpoint(issuer);
    await putIntrospecting(endpoint, { tokens: 'all' }, { routes: [{ path: '/admin/*', scopes: ['admin'] }, { path: '/*' }] });
    // The JWT carries little; the provider's answer carries the scopes and the rest.
    const jwt = await issuer.sign({ sub: 'u', aud: `https://${host}` });
    await endpoint.answer(jwt, answer({ sub: 'u', scope: 'read admin', email: 'u@example.test' }));
    const response = await call(jwt, '/admin/x');
    expect(response.status).toBe(200);
    const echo = await response.json() as Echo;
    expect(echo.headers['x-auth-scopes']).toBe('read admin');
    expect(JSON.parse(new TextDecoder().decode(base64url.decode(echo.headers['x-auth-claims']!)))).toMatchObject({ email: 'u@example.test' });
    // An answer for another audience refuses the JWT, as it would an opaque token.
    const other = await issuer.sign({ sub: 'u', aud: `https://${host}`, jti: 'another-token' });
    await endpoint.answer(other, answer({ aud: 'https://api.other.test' }));
    expect(await (await call(other)).json()).toMatchObject({ reason: 'wrong_audience' });
    expect(edge.decisions()[0]).toMatchObject({ kid: issuer.keys[0]!.kid, tiers: { keys: 'network', introspection: 'network' } });
  });

  it('a JWT of an issuer without the block is never introspected, whatever another issuer says', async () => {
    const endpoint = await introspectionEndpoint(issuer);
    const other = await TestIssuer.create();
    const config = tenantConfig({ id, hosts: [host], issuer });
    (config.issuers as unknown[]).push({ issuer: other.issuer, audiences: [`https://${host}`] });
    (config.issuers as Record<string, unknown>[])[0]!.introspection = {
      endpoint: endpoint.url, clientId: 'edge', clientSecret: 's', tokens: 'all',
    };
    await edge.putTenant(config);
    expect((await call(await other.sign({ sub: 'u', aud: `https://${host}` }))).status).toBe(200);
    expect(await endpoint.calls()).toBe(0);
  });
});

describe('the answer, held to the rules of a verified JWT', () => {
  const refusedFor = async (claims: Record<string, unknown> | unknown, extra: Record<string, unknown> = {}) => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: claims });
    await putIntrospecting(endpoint, {}, extra);
    const response = await call(token);
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  };

  it('active: false is 401 invalid_token, reason inactive', async () => {
    expect(await refusedFor({ active: false })).toMatchObject({ status: 401, body: { error: 'invalid_token', reason: 'inactive' } });
  });

  it('an iss other than the issuer is unknown_issuer; absent is fine', async () => {
    expect((await refusedFor(answer({ iss: 'https://elsewhere.test/' }))).body.reason).toBe('unknown_issuer');
    expect((await refusedFor(answer({ iss: undefined }))).status).toBe(200);
  });

  it('exp is required and not passed; nbf and iat honoured with the clock tolerance', async () => {
    const now = Math.floor(edge.now / 1000);
    expect((await refusedFor(answer({ exp: undefined }))).body.reason).toBe('malformed');
    expect((await refusedFor(answer({ exp: 'soon' }))).body.reason).toBe('malformed');
    expect((await refusedFor(answer({ exp: now - 31 }))).body.reason).toBe('expired');
    expect((await refusedFor(answer({ exp: now - 29 }))).status).toBe(200);
    expect((await refusedFor(answer({ nbf: now + 31 }))).body.reason).toBe('not_yet_valid');
    expect((await refusedFor(answer({ iat: now + 31 }))).body.reason).toBe('not_yet_valid');
  });

  it('the audience must name one of the issuer audiences: another API, or none at all, is wrong_audience', async () => {
    expect((await refusedFor(answer({ aud: 'https://api.other.test' }))).body.reason).toBe('wrong_audience');
    expect((await refusedFor(answer({ aud: undefined }))).body.reason).toBe('wrong_audience');
    expect((await refusedFor(answer({ aud: ['https://api.other.test', `https://${host}`] }))).status).toBe(200);
  });

  it('token_type, when present, is Bearer or DPoP in any case; anything else is wrong_type', async () => {
    expect((await refusedFor(answer({ token_type: 'bearer' }))).status).toBe(200);
    expect((await refusedFor(answer({ token_type: undefined }))).status).toBe(200);
    expect((await refusedFor(answer({ token_type: 'refresh_token' }))).body.reason).toBe('wrong_type');
    expect((await refusedFor(answer({ token_type: 'N_A' }))).body.reason).toBe('wrong_type');
  });

  it('a DPoP-bound answer (cnf.jkt) sent as Bearer is pop_required', async () => {
    const refused = await refusedFor(answer({ cnf: { jkt: 'x'.repeat(43) }, token_type: 'DPoP' }));
    expect(refused).toMatchObject({ status: 401, body: { reason: 'pop_required' } });
  });

  it('a DPoP-bound answer sent as DPoP with a proof of its key is accepted (x-auth-pop: dpop), with the proof checked every time', async () => {
    const client = await proofKey('ES256');
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer({ cnf: { jkt: client.jkt }, token_type: 'DPoP' }) });
    await putIntrospecting(endpoint);
    const url = `https://${host}/orders`;
    const dpopCall = async (proof: string) => edge.request(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    const proof = await signProof(client, { htm: 'GET', htu: url, accessToken: token, now: edge.now });
    const accepted = await dpopCall(proof);
    expect(accepted.status).toBe(200);
    expect((await accepted.json() as Echo).headers['x-auth-pop']).toBe('dpop');
    // The answer is kept; the proof is not: replayed, and a proof for another token.
    expect(await (await dpopCall(proof)).json()).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop_replayed' });
    const other = await signProof(client, { htm: 'GET', htu: url, accessToken: opaqueToken(), now: edge.now });
    expect(await (await dpopCall(other)).json()).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop_mismatch' });
    expect(await endpoint.calls()).toBe(1);
  });

  it('a certificate-bound answer without the certificate is cert_mismatch', async () => {
    expect((await refusedFor(answer({ cnf: { 'x5t#S256': 'A'.repeat(43) } }))).body.reason).toBe('cert_mismatch');
  });

  it('maxTokenAgeSeconds and revocation.retainSeconds apply as to a JWT (too_old)', async () => {
    const now = Math.floor(edge.now / 1000);
    expect((await refusedFor(answer({ iat: now - 400 }), { revocation: { retainSeconds: 300 } })).body.reason).toBe('too_old');
    expect((await refusedFor(answer({ iat: undefined, exp: now + 400 }), { revocation: { retainSeconds: 300 } })).body.reason)
      .toBe('too_old');
  });

  it('scopes come from scope (space-separated): a route needing another is 403 insufficient_scope', async () => {
    const refused = await refusedFor(answer({ scope: 'read' }), { routes: [{ path: '/*', scopes: ['admin'] }] });
    expect(refused).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
  });

  it('route claim conditions read the answer', async () => {
    const routes = [{ path: '/*', claims: { '/org/role': ['owner'] } }];
    expect((await refusedFor(answer({ org: { role: 'viewer' } }), { routes })).body.error).toBe('access_denied');
    expect((await refusedFor(answer({ org: { role: 'owner' } }), { routes })).status).toBe(200);
  });

  it('a revoked subject is revoked, from the answer sub and iat', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer({ sub: 'user-9' }) });
    await putIntrospecting(endpoint, {}, { revocation: { maxStalenessSeconds: 0 } });
    expect((await call(token)).status).toBe(200);
    edge.advance(2_000);
    const revoke = await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/revoke`, {
      method: 'POST', headers: ADMIN, body: JSON.stringify({ sub: 'user-9' }),
    }));
    expect(revoke.status).toBe(200);
    expect(await (await call(token)).json()).toMatchObject({ reason: 'revoked' });
  });

  it('anything but a 200 JSON object with a boolean active is 503 issuer_unavailable', async () => {
    for (const body of [{ active: 'true' }, { active: 1 }, {}, [], 'null', '"active"', 'not json', { active: null }]) {
      const { status, body: refused } = await refusedFor(body);
      expect(status, JSON.stringify(body)).toBe(503);
      expect(refused.error).toBe('issuer_unavailable');
    }
  });
});

describe('the token is never written anywhere', () => {
  it('no log line, response body or header of any outcome holds it', async () => {
    const tokens = { accepted: opaqueToken(), inactive: opaqueToken(), other: opaqueToken(), broken: opaqueToken(), late: opaqueToken() };
    const endpoint = await introspectionEndpoint(issuer, {
      [tokens.accepted]: answer(), [tokens.inactive]: { active: false }, [tokens.other]: answer({ aud: 'https://api.other.test' }),
      [tokens.broken]: 'not json', [tokens.late]: { active: 'true' },
    });
    // The origin would see it only as the Authorization header it was sent in: stripped here.
    await putIntrospecting(endpoint, {}, {
      routes: [{ path: '/admin/*', scopes: ['admin'] }, { path: '/*' }], forward: { claimHeaders: {}, stripAuthorization: true },
    });
    const written: string[] = [];
    for (const token of Object.values(tokens)) {
      for (const path of ['/orders', '/admin/x']) {
        const response = await call(token, path);
        written.push(await response.text(), [...response.headers].join('\n'));
      }
    }
    const all = [...written, ...edge.logs].join('\n');
    for (const token of Object.values(tokens)) expect(all).not.toContain(token);
    expect(new Set(edge.decisions().map((d) => d.reason ?? d.error ?? d.outcome)))
      .toEqual(new Set(['allowed', 'insufficient_scope', 'inactive', 'wrong_audience', 'issuer_unavailable']));
  });
});

describe('the decision log', () => {
  it('names the tier (introspection: network, then memory) and never holds the token', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint);
    await call(token);
    await call(token);
    const [first, second] = edge.decisions();
    expect(first).toMatchObject({ outcome: 'allowed', issuer: issuer.issuer, tiers: { introspection: 'network' } });
    expect(second).toMatchObject({ outcome: 'allowed', tiers: { introspection: 'memory' } });
    expect(edge.logs.join('\n')).not.toContain(token);
  });
});
