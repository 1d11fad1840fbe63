// @ts-check
// The demo tenants of the local stack and their OAuth clients: what `npm start` seeds through the
// admin API, what the demo issuer issues tokens for, and what `npm run token` asks for.
//
//   const issuer = await startIssuer({ resources: demoResources() });
//   for (const config of demoTenants({ issuer: issuer.url, upstream: origin.url })) await put(config);
//   const { clientId, clientSecret, resource } = DEMO_CLIENTS.acme;
//   const issuer = await startIssuer({ resources: demoResources(), webClients: demoWebClients({ edgePort: 8787 }) });
//   DEMO_WEB_CLIENT.clientId;   // acme's web app: users log in (dev/session.mjs), logouts reach the edge

/**
 * One demo tenant's client: the client credentials (dev-only secrets) and the API it calls.
 * @typedef {{ tenant: string, host: string, clientId: string, clientSecret: string, resource: string, alg: 'RS256' | 'ES256', scopes: string[] }} DemoClient
 */

/** @type {Readonly<Record<'acme' | 'globex', DemoClient>>} */
export const DEMO_CLIENTS = {
  // acme's API takes RS256 tokens, globex's ES256: the one issuer publishes both kinds of key.
  acme: {
    tenant: 'acme', host: 'api.acme.test', resource: 'https://api.acme.test', alg: 'RS256',
    clientId: 'acme-service', clientSecret: 'acme-demo-secret', scopes: ['read', 'write', 'admin'],
  },
  globex: {
    tenant: 'globex', host: 'api.globex.test', resource: 'https://api.globex.test', alg: 'ES256',
    clientId: 'globex-service', clientSecret: 'globex-demo-secret', scopes: ['read', 'write', 'admin'],
  },
};

/**
 * acme's web app: a public client whose users log in by the authorization code flow with PKCE
 * (dev/session.mjs), whose access tokens are for acme's API and carry the session's `sid`, and
 * whose back-channel logout URI is acme's edge endpoint, so ending a session revokes its tokens.
 * The redirect URI is never visited: dev/session.mjs reads the code from the redirect itself.
 */
export const DEMO_WEB_CLIENT = {
  tenant: 'acme', host: 'api.acme.test', resource: 'https://api.acme.test', clientId: 'acme-web',
  redirectUri: 'https://app.acme.test/callback', scopes: ['read', 'write'],
};

/**
 * The issuer's side of the web client: its logout tokens go to the edge on this port, as
 * http://api.acme.test:<port>/_edge/backchannel-logout (the issuer resolves *.test to 127.0.0.1).
 * @param {{ edgePort: number }} stack
 */
export function demoWebClients(stack) {
  return [{
    clientId: DEMO_WEB_CLIENT.clientId,
    redirectUri: DEMO_WEB_CLIENT.redirectUri,
    resource: DEMO_WEB_CLIENT.resource,
    backchannelLogoutUri: `http://${DEMO_WEB_CLIENT.host}:${stack.edgePort}/_edge/backchannel-logout`,
  }];
}

/** The issuer's side of the demo clients: one resource server per tenant API. */
export function demoResources() {
  return Object.values(DEMO_CLIENTS).map((client) => ({
    resource: client.resource,
    scopes: client.scopes,
    alg: client.alg,
    clients: [{ clientId: client.clientId, clientSecret: client.clientSecret }],
  }));
}

/**
 * The tenant configs (SPEC.md "Tenant configuration"): each trusts the demo issuer for its own
 * audience, serves /health without a token, wants the `admin` scope under /admin/*, a token
 * everywhere else, and forwards to the echo origin. globex is rate limited so 429 can be shown;
 * acme takes back-channel logouts for its web app.
 * @param {{ issuer: string, upstream: string }} stack
 */
export function demoTenants(stack) {
  return Object.values(DEMO_CLIENTS).map((client) => ({
    id: client.tenant,
    hosts: [client.host],
    issuers: [{
      issuer: stack.issuer,
      audiences: [client.resource],
      // Both, though each API's tokens come signed with one: an acme token at globex is then
      // refused for its audience (wrong_audience), the refusal that tells cross-tenant replay.
      algorithms: ['RS256', 'ES256'],
      // oidc-provider marks its JWT access tokens `typ: at+jwt` (RFC 9068).
      requiredType: 'at+jwt',
    }],
    resource: client.resource,
    routes: [
      { path: '/health', auth: 'none' },
      { path: '/admin/*', scopes: ['admin'] },
      { path: '/*', auth: 'required' },
    ],
    upstream: stack.upstream,
    // The origin trusts the x-auth-* headers; the echo is easier to read without the token.
    forward: { claimHeaders: {}, stripAuthorization: true },
    ...(client.tenant === 'globex' ? { rateLimit: { perSubject: { limit: 5, windowSeconds: 10 } } } : {}),
    // acme's web app's sessions end at the provider, which tells the edge (OIDC Back-Channel Logout).
    ...(client.tenant === DEMO_WEB_CLIENT.tenant ? { events: { backchannelLogout: { audiences: [DEMO_WEB_CLIENT.clientId] } } } : {}),
  }));
}
