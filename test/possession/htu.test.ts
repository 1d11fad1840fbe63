// normalizeHtu (RFC 3986 §6.2.2-6.2.3 as RFC 9449 §4.3 asks): fixed cases, then properties over
// random URLs: every equivalent spelling normalizes to the same string, and different paths never do.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { htuMatches, keptHtuPairs, normalizeHtu } from '../../src/possession/htu';

describe('normalizeHtu', () => {
  it.each([
    ['HTTPS://API.Acme.COM:443/a/b?q=1#f', 'https://api.acme.com/a/b'],
    ['http://api.acme.com:80', 'http://api.acme.com/'],
    ['https://api.acme.com:/x', 'https://api.acme.com/x'],
    ['https://api.acme.com:8443/x', 'https://api.acme.com:8443/x'],
    ['https://api.acme.com/%7euser/%41%2f%2F%3b', 'https://api.acme.com/~user/A%2F%2F%3B'],
    ['https://api.acme.com/a/./b/../c', 'https://api.acme.com/a/c'],
    ['https://api.acme.com/a/%2E%2E/c', 'https://api.acme.com/c'],
    ['https://bücher.example/ä', 'https://xn--bcher-kva.example/%C3%A4'],
    ['https://[::FFFF:7f00:1]/', 'https://[::ffff:7f00:1]/'],
  ])('%s -> %s', (uri, normalized) => {
    expect(normalizeHtu(uri)).toBe(normalized);
  });

  it.each(['/relative', 'api.acme.com/x', 'ftp://api.acme.com/x', 'https://user:pw@api.acme.com/', 'https://', 'not a url'])('refuses %s', (uri) => {
    expect(normalizeHtu(uri)).toBeNull();
  });

  it('never matches a URI it cannot normalize, even against itself', () => {
    expect(htuMatches('/x', '/x')).toBe(false);
  });
});

// Path characters: unreserved, sub-delims, ":" and "@" (RFC 3986 pchar), never "%" itself.
const UNRESERVED = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
const PCHAR = `${UNRESERVED}!$&'()*+,;=:@`;
const segment = fc.string({ unit: fc.constantFrom(...PCHAR), minLength: 1, maxLength: 8 }).filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { minLength: 0, maxLength: 5 }).map((segments) => `/${segments.join('/')}`);
const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 1, maxLength: 10 });
const tld = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 2, maxLength: 6 });
// The last label is alphabetic: a numeric one makes the WHATWG parser read the host as IPv4.
const host = fc.tuple(fc.array(label, { minLength: 1, maxLength: 3 }), tld).map(([labels, top]) => [...labels, top].join('.'));
const scheme = fc.constantFrom('https', 'http');

/** One random spelling of the same URI: case of scheme and host, the default port, encoded
 *  unreserved characters (either hex case), a query and a fragment. */
const spelling = (s: string, h: string, p: string) => fc.record({
  schemeCase: fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
  hostCase: fc.array(fc.boolean(), { minLength: h.length, maxLength: h.length }),
  port: fc.boolean(),
  encode: fc.array(fc.constantFrom('keep', 'upper', 'lower'), { minLength: p.length, maxLength: p.length }),
  query: fc.option(fc.string({ unit: fc.constantFrom(...PCHAR, '/', '?'), maxLength: 10 }), { nil: undefined }),
  fragment: fc.option(fc.string({ unit: fc.constantFrom(...PCHAR, '/', '?', '#'), maxLength: 10 }), { nil: undefined }),
}).map((how) => {
  const cased = (text: string, flips: boolean[]) => [...text].map((c, i) => (flips[i] ? c.toUpperCase() : c)).join('');
  const encoded = [...p].map((c, i) => {
    const mode = how.encode[i];
    if (!UNRESERVED.includes(c) || mode === 'keep') return c;
    const hex = c.charCodeAt(0).toString(16);
    return `%${mode === 'upper' ? hex.toUpperCase() : hex.toLowerCase()}`;
  }).join('');
  const port = how.port ? (s === 'https' ? ':443' : ':80') : '';
  return `${cased(s, how.schemeCase)}://${cased(h, how.hostCase)}${port}${encoded}`
    + (how.query === undefined ? '' : `?${how.query}`) + (how.fragment === undefined ? '' : `#${how.fragment}`);
});

describe('normalizeHtu, properties', () => {
  it('normalizes every equivalent spelling of a URI to the same string', () => {
    fc.assert(fc.property(
      fc.tuple(scheme, host, path).chain(([s, h, p]) => fc.tuple(fc.constant(`${s}://${h}${p}`), spelling(s, h, p), spelling(s, h, p))),
      ([plain, a, b]) => {
        const normalized = normalizeHtu(plain);
        expect(normalized).not.toBeNull();
        expect(normalizeHtu(a)).toBe(normalized);
        expect(normalizeHtu(b)).toBe(normalized);
        expect(htuMatches(a, b)).toBe(true);
      }), { numRuns: 1000 });
  });

  it('never normalizes two different paths to the same string', () => {
    fc.assert(fc.property(scheme, host, path, path, (s, h, p1, p2) => {
      fc.pre(p1 !== p2);
      expect(normalizeHtu(`${s}://${h}${p1}`)).not.toBe(normalizeHtu(`${s}://${h}${p2}`));
      expect(htuMatches(`${s}://${h}${p1}`, `${s}://${h}${p2}`)).toBe(false);
    }), { numRuns: 1000 });
  });

  it('never matches across hosts, schemes or ports', () => {
    fc.assert(fc.property(scheme, host, host, path, fc.integer({ min: 1, max: 65535 }), (s, h1, h2, p, port) => {
      fc.pre(h1 !== h2);
      expect(htuMatches(`${s}://${h1}${p}`, `${s}://${h2}${p}`)).toBe(false);
      expect(htuMatches(`https://${h1}${p}`, `http://${h1}${p}`)).toBe(false);
      const defaultPort = s === 'https' ? 443 : 80;
      if (port !== defaultPort) expect(htuMatches(`${s}://${h1}:${port}${p}`, `${s}://${h1}${p}`)).toBe(false);
    }), { numRuns: 500 });
  });
});

describe('htuMatches, its memo of matched pairs', () => {
  const direct = (a: string, b: string) => { const n = normalizeHtu(a); return n !== null && n === normalizeHtu(b); };
  const uri = fc.oneof(
    fc.tuple(scheme, host, path).chain(([s, h, p]) => spelling(s, h, p)),
    fc.string({ maxLength: 40 }),
    fc.tuple(scheme, host, fc.string({ minLength: 1020, maxLength: 1100 })).map(([s, h, p]) => `${s}://${h}/${p}`),
  );

  it('answers as normalizing both sides every time, the first time and from the memo, past its bound', () => {
    fc.assert(fc.property(fc.array(fc.tuple(uri, uri), { minLength: 1, maxLength: 700 }), (pairs) => {
      for (let round = 0; round < 2; round++) {
        for (const [a, b] of pairs) {
          expect(htuMatches(a, b)).toBe(direct(a, b));
          expect(htuMatches(a, a)).toBe(normalizeHtu(a) !== null);
        }
      }
    }), { numRuns: 30 });
  });

  it('keeps only pairs that matched, at most 512, none over 2,048 characters: a refused htu leaves nothing', () => {
    const before = keptHtuPairs();
    for (let i = 0; i < 1000; i++) expect(htuMatches(`https://api.example.com/other/${i}`, 'https://api.example.com/orders')).toBe(false);
    // Two URIs that normalize alike but are long: matched, never kept.
    const long = `/${'a'.repeat(1100)}`;
    expect(htuMatches(`https://api.example.com${long}`, `HTTPS://API.example.com:443${long}?q`)).toBe(true);
    expect(keptHtuPairs()).toBe(before);
    for (let i = 0; i < 1500; i++) {
      expect(htuMatches(`https://api.example.com/orders/${i}`, `https://api.example.com/orders/${i}?page=2`)).toBe(true);
      expect(keptHtuPairs()).toBeLessThanOrEqual(512);
    }
    // The htu's length leads the pair: another split of the same characters is another pair.
    expect(htuMatches('https://a.example/x', 'https://a.example/x')).toBe(true);
    expect(htuMatches('https://a.example/', 'xhttps://a.example/x')).toBe(false);
  });
});
