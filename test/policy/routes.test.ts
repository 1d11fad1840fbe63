// Route matching: first match per reading, methods, prefixes, the readings an origin may take
// (case, escapes, path parameters, trailing slash, format suffix), the union of what they reach,
// public routes on the raw path only, and the paths refused outright.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MATCH, MAX_METHOD_OVERRIDES, compileRoutes, methodOverridesOf, pathRefusal, type RouteMatch } from '../../src/policy/routes';
import { missingScopes } from '../../src/policy/scopes';
import type { RouteConfig } from '../../src/config/schema';

const route = (path: string, extra: Partial<RouteConfig> = {}): RouteConfig => ({ path, auth: 'required', scopes: [], ...extra });
/** A compiled route and a match without claim conditions or step-up. */
const plain = { claims: [], acr: null, maxAuthAgeSeconds: null };
const unconditional = { claims: [], stepUp: null };

const configs = [
  route('/health', { auth: 'none' }),
  route('/public/*', { auth: 'none' }),
  route('/admin/*', { methods: ['POST', 'DELETE'], scopes: ['admin'] }),
  route('/admin/*', { methods: ['GET'], scopes: ['admin:read'] }),
  route('/reports', { scopes: ['reports', 'read'] }),
  route('/*'),
];
const table = compileRoutes(configs);

/** The position of the public route, or of the first token route that applied; -1 for the default. */
function indexOf(matched: RouteMatch): number {
  if (matched.auth === 'none') return configs.findIndex((c) => c.auth === 'none' && c.path === matched.path);
  return matched.routes[0]?.index ?? -1;
}
const at = (method: string, path: string) => indexOf(table.match(method, path));
/** Needs a token, and exactly these scopes. */
const token = (scopes: string[]) => expect.objectContaining({ auth: 'required', scopes });
const PUBLIC = expect.objectContaining({ auth: 'none', scopes: [], routes: [] });

describe('compileRoutes', () => {
  it('takes the first match', () => {
    expect(table.match('POST', '/admin/users')).toEqual({
      auth: 'required', path: '/admin/*', scopes: ['admin'], ...unconditional,
      routes: [{ path: '/admin/*', auth: 'required', scopes: ['admin'], ...plain, index: 2 }],
    });
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
    expect(table.match('HEAD', '/admin/x.json').scopes).toEqual(['admin:read']);
    const getOnly = compileRoutes([route('/health', { auth: 'none', methods: ['GET'] }), route('/*', { scopes: ['x'] })]);
    expect(getOnly.match('HEAD', '/health')).toEqual(PUBLIC);
    expect(getOnly.match('POST', '/health')).toEqual(token(['x']));
  });

  it('covers the prefix itself and everything below it, not a longer name', () => {
    expect(at('POST', '/admin')).toBe(2);
    expect(at('POST', '/admin/')).toBe(2);
    expect(at('POST', '/admin/x/y')).toBe(2);
    expect(at('POST', '/administrator')).toBe(5);
    expect(at('GET', '/public')).toBe(1);
    expect(at('GET', '/public/')).toBe(1);
    expect(at('GET', '/public/a/b')).toBe(1);
    expect(at('GET', '/publicity')).toBe(5);
  });

  it('matches an exact path only exactly, up to its readings', () => {
    expect(at('GET', '/reports')).toBe(4);
    expect(at('GET', '/reports/2026')).toBe(5);
    expect(at('GET', '/reportsx')).toBe(5);
    expect(at('GET', '/health/deep')).toBe(5);
  });

  it('matches token routes case-insensitively and with unreserved escapes decoded', () => {
    for (const path of ['/ADMIN/x', '/Admin', '/%61dmin/x', '/%41DMIN/x', '/adm%69n/%78', '//admin/x', '/admin//x']) {
      expect(table.match('POST', path).scopes, path).toEqual(['admin']);
    }
    expect(table.match('GET', '/REPORTS').scopes).toEqual(['reports', 'read']);
    expect(table.match('post', '/admin/x').scopes).toEqual(['admin']);
  });

  it('decodes reserved ASCII escapes too, as origins do before routing, and trims spaces at segment edges', () => {
    const custom = compileRoutes([
      route('/v1/items:purge', { scopes: ['admin'] }), route('/users/@me/*', { scopes: ['profile'] }),
      route("/a!$&'()+,=b", { scopes: ['odd'] }), route('/*'),
    ]);
    for (const path of ['/v1/items%3Apurge', '/v1/items%3apurge', '/v1/ITEMS%3APURGE', '/v1/items%3Apurge;x', '/v1%20/items:purge', '/v1/items:purge%09']) {
      expect(custom.match('POST', path).scopes, path).toEqual(['admin']);
    }
    expect(custom.match('GET', '/users/%40me/keys').scopes).toEqual(['profile']);
    expect(custom.match('GET', '/%61%21%24%26%27%28%29%2B%2C%3Db').scopes).toEqual(['odd']);
    expect(custom.match('GET', '/admin%20/x').path).toBe('/*');
    expect(at('POST', '/admin%20/x')).toBe(2);
    expect(at('POST', '/%20admin/x')).toBe(2);
  });

  it('trims every character up to U+0020 at segment edges, raw or escaped, as Java\'s String.trim() does', () => {
    const controls = Array.from({ length: 0x20 }, (_, code) => code).filter((code) => code !== 0);
    for (const code of [...controls, 0x20]) {
      const hex = code.toString(16).padStart(2, '0');
      for (const edge of [`%${hex}`, `%${hex.toUpperCase()}`, String.fromCharCode(code)]) {
        for (const path of [`/admin${edge}/x`, `/${edge}admin/x`, `/admin/x${edge}`, `/${edge}${edge}admin${edge}/x`]) {
          expect(at('POST', path), JSON.stringify(path)).toBe(2);
        }
      }
    }
    expect(at('POST', '/admin%0b%20%09%1F/users')).toBe(2);
    expect(at('POST', '/%0c%61dmin;x/users')).toBe(2);
    // Inside a segment, and past U+0020 (DEL, a no-break space), nothing is trimmed.
    expect(at('POST', '/ad%0bmin/x')).toBe(5);
    expect(at('POST', '/admin%7f/x')).toBe(5);
    expect(at('POST', '/admin%C2%A0/x')).toBe(5);
    expect(at('POST', '/admin\u00a0/x')).toBe(5);
  });

  it('does not decode %25 or non-ASCII escapes', () => {
    expect(at('POST', '/admin%2Ax')).toBe(5);
    expect(at('POST', '/%C3%A9admin/x')).toBe(5);
    expect(at('POST', '/admin%25x')).toBe(5);
    expect(at('POST', '/admin%252fx')).toBe(5);
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
    expect(narrow.match('GET', '/other')).toEqual({ auth: 'required', path: '/*', scopes: [], routes: [], ...unconditional });
    expect(narrow.match('GET', '/other')).toBe(DEFAULT_MATCH);
    expect(narrow.match('GET', '/health;x')).toBe(DEFAULT_MATCH);
    expect(narrow.match('GET', '/health.json')).toBe(DEFAULT_MATCH);
    expect(compileRoutes([]).match('GET', '/')).toBe(DEFAULT_MATCH);
  });

  it('lets "/*" cover every path', () => {
    const all = compileRoutes([route('/*', { auth: 'none' })]);
    for (const path of ['/', '/a', '/a/b/c', '/a.json', '/a/']) expect(all.match('GET', path), path).toEqual(PUBLIC);
    const token = compileRoutes([route('/*', { scopes: ['s'] })]);
    for (const path of ['/', '/a', '/A;x/b', '/a.json', '//']) expect(token.match('GET', path).scopes, path).toEqual(['s']);
  });

  it('lists every scope any route requires, once', () => {
    expect([...table.scopes].sort()).toEqual(['admin', 'admin:read', 'read', 'reports']);
  });

  it('answers the same object for a route that applies alone', () => {
    expect(table.match('POST', '/admin/x')).toBe(table.match('POST', '/ADMIN;v=1/x.json'));
    expect(table.match('GET', '/health')).toBe(table.match('GET', '/health'));
  });
});

describe('path parameters on token routes', () => {
  const params = compileRoutes([
    route('/admin', { scopes: ['admin'] }),
    route('/api/*', { scopes: ['orders'] }),
    route('/health', { auth: 'none' }),
    route('/*', { scopes: ['base'] }),
  ]);
  const scopesOf = (path: string) => params.match('GET', path).scopes;

  it('reads ";" and the rest of its segment away: /admin;x/y is /admin/y', () => {
    for (const path of ['/api;x/orders', '/api%3Bv=1/orders', '/api%3bv=1/orders', '/API;X/ORDERS', '/api/orders;jsessionid=1',
      '/;x/api/orders', '/api/;x/orders', '/api;/orders', '/api;a;b/orders', '/api;a%3Bb/orders', '/api;x', '/api%3B']) {
      expect(scopesOf(path), path).toEqual(['orders']);
    }
    const prefix = compileRoutes([route('/admin/*', { scopes: ['admin'] }), route('/admin/y', { auth: 'none' })]);
    expect(prefix.match('GET', '/admin;x/y').scopes).toEqual(['admin']);
  });

  it('covers an exact route decorated with parameters', () => {
    for (const path of ['/admin;jsessionid=1', '/admin%3Bx', '/ADMIN;X', '/admin;', '/admin;x.json']) expect(scopesOf(path), path).toEqual(['admin']);
  });

  it('does not read ";" inside another escape or past a slash', () => {
    expect(scopesOf('/admin%253Bx')).toEqual(['base']);
    expect(scopesOf('/admin;x/y')).toEqual(['base']);
  });
});

describe('trailing slash and format suffix on exact token routes', () => {
  const exact = compileRoutes([route('/admin', { scopes: ['admin'] }), route('/*')]);
  const scopesOf = (path: string) => exact.match('GET', path).scopes;

  it('/admin covers /admin/ and /admin.json (Express, Rails and Spring serve them as /admin)', () => {
    for (const path of ['/admin', '/admin/', '/admin.json', '/admin.xml', '/admin.anything', '/admin.tar.gz', '/Admin.JSON', '/%61dmin',
      '/admin%2ejson', '/admin.json/', '//admin//', '/admin.']) {
      expect(scopesOf(path), path).toEqual(['admin']);
    }
  });

  it('not longer names or deeper paths', () => {
    for (const path of ['/administrator', '/admin-old', '/admin/x', '/admin/x.json', '/x/admin', '/admin//x', '/admin/.json']) {
      expect(exact.match('GET', path), path).toEqual({ auth: 'required', path: '/*', scopes: [], routes: [expect.objectContaining({ index: 1 })], ...unconditional });
    }
  });

  it('the decorated path itself still reaches its own first route too', () => {
    const scoped = compileRoutes([route('/admin', { scopes: ['admin'] }), route('/*', { scopes: ['base'] })]);
    expect(scoped.match('GET', '/admin').scopes).toEqual(['admin']);
    for (const path of ['/admin/', '/admin.json', '/Admin.JSON/']) expect(scoped.match('GET', path).scopes, path).toEqual(['admin', 'base']);
  });

  it('never truncates a segment to empty', () => {
    const root = compileRoutes([route('/', { scopes: ['root'] })]);
    expect(root.match('GET', '/.json')).toBe(DEFAULT_MATCH);
    expect(root.match('GET', '/')).toEqual(token(['root']));
    expect(root.match('GET', '//')).toEqual(token(['root']));
    const dotted = compileRoutes([route('/.json', { scopes: ['dot'] }), route('/.a', { scopes: ['a'] })]);
    expect(dotted.match('GET', '/.json')).toEqual(token(['dot']));
    expect(dotted.match('GET', '/.a.json')).toEqual(token(['a']));
  });

  it('lets a prefix route cover its name with a suffix', () => {
    const prefix = compileRoutes([route('/admin/*', { scopes: ['admin'] }), route('/*')]);
    expect(prefix.match('GET', '/admin.json').scopes).toEqual(['admin']);
    expect(prefix.match('GET', '/admin;x.json').scopes).toEqual(['admin']);
  });

  it('reads a trailing slash on the route as written away too', () => {
    const slashed = compileRoutes([route('/admin/', { scopes: ['admin'] }), route('//x//*', { scopes: ['x'] })]);
    expect(slashed.match('GET', '/admin').scopes).toEqual(['admin']);
    expect(slashed.match('GET', '/admin/').scopes).toEqual(['admin']);
    expect(slashed.match('GET', '/x/y').scopes).toEqual(['x']);
  });
});

describe('the requirements of every reading add up', () => {
  it('/admin.json reaches both /admin.json and /admin (Rails serves it as /admin)', () => {
    const both = compileRoutes([route('/admin.json', { scopes: ['read'] }), route('/admin', { scopes: ['admin'] })]);
    expect(both.match('GET', '/admin.json')).toEqual({
      auth: 'required', path: '/admin.json', scopes: ['read', 'admin'], ...unconditional,
      routes: [
        { path: '/admin.json', auth: 'required', scopes: ['read'], ...plain, index: 0 },
        { path: '/admin', auth: 'required', scopes: ['admin'], ...plain, index: 1 },
      ],
    });
    expect(both.match('GET', '/admin')).toEqual(token(['admin']));
    expect(both.match('GET', '/admin.xml')).toEqual(token(['admin']));
    // A combination is built once per table, not per request.
    expect(both.match('GET', '/admin.json')).toBe(both.match('GET', '/Admin.JSON/'));
  });

  it('in table order, each scope once', () => {
    const dots = compileRoutes([
      route('/a.b.json', { scopes: ['z', 'x'] }), route('/a', { scopes: ['x', 'y'] }), route('/a.b', { scopes: ['y', 'w'] }), route('/*', { scopes: ['base'] }),
    ]);
    expect(dots.match('GET', '/a.b.json').scopes).toEqual(['z', 'x', 'y', 'w']);
    expect(dots.match('GET', '/a.b.json').path).toBe('/a.b.json');
    expect(dots.match('GET', '/a.b.json').routes.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(dots.match('GET', '/a.b').scopes).toEqual(['x', 'y', 'w']);
    expect(dots.match('GET', '/a.c').scopes).toEqual(['x', 'y', 'base']);
  });

  it('a suffix reaches the prefix route above even when the whole path has a route of its own', () => {
    const docs = compileRoutes([route('/docs/a.json', { scopes: ['json'] }), route('/docs/*', { scopes: ['docs'] })]);
    expect(docs.match('GET', '/docs/a.json').scopes).toEqual(['json', 'docs']);
    expect(docs.match('GET', '/docs/a.json.json').scopes).toEqual(['json', 'docs']);
    expect(docs.match('GET', '/docs/b.json').scopes).toEqual(['docs']);
  });

  it('a trailing slash reaches the exact route and the prefix route both', () => {
    const two = compileRoutes([route('/admin', { scopes: ['admin'] }), route('/admin/*', { scopes: ['tree'] })]);
    expect(two.match('GET', '/admin/').scopes).toEqual(['admin', 'tree']);
    expect(two.match('GET', '/admin').scopes).toEqual(['admin']);
    expect(two.match('GET', '/admin/x').scopes).toEqual(['tree']);
  });

  it('a reading that reaches no route adds the default policy, which needs a token and nothing more', () => {
    const one = compileRoutes([route('/a', { scopes: ['x'] })]);
    expect(one.match('GET', '/a.json')).toEqual(token(['x']));
    expect(one.match('GET', '/a.json').path).toBe('/a');
  });

  it('per method', () => {
    const methods = compileRoutes([
      route('/a.json', { methods: ['POST'], scopes: ['post'] }), route('/a', { methods: ['GET'], scopes: ['get'] }), route('/*'),
    ]);
    expect(methods.match('GET', '/a.json').scopes).toEqual(['get']);
    expect(methods.match('HEAD', '/a.json').scopes).toEqual(['get']);
    expect(methods.match('POST', '/a.json').scopes).toEqual(['post']);
    expect(methods.match('PUT', '/a.json')).toEqual(token([]));
  });
});

describe('public routes match the raw path only, exactly as written', () => {
  const guarded = compileRoutes([route('/health', { auth: 'none' }), route('/public/*', { auth: 'none' }), route('/*', { scopes: ['base'] })]);

  it('serve their own path', () => {
    for (const path of ['/health', '/public', '/public/', '/public/a/b.css']) expect(guarded.match('GET', path), path).toEqual(PUBLIC);
  });

  it('never a variant of it: the token routes apply', () => {
    for (const path of ['/health/', '/Health', '/HEALTH', '/health;x', '/health;', '/health%3Bx', '/health%3bx', '/health.json',
      '/%68ealth', '//health', '/health//', '/public/x;y', '/public;x/y', '/PUBLIC/x', '/%70ublic/x', '/public/%61', '/public%3B/x']) {
      expect(guarded.match('GET', path), path).toEqual(token(['base']));
    }
  });

  it('win over token routes listed after them, for every reading', () => {
    const early = compileRoutes([route('/public/*', { auth: 'none' }), route('/public/secret', { scopes: ['s'] })]);
    expect(early.match('GET', '/public/secret')).toEqual(PUBLIC);
    expect(early.match('GET', '/public/secret.json')).toEqual(PUBLIC);
  });

  it('lose to a token route listed before them that any reading reaches', () => {
    const secret = compileRoutes([route('/public/secret', { scopes: ['s'] }), route('/public/*', { auth: 'none' })]);
    for (const path of ['/public/secret', '/public/secret/', '/public/secret.json', '/public/SECRET', '/public/Secret.JSON', '/public/secret;x']) {
      expect(secret.match('GET', path), path).toEqual(token(['s']));
    }
    expect(secret.match('GET', '/public/other')).toEqual(PUBLIC);
    expect(secret.match('GET', '/public/secrets')).toEqual(PUBLIC);
  });

  it('a public path with a suffix is public as written, and only as written', () => {
    const suffix = compileRoutes([route('/a.json', { auth: 'none' }), route('/a', { scopes: ['x'] })]);
    expect(suffix.match('GET', '/a.json')).toEqual(PUBLIC);
    for (const path of ['/a.JSON', '/a.json/', '/a.json;x', '/a', '/a/']) expect(suffix.match('GET', path), path).toEqual(token(['x']));
  });

  it('match their methods as configured', () => {
    const post = compileRoutes([route('/hook', { auth: 'none', methods: ['POST'] }), route('/*', { scopes: ['base'] })]);
    expect(post.match('POST', '/hook')).toEqual(PUBLIC);
    expect(post.match('GET', '/hook')).toEqual(token(['base']));
  });
});

describe('pathRefusal', () => {
  it('refuses a dot segment with parameters, in any spelling', () => {
    for (const path of ['/public/..;/api/orders', '/.;/a', '/a/..;', '/a/..;x/b', '/a/%2e%2e;/b', '/a/%2E%2E%3B/b', '/a/.%2e;/b', '/a/%2e.%3bx',
      '/a/%2e;', '/a/.%3B', '/..;', '/a//..;/b']) {
      expect(pathRefusal(path), path).toBe('The path holds a dot segment with parameters.');
    }
  });

  it('refuses an encoded slash, backslash or NUL in any case', () => {
    for (const path of ['/a%2fb', '/a%2Fb', '/a%5cb', '/a%5Cb', '/a%00', '/%2F', '/..;%2f']) {
      expect(pathRefusal(path), path).toBe('The path holds an encoded slash, backslash or NUL.');
    }
  });

  it('leaves other paths alone', () => {
    for (const path of ['/a/b', '/a%20b', '/a%252fb', '/%2', '/a%3Ab', '/a;b', '/a/...;x', '/a/a..;b', '/a/.x;y', '/a/..a;', '/a/%2e%2ex;',
      '/a/..', '/admin;jsessionid=1', '', 'x']) {
      expect(pathRefusal(path), path).toBeNull();
    }
  });
});

describe('missingScopes', () => {
  it('needs every scope of every route that applies', () => {
    const admin = table.match('GET', '/reports');
    expect(missingScopes(admin, new Set(['reports', 'read', 'extra']))).toEqual([]);
    expect(missingScopes(admin, new Set(['read']))).toEqual(['reports']);
    expect(missingScopes(admin, new Set())).toEqual(['reports', 'read']);
    expect(missingScopes(DEFAULT_MATCH, new Set())).toEqual([]);
    const both = compileRoutes([route('/a.json', { scopes: ['read'] }), route('/a', { scopes: ['admin'] })]).match('GET', '/a.json');
    expect(missingScopes(both, new Set(['read']))).toEqual(['admin']);
  });
});

describe('bounded work', () => {
  it('answers a 16 KiB path of dots or slashes like any other', () => {
    const many = compileRoutes([
      route('/health', { auth: 'none' }), route('/a/*', { scopes: ['a'] }), route('/a.b', { scopes: ['ab'] }), route('/*', { scopes: ['base'] }),
    ]);
    const dots = `/${'.'.repeat(16_384)}`;
    expect(many.match('GET', dots).scopes).toEqual(['base']);
    expect(many.match('GET', `/a${'.b'.repeat(8_192)}`).scopes).toEqual(['a', 'ab', 'base']);
    expect(many.match('GET', `/a/${'x.'.repeat(8_192)}`).scopes).toEqual(['a']);
    expect(many.match('GET', '/a'.repeat(8_192)).scopes).toEqual(['a']);
    expect(many.match('GET', `/A;${';'.repeat(16_384)}/x`).scopes).toEqual(['a']);
    expect(pathRefusal(`/${'.;'.repeat(8_192)}`)).toBe('The path holds a dot segment with parameters.');
    expect(pathRefusal(`/a${'.;'.repeat(8_192)}`)).toBeNull();
    expect(pathRefusal(`/${'%2e'.repeat(5_000)};`)).toBeNull();
  });
});

describe('method overrides: every method the origin may run the request as', () => {
  const table = compileRoutes([
    route('/health', { auth: 'none', methods: ['GET'] }),
    route('/admin/*', { methods: ['DELETE'], scopes: ['admin'] }),
    route('/admin/*', { methods: ['PUT'], scopes: ['write'] }),
    route('/*'),
  ]);
  const overrides = (headers: Record<string, string>, search = '', method = 'POST') => methodOverridesOf(method, new Headers(headers), search);

  it('reads the three headers (comma-separated too) and the _method query parameter, upper-case, without the own method', () => {
    expect(overrides({})).toEqual([]);
    expect(overrides({ 'x-http-method-override': 'delete' })).toEqual(['DELETE']);
    expect(overrides({ 'X-HTTP-Method': 'PUT', 'x-method-override': ' patch , post' })).toEqual(['PUT', 'PATCH']);
    expect(overrides({}, '?a=1&_method=DELETE&_method=put')).toEqual(['DELETE', 'PUT']);
    expect(overrides({}, '?_method=')).toEqual([]);
    expect(overrides({}, '?x_method=DELETE&method=PUT')).toEqual([]);
    expect(overrides({ 'x-http-method-override': 'GET' }, '', 'get')).toEqual([]);
  });

  it('reads a _method name after form-decoding it, as the frameworks that honour it do', () => {
    for (const name of ['_%6Dethod', '_%6dethod', '%5Fmethod', '%5fmethod', '%5F%6D%65%74%68%6F%64', '_meth%6Fd', '_METHOD', '_Method', '%5F%4D%45%54%48%4F%44']) {
      expect(overrides({}, `?${name}=DELETE`), name).toEqual(['DELETE']);
    }
    // The value is decoded too.
    expect(overrides({}, '?_method=%44ELETE')).toEqual(['DELETE']);
    expect(overrides({}, '?a=%20&_method=+put+')).toEqual(['PUT']);
  });

  it('reads the names PHP turns into _method (Laravel, Symfony): ".", space or "[" first, leading spaces dropped', () => {
    for (const name of ['.method', '%2Emethod', '%2emethod', ' method', '+method', '%20method', '[method', '%5Bmethod', '%5bmethod',
      '  _method', '++_method', '%20%20_method', ' .method', '+%2E%6Dethod', '+_method']) {
      expect(overrides({}, `?${name}=PUT`), name).toEqual(['PUT']);
    }
    for (const name of ['method', 'x_method', '__method', '_methods', '_method_', '%00_method', '%2B_method', '  method', '_me%74hod%3D', '_meth od']) {
      expect(overrides({}, `?${name}=PUT`), name).toEqual([]);
    }
  });

  it('reads a name up to its first NUL, as PHP does (php_register_variable_ex takes strlen of the decoded name)', () => {
    // `?_method%00=DELETE` is `$_GET['_method']` to Laravel and Symfony: a POST run as DELETE.
    for (const name of ['_method%00', '_method%00x', '_method%00%5B%5D', '.method%00', '+_method%00.', '%5F%6D%65%74%68%6F%64%00%3D']) {
      expect(overrides({}, `?${name}=DELETE`), name).toEqual(['DELETE']);
    }
    for (const name of ['%00_method', '_meth%00od', '_metho%00d']) expect(overrides({}, `?${name}=DELETE`), name).toEqual([]);
  });

  it('reads a value as the frameworks fold its case, Unicode included: the Kelvin sign K is k to Express method-override', () => {
    // method-override checks value.toLowerCase() against Node's methods and sets req.method; the
    // Express router lowercases it again: `?_method=LOC%E2%84%AA` (U+212A) reaches app.lock().
    expect(overrides({}, '?_method=LOC%E2%84%AA')).toEqual(['LOCK']);
    expect(overrides({}, '?_method=unloc%E2%84%AA')).toEqual(['UNLOCK']);
    expect(overrides({}, '?_method=M%E2%84%AACOL')).toEqual(['MKCOL']);
    // Java, Ruby and JavaScript upper-case the long s and the dotless i to S and I.
    expect(overrides({}, '?_method=OPTION%C5%BF', 'GET')).toEqual(['OPTIONS']);
    expect(overrides({}, '?_method=l%C4%B1nk')).toEqual(['LINK']);
    // Other letters outside ASCII name nothing any framework runs.
    expect(overrides({}, '?_method=DEL%C3%89TE')).toEqual([]);
    expect(overrides({}, '?_method=%C4%B0NFO')).toEqual([]);
  });

  it('reads the query as a plain decode-then-compare reading does (property)', () => {
    const spelled = (c: string) => {
      const hex = c.charCodeAt(0).toString(16).padStart(2, '0');
      return fc.constantFrom(c, `%${hex}`, `%${hex.toUpperCase()}`);
    };
    const piece = fc.oneof(
      fc.constantFrom(...'_.[ +methodMETHOD').chain(spelled),
      fc.constantFrom('method', '_method', 'x', '%', '%zz', '%4', '%C3%A9', '%00', '%2B', '%3D', '%26', '='),
    );
    // Names near `_method` (each character maybe escaped or in upper case, a lead PHP renames,
    // leading spaces, a stray character around) meet the rule often; random pieces add strangers.
    const letter = (c: string) => fc.constantFrom(c, c.toUpperCase()).chain(spelled);
    const nearMethod = fc.tuple(
      fc.array(fc.constantFrom(' ', '+', '%20'), { maxLength: 2 }),
      fc.constantFrom('_', '.', '[', ' ', '+', 'x', '', '__').chain((c) => (c.length === 1 && c !== '+' ? spelled(c) : fc.constant(c))),
      fc.tuple(...[...'method'].map(letter)),
      fc.constantFrom('', '', '', 's', '_', '%00', ']', '='),
    ).map(([lead, first, letters, tail]) => `${lead.join('')}${first}${letters.join('')}${tail}`);
    const name = fc.oneof(nearMethod, fc.array(piece, { maxLength: 10 }).map((parts) => parts.join('')));
    const value = fc.oneof(fc.constantFrom('DELETE', 'delete', 'PUT', '%44ELETE', 'PO%53T', '+patch+', '', 'DEL ETE', '<x>', 'GET',
      'LOC%E2%84%AA', 'PO%C5%BFT', 'l%C4%B1nk', '%C4%B0', '%E2%84%AA%C5%BF%C4%B1'), fc.string({ maxLength: 6 }),
    fc.array(fc.constantFrom('\u212a', '\u017f', '\u0131', '\u0130', '\u00df', 'k', 'S', '-'), { maxLength: 5 }).map((cs) => cs.join('')));
    const pair = fc.tuple(name, fc.option(value)).map(([n, v]) => (v === null ? n : `${n}=${v}`));
    const query = fc.oneof(fc.array(pair, { maxLength: 6 }).map((pairs) => `?${pairs.join('&')}`), fc.string(), fc.string({ unit: 'binary' }));
    fc.assert(fc.property(query, fc.constantFrom('POST', 'put', 'GET'), (search, method) => {
      expect(methodOverridesOf(method, new Headers(), search)).toEqual(overridesRead(method, search));
    }), { numRuns: 3_000 });
  });

  it('leaves out what no origin runs a request as, and refuses more than the bound', () => {
    expect(overrides({ 'x-http-method-override': 'DEL ETE, <script>, ' + 'A'.repeat(33) })).toEqual([]);
    const many = Array.from({ length: MAX_METHOD_OVERRIDES }, (_, i) => `M${i}`);
    expect(overrides({ 'x-http-method-override': many.join(',') })).toHaveLength(MAX_METHOD_OVERRIDES);
    expect(overrides({ 'x-http-method-override': [...many, 'M8'].join(',') })).toBeNull();
    // Repeats count once.
    expect(overrides({ 'x-http-method-override': Array(100).fill('DELETE').join(',') })).toEqual(['DELETE']);
  });

  it('holds the request to the routes of every method it names', () => {
    expect(table.match('POST', '/admin/users').scopes).toEqual([]);
    expect(table.match('POST', '/admin/users', ['DELETE']).scopes).toEqual(['admin']);
    expect(table.match('POST', '/admin/users', ['DELETE', 'PUT']).scopes).toEqual(['admin', 'write']);
    expect(table.match('DELETE', '/admin/users', ['PUT']).scopes).toEqual(['admin', 'write']);
    expect(table.match('POST', '/orders', ['DELETE'])).toMatchObject({ auth: 'required', scopes: [] });
  });

  it('a public route stays public only when every named method is public there', () => {
    expect(table.match('GET', '/health').auth).toBe('none');
    expect(table.match('GET', '/health', ['DELETE'])).toMatchObject({ auth: 'required', path: '/*', scopes: [] });
    const open = compileRoutes([route('/health', { auth: 'none' }), route('/*', { scopes: ['read'] })]);
    expect(open.match('GET', '/health', ['DELETE']).auth).toBe('none');
  });
});

/** The model of a query's `_method` parameters: split on "&", a name up to its first "=", "+" as
 *  a space, percent-escapes decoded as UTF-8 bytes (the form-urlencoded reading every framework
 *  makes), then compared with `_method` (any case) and the names PHP renames to it. */
function overridesRead(method: string, search: string): readonly string[] | null {
  const formDecode = (text: string): string => {
    const bytes = new TextEncoder().encode(text.replaceAll('+', ' '));
    const out: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const hex = String.fromCharCode(bytes[i + 1] ?? 0, bytes[i + 2] ?? 0);
      if (bytes[i] === 0x25 && /^[0-9a-fA-F]{2}$/.test(hex)) {
        out.push(parseInt(hex, 16));
        i += 2;
      } else {
        out.push(bytes[i]!);
      }
    }
    return new TextDecoder().decode(new Uint8Array(out));
  };
  const READ_AS_METHOD = new Set(['_method', '.method', ' method', '[method']);
  const values: string[] = [];
  for (const pair of (search.startsWith('?') ? search.slice(1) : search).split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    // Up to its first NUL, as PHP reads a name (a C string); PHP also drops leading spaces.
    const name = formDecode(at === -1 ? pair : pair.slice(0, at)).toLowerCase().split('\0')[0]!;
    const phpName = name.replace(/^ +/, '');
    if (READ_AS_METHOD.has(name) || READ_AS_METHOD.has(phpName)) values.push(formDecode(at === -1 ? '' : pair.slice(at + 1)));
  }
  const methods: string[] = [];
  for (const value of values) {
    // Upper-cased as Java, Ruby and JavaScript do, and lower-cased first as Express does.
    for (const candidate of new Set([value.trim().toUpperCase(), value.trim().toLowerCase().toUpperCase()])) {
      if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(candidate) && candidate !== method.toUpperCase() && !methods.includes(candidate)) methods.push(candidate);
      if (methods.length > MAX_METHOD_OVERRIDES) return null;
    }
  }
  return methods;
}
