// The compact JWS layer's signature check (src/verify/compact.ts): WebCrypto over the token's own
// signing input, with no second decoding of the header and payload. It must accept exactly what
// jose's compactVerify accepted with the same key and alg (jose is the oracle here, on every
// algorithm the edge verifies and on mutated tokens), tell an undecodable signature from a wrong
// one, and refuse a key that does not fit the alg as a bug, never as a verdict.
import fc from 'fast-check';
import { CompactSign, compactVerify, importJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS, type Algorithm } from '../../src/config/algorithms';
import { decodeSegment, verifySignature } from '../../src/verify/compact';
import { forge, signBytes, b64 } from '../security/forge';
import { makeKey, type TestAlg, type TestKey } from '../support/issuer';

const ALGS: TestAlg[] = ['RS256', 'PS256', 'ES256', 'ES384', 'RS384', 'EdDSA'];
const keys = new Map<TestAlg, { signer: TestKey; publicKey: CryptoKey; other: CryptoKey }>();

beforeAll(async () => {
  for (const alg of ALGS) {
    const signer = await makeKey(alg);
    const other = await makeKey(alg);
    keys.set(alg, {
      signer,
      publicKey: await importJWK(signer.publicJwk, alg) as CryptoKey,
      other: await importJWK(other.publicJwk, alg) as CryptoKey,
    });
  }
});

const sign = (alg: TestAlg, payload: string, header: Record<string, unknown> = {}) =>
  new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg, ...header }).sign(keys.get(alg)!.signer.privateKey);

/** What jose's compactVerify says of the token, with the one alg allowed. */
async function jose(token: string, key: CryptoKey, alg: Algorithm): Promise<boolean> {
  try {
    await compactVerify(token, key, { algorithms: [alg] });
    return true;
  } catch {
    return false;
  }
}

describe('verifySignature', () => {
  it('verifies a signature of every algorithm the edge accepts, by its key only', async () => {
    for (const alg of ALGS) {
      const token = await sign(alg, '{"sub":"u"}');
      const { publicKey, other } = keys.get(alg)!;
      expect(await verifySignature(token, publicKey, alg), alg).toBe('verified');
      expect(await verifySignature(token, other, alg), alg).toBe('bad_signature');
    }
    expect(ALGS.every((alg) => (ALGORITHMS as readonly string[]).includes(alg))).toBe(true);
  });

  it('the signature covers the header and payload segments as sent: any change is bad_signature', async () => {
    const token = await sign('ES256', '{"sub":"u","scope":"read"}');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const { publicKey } = keys.get('ES256')!;
    const otherPayload = b64('{"sub":"u","scope":"admin"}');
    const otherHeader = b64('{"alg":"ES256","kid":"x"}');
    expect(await verifySignature(`${header}.${otherPayload}.${signature}`, publicKey, 'ES256')).toBe('bad_signature');
    expect(await verifySignature(`${otherHeader}.${payload}.${signature}`, publicKey, 'ES256')).toBe('bad_signature');
    // The decoded payload is what was signed: the same bytes, decoded once by the caller.
    expect(decodeSegment(payload)).toEqual({ sub: 'u', scope: 'read' });
  });

  it('an empty or short signature is bad_signature; one that is no base64url at all is undecodable', async () => {
    const token = await sign('ES256', '{"sub":"u"}');
    const input = token.slice(0, token.lastIndexOf('.'));
    const { publicKey } = keys.get('ES256')!;
    expect(await verifySignature(`${input}.`, publicKey, 'ES256')).toBe('bad_signature');
    expect(await verifySignature(`${input}.AAAA`, publicKey, 'ES256')).toBe('bad_signature');
    // Four characters hold three bytes; one left over holds none (jose: JWSInvalid, malformed).
    expect(await verifySignature(`${input}.A`, publicKey, 'ES256')).toBe('undecodable');
    const signature = token.split('.')[2]!;
    expect(signature.length % 4).toBe(2);
    expect(await verifySignature(`${input}.${signature}AAA`, publicKey, 'ES256')).toBe('undecodable');
  });

  it('a key that does not fit the alg is a bug: it throws, it never verifies', async () => {
    const es256 = await sign('ES256', '{"sub":"u"}');
    const { publicKey: es256Key } = keys.get('ES256')!;
    const { publicKey: rsKey } = keys.get('RS256')!;
    const { publicKey: psKey } = keys.get('PS256')!;
    const { publicKey: es384Key } = keys.get('ES384')!;
    await expect(verifySignature(es256, rsKey, 'ES256')).rejects.toThrow(TypeError);
    await expect(verifySignature(es256, es384Key, 'ES256')).rejects.toThrow(TypeError);
    await expect(verifySignature(es256, es256Key, 'ES384')).rejects.toThrow(TypeError);
    await expect(verifySignature(await sign('RS256', '{}'), psKey, 'RS256')).rejects.toThrow(TypeError);
    await expect(verifySignature(await sign('RS256', '{}'), keys.get('RS384')!.publicKey, 'RS256')).rejects.toThrow(TypeError);
    // RFC 7518 §3.3: RSA keys of at least 2048 bits, as jose asked.
    // jose will not make a 1024-bit key: WebCrypto makes it, forge() signs with it.
    const pair = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
    const token = await forge('{"alg":"RS256"}', '{"sub":"u"}', { kid: 'short', alg: 'RS256', privateKey: pair.privateKey, publicJwk: {} });
    await expect(verifySignature(token, pair.publicKey, 'RS256')).rejects.toThrow(TypeError);
    // A key imported for no use at all.
    const { kty, crv, x, y } = keys.get('ES256')!.signer.publicJwk;
    const signOnly = await crypto.subtle.importKey('jwk', { kty, crv, x, y } as JsonWebKey, { name: 'ECDSA', namedCurve: 'P-256' }, false, []);
    await expect(verifySignature(es256, signOnly, 'ES256')).rejects.toThrow(TypeError);
  });

  it('checks a key once per alg: a key that verified for its alg still throws for any other, every time', async () => {
    const { publicKey: es256Key } = keys.get('ES256')!;
    const { publicKey: rsKey } = keys.get('RS256')!;
    const es256 = await sign('ES256', '{"sub":"u"}');
    const rs256 = await sign('RS256', '{"sub":"u"}');
    for (let round = 0; round < 3; round++) {
      expect(await verifySignature(es256, es256Key, 'ES256')).toBe('verified');
      expect(await verifySignature(rs256, rsKey, 'RS256')).toBe('verified');
      await expect(verifySignature(es256, es256Key, 'ES384')).rejects.toThrow(TypeError);
      await expect(verifySignature(rs256, rsKey, 'PS256')).rejects.toThrow(TypeError);
      await expect(verifySignature(rs256, rsKey, 'RS512')).rejects.toThrow(TypeError);
      await expect(verifySignature(es256, rsKey, 'ES256')).rejects.toThrow(TypeError);
    }
  });

  it('property: accepts exactly what jose compactVerify accepts, on mutated tokens of every alg', async () => {
    const tokens = new Map<TestAlg, string>();
    for (const alg of ALGS) tokens.set(alg, await sign(alg, '{"iss":"https://issuer.test/","sub":"u","exp":2000000000}'));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...ALGS), fc.nat(), fc.nat(63), fc.boolean(), fc.boolean(),
      async (alg, at, char, mutate, otherKey) => {
        const token = tokens.get(alg)!;
        const i = at % token.length;
        // A character replaced by another base64url one (never a dot: three segments stay three).
        const mutated = !mutate || token[i] === '.' ? token : `${token.slice(0, i)}${alphabet[char]}${token.slice(i + 1)}`;
        const { publicKey, other } = keys.get(alg)!;
        const key = otherKey ? other : publicKey;
        const ours = await verifySignature(mutated, key, alg);
        const theirs = await jose(mutated, key, alg);
        // The payload or header may stop decoding after a mutation: the callers refuse those
        // before the signature (malformed), so only the signature's own verdict is compared.
        expect(ours === 'verified').toBe(theirs);
      }), { numRuns: 300 });
  });

  it('property: a signature over other bytes never verifies', async () => {
    const signer = keys.get('ES256')!;
    await fc.assert(fc.asyncProperty(fc.string(), fc.string(), async (a, b) => {
      fc.pre(a !== b);
      const input = `${b64('{"alg":"ES256"}')}.${b64(a)}`;
      const signature = b64(await signBytes(`${b64('{"alg":"ES256"}')}.${b64(b)}`, signer.signer));
      expect(await verifySignature(`${input}.${signature}`, signer.publicKey, 'ES256')).toBe('bad_signature');
    }), { numRuns: 50 });
  });
});
