// Scope requirements of the routes that apply (docs/errors.md): every scope any of
// them lists is needed.
//
//   const missing = missingScopes(matched, token.scopes);
//   if (missing.length > 0) return deny({ error: 'insufficient_scope', needed: matched.scopes });

/** The scopes the token was not granted, in the match's order. A token with every scope (every
 *  admitted request) gets one shared empty list: nothing allocated per request. */
export function missingScopes(route: { readonly scopes: readonly string[] }, granted: ReadonlySet<string>): readonly string[] {
  let missing: string[] | null = null;
  for (const scope of route.scopes) if (!granted.has(scope)) (missing ??= []).push(scope);
  return missing ?? NONE_MISSING;
}
const NONE_MISSING: readonly string[] = Object.freeze([]);
