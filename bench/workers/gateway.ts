// The product's own Worker (the gateway), imported as its package exports it: the default
// export's fetch, the Verifier entrypoint and the Durable Object classes wrangler.toml binds.
export { default, Directory, IssuerKeys, RateLimiter, TenantState, Verifier } from 'edge-token-verifier';
