#!/usr/bin/env node
// @ts-check
// `npm run token`: an access token from the local demo issuer for a demo tenant's client (client
// credentials grant), printed alone on stdout so `$(npm run -s token -- ...)` captures it. With
// --opaque, the tenant's opaque-token client asks (dev/tenants.mjs DEMO_OPAQUE_CLIENTS): the token
// is not a JWT, and only the provider can say what it grants (RFC 7662 introspection). --revoke
// revokes such a token at the provider as its client (RFC 7009).
//
//   TOKEN=$(npm run -s token -- --tenant acme --scope "read admin")
//   npm run -s token -- --tenant globex --scope read --issuer http://127.0.0.1:9400
//   OPAQUE=$(npm run -s token -- --tenant acme --opaque --scope "read")
//   npm run -s token -- --revoke "$OPAQUE"
import { parseArgs } from 'node:util';
import { requestToken, revokeToken } from './issuer.mjs';
import { DEMO_CLIENTS, DEMO_OPAQUE_CLIENTS } from './tenants.mjs';

const OPAQUE_TENANTS = Object.keys(DEMO_OPAQUE_CLIENTS);
const USAGE = `Usage: npm run -s token -- --tenant <${Object.keys(DEMO_CLIENTS).join('|')}> [--opaque] [--scope "read admin"] [--issuer URL]
       npm run -s token -- --revoke TOKEN [--tenant <${OPAQUE_TENANTS.join('|')}>] [--issuer URL]

  --tenant   whose client asks, and for whose API (the token's audience)
  --scope    space-separated scopes; default none (the token then opens only routes without scopes)
  --opaque   an opaque token (not a JWT) from the tenant's opaque-token client (${OPAQUE_TENANTS.join(', ')})
  --revoke   revoke an opaque token at the provider, as the opaque-token client it was issued to
             (default tenant ${OPAQUE_TENANTS[0]}); prints the revocation endpoint
  --issuer   the demo issuer (default: ISSUER_URL, else http://127.0.0.1:$ISSUER_PORT, port 9400)`;

/** @param {string} message @returns {never} */
function usage(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

const options = /** @type {const} */ ({
  tenant: { type: 'string' }, scope: { type: 'string' }, opaque: { type: 'boolean' }, revoke: { type: 'string' },
  issuer: { type: 'string' }, help: { type: 'boolean', short: 'h' },
});
const values = (() => {
  try {
    return parseArgs({ options }).values;
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
})();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.revoke !== undefined && (values.opaque || values.scope !== undefined)) usage('--revoke takes no --opaque or --scope');
if (values.revoke === '') usage('--revoke needs the token');

const issuer = (values.issuer ?? process.env.ISSUER_URL ?? `http://127.0.0.1:${process.env.ISSUER_PORT ?? 9400}`).replace(/\/$/, '');
/** @param {unknown} error */
const reason = (error) => (error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error));

if (values.revoke !== undefined) {
  const tenant = values.tenant ?? OPAQUE_TENANTS[0];
  const client = Object.entries(DEMO_OPAQUE_CLIENTS).find(([name]) => name === tenant)?.[1];
  if (client === undefined) usage(`${tenant} has no opaque-token client (${OPAQUE_TENANTS.join(', ')} has)`);
  try {
    const endpoint = await revokeToken(issuer, { clientId: client.clientId, clientSecret: client.clientSecret, token: values.revoke });
    // Never the token itself: it may still be in someone's terminal, not in their logs.
    console.log(`revoked at ${endpoint} as ${client.clientId} (the provider answers the same for a token it does not know)`);
  } catch (error) {
    console.error(`no revocation at ${issuer}: ${reason(error)}\n(is \`npm start\` running?)`);
    process.exit(1);
  }
  process.exit(0);
}

const tenant = Object.keys(DEMO_CLIENTS).find((name) => name === values.tenant);
if (tenant === undefined) usage(values.tenant === undefined ? 'missing --tenant' : `unknown tenant ${values.tenant}`);
const client = values.opaque ? DEMO_OPAQUE_CLIENTS[/** @type {'acme' | 'globex'} */ (tenant)] : DEMO_CLIENTS[/** @type {'acme' | 'globex'} */ (tenant)];
if (client === undefined) usage(`${tenant} has no opaque-token client (${OPAQUE_TENANTS.join(', ')} has)`);

try {
  const token = await requestToken(issuer, {
    clientId: client.clientId, clientSecret: client.clientSecret, scope: values.scope,
    // The opaque-token client names no resource: the provider issues for its API.
    ...(values.opaque ? {} : { resource: client.resource }),
  });
  console.log(token);
} catch (error) {
  console.error(`no token from ${issuer}: ${reason(error)}\n(is \`npm start\` running?)`);
  process.exit(1);
}
