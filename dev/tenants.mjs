// @ts-check
// The demo tenants of the local stack and their OAuth clients: what `npm start` seeds through the
// admin API, what the demo issuer issues tokens for, and what `npm run token` asks for.
//
//   const issuer = await startIssuer({ resources: demoResources(), boundResources: demoBoundResources() });
//   for (const config of demoTenants({ issuer: issuer.url, upstream: origin.url })) await put(config);
//   const { clientId, clientSecret, resource } = DEMO_CLIENTS.acme;
//   const issuer = await startIssuer({ resources: demoResources(), webClients: demoWebClients({ edgePort: 8787 }) });
//   DEMO_WEB_CLIENT.clientId;   // acme's web app: users log in (dev/session.mjs), logouts reach the edge
//   DEMO_DPOP_CLIENTS.acme;          // acme's payments client, at the DPoP-only issuer
//   DEMO_OPAQUE_CLIENTS.acme;        // acme's client with opaque tokens (RFC 7662 introspection)
//   DEMO_INTROSPECTION_CLIENTS.acme; // the edge's two clients at the introspection endpoint
//   const transmitter = await startTransmitter({ receivers: demoSsfReceivers(), fetch: loopbackFetch(8787) });
//   demoTenants({ issuer: issuer.url, upstream: origin.url, transmitter: transmitter.issuer });   // acme's ssf entry
//
// acme's payments API (/payments/*) wants DPoP-bound tokens, and proof of possession is an
// issuer's property, not a route's (the contract (docs/): `proofOfPossession` on an issuer entry; the issuer is
// chosen by `iss` alone, and each `iss` is listed once). So acme trusts a second issuer of the
// demo provider, `<issuer>/dpop`, with `proofOfPossession: "dpop"`; that issuer alone grants the
// `payments` scope the route needs, and grants it only as DPoP-bound tokens. Bearer tokens of
// the first issuer keep working everywhere else (the demo commands stay as they were) and get
// 403 insufficient_scope at /payments; a payments token sent as Bearer is 401 pop_required.
import { boundIssuerOf } from './issuer.mjs';

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

/**
 * Demo clients of the DPoP-only issuer (`<issuer>/dpop`), by tenant: the `payments` scope of the
 * same API, as DPoP-bound tokens (the client must send a proof with its token request).
 * @type {Readonly<Partial<Record<'acme' | 'globex', DemoClient>>>}
 */
export const DEMO_DPOP_CLIENTS = {
  acme: {
    tenant: 'acme', host: 'api.acme.test', resource: 'https://api.acme.test', alg: 'ES256',
    clientId: 'acme-payments', clientSecret: 'acme-payments-demo-secret', scopes: ['read', 'payments'],
  },
};

/**
 * Demo clients whose access tokens are opaque, by tenant: they name no resource (the provider
 * issues for the tenant's API, its audience), and the edge must ask the provider about their
 * tokens (RFC 7662 introspection). The provider revokes them on the client's word (RFC 7009).
 * @type {Readonly<Partial<Record<'acme' | 'globex', Omit<DemoClient, 'alg'>>>>}
 */
export const DEMO_OPAQUE_CLIENTS = {
  acme: {
    tenant: 'acme', host: 'api.acme.test', resource: 'https://api.acme.test',
    clientId: 'acme-opaque', clientSecret: 'acme-opaque-demo-secret', scopes: ['read', 'write', 'admin'],
  },
};

/**
 * The edge's own clients at the provider's introspection endpoint, by tenant: one with a secret
 * (client_secret_basic, what acme's seed uses), one with the tenant's edge key (private_key_jwt:
 * the provider fetches the key set from the tenant's host, which the edge serves at
 * /_edge/jwks). Each sees only tokens for its tenant's API.
 * @type {Readonly<Partial<Record<'acme' | 'globex', { basic: { clientId: string, clientSecret: string },
 *   privateKeyJwt: { clientId: string, jwksUri: string } }>>>}
 */
export const DEMO_INTROSPECTION_CLIENTS = {
  acme: {
    basic: { clientId: 'acme-edge', clientSecret: 'acme-edge-demo-secret' },
    privateKeyJwt: { clientId: 'acme-edge-jwt', jwksUri: 'https://api.acme.test/_edge/jwks' },
  },
};

/** How long acme's edge reuses an introspection answer: what `npm start` tells to wait after a revocation. */
export const DEMO_INTROSPECTION_CACHE_SECONDS = 5;

/**
 * acme as a receiver of the local Shared Signals transmitter (dev/ssf-transmitter.mjs): the `aud`
 * of its SETs, and the static bearer token the edge manages its stream with (the transmitter's
 * management API, SSF 1.0 §8; write-only at the edge).
 */
export const DEMO_SSF_RECEIVERS = {
  acme: { id: 'acme-edge', audience: 'https://api.acme.test/ssf', bearerToken: 'acme-ssf-demo-token' },
};

/** The transmitter's side: who may create and read streams there. */
export function demoSsfReceivers() {
  return Object.values(DEMO_SSF_RECEIVERS);
}

/** The issuer's side of the demo clients: one resource server per tenant API. */
export function demoResources() {
  return Object.values(DEMO_CLIENTS).map((client) => {
    const opaque = DEMO_OPAQUE_CLIENTS[/** @type {'acme' | 'globex'} */ (client.tenant)];
    const introspection = DEMO_INTROSPECTION_CLIENTS[/** @type {'acme' | 'globex'} */ (client.tenant)];
    return {
      resource: client.resource,
      scopes: client.scopes,
      alg: client.alg,
      clients: [
        { clientId: client.clientId, clientSecret: client.clientSecret },
        ...(opaque === undefined ? [] : [{ clientId: opaque.clientId, clientSecret: opaque.clientSecret, opaque: true }]),
      ],
      introspectors: introspection === undefined ? [] : [introspection.basic, introspection.privateKeyJwt],
    };
  });
}

/** The DPoP-only issuer's side (startIssuer's boundResources). */
export function demoBoundResources() {
  return Object.values(DEMO_DPOP_CLIENTS).map((client) => ({
    resource: client.resource,
    scopes: client.scopes,
    alg: client.alg,
    clients: [{ clientId: client.clientId, clientSecret: client.clientSecret }],
  }));
}

/**
 * The tenant configs (docs/configuration.md): each trusts the demo issuer for its own audience,
 * serves /health without a token, wants the `admin` scope under /admin/*, a token everywhere
 * else, and forwards to the echo origin. globex is rate limited so 429 can be shown; acme's
 * /account/* asks for a recent multi-factor login (RFC 9470 step-up), which a client
 * credentials token never has, so it shows the 401 insufficient_user_authentication challenge;
 * acme also takes back-channel logouts for its web app, and asks the provider about the tokens
 * that are not JWTs (its opaque-token client's) with its client_secret_basic client (RFC 7662;
 * the endpoint is discovery's introspection_endpoint; the secret is write-only at the edge; an
 * answer is reused for 5 s, so a revocation at the provider shows quickly).
 * With `transmitter`, acme trusts the local Shared Signals transmitter, whose stream the edge
 * manages with a bearer token (the stream is created by `npm run tenants -- streams create`).
 * @param {{ issuer: string, upstream: string, transmitter?: string }} stack
 */
export function demoTenants(stack) {
  const paying = new Set(Object.values(DEMO_DPOP_CLIENTS).map((client) => client?.tenant));
  return Object.values(DEMO_CLIENTS).map((client) => {
    const introspection = DEMO_INTROSPECTION_CLIENTS[/** @type {'acme' | 'globex'} */ (client.tenant)];
    return {
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
        ...(introspection === undefined ? {} : {
          introspection: {
            endpoint: null, clientId: introspection.basic.clientId, clientAuth: 'client_secret_basic',
            clientSecret: introspection.basic.clientSecret, tokens: 'opaque',
            // A demo's window: a token revoked at the provider is refused within 5 s (default 60).
            cacheSeconds: DEMO_INTROSPECTION_CACHE_SECONDS,
          },
        }),
      }, ...(!paying.has(client.tenant) ? [] : [{
        issuer: boundIssuerOf(stack.issuer),
        audiences: [client.resource],
        algorithms: ['ES256'],
        requiredType: 'at+jwt',
        proofOfPossession: 'dpop',
      }])],
      resource: client.resource,
      routes: [
        { path: '/health', auth: 'none' },
        { path: '/admin/*', scopes: ['admin'] },
        ...(client.tenant === 'acme' ? [{ path: '/account/*', acr: ['urn:acme:mfa'], maxAuthAgeSeconds: 600 }] : []),
        ...(!paying.has(client.tenant) ? [] : [{ path: '/payments/*', scopes: ['payments'] }]),
        { path: '/*', auth: 'required' },
      ],
      upstream: stack.upstream,
      // The origin trusts the x-auth-* headers; the echo is easier to read without the token.
      forward: { claimHeaders: {}, stripAuthorization: true },
      ...(client.tenant === 'globex' ? { rateLimit: { perSubject: { limit: 5, windowSeconds: 10 } } } : {}),
      // acme's web app's sessions end at the provider, which tells the edge (OIDC Back-Channel Logout).
      ...(client.tenant === DEMO_WEB_CLIENT.tenant ? { events: eventsOf(client.tenant, stack.transmitter) } : {}),
    };
  });
}

/**
 * acme's revocation events: back-channel logouts of its web app; with the local transmitter, its
 * SETs (pushed, once the edge created its stream there).
 * @param {string} tenant @param {string | undefined} transmitter
 */
function eventsOf(tenant, transmitter) {
  const receiver = DEMO_SSF_RECEIVERS[/** @type {'acme'} */ (tenant)];
  return {
    backchannelLogout: { audiences: [DEMO_WEB_CLIENT.clientId] },
    ...(transmitter === undefined || receiver === undefined ? {} : {
      ssf: [{ issuer: transmitter, audience: receiver.audience, management: { bearerToken: receiver.bearerToken } }],
    }),
  };
}
