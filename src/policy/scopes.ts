// Scope requirements of a route (SPEC.md "Verification rules"): every scope it lists is needed.
//
//   const missing = missingScopes(route, token.scopes);
//   if (missing.length > 0) return deny({ error: 'insufficient_scope', needed: route.scopes });
import type { Route } from './routes';

/** The route's scopes the token was not granted, in the route's order. */
export function missingScopes(route: Pick<Route, 'scopes'>, granted: ReadonlySet<string>): string[] {
  return route.scopes.filter((scope) => !granted.has(scope));
}

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). What a route may require and what a
 *  token's scopes are read as; anything else is never granted and never forwarded. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
export const isScopeToken = (value: string): boolean => SCOPE_TOKEN.test(value);
