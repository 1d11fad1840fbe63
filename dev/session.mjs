#!/usr/bin/env node
// @ts-check
// `npm run session`: a user's browser session at the local demo provider, scripted. `login` runs
// the authorization code flow with PKCE for acme's web app (dev/tenants.mjs DEMO_WEB_CLIENT)
// through the demo provider's login page (dev/issuer.mjs: any login and password; consent is
// given by the provider), and prints the access token for acme's API, which carries the session's `sid`.
// `logout` ends that session by RP-initiated logout (the provider's confirmation form), so the
// provider posts a logout token to acme's edge endpoint (OIDC Back-Channel Logout), and prints
// where it went and how it was answered. The edge takes the revocation at once, and every isolate
// refuses the session's tokens within the tenant's maxStalenessSeconds (5 s for acme); `--wait`
// returns only once the edge refuses the session's token. The session (its cookies) is kept in
// dev/.state/session.json between the two.
//
//   TOKEN=$(npm run -s session -- login)                    # as demo-user; --user alice for another
//   curl -H 'Host: api.acme.test' -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8787/orders
//   npm run -s session -- logout --wait                     # the provider tells the edge; 401 from here on
//
// As a module (the end-to-end tests): `const session = await login({ issuer })`, then
// `await logout({ issuer, session })`.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostRequest } from '../scripts/host-request.mjs';
import { DEMO_WEB_CLIENT } from './tenants.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DEFAULT_STATE_FILE = join(ROOT, 'dev/.state/session.json');
/** Redirects and forms one login may take (login prompt, consent prompt, and their resumes). */
const MAX_STEPS = 12;
/** How long `logout --wait` waits for the edge: acme's maxStalenessSeconds (5) and a margin. */
const WAIT_MS = 15_000;

/**
 * What `login` leaves for `logout`.
 * @typedef {{ issuer: string, clientId: string, user: string, accessToken: string, idToken: string | undefined,
 *   sid: string | undefined, cookies: StoredCookie[] }} Session
 */
/** @typedef {{ name: string, value: string, path: string }} StoredCookie */
/** @typedef {import('./issuer.mjs').BackchannelDelivery} BackchannelDelivery */

/**
 * The cookies of one user agent, by name and path (oidc-provider scopes its interaction cookies
 * to /interaction/<uid> and /auth/<uid>, its session cookie to /).
 */
class CookieJar {
  /** @type {Map<string, StoredCookie>} */
  #cookies = new Map();

  /** @param {StoredCookie[]} [cookies] */
  constructor(cookies = []) {
    for (const cookie of cookies) this.#cookies.set(`${cookie.name} ${cookie.path}`, cookie);
  }

  /** @param {Response} response @param {URL} url */
  absorb(response, url) {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key = '', val = ''] = attribute.split('=').map((part) => part.trim());
        if (key.toLowerCase() === 'path') path = val || '/';
        if (key.toLowerCase() === 'max-age' && Number(val) <= 0) expired = true;
        if (key.toLowerCase() === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      if (expired) this.#cookies.delete(`${name} ${path}`);
      else this.#cookies.set(`${name} ${path}`, { name, value, path });
    }
  }

  /** The Cookie header for a request to `url`, or undefined. @param {URL} url */
  header(url) {
    const matching = [...this.#cookies.values()].filter(({ path }) =>
      url.pathname === path || url.pathname.startsWith(path.endsWith('/') ? path : `${path}/`));
    return matching.length === 0 ? undefined : matching.map(({ name, value }) => `${name}=${value}`).join('; ');
  }

  /** @returns {StoredCookie[]} */
  toJSON() {
    return [...this.#cookies.values()];
  }
}

/**
 * One request as a browser makes it, without following redirects.
 * @param {CookieJar} jar @param {URL} url @param {{ method?: string, form?: Record<string, string> }} [init]
 */
async function browse(jar, url, init = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'text/html,application/json' };
  const cookie = jar.header(url);
  if (cookie !== undefined) headers.cookie = cookie;
  const body = init.form === undefined ? undefined : new URLSearchParams(init.form);
  const response = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
  jar.absorb(response, url);
  return response;
}

/** @param {string} issuer */
async function discover(issuer) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`no discovery document at ${issuer} (${response.status})`);
  return /** @type {{ authorization_endpoint: string, token_endpoint: string, end_session_endpoint: string }} */ (await response.json());
}

/** The form of the login or logout confirmation page: its action and hidden inputs. @param {string} html @param {URL} base */
function formOf(html, base) {
  const action = /<form[^>]*\saction="([^"]+)"/i.exec(html)?.[1];
  if (action === undefined) return null;
  /** @type {Record<string, string>} */
  const hidden = {};
  for (const match of html.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]+)"/.exec(match[0])?.[1];
    const value = /value="([^"]*)"/.exec(match[0])?.[1];
    if (name !== undefined) hidden[name] = value ?? '';
  }
  return { action: new URL(action.replaceAll('&amp;', '&'), base), hidden };
}

/**
 * Logs `user` in to the web client and returns its session with an access token for the
 * client's resource.
 * @param {{ issuer: string, user?: string, scope?: string, client?: typeof DEMO_WEB_CLIENT }} options
 * @returns {Promise<Session>}
 */
export async function login(options) {
  const issuer = options.issuer.replace(/\/$/, '');
  const client = options.client ?? DEMO_WEB_CLIENT;
  const user = options.user ?? 'demo-user';
  const metadata = await discover(issuer);
  const jar = new CookieJar();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');

  let url = new URL(metadata.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: client.clientId, response_type: 'code', redirect_uri: client.redirectUri,
    scope: `openid ${options.scope ?? client.scopes.join(' ')}`.trim(), resource: client.resource, state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  /** @type {Record<string, string> | undefined} */
  let form;
  let code;
  for (let step = 0; step < MAX_STEPS && code === undefined; step++) {
    const response = await browse(jar, url, { form });
    form = undefined;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      const next = new URL(location, url);
      if (next.href.startsWith(client.redirectUri)) {
        if (next.searchParams.get('state') !== state) throw new Error('the provider redirected with another state');
        code = next.searchParams.get('code') ?? undefined;
        if (code === undefined) throw new Error(`login refused: ${next.searchParams.get('error')} ${next.searchParams.get('error_description') ?? ''}`.trim());
      }
      url = next;
      continue;
    }
    const html = await response.text();
    const page = response.status === 200 ? formOf(html, url) : null;
    if (page === null) throw new Error(`unexpected answer from ${url.pathname} (${response.status}): ${html.slice(0, 200)}`);
    // The login page takes any login and password.
    form = page.hidden.prompt === 'login' ? { ...page.hidden, login: user, password: 'any-password' } : page.hidden;
    url = page.action;
  }
  if (code === undefined) throw new Error(`no authorization code after ${MAX_STEPS} steps`);

  const tokenResponse = await fetch(metadata.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier,
      client_id: client.clientId, resource: client.resource,
    }),
  });
  const tokens = /** @type {{ access_token?: string, id_token?: string, error?: string, error_description?: string }} */ (await tokenResponse.json());
  if (!tokenResponse.ok || typeof tokens.access_token !== 'string') {
    throw new Error(`token request refused (${tokenResponse.status}): ${tokens.error ?? ''} ${tokens.error_description ?? ''}`.trim());
  }
  return {
    issuer, clientId: client.clientId, user, accessToken: tokens.access_token, idToken: tokens.id_token,
    sid: claimOf(tokens.access_token, 'sid'), cookies: jar.toJSON(),
  };
}

/**
 * Ends the session at the provider (RP-initiated logout, confirmed), which sends the back-channel
 * logout; returns the provider's deliveries for this session's sid.
 * @param {{ issuer: string, session: Session }} options
 * @returns {Promise<BackchannelDelivery[]>}
 */
export async function logout(options) {
  const issuer = options.issuer.replace(/\/$/, '');
  const { session } = options;
  const metadata = await discover(issuer);
  const jar = new CookieJar(session.cookies);
  const start = new URL(metadata.end_session_endpoint);
  start.search = new URLSearchParams({ client_id: session.clientId }).toString();
  const page = await browse(jar, start);
  const html = await page.text();
  const confirm = page.status === 200 ? formOf(html, start) : null;
  if (confirm === null || confirm.hidden.xsrf === undefined) throw new Error(`no logout confirmation from the provider (${page.status}): ${html.slice(0, 200)}`);
  // The provider posts the logout tokens before it answers the confirmation.
  const done = await browse(jar, confirm.action, { form: { xsrf: confirm.hidden.xsrf, logout: 'yes' } });
  if (done.status !== 303 && done.status !== 302) throw new Error(`logout not confirmed (${done.status}): ${(await done.text()).slice(0, 200)}`);
  const response = await fetch(`${issuer}/dev/backchannel`);
  const { deliveries } = /** @type {{ deliveries: BackchannelDelivery[] }} */ (await response.json());
  return deliveries.filter((delivery) => delivery.clientId === session.clientId && delivery.sid === session.sid);
}

/**
 * Waits until the edge refuses the session's access token at the web client's API host (what
 * every isolate does within the tenant's maxStalenessSeconds of the logout); the seconds it took.
 * @param {{ edge: string, session: Session, timeoutMs?: number }} options
 * @returns {Promise<number>}
 */
export async function waitForRevocation(options) {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? WAIT_MS);
  for (;;) {
    const response = await hostRequest(`${options.edge}/orders`, {
      host: DEMO_WEB_CLIENT.host, headers: { authorization: `Bearer ${options.session.accessToken}` }, timeoutMs: 5_000,
    });
    const body = /** @type {{ reason?: string }} */ (await response.json().catch(() => ({})));
    if (response.status === 401 && body.reason === 'revoked') return (Date.now() - started) / 1000;
    if (response.status !== 200) throw new Error(`the edge answered ${response.status} ${JSON.stringify(body)}, not 401 revoked`);
    if (Date.now() > deadline) throw new Error(`the edge still accepts the session's token after ${(options.timeoutMs ?? WAIT_MS) / 1000} s`);
    await new Promise((wake) => setTimeout(wake, 250));
  }
}

/** A claim of a JWT's payload, unverified (to print and keep the sid). @param {string} token @param {string} name */
function claimOf(token, name) {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload?.[name] === 'string' ? payload[name] : undefined;
  } catch {
    return undefined;
  }
}

const USAGE = `Usage: npm run -s session -- <login|logout> [--user NAME] [--scope "read write"] [--wait] [--issuer URL] [--edge URL] [--state-file FILE]

  login    log a user in to acme's web app (${DEMO_WEB_CLIENT.clientId}) and print an access token for ${DEMO_WEB_CLIENT.resource}, with the session's sid
  logout   end that session at the provider, which posts a logout token to acme's edge (OIDC Back-Channel Logout)
  --user        the login (any; default demo-user)
  --scope       scopes of acme's API (default "${DEMO_WEB_CLIENT.scopes.join(' ')}")
  --wait        (logout) return once the edge refuses the session's token (within acme's 5 s maxStalenessSeconds)
  --issuer      the demo issuer (default: ISSUER_URL, else http://127.0.0.1:$ISSUER_PORT, port 9400)
  --edge        the local edge, for --wait (default: EDGE_URL, else http://127.0.0.1:$EDGE_PORT, port 8787)
  --state-file  where the session is kept between login and logout (default dev/.state/session.json)`;

async function main() {
  /** @param {string} message @returns {never} */
  const usage = (message) => {
    console.error(`${message}\n\n${USAGE}`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        user: { type: 'string' }, scope: { type: 'string' }, issuer: { type: 'string' }, 'state-file': { type: 'string' },
        wait: { type: 'boolean' }, edge: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const issuer = values.issuer ?? process.env.ISSUER_URL ?? `http://127.0.0.1:${process.env.ISSUER_PORT ?? 9400}`;
  const stateFile = values['state-file'] ?? DEFAULT_STATE_FILE;
  const command = positionals[0];
  try {
    if (command === 'login') {
      const session = await login({ issuer, user: values.user, scope: values.scope });
      await mkdir(dirname(stateFile), { recursive: true });
      await writeFile(stateFile, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
      console.error(`logged in as ${session.user} at ${session.issuer}; session sid ${session.sid ?? '(none)'}; \`npm run -s session -- logout\` ends it`);
      console.log(session.accessToken);
    } else if (command === 'logout') {
      /** @type {Session} */
      let session;
      try {
        session = JSON.parse(await readFile(stateFile, 'utf8'));
      } catch {
        return usage(`no session in ${stateFile}: log in first`);
      }
      const deliveries = await logout({ issuer: values.issuer ?? session.issuer, session });
      console.log(`session ${session.sid ?? ''} of ${session.user} ended at the provider.`);
      if (deliveries.length === 0) console.log('the provider sent no back-channel logout for it');
      for (const delivery of deliveries) {
        console.log(delivery.ok
          ? `logout token delivered to ${delivery.uri}: accepted; tokens of this session are revoked within the tenant's maxStalenessSeconds`
          : `logout token to ${delivery.uri} not accepted: ${delivery.error}`);
      }
      if (values.wait && !deliveries.some((delivery) => delivery.ok)) throw new Error('no logout token reached the edge: nothing to wait for');
      if (values.wait) {
        const edge = (values.edge ?? process.env.EDGE_URL ?? `http://127.0.0.1:${process.env.EDGE_PORT ?? 8787}`).replace(/\/$/, '');
        const seconds = await waitForRevocation({ edge, session });
        console.log(`the edge refuses the session's tokens now (401 revoked, after ${seconds.toFixed(1)} s)`);
      }
    } else {
      usage(command === undefined ? 'missing command' : `unknown command ${command}`);
    }
  } catch (error) {
    const why = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
    console.error(`session ${command} failed at ${issuer}: ${why}\n(is \`npm start\` running?)`);
    process.exit(1);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
