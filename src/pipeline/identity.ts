// What the pipeline says about a verified caller: the identity a door hands on (the origin's
// x-auth-* headers, the Hono context's `auth`, the RPC result). The package exports it as
// AuthIdentity. Read-only: its scopes are a ScopeSet and its claims deep-frozen (verify/token.ts),
// shared with later requests of the same token through the verified-token cache.
//
//   const identity: Identity | null = c.get('auth');   // null on an `auth: none` route
//   identity?.scopes.has('orders:read');

export interface Identity {
  readonly tenant: string;
  readonly issuer: string;
  readonly subject: string | null;
  readonly clientId: string | null;
  readonly scopes: ReadonlySet<string>;
  readonly claims: Readonly<Record<string, unknown>>;
  /** How the request proved possession of a sender-constrained token; null for a bearer token. */
  readonly pop: 'dpop' | 'mtls' | null;
}
