// Route policy (docs/configuration.md): which routes a method and path fall under, compiled once per
// tenant load. Matching fails toward more protection, because the origin behind the edge may
// read a path more loosely than the edge does.
//
//   const routes = compileRoutes(config.routes);                // once per tenant load
//   const refusal = pathRefusal(url.pathname);                  // non-null: 400 invalid_request
//   const matched = matchRoute(routes, request.method, url.pathname);   // the default policy when none applies
//   matched.auth === 'none' || missingScopes(matched, token.scopes);
//
// A path is read every way an origin might read it (its readings): the lenient form (ASCII
// escapes decoded, lowercase, path parameters dropped, characters up to U+0020 at segment edges
// trimmed, slashes merged), that form without one
// trailing slash, and that without each format suffix of its last segment. Each reading reaches
// its first token route; a public route matches the raw path only, exactly as written, and wins
// only when no reading reaches a token route listed before it. Otherwise the requirements of
// every token route reached before it add up, so a decorated path is never less protected:
// scopes, claim conditions and step-up alike (conditions.ts says how the latter combine).
import type { RouteConfig } from '../config/schema';
import { combineConditions, compileClaimConditions, NO_CONDITIONS, type ClaimCondition, type RouteConditions } from './conditions';

export interface Route {
  /** The configured path. */
  readonly path: string;
  readonly auth: 'none' | 'required';
  readonly scopes: readonly string[];
  /** Claim conditions, in the order written (none: empty). */
  readonly claims: readonly ClaimCondition[];
  /** Accepted `acr` values (RFC 9470), in order of preference; null when not required. */
  readonly acr: readonly string[] | null;
  readonly maxAuthAgeSeconds: number | null;
  /** Position in the tenant's list. */
  readonly index: number;
}

/** What applies to one request: a public route, or a token and the requirements of every token
 *  route the path's readings reached (`claims` and `stepUp` combined by conditions.ts). */
export interface RouteMatch extends RouteConditions {
  readonly auth: 'none' | 'required';
  /** For the decision log: the configured path of the first route that applied; '/*' for the default policy. */
  readonly path: string;
  /** Every scope the applied token routes require (union, in table order, no duplicates). */
  readonly scopes: readonly string[];
  /** The token routes that applied, in table order (empty for auth none and for the default policy). */
  readonly routes: readonly Route[];
}

/** What applies when no route matches: a token is required, no scopes. */
export const DEFAULT_MATCH: RouteMatch = Object.freeze({
  auth: 'required', path: '/*', scopes: Object.freeze([]), routes: Object.freeze([]), ...NO_CONDITIONS,
});

/** The route step: what applies to the request (the default policy without a path: RPC without
 *  one), or why it is refused outright (400 invalid_request): a path an origin may read
 *  otherwise (pathRefusal), or more than MAX_METHOD_OVERRIDES methods named (methodOverridesOf). */
export function routeOf(table: RouteTable, method: string, pathname: string | null, overrides: readonly string[] | null):
  RouteMatch | string {
  if (pathname === null) return overrides === null ? TOO_MANY_METHODS : DEFAULT_MATCH;
  const refusal = pathRefusal(pathname);
  if (refusal !== null) return refusal;
  if (overrides === null) return TOO_MANY_METHODS;
  return matchRoute(table, method, pathname, overrides);
}

/** Why the path is refused outright (400 invalid_request), or null. Origins disagree on what an
 *  encoded slash, backslash or NUL means, and Tomcat, Jetty and Spring read `..;` as `..`: a
 *  `/public/..;/admin` the edge sees under /public/* would reach /admin. */
export function pathRefusal(pathname: string): string | null {
  if (!pathname.includes('%') && !pathname.includes(';')) return null;
  if (ENCODED_SEPARATOR.test(pathname)) return 'The path holds an encoded slash, backslash or NUL.';
  if (DOT_SEGMENT_WITH_PARAMETERS.test(pathname)) return 'The path holds a dot segment with parameters.';
  return null;
}
const ENCODED_SEPARATOR = /%(?:2f|5c|00)/i;

/** Where origins let a client name another method than the request's (on POST, mostly): the
 *  headers of Rails' Rack::MethodOverride, Express's method-override, Laravel, Symfony and
 *  ASP.NET Core, and the `_method` query parameter (Symfony, Laravel, Spring's
 *  HiddenHttpMethodFilter, method-override with a query getter). A form field `_method` in the
 *  body is not read (docs/configuration.md). */
const OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;
/** More than this many distinct methods named: 400 (each costs one more route match). */
export const MAX_METHOD_OVERRIDES = 8;
const TOO_MANY_METHODS = `The request names more than ${MAX_METHOD_OVERRIDES} methods.`;
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
const NO_OVERRIDES: readonly string[] = Object.freeze([]);
const ASCII = /^[\x00-\x7f]*$/;
/** A query that may name `_method`: the letters as written, or an escape of an ASCII letter
 *  (%41-%7A: any spelling of a name holds one of the two). Most queries stop here. */
const MAY_NAME_METHOD = /method|%[4-7][0-9a-f]/i;
/** A query parameter name, form-decoded, that frameworks read as `_method` (any case): PHP
 *  (Laravel, Symfony) drops leading spaces, turns a leading `.` into `_` and ends the name at its
 *  first NUL (a C string: `_method%00x` is `_method`); a leading space or `[` is taken too, as the
 *  PHP renaming is described (more protection, never less). */
const METHOD_PARAMETER = /^(?: *[_.[]| )method(?:\0|$)/i;

/** The other methods a request names for itself, upper-case, without its own; null when it
 *  names more than MAX_METHOD_OVERRIDES. Values that are no method token once case-folded are
 *  left out: no origin runs a request as one. A value is folded as the frameworks fold it, so
 *  outside ASCII too: upper-cased (Java, Ruby and JavaScript make the long s and the dotless i
 *  S and I), and lower-cased first (Express's method-override checks `toLowerCase()` against
 *  Node's methods and its router lowercases again: the Kelvin sign U+212A is a k). */
export function methodOverridesOf(method: string, headers: Headers, search: string): readonly string[] | null {
  let named: string[] | null = null;
  for (const name of OVERRIDE_HEADERS) {
    const value = headers.get(name);
    if (value !== null) (named ??= []).push(...value.split(','));
  }
  // Names are read after form-decoding (`+` a space, escapes decoded), as every framework that
  // honours `_method` reads them: `?_%6Dethod=DELETE` names DELETE.
  if (MAY_NAME_METHOD.test(search)) {
    for (const [name, value] of new URLSearchParams(search)) if (METHOD_PARAMETER.test(name)) (named ??= []).push(value);
  }
  if (named === null) return NO_OVERRIDES;
  const own = method.toUpperCase();
  const methods = new Set<string>();
  for (const value of named) {
    const candidate = value.trim();
    const upper = candidate.toUpperCase();
    if (METHOD_TOKEN.test(upper) && upper !== own) methods.add(upper);
    if (!ASCII.test(candidate)) {
      const folded = candidate.toLowerCase().toUpperCase();
      if (METHOD_TOKEN.test(folded) && folded !== own) methods.add(folded);
    }
    if (methods.size > MAX_METHOD_OVERRIDES) return null;
  }
  return methods.size === 0 ? NO_OVERRIDES : [...methods];
}
const DOT_SEGMENT_WITH_PARAMETERS = /(?:^|\/)(?:\.|%2e){1,2}(?:;|%3b)/i;

export interface CompiledRoute {
  readonly index: number;
  /** null: all methods. Upper-case; HEAD wherever GET is. */
  readonly methods: ReadonlySet<string> | null;
  /** Public routes: the path as written. Token routes: its lenient form without a trailing
   *  slash (a token route written `/admin/` covers `/admin` too: more protection, never less).
   *  For `/x/*` the prefix `/x` (empty for `/*`). */
  readonly base: string;
  readonly prefix: boolean;
  /** The answer when this route alone applies, built once. */
  readonly matched: RouteMatch;
}

type Reached = CompiledRoute | null;

const EMPTY: readonly CompiledRoute[] = Object.freeze([]);
const SLASH = 47;

/** A tenant's routes compiled once per load: the public routes in table order, the token routes
 *  by the length of their base (a reading is compared only with bases as long as itself, and for
 *  prefixes as long as one of its ancestors, never with the whole table), and the combinations
 *  of routes already built. Read by matchRoute; `match` is the same call. */
export class RouteTable {
  /** Every scope any route requires (for the RFC 9728 metadata). */
  readonly scopes: readonly string[];
  readonly publicRoutes: readonly CompiledRoute[];
  readonly tokenByLength: ReadonlyMap<number, readonly CompiledRoute[]>;
  readonly prefixByLength: ReadonlyMap<number, readonly CompiledRoute[]>;
  /** The lengths of prefix bases, ascending. */
  readonly prefixLengths: readonly number[];
  /** Token routes by their position in the table. */
  readonly tokenRoutes: readonly CompiledRoute[];
  /** The position of the first token route (Infinity: none), and the longest token base. */
  readonly firstToken: number;
  readonly longestToken: number;
  /** Combinations of token routes a request reached, built once each (at most MAX_COMBINATIONS). */
  readonly combinations = new Map<number | string, RouteMatch>();

  constructor(routes: readonly RouteConfig[]) {
    const publicRoutes: CompiledRoute[] = [];
    const tokenByLength = new Map<number, CompiledRoute[]>();
    const prefixByLength = new Map<number, CompiledRoute[]>();
    const tokenRoutes: CompiledRoute[] = [];
    let firstToken = Infinity;
    let longestToken = -1;
    routes.forEach((config, index) => {
      const compiled = compileRoute(config, index);
      if (compiled.matched.auth === 'none') {
        publicRoutes.push(compiled);
        return;
      }
      tokenRoutes[index] = compiled;
      push(tokenByLength, compiled.base.length, compiled);
      if (compiled.prefix) push(prefixByLength, compiled.base.length, compiled);
      firstToken = Math.min(firstToken, index);
      longestToken = Math.max(longestToken, compiled.base.length);
    });
    this.scopes = Object.freeze([...new Set(routes.flatMap((r) => r.scopes))]);
    this.publicRoutes = publicRoutes;
    this.tokenByLength = tokenByLength;
    this.prefixByLength = prefixByLength;
    this.prefixLengths = [...prefixByLength.keys()].sort((a, b) => a - b);
    this.tokenRoutes = tokenRoutes;
    this.firstToken = firstToken;
    this.longestToken = longestToken;
  }

  /** matchRoute(this, …). */
  match(method: string, pathname: string, overrides?: readonly string[]): RouteMatch {
    return matchRoute(this, method, pathname, overrides);
  }
}

export const compileRoutes = (routes: readonly RouteConfig[]): RouteTable => new RouteTable(routes);

/** One configured route: its methods, the base its readings are compared with, and the answer
 *  when it alone applies. */
function compileRoute(config: RouteConfig, index: number): CompiledRoute {
  const prefix = config.path.endsWith('/*');
  const written = prefix ? config.path.slice(0, -2) : config.path;
  let methods: Set<string> | null = null;
  if (config.methods) {
    methods = new Set(config.methods.map((m) => m.toUpperCase()));
    if (methods.has('GET')) methods.add('HEAD');
  }
  const route: Route = Object.freeze({
    path: config.path, auth: config.auth, scopes: Object.freeze([...config.scopes]),
    claims: compileClaimConditions(config.claims),
    acr: config.acr === undefined ? null : Object.freeze([...new Set(config.acr)]),
    maxAuthAgeSeconds: config.maxAuthAgeSeconds ?? null,
    index,
  });
  if (config.auth === 'none') {
    const matched: RouteMatch = Object.freeze({
      auth: 'none', path: config.path, scopes: Object.freeze([]), routes: Object.freeze([]), ...NO_CONDITIONS,
    });
    return { index, methods, base: written, prefix, matched };
  }
  const lenient = lenientForm(written);
  const trailing = lenient.length > (prefix ? 0 : 1) && lenient.charCodeAt(lenient.length - 1) === SLASH;
  const matched: RouteMatch = Object.freeze({
    auth: 'required', path: config.path, scopes: route.scopes, routes: Object.freeze([route]), ...combineConditions([route]),
  });
  return { index, methods, base: trailing ? lenient.slice(0, -1) : lenient, prefix, matched };
}

/** The public route or the token routes that apply; the default policy when none does. With
 *  `overrides` (methodOverridesOf), every method the origin may run the request as is read, and
 *  the requirements of each add up, as the path's readings do. */
export function matchRoute(table: RouteTable, method: string, pathname: string, overrides: readonly string[] = NO_OVERRIDES): RouteMatch {
  const own = matchOne(table, method, pathname);
  if (overrides.length === 0) return own;
  // Every method the origin may run it as: a token when any needs one, every route reached.
  let required = own.auth === 'required';
  const reached: CompiledRoute[] = own.routes.map((r) => table.tokenRoutes[r.index]!);
  for (const other of overrides) {
    const matched = matchOne(table, other, pathname);
    if (matched.auth === 'none') continue;
    required = true;
    for (const r of matched.routes) reached.push(table.tokenRoutes[r.index]!);
  }
  if (!required) return own;
  return reached.length === 0 ? DEFAULT_MATCH : combined(table, reached);
}

/** What applies for one method: the public route the raw path reaches first, else the token
 *  routes the path's readings reach before it. */
function matchOne(table: RouteTable, method: string, pathname: string): RouteMatch {
  const plain = !NEEDS_LENIENCY.test(pathname);
  // A raw path holding ";" or "%" is never public: the origin reads it as something else.
  const open = table.publicRoutes.length === 0 || (!plain && RAW_ONLY.test(pathname)) ? null : firstPublic(table, method, pathname);
  if (open !== null && open.index < table.firstToken) return open.matched;
  // A token route applies when a reading reaches it before the public route (if any).
  const bound = open === null ? Infinity : open.index;

  const upper = LOWERCASE.test(method) ? method.toUpperCase() : method;
  const lenient = plain ? pathname : lenientForm(pathname);
  const trimmed = lenient.length > 1 && lenient.charCodeAt(lenient.length - 1) === SLASH ? lenient.slice(0, -1) : lenient;
  const above = firstAbove(table, trimmed, upper);
  const first = before(earlier(firstAt(table, trimmed, upper, false), above), bound);
  // The token routes other readings reach, only built when there are any.
  let more: CompiledRoute[] | null = null;

  if (trimmed !== lenient) {
    // The lenient form with its trailing slash. No token base ends in a slash, so it reaches
    // a prefix route at `trimmed` or one above.
    const reached = before(earlier(firstAt(table, trimmed, upper, true), above), bound);
    if (reached !== null && reached !== first) more = [reached];
  }

  // The format suffixes of the last segment (`/a.b.json`: `/a.b`, `/a`), never truncated to
  // empty. A truncation reaches a route of its own only when some base is exactly as long;
  // every other one reaches `above`, so only dots within the longest base are visited.
  const named = trimmed.lastIndexOf('/') + 2;
  if (named <= trimmed.length) {
    const longest = table.longestToken;
    let aboveReached = trimmed.indexOf('.', Math.max(named, longest + 1)) !== -1;
    for (let at = trimmed.indexOf('.', named); at !== -1 && at <= longest; at = trimmed.indexOf('.', at + 1)) {
      const own = table.tokenByLength.has(at) ? firstAt(table, trimmed.slice(0, at), upper, false) : null;
      const reached = earlier(own, above);
      if (reached === above) aboveReached = true;
      else if (reached!.index < bound) (more ??= []).push(reached!);
    }
    if (aboveReached && above !== null && above.index < bound && above !== first) (more ??= []).push(above);
  }

  if (more === null) return first?.matched ?? open?.matched ?? DEFAULT_MATCH;
  if (first !== null) more.push(first);
  return combined(table, more);
}

/** The first public route the raw path and method match exactly as written. */
function firstPublic(table: RouteTable, method: string, raw: string): Reached {
  for (const r of table.publicRoutes) {
    if (r.methods !== null && !r.methods.has(method)) continue;
    if (raw === r.base || (r.prefix && raw.charCodeAt(r.base.length) === SLASH && raw.startsWith(r.base))) return r;
  }
  return null;
}

/** The first token route whose base is the reading itself (`prefixOnly`: only prefix routes). */
function firstAt(table: RouteTable, reading: string, method: string, prefixOnly: boolean): Reached {
  if (reading.length > table.longestToken) return null;
  const candidates = (prefixOnly ? table.prefixByLength : table.tokenByLength).get(reading.length) ?? EMPTY;
  for (const r of candidates) if (r.base === reading && (r.methods === null || r.methods.has(method))) return r;
  return null;
}

/** The first prefix token route whose base is a proper ancestor of the reading. The readings
 *  of one path differ only after their last slash, so they all share this answer. */
function firstAbove(table: RouteTable, reading: string, method: string): Reached {
  let first: Reached = null;
  for (const length of table.prefixLengths) {
    if (length >= reading.length) break;
    if (reading.charCodeAt(length) !== SLASH) continue;
    for (const r of table.prefixByLength.get(length)!) {
      if (first !== null && r.index > first.index) break;
      if ((r.methods === null || r.methods.has(method)) && reading.startsWith(r.base)) { first = r; break; }
    }
  }
  return first;
}

/** The requirements of several token routes: every scope of each, in table order, and their
 *  conditions combined. Built once per combination and kept (a bounded few: a table has few
 *  routes that overlap). */
function combined(table: RouteTable, reached: CompiledRoute[]): RouteMatch {
  let low = reached[0]!;
  let high = low;
  for (const r of reached) {
    if (r.index < low.index) low = r;
    if (r.index > high.index) high = r;
  }
  if (low === high) return low.matched;
  const key = high.index < MASKABLE ? maskOf(reached) : [...new Set(reached.map((r) => r.index))].sort((a, b) => a - b).join(',');
  const known = table.combinations.get(key);
  if (known !== undefined) return known;
  const routes = [...new Set(reached)].sort((a, b) => a.index - b.index).map((r) => r.matched.routes[0]!);
  const matched: RouteMatch = Object.freeze({
    auth: 'required',
    path: routes[0]!.path,
    scopes: Object.freeze([...new Set(routes.flatMap((r) => r.scopes))]),
    routes: Object.freeze(routes),
    ...combineConditions(routes),
  });
  if (table.combinations.size < MAX_COMBINATIONS) table.combinations.set(key, matched);
  return matched;
}

/** How many combinations of routes a table keeps built; past that they are built per request. */
const MAX_COMBINATIONS = 256;
/** Positions below this name a combination by one number: a bit each, 31 in a low word and 22
 *  in a high one, exact in a double. */
const MASKABLE = 53;

function maskOf(routes: readonly CompiledRoute[]): number {
  let low = 0;
  let high = 0;
  for (const r of routes) {
    if (r.index < 31) low |= 1 << r.index;
    else high |= 1 << (r.index - 31);
  }
  return high * 0x8000_0000 + low;
}

const before = (r: Reached, bound: number): Reached => (r !== null && r.index < bound ? r : null);
const earlier = (a: Reached, b: Reached): Reached => (a === null ? b : b === null || a.index < b.index ? a : b);

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** Escapes of ASCII that origins decode before routing: the unreserved characters (RFC 3986
 *  §6.2.2.2), the reserved ones too (Go's ServeMux, Django, Flask, Spring and Tomcat serve
 *  `/v1/items%3Apurge` as `/v1/items:purge`, `/users/%40me` as `/users/@me`), and the controls a
 *  segment's edges may hold. Not `%2F`, `%5C` and `%00` (refused before matching), nor `%25`:
 *  decoding that would read a second round of escapes no origin reads. Non-ASCII escapes stay:
 *  no route base holds them. */
const ENCODED_ASCII = /%(?:0[1-9a-f]|1[0-9a-f]|2[0-46-9a-e]|3[0-9a-f]|4[0-9a-f]|5[0-9abd-f]|6[0-9a-f]|7[0-9a-f])/gi;
/** A character up to U+0020, which origins that trim path tokens drop at a segment's edges
 *  (Spring's AntPathMatcher with trimTokens, CVE-2016-5007, trims as Java's String.trim()):
 *  `/admin%20/x` and `/admin%0b/x` are `/admin/x` there. */
const EDGE_CHARACTER = /[\x00-\x20]/;
/** Anything the lenient form would change: upper case, an escape, a parameter, a character up
 *  to U+0020 (raw only in a path no URL parser made), a doubled slash. */
const NEEDS_LENIENCY = /[A-Z%;\x00-\x20]|\/\//;
const RAW_ONLY = /[%;]/;
const LOWERCASE = /[a-z]/;
/** A segment's path parameters (RFC 3986 §3.3; Tomcat, Jetty, Spring): `;` or `%3b`, to the next slash. */
const PARAMETERS = /(?:;|%3b)[^/]*/g;
const SLASHES = /\/{2,}/g;

/** The form token routes match: an origin may well serve `/ADMIN;x/y`, `/%61dmin/y` or
 *  (nginx merge_slashes) `//admin/y` as `/admin/y`, so those must not escape `/admin/*`.
 *  Parameters go before slashes merge, so `/a/;x/b` reads as `/a/b`. */
function lenientForm(path: string): string {
  if (!NEEDS_LENIENCY.test(path)) return path;
  let form = path.includes('%') ? path.replace(ENCODED_ASCII, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16))) : path;
  form = form.toLowerCase();
  if (form.includes(';') || form.includes('%3b')) form = form.replace(PARAMETERS, '');
  if (EDGE_CHARACTER.test(form)) form = trimSegmentEdges(form);
  return form.includes('//') ? form.replace(SLASHES, '/') : form;
}

/** Every segment without the characters up to U+0020 at its edges, in one pass (a regex with a
 *  lookahead would backtrack over a long run of them, once per position). */
function trimSegmentEdges(path: string): string {
  let trimmed = '';
  for (let start = 0; ; ) {
    const slash = path.indexOf('/', start);
    let from = start;
    let to = slash === -1 ? path.length : slash;
    while (from < to && path.charCodeAt(from) <= 0x20) from++;
    while (to > from && path.charCodeAt(to - 1) <= 0x20) to--;
    trimmed += path.slice(from, to);
    if (slash === -1) return trimmed;
    trimmed += '/';
    start = slash + 1;
  }
}
