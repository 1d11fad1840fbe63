#!/usr/bin/env node
// @ts-check
// `npm run call`: one call to the local edge as a demo tenant's client would make it, with a
// bearer token or, with --dpop, a DPoP-bound one (RFC 9449): a fresh ES256 key, a token bound to
// it (a proof at the token endpoint), and a fresh proof signed with jose for each request. Prints
// the status line, the DPoP challenge headers when there are any, and the body.
//
//   npm run -s call -- --tenant acme GET /orders                  # bearer
//   npm run -s call -- --tenant acme --dpop GET /payments         # DPoP: 200, x-auth-pop: dpop
//   npm run -s call -- --tenant acme --dpop --replay GET /payments   # the same proof twice: 200, then 401 dpop_replayed
//
// With --dpop, a tenant with a client at the DPoP-only issuer (dev/tenants.mjs DEMO_DPOP_CLIENTS)
// uses that one (acme: the `payments` scope); others bind a token of their usual client. A
// `401 use_dpop_nonce` is answered as RFC 9449 §8 says: once more, with the nonce it names.
import { createHash, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { hostRequest } from '../scripts/host-request.mjs';
import { boundIssuerOf, requestToken } from './issuer.mjs';
import { DEMO_CLIENTS, DEMO_DPOP_CLIENTS } from './tenants.mjs';

const USAGE = `Usage: npm run -s call -- --tenant <${Object.keys(DEMO_CLIENTS).join('|')}> [--dpop [--replay]] [--scope "read"] METHOD PATH

  --tenant   whose client calls, and which API (the Host header)
  --dpop     a DPoP-bound token and a DPoP proof per request (Authorization: DPoP)
  --replay   with --dpop: send the same request with the same proof twice
  --scope    space-separated scopes; default all the client may have
  --issuer   the demo issuer (default: ISSUER_URL, else http://127.0.0.1:$ISSUER_PORT, port 9400)
  --edge     the local edge (default: EDGE_URL, else http://127.0.0.1:$EDGE_PORT, port 8787)`;

/** @param {string} message @returns {never} */
function usage(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

const options = /** @type {const} */ ({
  tenant: { type: 'string' }, dpop: { type: 'boolean' }, replay: { type: 'boolean' }, scope: { type: 'string' },
  issuer: { type: 'string' }, edge: { type: 'string' }, help: { type: 'boolean', short: 'h' },
});
const { values, positionals } = (() => {
  try {
    return parseArgs({ options, allowPositionals: true });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
})();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const tenant = /** @type {'acme' | 'globex' | undefined} */ (Object.keys(DEMO_CLIENTS).find((name) => name === values.tenant));
if (tenant === undefined) usage(values.tenant === undefined ? 'missing --tenant' : `unknown tenant ${values.tenant}`);
if (positionals.length !== 2) usage('give a METHOD and a PATH');
const [method, path] = /** @type {[string, string]} */ ([positionals[0]?.toUpperCase(), positionals[1]]);
if (!path.startsWith('/')) usage('PATH starts with /');
if (values.replay && !values.dpop) usage('--replay needs --dpop');

const issuer = (values.issuer ?? process.env.ISSUER_URL ?? `http://127.0.0.1:${process.env.ISSUER_PORT ?? 9400}`).replace(/\/$/, '');
const edge = (values.edge ?? process.env.EDGE_URL ?? `http://127.0.0.1:${process.env.EDGE_PORT ?? 8787}`).replace(/\/$/, '');
const bound = values.dpop ? DEMO_DPOP_CLIENTS[tenant] : undefined;
const client = bound ?? DEMO_CLIENTS[tenant];

// The client's DPoP key: one per run, as a client would keep one per session.
const { privateKey, publicKey } = await generateKeyPair('ES256');
const { kty, crv, x, y } = await exportJWK(publicKey);
const jwk = { kty, crv, x, y };

/**
 * A DPoP proof (RFC 9449 §4.2) for one request; `ath` when it goes with an access token.
 * @param {string} htm @param {string} htu @param {{ accessToken?: string, nonce?: string }} [extra]
 */
function proof(htm, htu, extra = {}) {
  return new SignJWT({
    jti: randomUUID(), htm, htu,
    ...(extra.accessToken === undefined ? {} : { ath: createHash('sha256').update(extra.accessToken).digest('base64url') }),
    ...(extra.nonce === undefined ? {} : { nonce: extra.nonce }),
  }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).setIssuedAt().sign(privateKey);
}

let token;
try {
  token = await requestToken(bound === undefined ? issuer : boundIssuerOf(issuer), {
    clientId: client.clientId, clientSecret: client.clientSecret, resource: client.resource,
    scope: values.scope ?? client.scopes.join(' '),
    ...(values.dpop ? { dpop: (/** @type {string} */ htm, /** @type {string} */ htu) => proof(htm, htu) } : {}),
  });
} catch (error) {
  const why = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
  console.error(`no token from ${issuer}: ${why}\n(is \`npm start\` running?)`);
  process.exit(1);
}

// htu is the URL as the client addresses it: the tenant's host (the Host header), not the
// loopback address the request is sent to, without query and fragment.
const target = new URL(path, edge);
const htu = `${target.protocol}//${client.host}${target.pathname}`;

/** @param {Record<string, string>} headers */
async function send(headers) {
  try {
    return await hostRequest(`${edge}${path}`, { method, host: client.host, headers });
  } catch (error) {
    console.error(`no answer from ${edge}: ${error instanceof Error ? error.message : String(error)}\n(is \`npm start\` running?)`);
    process.exit(1);
  }
}

/** @param {Response} response */
async function print(response) {
  console.log(`HTTP ${response.status} ${response.statusText}`);
  for (const name of ['www-authenticate', 'dpop-nonce']) {
    const value = response.headers.get(name);
    if (value !== null) console.log(`${name}: ${value}`);
  }
  console.log(await response.text());
}

if (!values.dpop) {
  await print(await send({ authorization: `Bearer ${token}` }));
} else {
  let nonce = /** @type {string | undefined} */ (undefined);
  let dpop = await proof(method, htu, { accessToken: token });
  let response = await send({ authorization: `DPoP ${token}`, dpop });
  const asked = response.status === 401 ? response.headers.get('dpop-nonce') : null;
  if (asked !== null) {
    // RFC 9449 §8: the edge wants a nonce; a new proof that carries it.
    nonce = asked;
    console.log(`(the edge asked for a DPoP nonce; sending a new proof with it)`);
    dpop = await proof(method, htu, { accessToken: token, nonce });
    response = await send({ authorization: `DPoP ${token}`, dpop });
  }
  await print(response);
  if (values.replay) {
    console.log('(the same proof again)');
    await print(await send({ authorization: `DPoP ${token}`, dpop }));
  }
}
