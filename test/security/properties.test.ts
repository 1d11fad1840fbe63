// Property tests (fast-check) of the parsers hostile input reaches first: host names, the
// Authorization header, route matching, scope claims and the token decoder. Each property states
// what must hold for every input, and that a decision never admits what the plain rule refuses.
import fc from 'fast-check';
import { base64url, importJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { REASONS, invalidToken, ok } from '../../src/denial';
import type { KeySource } from '../../src/keys/key-source';
import { compileRoutes, type Route } from '../../src/policy/routes';
import { missingScopes } from '../../src/policy/scopes';
import { hostLookupOrder, normalizeHostPattern, normalizeRequestHost } from '../../src/tenants/hosts';
import { ALGORITHMS, parseTenantConfig, type RouteConfig } from '../../src/tenants/schema';
import { compileTenant, type Tenant } from '../../src/tenants/tenant';
import { readClaims } from '../../src/verify/claims';
import { extractBearer } from '../../src/verify/extract';
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

  it('never throws, and admits only "Bearer" (any case) and one RFC 6750 b64token', () => {
    const header = fc.oneof(
      fc.string(), fc.string({ unit: 'binary-ascii' }),
      fc.tuple(fc.mixedCase(fc.constant('bearer')), fc.stringMatching(/^[ \t]{0,3}$/), fc.string()).map(([s, w, t]) => `${s}${w}${t}`),
      fc.tuple(fc.mixedCase(fc.constantFrom('bearer', 'basic', 'dpop')), b64token).map(([s, t]) => `${s} ${t}`),
    );
    fc.assert(fc.property(header, (value) => {
      const request = requestWith(value);
      if (request === null) return;
      const sent = request.headers.get('authorization')!;
      const result = extractBearer(request, url);
      if (!result.ok) {
        expect(['invalid_request', 'invalid_token']).toContain(result.denial.error);
        return;
      }
      expect(result.value).not.toBeNull();
      const token = result.value!;
      expect(sent.slice(0, 6).toLowerCase()).toBe('bearer');
      expect(sent).toMatch(/^bearer +/i);
      expect(token).toMatch(B64TOKEN);
      expect(sent.trimEnd().endsWith(token)).toBe(true);
    }), RUNS);
  });

  it('admits every well-formed Bearer credential', () => {
    fc.assert(fc.property(fc.mixedCase(fc.constant('bearer')), fc.integer({ min: 1, max: 3 }), b64token, (scheme, spaces, token) => {
      const result = extractBearer(requestWith(`${scheme}${' '.repeat(spaces)}${token}`)!, url);
      expect(result).toEqual(ok(token));
    }), RUNS);
  });

  it('refuses anything with a comma, and two tokens', () => {
    fc.assert(fc.property(b64token, b64token, fc.constantFrom(', ', ',', ' ', ' Bearer ', ', Bearer '), (a, b, glue) => {
      const result = extractBearer(requestWith(`Bearer ${a}${glue}${b}`)!, url);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.denial.error).toBe('invalid_request');
    }), RUNS);
  });

  it('refuses a header token together with an access_token query parameter', () => {
    fc.assert(fc.property(b64token, fc.string(), (token, query) => {
      const withQuery = new URL(`https://api.test/x?access_token=${encodeURIComponent(query)}`);
      const result = extractBearer(requestWith(`Bearer ${token}`)!, withQuery);
      expect(result.ok).toBe(false);
    }), RUNS);
  });
});

describe('route matching fails toward more protection', () => {
  const segment = fc.stringMatching(/^[a-z0-9_~-][a-z0-9._~-]{0,6}$/).filter((s) => s !== '.' && s !== '..');
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

  /** What an origin may take for the same path: case flips, %-encoded unreserved characters
   *  (either hex case), and doubled slashes. */
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

  const protects = (plain: Route, variant: Route) => {
    // A token route's protection is never lost: the variant needs a token and at least its scopes.
    if (plain.auth === 'required') {
      expect(variant.auth).toBe('required');
      expect(missingScopes(variant, new Set(plain.scopes))).toEqual([]);
      expect(new Set(variant.scopes)).toEqual(new Set(plain.scopes));
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
