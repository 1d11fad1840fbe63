// Claim names: top-level names and RFC 6901 JSON Pointers, with their escapes, arrays and the
// own-member rule; a property test against a reference walk written separately here.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileClaimName, isClaimName } from '../../src/config/claim-names';

const payload = {
  sub: 'u1',
  'https://acme.com/roles': ['admin'],
  realm_access: { roles: ['reader', 'writer'] },
  resource_access: { 'acme-api': { roles: ['orders'] } },
  'a/b': { 'm~n': 7 },
  list: [{ x: 1 }, { x: 2 }],
  '': { '': 'empty keys' },
};
const read = (name: string) => compileClaimName(name).read(payload);

describe('claim names', () => {
  it('a name without a leading "/" is a top-level claim, dots and slashes included', () => {
    expect(read('sub')).toBe('u1');
    expect(read('https://acme.com/roles')).toEqual(['admin']);
    expect(read('realm_access.roles')).toBeUndefined();
  });

  it('a leading "/" makes a JSON Pointer', () => {
    expect(read('/realm_access/roles')).toEqual(['reader', 'writer']);
    expect(read('/resource_access/acme-api/roles')).toEqual(['orders']);
    expect(read('/sub')).toBe('u1');
    expect(read('/missing/roles')).toBeUndefined();
    expect(read('/sub/length')).toBeUndefined();
  });

  it('~1 is "/" and ~0 is "~", decoded in that order', () => {
    expect(read('/a~1b/m~0n')).toBe(7);
    expect(read('/https:~1~1acme.com~1roles')).toEqual(['admin']);
    expect(compileClaimName('/~01').read({ '~1': 'tilde-one', '/': 'slash' })).toBe('tilde-one');
  });

  it('array indices: digits without a leading zero, inside the array', () => {
    expect(read('/list/1/x')).toBe(2);
    expect(read('/list/01/x')).toBeUndefined();
    expect(read('/list/-')).toBeUndefined();
    expect(read('/list/2')).toBeUndefined();
    expect(read('/list/length')).toBeUndefined();
  });

  it('empty reference tokens name empty keys', () => {
    expect(read('//')).toBe('empty keys');
  });

  it('only own members: prototype names are absent', () => {
    for (const name of ['/__proto__', '/constructor', 'toString', '/sub/constructor', '/list/constructor']) expect(read(name)).toBeUndefined();
  });

  it('isClaimName: non-empty, and a pointer only with valid escapes', () => {
    for (const name of ['sub', '/a', '/a~0~1', '//', 'https://x/y', 'a~2']) expect(isClaimName(name), name).toBe(true);
    for (const name of ['', '/a~', '/a~2', '/~x']) expect(isClaimName(name), name).toBe(false);
  });

  it('property: a pointer built from any keys reads what a plain walk finds', () => {
    const key = fc.string({ maxLength: 6 });
    fc.assert(fc.property(fc.array(key, { minLength: 1, maxLength: 4 }), fc.jsonValue(), (keys, leaf) => {
      let document: unknown = leaf;
      for (const k of [...keys].reverse()) document = { [k]: document };
      const pointer = keys.map((k) => `/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
      expect(isClaimName(pointer)).toBe(true);
      expect(compileClaimName(pointer).read(document as Record<string, unknown>)).toEqual(leaf);
    }), { numRuns: 500 });
  });
});
