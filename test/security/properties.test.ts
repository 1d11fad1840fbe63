// Property tests (fast-check) of the parsers hostile input reaches first: host names, the
// Authorization header, route matching, scope claims and the token decoder. Each property states
// what must hold for every input, and that a decision never admits what the plain rule refuses.
import fc from 'fast-check';
import { base64url, importJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { REASONS, invalidToken, ok } from '../../src/base/denial';
import type { KeySource } from '../../src/keys/key-source';
import { compileRoutes, pathRefusal, type RouteMatch } from '../../src/policy/routes';
import { missingScopes } from '../../src/policy/scopes';
import { hostLookupOrder, normalizeHostPattern, normalizeRequestHost } from '../../src/config/hosts';
import { ALGORITHMS } from '../../src/config/algorithms';
import { parseTenantConfig, type RouteConfig } from '../../src/config/schema';
import { compileTenant, type Tenant } from '../../src/tenants/tenant';
import { readClaims } from '../../src/verify/claims';
import { extractCredentials } from '../../src/verify/extract';
import { MAX_JSON_DEPTH, decodeSegment } from '../../src/verify/compact';
import { verifyToken } from '../../src/verify/token';
import { makeKey } from '../support/issuer';

const RUNS = { numRuns: 400 };

describe('host normalization and matching', () => {
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
  /** A DNS name of at least two labels, not ending in a number. */
  const domain = fc.tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z]{2,6}$/))
    .map(([labels, tld]) => [...labels, tld].join('.'));

  it('normalizeHostPattern never throws, and what it accepts is canonical and stable', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), domain.map((d) => `*.${d}`), fc.domain()), (input) => {
      const result = normalizeHostPattern(input);
      if (!result.ok) return;
      const { host } = result;
      expect(host).toBe(host.toLowerCase());
      expect(host.endsWith('.')).toBe(false);
      expect(host).toMatch(/^(\*\.)?[a-z0-9.-]+$/);
      if (host.startsWith('*.')) expect(host.slice(2).split('.').length).toBeGreaterThanOrEqual(2);
      expect(host.slice(1)).not.toContain('*');
      expect(normalizeHostPattern(host)).toEqual({ ok: true, host });
    }), RUNS);
  });

  it('normalizeHostPattern refuses a wildcard over fewer than two labels, and "*" anywhere else', () => {
    fc.assert(fc.property(label, fc.stringMatching(/^[a-z]{2,6}$/), (l, tld) => {
      expect(normalizeHostPattern(`*.${tld}`).ok).toBe(false);
      expect(normalizeHostPattern(`*.${l}.${tld}`).ok).toBe(true);
      expect(normalizeHostPattern(`a.*.${l}.${tld}`).ok).toBe(false);
      expect(normalizeHostPattern(`*${l}.${tld}.com`).ok).toBe(false);
      expect(normalizeHostPattern(`*.*.${l}.${tld}`).ok).toBe(false);
    }), RUNS);
  });

  it('hostLookupOrder never throws and always puts the exact host first', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), domain, fc.domain()), (host) => {
      const order = hostLookupOrder(host);
      expect(order[0]).toBe(host);
      expect(order.length).toBeLessThanOrEqual(2);
      if (order.length === 2) {
        const rest = host.slice(host.indexOf('.') + 1);
        expect(order[1]).toBe(`*.${rest}`);
        expect(rest.includes('.')).toBe(true);
      }
    }), RUNS);
  });

  it('a wildcard covers exactly one extra label', () => {
    fc.assert(fc.property(domain, fc.array(label, { minLength: 0, maxLength: 3 }), (d, labels) => {
      const host = [...labels, d].join('.');
      const pattern = normalizeHostPattern(`*.${d}`);
      expect(pattern.ok).toBe(true);
      if (!pattern.ok) return;
      expect(hostLookupOrder(host).includes(pattern.host)).toBe(labels.length === 1);
    }), RUNS);
  });

  it('a request host is lowercase, without port or trailing dot, whatever the client sent', () => {
    fc.assert(fc.property(fc.domain(), fc.boolean(), fc.option(fc.integer({ min: 1, max: 65_535 })), (d, dot, port) => {
      const mixed = [...d].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');
      const url = new URL(`https://${mixed}${dot ? '.' : ''}${port === null ? '' : `:${port}`}/x`);
      const host = normalizeRequestHost(url);
      expect(host).toBe(d.toLowerCase());
      expect(hostLookupOrder(host)[0]).toBe(host);
    }), RUNS);
  });

  it('normalizeRequestHost never throws for any URL the parser accepts', () => {
    fc.assert(fc.property(fc.webUrl(), (raw) => {
      const host = normalizeRequestHost(new URL(raw));
      expect(host.endsWith('.')).toBe(false);
    }), RUNS);
  });
});

describe('Authorization header parsing', () => {
  const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
  const b64token = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,40}=*$/);
  const url = new URL('https://api.test/x');

  /** The request, or null when the Fetch API refuses the header value outright. */
  function requestWith(value: string): Request | null {
    try {
      return new Request(url, { headers: { authorization: value } });
    } catch {
      return null;
    }
  }

  it('never throws, and admits only "Bearer" or "DPoP" (any case) and one RFC 6750 b64token', () => {
    const header = fc.oneof(
      fc.string(), fc.string({ unit: 'binary-ascii' }),
      fc.tuple(fc.mixedCase(fc.constant('bearer')), fc.stringMatching(/^[ \t]{0,3}$/), fc.string()).map(([s, w, t]) => `${s}${w}${t}`),
      fc.tuple(fc.mixedCase(fc.constantFrom('bearer', 'basic', 'dpop')), b64token).map(([s, t]) => `${s} ${t}`),
    );
    fc.assert(fc.property(header, (value) => {
      const request = requestWith(value);
      if (request === null) return;
      const sent = request.headers.get('authorization')!;
      const result = extractCredentials(request.headers.get('authorization'), url.search);
      if (!result.ok) {
        expect(['invalid_request', 'invalid_token']).toContain(result.denial.error);
        return;
      }
      expect(result.value).not.toBeNull();
      const { scheme, token } = result.value!;
      expect(sent.slice(0, scheme.length).toLowerCase()).toBe(scheme);
      expect(sent).toMatch(/^(bearer|dpop) +/i);
      expect(token).toMatch(B64TOKEN);
      expect(sent.trimEnd().endsWith(token)).toBe(true);
    }), RUNS);
  });

  it('admits every well-formed Bearer credential', () => {
    fc.assert(fc.property(fc.mixedCase(fc.constant('bearer')), fc.integer({ min: 1, max: 3 }), b64token, (scheme, spaces, token) => {
      const result = extractCredentials(requestWith(`${scheme}${' '.repeat(spaces)}${token}`)!.headers.get('authorization'), url.search);
      expect(result).toEqual(ok({ scheme: 'bearer', token }));
    }), RUNS);
  });

  it('refuses anything with a comma, and two tokens', () => {
    fc.assert(fc.property(b64token, b64token, fc.constantFrom(', ', ',', ' ', ' Bearer ', ', Bearer '), (a, b, glue) => {
      const result = extractCredentials(requestWith(`Bearer ${a}${glue}${b}`)!.headers.get('authorization'), url.search);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.denial.error).toBe('invalid_request');
    }), RUNS);
  });

  it('refuses a header token together with an access_token query parameter', () => {
    fc.assert(fc.property(b64token, fc.string(), (token, query) => {
      const withQuery = new URL(`https://api.test/x?access_token=${encodeURIComponent(query)}`);
      const result = extractCredentials(requestWith(`Bearer ${token}`)!.headers.get('authorization'), withQuery.search);
      expect(result.ok).toBe(false);
    }), RUNS);
  });
});

describe('route matching fails toward more protection', () => {
  const segment = fc.stringMatching(/^[a-z0-9_~:@!$&'()+,=-][a-z0-9._~:@!$&'()+,=-]{0,6}$/).filter((s) => s !== '.' && s !== '..');
  const plainPath = fc.array(segment, { minLength: 0, maxLength: 4 }).map((s) => `/${s.join('/')}`);
  const scopes = fc.uniqueArray(fc.constantFrom('admin', 'read', 'write', 'billing'), { maxLength: 3 });
  const methods = fc.option(fc.uniqueArray(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), { minLength: 1, maxLength: 3 }), { nil: undefined });
  const route: fc.Arbitrary<RouteConfig> = fc.record({
    path: fc.tuple(plainPath, fc.boolean()).map(([p, prefix]) => (prefix ? `${p === '/' ? '' : p}/*` : p)),
    auth: fc.constantFrom('none', 'required', 'required'),
    methods,
    scopes,
  }).map((r) => ({ ...r, scopes: r.auth === 'none' ? [] : r.scopes }) as RouteConfig);
  const table = fc.array(route, { minLength: 1, maxLength: 6 });
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH');

  /** What an origin may take for the same path: case flips, %-encoded characters, reserved ones
   *  included (either hex case), and doubled slashes. */
  const variantOf = (path: string) => fc.array(fc.nat(5), { minLength: path.length, maxLength: path.length }).map((choices) =>
    [...path].map((c, i) => {
      const choice = choices[i]!;
      if (c === '/') return choice === 0 ? '//' : '/';
      if (choice === 1) return c.toUpperCase();
      const hex = c.charCodeAt(0).toString(16);
      if (choice === 2) return `%${hex}`;
      if (choice === 3) return `%${hex.toUpperCase()}`;
      return c;
    }).join(''));

  const pathAndVariant = plainPath.chain((p) => fc.tuple(fc.constant(p), variantOf(p)));

  const protects = (plain: RouteMatch, variant: RouteMatch) => {
    // A token route's protection is never lost: the variant needs a token and at least its
    // scopes (more when one of its readings reaches another route too).
    if (plain.auth === 'required') {
      expect(variant.auth).toBe('required');
      expect(missingScopes(plain, new Set(variant.scopes))).toEqual([]);
    }
  };

  it('never throws, whatever the path and method', () => {
    fc.assert(fc.property(table, fc.string(), fc.string(), (routes, m, p) => {
      const matched = compileRoutes(routes).match(m, p);
      expect(['none', 'required']).toContain(matched.auth);
    }), RUNS);
  });

  it('a case, %-encoded or slash variant of a path is never less protected than the path', () => {
    fc.assert(fc.property(table, pathAndVariant, method, fc.boolean(), (routes, [plain, variant], m, lowerMethod) => {
      const compiled = compileRoutes(routes);
      const matchedPlain = compiled.match(m, plain);
      const matchedVariant = compiled.match(lowerMethod ? m.toLowerCase() : m, variant);
      protects(matchedPlain, matchedVariant);
      // A public variant is one whose plain path is public too.
      if (matchedVariant.auth === 'none') expect(matchedPlain.auth).toBe('none');
    }), { numRuns: 1_000 });
  });

  it('the /admin/* rule keeps its scopes for every variant below it', () => {
    const routes: RouteConfig[] = [
      { path: '/health', auth: 'none', scopes: [] },
      { path: '/admin/*', auth: 'required', scopes: ['admin'] },
      { path: '/*', auth: 'required', scopes: [] },
    ] as RouteConfig[];
    const compiled = compileRoutes(routes);
    const below = fc.array(segment, { maxLength: 3 }).map((s) => ['/admin', ...s].join('/'));
    fc.assert(fc.property(below.chain((p) => variantOf(p)), method, (path, m) => {
      expect(compiled.match(m, path).scopes).toEqual(['admin']);
    }), RUNS);
  });

  it('auth:none matches only its exact case', () => {
    fc.assert(fc.property(plainPath.filter((p) => /[a-z]/.test(p)), (p) => fc.assert(fc.property(fc.mixedCase(fc.constant(p)), (variant) => {
      const compiled = compileRoutes([{ path: p, auth: 'none', scopes: [] }] as unknown as RouteConfig[]);
      expect(compiled.match('GET', variant).auth).toBe(variant === p ? 'none' : 'required');
    }), { numRuns: 20 })), { numRuns: 100 });
  });
});

describe('route matching: a decorated path is never less protected than its canonical path', () => {
  // Small pools so that random routes and random paths meet often; the regex adds strangers.
  const tokenSegment = fc.oneof(fc.constantFrom('a', 'b', 'api', 'admin', 'a.b', 'a.json', 'v1.x.y', 'items:purge', '@me'),
    fc.stringMatching(/^[a-z0-9_~:@!$&'()+,=-][a-z0-9._~:@!$&'()+,=-]{0,5}$/));
  const publicSegment = fc.oneof(fc.constantFrom('a', 'b', 'api', 'admin', 'v1'), fc.stringMatching(/^[a-z0-9_~-]{1,5}$/));
  const pathOf = (segment: fc.Arbitrary<string>) => fc.array(segment, { maxLength: 3 }).map((s) => `/${s.join('/')}`);
  const routePath = (segment: fc.Arbitrary<string>) =>
    fc.tuple(pathOf(segment), fc.boolean()).map(([p, prefix]) => (prefix ? `${p === '/' ? '' : p}/*` : p));
  const scopes = fc.uniqueArray(fc.constantFrom('admin', 'read', 'write', 'billing'), { maxLength: 3 });
  const methods = fc.option(fc.uniqueArray(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), { minLength: 1, maxLength: 3 }), { nil: undefined });
  /** Public route paths hold no dot: a public `/a.json` listed before `/a` is public as written, by contract. */
  const route: fc.Arbitrary<RouteConfig> = fc.oneof(
    fc.record({ path: routePath(tokenSegment), auth: fc.constant('required' as const), methods, scopes }),
    fc.record({ path: routePath(publicSegment), auth: fc.constant('none' as const), methods, scopes: fc.constant([]) }),
  ).map((r) => r as RouteConfig);
  const table = fc.array(route, { minLength: 1, maxLength: 6 });
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH');
  const canonical = pathOf(tokenSegment);

  const hex = (c: string, upper: boolean) => {
    const h = c.charCodeAt(0).toString(16).padStart(2, '0');
    return `%${upper ? h.toUpperCase() : h}`;
  };
  /** What an origin may take for the same path: upper case, %-encoded characters, reserved ones
   *  included (either hex case), `;`, `%3B` or `%3b` parameters on any segment, a format suffix on the
   *  last one, doubled slashes, one trailing slash. Drawn once for the longest path (built
   *  outside any chain: building an arbitrary per path is what costs). */
  const MAX_SEGMENTS = 4;
  const MAX_CHARS = 7;
  const edgeChar = fc.integer({ min: 1, max: 0x20 }).chain((code) => {
    const hex = code.toString(16).padStart(2, '0');
    return fc.constantFrom(`%${hex}`, `%${hex.toUpperCase()}`, String.fromCharCode(code));
  });
  const edgeRun = fc.array(edgeChar, { maxLength: 2 }).map((chars) => chars.join(''));
  const decorations = fc.record({
    chars: fc.array(fc.array(fc.nat(5), { minLength: MAX_CHARS, maxLength: MAX_CHARS }), { minLength: MAX_SEGMENTS, maxLength: MAX_SEGMENTS }),
    params: fc.array(fc.option(fc.tuple(fc.constantFrom(';', '%3B', '%3b'), fc.stringMatching(/^[a-zA-Z0-9=.]{0,5}$/)), { freq: 2 }),
      { minLength: MAX_SEGMENTS, maxLength: MAX_SEGMENTS }),
    doubled: fc.array(fc.boolean(), { minLength: MAX_SEGMENTS, maxLength: MAX_SEGMENTS }),
    suffix: fc.option(fc.oneof(fc.constantFrom('.json', '.xml', '.JSON', '.tar.gz'), fc.stringMatching(/^\.[a-z0-9]{1,5}$/)), { freq: 2 }),
    slash: fc.boolean(),
    // Characters up to U+0020 around a segment (Spring trims them, as Java's String.trim()).
    edges: fc.array(fc.option(fc.tuple(edgeRun, edgeRun), { freq: 3 }), { minLength: MAX_SEGMENTS, maxLength: MAX_SEGMENTS }),
  });
  type Decorations = typeof decorations extends fc.Arbitrary<infer D> ? D : never;

  function decorate(p: string, { chars, params, doubled, suffix, slash, edges }: Decorations): string {
    const segments = p === '/' ? [''] : p.slice(1).split('/');
    const written = segments.map((segment, i) => {
      let out = [...segment].map((c, j) => {
        const choice = chars[i]![j % MAX_CHARS]!;
        if (choice === 1) return c.toUpperCase();
        if (choice === 2 || choice === 3) return hex(c, choice === 3);
        return c;
      }).join('');
      // A format suffix needs a name to follow: `/.json` is not the root.
      if (i === segments.length - 1 && suffix !== null && segment !== '') out += suffix;
      if (edges[i] !== null && segment !== '') out = `${edges[i]![0]}${out}${edges[i]![1]}`;
      if (params[i] !== null) out += params[i]!.join('');
      return `${doubled[i] ? '//' : '/'}${out}`;
    });
    return `${written.join('')}${slash ? '/' : ''}`;
  }
  /** A table and a canonical path, the path often one of the table's own bases or just below
   *  one, so that routes and paths meet. */
  const tableAndPath = table.chain((routes) => {
    const bases = routes.map((r) => (r.path.endsWith('/*') ? r.path.slice(0, -2) || '/' : r.path));
    return fc.tuple(fc.constant(routes), fc.oneof(canonical, fc.constantFrom(...bases),
      fc.tuple(fc.constantFrom(...bases), tokenSegment).map(([b, s]) => `${b === '/' ? '' : b}/${s}`)));
  });

  it('every variant needs a token when the path does, at least its scopes, and reaches at least its routes', () => {
    fc.assert(fc.property(tableAndPath, decorations, method, fc.boolean(), ([routes, plain], d, m, lowerMethod) => {
      const variant = decorate(plain, d);
      const compiled = compileRoutes(routes);
      const matchedPlain = compiled.match(m, plain);
      // A refused variant is 400 before any route: nothing to compare.
      if (pathRefusal(variant) !== null) return;
      const matchedVariant = compiled.match(lowerMethod ? m.toLowerCase() : m, variant);
      if (matchedPlain.auth === 'required') {
        expect(matchedVariant.auth).toBe('required');
        expect(missingScopes(matchedPlain, new Set(matchedVariant.scopes))).toEqual([]);
        const reached = new Set(matchedVariant.routes.map((r) => r.index));
        for (const r of matchedPlain.routes) expect(reached.has(r.index)).toBe(true);
      }
      if (matchedVariant.auth === 'none') expect(matchedPlain.auth).toBe('none');
    }), { numRuns: 3_000 });
  });

  it('the examples of the contract are among the variants', () => {
    const seen = fc.sample(decorations, 2_000).map((d) => decorate('/admin', d));
    for (const example of [/;/, /%3B/, /%3b/, /\.json/, /\/$/, /\/\//, /[A-Z]/, /%[0-9a-f]{2}/, /%[0-9A-F]{2}/, /%[01][0-9a-f]|%20/i, /[\x01-\x20]/]) {
      expect(seen.some((v) => example.test(v)), String(example)).toBe(true);
    }
  });

  it('a request naming other methods is held to the routes of each of them, and public only when each is', () => {
    const named = fc.uniqueArray(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'PURGE'), { maxLength: 4 });
    fc.assert(fc.property(tableAndPath, decorations, method, named, ([routes, plain], d, m, others) => {
      const path = decorate(plain, d);
      if (pathRefusal(path) !== null) return;
      const compiled = compileRoutes(routes);
      const overrides = others.filter((o) => o !== m);
      const matched = compiled.match(m, path, overrides);
      const reached = new Set(matched.routes.map((r) => r.index));
      for (const each of [m, ...overrides]) {
        const alone = compiled.match(each, path);
        if (alone.auth === 'none') continue;
        expect(matched.auth).toBe('required');
        expect(missingScopes(alone, new Set(matched.scopes))).toEqual([]);
        for (const r of alone.routes) expect(reached.has(r.index)).toBe(true);
      }
      if (matched.auth === 'none') for (const each of [m, ...overrides]) expect(compiled.match(each, path).auth).toBe('none');
    }), { numRuns: 2_000 });
  });

  /** The design read literally: every reading, its first token route by a scan, the public route
   *  by a scan, the union. The compiled table must answer the same. */
  function reference(routes: readonly RouteConfig[], m: string, raw: string) {
    const lenient = (path: string) => path
      .split('/')
      .map((segment) => segment
        .replace(/%([0-9a-f]{2})/gi, (e, h: string) => {
          const code = parseInt(h, 16);
          return code >= 0x01 && code <= 0x7f && code !== 0x25 && code !== 0x2f && code !== 0x5c ? String.fromCharCode(code) : e;
        })
        .toLowerCase()
        .replace(/;.*$/, '')
        .replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, ''))
      .join('/')
      .replace(/\/+/g, '/');
    const form = lenient(raw);
    const trimmed = form !== '/' && form.endsWith('/') ? form.slice(0, -1) : form;
    const readings = new Set([form, trimmed]);
    const segmentStart = trimmed.lastIndexOf('/') + 1;
    for (let i = segmentStart + 1; i < trimmed.length; i++) if (trimmed[i] === '.') readings.add(trimmed.slice(0, i));
    const methodOk = (r: RouteConfig, given: string) => !r.methods
      || r.methods.some((x) => x.toUpperCase() === given || (x.toUpperCase() === 'GET' && given === 'HEAD'));
    const covers = (r: RouteConfig, base: string, path: string) =>
      (r.path.endsWith('/*') ? path === base || path.startsWith(`${base}/`) : path === base);
    const written = (r: RouteConfig) => (r.path.endsWith('/*') ? r.path.slice(0, -2) : r.path);
    const open = /[;%]/.test(raw) ? -1
      : routes.findIndex((r) => r.auth === 'none' && methodOk(r, m) && covers(r, written(r), raw));
    const bound = open === -1 ? Infinity : open;
    const applied = new Set<number>();
    for (const reading of readings) {
      const reached = routes.findIndex((r) => r.auth !== 'none' && methodOk(r, m.toUpperCase()) && covers(r, lenient(written(r)), reading));
      if (reached !== -1 && reached < bound) applied.add(reached);
    }
    const indexes = [...applied].sort((a, b) => a - b);
    if (indexes.length === 0) return open === -1 ? { auth: 'required', path: '/*', scopes: [], routes: [] } : { auth: 'none', path: routes[open]!.path };
    return {
      auth: 'required', path: routes[indexes[0]!]!.path,
      scopes: [...new Set(indexes.flatMap((i) => routes[i]!.scopes))], routes: indexes,
    };
  }

  const junk = fc.array(fc.constantFrom('/', '//', 'a', 'A', 'b', '.', '..', ';', '%3B', '%3b', '%61', '%2e', '%2E', 'json', 'api', '%41', '%zz', '%',
    '%20', '%09', '%0b', '%0B', '%1f', '%01', '%7f', ' ', '\t', '\u000b', '\u001f', '\u00a0'),
    { maxLength: 10 }).map((parts) => `/${parts.join('')}`);

  it('the compiled table answers what the design read literally answers', () => {
    fc.assert(fc.property(tableAndPath, decorations, junk, fc.nat(2), method, fc.boolean(), ([routes, plain], d, stranger, which, m, lower) => {
      const path = [plain, decorate(plain, d), stranger][which]!;
      const given = lower ? m.toLowerCase() : m;
      const expected = reference(routes, given, path);
      const actual = compileRoutes(routes).match(given, path);
      expect(actual.auth).toBe(expected.auth);
      expect(actual.path).toBe(expected.path);
      if (expected.auth === 'required') {
        expect(actual.scopes).toEqual(expected.scopes);
        expect(actual.routes.map((r) => r.index)).toEqual(expected.routes);
      }
    }), { numRuns: 3_000 });
  });

  it('match and pathRefusal never throw, whatever the path', () => {
    const anything = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), junk,
      fc.array(fc.constantFrom('/', '.', ';', '%', '%2e', '%3b', '%2f', '%5C', '%00', 'A', '\u0000', '\\'), { maxLength: 30 }).map((p) => p.join('')));
    fc.assert(fc.property(table, anything, fc.string({ maxLength: 8 }), (routes, path, m) => {
      const refusal = pathRefusal(path);
      expect(refusal === null || typeof refusal === 'string').toBe(true);
      const matched = compileRoutes(routes).match(m, path);
      expect(['none', 'required']).toContain(matched.auth);
    }), { numRuns: 1_000 });
  });

  it('pathRefusal refuses exactly the dot segments with parameters and the encoded separators', () => {
    const dotted = fc.tuple(fc.array(publicSegment, { maxLength: 2 }), fc.array(fc.constantFrom('.', '%2e', '%2E'), { minLength: 1, maxLength: 2 }),
      fc.constantFrom(';', '%3B', '%3b'), fc.stringMatching(/^[a-z=]{0,3}$/), fc.array(publicSegment, { maxLength: 2 }))
      .map(([head, dots, semi, rest, tail]) => ['', ...head, `${dots.join('')}${semi}${rest}`, ...tail].join('/'));
    fc.assert(fc.property(dotted, (path) => { expect(pathRefusal(path)).toBe('The path holds a dot segment with parameters.'); }), RUNS);
    fc.assert(fc.property(junk, (path) => {
      const segments = path.split('/');
      const expected = segments.some((s) => /^(?:\.|%2e){1,2}(?:;|%3b)/i.test(s)) || /%(?:2f|5c|00)/i.test(path);
      expect(pathRefusal(path) !== null).toBe(expected);
    }), { numRuns: 1_000 });
  });
});

describe('scope claims', () => {
  const scopeToken = fc.stringMatching(/^[!#-[\]-~]{1,8}$/);
  const claimValue = fc.oneof(
    fc.constant(undefined),
    fc.tuple(fc.array(scopeToken, { maxLength: 5 }), fc.array(fc.constantFrom(' ', '  '), { minLength: 6, maxLength: 6 }))
      .map(([tokens, gaps]) => tokens.map((t, i) => `${gaps[i]}${t}`).join('') + gaps[5]!),
    fc.array(scopeToken, { maxLength: 5 }),
  );
  const names = ['scope', 'scp', 'permissions'] as const;
  let issuer: Tenant['issuers'] extends ReadonlyMap<string, infer P> ? P : never;

  beforeAll(() => {
    const parsed = parseTenantConfig({ id: 'p', hosts: ['p.test'], issuers: [{ issuer: 'https://i.test/', audiences: ['a'] }] });
    if (!parsed.ok) throw new Error('config');
    issuer = compileTenant(parsed.config).issuers.get('https://i.test/')!;
  });

  it('is the union of every scope claim, strings split on spaces, arrays as they are', () => {
    fc.assert(fc.property(fc.tuple(claimValue, claimValue, claimValue), fc.array(scopeToken, { maxLength: 3 }), (values, required) => {
      const claims: Record<string, unknown> = { aud: 'a' };
      const expected = new Set<string>();
      values.forEach((value, i) => {
        if (value === undefined) return;
        claims[names[i]!] = value;
        for (const s of typeof value === 'string' ? value.split(' ') : value) if (s !== '') expected.add(s);
      });
      const read = readClaims(claims, issuer, 'https://r.test');
      expect(read.ok).toBe(true);
      if (!read.ok) return;
      expect(read.value.scopes).toEqual(expected);
      const missing = missingScopes({ scopes: required }, read.value.scopes);
      expect(missing).toEqual(required.filter((s) => !expected.has(s)));
    }), RUNS);
  });

  it('a scope claim holding anything but strings is malformed, never a partial grant', () => {
    const bad = fc.oneof(fc.integer(), fc.boolean(), fc.object(), fc.array(fc.oneof(scopeToken, fc.integer(), fc.constant(null)), { minLength: 1 })
      .filter((a) => a.some((x) => typeof x !== 'string')));
    fc.assert(fc.property(fc.constantFrom(...names), bad, (name, value) => {
      expect(readClaims({ aud: 'a', [name]: value }, issuer, 'https://r.test'))
        .toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'malformed' } });
    }), RUNS);
  });
});

describe('the token decoder on random input', () => {
  const ISSUER = 'https://fuzz.issuer.test/';
  let tenant: Tenant;
  let keys: KeySource;

  beforeAll(async () => {
    const parsed = parseTenantConfig({
      id: 'fuzz', hosts: ['fuzz.test'], issuers: [{ issuer: ISSUER, audiences: ['https://fuzz.test'], algorithms: [...ALGORITHMS] }],
    });
    if (!parsed.ok) throw new Error('config');
    tenant = compileTenant(parsed.config);
    const [rsa, ec, ed] = await Promise.all([makeKey('RS256', 'r'), makeKey('ES256', 'e'), makeKey('EdDSA', 'd')]);
    const imported = new Map<string, CryptoKey>();
    for (const k of [rsa, ec, ed]) imported.set(k.alg, await importJWK(k.publicJwk, k.alg) as CryptoKey);
    keys = {
      async candidates(_issuer, header) {
        const key = imported.get(header.alg);
        return key === undefined ? invalidToken('unknown_kid') : ok({ keys: [{ key, kid: header.kid }], tier: 'memory', version: 1 });
      },
    };
  });

  const verify = (token: string) =>
    verifyToken(token, { id: tenant.id, issuers: tenant.issuers, resource: 'https://fuzz.test' }, { now: () => Date.now(), keys });

  const expectRefused = async (token: string) => {
    const outcome = await verify(token);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.denial.error).toBe('invalid_token');
    if (outcome.denial.error === 'invalid_token') {
      expect(REASONS).toContain(outcome.denial.reason);
      for (const part of token.split('.')) if (part.length >= 8) expect(outcome.denial.note ?? '').not.toContain(part);
    }
  };

  const b64Char = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .'.split(''));
  const junkSegment = fc.string({ unit: b64Char, maxLength: 60 });

  it('never throws and never admits arbitrary strings', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }),
      fc.tuple(junkSegment, junkSegment, junkSegment).map((s) => s.join('.'))), expectRefused), RUNS);
  });

  it('never admits a token with a random header, payload and signature, even from a known issuer', async () => {
    const header = fc.record({
      alg: fc.oneof(fc.constantFrom(...ALGORITHMS, 'none', 'HS256', 'NONE', ''), fc.jsonValue()),
      kid: fc.option(fc.oneof(fc.string(), fc.jsonValue()), { nil: undefined }),
      typ: fc.option(fc.jsonValue(), { nil: undefined }),
      crit: fc.option(fc.array(fc.string()), { nil: undefined }),
    }, { requiredKeys: ['alg'] });
    const payload = fc.record({
      iss: fc.oneof(fc.constant(ISSUER), fc.jsonValue()),
      aud: fc.oneof(fc.constant('https://fuzz.test'), fc.jsonValue()),
      exp: fc.oneof(fc.constant(Math.floor(Date.now() / 1000) + 600), fc.jsonValue()),
      scope: fc.jsonValue(),
    }, { requiredKeys: ['iss'] });
    const signature = fc.oneof(fc.uint8Array({ maxLength: 600 }).map((b) => base64url.encode(b)), junkSegment);
    await fc.assert(fc.asyncProperty(header, payload, signature, async (h, p, s) => {
      await expectRefused(`${base64url.encode(JSON.stringify(h))}.${base64url.encode(JSON.stringify(p))}.${s}`);
    }), RUNS);
  });
});

describe('a token segment nests at most MAX_JSON_DEPTH levels', () => {
  /** The depth of a JSON value, written plainly: a scalar 0, a container one more than its deepest member. */
  const depthOf = (value: unknown): number => (typeof value !== 'object' || value === null ? 0
    : 1 + Math.max(0, ...(Array.isArray(value) ? value : Object.values(value)).map(depthOf)));
  const bracketText = fc.stringMatching(/^[[\]{}"\\a]{0,12}$/);
  const wrapped = fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.tuple(fc.boolean(), bracketText), { maxLength: 40 }))
    .map(([inner, wrappers]) => wrappers.reduce<unknown>((value, [asArray, key]) => (asArray ? [key, value] : { [key]: value }), inner));

  it('decodes an object exactly when it nests at most MAX_JSON_DEPTH levels, whatever brackets its strings hold', () => {
    fc.assert(fc.property(wrapped, bracketText, (value, key) => {
      const payload = { [key]: value };
      const decoded = decodeSegment(base64url.encode(JSON.stringify(payload)));
      if (depthOf(payload) <= MAX_JSON_DEPTH) expect(decoded).toEqual(JSON.parse(JSON.stringify(payload)));
      else expect(decoded).toBeNull();
    }), { numRuns: 1_000 });
  });
});
