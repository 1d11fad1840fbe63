// Route conditions: claim conditions (JSON scalar equality, arrays, pointers) and RFC 9470
// step-up (acr, auth_time age), their combination over several applied routes, their order
// after scopes, evaluation per request (a cached payload ages), the exact challenges, and a
// property test against a reference check written separately here.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Denial, Outcome } from '../../src/base/denial';
import { denialResponse } from '../../src/http/respond';
import { checkClaims, checkStepUp } from '../../src/policy/conditions';
import { compileRoutes, type RouteMatch } from '../../src/policy/routes';
import { missingScopes } from '../../src/policy/scopes';
import { parseTenantConfig, type RouteConfig } from '../../src/config/schema';

const NOW = 1_700_000_000_000;
const nowSeconds = NOW / 1000;

/** The match of one route (schema-validated, as a tenant load compiles it). */
function matchOf(conditions: Record<string, unknown>, path = '/x'): RouteMatch {
  const parsed = parseTenantConfig({
    id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: 'https://acme.eu.auth0.com/', audiences: ['https://api.acme.com'] }],
    routes: [{ path: '/x', ...conditions }],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileRoutes(parsed.config.routes).match('GET', path);
}
const denialOf = (outcome: Outcome<void>): Denial | null => (outcome.ok ? null : outcome.denial);
const claimsHeld = (claims: Record<string, unknown>, payload: Record<string, unknown>) => checkClaims(matchOf({ claims }), payload).ok;

describe('checkClaims', () => {
  it('admits when every listed claim holds one of its accepted values', () => {
    const claims = { role: ['owner', 'admin'], '/org/tier': ['gold'] };
    expect(claimsHeld(claims, { role: 'admin', org: { tier: 'gold' } })).toBe(true);
    expect(claimsHeld(claims, { role: 'admin', org: { tier: 'silver' } })).toBe(false);
    expect(claimsHeld(claims, { role: 'viewer', org: { tier: 'gold' } })).toBe(false);
    expect(claimsHeld(claims, { org: { tier: 'gold' } })).toBe(false);
  });

  it('refuses with access_denied, the note naming the configured claim and never the token value', () => {
    const denial = denialOf(checkClaims(matchOf({ claims: { '/org/role': ['admin'] } }), { org: { role: 'secret-value' } }));
    expect(denial).toEqual({ error: 'access_denied', note: 'the /org/role claim holds no accepted value' });
    expect(JSON.stringify(denial)).not.toContain('secret-value');
  });

  it('compares JSON values: 1 and "1" differ, true and "true" differ', () => {
    expect(claimsHeld({ level: [1] }, { level: 1 })).toBe(true);
    expect(claimsHeld({ level: [1] }, { level: 1.0 })).toBe(true);
    expect(claimsHeld({ level: [1] }, { level: '1' })).toBe(false);
    expect(claimsHeld({ level: ['1'] }, { level: 1 })).toBe(false);
    expect(claimsHeld({ verified: [true] }, { verified: true })).toBe(true);
    expect(claimsHeld({ verified: [true] }, { verified: 'true' })).toBe(false);
    expect(claimsHeld({ verified: ['true'] }, { verified: true })).toBe(false);
    expect(claimsHeld({ n: [0] }, { n: -0 })).toBe(true);
    expect(claimsHeld({ n: [2.5] }, { n: 2.5 })).toBe(true);
  });

  it('an array claim holds when it contains an accepted value; objects, null and nested arrays never do', () => {
    expect(claimsHeld({ groups: ['admins'] }, { groups: ['staff', 'admins'] })).toBe(true);
    expect(claimsHeld({ groups: ['admins'] }, { groups: ['staff'] })).toBe(false);
    expect(claimsHeld({ groups: ['admins'] }, { groups: [] })).toBe(false);
    expect(claimsHeld({ groups: ['admins'] }, { groups: [['admins']] })).toBe(false);
    expect(claimsHeld({ groups: ['admins'] }, { groups: { admins: true } })).toBe(false);
    expect(claimsHeld({ groups: ['admins'] }, { groups: null })).toBe(false);
    expect(claimsHeld({ level: [1] }, { level: [3, 1] })).toBe(true);
    expect(claimsHeld({ level: [1] }, { level: ['1'] })).toBe(false);
  });

  it('reads JSON Pointers with their escapes, array indexes, and namespaced names as top-level claims', () => {
    expect(claimsHeld({ '/realm_access/roles': ['admin'] }, { realm_access: { roles: ['reader', 'admin'] } })).toBe(true);
    expect(claimsHeld({ '/a~1b/c~0d': ['v'] }, { 'a/b': { 'c~d': 'v' } })).toBe(true);
    expect(claimsHeld({ '/a~1b/c~0d': ['v'] }, { a: { b: { 'c~d': 'v' } } })).toBe(false);
    expect(claimsHeld({ '/orgs/1/id': ['o2'] }, { orgs: [{ id: 'o1' }, { id: 'o2' }] })).toBe(true);
    expect(claimsHeld({ '/orgs/01/id': ['o2'] }, { orgs: [{ id: 'o1' }, { id: 'o2' }] })).toBe(false);
    expect(claimsHeld({ 'https://acme.com/roles': ['admin'] }, { 'https://acme.com/roles': ['admin'] })).toBe(true);
    expect(claimsHeld({ 'https://acme.com/roles': ['admin'] }, { 'https:': { '': { 'acme.com': { roles: 'admin' } } } })).toBe(false);
  });

  it('reads own members only', () => {
    expect(claimsHeld({ '/constructor': ['x'] }, {})).toBe(false);
    expect(claimsHeld({ '/o/toString': ['x'] }, { o: {} })).toBe(false);
    expect(claimsHeld({ '/constructor': ['x'] }, { constructor: 'x' })).toBe(true);
  });

  it('admits anything on a route without claim conditions', () => {
    expect(checkClaims(matchOf({}), {}).ok).toBe(true);
  });
});

describe('checkStepUp', () => {
  const acrRoute = matchOf({ acr: ['urn:acme:mfa', 'phrh'] });
  const ageRoute = matchOf({ maxAuthAgeSeconds: 600 });
  const both = matchOf({ acr: ['urn:acme:mfa'], maxAuthAgeSeconds: 600 });
  const step = (match: RouteMatch, payload: Record<string, unknown>, now = NOW) => denialOf(checkStepUp(match, payload, now));

  it('acr: one of the route\'s values; absent, another or not a string is not met', () => {
    expect(step(acrRoute, { acr: 'phrh' })).toBeNull();
    expect(step(acrRoute, { acr: 'urn:acme:mfa' })).toBeNull();
    const unmet = { error: 'insufficient_user_authentication', acrValues: ['urn:acme:mfa', 'phrh'], maxAge: null };
    expect(step(acrRoute, {})).toEqual({ ...unmet, note: 'no acr' });
    expect(step(acrRoute, { acr: 'pwd' })).toEqual({ ...unmet, note: 'acr not accepted' });
    expect(step(acrRoute, { acr: ['phrh'] })).toMatchObject(unmet);
    expect(step(acrRoute, { acr: 1 })).toMatchObject(unmet);
    expect(step(acrRoute, { acr: 'PHRH' })).toMatchObject(unmet);
  });

  it('maxAuthAgeSeconds: now - auth_time at most the limit, in whole seconds as the other time claims', () => {
    expect(step(ageRoute, { auth_time: nowSeconds - 600 })).toBeNull();
    expect(step(ageRoute, { auth_time: nowSeconds - 600 }, NOW + 999)).toBeNull();
    expect(step(ageRoute, { auth_time: nowSeconds - 600 }, NOW + 1000)).toMatchObject({ error: 'insufficient_user_authentication' });
    expect(step(ageRoute, { auth_time: nowSeconds - 601 })).toEqual({
      error: 'insufficient_user_authentication', acrValues: null, maxAge: 600, note: 'auth_time older than 600 s',
    });
    expect(step(ageRoute, { auth_time: nowSeconds - 599.5 })).toBeNull();
    // A login the issuer dates a little ahead of this clock is recent, not refused.
    expect(step(ageRoute, { auth_time: nowSeconds + 5 })).toBeNull();
  });

  it('no auth_time, or one that is not a finite number, is not met', () => {
    for (const authTime of [undefined, null, String(nowSeconds), [nowSeconds], { t: nowSeconds }, NaN, Infinity, -Infinity]) {
      const payload = authTime === undefined ? {} : { auth_time: authTime };
      expect(step(ageRoute, payload), String(authTime)).toEqual({
        error: 'insufficient_user_authentication', acrValues: null, maxAge: 600, note: 'no usable auth_time',
      });
    }
  });

  it('maxAuthAgeSeconds 0: only a login in the current second', () => {
    const zero = matchOf({ maxAuthAgeSeconds: 0 });
    expect(step(zero, { auth_time: nowSeconds })).toBeNull();
    expect(step(zero, { auth_time: nowSeconds }, NOW + 999)).toBeNull();
    expect(step(zero, { auth_time: nowSeconds }, NOW + 1000)).toMatchObject({ maxAge: 0 });
  });

  it('with both set, the challenge names both whichever was missed', () => {
    const fresh = nowSeconds - 10;
    expect(step(both, { acr: 'urn:acme:mfa', auth_time: fresh })).toBeNull();
    const named = { error: 'insufficient_user_authentication', acrValues: ['urn:acme:mfa'], maxAge: 600 };
    expect(step(both, { acr: 'pwd', auth_time: fresh })).toEqual({ ...named, note: 'acr not accepted' });
    expect(step(both, { acr: 'urn:acme:mfa', auth_time: fresh - 600 })).toEqual({ ...named, note: 'auth_time older than 600 s' });
    expect(step(both, {})).toEqual({ ...named, note: 'no acr; no usable auth_time' });
  });

  it('is evaluated per request: one cached payload, admitted now, refused once its auth_time ages past the limit', () => {
    const payload = Object.freeze({ acr: 'urn:acme:mfa', auth_time: nowSeconds - 300 });
    let t = NOW;
    const now = () => t;
    expect(checkStepUp(both, payload, now()).ok).toBe(true);
    t += 300_999;
    expect(checkStepUp(both, payload, now()).ok).toBe(true);
    t += 1;
    expect(denialOf(checkStepUp(both, payload, now()))).toMatchObject({ error: 'insufficient_user_authentication', maxAge: 600 });
    // Nothing was kept: the earlier time still admits the same payload.
    expect(checkStepUp(both, payload, NOW).ok).toBe(true);
  });

  it('admits anything on a route without step-up', () => {
    expect(matchOf({ claims: { a: ['b'] } }).stepUp).toBeNull();
    expect(checkStepUp(matchOf({}), {}, NOW).ok).toBe(true);
  });
});

describe('the conditions of several applied routes', () => {
  // `/account/` reaches both routes (the exact route through its trailing-slash reading).
  const table = (first: Partial<RouteConfig>, second: Partial<RouteConfig>) => compileRoutes([
    { path: '/account', auth: 'required', scopes: [], ...first },
    { path: '/account/*', auth: 'required', scopes: [], ...second },
  ] as RouteConfig[]);
  const routes = table(
    { acr: ['urn:acme:mfa', 'urn:acme:hwk', 'pwd'], maxAuthAgeSeconds: 600, claims: { '/org/role': ['owner', 'admin'] } },
    { acr: ['urn:acme:hwk', 'urn:acme:mfa'], maxAuthAgeSeconds: 300, claims: { '/org/role': ['admin', 'auditor'] } },
  );
  const combined = routes.match('GET', '/account/');

  it('every route applies, and each route alone stays as configured', () => {
    expect(combined.routes.map((r) => r.index)).toEqual([0, 1]);
    expect(routes.match('GET', '/account').stepUp).toEqual({ acr: ['urn:acme:mfa', 'urn:acme:hwk', 'pwd'], maxAuthAgeSeconds: 600 });
    expect(routes.match('GET', '/account/x').stepUp).toEqual({ acr: ['urn:acme:hwk', 'urn:acme:mfa'], maxAuthAgeSeconds: 300 });
  });

  it('step-up: the acr values every route accepts, in the first route\'s order, and the smallest max age', () => {
    expect(combined.stepUp).toEqual({ acr: ['urn:acme:mfa', 'urn:acme:hwk'], maxAuthAgeSeconds: 300 });
    const fresh = nowSeconds - 10;
    expect(checkStepUp(combined, { acr: 'urn:acme:hwk', auth_time: fresh }, NOW).ok).toBe(true);
    // Accepted by the first route only, or fresh enough for the first route only.
    expect(checkStepUp(combined, { acr: 'pwd', auth_time: fresh }, NOW).ok).toBe(false);
    expect(checkStepUp(combined, { acr: 'urn:acme:mfa', auth_time: nowSeconds - 400 }, NOW).ok).toBe(false);
  });

  it('claims: every condition of every route must hold', () => {
    expect(checkClaims(combined, { org: { role: 'admin' } }).ok).toBe(true);
    expect(checkClaims(combined, { org: { role: 'owner' } }).ok).toBe(false);
    expect(checkClaims(combined, { org: { role: 'auditor' } }).ok).toBe(false);
    expect(checkClaims(combined, { org: { role: ['owner', 'auditor'] } }).ok).toBe(true);
  });

  it('a route without acr or max age adds no step-up; its claims still add up', () => {
    const mixed = table({ maxAuthAgeSeconds: 60 }, { acr: ['a'], claims: { tier: ['gold'] } }).match('GET', '/account/');
    expect(mixed.stepUp).toEqual({ acr: ['a'], maxAuthAgeSeconds: 60 });
    expect(mixed.claims.map((c) => c.claim.name)).toEqual(['tier']);
    expect(table({}, {}).match('GET', '/account/').stepUp).toBeNull();
  });

  it('routes that accept no common acr value: no login could meet them, so 403 access_denied rather than a challenge', () => {
    const disjoint = table({ acr: ['a'] }, { acr: ['b'] }).match('GET', '/account/');
    expect(disjoint.stepUp).toEqual({ acr: [], maxAuthAgeSeconds: null });
    for (const acr of ['a', 'b', undefined]) {
      expect(denialOf(checkStepUp(disjoint, { acr }, NOW))).toEqual({ error: 'access_denied', note: 'the applied routes accept no common acr value' });
    }
  });

  it('is built once per combination', () => {
    expect(routes.match('GET', '/account/')).toBe(combined);
    expect(routes.match('GET', '/ACCOUNT/')).toBe(combined);
  });
});

describe('the order of the steps after verification (docs/errors.md)', () => {
  /** Scopes, claim conditions, step-up: the pipeline's order, as it will be wired. */
  function afterVerification(match: RouteMatch, granted: ReadonlySet<string>, payload: Record<string, unknown>, nowMs: number): Outcome<void> {
    if (missingScopes(match, granted).length > 0) return { ok: false, denial: { error: 'insufficient_scope', needed: match.scopes } };
    const claims = checkClaims(match, payload);
    if (!claims.ok) return claims;
    return checkStepUp(match, payload, nowMs);
  }
  const route = matchOf({ scopes: ['admin'], claims: { '/org/role': ['owner'] }, acr: ['urn:acme:mfa'], maxAuthAgeSeconds: 600 });
  const statusOf = (granted: string[], payload: Record<string, unknown>) => {
    const outcome = afterVerification(route, new Set(granted), payload, NOW);
    return outcome.ok ? 'admitted' : `${denialResponse(outcome.denial, { host: 'api.acme.com', requestId: 'r' }).status} ${outcome.denial.error}`;
  };
  const weak = { org: { role: 'viewer' } };
  const owner = { org: { role: 'owner' } };

  it('a missing scope is 403 insufficient_scope before any step-up', () => {
    expect(statusOf([], weak)).toBe('403 insufficient_scope');
    expect(statusOf(['read'], owner)).toBe('403 insufficient_scope');
  });
  it('then claim conditions: 403 access_denied before step-up', () => {
    expect(statusOf(['admin'], weak)).toBe('403 access_denied');
  });
  it('then step-up: 401 insufficient_user_authentication', () => {
    expect(statusOf(['admin'], owner)).toBe('401 insufficient_user_authentication');
    expect(statusOf(['admin'], { ...owner, acr: 'urn:acme:mfa', auth_time: nowSeconds - 700 })).toBe('401 insufficient_user_authentication');
    expect(statusOf(['admin'], { ...owner, acr: 'urn:acme:mfa', auth_time: nowSeconds - 60 })).toBe('admitted');
  });
});

describe('the step-up challenge, from route config to WWW-Authenticate', () => {
  const rm = 'resource_metadata="https://api.acme.com/.well-known/oauth-protected-resource"';
  const challengeOf = (conditions: Record<string, unknown>, payload: Record<string, unknown> = {}) => {
    const match = matchOf(conditions);
    const outcome = checkClaims(match, payload).ok ? checkStepUp(match, payload, NOW) : checkClaims(match, payload);
    if (outcome.ok) throw new Error('admitted');
    const response = denialResponse(outcome.denial, { host: 'api.acme.com', requestId: 'r' });
    return `${response.status} ${response.headers.get('www-authenticate')}`;
  };

  it('names the acr values and the max age, quoted as RFC 9470 writes them', () => {
    expect(challengeOf({ acr: ['urn:acme:mfa', 'phrh'], maxAuthAgeSeconds: 600 })).toBe(
      '401 Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + 'error_description="This route requires a listed authentication level and an authentication no older than max_age.", '
      + `acr_values="urn:acme:mfa phrh", max_age=600, ${rm}`);
    expect(challengeOf({ acr: ['gold'] })).toBe(
      '401 Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + `error_description="A different authentication level is required.", acr_values="gold", ${rm}`);
    expect(challengeOf({ maxAuthAgeSeconds: 0 })).toBe(
      '401 Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + `error_description="A more recent authentication is required.", max_age=0, ${rm}`);
  });

  it('escapes " and \\ inside acr values', () => {
    expect(challengeOf({ acr: ['a"b', 'c\\d', 'e'] })).toBe(
      '401 Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + `error_description="A different authentication level is required.", acr_values="a\\"b c\\\\d e", ${rm}`);
  });

  it('claim conditions: 403 with no error parameter', () => {
    expect(challengeOf({ claims: { role: ['admin'] }, acr: ['x'] }, { role: 'viewer' })).toBe(`403 Bearer realm="api.acme.com", ${rm}`);
  });
});

describe('property: the compiled conditions decide as a plain per-route reference check', () => {
  // The reference reads claims its own way (a pointer walk and JSON text comparison) and holds
  // the request to each applied route separately, never to a combination.
  type Scalar = string | number | boolean;
  function referenceRead(payload: unknown, name: string): unknown {
    const ownOf = (value: unknown, key: string): unknown => (value !== null && typeof value === 'object' && !Array.isArray(value)
      && Object.prototype.hasOwnProperty.call(value, key) ? (value as Record<string, unknown>)[key] : undefined);
    if (name[0] !== '/') return ownOf(payload, name);
    let at: unknown = payload;
    for (const raw of name.split('/').slice(1)) {
      const key = raw.split('~1').join('/').split('~0').join('~');
      if (Array.isArray(at)) at = /^(0|[1-9][0-9]*)$/.test(key) ? at[Number(key)] : undefined;
      else at = ownOf(at, key);
      if (at === undefined) return undefined;
    }
    return at;
  }
  const sameJson = (a: Scalar, b: unknown) =>
    (typeof b === 'string' || typeof b === 'number' || typeof b === 'boolean') && JSON.stringify(a) === JSON.stringify(b);
  function referenceClaims(config: RouteConfig, payload: Record<string, unknown>): boolean {
    return Object.entries(config.claims ?? {}).every(([name, accepted]) => {
      const value = referenceRead(payload, name);
      const items = Array.isArray(value) ? value : [value];
      return items.some((item) => accepted.some((a) => sameJson(a, item)));
    });
  }
  function referenceStepUp(config: RouteConfig, payload: Record<string, unknown>, nowMs: number): boolean {
    const acrOk = config.acr === undefined || (typeof payload.acr === 'string' && config.acr.includes(payload.acr));
    const t = payload.auth_time;
    const ageOk = config.maxAuthAgeSeconds === undefined
      || (typeof t === 'number' && Number.isFinite(t) && Math.trunc(nowMs / 1000) - t <= config.maxAuthAgeSeconds);
    return acrOk && ageOk;
  }

  const names = ['role', '/org/role', '/a~1b', 'https://acme.com/roles', '/list/0', '/list/1/id'];
  // Small pools, the look-alikes among them (1 and "1", true and "true"), so values meet often.
  const scalar = fc.constantFrom<Scalar>('admin', '1', 1, 'true', true, false, '');
  const claimsArb = fc.dictionary(fc.constantFrom(...names), fc.uniqueArray(scalar, { minLength: 1, maxLength: 3 }), { maxKeys: 2 });
  const acrArb = fc.uniqueArray(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 });
  const conditions = fc.record({ claims: claimsArb, acr: acrArb, maxAuthAgeSeconds: fc.constantFrom(0, 60, 600) }, { requiredKeys: [] });
  const value: fc.Arbitrary<unknown> = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.constant(null),
    fc.constant({ role: 'admin' }), fc.array(fc.record({ id: scalar }), { maxLength: 2 }));
  const payloadArb = fc.record({
    role: value, org: fc.oneof(fc.record({ role: value }, { requiredKeys: [] }), value), 'a/b': value,
    a: fc.record({ b: value }, { requiredKeys: [] }), 'https://acme.com/roles': value, list: value,
    acr: fc.oneof(fc.constantFrom('a', 'b', 'c', 'd'), fc.constant(1), fc.constant(['a'])),
    auth_time: fc.oneof(fc.integer({ min: -100, max: 700 }).map((ago) => nowSeconds - ago), fc.double({ min: -700, max: 100, noNaN: true }).map((ago) => nowSeconds - ago),
      fc.constant(String(nowSeconds)), fc.constant(null)),
  }, { requiredKeys: [] });

  it('admits exactly what every applied route admits on its own', () => {
    const nowMs = fc.integer({ min: NOW, max: NOW + 2_000 });
    fc.assert(fc.property(conditions, conditions, payloadArb, fc.constantFrom('/x', '/x/', '/x/y', '/X.json', '/other'), nowMs, (first, second, payload, path, now) => {
      const configs = [{ path: '/x', auth: 'required', scopes: [], ...first }, { path: '/x/*', auth: 'required', scopes: [], ...second }] as RouteConfig[];
      const match = compileRoutes(configs).match('GET', path);
      const applied = match.routes.map((r) => configs[r.index]!);
      expect(checkClaims(match, payload).ok).toBe(applied.every((c) => referenceClaims(c, payload)));
      expect(checkStepUp(match, payload, now).ok).toBe(applied.every((c) => referenceStepUp(c, payload, now)));
    }), { numRuns: 2_000 });
  });
});
