// Route matching: first match wins, methods, prefixes, and the leniency that protects.
import { describe, expect, it } from 'vitest';
import { DEFAULT_ROUTE, compileRoutes, hasEncodedSeparator } from '../../src/policy/routes';
import { missingScopes } from '../../src/policy/scopes';
import type { RouteConfig } from '../../src/tenants/schema';

const route = (path: string, extra: Partial<RouteConfig> = {}): RouteConfig => ({ path, auth: 'required', scopes: [], ...extra });

const table = compileRoutes([
  route('/health', { auth: 'none' }),
  route('/public/*', { auth: 'none' }),
  route('/admin/*', { methods: ['POST', 'DELETE'], scopes: ['admin'] }),
  route('/admin/*', { methods: ['GET'], scopes: ['admin:read'] }),
  route('/reports', { scopes: ['reports', 'read'] }),
  route('/*'),
]);

const at = (method: string, path: string) => table.match(method, path).index;

describe('compileRoutes', () => {
  it('takes the first match', () => {
    expect(table.match('POST', '/admin/users')).toEqual({ path: '/admin/*', auth: 'required', scopes: ['admin'], index: 2 });
    expect(at('GET', '/anything')).toBe(5);
  });

  it('matches methods, all of them when none are listed', () => {
    expect(at('DELETE', '/admin/x')).toBe(2);
    expect(at('GET', '/admin/x')).toBe(3);
    expect(at('PUT', '/admin/x')).toBe(5);
    expect(at('PATCH', '/health')).toBe(0);
  });

  it('lets HEAD match routes that list GET', () => {
    expect(at('HEAD', '/admin/x')).toBe(3);
  });

  it('covers the prefix itself and everything below it, not a longer name', () => {
    expect(at('POST', '/admin')).toBe(2);
    expect(at('POST', '/admin/')).toBe(2);
    expect(at('POST', '/admin/x/y')).toBe(2);
    expect(at('POST', '/administrator')).toBe(5);
    expect(at('GET', '/public')).toBe(1);
    expect(at('GET', '/publicity')).toBe(5);
  });

  it('matches an exact path only exactly', () => {
    expect(at('GET', '/reports')).toBe(4);
    expect(at('GET', '/reports/2026')).toBe(5);
    expect(at('GET', '/health/deep')).toBe(5);
  });

  it('matches token routes case-insensitively and with unreserved escapes decoded', () => {
    for (const path of ['/ADMIN/x', '/Admin', '/%61dmin/x', '/%41DMIN/x', '/adm%69n/%78', '//admin/x', '/admin//x']) {
      expect(table.match('POST', path).scopes, path).toEqual(['admin']);
    }
    expect(table.match('GET', '/REPORTS').scopes).toEqual(['reports', 'read']);
    expect(table.match('post', '/admin/x').scopes).toEqual(['admin']);
  });

  it('does not decode reserved or non-ASCII escapes', () => {
    expect(at('POST', '/admin%3Bx')).toBe(5);
    expect(at('POST', '/%C3%A9admin/x')).toBe(5);
  });

  it('matches auth "none" routes only on the raw path, case-sensitively', () => {
    expect(at('GET', '/health')).toBe(0);
    expect(at('GET', '/Health')).toBe(5);
    expect(at('GET', '/HEALTH')).toBe(5);
    expect(at('GET', '/%68ealth')).toBe(5);
    expect(at('GET', '/Public/x')).toBe(5);
    expect(at('GET', '//health')).toBe(5);
  });

  it('falls back to the default policy: token required, no scopes', () => {
    const narrow = compileRoutes([route('/health', { auth: 'none' }), route('/api/*', { scopes: ['api'] })]);
    expect(narrow.match('GET', '/other')).toEqual({ path: '/*', auth: 'required', scopes: [], index: -1 });
    expect(narrow.match('GET', '/other')).toBe(DEFAULT_ROUTE);
    expect(compileRoutes([]).match('GET', '/')).toBe(DEFAULT_ROUTE);
  });

  it('lets "/*" cover every path', () => {
    const all = compileRoutes([route('/*', { auth: 'none' })]);
    for (const path of ['/', '/a', '/a/b/c']) expect(all.match('GET', path).index).toBe(0);
  });

  it('lists every scope any route requires, once', () => {
    expect([...table.scopes].sort()).toEqual(['admin', 'admin:read', 'read', 'reports']);
  });
});

describe('hasEncodedSeparator', () => {
  it('finds an encoded slash, backslash or NUL in any case', () => {
    for (const path of ['/a%2fb', '/a%2Fb', '/a%5cb', '/a%5Cb', '/a%00', '/%2F']) expect(hasEncodedSeparator(path), path).toBe(true);
  });

  it('leaves other paths alone', () => {
    for (const path of ['/a/b', '/a%20b', '/a%252fb', '/%2', '/a%3Ab']) expect(hasEncodedSeparator(path), path).toBe(false);
  });
});

describe('missingScopes', () => {
  it('needs every scope of the route', () => {
    const admin = table.match('GET', '/reports');
    expect(missingScopes(admin, new Set(['reports', 'read', 'extra']))).toEqual([]);
    expect(missingScopes(admin, new Set(['read']))).toEqual(['reports']);
    expect(missingScopes(admin, new Set())).toEqual(['reports', 'read']);
    expect(missingScopes(DEFAULT_ROUTE, new Set())).toEqual([]);
  });
});
