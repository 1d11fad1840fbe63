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
    });
    expect(parsed.config.revocation).toEqual({ versionClaim: null, tenantClaim: null, maxStalenessSeconds: 5 });
    expect(parsed.config.forward).toEqual({ claimHeaders: {}, stripAuthorization: false });
    expect(parsed.config.events).toBeNull();
    expect(compileTenant(parsed.config).events).toBeNull();
  });

  it('compiles the events block: logout audiences, and transmitters keyed by issuer with key sets of their own', () => {
    const parsed = parseTenantConfig({ ...base, events: {
      backchannelLogout: { audiences: ['acme-web'] },
      ssf: [
        { issuer: 'https://tr.example/t1', audience: 'https://api.acme.com/ssf' },
        { issuer: 'https://acme.eu.auth0.com/', audience: 'x', jwksUri: 'https://acme.eu.auth0.com/ssf-jwks' },
      ],
    } });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.config.events).toEqual({
      backchannelLogout: { audiences: ['acme-web'] },
      ssf: [
        { issuer: 'https://tr.example/t1', audience: 'https://api.acme.com/ssf', jwksUri: null },
        { issuer: 'https://acme.eu.auth0.com/', audience: 'x', jwksUri: 'https://acme.eu.auth0.com/ssf-jwks' },
      ],
    });
    const events = compileTenant(parsed.config).events!;
    expect(events.backchannelLogout?.audiences).toEqual(new Set(['acme-web']));
    const discovered = events.transmitters.get('https://tr.example/t1')!;
    expect(discovered).toMatchObject({ discovery: 'ssf', jwksUri: null, keySetId: 'ssf https://tr.example/t1', clockToleranceSeconds: 30 });
    expect([...discovered.algorithms].sort()).toEqual(['ES256', 'ES384', 'ES512', 'EdDSA', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
    // The same URL as an issuer (OIDC discovery) and as a transmitter (SSF discovery): two key sets.
    const issuer = base.issuers[0]!.issuer;
    const both = parseTenantConfig({ ...base, events: { ssf: [{ issuer, audience: 'a' }] } });
    if (!both.ok) throw new Error(JSON.stringify(both.issues));
    const tenant = compileTenant(both.config);
    expect(tenant.events!.transmitters.get(issuer)!.keySetId).not.toBe(tenant.issuers.get(issuer)!.keySetId);
    expect(events.transmitters.get('https://acme.eu.auth0.com/')!.keySetId).toBe('https://acme.eu.auth0.com/ https://acme.eu.auth0.com/ssf-jwks');
    expect(issuesOf({ ...base, events: {} })).toEqual([]);
    expect(issuesOf({ ...base, events: null })).toEqual([]);
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
    [{ cors: { allowOrigins: ['https://app.acme.com/'] } }, '/cors/allowOrigins/0'],
    [{ revocation: { maxStalenessSeconds: 301 } }, '/revocation/maxStalenessSeconds'],
    [{ events: { backchannelLogout: { audiences: [] } } }, '/events/backchannelLogout/audiences'],
    [{ events: { backchannelLogout: { audiences: [''] } } }, '/events/backchannelLogout/audiences/0'],
    [{ events: { backchannelLogout: { audience: 'typo' } } }, '/events/backchannelLogout/audience'],
    [{ events: { ssf: [{ issuer: 'http://tr.example', audience: 'a' }] } }, '/events/ssf/0/issuer'],
    [{ events: { ssf: [{ issuer: 'not a url', audience: 'a' }] } }, '/events/ssf/0/issuer'],
    [{ events: { ssf: [{ issuer: 'https://tr.example/?t=1', audience: 'a' }] } }, '/events/ssf/0/issuer'],
    [{ events: { ssf: [{ issuer: 'https://tr.example', audience: '' }] } }, '/events/ssf/0/audience'],
    [{ events: { ssf: [{ issuer: 'https://tr.example', audience: 'a', jwksUri: 'jwks.json' }] } }, '/events/ssf/0/jwksUri'],
    [{ events: { ssf: [{ issuer: 'https://tr.example', audience: 'a' }, { issuer: 'https://tr.example', audience: 'b' }] } }, '/events/ssf/1'],
    [{ events: { webhooks: [] } }, '/events/webhooks'],
  ])('refuses %o at %s', (override, path) => {
    expect(issuesOf({ ...base, ...override }).map((issue) => issue.path)).toContain(path);
  });
});

/** Every field of the schema set, so mutations reach every check. */
const full = {
  id: 'acme', hosts: ['api.acme.com', '*.acme.dev'],
  issuers: [{
    issuer: 'https://acme.eu.auth0.com/', jwksUri: 'https://acme.eu.auth0.com/jwks', audiences: ['https://api.acme.com'],
    audienceClaim: 'aud', algorithms: ['RS256'], clockToleranceSeconds: 30, maxTokenAgeSeconds: 3600, requiredType: 'at+jwt',
    scopeClaims: ['scope'], clientIdClaims: ['azp'],
  }],
  resource: 'https://api.acme.com',
  routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', methods: ['POST'], scopes: ['admin'] }, { path: '/*' }],
  cors: { allowOrigins: ['https://app.acme.com', '*'], allowMethods: ['GET'], allowHeaders: ['authorization'], maxAgeSeconds: 60 },
  upstream: 'https://origin.acme.internal',
  forward: { claimHeaders: { email: 'x-auth-email' }, stripAuthorization: true },
  rateLimit: { perIp: { limit: 10, windowSeconds: 60 }, perSubject: { limit: 10, windowSeconds: 60 } },
  revocation: { versionClaim: 'tv', tenantClaim: 'tid', maxStalenessSeconds: 5 },
  dnsCheck: { type: 'CNAME', target: 'edge.saas.example', failuresBeforeHold: 3, mode: 'enforce' },
  events: {
    backchannelLogout: { audiences: ['acme-web'] },
    ssf: [{ issuer: 'https://tr.example/t1', audience: 'https://api.acme.com/ssf', jwksUri: 'https://tr.example/jwks' }],
  },
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
