// Proof of possession: every row of decidePossession's table, invariants over every combination
// of the facts, readConfirmation, and checkPossession (then recordProof, as the pipeline calls it
// last) end to end with real proofs, real DpopReplay objects, nonces and cf.tlsClientAuth objects
// (no TLS here: Cloudflare's view of the handshake is what the edge reads, so the tests write it).
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { base64url } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { invalidProof, ok, type Outcome } from '../../src/base/denial';
import { dpopReplayStub, type DpopReplay } from '../../src/possession/dpop-replay';
import { createProofReplays } from '../../src/possession/proof-replays';
import { parseTenantConfig, PROOFS_OF_POSSESSION, type ProofOfPossession } from '../../src/config/schema';
import { compileTenant, type Tenant } from '../../src/tenants/tenant';
import { certificateOfRequest } from '../../src/possession/certificate';
import type { VerifiedProof } from '../../src/possession/dpop';
import { createDpopNonces } from '../../src/possession/dpop-nonce';
import {
  checkPossession, decidePossession, readConfirmation, recordProof,
  type Confirmation, type PossessionDeps, type PossessionFacts, type PossessionRequest,
} from '../../src/possession/decision';
import { schemeOf, type Scheme } from '../../src/verify/extract';
import type { VerifiedToken } from '../../src/verify/token';
import { proofKey, signProof, type ProofKey } from '../support/dpop';

const JKT = 'thumbprint-of-the-client-key';
const X5T = base64url.encode(new Uint8Array(32).fill(7));
const OTHER_CERT = base64url.encode(new Uint8Array(32).fill(8));
const PROOF: VerifiedProof = { jkt: JKT, jti: 'j', iat: 1, nonce: null, expiresAt: 331 };
const VERIFIED = ok(PROOF);
const REFUSED: Outcome<VerifiedProof> = invalidProof('dpop_stale');

type Facts = { scheme: Scheme; jkt: boolean; x5t: boolean; required: ProofOfPossession; proof: 'verified' | 'refused' | null; cert: 'match' | 'other' | null };
const factsOf = (f: Facts): PossessionFacts => ({
  confirmation: { jkt: f.jkt ? JKT : null, x5t: f.x5t ? X5T : null },
  required: f.required, scheme: f.scheme,
  proof: f.proof === 'verified' ? VERIFIED : f.proof === 'refused' ? REFUSED : null,
  certificate: f.cert === 'match' ? X5T : f.cert === 'other' ? OTHER_CERT : null,
});
/** 'pop dpop' | 'pop mtls' | 'pop null' | the reason of a refusal. */
function resultOf(f: Facts): string {
  const decided = decidePossession(factsOf(f));
  if (decided.ok) return `pop ${decided.value.pop}`;
  const denial = decided.denial;
  return denial.error === 'invalid_token' || denial.error === 'invalid_dpop_proof' ? denial.reason : denial.error;
}

describe('decidePossession: each row of the table', () => {
  it.each<[string, Facts, string]>([
    ['1 a DPoP-bound token as Bearer', { scheme: 'bearer', jkt: true, x5t: false, required: 'optional', proof: null, cert: null }, 'pop_required'],
    ['1 ... even with a verified certificate binding too', { scheme: 'bearer', jkt: true, x5t: true, required: 'mtls', proof: null, cert: 'match' }, 'pop_required'],
    ['2 the DPoP scheme with an unbound token', { scheme: 'dpop', jkt: false, x5t: false, required: 'optional', proof: null, cert: null }, 'pop_required'],
    ['2 the DPoP scheme with a certificate-bound token', { scheme: 'dpop', jkt: false, x5t: true, required: 'optional', proof: null, cert: 'match' }, 'pop_required'],
    ['3 dpop required, a bearer token', { scheme: 'bearer', jkt: false, x5t: false, required: 'dpop', proof: null, cert: null }, 'pop_required'],
    ['3 dpop required, a certificate-bound token', { scheme: 'bearer', jkt: false, x5t: true, required: 'dpop', proof: null, cert: 'match' }, 'pop_required'],
    ['4 mtls required, a bearer token', { scheme: 'bearer', jkt: false, x5t: false, required: 'mtls', proof: null, cert: 'match' }, 'pop_required'],
    ['4 mtls required, a DPoP-bound token with a good proof', { scheme: 'dpop', jkt: true, x5t: false, required: 'mtls', proof: 'verified', cert: null }, 'pop_required'],
    ['4 ... before the proof is looked at', { scheme: 'dpop', jkt: true, x5t: false, required: 'mtls', proof: 'refused', cert: null }, 'pop_required'],
    ['5 dpop-or-mtls required, a bearer token', { scheme: 'bearer', jkt: false, x5t: false, required: 'dpop-or-mtls', proof: null, cert: 'match' }, 'pop_required'],
    ['6 a refused proof', { scheme: 'dpop', jkt: true, x5t: false, required: 'optional', proof: 'refused', cert: null }, 'dpop_stale'],
    ['6 a refused proof, before the certificate', { scheme: 'dpop', jkt: true, x5t: true, required: 'dpop', proof: 'refused', cert: null }, 'dpop_stale'],
    ['7 a certificate-bound token without a certificate', { scheme: 'bearer', jkt: false, x5t: true, required: 'optional', proof: null, cert: null }, 'cert_mismatch'],
    ['7 ... with another certificate', { scheme: 'bearer', jkt: false, x5t: true, required: 'mtls', proof: null, cert: 'other' }, 'cert_mismatch'],
    ['7 ... held whatever the config, DPoP-bound too', { scheme: 'dpop', jkt: true, x5t: true, required: 'dpop', proof: 'verified', cert: 'other' }, 'cert_mismatch'],
    ['8 a DPoP-bound token with a good proof', { scheme: 'dpop', jkt: true, x5t: false, required: 'optional', proof: 'verified', cert: null }, 'pop dpop'],
    ['8 ... where dpop is required', { scheme: 'dpop', jkt: true, x5t: false, required: 'dpop', proof: 'verified', cert: 'other' }, 'pop dpop'],
    ['8 ... where either is required', { scheme: 'dpop', jkt: true, x5t: false, required: 'dpop-or-mtls', proof: 'verified', cert: null }, 'pop dpop'],
    ['9 a certificate-bound token with its certificate', { scheme: 'bearer', jkt: false, x5t: true, required: 'optional', proof: null, cert: 'match' }, 'pop mtls'],
    ['9 ... where mtls is required', { scheme: 'bearer', jkt: false, x5t: true, required: 'mtls', proof: null, cert: 'match' }, 'pop mtls'],
    ['9 ... where either is required', { scheme: 'bearer', jkt: false, x5t: true, required: 'dpop-or-mtls', proof: null, cert: 'match' }, 'pop mtls'],
    ['10 both bindings, mtls required', { scheme: 'dpop', jkt: true, x5t: true, required: 'mtls', proof: 'verified', cert: 'match' }, 'pop mtls'],
    ['11 both bindings, otherwise', { scheme: 'dpop', jkt: true, x5t: true, required: 'optional', proof: 'verified', cert: 'match' }, 'pop dpop'],
    ['12 a bearer token where nothing is required', { scheme: 'bearer', jkt: false, x5t: false, required: 'optional', proof: null, cert: 'other' }, 'pop null'],
  ])('rule %s', (_, facts, expected) => {
    expect(resultOf(facts)).toBe(expected);
  });

  it('hands the verified proof on for the replay check', () => {
    expect(decidePossession(factsOf({ scheme: 'dpop', jkt: true, x5t: false, required: 'optional', proof: 'verified', cert: null })))
      .toEqual({ ok: true, value: { pop: 'dpop', proof: PROOF } });
  });

  it('throws on a DPoP-bound DPoP request whose proof nobody checked (a bug in the caller)', () => {
    expect(() => decidePossession(factsOf({ scheme: 'dpop', jkt: true, x5t: false, required: 'optional', proof: null, cert: null }))).toThrow();
  });
});

describe('decidePossession: over every combination of the facts', () => {
  const all: Facts[] = [];
  for (const scheme of ['bearer', 'dpop'] as const) for (const jkt of [false, true]) for (const x5t of [false, true])
    for (const required of PROOFS_OF_POSSESSION) for (const cert of ['match', 'other', null] as const)
      // A proof is checked exactly for a DPoP request with a DPoP-bound token.
      for (const proof of scheme === 'dpop' && jkt ? (['verified', 'refused'] as const) : [null]) all.push({ scheme, jkt, x5t, required, proof, cert });

  it('covers all 120 cases and never throws on them', () => {
    expect(all).toHaveLength(120);
    for (const facts of all) expect(() => resultOf(facts)).not.toThrow();
  });

  it('never accepts a DPoP-bound token as Bearer, nor a token without cnf.jkt as DPoP', () => {
    for (const f of all.filter((f) => (f.scheme === 'bearer') === f.jkt)) expect(resultOf(f), JSON.stringify(f)).toBe('pop_required');
  });

  it('accepts a DPoP-bound token only with a verified proof, and a certificate-bound one only with its certificate', () => {
    for (const f of all) {
      if (!resultOf(f).startsWith('pop ')) continue;
      if (f.jkt) expect(f.proof, JSON.stringify(f)).toBe('verified');
      if (f.x5t) expect(f.cert, JSON.stringify(f)).toBe('match');
    }
  });

  it('accepts only tokens with the binding the issuer requires, and says which binding was proved', () => {
    for (const f of all) {
      const result = resultOf(f);
      if (!result.startsWith('pop ')) continue;
      if (f.required === 'dpop') expect(f.jkt).toBe(true);
      if (f.required === 'mtls') expect(f.x5t).toBe(true);
      if (f.required === 'dpop-or-mtls') expect(f.jkt || f.x5t).toBe(true);
      expect(result).toBe(!f.jkt && !f.x5t ? 'pop null' : f.jkt && (!f.x5t || f.required !== 'mtls') ? 'pop dpop' : 'pop mtls');
    }
  });

  it('accepts a bearer token exactly where nothing is required', () => {
    for (const f of all.filter((f) => !f.jkt && !f.x5t && f.scheme === 'bearer')) {
      expect(resultOf(f)).toBe(f.required === 'optional' ? 'pop null' : 'pop_required');
    }
  });
});

describe('readConfirmation and schemeOf', () => {
  it('reads cnf.jkt and cnf["x5t#S256"], and nothing else', () => {
    const read = (cnf: unknown) => readConfirmation(cnf === undefined ? {} : { cnf });
    expect(read(undefined)).toEqual({ ok: true, value: { jkt: null, x5t: null } });
    expect(read({ jkt: 'a', 'x5t#S256': 'b', jwk: {} })).toEqual({ ok: true, value: { jkt: 'a', x5t: 'b' } });
    expect(read({ kid: 'k' })).toEqual({ ok: true, value: { jkt: null, x5t: null } });
    // An inherited member is not the token's.
    expect(read(Object.create({ jkt: 'inherited' }))).toEqual({ ok: true, value: { jkt: null, x5t: null } });
  });

  it.each([['a string', 'jkt'], ['an array', [{ jkt: 'a' }]], ['null', null], ['jkt a number', { jkt: 1 }], ['jkt empty', { jkt: '' }], ['x5t an object', { 'x5t#S256': {} }]])(
    'is malformed for cnf %s', (_, cnf) => {
      expect(readConfirmation({ cnf })).toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'malformed' } });
    });

  it('reads the scheme case-insensitively', () => {
    expect(['Bearer', 'bearer', 'BEARER', 'DPoP', 'dpop', 'DPOP', 'Basic', ''].map(schemeOf))
      .toEqual(['bearer', 'bearer', 'bearer', 'dpop', 'dpop', 'dpop', null, null]);
  });
});

describe('checkPossession, end to end', () => {
  const URL_ = 'https://api.acme.com/payments/7';
  const ACCESS_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
  let t: number;
  const now = () => t;
  let client: ProofKey;
  let tenant: Tenant;
  const secret = crypto.getRandomValues(new Uint8Array(32));

  beforeAll(async () => { client = await proofKey('ES256'); });
  beforeEach(() => {
    t = Date.now();
    // A tenant id no other test uses: replay objects persist across tests.
    tenant = compile(`acme-${crypto.randomUUID().slice(0, 8)}`);
  });

  function compile(id: string, over: Record<string, unknown> = {}, required: ProofOfPossession = 'optional'): Tenant {
    const parsed = parseTenantConfig({
      id, hosts: ['api.acme.com'], ...over,
      issuers: [{ issuer: 'https://issuer.acme.test/', audiences: ['https://api.acme.com'], proofOfPossession: required }],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return compileTenant(parsed.config);
  }

  /** What verifyToken (or a verified-token cache hit) hands over: only issuer and claims matter here. */
  function tokenOf(on: Tenant, cnf: Confirmation | null): VerifiedToken {
    const claims = cnf === null ? { sub: 'user' } : { sub: 'user', cnf: { ...(cnf.jkt ? { jkt: cnf.jkt } : {}), ...(cnf.x5t ? { 'x5t#S256': cnf.x5t } : {}) } };
    return {
      issuer: on.issuers.get('https://issuer.acme.test/')!, subject: 'user', clientId: null, scopes: new Set(), claims,
      kid: 'k', alg: 'RS256', keyTier: 'memory', keySetVersion: 1, expiresAt: Math.floor(t / 1000) + 3600, notBefore: null, issuedAt: null,
    };
  }

  const isolate = (over: Partial<PossessionDeps> = {}): PossessionDeps => ({
    now, replays: createProofReplays({ now }), nonces: createDpopNonces({ now }), dpopReplay: env.DPOP_REPLAY, nonceSecret: secret, ...over,
  });
  const proofFor = (over: { claims?: Record<string, unknown> } = {}) =>
    signProof(client, { htm: 'GET', htu: URL_, accessToken: ACCESS_TOKEN, now: t, ...over });
  const request = (over: Partial<PossessionRequest> = {}): PossessionRequest => ({
    scheme: 'dpop', accessToken: ACCESS_TOKEN, proof: null, method: 'GET', url: `${URL_}?page=1`, certificate: null, ...over,
  });
  /** checkPossession, then (nothing refusing in between) recordProof: the pipeline's first and last DPoP steps. */
  const admit = async (token: VerifiedToken, req: PossessionRequest, on: Tenant, deps: PossessionDeps) => {
    const checked = await checkPossession(token, req, on, deps);
    if (!checked.ok || checked.value.proof === null) return checked;
    const used = await recordProof(checked.value.proof, on.id, deps);
    return used.ok ? checked : used;
  };
  const outcomeOf = (outcome: Awaited<ReturnType<typeof checkPossession>>) => {
    if (outcome.ok) return `pop ${outcome.value.pop}`;
    const d = outcome.denial;
    return d.error === 'invalid_token' || d.error === 'invalid_dpop_proof' ? d.reason : d.error;
  };

  it('accepts a DPoP-bound token with its proof once, and refuses the same proof again', async () => {
    const deps = isolate();
    const token = tokenOf(tenant, { jkt: client.jkt, x5t: null });
    const proof = await proofFor();
    const first = await admit(token, request({ proof }), tenant, deps);
    expect(first).toMatchObject({ ok: true, value: { pop: 'dpop', dpopNonce: null, proof: { jkt: client.jkt } } });
    // The object refuses the replay when it is recorded; then this isolate knows it, and
    // checkPossession refuses it at once, before anything is recorded.
    expect(outcomeOf(await admit(token, request({ proof }), tenant, deps))).toBe('dpop_replayed');
    expect(outcomeOf(await checkPossession(token, request({ proof }), tenant, deps))).toBe('dpop_replayed');
    // Another isolate: checkPossession passes it (a fresh memory), and the object refuses it.
    const other = isolate();
    expect(outcomeOf(await checkPossession(token, request({ proof }), tenant, other))).toBe('pop dpop');
    expect(outcomeOf(await admit(token, request({ proof }), tenant, other))).toBe('dpop_replayed');
  });

  it('records nothing itself: a proof checked any number of times is still fresh for recordProof', async () => {
    const deps = isolate();
    const token = tokenOf(tenant, { jkt: client.jkt, x5t: null });
    const proof = await proofFor();
    for (let i = 0; i < 3; i++) expect(outcomeOf(await checkPossession(token, request({ proof }), tenant, deps))).toBe('pop dpop');
    expect(await dpopReplayStub(env.DPOP_REPLAY, { tenantId: tenant.id, jkt: client.jkt }).size()).toBe(0);
    expect(outcomeOf(await admit(token, request({ proof }), tenant, deps))).toBe('pop dpop');
  });

  it('refuses to record a proof where DPOP_REPLAY is not bound (500), never accepting it unchecked', async () => {
    const token = tokenOf(tenant, { jkt: client.jkt, x5t: null });
    const unbound = isolate({ dpopReplay: null });
    expect(await checkPossession(token, request({ proof: await proofFor() }), tenant, unbound)).toMatchObject({ ok: false, denial: { error: 'internal_error' } });
    expect(await recordProof(PROOF, tenant.id, unbound)).toMatchObject({ ok: false, denial: { error: 'internal_error' } });
  });

  it('checks a new proof on every request of a token the verified-token cache keeps', async () => {
    const deps = isolate();
    const token = tokenOf(tenant, { jkt: client.jkt, x5t: null });
    for (let i = 0; i < 3; i++) {
      expect(outcomeOf(await checkPossession(token, request({ proof: await proofFor() }), tenant, deps))).toBe('pop dpop');
    }
    expect(outcomeOf(await checkPossession(token, request({ proof: null }), tenant, deps))).toBe('dpop_malformed');
    expect(outcomeOf(await checkPossession(token, request({ proof: await proofFor(), method: 'POST' }), tenant, deps))).toBe('dpop_mismatch');
  });

  it('passes exactly one of 20 concurrent requests with the same proof, over two isolates', async () => {
    const isolates = [isolate(), isolate()];
    const token = tokenOf(tenant, { jkt: client.jkt, x5t: null });
    const proof = await proofFor();
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      admit(token, request({ proof }), tenant, isolates[i % 2]!)));
    expect(outcomes.map(outcomeOf).filter((o) => o === 'pop dpop')).toHaveLength(1);
    expect(outcomes.map(outcomeOf).filter((o) => o === 'dpop_replayed')).toHaveLength(19);
  });

  it('never uses up a proof on a request refused for another reason', async () => {
    const deps = isolate();
    const certBound = tokenOf(tenant, { jkt: client.jkt, x5t: X5T });
    const proof = await proofFor();
    expect(outcomeOf(await admit(certBound, request({ proof }), tenant, deps))).toBe('cert_mismatch');
    expect(outcomeOf(await admit(certBound, request({ proof, certificate: X5T }), tenant, deps))).toBe('pop dpop');
  });

  it('refuses a DPoP-bound token sent as Bearer, with or without a DPoP header', async () => {
    const token = tokenOf(tenant, { jkt: client.jkt, x5t: null });
    for (const proof of [null, await proofFor()]) {
      expect(outcomeOf(await checkPossession(token, request({ scheme: 'bearer', proof }), tenant, isolate()))).toBe('pop_required');
    }
  });

  it('accepts a bearer token where nothing is required, a DPoP header on it being ignored', async () => {
    const token = tokenOf(tenant, null);
    expect(await checkPossession(token, request({ scheme: 'bearer', proof: 'not even a JWS' }), tenant, isolate()))
      .toEqual({ ok: true, value: { pop: null, proof: null, dpopNonce: null } });
    expect(outcomeOf(await checkPossession(token, request({ scheme: 'dpop', proof: await proofFor() }), tenant, isolate()))).toBe('pop_required');
    const strict = compile(tenant.id, {}, 'dpop');
    expect(outcomeOf(await checkPossession(tokenOf(strict, null), request({ scheme: 'bearer' }), strict, isolate()))).toBe('pop_required');
  });

  it('holds a certificate-bound token to the certificate Cloudflare verified', async () => {
    const token = tokenOf(tenant, { jkt: null, x5t: X5T });
    const hex = [...base64url.decode(X5T)].map((b) => b.toString(16).padStart(2, '0')).join('');
    const cf = (over: Record<string, string> = {}) =>
      ({ tlsClientAuth: { certPresented: '1', certVerified: 'SUCCESS', certRevoked: '0', certFingerprintSHA256: hex, ...over } });
    const with_ = (certificate: string | null) => checkPossession(token, request({ scheme: 'bearer', certificate }), tenant, isolate());
    expect(await with_(certificateOfRequest(cf()))).toEqual({ ok: true, value: { pop: 'mtls', proof: null, dpopNonce: null } });
    expect(outcomeOf(await with_(certificateOfRequest(cf({ certFingerprintSHA256: 'ab'.repeat(32) }))))).toBe('cert_mismatch');
    expect(outcomeOf(await with_(certificateOfRequest(cf({ certVerified: 'FAILED:unknown ca' }))))).toBe('cert_mismatch');
    expect(outcomeOf(await with_(certificateOfRequest({})))).toBe('cert_mismatch');
  });

  describe('with dpop.nonce', () => {
    it('asks for a nonce first, then accepts the proof that carries it, and hands out the nonce', async () => {
      const nonced = compile(tenant.id, { dpop: { nonce: true } });
      const deps = isolate();
      const token = tokenOf(nonced, { jkt: client.jkt, x5t: null });
      const first = await checkPossession(token, request({ proof: await proofFor() }), nonced, deps);
      expect(first).toMatchObject({ ok: false, denial: { error: 'use_dpop_nonce' } });
      const nonce = !first.ok && first.denial.error === 'use_dpop_nonce' ? first.denial.nonce : '';
      const second = await checkPossession(token, request({ proof: await proofFor({ claims: { nonce } }) }), nonced, deps);
      expect(second).toMatchObject({ ok: true, value: { pop: 'dpop', dpopNonce: nonce, proof: { nonce } } });
      // Another isolate accepts it too: nothing but the secret is shared.
      expect(outcomeOf(await checkPossession(token, request({ proof: await proofFor({ claims: { nonce } }) }), nonced, isolate()))).toBe('pop dpop');
    });

    it('is a broken binding (500), not the client, when no nonce secret is at hand', async () => {
      const nonced = compile(tenant.id, { dpop: { nonce: true } });
      const token = tokenOf(nonced, { jkt: client.jkt, x5t: null });
      expect(await checkPossession(token, request({ proof: await proofFor() }), nonced, isolate({ nonceSecret: null })))
        .toMatchObject({ ok: false, denial: { error: 'internal_error' } });
    });
  });

  it('uses the tenant maxAgeSeconds for the proof and for how long its jti is kept', async () => {
    const short = compile(tenant.id, { dpop: { maxAgeSeconds: 10 } });
    const token = tokenOf(short, { jkt: client.jkt, x5t: null });
    const deps = isolate();
    const proof = await proofFor({ claims: { iat: Math.floor(t / 1000) - 11 } });
    expect(outcomeOf(await checkPossession(token, request({ proof }), short, deps))).toBe('dpop_stale');
    const fresh = await proofFor();
    const accepted = await admit(token, request({ proof: fresh }), short, deps);
    expect(accepted).toMatchObject({ ok: true, value: { proof: { expiresAt: Math.floor(t / 1000) + 10 + 30 } } });
    const rows = await runInDurableObject(dpopReplayStub(env.DPOP_REPLAY, { tenantId: short.id, jkt: client.jkt }), (_: DpopReplay, state) =>
      state.storage.sql.exec<{ expires_at: number }>('SELECT expires_at FROM proofs WHERE tenant = ?', short.id).toArray());
    expect(rows).toEqual([{ expires_at: Math.floor(t / 1000) + 40 }]);
  });
});
