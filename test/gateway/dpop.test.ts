// Sender-constrained tokens through the whole Worker and the RPC door (RFC 9449 DPoP, RFC 8705
// mTLS): the proof on every request (a verified-token cache hit included), exact replay
// detection across isolates and under concurrency, server nonces, the challenges, the metadata,
// and x-auth-pop. No real TLS runs here: the tests set `cf.tlsClientAuth` on the request as
// Cloudflare would after verifying a client certificate.
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VerifyResult } from '../../src/rpc/verifier';
import { NONCE_WINDOW_SECONDS } from '../../src/verify/dpop-nonce';
import { proofKey, signProof, type ProofKey } from '../support/dpop';
import { TestIssuer } from '../support/issuer';
import { tenantConfig, testEdge, uniqueTenant, type Echo } from '../support/gateway';

let edge: ReturnType<typeof testEdge>;
let issuer: TestIssuer;
let client: ProofKey;
let host: string;
let id: string;

beforeEach(async () => {
  edge = testEdge();
  issuer = await TestIssuer.create({ algs: ['RS256'] });
  client = await proofKey('ES256');
  ({ id } = uniqueTenant('dpop'));
  host = `api.${id}.example.test`;
});
afterEach(() => edge.restoreLog());

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
    expect(edge.app.pipeline.tokenCache!.counters.hits).toBeGreaterThan(0);
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
