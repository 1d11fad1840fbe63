// Scope requirements of a route (SPEC.md "Verification rules"): every scope it lists is needed.
//
//   const missing = missingScopes(route, token.scopes);
//   if (missing.length > 0) return deny({ error: 'insufficient_scope', needed: route.scopes });
import type { Route } from './routes';

/** The route's scopes the token was not granted, in the route's order. */
export function missingScopes(route: Pick<Route, 'scopes'>, granted: ReadonlySet<string>): string[] {
  return route.scopes.filter((scope) => !granted.has(scope));
}
