// Scope requirements of the routes that apply (docs/errors.md): every scope any of
// them lists is needed.
//
//   const missing = missingScopes(matched, token.scopes);
//   if (missing.length > 0) return deny({ error: 'insufficient_scope', needed: matched.scopes });
import type { RouteMatch } from './routes';

/** The scopes the token was not granted, in the match's order. */
export function missingScopes(route: Pick<RouteMatch, 'scopes'>, granted: ReadonlySet<string>): string[] {
  return route.scopes.filter((scope) => !granted.has(scope));
}

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). What a route may require and what a
 *  token's scopes are read as; anything else is never granted and never forwarded. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
export const isScopeToken = (value: string): boolean => SCOPE_TOKEN.test(value);
