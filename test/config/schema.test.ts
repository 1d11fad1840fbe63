import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTenantConfig } from '../../src/config/schema';
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
      proofOfPossession: 'optional', introspection: null,
    });
    expect(parsed.config.dpop).toBeNull();
    expect(parsed.config.revocation).toEqual({ versionClaim: null, tenantClaim: null, maxStalenessSeconds: 5, retainSeconds: 86_400 });
    expect(parsed.config.forward).toEqual({ claimHeaders: {}, stripAuthorization: false });
    expect(parsed.config.events).toBeNull();
    expect(compileTenant(parsed.config).events).toBeNull();
  });

  it('takes revocation.retainSeconds from 300 (five minutes) to 2,592,000 (30 days)', () => {
    for (const retainSeconds of [300, 3_600, 2_592_000]) {
      const parsed = parseTenantConfig({ ...base, revocation: { retainSeconds } });
      expect(parsed.ok && parsed.config.revocation).toEqual({ versionClaim: null, tenantClaim: null, maxStalenessSeconds: 5, retainSeconds });
    }
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
    const defaults = { delivery: 'push', pollSeconds: null, subjectClaims: { email: 'email', phone_number: 'phone_number' }, management: null };
    expect(parsed.config.events).toEqual({
      backchannelLogout: { audiences: ['acme-web'] },
      ssf: [
        { issuer: 'https://tr.example/t1', audience: 'https://api.acme.com/ssf', jwksUri: null, ...defaults },
        { issuer: 'https://acme.eu.auth0.com/', audience: 'x', jwksUri: 'https://acme.eu.auth0.com/ssf-jwks', ...defaults },
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
    [{ forward: { claimHeaders: { cnf: 'x-auth-pop' } } }, '/forward/claimHeaders/cnf'],
    [{ forward: { claimHeaders: { nickname: 'x-auth-client_id' } } }, '/forward/claimHeaders/nickname'],
    [{ forward: { claimHeaders: { nickname: 'X_AUTH_NICKNAME' } } }, '/forward/claimHeaders/nickname'],
    [{ forward: { claimHeaders: { nickname: 'x-auth-nick_name' } } }, '/forward/claimHeaders/nickname'],
    [{ cors: { allowOrigins: ['https://app.acme.com/'] } }, '/cors/allowOrigins/0'],
    [{ revocation: { maxStalenessSeconds: 301 } }, '/revocation/maxStalenessSeconds'],
    [{ revocation: { retainSeconds: 299 } }, '/revocation/retainSeconds'],
    [{ revocation: { retainSeconds: 2_592_001 } }, '/revocation/retainSeconds'],
    [{ revocation: { retainSeconds: 3_600.5 } }, '/revocation/retainSeconds'],
    [{ revocation: { retainSeconds: '86400' } }, '/revocation/retainSeconds'],
    [{ revocation: { retainSeconds: null } }, '/revocation/retainSeconds'],
    [{ issuers: [{ ...base.issuers[0], proofOfPossession: 'required' }] }, '/issuers/0/proofOfPossession'],
    [{ dpop: { maxAgeSeconds: 9 } }, '/dpop/maxAgeSeconds'],
    [{ dpop: { maxAgeSeconds: 3601 } }, '/dpop/maxAgeSeconds'],
    [{ dpop: { maxAgeSeconds: 60.5 } }, '/dpop/maxAgeSeconds'],
    [{ dpop: { nonce: 'yes' } }, '/dpop/nonce'],
    [{ dpop: { maxAge: 60 } }, '/dpop/maxAge'],
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

describe('claim names: a top-level name, or a JSON Pointer when it starts with "/"', () => {
  const issuer = (extra: Record<string, unknown>) => ({ issuers: [{ ...base.issuers[0], ...extra }] });

  it('accepts pointers and namespaced names wherever the contract allows them', () => {
    expect(issuesOf({
      ...base, ...issuer({ scopeClaims: ['scope', '/realm_access/roles', '/resource_access/acme-api/roles', 'https://acme.com/roles', '/a~1b/~0c'] }),
      forward: { claimHeaders: { '/org/name': 'x-auth-org', 'https://acme.com/roles': 'x-auth-roles' } },
      revocation: { versionClaim: '/org/tv', tenantClaim: 'https://acme.com/tenant' },
    })).toEqual([]);
  });

  const pointerMessage = 'a claim name, or a JSON Pointer starting with "/" (RFC 6901: "~" only as "~0" or "~1")';
  it.each([
    [issuer({ scopeClaims: ['/a/~2'] }), '/issuers/0/scopeClaims/0'],
    [issuer({ scopeClaims: ['scope', ''] }), '/issuers/0/scopeClaims/1'],
    [issuer({ scopeClaims: ['/a~'] }), '/issuers/0/scopeClaims/0'],
    [{ forward: { claimHeaders: { '/a/~x': 'x-auth-a' } } }, '/forward/claimHeaders/~1a~1~0x'],
    [{ forward: { claimHeaders: { '': 'x-auth-a' } } }, '/forward/claimHeaders/'],
    [{ revocation: { versionClaim: '/tv~' } }, '/revocation/versionClaim'],
    [{ revocation: { tenantClaim: '' } }, '/revocation/tenantClaim'],
  ])('refuses %o at %s with a clear message', (override, path) => {
    expect(issuesOf({ ...base, ...override })).toContainEqual({ path, message: pointerMessage });
  });

  it('refuses a claim header keyed "constructor", "prototype" or "__proto__" (record() would drop it), pointing to the pointer', () => {
    for (const key of ['constructor', 'prototype', '__proto__']) {
      const claimHeaders = JSON.parse(`{"${key}": "x-auth-c"}`);
      expect(issuesOf({ ...base, forward: { claimHeaders } }), key).toEqual([
        { path: '/forward/claimHeaders', message: `"${key}" is written as the JSON Pointer "/${key}"` },
      ]);
    }
    expect(issuesOf({ ...base, forward: { claimHeaders: { '/constructor': 'x-auth-c' } } })).toEqual([]);
  });

  it('keeps audienceClaim and clientIdClaims top-level names (a leading "/" is part of the name there)', () => {
    expect(issuesOf({ ...base, ...issuer({ audienceClaim: '/aud', clientIdClaims: ['/a/~2'] }) })).toEqual([]);
  });
});

describe('route conditions: claims, acr, maxAuthAgeSeconds', () => {
  const withRoute = (route: Record<string, unknown>) => ({ ...base, routes: [{ path: '/account/*', ...route }] });
  const routeOf = (route: Record<string, unknown>) => {
    const parsed = parseTenantConfig(withRoute(route));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return parsed.config.routes[0]!;
  };

  it('accepts them and keeps them as written; absent stays absent', () => {
    const route = {
      claims: { '/org/role': ['owner', 'admin'], 'https://acme.com/level': [2, 2.5, true, false, ''], email_verified: [true] },
      acr: ['phr', 'phrh', 'urn:acme:mfa', 'a"b\\c'], maxAuthAgeSeconds: 600,
    };
    expect(routeOf(route)).toEqual({ path: '/account/*', auth: 'required', scopes: [], ...route });
    expect(routeOf({})).toEqual({ path: '/account/*', auth: 'required', scopes: [] });
  });

  it('accepts the bounds', () => {
    const claims = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`c${i}`, Array.from({ length: 100 }, (_, j) => `v${j}`)]));
    expect(issuesOf(withRoute({ claims, acr: Array.from({ length: 20 }, (_, i) => `${i}`), maxAuthAgeSeconds: 31_536_000 }))).toEqual([]);
    expect(issuesOf(withRoute({ claims: { c: ['x'.repeat(256)] }, acr: ['~'.repeat(256)], maxAuthAgeSeconds: 0 }))).toEqual([]);
    expect(issuesOf(withRoute({ claims: {} }))).toEqual([]);
  });

  it('reads -0 as 0, so a stored config reads back equal', () => {
    expect(Object.is(routeOf({ claims: { n: [-0] }, maxAuthAgeSeconds: -0 }).maxAuthAgeSeconds, 0)).toBe(true);
    expect(Object.is(routeOf({ claims: { n: [-0] } }).claims!.n![0], 0)).toBe(true);
  });

  it.each([
    [{ claims: { role: [] } }, '/routes/0/claims/role', 'at least one accepted value'],
    [{ claims: { role: Array.from({ length: 101 }, (_, i) => i) } }, '/routes/0/claims/role', 'at most 100 accepted values'],
    [{ claims: { role: [null] } }, '/routes/0/claims/role/0', 'a string (up to 256 characters), number or boolean'],
    [{ claims: { role: [{ a: 1 }] } }, '/routes/0/claims/role/0', 'a string (up to 256 characters), number or boolean'],
    [{ claims: { role: [['admin']] } }, '/routes/0/claims/role/0', 'a string (up to 256 characters), number or boolean'],
    [{ claims: { role: ['x'.repeat(257)] } }, '/routes/0/claims/role/0', 'at most 256 characters'],
    [{ claims: { role: 'admin' } }, '/routes/0/claims/role', 'Invalid type: Expected Array but received "admin"'],
    [{ claims: ['role'] }, '/routes/0/claims', 'must be an object'],
    [{ claims: null }, '/routes/0/claims', 'must be an object'],
    [{ claims: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, ['x']])) }, '/routes/0/claims', 'at most 20 claims'],
    [{ claims: { '/org/~2': ['x'] } }, '/routes/0/claims/~1org~1~02', 'a claim name, or a JSON Pointer starting with "/" (RFC 6901: "~" only as "~0" or "~1")'],
    [{ claims: { '': ['x'] } }, '/routes/0/claims/', 'a claim name, or a JSON Pointer starting with "/" (RFC 6901: "~" only as "~0" or "~1")'],
    [{ acr: [] }, '/routes/0/acr', 'at least one acr value'],
    [{ acr: Array.from({ length: 21 }, (_, i) => `${i}`) }, '/routes/0/acr', 'at most 20 acr values'],
    [{ acr: [''] }, '/routes/0/acr/0', 'an acr value is 1-256 printable ASCII characters without spaces'],
    [{ acr: ['has space'] }, '/routes/0/acr/0', 'an acr value is 1-256 printable ASCII characters without spaces'],
    [{ acr: ['tab\t'] }, '/routes/0/acr/0', 'an acr value is 1-256 printable ASCII characters without spaces'],
    [{ acr: ['niveau-élevé'] }, '/routes/0/acr/0', 'an acr value is 1-256 printable ASCII characters without spaces'],
    [{ acr: ['x'.repeat(257)] }, '/routes/0/acr/0', 'an acr value is 1-256 printable ASCII characters without spaces'],
    [{ acr: 'phr' }, '/routes/0/acr', 'Invalid type: Expected Array but received "phr"'],
    [{ maxAuthAgeSeconds: -1 }, '/routes/0/maxAuthAgeSeconds', 'Invalid value: Expected >=0 but received -1'],
    [{ maxAuthAgeSeconds: 1.5 }, '/routes/0/maxAuthAgeSeconds', 'must be a whole number'],
    [{ maxAuthAgeSeconds: 31_536_001 }, '/routes/0/maxAuthAgeSeconds', 'Invalid value: Expected <=31536000 but received 31536001'],
    [{ maxAuthAgeSeconds: '600' }, '/routes/0/maxAuthAgeSeconds', 'Invalid type: Expected number but received "600"'],
    [{ maxAuthAgeSeconds: null }, '/routes/0/maxAuthAgeSeconds', 'Invalid type: Expected number but received null'],
  ])('refuses %o at %s', (route, path, message) => {
    expect(issuesOf(withRoute(route))).toContainEqual({ path, message });
  });

  it('refuses a claim condition keyed "constructor", "prototype" or "__proto__" (record() would drop it and open the route)', () => {
    for (const key of ['constructor', 'prototype', '__proto__']) {
      const claims = JSON.parse(`{"${key}": ["x"], "role": ["admin"]}`);
      expect(issuesOf(withRoute({ claims })), key).toEqual([
        { path: '/routes/0/claims', message: `"${key}" is written as the JSON Pointer "/${key}"` },
      ]);
    }
    expect(issuesOf(withRoute({ claims: { '/constructor': ['x'] } }))).toEqual([]);
  });

  it('refuses each of them on an auth "none" route', () => {
    for (const field of [{ claims: { role: ['admin'] } }, { claims: {} }, { acr: ['phr'] }, { maxAuthAgeSeconds: 0 }]) {
      const name = Object.keys(field)[0];
      expect(issuesOf({ ...base, routes: [{ path: '/health', auth: 'none', ...field }] }), name).toEqual([
        { path: '/routes/0', message: `a route with auth "none" cannot require ${name}` },
      ]);
    }
  });

  it('never throws, whatever the conditions hold', () => {
    for (const claims of [undefined, null, 1, 'x', [], [[]], { a: null }, { a: [NaN] }, { a: [Infinity] }, { a: [{}] }, Object.create(null)]) {
      expect(() => parseTenantConfig(withRoute({ claims })), typeof claims).not.toThrow();
    }
    expect(issuesOf(withRoute({ claims: { a: [NaN] } })).map((i) => i.path)).toEqual(['/routes/0/claims/a/0']);
    expect(issuesOf(withRoute({ claims: { a: [Infinity] } })).map((i) => i.path)).toEqual(['/routes/0/claims/a/0']);
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
    expect(plain.issuers.get('https://acme.eu.auth0.com/')!.proofOfPossession).toBe('optional');
    expect(plain.dpopAlgorithms).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA']);

    expect(compiled({ ...base, dpop: { maxAgeSeconds: 60, nonce: true } })).toMatchObject({ dpop: { maxAgeSeconds: 60, nonce: true } });
    const mtls = compiled({ ...base, issuers: [
      { ...base.issuers[0], algorithms: ['ES384'] },
      { issuer: 'https://other.example/', audiences: ['x'], algorithms: ['ES256', 'RS256'], proofOfPossession: 'mtls' },
    ] });
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
    scopeClaims: ['scope', '/realm_access/roles'], clientIdClaims: ['azp'], proofOfPossession: 'dpop-or-mtls',
    introspection: {
      endpoint: 'https://acme.eu.auth0.com/introspect', clientId: 'edge', clientAuth: 'client_secret_post', clientSecret: 's3cret',
      tokens: 'all', cacheSeconds: 60, inactiveCacheSeconds: 5,
    },
  }],
  resource: 'https://api.acme.com',
  routes: [{ path: '/health', auth: 'none' }, {
    path: '/admin/*', methods: ['POST'], scopes: ['admin'],
    claims: { '/org/role': ['owner', 'admin'], 'https://acme.com/level': [2, true] }, acr: ['phr', 'phrh'], maxAuthAgeSeconds: 600,
  }, { path: '/*' }],
  cors: { allowOrigins: ['https://app.acme.com', '*'], allowMethods: ['GET'], allowHeaders: ['authorization'], maxAgeSeconds: 60 },
  upstream: 'https://origin.acme.internal',
  forward: { claimHeaders: { email: 'x-auth-email', '/org/name': 'x-auth-org' }, stripAuthorization: true },
  rateLimit: { perIp: { limit: 10, windowSeconds: 60 }, perSubject: { limit: 10, windowSeconds: 60 } },
  revocation: { versionClaim: '/org/tv', tenantClaim: 'tid', maxStalenessSeconds: 5, retainSeconds: 604_800 },
  dpop: { maxAgeSeconds: 120, nonce: true },
  dnsCheck: { type: 'CNAME', target: 'edge.saas.example', failuresBeforeHold: 3, mode: 'enforce' },
  events: {
    backchannelLogout: { audiences: ['acme-web'] },
    ssf: [
      { issuer: 'https://tr.example/t1', audience: 'https://api.acme.com/ssf', jwksUri: 'https://tr.example/jwks', delivery: 'poll',
        pollSeconds: 30, subjectClaims: { email: '/contact/email', phone_number: 'phone' },
        management: { tokenEndpoint: 'https://tr.example/token', clientId: 'edge', clientSecret: 's', scope: 'ssf.manage' } },
      { issuer: 'https://tr.example/t2', audience: 'a', management: { bearerToken: 'abc' } },
    ],
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
