import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTenantConfig } from '../../src/tenants/schema';
import { compileTenant } from '../../src/tenants/tenant';

const base = { id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: 'https://acme.eu.auth0.com/', audiences: ['https://api.acme.com'] }] };
const issuesOf = (input: unknown) => { const r = parseTenantConfig(input); return r.ok ? [] : r.issues; };

describe('parseTenantConfig', () => {
  it('applies every default in one place', () => {
    const parsed = parseTenantConfig(base);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.config.routes).toEqual([{ path: '/*', auth: 'required', scopes: [] }]);
    expect(parsed.config.issuers[0]).toEqual({
      issuer: 'https://acme.eu.auth0.com/', jwksUri: null, audiences: ['https://api.acme.com'], audienceClaim: 'aud',
      algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'], clockToleranceSeconds: 30, maxTokenAgeSeconds: null,
      requiredType: null, scopeClaims: ['scope', 'scp', 'permissions'], clientIdClaims: ['azp', 'client_id', 'cid', 'appid'],
      proofOfPossession: 'optional',
    });
    expect(parsed.config.dpop).toBeNull();
    expect(parsed.config.revocation).toEqual({ versionClaim: null, tenantClaim: null, maxStalenessSeconds: 5 });
    expect(parsed.config.forward).toEqual({ claimHeaders: {}, stripAuthorization: false });
  });

  it('accepts the spec example routes, "/*" and "/" among them', () => {
    expect(issuesOf({ ...base, routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', methods: ['post'], scopes: ['admin'] }, { path: '/' }, { path: '/*' }] })).toEqual([]);
  });

  it('lets token routes hold ";" and "%" (they match leniently), not public ones', () => {
    expect(issuesOf({ ...base, routes: [{ path: '/api;v=1/*' }, { path: '/caf%C3%A9' }] })).toEqual([]);
    expect(issuesOf({ ...base, routes: [{ path: '/health;x', auth: 'none' }] })).toEqual([
      { path: '/routes/0', message: 'a route with auth "none" matches only the raw path, which never holds ";" or "%" for it' },
    ]);
  });

  it('never throws, whatever the route path', () => {
    for (const path of ['//a b', '//[', '/\\x', '//%zz', '/\u0000']) {
      expect(() => parseTenantConfig({ ...base, routes: [{ path }] }), path).not.toThrow();
    }
  });

  it('normalizes hosts to lowercase punycode without a trailing dot', () => {
    const parsed = parseTenantConfig({ ...base, hosts: ['API.Acme.com.', 'bücher.example', '*.Acme.dev'] });
    expect(parsed.ok && parsed.config.hosts).toEqual(['api.acme.com', 'xn--bcher-kva.example', '*.acme.dev']);
  });

  it.each([
    [{ hosts: ['*.com'] }, '/hosts/0'],
    [{ hosts: ['a.*.com'] }, '/hosts/0'],
    [{ hosts: ['api.acme.com:8443'] }, '/hosts/0'],
    [{ hosts: ['10.0.0.1'] }, '/hosts/0'],
    [{ hosts: ['api.acme.com', 'API.acme.com'] }, '/hosts/1'],
    [{ id: 'Acme!' }, '/id'],
    [{ issuers: [{ ...base.issuers[0], issuer: 'http://acme.example/' }] }, '/issuers/0/issuer'],
    [{ issuers: [{ ...base.issuers[0], algorithms: ['HS256'] }] }, '/issuers/0/algorithms/0'],
    [{ issuers: [{ ...base.issuers[0], algorithms: ['none'] }] }, '/issuers/0/algorithms/0'],
    [{ issuers: [{ ...base.issuers[0], audiences: [] }] }, '/issuers/0/audiences'],
    [{ issuers: [{ ...base.issuers[0], audience: 'typo' }] }, '/issuers/0/audience'],
    [{ routes: [{ path: 'admin' }] }, '/routes/0/path'],
    [{ routes: [{ path: '/a/*/b' }] }, '/routes/0/path'],
    [{ routes: [{ path: '/a/../b' }] }, '/routes/0'],
    [{ routes: [{ path: '/a%2fb' }] }, '/routes/0/path'],
    [{ routes: [{ path: '/health', auth: 'none', scopes: ['x'] }] }, '/routes/0'],
    [{ routes: [{ path: '//a b' }] }, '/routes/0'],
    [{ routes: [{ path: '/health;x', auth: 'none' }] }, '/routes/0'],
    [{ routes: [{ path: '/caf%C3%A9', auth: 'none' }] }, '/routes/0'],
    [{ routes: [{ path: '/docs;v=1/*', auth: 'none' }] }, '/routes/0'],
    [{ upstream: 'https://origin.example/path' }, '/upstream'],
    [{ upstream: 'origin without scheme' }, '/upstream'],
    [{ upstream: '//origin.example' }, '/upstream'],
    [{ upstream: 'http://[' }, '/upstream'],
    [{ issuers: [{ ...base.issuers[0], issuer: 'not a url' }] }, '/issuers/0/issuer'],
    [{ issuers: [{ ...base.issuers[0], jwksUri: 'jwks.json' }] }, '/issuers/0/jwksUri'],
    [{ resource: 'api.acme.com' }, '/resource'],
    [{ cors: { allowOrigins: ['app.acme.com'] } }, '/cors/allowOrigins/0'],
    [{ forward: { claimHeaders: { email: 'x-email' } } }, '/forward/claimHeaders/email'],
    [{ forward: { claimHeaders: { email: 'x-auth-subject' } } }, '/forward/claimHeaders/email'],
    [{ forward: { claimHeaders: { cnf: 'x-auth-pop' } } }, '/forward/claimHeaders/cnf'],
    [{ cors: { allowOrigins: ['https://app.acme.com/'] } }, '/cors/allowOrigins/0'],
    [{ revocation: { maxStalenessSeconds: 301 } }, '/revocation/maxStalenessSeconds'],
    [{ issuers: [{ ...base.issuers[0], proofOfPossession: 'required' }] }, '/issuers/0/proofOfPossession'],
    [{ dpop: { maxAgeSeconds: 9 } }, '/dpop/maxAgeSeconds'],
    [{ dpop: { maxAgeSeconds: 3601 } }, '/dpop/maxAgeSeconds'],
    [{ dpop: { maxAgeSeconds: 60.5 } }, '/dpop/maxAgeSeconds'],
    [{ dpop: { nonce: 'yes' } }, '/dpop/nonce'],
    [{ dpop: { maxAge: 60 } }, '/dpop/maxAge'],
  ])('refuses %o at %s', (override, path) => {
    expect(issuesOf({ ...base, ...override }).map((issue) => issue.path)).toContain(path);
  });
});

describe('sender-constrained tokens in the config', () => {
  it('defaults the dpop block and the issuer requirement, and compiles them', () => {
    const parsed = parseTenantConfig({ ...base, dpop: {} });
    expect(parsed.ok && parsed.config.dpop).toEqual({ maxAgeSeconds: 300, nonce: false });
    for (const proofOfPossession of ['optional', 'dpop', 'mtls', 'dpop-or-mtls']) {
      const one = parseTenantConfig({ ...base, issuers: [{ ...base.issuers[0], proofOfPossession }] });
      expect(one.ok && one.config.issuers[0]!.proofOfPossession).toBe(proofOfPossession);
    }
  });

  it('compiles the policy every tenant gets, with or without a dpop block', () => {
    const compiled = (input: unknown) => { const r = parseTenantConfig(input); if (!r.ok) throw new Error(JSON.stringify(r.issues)); return compileTenant(r.config); };
    const plain = compiled(base);
    expect(plain.dpop).toEqual({ maxAgeSeconds: 300, nonce: false });
    expect(plain.challengesDpop).toBe(false);
    expect(plain.issuers.get('https://acme.eu.auth0.com/')!.proofOfPossession).toBe('optional');
    expect(plain.dpopAlgorithms).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA']);

    expect(compiled({ ...base, dpop: { maxAgeSeconds: 60, nonce: true } })).toMatchObject({ dpop: { maxAgeSeconds: 60, nonce: true }, challengesDpop: true });
    const mtls = compiled({ ...base, issuers: [
      { ...base.issuers[0], algorithms: ['ES384'] },
      { issuer: 'https://other.example/', audiences: ['x'], algorithms: ['ES256', 'RS256'], proofOfPossession: 'mtls' },
    ] });
    expect(mtls.challengesDpop).toBe(true);
    expect(mtls.dpopAlgorithms).toEqual(['RS256', 'ES256', 'ES384']);
    expect(mtls.issuers.get('https://other.example/')!.proofOfPossession).toBe('mtls');
  });
});

/** Every field of the schema set, so mutations reach every check. */
const full = {
  id: 'acme', hosts: ['api.acme.com', '*.acme.dev'],
  issuers: [{
    issuer: 'https://acme.eu.auth0.com/', jwksUri: 'https://acme.eu.auth0.com/jwks', audiences: ['https://api.acme.com'],
    audienceClaim: 'aud', algorithms: ['RS256'], clockToleranceSeconds: 30, maxTokenAgeSeconds: 3600, requiredType: 'at+jwt',
    scopeClaims: ['scope'], clientIdClaims: ['azp'], proofOfPossession: 'dpop-or-mtls',
  }],
  resource: 'https://api.acme.com',
  routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', methods: ['POST'], scopes: ['admin'] }, { path: '/*' }],
  cors: { allowOrigins: ['https://app.acme.com', '*'], allowMethods: ['GET'], allowHeaders: ['authorization'], maxAgeSeconds: 60 },
  upstream: 'https://origin.acme.internal',
  forward: { claimHeaders: { email: 'x-auth-email' }, stripAuthorization: true },
  rateLimit: { perIp: { limit: 10, windowSeconds: 60 }, perSubject: { limit: 10, windowSeconds: 60 } },
  revocation: { versionClaim: 'tv', tenantClaim: 'tid', maxStalenessSeconds: 5 },
  dpop: { maxAgeSeconds: 120, nonce: true },
  dnsCheck: { type: 'CNAME', target: 'edge.saas.example', failuresBeforeHold: 3, mode: 'enforce' },
};

/** Every path to a value inside `value`, as keys. */
function leafPaths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = [at];
  if (Array.isArray(value)) value.forEach((item, i) => paths.push(...leafPaths(item, [...at, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, item] of Object.entries(value)) paths.push(...leafPaths(item, [...at, k]));
  return paths;
}
function replaced(value: unknown, path: readonly (string | number)[], by: unknown): unknown {
  if (path.length === 0) return by;
  const copy: any = Array.isArray(value) ? [...value] : { ...(value as object) }; // eslint-disable-line @typescript-eslint/no-explicit-any
  copy[path[0]!] = replaced(copy[path[0]!], path.slice(1), by);
  return copy;
}

describe('parseTenantConfig is total (fuzzed)', () => {
  const hostile = fc.oneof(
    fc.jsonValue(),
    fc.string(),
    fc.constantFrom('not a url', 'origin without scheme', '//x', 'http://[', 'https://', 'https://a b', 'javascript:alert(1)',
      'http://localhost:99999', '/relative', '', ' ', '\u0000', 'https://\u0000', '*', '*.', '%', 'https://a/%zz'),
  );

  it('never throws for any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (input) => {
      const parsed = parseTenantConfig(input);
      expect(typeof parsed.ok).toBe('boolean');
    }), { numRuns: 500 });
  });

  it('never throws for a full config with any one value replaced, and what it accepts compiles and is stable', () => {
    const paths = leafPaths(full);
    fc.assert(fc.property(fc.constantFrom(...paths), hostile, (path, by) => {
      const parsed = parseTenantConfig(replaced(full, path, by));
      if (!parsed.ok) {
        for (const issue of parsed.issues) expect(issue.path === '' || issue.path.startsWith('/')).toBe(true);
        return;
      }
      expect(() => compileTenant(parsed.config)).not.toThrow();
      expect(parseTenantConfig(JSON.parse(JSON.stringify(parsed.config)))).toEqual(parsed);
    }), { numRuns: 1500 });
  });
});
