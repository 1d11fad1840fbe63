// The reason codes in code and in the project's own reference (docs/errors.md) are the same
// closed set (only files of this repository are read), and the one mapping from jose's errors
// covers exactly what compactVerify throws.
/// <reference types="vite/client" />
import { CompactSign, compactVerify, generateKeyPair, importJWK, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import errors from '../../docs/errors.md?raw';
import { DPOP_REASONS, REASONS } from '../../src/base/denial';
import { reasonOfJoseError } from '../../src/verify/reasons';
import { forge } from '../security/forge';
import { makeKey } from '../support/issuer';

/** The first column of the table under a heading, backticks removed. */
function tableCodes(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
}

describe('reason codes', () => {
  it('REASONS lists exactly the reason codes of docs/errors.md', () => {
    expect(tableCodes(errors, 'Reason codes').sort()).toEqual([...REASONS].sort());
  });
  it('DPOP_REASONS lists exactly the DPoP proof reasons of docs/errors.md', () => {
    expect(tableCodes(errors, 'DPoP proof reasons').sort()).toEqual([...DPOP_REASONS].sort());
  });
});

describe('reasonOfJoseError, on what compactVerify really throws', () => {
  let key: { publicKey: CryptoKey; privateKey: CryptoKey };
  let other: { publicKey: CryptoKey; privateKey: CryptoKey };
  const payload = new TextEncoder().encode('{"sub":"u"}');
  beforeAll(async () => {
    key = await generateKeyPair('ES256');
    other = await generateKeyPair('ES256');
  });
  const thrown = async (token: string, verifyKey: CryptoKey, algorithms = ['ES256']) => {
    try {
      await compactVerify(token, verifyKey, { algorithms });
    } catch (error) {
      return reasonOfJoseError(error).reason;
    }
    return 'verified';
  };
  const sign = (header: Record<string, unknown>) => new CompactSign(payload).setProtectedHeader({ alg: 'ES256', ...header }).sign(key.privateKey);

  it('a signature by another key is bad_signature', async () => {
    expect(await thrown(await sign({}), other.publicKey)).toBe('bad_signature');
    expect(await thrown(await sign({}), key.publicKey)).toBe('verified');
  });
  it('an alg outside the allowed list is alg_not_allowed', async () => {
    expect(await thrown(await sign({}), key.publicKey, ['RS256'])).toBe('alg_not_allowed');
  });
  it('a broken JWS and an unknown crit extension are malformed (verifyToken refuses every crit before jose runs)', async () => {
    expect(await thrown('a.b', key.publicKey)).toBe('malformed');
    // jose's own signer refuses an unknown crit: the token is forged byte by byte.
    const forged = await makeKey('ES256');
    const publicKey = await importJWK(forged.publicJwk, 'ES256') as CryptoKey;
    const header = (extra: Record<string, unknown>) => JSON.stringify({ alg: 'ES256', ...extra });
    expect(await thrown(await forge(header({}), '{"sub":"u"}', forged), publicKey)).toBe('verified');
    expect(await thrown(await forge(header({ crit: ['x-unknown'], 'x-unknown': 1 }), '{"sub":"u"}', forged), publicKey)).toBe('malformed');
  });
  it('anything that is not a jose error is thrown again (a bug, not a reason)', () => {
    expect(() => reasonOfJoseError(new TypeError('bad key'))).toThrow(TypeError);
  });
});
