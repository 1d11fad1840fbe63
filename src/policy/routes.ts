// Route policy (SPEC.md "Routes"): which route a method and path fall under, compiled once
// per tenant load. First match wins; matching fails toward more protection.
//
//   const routes = compileRoutes(config.routes);
//   if (hasEncodedSeparator(url.pathname)) return invalid_request;
//   const route = routes.match(request.method, url.pathname);   // default policy when none matches
//   route.auth === 'none' || missingScopes(route, token.scopes);
import type { RouteConfig } from '../tenants/schema';

export interface Route {
  /** The configured path, or '/*' for the default policy when nothing matched. */
  readonly path: string;
  readonly auth: 'none' | 'required';
  readonly scopes: readonly string[];
  /** Position in the tenant's list; -1 for the default policy (token required, no scopes). */
  readonly index: number;
}

export interface RouteTable {
  /** First route whose path and methods match; the default policy when none does. */
  match(method: string, pathname: string): Route;
  /** Every scope any route requires (for the RFC 9728 metadata). */
  readonly scopes: readonly string[];
}

/** What applies when no route matches: a token is required, no scopes. */
export const DEFAULT_ROUTE: Route = Object.freeze({ path: '/*', auth: 'required', scopes: Object.freeze([]), index: -1 });

/** An encoded slash, backslash or NUL: origins disagree on what they mean, so we refuse them. */
export function hasEncodedSeparator(pathname: string): boolean {
  return pathname.includes('%') && ENCODED_SEPARATOR.test(pathname);
}
const ENCODED_SEPARATOR = /%(?:2f|5c|00)/i;

interface CompiledRoute {
  readonly route: Route;
  /** Compare against the raw path and method (public routes) or the lenient forms (token routes). */
  readonly lenient: boolean;
  /** null: all methods. */
  readonly methods: ReadonlySet<string> | null;
  /** The exact path, or for `/x/*` the prefix `/x` (empty for `/*`). */
  readonly base: string;
  readonly prefix: boolean;
}

export function compileRoutes(routes: readonly RouteConfig[]): RouteTable {
  const compiled: CompiledRoute[] = routes.map((config, index) => {
    const lenient = config.auth !== 'none';
    const prefix = config.path.endsWith('/*');
    const base = prefix ? config.path.slice(0, -2) : config.path;
    let methods: Set<string> | null = null;
    if (config.methods) {
      methods = new Set(config.methods.map((m) => m.toUpperCase()));
      if (methods.has('GET')) methods.add('HEAD');
    }
    const route: Route = Object.freeze({
      path: config.path, auth: config.auth, scopes: Object.freeze([...config.scopes]), index,
    });
    return { route, lenient, methods, base: lenient ? lenientPath(base) : base, prefix };
  });
  const scopes = Object.freeze([...new Set(routes.flatMap((r) => r.scopes))]);
  const anyLenient = compiled.some((r) => r.lenient);

  return {
    scopes,
    match(method, pathname) {
      // Computed at most once per request, and only when some token route needs them.
      const path = anyLenient ? lenientPath(pathname) : pathname;
      const upperMethod = anyLenient ? method.toUpperCase() : method;
      for (const r of compiled) {
        if (r.methods !== null && !r.methods.has(r.lenient ? upperMethod : method)) continue;
        const p = r.lenient ? path : pathname;
        if (r.prefix ? p === r.base || p.startsWith(r.base + '/') : p === r.base) return r.route;
      }
      return DEFAULT_ROUTE;
    },
  };
}

// RFC 3986 §6.2.2.2: percent-encoded unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~").
const ENCODED_UNRESERVED = /%(?:4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|3[0-9]|2[de]|5f|7e)/gi;
const NEEDS_LENIENCY = /[A-Z%]|\/\//;

/** The form token routes match against: an origin may well serve `/ADMIN/x`, `/%61dmin/x` or
 *  (nginx merge_slashes) `//admin/x` as `/admin/x`, so those must not escape `/admin/*`. */
function lenientPath(path: string): string {
  if (!NEEDS_LENIENCY.test(path)) return path;
  return path
    .replace(ENCODED_UNRESERVED, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)))
    .toLowerCase()
    .replace(/\/{2,}/g, '/');
}
