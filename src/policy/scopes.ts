// Scope requirements of the routes that apply (docs/errors.md): every scope any of
// them lists is needed.
//
//   const missing = missingScopes(matched, token.scopes);
//   if (missing.length > 0) return deny({ error: 'insufficient_scope', needed: matched.scopes });

/** The scopes the token was not granted, in the match's order. */
export function missingScopes(route: { readonly scopes: readonly string[] }, granted: ReadonlySet<string>): string[] {
  return route.scopes.filter((scope) => !granted.has(scope));
}
