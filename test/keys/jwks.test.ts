import { describe, expect, it } from 'vitest';
import { jwksLifetimeSeconds, parseJwks, type PublicJwk } from '../../src/keys/jwks';
import { selectKeys } from '../../src/keys/selection';
import { makeKey } from '../support/issuer';
import { weakRsaJwk } from './isolates';

const kidsOf = (body: unknown) => {
  const parsed = parseJwks(body);
  if (!parsed.ok) throw new Error(parsed.note);
  return parsed.keys.map((k) => k.kid);
};

describe('parseJwks', () => {
  it('keeps public signing keys of every supported type, reduced to their public members', async () => {
    const keys = await Promise.all([makeKey('RS256', 'r'), makeKey('ES256', 'e'), makeKey('EdDSA', 'o'), makeKey('ES384', 'e3')]);
    const parsed = parseJwks({ keys: keys.map((k) => ({ ...k.publicJwk, x5c: ['MII...'], ext: true })) });
    expect(parsed.ok && parsed.keys.map((k) => [k.kid, k.kty])).toEqual([['r', 'RSA'], ['e', 'EC'], ['o', 'OKP'], ['e3', 'EC']]);
    expect(parsed.ok && Object.keys(parsed.keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n']);
  });

  it('ignores enc keys, private keys, weak RSA, unknown kty and key_ops without verify', async () => {
    const good = await makeKey('RS256', 'good');
    const weak = await weakRsaJwk('weak');
    const ec = await makeKey('ES256', 'ec');
    expect(kidsOf({
      keys: [
        { ...good.publicJwk, kid: 'enc', use: 'enc' },
        { ...good.publicJwk, kid: 'private', d: 'AQAB' },
        weak,
        { kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' },
        { kty: 'OKP', kid: 'x25519', crv: 'X25519', x: ec.publicJwk.x },
        { ...ec.publicJwk, kid: 'ops', key_ops: ['encrypt'] },
        { ...ec.publicJwk, kid: 'ops-verify', key_ops: ['verify'] },
        { ...good.publicJwk, kid: 7 },
        'not a key',
        good.publicJwk,
      ],
    })).toEqual(['ops-verify', 'good']);
  });

  it('keeps at most 100 keys', async () => {
    const key = await makeKey('ES256');
    const keys = Array.from({ length: 150 }, (_, i) => ({ ...key.publicJwk, kid: `k${i}` }));
    expect(kidsOf({ keys })).toHaveLength(100);
  });

  it('refuses a document without a keys array', () => {
    expect(parseJwks({ kid: 'x' }).ok).toBe(false);
    expect(parseJwks(null).ok).toBe(false);
    expect(parseJwks({ keys: [] })).toEqual({ ok: true, keys: [] });
  });
});

describe('jwksLifetimeSeconds', () => {
  it('follows max-age within [60 s, 24 h], 600 s when absent', () => {
    expect(jwksLifetimeSeconds(null)).toBe(600);
    expect(jwksLifetimeSeconds('no-cache')).toBe(600);
    expect(jwksLifetimeSeconds('public, max-age=3600')).toBe(3600);
    expect(jwksLifetimeSeconds('max-age=5')).toBe(60);
    expect(jwksLifetimeSeconds('max-age=0, must-revalidate')).toBe(60);
    expect(jwksLifetimeSeconds('max-age=604800')).toBe(86_400);
    expect(jwksLifetimeSeconds('s-maxage=100')).toBe(600);
  });
});

describe('selectKeys', () => {
  const rsa = (kid: string | undefined, alg?: string): PublicJwk => ({ kty: 'RSA', n: 'AQAB', e: 'AQAB', ...(kid ? { kid } : {}), ...(alg ? { alg } : {}) });
  const ec = (kid: string, crv: string): PublicJwk => ({ kty: 'EC', kid, crv, x: 'AA', y: 'AA' });
  const okp = (kid: string): PublicJwk => ({ kty: 'OKP', kid, crv: 'Ed25519', x: 'AA' });
  const keys = [ec('e256', 'P-256'), rsa('r1'), rsa('r2', 'RS384'), rsa('r3', 'PS256'), rsa('r4'), rsa(undefined), ec('e384', 'P-384'), ec('e521', 'P-521'), okp('ed'), rsa('r1', 'RS256')];
  const pick = (alg: Parameters<typeof selectKeys>[1]['alg'], kid: string | undefined) =>
    selectKeys(keys, { alg, kid }).map((s) => s.index);

  it('matches the kid among keys that fit the alg', () => {
    expect(pick('RS256', 'r1')).toEqual([1, 9]);
    expect(pick('RS256', 'r2')).toEqual([]); // its alg is RS384
    expect(pick('RS384', 'r2')).toEqual([2]);
    expect(pick('PS256', 'r3')).toEqual([3]);
    expect(pick('ES256', 'e256')).toEqual([0]);
    expect(pick('ES384', 'e256')).toEqual([]);
    expect(pick('ES384', 'e384')).toEqual([6]);
    expect(pick('ES512', 'e521')).toEqual([7]);
    expect(pick('EdDSA', 'ed')).toEqual([8]);
    expect(pick('RS256', 'ed')).toEqual([]);
    expect(pick('RS256', 'nope')).toEqual([]);
  });

  it('gives a token without kid at most 3 fitting keys', () => {
    expect(pick('RS256', undefined)).toEqual([1, 4, 5]);
    expect(pick('ES256', undefined)).toEqual([0]);
  });
});
