// @ts-check
// The demo OpenID provider of the local stack: panva's `oidc-provider` on loopback, issuing RFC
// 9068 JWT access tokens by the client credentials grant for each resource (RFC 8707) it is
// told about, with RS256 and ES256 keys, discovery and a JWKS. Rotation is a new signing key
// published beside the old ones, without a restart (the provider is rebuilt behind one server).
// DPoP (RFC 9449) is on: a token request with a DPoP proof gets a token bound to the proof's key
// (`cnf.jkt`). With `boundResources`, a second issuer on the same server, `<url>/dpop` (its own
// `iss`, same keys), issues only DPoP-bound tokens: its clients must send a proof.
// Web clients (optional) log users in by the authorization code flow with PKCE through this
// file's own login page (any login, any password; consent is given at once: the demo's web app
// is first party; dev/session.mjs scripts it), get access tokens for their resource carrying the
// session's `sid`, and are sent OpenID Connect Back-Channel Logout tokens when the session ends.
// Opaque access tokens (RFC 7662): a client marked `opaque` gets, without naming a resource, an
// opaque token for its API (the provider defaults the resource; the audience and scopes are the
// API's). The API's resource-server clients (`introspectors`: a secret, client_secret_basic or
// _post, or a `jwksUri`, private_key_jwt with ES256) introspect the tokens for that API, and
// only those; a client revokes its own (RFC 7009). Introspection answers `sub` (the client id,
// as the JWT form does) and `aud` (the API) for them too. oidc-provider introspects and revokes
// only opaque tokens: a JWT access token there is 400 unsupported_token_type.
// The provider's own requests (those logout tokens, a client's jwks_uri) to `*.test` host names
// go to 127.0.0.1 with the name as Host, so they reach `wrangler dev` as the tenant's; with
// `edgePort`, all of them go to that port over http (https://api.acme.test/_edge/jwks included).
//
//   const issuer = await startIssuer({ port: 0, edgePort: 8787, resources: [{ resource: 'https://api.acme.test',
//     scopes: ['read', 'admin'], alg: 'RS256', clients: [{ clientId: 'acme-service', clientSecret: 's' },
//       { clientId: 'acme-opaque', clientSecret: 'o', opaque: true }],
//     introspectors: [{ clientId: 'acme-edge', clientSecret: 'e' }, { clientId: 'acme-edge-jwt', jwksUri: 'https://api.acme.test/_edge/jwks' }] }] });
//   issuer.url;                                            // http://127.0.0.1:<port>, also the `iss`
//   const token = await issuer.token({ clientId: 'acme-service', clientSecret: 's',
//     resource: 'https://api.acme.test', scope: 'read admin' });
//   const opaque = await issuer.token({ clientId: 'acme-opaque', clientSecret: 'o', scope: 'read' });   // not a JWT
//   await revokeToken(issuer.url, { clientId: 'acme-opaque', clientSecret: 'o', token: opaque });
//   await issuer.token({ ...request, dpop: (htm, htu) => signProof(htm, htu) });   // a DPoP-bound token
//   boundIssuerOf(issuer.url);                             // <url>/dpop
//   const kid = await issuer.rotate('RS256');              // new tokens for RS256 resources use it
//   await issuer.stop();
//
// Over HTTP, `POST /dev/rotate?alg=ES256` does what rotate() does (loopback only, for `npm start`),
// and `GET /dev/backchannel` lists the last back-channel logout deliveries (newest first).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { hostRequest } from '../scripts/host-request.mjs';

/** @typedef {'RS256' | 'ES256'} SigningAlg */
/**
 * A client credentials client. `opaque`: its tokens for this API are opaque, and it need not name
 * the API (the provider's default resource for it; so it may be listed under one API only).
 * @typedef {{ clientId: string, clientSecret: string, opaque?: boolean }} DemoClient
 */
/**
 * A resource server's own client at the introspection endpoint: with a secret it authenticates
 * by client_secret_basic (oidc-provider takes the secret in the body too), with a `jwksUri` by
 * private_key_jwt (RFC 7523, ES256), its keys fetched from there (again on an unknown kid or
 * bad signature once the set's max-age, at least 60 s, has passed). oidc-provider wants the
 * assertion's `iss` and `sub` to be the client id, `aud` the issuer, the token endpoint or the
 * endpoint called (or a list holding one), an `exp`, and a `jti` it has not seen before.
 * @typedef {{ clientId: string, clientSecret: string } | { clientId: string, jwksUri: string }} Introspector
 */
/**
 * One API the provider issues tokens for: the token's `aud` is `resource`, its scopes are the
 * requested ones this resource knows, and only the listed clients may ask for it; only its
 * `introspectors` (and a token's own client) learn about its opaque tokens.
 * @typedef {{ resource: string, scopes: string[], alg: SigningAlg, clients: DemoClient[], introspectors?: Introspector[] }} ResourceServer
 */
/** @typedef {import('node:crypto').JsonWebKey & { kid: string, alg: SigningAlg, use: 'sig' }} PrivateJwk */
/**
 * A browser-style client (public, PKCE): users log in through the login page, its access
 * tokens are for `resource` (with that resource's scopes) and carry `sid`, and the provider posts
 * a logout token to `backchannelLogoutUri` when the user's session ends.
 * @typedef {{ clientId: string, redirectUri: string, resource: string, backchannelLogoutUri: string }} WebClient
 */
/**
 * One back-channel logout the provider made: to whom, for which session, and how it went.
 * @typedef {{ at: string, clientId: string, uri: string, sid: string | undefined, ok: boolean, error?: string }} BackchannelDelivery
 */

/**
 * @typedef {object} IssuerOptions
 * @property {number} [port] 0 (default) picks a free one
 * @property {'127.0.0.1' | 'localhost'} [hostname] how the issuer URL names loopback; default 127.0.0.1
 * @property {ResourceServer[]} resources
 * @property {number} [tokenTtlSeconds] default 3600
 * @property {string} [keysFile] private JWKs kept here, so tokens outlive a restart; default in memory only
 * @property {ResourceServer[]} [boundResources] served by the issuer at `<url>/dpop`, DPoP-bound tokens only
 * @property {WebClient[]} [webClients] clients that log users in (the login page on); default none
 * @property {number} [edgePort] the local edge's port: every *.test URL the provider fetches goes there, over http
 */

/**
 * @typedef {object} Issuer
 * @property {string} url the issuer identifier (`iss`), http://<hostname>:<port>
 * @property {number} port
 * @property {(request: TokenRequest) => Promise<string>} token a client credentials grant; the access token
 * @property {(alg: SigningAlg) => Promise<string>} rotate a new signing key for `alg`, first in the JWKS; its kid
 * @property {() => { keys: Record<string, unknown>[] }} publicJwks what /jwks serves
 * @property {string | null} boundUrl the DPoP-only issuer (`<url>/dpop`) when boundResources were given
 * @property {() => BackchannelDelivery[]} backchannelDeliveries the last back-channel logouts, newest first
 * @property {() => Promise<void>} stop
 */

/**
 * A client credentials grant; `dpop` signs a DPoP proof for the token request (RFC 9449 §5), so
 * the token is bound to that key. Without `resource` (an opaque-token client), the provider picks.
 * @typedef {{ clientId: string, clientSecret: string, resource?: string, scope?: string,
 *   dpop?: (htm: string, htu: string) => Promise<string> }} TokenRequest
 */

/** Where the DPoP-only issuer lives on the same server: its issuer identifier is `<url>` + this. */
export const BOUND_ISSUER_PATH = '/dpop';
/** @param {string} issuerUrl */
export const boundIssuerOf = (issuerUrl) => `${issuerUrl}${BOUND_ISSUER_PATH}`;

/** @param {IssuerOptions} options @returns {Promise<Issuer>} */
export async function startIssuer(options) {
  /** @type {PrivateJwk[]} */
  let keys = options.keysFile ? await readKeys(options.keysFile) : [];
  for (const alg of /** @type {SigningAlg[]} */ (['RS256', 'ES256'])) {
    if (!keys.some((key) => key.alg === alg)) keys.push(await generateKey(alg));
  }
  if (options.keysFile) await writeKeys(options.keysFile, keys);

  /** @typedef {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void} Handler */
  /** @type {Provider | null} */
  let provider = null;
  /** @type {Handler | null} */
  let handle = null;
  /** @type {Handler | null} */
  let handleBound = null;
  /** @type {BackchannelDelivery[]} */
  const deliveries = [];
  // Each issuer's own storage, kept across rebuilds: a token of one is never found by another.
  const stores = { main: new Map(), bound: new Map() };
  const server = createServer((request, response) => {
    if (request.url === '/dev/backchannel' && request.method === 'GET') return answer(response, 200, { deliveries });
    if (request.url?.startsWith('/dev/rotate') && request.method === 'POST') {
      const alg = new URL(request.url, 'http://issuer').searchParams.get('alg') ?? 'RS256';
      if (alg !== 'RS256' && alg !== 'ES256') return answer(response, 400, { error: 'alg must be RS256 or ES256' });
      rotate(alg).then((kid) => answer(response, 200, { kid, alg }), (error) => answer(response, 500, { error: String(error) }));
      return;
    }
    const url = request.url ?? '/';
    if (provider !== null && url.startsWith(INTERACTION_PATH)) {
      interact(provider, request, response).catch((error) => answer(response, 500, { error: String(error) }));
      return;
    }
    if (handleBound !== null && (url === BOUND_ISSUER_PATH || url.startsWith(`${BOUND_ISSUER_PATH}/`))) {
      // Mounted as express mounts it: oidc-provider reads its mount path from originalUrl.
      Object.assign(request, { originalUrl: url, url: url.slice(BOUND_ISSUER_PATH.length) || '/' });
      handleBound(request, response);
      return;
    }
    handle?.(request, response);
  });
  // Keep-alive sockets would hold stop() open until they idle out.
  server.keepAliveTimeout = 1_000;
  const hostname = options.hostname ?? '127.0.0.1';
  await new Promise((listening, failed) => {
    server.once('error', failed);
    server.listen(options.port ?? 0, '127.0.0.1', () => listening(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = `http://${hostname}:${port}`;

  // Signs the interaction and session cookies of the web clients' logins.
  const cookieKeys = [randomBytes(32).toString('base64url')];
  /** @param {Omit<BackchannelDelivery, 'at'>} delivery */
  const delivered = (delivery) => {
    deliveries.unshift({ at: new Date().toISOString(), ...delivery });
    deliveries.splice(20);
  };
  const rebuild = () => {
    provider = buildProvider(url, options.resources, { keys, cookieKeys, options, delivered, bound: false, store: stores.main });
    handle = provider.callback();
    handleBound = options.boundResources === undefined ? null
      : buildProvider(boundIssuerOf(url), options.boundResources, { keys, cookieKeys, options, delivered, bound: true, store: stores.bound }).callback();
  };
  rebuild();

  /** @param {SigningAlg} alg */
  async function rotate(alg) {
    const key = await generateKey(alg);
    // The old keys stay published: tokens they signed keep verifying until they expire.
    keys = [key, ...keys];
    if (options.keysFile) await writeKeys(options.keysFile, keys);
    rebuild();
    return key.kid;
  }

  return {
    url,
    port,
    rotate,
    token: (request) => requestToken(url, request),
    publicJwks: () => ({ keys: keys.map(publicPart) }),
    boundUrl: options.boundResources === undefined ? null : boundIssuerOf(url),
    backchannelDeliveries: () => [...deliveries],
    stop: () => new Promise((stopped) => {
      server.close(() => stopped(undefined));
      server.closeAllConnections();
    }),
  };
}

/**
 * @param {string} url the issuer identifier
 * @param {ResourceServer[]} servers
 * @param {{ keys: PrivateJwk[], cookieKeys: string[], options: IssuerOptions, bound: boolean,
 *   delivered: (delivery: Omit<BackchannelDelivery, 'at'>) => void, store: Map<string, StoredItem> }} setup
 *   keys newest first; bound: every client must send a DPoP proof (RFC 9449 §5.2 dpop_bound_access_tokens)
 *   and it has no web clients; store: what this issuer keeps
 */
function buildProvider(url, servers, { keys, cookieKeys, options, bound, delivered, store }) {
  const ttl = options.tokenTtlSeconds ?? 3600;
  const resources = new Map(servers.map((server) => [server.resource, server]));
  const webClients = bound ? [] : options.webClients ?? [];
  /** @typedef {import('oidc-provider').ClientMetadata} ClientMetadata */
  /** @type {ClientMetadata[]} */
  const clients = [...servers.flatMap((server) => server.clients.map((client) => /** @type {ClientMetadata} */ ({
    client_id: client.clientId,
    client_secret: client.clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
    ...(bound ? { dpop_bound_access_tokens: true } : {}),
  }))), ...servers.flatMap((server) => (server.introspectors ?? []).map((introspector) => /** @type {ClientMetadata} */ ({
    client_id: introspector.clientId,
    // A resource server: it asks for no tokens, it only introspects them.
    grant_types: [],
    redirect_uris: [],
    response_types: [],
    ...('clientSecret' in introspector
      ? { client_secret: introspector.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }
      : { jwks_uri: introspector.jwksUri, token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256' }),
  }))), ...webClients.map((client) => /** @type {ClientMetadata} */ ({
    client_id: client.clientId,
    // A public client: PKCE instead of a secret (oidc-provider requires PKCE for these).
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [client.redirectUri],
    backchannel_logout_uri: client.backchannelLogoutUri,
    // The logout token then carries the session's sid, which the access tokens carry too.
    backchannel_logout_session_required: true,
  }))];
  /** May this client ask for tokens for this resource? */
  const mayAsk = (/** @type {string} */ clientId, /** @type {ResourceServer} */ server) =>
    server.clients.some((c) => c.clientId === clientId) || webClients.some((c) => c.clientId === clientId && c.resource === server.resource);
  /** The API an opaque-token client's tokens are for, when it names none. */
  const opaqueResourceOf = (/** @type {string} */ clientId) =>
    servers.find((server) => server.clients.some((c) => c.clientId === clientId && c.opaque))?.resource;
  /** May this client learn about this token (RFC 7662 §4)? Its own, or one for its API. */
  const mayIntrospect = (/** @type {string} */ clientId, /** @type {{ clientId?: string, aud?: string | string[] }} */ token) =>
    token.clientId === clientId || (typeof token.aud === 'string'
      && (resources.get(token.aud)?.introspectors ?? []).some((introspector) => introspector.clientId === clientId));
  const scopes = [...new Set(servers.flatMap((server) => server.scopes))];
  /** Signs with the newest key of the resource's alg (the keystore alone would pick any). */
  const signingKid = (/** @type {SigningAlg} */ alg) => keys.find((key) => key.alg === alg)?.kid;

  const provider = new Provider(url, {
    adapter: memoryAdapter(store),
    cookies: { keys: cookieKeys },
    clients,
    jwks: { keys: /** @type {any} */ (keys) },
    scopes,
    // Every artifact's lifetime set here, so the provider does not warn about its defaults.
    ttl: { ClientCredentials: ttl, AccessToken: ttl, AuthorizationCode: 60, IdToken: ttl, Interaction: 600, Grant: 86_400, Session: 86_400 },
    // Any login is an account whose sub is the login (the login page takes any password).
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    // This file's login page (interact() below), not the provider's development interactions.
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PATH}${interaction.uid}` },
    extraTokenClaims: async (_ctx, token) => {
      // RFC 9068 leaves `sid` out of JWT access tokens; the edge revokes sessions by it.
      if (token.kind === 'AccessToken' && typeof token.sid === 'string') return { sid: token.sid };
      // Introspection names a `sub` only for a user's token; a client's own (client credentials)
      // then names the client, as its JWT form does (RFC 9068 §2.2).
      if (token.kind === 'ClientCredentials' && token.resourceServer?.accessTokenFormat === 'opaque') return { sub: token.clientId };
      return undefined;
    },
    // The provider's own requests (back-channel logout, a client's jwks_uri) to *.test names go to loopback.
    fetch: loopbackFetch(options.edgePort),
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      // A proof at the token endpoint binds the token to its key (cnf.jkt); no nonces here.
      dPoP: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
      clientCredentials: { enabled: true },
      // Both answer for opaque tokens only (oidc-provider refuses JWTs there).
      introspection: { enabled: true, allowedPolicy: (_ctx, client, token) => mayIntrospect(client.clientId, token) },
      revocation: {
        enabled: true,
        // A client revokes its own tokens; another client is told no (RFC 7009 §2.1).
        allowedPolicy: (_ctx, client, token) => {
          if (token.clientId !== client.clientId) throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          return true;
        },
      },
      resourceIndicators: {
        enabled: true,
        // An opaque-token client names no resource: its API is the one.
        defaultResource: (_ctx, client, oneOf) => oneOf ?? opaqueResourceOf(client.clientId),
        getResourceServerInfo: (_ctx, resourceIndicator, client) => {
          const server = resources.get(resourceIndicator);
          if (server === undefined || !mayAsk(client.clientId, server)) {
            throw new errors.InvalidTarget(`${client.clientId} may not ask for ${resourceIndicator}`);
          }
          const opaque = server.clients.some((c) => c.clientId === client.clientId && c.opaque);
          return {
            scope: server.scopes.join(' '),
            audience: server.resource,
            accessTokenTTL: ttl,
            ...(opaque ? { accessTokenFormat: 'opaque' }
              : { accessTokenFormat: 'jwt', jwt: { sign: { alg: server.alg, kid: signingKid(server.alg) } } }),
          };
        },
      },
    },
  });
  provider.on('backchannel.success', (_ctx, client, _accountId, sid) => {
    delivered({ clientId: client.clientId, uri: String(client.backchannelLogoutUri), sid, ok: true });
  });
  provider.on('backchannel.error', (_ctx, error, client, _accountId, sid) => {
    delivered({ clientId: client.clientId, uri: String(client.backchannelLogoutUri), sid, ok: false, error: String(error?.message ?? error) });
  });
  return provider;
}

/**
 * RP-initiated logout's confirmation page: the provider's form and one button (dev/session.mjs
 * submits it as a browser would).
 * @param {import('oidc-provider').KoaContextWithOIDC} ctx @param {string} form
 */
function logoutSource(ctx, form) {
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign out</title></head><body>
${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out of the demo provider</button></body></html>`;
}

/**
 * The provider's fetch (and the local SSF transmitter's, for its pushes), except that names under
 * .test (the demo tenants' hosts) are 127.0.0.1: the provider's back-channel logout, its fetch of
 * a client's jwks_uri and a pushed SET then reach the local edge, with the tenant's name as Host. With `edgePort` every such URL goes to that port over
 * http, as `wrangler dev` serves them (https://api.acme.test/_edge/jwks names no port); without,
 * to the URL's own scheme and port. (The provider's default fetch refuses loopback addresses,
 * rightly so anywhere but here.)
 * @param {number | undefined} edgePort
 * @returns {(input: string | URL | Request, init?: RequestInit) => Promise<Response>}
 */
export function loopbackFetch(edgePort) {
  return (input, init = {}) => {
    const target = new URL(input instanceof Request ? input.url : input);
    if (!target.hostname.endsWith('.test')) return fetch(input, init);
    /** @type {Record<string, string>} */
    const headers = {};
    new Headers(init.headers).forEach((value, name) => { headers[name] = value; });
    const loopback = new URL(target);
    if (edgePort !== undefined) {
      loopback.protocol = 'http:';
      loopback.port = String(edgePort);
    }
    loopback.hostname = '127.0.0.1';
    return hostRequest(loopback, {
      method: init.method ?? 'GET', host: target.host, headers, timeoutMs: 2_500,
      ...(init.body === undefined || init.body === null ? {} : { body: String(init.body) }),
    });
  };
}

/** Where the provider sends the user agent to log in (its `interactions.url`). */
const INTERACTION_PATH = '/interaction/';

/**
 * The web clients' login and consent. A login prompt gets a form (any login, any password), its
 * submission logs that login in; a consent prompt is granted at once with what the client asked
 * for (the demo's web app is first party). Either way the provider then resumes the
 * authorization request.
 * @param {Provider} provider @param {import('node:http').IncomingMessage} request @param {import('node:http').ServerResponse} response
 */
async function interact(provider, request, response) {
  const details = await provider.interactionDetails(request, response);
  if (details.prompt.name === 'login') {
    if (request.method !== 'POST') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<form method="post" action="${INTERACTION_PATH}${encodeURIComponent(details.uid)}">
<input type="hidden" name="prompt" value="login">
<input name="login" placeholder="any login" autofocus> <input name="password" type="password" placeholder="any password">
<button type="submit">Sign in to the demo provider</button></form></body></html>`);
      return;
    }
    const login = new URLSearchParams(await bodyOf(request)).get('login')?.trim();
    const result = login ? { login: { accountId: login } } : { error: 'access_denied', error_description: 'no login given' };
    await provider.interactionFinished(request, response, result, { mergeWithLastSubmission: false });
    return;
  }
  const { accountId } = details.session ?? {};
  const clientId = details.params.client_id;
  if (details.prompt.name !== 'consent' || accountId === undefined || typeof clientId !== 'string') {
    await provider.interactionFinished(request, response, { error: 'access_denied', error_description: `unexpected prompt ${details.prompt.name}` });
    return;
  }
  const grant = (details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId))
    ?? new provider.Grant({ accountId, clientId });
  const missing = /** @type {{ missingOIDCScope?: string[], missingOIDCClaims?: string[], missingResourceScopes?: Record<string, string[]> }} */ (details.prompt.details);
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  await provider.interactionFinished(request, response, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

/** A small form body (the login page's). @param {import('node:http').IncomingMessage} request @returns {Promise<string>} */
async function bodyOf(request) {
  let body = '';
  for await (const chunk of request) {
    body += chunk;
    if (body.length > 16 * 1024) throw new Error('form too large');
  }
  return body;
}

/** One stored artifact of the provider, until `expiresAt` (ms). @typedef {{ payload: Record<string, unknown>, expiresAt: number }} StoredItem */

/**
 * The provider's storage for what it keeps (sessions, interactions, grants and codes of the web
 * clients' logins, opaque access tokens, client assertion jtis; nothing for JWT access tokens):
 * one issuer's Map, which is all a demo needs, in an adapter so oidc-provider stops warning about
 * its own fallback. Expired artifacts are swept as new ones come.
 * @param {Map<string, StoredItem>} items
 */
function memoryAdapter(items) {
  let writes = 0;
  const sweep = () => {
    const now = Date.now();
    for (const [key, item] of items) if (item.expiresAt <= now) items.delete(key);
  };
  return class MemoryAdapter {
    /** @param {string} name */
    constructor(name) { this.name = name; }
    /** @param {string} id */
    #key(id) { return `${this.name}:${id}`; }
    /** @param {string} id @param {Record<string, unknown>} payload @param {number} expiresIn */
    async upsert(id, payload, expiresIn) {
      if (++writes % 256 === 0) sweep();
      items.set(this.#key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 });
    }
    /** @param {string} id */
    async find(id) {
      const item = items.get(this.#key(id));
      return item !== undefined && item.expiresAt > Date.now() ? item.payload : undefined;
    }
    async findByUserCode() { return undefined; }
    /** Sessions are looked up by uid too (a code bound to its session, at the token endpoint). @param {string} uid */
    async findByUid(uid) {
      for (const [key, item] of items) {
        if (key.startsWith(`${this.name}:`) && item.payload.uid === uid && item.expiresAt > Date.now()) return item.payload;
      }
      return undefined;
    }
    /** @param {string} id */
    async consume(id) {
      const item = items.get(this.#key(id));
      if (item !== undefined) item.payload.consumed = Math.floor(Date.now() / 1000);
    }
    /** @param {string} id */
    async destroy(id) { items.delete(this.#key(id)); }
    async revokeByGrantId() {}
  };
}

/**
 * A client credentials grant (RFC 6749 §4.4) at the token endpoint that discovery names, as any
 * client would make it; the access token, or an Error carrying the provider's own words.
 * @param {string} issuer @param {TokenRequest} request @returns {Promise<string>}
 */
export async function requestToken(issuer, request) {
  const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!discovery.ok) throw new Error(`no discovery document at ${issuer} (${discovery.status})`);
  const { token_endpoint: tokenEndpoint } = /** @type {{ token_endpoint: string }} */ (await discovery.json());
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: request.clientId,
    client_secret: request.clientSecret,
    ...(request.resource ? { resource: request.resource } : {}),
    ...(request.scope ? { scope: request.scope } : {}),
  });
  /** @type {Record<string, string>} */
  const headers = request.dpop === undefined ? {} : { dpop: await request.dpop('POST', tokenEndpoint) };
  const response = await fetch(tokenEndpoint, { method: 'POST', body, headers });
  const answered = /** @type {{ access_token?: string, error?: string, error_description?: string }} */ (await response.json());
  if (!response.ok || typeof answered.access_token !== 'string') {
    throw new Error(`token request refused (${response.status}): ${answered.error ?? ''} ${answered.error_description ?? ''}`.trim());
  }
  return answered.access_token;
}

/**
 * Token revocation (RFC 7009) at the endpoint that discovery names, as the token's own client
 * (client_secret_post, as the demo clients ask for tokens). The provider answers 200 for a token
 * it does not know too (§2.2); an Error carries its words otherwise.
 * @param {string} issuer @param {{ clientId: string, clientSecret: string, token: string }} request
 * @returns {Promise<string>} the revocation endpoint
 */
export async function revokeToken(issuer, request) {
  const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!discovery.ok) throw new Error(`no discovery document at ${issuer} (${discovery.status})`);
  const { revocation_endpoint: endpoint } = /** @type {{ revocation_endpoint?: string }} */ (await discovery.json());
  if (typeof endpoint !== 'string') throw new Error(`${issuer} names no revocation_endpoint`);
  const body = new URLSearchParams({
    token: request.token, token_type_hint: 'access_token', client_id: request.clientId, client_secret: request.clientSecret,
  });
  const response = await fetch(endpoint, { method: 'POST', body });
  if (!response.ok) {
    const answered = /** @type {{ error?: string, error_description?: string }} */ (await response.json().catch(() => ({})));
    throw new Error(`revocation refused (${response.status}): ${answered.error ?? ''} ${answered.error_description ?? ''}`.trim());
  }
  return endpoint;
}

/** @param {SigningAlg} alg @returns {Promise<PrivateJwk>} */
async function generateKey(alg) {
  const { privateKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint(/** @type {any} */ (publicPart(jwk)));
  return { ...jwk, kid, alg, use: 'sig' };
}

/** @param {import('node:crypto').JsonWebKey} jwk */
function publicPart(jwk) {
  const { d, p, q, dp, dq, qi, ...rest } = jwk;
  return rest;
}

/** @param {string} file @returns {Promise<PrivateJwk[]>} */
async function readKeys(file) {
  try {
    const stored = JSON.parse(await readFile(file, 'utf8'));
    return Array.isArray(stored?.keys) ? stored.keys : [];
  } catch {
    return [];
  }
}

/** @param {string} file @param {PrivateJwk[]} keys */
async function writeKeys(file, keys) {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
}

/** @param {import('node:http').ServerResponse} response @param {number} status @param {unknown} body */
function answer(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}
