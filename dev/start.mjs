#!/usr/bin/env node
// @ts-check
// `npm start`: the whole local edge on loopback. The demo OpenID provider (dev/issuer.mjs), the
// Shared Signals transmitter (dev/ssf-transmitter.mjs: its pushes to https://api.acme.test/_edge/ssf
// reach the edge's port with that Host) and the echo origin (dev/origin.mjs) run in this process; `wrangler dev` runs in its own process
// group with the local KV and Durable Object state in .wrangler/state and dev/.dev.vars' settings;
// the demo tenants (dev/tenants.mjs) are PUT through the admin API, then the commands to try are
// printed. Ctrl-C, SIGTERM or SIGHUP (to npm or to this process) stops all of it; so do npm or
// whoever started it dying (watchStarters), and this process dying (wrangler's group guard).
//
//   npm start                                         # edge 8787, issuer 9400, origin 9401, transmitter 9402
//   EDGE_PORT=8788 ISSUER_PORT=9500 ORIGIN_PORT=9501 SSF_PORT=9502 npm start
//   npm start -- --edge-port 8788 --issuer-port 9500 --origin-port 9501 --ssf-port 9502
//   npm start -- --state-dir /tmp/edge   # wrangler state and issuer keys there (default .wrangler/state, dev/.state)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostRequest } from '../scripts/host-request.mjs';
import { watchStarters } from '../scripts/processes.mjs';
import { startWranglerDev } from '../scripts/wrangler-dev.mjs';
import { loopbackFetch, startIssuer } from './issuer.mjs';
import { startTransmitter } from './ssf-transmitter.mjs';
import { startOrigin } from './origin.mjs';
import {
  DEMO_CLIENTS, DEMO_INTROSPECTION_CACHE_SECONDS, demoBoundResources, demoResources, demoSsfReceivers, demoTenants, demoWebClients,
} from './tenants.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const ADMIN_HOST = 'admin.localhost';
const READY_TIMEOUT_MS = 90_000;
/** The local settings (admin token, insecure issuers, log every decision): wrangler's --env-file. */
const DEV_VARS = join(ROOT, 'dev/.dev.vars');
/** `npm start -- --help`; an unknown flag prints it too (exit 2), not a stack trace. */
const USAGE = `Usage: npm start -- [--edge-port N] [--issuer-port N] [--origin-port N] [--ssf-port N] [--state-dir DIR]

  --edge-port    wrangler dev, the verifier (default: EDGE_PORT, else 8787)
  --issuer-port  the demo OpenID provider (default: ISSUER_PORT, else 9400)
  --origin-port  the echo origin (default: ORIGIN_PORT, else 9401)
  --ssf-port     the Shared Signals transmitter (default: SSF_PORT, else 9402)
  --state-dir    wrangler's local state and the provider's keys there (default: EDGE_STATE_DIR,
                 else .wrangler/state and dev/.state)

Ctrl-C (or SIGTERM or SIGHUP to npm) stops all of it.`;


const { ports, stateDir } = readOptions();
const keysFile = stateDir === undefined ? join(ROOT, 'dev/.state/issuer-keys.json') : join(stateDir, 'issuer-keys.json');
const adminToken = devVar('ADMIN_TOKEN') ?? 'local-dev-admin-token';
const edgeUrl = `http://127.0.0.1:${ports.edge}`;

/** Everything started so far, stopped in reverse order by shutdown(). @type {{ name: string, stop: () => Promise<void> }[]} */
const started = [];
let shuttingDown = false;
/** wrangler's output streams to the terminal (after the banner). */
let streaming = false;

for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.on(signal, () => void shutdown(0, signal === 'SIGINT' ? '\nstopping…' : `${signal}: stopping…`));
}
// `npm start` execs this file, so npm's SIGINT and SIGTERM reach us; npm passes on nothing else
// (a SIGHUP or SIGKILL to npm ends npm alone), and nobody tells us when npm's parent dies.
watchStarters(() => void shutdown(0, 'npm or the process that started it is gone: stopping…'));

try {
  await main();
} catch (error) {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown(1);
}

async function main() {
  const startedAt = Date.now();
  await assertFree(ports.edge, 'EDGE_PORT', '--edge-port');
  const issuer = await listenOrExplain('issuer', ports.issuer, 'ISSUER_PORT', '--issuer-port',
    () => startIssuer({ port: ports.issuer, resources: demoResources(), boundResources: demoBoundResources(), webClients: demoWebClients({ edgePort: ports.edge }), keysFile, edgePort: ports.edge }));
  started.push({ name: 'issuer', stop: issuer.stop });
  const origin = await listenOrExplain('origin', ports.origin, 'ORIGIN_PORT', '--origin-port',
    () => startOrigin({ port: ports.origin }));
  started.push({ name: 'origin', stop: origin.stop });
  const transmitter = await listenOrExplain('transmitter', ports.ssf, 'SSF_PORT', '--ssf-port',
    () => startTransmitter({ port: ports.ssf, receivers: demoSsfReceivers(), fetch: loopbackFetch(ports.edge) }));
  started.push({ name: 'transmitter', stop: transmitter.stop });

  console.log(`starting wrangler dev on ${edgeUrl} …`);
  const edge = startWrangler();
  started.push({ name: 'wrangler dev', stop: edge.stop });
  await edge.ready;

  for (const config of demoTenants({ issuer: issuer.url, upstream: origin.url, transmitter: transmitter.issuer })) {
    // PUT creates or replaces: a second `npm start` on the same state needs no cleanup.
    const response = await hostRequest(`${edgeUrl}/tenants/${config.id}`, {
      method: 'PUT', host: ADMIN_HOST, body: JSON.stringify(config),
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    });
    if (!response.ok) throw new Error(`seeding tenant ${config.id}: ${response.status} ${await response.text()}`);
  }

  // wrangler's lines about the seeding are still coming: let them land in what is held back.
  await sleep(300);
  console.log(banner({ issuer: issuer.url, origin: origin.url, transmitter: transmitter.issuer, seconds: (Date.now() - startedAt) / 1000 }));
  edge.passThrough();
  streaming = true;
}


/** Ports from flags, then the environment, then defaults that stay clear of each other. */
function readOptions() {
  /** @param {string} message @returns {never} */
  const usage = (message) => {
    console.error(`${message}\n\n${USAGE}`);
    process.exit(2);
  };
  const values = (() => {
    try {
      return parseArgs({
        options: {
          'edge-port': { type: 'string' }, 'issuer-port': { type: 'string' }, 'origin-port': { type: 'string' },
          'ssf-port': { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
        },
      }).values;
    } catch (error) {
      return usage(error instanceof Error ? error.message : String(error));
    }
  })();
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  /** @param {string | undefined} flag @param {string | undefined} env @param {number} fallback @param {string} name */
  const port = (flag, env, fallback, name) => {
    const value = Number(flag ?? env ?? fallback);
    if (!Number.isInteger(value) || value < 1 || value > 65535) usage(`${name} must be a port number, not ${flag ?? env}`);
    return value;
  };
  return {
    ports: {
      edge: port(values['edge-port'], process.env.EDGE_PORT, 8787, 'EDGE_PORT'),
      issuer: port(values['issuer-port'], process.env.ISSUER_PORT, 9400, 'ISSUER_PORT'),
      origin: port(values['origin-port'], process.env.ORIGIN_PORT, 9401, 'ORIGIN_PORT'),
      ssf: port(values['ssf-port'], process.env.SSF_PORT, 9402, 'SSF_PORT'),
    },
    stateDir: values['state-dir'] ?? process.env.EDGE_STATE_DIR,
  };
}

/** A setting from dev/.dev.vars, the file wrangler dev is given for the same values. @param {string} name */
function devVar(name) {
  try {
    const line = readFileSync(DEV_VARS, 'utf8').split('\n').find((l) => l.startsWith(`${name}=`));
    return line?.slice(name.length + 1).trim().replace(/^"(.*)"$/, '$1');
  } catch {
    return undefined;
  }
}

/**
 * wrangler dev would quietly take another port; the printed commands must be right.
 * @param {number} port @param {string} env @param {string} flag
 */
function assertFree(port, env, flag) {
  return new Promise((free, taken) => {
    const probe = createServer();
    probe.once('error', () => taken(new Error(`port ${port} is in use (another npm start?); pick another with ${env}=… or ${flag} …`)));
    probe.listen(port, '127.0.0.1', () => probe.close(() => free(undefined)));
  });
}

/**
 * @template T
 * @param {string} name @param {number} port @param {string} env @param {string} flag @param {() => Promise<T>} start
 */
async function listenOrExplain(name, port, env, flag, start) {
  try {
    return await start();
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === 'EADDRINUSE') {
      throw new Error(`the ${name}'s port ${port} is in use; pick another with ${env}=… or ${flag} …`);
    }
    throw error;
  }
}

function startWrangler() {
  const edge = startWranglerDev({
    port: ports.edge,
    ...(stateDir === undefined ? {} : { persistTo: join(stateDir, 'wrangler') }),
    envFile: DEV_VARS,
    // dev/.dev.vars says so too; the demo issuer is http on loopback and needs it whatever that
    // file says, and the local stack logs every decision (production samples allowed ones).
    vars: { ALLOW_INSECURE_ISSUERS: 'true', LOG_SAMPLE_RATE: '1.0' },
    adminHost: ADMIN_HOST,
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  // Before the banner a failed start is reported by main() with wrangler's output.
  void edge.exited.then((how) => {
    if (!shuttingDown && streaming) void shutdown(1, `wrangler dev exited (${how})`);
  });
  return edge;
}

/** @param {number} code @param {string} [message] */
async function shutdown(code, message) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (message) console.error(message);
  for (const { name, stop } of started.reverse()) {
    await stop().catch((error) => console.error(`stopping ${name}: ${error}`));
  }
  process.exit(code);
}


/** @param {number} ms */
function sleep(ms) {
  return new Promise((wake) => setTimeout(wake, ms));
}

/** What to paste next, with this run's ports. @param {{ issuer: string, origin: string, transmitter: string, seconds: number }} stack */
function banner(stack) {
  const { acme, globex } = DEMO_CLIENTS;
  const issuerFlag = ports.issuer === 9400 ? '' : ` --issuer ${stack.issuer}`;
  const edgeFlag = ports.edge === 8787 ? '' : ` --edge ${edgeUrl}`;
  const token = (/** @type {string} */ tenant, /** @type {string} */ scope) => `$(npm run -s token -- --tenant ${tenant} --scope "${scope}"${issuerFlag})`;
  const curl = (/** @type {string} */ host, /** @type {string} */ path, /** @type {string} */ extra = '') =>
    `curl -i -H 'Host: ${host}'${extra} ${edgeUrl}${path}`;
  const bearer = (/** @type {string} */ name) => ` -H "Authorization: Bearer $${name}"`;
  return `
Local edge ready in ${stack.seconds.toFixed(1)} s: tenants acme (${acme.host}) and globex (${globex.host}).
  edge     ${edgeUrl}   wrangler dev; admin API with -H 'Host: ${ADMIN_HOST}' -H 'Authorization: Bearer ${adminToken}'
  issuer   ${stack.issuer}   oidc-provider: /.well-known/openid-configuration, /jwks (RS256 + ES256)
  origin   ${stack.origin}   echo: answers with the method, path and headers it received
  ssf      ${stack.transmitter}   Shared Signals transmitter: /.well-known/ssf-configuration, streams, push and poll, /dev/events

Try it (in another terminal):
  TOKEN=${token('acme', 'read admin')}
  ${curl(acme.host, '/orders', bearer('TOKEN'))}          # 200: the echo shows x-auth-subject, -client-id, -scopes, -tenant
  ${curl(acme.host, '/health')}                                            # 200: a public route
  ${curl(acme.host, '/orders')}                                            # 401 missing_token
  READ=${token('acme', 'read')}
  ${curl(acme.host, '/admin/users', bearer('READ'))}      # 403 insufficient_scope (needs admin)
  ${curl(globex.host, '/orders', bearer('TOKEN'))}      # 401 invalid_token, wrong_audience: acme's token at globex
  GLOBEX=${token('globex', 'read')}
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code} ' -H 'Host: ${globex.host}'${bearer('GLOBEX')} ${edgeUrl}/orders; done; echo   # 5 x 200 then 429 (5 per 10 s)
  npm run -s call -- --tenant acme --dpop GET /payments${issuerFlag}${edgeFlag}            # 200 with a DPoP-bound token and a proof (x-auth-pop: dpop)
  npm run -s call -- --tenant acme --dpop --replay GET /payments${issuerFlag}${edgeFlag}   # the same proof twice: 200, then 401 invalid_dpop_proof dpop_replayed
  ${curl(acme.host, '/account/profile', bearer('TOKEN'))}   # 401 insufficient_user_authentication: acr_values="urn:acme:mfa", max_age=600 (RFC 9470 step-up)
  USER_TOKEN=$(npm run -s session -- login --user alice${issuerFlag})   # a user logs in to acme's web app (a token with the session's sid)
  ${curl(acme.host, '/orders', bearer('USER_TOKEN'))}     # 200
  npm run -s session -- logout --wait${issuerFlag}${edgeFlag}   # the provider posts a logout token to the edge; returns once the edge refuses the session (within 5 s: acme's maxStalenessSeconds)
  ${curl(acme.host, '/orders', bearer('USER_TOKEN'))}     # 401 invalid_token, revoked
  OPAQUE=$(npm run -s token -- --tenant acme --opaque --scope "read"${issuerFlag})   # an opaque token (not a JWT)
  ${curl(acme.host, '/orders', bearer('OPAQUE'))}         # 200: the edge asked the provider (RFC 7662 introspection) and keeps the answer ${DEMO_INTROSPECTION_CACHE_SECONDS} s
  npm run -s token -- --revoke "$OPAQUE"${issuerFlag}   # the provider revokes it (RFC 7009)
  sleep ${DEMO_INTROSPECTION_CACHE_SECONDS}; ${curl(acme.host, '/orders', bearer('OPAQUE'))}   # 401 invalid_token, inactive: once acme's cacheSeconds has passed

Shared Signals (the edge creates its stream at the transmitter, then the transmitter revokes a user's tokens):
  export EDGE_ADMIN_URL=${edgeUrl} EDGE_ADMIN_HOST=${ADMIN_HOST} EDGE_ADMIN_TOKEN=${adminToken}
  npm run -s tenants -- streams create acme --issuer ${stack.transmitter}   # 201: push to https://api.acme.test/_edge/ssf
  npm run -s tenants -- streams verify acme --issuer ${stack.transmitter}   # the transmitter pushes a verification event
  npm run -s tenants -- streams list acme                # lastVerification.receivedAt: it arrived
  BOB=$(npm run -s session -- login --user bob${issuerFlag})
  ${curl(acme.host, '/orders', bearer('BOB'))}          # 200
  curl -s -X POST ${stack.transmitter}/dev/events -d '${ssfEvent(stack.issuer)}'   # bob's password changed
  sleep 5; ${curl(acme.host, '/orders', bearer('BOB'))}   # 401 invalid_token, revoked (within acme's maxStalenessSeconds)

Key rotation, last (a token signed with a new key is 401 unknown_kid until the edge may fetch the issuer's keys again):
  curl -X POST '${stack.issuer}/dev/rotate?alg=RS256'        # a new signing key for acme's tokens
  ROTATED=${token('acme', 'read')}
  sleep 30; ${curl(acme.host, '/orders', bearer('ROTATED'))}   # 200: the edge fetched the new key on its unknown kid (at most once per 30 s per issuer)

Tenant CLI: EDGE_ADMIN_URL=${edgeUrl} EDGE_ADMIN_HOST=${ADMIN_HOST} EDGE_ADMIN_TOKEN=${adminToken} npm run -s tenants -- list
Ctrl-C stops the edge, the issuer, the transmitter and the origin. Request log lines follow.
`;
}

/** The demo's CAEP credential-change for bob, as the transmitter's control API takes it. @param {string} issuer */
function ssfEvent(issuer) {
  return JSON.stringify({ type: 'credential-change', subject: { format: 'iss_sub', iss: issuer, sub: 'bob' } });
}
