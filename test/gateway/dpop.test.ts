// Sender-constrained tokens through the whole Worker and the RPC door (RFC 9449 DPoP, RFC 8705
// mTLS): the proof on every request (a verified-token cache hit included), exact replay
// detection across isolates and under concurrency, a proof recorded only for a request every
// step admits, each key's own replay object and quota, server nonces, the challenges, the
// metadata, and x-auth-pop. No real TLS runs here: the tests set `cf.tlsClientAuth` on the
// request as Cloudflare would after verifying a client certificate.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import type { VerifyResult } from '../../src/rpc/verifier';
import { dpopReplayStub, type DpopReplay } from '../../src/possession/dpop-replay';
import { NONCE_WINDOW_SECONDS } from '../../src/possession/dpop-nonce';
import { proofKey, signProof, type ProofKey } from '../support/dpop';
import { TestIssuer } from '../support/issuer';
import { ADMIN, type Echo, gatewayTest, tenantConfig, testEdge, type TestEdge } from '../support/gateway';

let edge: TestEdge;
let issuer: TestIssuer;
let client: ProofKey;
let host: string;
let id: string;

gatewayTest('dpop', { issuer: { algs: ['RS256'] } }, async (made) => {
  ({ edge, issuer, id, host } = made);
  client = await proofKey('ES256');
});

async function put(extra: Record<string, unknown> = {}, issuerExtra: Record<string, unknown> = {}) {
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer, routes: [{ path: '/health', auth: 'none' }, { path: '/*' }],
    issuers: [{ issuer: issuer.issuer, audiences: [`https://${host}`], algorithms: ['RS256', 'ES256'], ...issuerExtra }],
    ...extra,
  }));
}
const bound = (claims: Record<string, unknown> = {}) =>
  issuer.sign({ sub: 'u1', aud: `https://${host}`, cnf: { jkt: client.jkt }, ...claims }, { now: edge.now });
const proofFor = (token: string, options: { htm?: string; htu?: string; claims?: Record<string, unknown> } = {}) =>
  signProof(client, { htm: options.htm ?? 'GET', htu: options.htu ?? `https://${host}/orders`, accessToken: token, now: edge.now, claims: options.claims });
const send = (token: string, proof: string | null, init: { path?: string; scheme?: string; headers?: Record<string, string>; cf?: unknown; on?: ReturnType<typeof testEdge> } = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `${init.scheme ?? 'DPoP'} ${token}`);
  if (proof !== null) headers.set('dpop', proof);
  return (init.on ?? edge).fetch(new Request(`https://${host}${init.path ?? '/orders'}`, { headers, cf: init.cf as IncomingRequestCfProperties }));
};
const bodyOf = async (response: Response) => response.clone().json() as Promise<{ error: string; reason?: string }>;
/** The replay object of a key of this test's tenant. */
const replayOf = (key: ProofKey = client) => dpopReplayStub(env.DPOP_REPLAY, { tenantId: id, jkt: key.jkt });
/** Rows the key's replay object holds: what refused requests must never add to. */
const rowsOf = (key: ProofKey = client) => replayOf(key).size();
/** The key's replay object reads the edge's clock (and keeps `maxRows` rows, when given). */
const shareClock = (key: ProofKey, options: { maxRows?: number } = {}) => runInDurableObject(replayOf(key), (instance: DpopReplay) => {
  instance.now = () => edge.now;
  if (options.maxRows !== undefined) instance.maxRows = options.maxRows;
});
const revoke = (body: Record<string, unknown>) => edge.fetch(new Request(`http://admin.localhost/tenants/${id}/revoke`, {
  method: 'POST', headers: ADMIN, body: JSON.stringify(body),
}));
/** A tenant whose later steps each refuse something: scopes, claim conditions, step-up, and a
 *  perSubject limit of one request a minute; revocation read on every request. */
const putGuarded = () => put({
  routes: [
    { path: '/scoped', scopes: ['admin'] },
    { path: '/owners', claims: { '/org/role': ['owner'] } },
    { path: '/mfa', acr: ['urn:mfa'] },
    { path: '/*' },
  ],
  rateLimit: { perSubject: { limit: 1, windowSeconds: 60 } },
  revocation: { maxStalenessSeconds: 0 },
});
/** A DurableObjectNamespace that counts the stubs it hands out: one per object call on the request path. */
function counting<T extends Rpc.DurableObjectBranded | undefined>(namespace: DurableObjectNamespace<T>) {
  const counter = { calls: 0, namespace: undefined as unknown as DurableObjectNamespace<T> };
  counter.namespace = {
    idFromName: (name: string) => namespace.idFromName(name),
    get: (objectId: DurableObjectId) => { counter.calls++; return namespace.get(objectId); },
  } as unknown as DurableObjectNamespace<T>;
  return counter;
}

describe('DPoP at the gateway', () => {
  it('accepts a bound token with a fresh proof and tells the origin; refuses the same proof again', async () => {
    await put();
    const token = await bound();
    const proof = await proofFor(token);
    const first = await send(token, proof);
    expect(first.status, await first.clone().text()).toBe(200);
    expect((await first.json() as Echo).headers['x-auth-pop']).toBe('dpop');
    const again = await send(token, proof);
    expect([again.status, await bodyOf(again)]).toEqual([401, expect.objectContaining({ error: 'invalid_dpop_proof', reason: 'dpop_replayed' })]);
    expect(again.headers.get('www-authenticate')).toBe('DPoP error="invalid_dpop_proof", algs="RS256 ES256"');
  });

  it('holds a cached token to a new proof on every request', async () => {
    await put();
    const token = await bound();
    for (let i = 0; i < 4; i++) expect((await send(token, await proofFor(token))).status).toBe(200);
    expect(edge.app.isolate.tokenCache!.counters.hits).toBeGreaterThan(0);
    expect((await send(token, null)).status).toBe(401);
  });

  it('never accepts a DPoP-bound token as Bearer, nor a proof for another URL, method or token', async () => {
    await put();
    const token = await bound();
    const asBearer = await send(token, await proofFor(token), { scheme: 'Bearer' });
    expect(await bodyOf(asBearer)).toMatchObject({ error: 'invalid_token', reason: 'pop_required' });
    for (const [proof, reason] of [
      [await proofFor(token, { htu: `https://${host}/other` }), 'dpop_mismatch'],
      [await proofFor(token, { htu: `https://evil.example/orders` }), 'dpop_mismatch'],
      [await proofFor(token, { htm: 'POST' }), 'dpop_mismatch'],
      [await proofFor(await bound({ jti: 'another' })), 'dpop_mismatch'],
    ] as const) {
      expect(await bodyOf(await send(token, proof))).toMatchObject({ error: 'invalid_dpop_proof', reason });
    }
    // The query is not part of htu; a proof for the path serves the request with a query.
    expect((await send(token, await proofFor(token), { path: '/orders?page=2' })).status).toBe(200);
    // A key other than the bound one.
    const stranger = await proofKey('ES256');
    const foreign = await signProof(stranger, { htm: 'GET', htu: `https://${host}/orders`, accessToken: token, now: edge.now });
    expect(await bodyOf(await send(token, foreign))).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop_key_mismatch' });
  });

  it('exactly one of 20 concurrent requests with the same proof passes', async () => {
    await put();
    const token = await bound();
    const proof = await proofFor(token);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => send(token, proof).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
  });

  it('a proof used in one isolate is refused in another (the objects decide, not isolate memory)', async () => {
    await put();
    const other = testEdge();
    const token = await bound();
    const proof = await proofFor(token);
    expect((await send(token, proof)).status).toBe(200);
    expect(await bodyOf(await send(token, proof, { on: other }))).toMatchObject({ reason: 'dpop_replayed' });
    other.restoreLog();
  });

  it('with dpop.nonce: use_dpop_nonce and a DPoP-Nonce first, then the nonce is accepted, and every answer carries one', async () => {
    await put({ dpop: { nonce: true } });
    // The worst case for a client: its nonce issued in the last millisecond of a window.
    const windowMs = NONCE_WINDOW_SECONDS * 1000;
    edge.advance(windowMs - (edge.now % windowMs) - 1);
    const token = await bound();
    const first = await send(token, await proofFor(token));
    expect([first.status, (await bodyOf(first)).error]).toEqual([401, 'use_dpop_nonce']);
    expect(first.headers.get('www-authenticate')).toBe('DPoP error="use_dpop_nonce", algs="RS256 ES256"');
    const nonce = first.headers.get('dpop-nonce')!;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const second = await send(token, await proofFor(token, { claims: { nonce } }));
    expect(second.status, await second.clone().text()).toBe(200);
    expect(second.headers.get('dpop-nonce')).toBe(nonce);
    // A nonce stays good for 5 minutes from its issue, however late in its window it came;
    // one millisecond into the window after the next, it is stale.
    edge.advance(windowMs);
    const later = await bound();
    const kept = await send(later, await proofFor(later, { claims: { nonce } }));
    expect(kept.status, await kept.clone().text()).toBe(200);
    edge.advance(1);
    const last = await bound();
    const stale = await send(last, await proofFor(last, { claims: { nonce } }));
    expect([stale.status, (await bodyOf(stale)).error]).toEqual([401, 'use_dpop_nonce']);
    expect(stale.headers.get('dpop-nonce')).not.toBe(nonce);
  });

  it('challenges with both schemes on a tenant that uses DPoP, the error in the scheme the request used', async () => {
    await put({}, { proofOfPossession: 'dpop' });
    const missing = await edge.request(`https://${host}/orders`);
    expect(missing.headers.get('www-authenticate'))
      .toBe(`Bearer realm="${host}", resource_metadata="https://${host}/.well-known/oauth-protected-resource", DPoP algs="RS256 ES256"`);
    const plain = await issuer.sign({ sub: 'u1', aud: `https://${host}` }, { now: edge.now });
    const asBearer = await edge.request(`https://${host}/orders`, { token: plain });
    expect(await bodyOf(asBearer)).toMatchObject({ error: 'invalid_token', reason: 'pop_required' });
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token", .*, DPoP algs="RS256 ES256"$/);
    const expired = await bound({ exp: Math.floor(edge.now / 1000) - 3600 });
    const viaDpop = await send(expired, await proofFor(expired));
    expect(viaDpop.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", resource_metadata="[^"]+", DPoP error="invalid_token", error_description="[^"]+", algs="RS256 ES256"$/);
  });

  it('the metadata names DPoP algorithms, and what every issuer or any issuer requires', async () => {
    await put({}, { proofOfPossession: 'dpop' });
    const all = await (await edge.request(`https://${host}/.well-known/oauth-protected-resource`)).json() as Record<string, unknown>;
    expect(all).toMatchObject({ dpop_signing_alg_values_supported: ['RS256', 'ES256'], dpop_bound_access_tokens_required: true });
    expect(all.tls_client_certificate_bound_access_tokens).toBeUndefined();
    await put({}, { proofOfPossession: 'dpop-or-mtls' });
    edge.advance(31_000);
    const either = await (await edge.request(`https://${host}/.well-known/oauth-protected-resource`)).json() as Record<string, unknown>;
    expect(either.dpop_bound_access_tokens_required).toBe(false);
    expect(either.tls_client_certificate_bound_access_tokens).toBe(true);
  });
});

describe('DPoP proofs are recorded only for requests every step admits', () => {
  it('a request refused by revocation, scopes, conditions, step-up or perSubject leaves no replay row', async () => {
    await putGuarded();
    const revoked = await bound({ sub: 'gone' });
    await revoke({ sub: 'gone' });
    const refusals: [string, string, string][] = [
      [revoked, '/orders', '401 revoked'],
      [await bound(), '/scoped', '403 insufficient_scope'],
      [await bound({ org: { role: 'viewer' } }), '/owners', '403 access_denied'],
      [await bound({ acr: 'urn:password' }), '/mfa', '401 insufficient_user_authentication'],
    ];
    for (const [token, path, expected] of refusals) {
      // Several attempts each, as a refused client keeps trying.
      for (let i = 0; i < 3; i++) {
        const response = await send(token, await proofFor(token, { htu: `https://${host}${path}` }), { path });
        const body = await bodyOf(response);
        expect(`${response.status} ${body.reason ?? body.error}`, path).toBe(expected);
      }
      expect(await rowsOf(), expected).toBe(0);
    }
    // perSubject: the first request of the minute is admitted and recorded; the next ones are not.
    const busy = await bound({ sub: 'busy' });
    expect((await send(busy, await proofFor(busy))).status).toBe(200);
    expect(await rowsOf()).toBe(1);
    for (let i = 0; i < 3; i++) {
      const limited = await send(busy, await proofFor(busy));
      expect([limited.status, (await bodyOf(limited)).error]).toEqual([429, 'rate_limited']);
    }
    expect(await rowsOf()).toBe(1);
  });

  it('a proof refused at a later step is not used up: it passes once, when that step admits it', async () => {
    await put({ routes: [{ path: '/*', scopes: ['orders'] }] });
    const token = await bound();
    const proof = await proofFor(token);
    expect((await send(token, proof)).status).toBe(403);
    // The tenant stops asking for the scope (seen once the isolate's 30 s tenant cache expires).
    await put();
    edge.advance(31_000);
    expect((await send(token, proof)).status).toBe(200);
    expect(await bodyOf(await send(token, proof))).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop_replayed' });
  });

  it('a replay refused at the end has used its perSubject permit; one this isolate already refused is stopped at verification', async () => {
    await put({ rateLimit: { perSubject: { limit: 2, windowSeconds: 60 } } });
    const token = await bound({ sub: 'counted' });
    const proof = await proofFor(token);
    expect((await send(token, proof)).status).toBe(200);
    // The object refuses the replay after perSubject counted it: the limit counts attempts.
    expect(await bodyOf(await send(token, proof))).toMatchObject({ reason: 'dpop_replayed' });
    const third = await send(token, await proofFor(token));
    expect([third.status, (await bodyOf(third)).error]).toEqual([429, 'rate_limited']);
    // Now known in this isolate: refused as a replay before the limit (not 429), with no call.
    expect(await bodyOf(await send(token, proof))).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop_replayed' });
    expect(await rowsOf()).toBe(1);
  });

  it('over RPC: refused requests leave no replay row, an admitted one leaves one', async () => {
    await putGuarded();
    const consumer = (env as unknown as { CONSUMER: Fetcher }).CONSUMER;
    const verify = async (input: unknown) => (await (await consumer.fetch('http://consumer/', {
      method: 'POST', body: JSON.stringify({ call: 'verify', args: [input] }),
    })).json()) as VerifyResult;
    // The RPC door runs on the real clock.
    const sign = (claims: Record<string, unknown>) => issuer.sign({ sub: 'u1', aud: `https://${host}`, cnf: { jkt: client.jkt }, ...claims });
    const call = async (token: string, path: string) => verify({
      host, token, path, scheme: 'DPoP', url: `https://${host}${path}`,
      dpop: await signProof(client, { htm: 'GET', htu: `https://${host}${path}`, accessToken: token }),
    });
    const revoked = await sign({ sub: 'gone-rpc' });
    await revoke({ sub: 'gone-rpc' });
    expect(await call(revoked, '/orders')).toMatchObject({ ok: false, status: 401, reason: 'revoked' });
    expect(await call(await sign({}), '/scoped')).toMatchObject({ ok: false, status: 403, error: 'insufficient_scope' });
    expect(await call(await sign({ org: { role: 'viewer' } }), '/owners')).toMatchObject({ ok: false, status: 403, error: 'access_denied' });
    expect(await call(await sign({ acr: 'urn:password' }), '/mfa')).toMatchObject({ ok: false, status: 401, error: 'insufficient_user_authentication' });
    expect(await rowsOf()).toBe(0);
    const busy = await sign({ sub: 'busy-rpc' });
    expect(await call(busy, '/orders')).toMatchObject({ ok: true, pop: 'dpop' });
    expect(await call(busy, '/orders')).toMatchObject({ ok: false, status: 429, error: 'rate_limited' });
    expect(await rowsOf()).toBe(1);
  });
});

describe('each key has its own replay object', () => {
  it('one key that fills its quota gets 503; another key of the same tenant is untouched', async () => {
    await put();
    const other = await proofKey('ES256');
    await shareClock(client, { maxRows: 3 });
    const token = await bound();
    for (let i = 0; i < 3; i++) expect((await send(token, await proofFor(token))).status).toBe(200);
    const full = await send(token, await proofFor(token));
    expect([full.status, (await bodyOf(full)).error]).toEqual([503, 'revocation_unavailable']);
    // Until its oldest row expires: iat + maxAgeSeconds + the clock tolerance.
    expect(full.headers.get('retry-after')).toBe('330');
    // Another client of the tenant, with its own key and token.
    const theirs = await issuer.sign({ sub: 'u2', aud: `https://${host}`, cnf: { jkt: other.jkt } }, { now: edge.now });
    for (let i = 0; i < 5; i++) {
      const proof = await signProof(other, { htm: 'GET', htu: `https://${host}/orders`, accessToken: theirs, now: edge.now });
      expect((await send(theirs, proof)).status).toBe(200);
    }
    expect([await rowsOf(client), await rowsOf(other)]).toEqual([3, 5]);
  });

  it('a proof is refused as a replay up to the last second it is accepted, then as stale', async () => {
    await put();
    await shareClock(client);
    const token = await bound();
    const s = Math.floor(edge.now / 1000);
    // The oldest iat accepted now, and the newest (the clock tolerance ahead).
    const oldest = await proofFor(token, { claims: { iat: s - 300 } });
    const newest = await proofFor(token, { claims: { iat: s + 30 } });
    for (const proof of [oldest, newest]) expect((await send(token, proof)).status).toBe(200);
    // Another isolate each time: the object decides, not an isolate's memory.
    const fresh = () => testEdge({ start: edge.now });
    expect(await bodyOf(await send(token, oldest, { on: fresh() }))).toMatchObject({ reason: 'dpop_replayed' });
    // The last second the edge accepts `newest` (its iat is maxAgeSeconds old), then the next.
    edge.advance(330_000);
    expect(await bodyOf(await send(token, newest, { on: fresh() }))).toMatchObject({ reason: 'dpop_replayed' });
    edge.advance(1_000);
    expect(await bodyOf(await send(token, newest, { on: fresh() }))).toMatchObject({ reason: 'dpop_stale' });
  });

  it('calls the replay object once per admitted DPoP request, and never for a refused one (logs the calls per request)', async () => {
    await putGuarded();
    const replays = counting(env.DPOP_REPLAY);
    const states = counting(env.TENANT_STATE);
    const limiters = counting(env.RATE_LIMITER);
    const counted = testEdge({ start: edge.now, env: { DPOP_REPLAY: replays.namespace, TENANT_STATE: states.namespace, RATE_LIMITER: limiters.namespace } as Partial<Env> });
    const calls = () => ({ dpopReplay: replays.calls, tenantState: states.calls, rateLimiter: limiters.calls });
    const token = await bound({ sub: 'measured' });
    const proof = await proofFor(token);
    const before = calls();
    expect((await send(token, proof, { on: counted })).status).toBe(200);
    const admitted = calls();
    expect(admitted.dpopReplay - before.dpopReplay).toBe(1);
    // Refused by scopes, by perSubject, and a replay this isolate already knows: no replay call.
    const scoped = await proofFor(token, { htu: `https://${host}/scoped` });
    expect((await send(token, scoped, { path: '/scoped', on: counted })).status).toBe(403);
    expect((await send(token, await proofFor(token), { on: counted })).status).toBe(429);
    const refused = calls();
    expect(refused.dpopReplay).toBe(admitted.dpopReplay);
    console.info(JSON.stringify({
      event: 'dpop_calls_per_request',
      admitted: { dpopReplay: admitted.dpopReplay - before.dpopReplay, tenantState: admitted.tenantState - before.tenantState, rateLimiter: admitted.rateLimiter - before.rateLimiter },
      twoRefused: { dpopReplay: refused.dpopReplay - admitted.dpopReplay, tenantState: refused.tenantState - admitted.tenantState, rateLimiter: refused.rateLimiter - admitted.rateLimiter },
    }));
    counted.restoreLog();
  });
});

describe('mTLS-bound tokens at the gateway', () => {
  const fingerprint = 'a1'.repeat(32);
  const x5t = () => btoa(String.fromCharCode(...new Uint8Array(32).fill(0xa1))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const tls = (certFingerprintSHA256: string, certVerified = 'SUCCESS') =>
    ({ tlsClientAuth: { certPresented: '1', certVerified, certRevoked: '0', certFingerprintSHA256 } });

  it('accepts the certificate the token is bound to, refuses another, a failed one and none', async () => {
    await put({}, { proofOfPossession: 'mtls' });
    const token = await issuer.sign({ sub: 'u1', aud: `https://${host}`, cnf: { 'x5t#S256': x5t() } }, { now: edge.now });
    const ok = await send(token, null, { scheme: 'Bearer', cf: tls(fingerprint) });
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect((await ok.json() as Echo).headers['x-auth-pop']).toBe('mtls');
    for (const cf of [tls('b2'.repeat(32)), tls(fingerprint, 'FAILED:self signed certificate'), undefined]) {
      expect(await bodyOf(await send(token, null, { scheme: 'Bearer', cf }))).toMatchObject({ error: 'invalid_token', reason: 'cert_mismatch' });
    }
    const unbound = await issuer.sign({ sub: 'u1', aud: `https://${host}` }, { now: edge.now });
    expect(await bodyOf(await send(unbound, null, { scheme: 'Bearer', cf: tls(fingerprint) }))).toMatchObject({ reason: 'pop_required' });
  });
});

describe('sender-constrained tokens over RPC', () => {
  const consumer = () => (env as unknown as { CONSUMER: Fetcher }).CONSUMER;
  const verify = async (input: unknown) => (await (await consumer().fetch('http://consumer/', {
    method: 'POST', body: JSON.stringify({ call: 'verify', args: [input] }),
  })).json()) as VerifyResult;

  it('takes scheme, dpop and url, and refuses the same proof twice', async () => {
    await put();
    // The RPC door runs on the real clock.
    const token = await issuer.sign({ sub: 'u1', aud: `https://${host}`, cnf: { jkt: client.jkt } });
    const proof = await signProof(client, { htm: 'GET', htu: `https://${host}/orders`, accessToken: token });
    const accepted = await verify({ host, token, scheme: 'DPoP', dpop: proof, url: `https://${host}/orders`, path: '/orders' });
    expect(accepted).toMatchObject({ ok: true, subject: 'u1', pop: 'dpop' });
    expect(await verify({ host, token, scheme: 'DPoP', dpop: proof, url: `https://${host}/orders`, path: '/orders' }))
      .toMatchObject({ ok: false, status: 401, error: 'invalid_dpop_proof', reason: 'dpop_replayed' });
    expect(await verify({ host, token, path: '/orders' })).toMatchObject({ ok: false, error: 'invalid_token', reason: 'pop_required' });
    expect(await verify({ host, token, scheme: 'Basic' })).toMatchObject({ ok: false, status: 400, error: 'invalid_request' });
  });

  it('exactly one of 20 concurrent uses of one proof passes, over the gateway and the RPC door together', async () => {
    await put();
    const token = await issuer.sign({ sub: 'u1', aud: `https://${host}`, cnf: { jkt: client.jkt } });
    const proof = await signProof(client, { htm: 'GET', htu: `https://${host}/orders`, accessToken: token });
    const viaEdge = testEdge();
    const passed = await Promise.all(Array.from({ length: 20 }, (_, i) => i % 2 === 0
      ? send(token, proof, { on: viaEdge }).then((r) => r.status === 200)
      : verify({ host, token, scheme: 'DPoP', dpop: proof, url: `https://${host}/orders`, path: '/orders' }).then((r) => r.ok)));
    expect(passed.filter(Boolean)).toHaveLength(1);
    expect(await rowsOf()).toBe(1);
  });

  it('takes clientCertSha256 for a certificate-bound token', async () => {
    await put();
    const x5t = btoa(String.fromCharCode(...new Uint8Array(32).fill(0xa1))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const token = await issuer.sign({ sub: 'u1', aud: `https://${host}`, cnf: { 'x5t#S256': x5t } });
    expect(await verify({ host, token, clientCertSha256: 'a1'.repeat(32) })).toMatchObject({ ok: true, pop: 'mtls' });
    expect(await verify({ host, token, clientCertSha256: 'b2'.repeat(32) })).toMatchObject({ ok: false, reason: 'cert_mismatch' });
    expect(await verify({ host, token })).toMatchObject({ ok: false, reason: 'cert_mismatch' });
    expect(await verify({ host, token, clientCertSha256: 'not hex' })).toMatchObject({ ok: false, status: 400 });
  });
});
