// Scope requirements of the routes that apply (SPEC.md "Verification rules"): every scope any of
// them lists is needed.
//
//   const missing = missingScopes(matched, token.scopes);
//   if (missing.length > 0) return deny({ error: 'insufficient_scope', needed: matched.scopes });
import type { RouteMatch } from './routes';

/** The scopes the token was not granted, in the match's order. */
export function missingScopes(route: Pick<RouteMatch, 'scopes'>, granted: ReadonlySet<string>): string[] {
  return route.scopes.filter((scope) => !granted.has(scope));
}
