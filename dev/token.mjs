#!/usr/bin/env node
// @ts-check
// `npm run token`: an access token from the local demo issuer for a demo tenant's client (client
// credentials grant), printed alone on stdout so `$(npm run -s token -- ...)` captures it.
//
//   TOKEN=$(npm run -s token -- --tenant acme --scope "read admin")
//   npm run -s token -- --tenant globex --scope read --issuer http://127.0.0.1:9400
import { parseArgs } from 'node:util';
import { requestToken } from './issuer.mjs';
import { DEMO_CLIENTS } from './tenants.mjs';

const USAGE = `Usage: npm run -s token -- --tenant <${Object.keys(DEMO_CLIENTS).join('|')}> [--scope "read admin"] [--issuer URL]

  --tenant   whose client asks, and for whose API (the token's audience)
  --scope    space-separated scopes; default none (the token then opens only routes without scopes)
  --issuer   the demo issuer (default: ISSUER_URL, else http://127.0.0.1:$ISSUER_PORT, port 9400)`;

/** @param {string} message @returns {never} */
function usage(message) {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

const options = /** @type {const} */ ({
  tenant: { type: 'string' }, scope: { type: 'string' }, issuer: { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
const client = Object.entries(DEMO_CLIENTS).find(([name]) => name === values.tenant)?.[1];
if (client === undefined) usage(values.tenant === undefined ? 'missing --tenant' : `unknown tenant ${values.tenant}`);

const issuer = values.issuer ?? process.env.ISSUER_URL ?? `http://127.0.0.1:${process.env.ISSUER_PORT ?? 9400}`;
try {
  const token = await requestToken(issuer.replace(/\/$/, ''), {
    clientId: client.clientId, clientSecret: client.clientSecret, resource: client.resource, scope: values.scope,
  });
  console.log(token);
} catch (error) {
  const why = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
  console.error(`no token from ${issuer}: ${why}\n(is \`npm start\` running?)`);
  process.exit(1);
}
