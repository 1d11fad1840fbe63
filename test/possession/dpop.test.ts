// verifyProof (RFC 9449 §4.3) on real proofs signed by jose: every reason and which one wins, the
// iat window's edges, the htu comparison, the key binding, the nonce hook, and the bounds.
// Time moves by assignment; the access token is any string (verifyProof only hashes it).
import { base64url } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Denial, Outcome } from '../../src/base/denial';
import type { Algorithm } from '../../src/config/algorithms';
import { createDpopNonces, NONCE_WINDOW_SECONDS } from '../../src/possession/dpop-nonce';
import { MAX_PROOF_BYTES, sha256, verifyProof, type ProofInput, type ProofRules, type VerifiedProof } from '../../src/possession/dpop';
import { forge, forgeHmac } from '../security/forge';
import { privateJwkOf, proofKey, signProof, type ProofKey, type ProofRequest } from '../support/dpop';

const URL_ = 'https://api.acme.com/payments/1?page=2';
const HTU = 'https://api.acme.com/payments/1';
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLW9mLXRoZS1hY2Nlc3MtdG9rZW4';

let t: number;
const now = () => t;
const T = () => Math.floor(t / 1000);
let es: ProofKey;
let other: ProofKey;

beforeAll(async () => {
  es = await proofKey('ES256');
  other = await proofKey('ES256');
});
beforeEach(() => { t = 1_900_000_000_000; });

const rules = (over: Partial<ProofRules> = {}): ProofRules => ({
  algorithms: new Set<Algorithm>(['RS256', 'ES256', 'PS256', 'EdDSA']), clockToleranceSeconds: 30, maxAgeSeconds: 300, nonce: null, ...over,
});
const input = (proof: ProofInput['proof'], over: Partial<ProofInput> = {}): ProofInput => ({
  proof, method: 'GET', url: URL_, accessToken: TOKEN, boundJkt: es.jkt, ...over,
});
const sign = (over: Partial<ProofRequest> = {}, key: ProofKey = es) =>
  signProof(key, { htm: 'GET', htu: HTU, accessToken: TOKEN, now: t, ...over });
const verify = (proof: ProofInput['proof'], over: { input?: Partial<ProofInput>; rules?: Partial<ProofRules> } = {}) =>
  verifyProof(input(proof, over.input), rules(over.rules), { now });

/** The reason of an invalid_dpop_proof, 'ok', or the other denial's error. */
function reasonOf(outcome: Outcome<VerifiedProof>): string {
  if (outcome.ok) return 'ok';
  const denial: Denial = outcome.denial;
  return denial.error === 'invalid_dpop_proof' ? denial.reason : denial.error;
}

describe('verifyProof: a good proof', () => {
  it('answers the key thumbprint, jti, iat and how long the jti must be remembered', async () => {
    const proof = await sign({ claims: { jti: 'j-1' } });
    const outcome = await verify(proof);
    expect(outcome).toEqual({ ok: true, value: { jkt: es.jkt, jti: 'j-1', iat: T(), nonce: null, expiresAt: T() + 300 + 30 } });
  });

  it.each(['RS256', 'PS256', 'EdDSA', 'ES256'] as const)('verifies a %s proof', async (alg) => {
    const key = await proofKey(alg);
    expect(reasonOf(await verify(await sign({}, key), { input: { boundJkt: key.jkt } }))).toBe('ok');
  });

  it('accepts typ in any case and with the application/ prefix (RFC 7515 §4.1.9)', async () => {
    for (const typ of ['DPoP+JWT', 'application/dpop+jwt']) {
      expect(reasonOf(await verify(await sign({ header: { typ } })))).toBe('ok');
    }
  });

  it('takes the header value as Headers.get gives it, or as the only item of a list', async () => {
    const proof = await sign();
    expect(reasonOf(await verify([proof]))).toBe('ok');
    const headers = new Headers({ DPoP: proof });
    expect(reasonOf(await verify(headers.get('dpop')))).toBe('ok');
  });
});

describe('verifyProof: exactly one well-formed proof (dpop_malformed)', () => {
  it('refuses no DPoP header, an empty one, and several', async () => {
    const proof = await sign();
    const headers = new Headers();
    headers.append('DPoP', proof);
    headers.append('DPoP', await sign());
    for (const value of [null, [], '', '  ', [proof, proof], headers.get('dpop'), `${proof}, ${proof}`]) {
      expect(reasonOf(await verify(value)), JSON.stringify(value)?.slice(0, 40)).toBe('dpop_malformed');
    }
  });

  it('refuses a proof over 8 KiB without parsing it, and takes one just under', async () => {
    const padded = await sign({ claims: { pad: 'x'.repeat(5_700) } });
    expect(padded.length).toBeGreaterThan(MAX_PROOF_BYTES - 300);
    expect(padded.length).toBeLessThanOrEqual(MAX_PROOF_BYTES);
    expect(reasonOf(await verify(padded))).toBe('ok');
    const over = await sign({ claims: { pad: 'x'.repeat(MAX_PROOF_BYTES) } });
    const outcome = await verify(over);
    expect(outcome).toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: 'proof over 8 KiB' } });
  });

  it('refuses what is not a compact JWS', async () => {
    const proof = await sign();
    for (const value of ['a.b', 'a.b.c.d', `${proof}=`, proof.replace(/^[^.]+/, 'e30'), proof.replace(/\.[^.]+\./, '.bm90IGpzb24.')]) {
      expect(reasonOf(await verify(value)), value.slice(0, 20)).toBe('dpop_malformed');
    }
  });

  it('refuses a typ other than dpop+jwt, and none', async () => {
    for (const typ of ['JWT', 'at+jwt', 'dpop', undefined]) {
      expect(reasonOf(await verify(await sign({ header: { typ } }))), String(typ)).toBe('dpop_malformed');
    }
  });

  it('refuses a missing jwk, a jwk with a private member, and a symmetric one', async () => {
    expect(reasonOf(await verify(await sign({ header: { jwk: undefined } })))).toBe('dpop_malformed');
    expect(reasonOf(await verify(await sign({ header: { jwk: 'not an object' } })))).toBe('dpop_malformed');
    const privateJwk = await privateJwkOf(es);
    expect(privateJwk.d).toBeTypeOf('string');
    const withPrivate = await verify(await sign({ header: { jwk: privateJwk } }));
    expect(withPrivate).toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: 'jwk holds a private key member' } });
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      expect(reasonOf(await verify(await sign({ header: { jwk: { ...es.jwk, [member]: 'AQAB' } } }))), member).toBe('dpop_malformed');
    }
    // An HMAC proof whose jwk is the secret itself (RFC 9449 §4.3 check 5: asymmetric only).
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const hmac = await forgeHmac(
      JSON.stringify({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: base64url.encode(secret) } }),
      JSON.stringify({ jti: 'j', htm: 'GET', htu: HTU, iat: T(), ath: await sha256(TOKEN) }), secret);
    expect(await verify(hmac)).toMatchObject({ ok: false, denial: { reason: 'dpop_malformed' } });
    const octWithEs256 = await verify(await sign({ header: { jwk: { kty: 'oct', k: base64url.encode(secret) } } }));
    expect(octWithEs256).toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: 'jwk is a symmetric key' } });
  });

  it('refuses alg none, HMAC, a missing alg, and an alg outside the issuer allowlist', async () => {
    const payload = JSON.stringify({ jti: 'j', htm: 'GET', htu: HTU, iat: T(), ath: await sha256(TOKEN) });
    const unsigned = `${base64url.encode(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: es.jwk }))}.${base64url.encode(payload)}.`;
    expect(reasonOf(await verify(unsigned))).toBe('dpop_malformed');
    expect(reasonOf(await verify(`${unsigned}AAAA`))).toBe('dpop_malformed');
    const noAlg = await forge(JSON.stringify({ typ: 'dpop+jwt', jwk: es.jwk }), payload, es);
    expect(reasonOf(await verify(noAlg))).toBe('dpop_malformed');
    const allowed = await verify(await sign(), { rules: { algorithms: new Set<Algorithm>(['RS256']) } });
    expect(allowed).toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: "alg ES256 not in the issuer's allowlist" } });
  });

  it('refuses a jwk that does not fit the alg: another curve, another key type, a short RSA modulus', async () => {
    const p384 = await proofKey('ES384');
    expect(reasonOf(await verify(await sign({ header: { jwk: p384.jwk } })))).toBe('dpop_malformed');
    const rsa = await proofKey('RS256');
    expect(reasonOf(await verify(await sign({ header: { jwk: rsa.jwk } })))).toBe('dpop_malformed');
    // jose will not make or use a 1024-bit key: WebCrypto makes it, forge() signs with it.
    const pair = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
    const { n, e } = await crypto.subtle.exportKey('jwk', pair.publicKey) as JsonWebKey;
    const short = await forge(JSON.stringify({ typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', n, e } }),
      JSON.stringify({ jti: 'j', htm: 'GET', htu: HTU, iat: T(), ath: await sha256(TOKEN) }),
      { kid: 'short', alg: 'RS256', privateKey: pair.privateKey, publicJwk: {} });
    expect(await verify(short)).toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: 'jwk RSA modulus outside 2048..8192 bits' } });
    // Bounds before any import: a modulus over 8192 bits, an exponent over 4 bytes.
    const payload = JSON.stringify({ jti: 'j', htm: 'GET', htu: HTU, iat: T(), ath: await sha256(TOKEN) });
    const rsaHeader = (jwk: Record<string, string>) => JSON.stringify({ typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', ...jwk } });
    expect(await verify(await forge(rsaHeader({ n: 'A'.repeat(1400), e: 'AQAB' }), payload, es)))
      .toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: 'jwk RSA modulus over 8192 bits' } });
    expect(await verify(await forge(rsaHeader({ n: rsa.jwk.n!, e: 'AQABAQAB' }), payload, es)))
      .toMatchObject({ ok: false, denial: { reason: 'dpop_malformed', note: 'jwk RSA exponent over 4 bytes' } });
    // A point that is not on the curve: WebCrypto's import refuses it, which is input, not a bug.
    const offCurve = { ...es.jwk, y: es.jwk.x };
    expect(reasonOf(await verify(await sign({ header: { jwk: offCurve } })))).toBe('dpop_malformed');
  });

  it('refuses a crit header (no extension is understood)', async () => {
    const proof = await forge(
      JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: es.jwk, crit: ['x-ext'], 'x-ext': 1 }),
      JSON.stringify({ jti: 'j', htm: 'GET', htu: HTU, iat: T(), ath: await sha256(TOKEN) }), es);
    expect(reasonOf(await verify(proof))).toBe('dpop_malformed');
  });

  it('refuses a missing claim or one of the wrong type; jti is 1 to 256 characters', async () => {
    const cases: Record<string, unknown>[] = [
      { jti: undefined }, { jti: 7 }, { jti: '' }, { jti: 'j'.repeat(257) },
      { htm: undefined }, { htm: ['GET'] }, { htu: undefined }, { htu: 1 },
      { iat: undefined }, { iat: '1900000000' }, { ath: undefined }, { ath: null }, { nonce: 5 },
    ];
    for (const claims of cases) expect(reasonOf(await verify(await sign({ claims }))), JSON.stringify(claims).slice(0, 40)).toBe('dpop_malformed');
    expect(reasonOf(await verify(await sign({ claims: { jti: 'j'.repeat(256) } })))).toBe('ok');
    // 1e309 parses as Infinity.
    const infinite = await forge(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: es.jwk }),
      `{"jti":"j","htm":"GET","htu":"${HTU}","iat":1e309,"ath":"${await sha256(TOKEN)}"}`, es);
    expect(reasonOf(await verify(infinite))).toBe('dpop_malformed');
  });
});

describe('verifyProof: the signature and the key (dpop_bad_signature, dpop_key_mismatch)', () => {
  it('refuses a proof signed by key A whose header carries key B', async () => {
    const swapped = await sign({ header: { jwk: other.jwk } }, es);
    expect(reasonOf(await verify(swapped, { input: { boundJkt: other.jkt } }))).toBe('dpop_bad_signature');
    expect(reasonOf(await verify(swapped, { input: { boundJkt: es.jkt } }))).toBe('dpop_bad_signature');
  });

  it('refuses a tampered payload', async () => {
    const proof = await sign();
    const [h, , s] = proof.split('.');
    const payload = base64url.encode(JSON.stringify({ jti: 'j', htm: 'POST', htu: HTU, iat: T(), ath: await sha256(TOKEN) }));
    expect(reasonOf(await verify(`${h}.${payload}.${s}`))).toBe('dpop_bad_signature');
  });

  it('refuses a good proof by key B for a token bound to key A', async () => {
    const byOther = await sign({}, other);
    expect(await verify(byOther)).toMatchObject({ ok: false, denial: { error: 'invalid_dpop_proof', reason: 'dpop_key_mismatch' } });
    expect(reasonOf(await verify(byOther, { input: { boundJkt: other.jkt } }))).toBe('ok');
  });
});

describe('verifyProof: the request (dpop_mismatch)', () => {
  it('refuses another method, in any spelling (methods are case-sensitive)', async () => {
    expect(reasonOf(await verify(await sign({ htm: 'POST' })))).toBe('dpop_mismatch');
    expect(reasonOf(await verify(await sign({ htm: 'get' })))).toBe('dpop_mismatch');
    expect(reasonOf(await verify(await sign({ htm: 'POST' }), { input: { method: 'POST' } }))).toBe('ok');
  });

  it.each([
    ['the same URL without the query', HTU],
    ['an explicit default port', 'https://api.acme.com:443/payments/1'],
    ['the host in another case', 'https://API.Acme.COM/payments/1'],
    ['the scheme in another case', 'HTTPS://api.acme.com/payments/1'],
    ['a query and a fragment of its own', 'https://api.acme.com/payments/1?other=1#top'],
    ['an unreserved character percent-encoded', 'https://api.acme.com/payments/%31'],
    ['a trailing dot segment resolved', 'https://api.acme.com/payments/x/../1'],
  ])('matches htu with %s', async (_, htu) => {
    expect(reasonOf(await verify(await sign({ htu })))).toBe('ok');
  });

  it('matches ~ and %7E (either case) on either side', async () => {
    const url = 'https://api.acme.com/~user/files';
    for (const htu of ['https://api.acme.com/%7Euser/files', 'https://api.acme.com/%7euser/files', url]) {
      expect(reasonOf(await verify(await sign({ htu }), { input: { url } })), htu).toBe('ok');
      expect(reasonOf(await verify(await sign({ htu: url }), { input: { url: htu } })), htu).toBe('ok');
    }
  });

  it.each([
    ['another host', 'https://api.globex.com/payments/1'],
    ['a subdomain', 'https://eu.api.acme.com/payments/1'],
    ['another path', 'https://api.acme.com/payments/2'],
    ['a path that only starts the same', 'https://api.acme.com/payments'],
    ['another port', 'https://api.acme.com:8443/payments/1'],
    ['a trailing slash', 'https://api.acme.com/payments/1/'],
    ['http instead of https', 'http://api.acme.com/payments/1'],
    ['an encoded slash', 'https://api.acme.com/payments%2F1'],
    ['a path in another case', 'https://api.acme.com/Payments/1'],
    ['a relative reference', '/payments/1'],
    ['userinfo', 'https://user@api.acme.com/payments/1'],
    ['another scheme', 'wss://api.acme.com/payments/1'],
  ])('refuses htu with %s', async (_, htu) => {
    expect(reasonOf(await verify(await sign({ htu })))).toBe('dpop_mismatch');
  });

  it('refuses an ath of another token, and takes the right one', async () => {
    expect(reasonOf(await verify(await sign({ accessToken: `${TOKEN}x` })))).toBe('dpop_mismatch');
    expect(reasonOf(await verify(await sign({ claims: { ath: (await sha256(TOKEN)).toUpperCase() } })))).toBe('dpop_mismatch');
    expect(reasonOf(await verify(await sign(), { input: { accessToken: `${TOKEN}x` } }))).toBe('dpop_mismatch');
  });
});

describe('verifyProof: the iat window (dpop_stale)', () => {
  it('accepts iat from now - maxAgeSeconds to now + clockToleranceSeconds, and not a second beyond', async () => {
    const at = (offsetSeconds: number) => sign({ claims: { iat: T() + offsetSeconds } });
    expect(reasonOf(await verify(await at(-300)))).toBe('ok');
    expect(reasonOf(await verify(await at(-301)))).toBe('dpop_stale');
    expect(reasonOf(await verify(await at(30)))).toBe('ok');
    expect(reasonOf(await verify(await at(31)))).toBe('dpop_stale');
  });

  it('follows the tenant maxAgeSeconds and the issuer tolerance', async () => {
    const at = (offsetSeconds: number) => sign({ claims: { iat: T() + offsetSeconds } });
    const tight = { rules: { maxAgeSeconds: 10, clockToleranceSeconds: 0 } };
    expect(reasonOf(await verify(await at(-10), tight))).toBe('ok');
    expect(reasonOf(await verify(await at(-11), tight))).toBe('dpop_stale');
    expect(reasonOf(await verify(await at(0), tight))).toBe('ok');
    expect(reasonOf(await verify(await at(1), tight))).toBe('dpop_stale');
    const long = { rules: { maxAgeSeconds: 3600 } };
    expect(reasonOf(await verify(await at(-3600), long))).toBe('ok');
    expect(reasonOf(await verify(await at(-3601), long))).toBe('dpop_stale');
  });

  it('ages a proof as time moves: the same proof turns stale', async () => {
    const proof = await sign();
    expect(reasonOf(await verify(proof))).toBe('ok');
    t += 300_999;
    expect(reasonOf(await verify(proof))).toBe('ok');
    t += 1;
    expect(reasonOf(await verify(proof))).toBe('dpop_stale');
  });
});

describe('verifyProof: which reason wins', () => {
  it('malformed before signature, signature before mismatch, mismatch before stale, stale before key', async () => {
    const swappedAndStale = await sign({ header: { jwk: other.jwk }, htm: 'POST', claims: { iat: T() - 1000, jti: 7 } });
    expect(reasonOf(await verify(swappedAndStale))).toBe('dpop_malformed');
    expect(reasonOf(await verify(await sign({ header: { jwk: other.jwk }, htm: 'POST' })))).toBe('dpop_bad_signature');
    expect(reasonOf(await verify(await sign({ htm: 'POST', claims: { iat: T() - 1000 } }, other)))).toBe('dpop_mismatch');
    expect(reasonOf(await verify(await sign({ claims: { iat: T() - 1000 } }, other)))).toBe('dpop_stale');
    expect(reasonOf(await verify(await sign({}, other)))).toBe('dpop_key_mismatch');
  });

  it('never puts the proof or the token in a note', async () => {
    const proof = await sign({ htm: 'POST' });
    const outcomes = [await verify(proof), await verify(`${proof}x.y`), await verify(await sign({}, other))];
    for (const outcome of outcomes) {
      const text = JSON.stringify(outcome);
      expect(text).not.toContain(proof.slice(proof.lastIndexOf('.') + 1));
      expect(text).not.toContain(TOKEN.slice(TOKEN.lastIndexOf('.') + 1));
    }
  });
});

describe('verifyProof: server nonces (RFC 9449 §9)', () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const window = () => Math.floor(t / 1000 / NONCE_WINDOW_SECONDS);
  const withNonce = (nonces: ReturnType<typeof createDpopNonces>) => ({ rules: { nonce: nonces.forTenant('acme', secret) } });

  it('asks for a nonce when the proof has none, and answers the current one', async () => {
    const nonces = createDpopNonces({ now });
    const issued = await nonces.forTenant('acme', secret).issue();
    const outcome = await verify(await sign(), withNonce(nonces));
    expect(outcome).toEqual({ ok: false, denial: { error: 'use_dpop_nonce', nonce: issued } });
    expect(issued).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('accepts the current nonce and the one of the window before, not two windows back', async () => {
    const nonces = createDpopNonces({ now });
    // Issued in the last millisecond of its window: still accepted 300 s later.
    t = (window() + 1) * NONCE_WINDOW_SECONDS * 1000 - 1;
    const issued = await nonces.forTenant('acme', secret).issue();
    const proofAt = () => sign({ claims: { nonce: issued } });
    expect(await verify(await proofAt(), withNonce(nonces))).toMatchObject({ ok: true, value: { nonce: issued } });
    t += NONCE_WINDOW_SECONDS * 1000;
    expect(reasonOf(await verify(await proofAt(), withNonce(nonces)))).toBe('ok');
    t += 1;
    const stale = await verify(await proofAt(), withNonce(nonces));
    expect(stale).toMatchObject({ ok: false, denial: { error: 'use_dpop_nonce' } });
    expect(!stale.ok && stale.denial.error === 'use_dpop_nonce' && stale.denial.nonce).not.toBe(issued);
  });

  it('accepts a nonce of the next window (an isolate whose clock runs behind)', async () => {
    const ahead = createDpopNonces({ now: () => t + NONCE_WINDOW_SECONDS * 1000 });
    const issued = await ahead.forTenant('acme', secret).issue();
    const behind = createDpopNonces({ now });
    expect(reasonOf(await verify(await sign({ claims: { nonce: issued } }), withNonce(behind)))).toBe('ok');
  });

  it('refuses a made-up nonce, one of another tenant, and one made with an old secret', async () => {
    const nonces = createDpopNonces({ now });
    const otherTenant = await nonces.forTenant('globex', secret).issue();
    const oldSecret = await nonces.forTenant('acme', crypto.getRandomValues(new Uint8Array(32))).issue();
    for (const nonce of ['x'.repeat(32), 'short', otherTenant, oldSecret]) {
      expect(reasonOf(await verify(await sign({ claims: { nonce } }), withNonce(nonces))), nonce).toBe('use_dpop_nonce');
    }
  });

  it('asks for a nonce only of a proof that is right in every other way', async () => {
    const nonces = createDpopNonces({ now });
    expect(reasonOf(await verify(await sign({ header: { jwk: other.jwk } }), withNonce(nonces)))).toBe('dpop_bad_signature');
    expect(reasonOf(await verify(await sign({}, other), withNonce(nonces)))).toBe('dpop_key_mismatch');
    expect(reasonOf(await verify(await sign({ claims: { iat: T() - 301 } }), withNonce(nonces)))).toBe('dpop_stale');
  });

  it('ignores a nonce when the tenant issues none', async () => {
    expect(await verify(await sign({ claims: { nonce: 'anything' } }))).toMatchObject({ ok: true, value: { nonce: null } });
  });
});

describe('verifyProof: what it costs', () => {
  it('prints µs per verified proof, the key import cached (printed, never asserted)', async () => {
    const n = 300;
    const proofs = await Promise.all(Array.from({ length: n }, () => sign()));
    await verify(proofs[0]!);
    const started = performance.now();
    let passed = 0;
    for (const proof of proofs) if ((await verify(proof)).ok) passed++;
    const elapsed = performance.now() - started;
    expect(passed).toBe(n);
    console.log(`verifyProof ES256: ${((elapsed * 1000) / n).toFixed(0)} µs per proof (wall clock, ${n} proofs)`);
  });
});
