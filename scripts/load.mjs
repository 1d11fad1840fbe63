// @ts-check
// A bounded correctness load against `wrangler dev` (npm run test:load; not part of npm test):
// the stand-in issuer and echo origin of the tests (test/fixtures/issuer-worker.js, over node:http
// on two loopback ports; ALLOW_INSECURE_ISSUERS=true), several tenants, and a mix of valid,
// invalid and rate-limited requests at a fixed concurrency.
// Fails unless: no 5xx, no false accept (each request's status is the one its kind expects),
// and the rate-limited key got no more than its limit admitted (its window outlasts the run;
// exactly the limit with LOAD_STRICT_LIMIT=1, see the note at the check).
//
//   npm run test:load
//   LOAD_REQUESTS=50000 LOAD_CONCURRENCY=100 LOAD_SECONDS=300 npm run test:load
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { listen } from '../test/fixtures/issuer-node.mjs';
import { control, createStandIn } from '../test/fixtures/issuer-worker.js';
import { freePort } from './processes.mjs';
import { startWranglerDev } from './wrangler-dev.mjs';

const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 50);
const MAX_SECONDS = Number(process.env.LOAD_SECONDS ?? 240);
const TENANTS = 4;
/** The perSubject limit of the one rate-limited key, in a window far longer than the run. */
const LIMIT = Number(process.env.LOAD_LIMIT ?? 50);

const sleep = (/** @type {number} */ ms) => new Promise((wake) => setTimeout(wake, ms));

// --- the stand-in issuer and origin ----------------------------------------------------------
// One stand-in on two ports: the issuer's (discovery and JWKS registered there, anything else a
// 404) and the origin's (nothing registered: the echo origin).
const { privateKey, publicKey } = await generateKeyPair('ES256');
const kid = 'load-1';
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] };
const stranger = await generateKeyPair('ES256');
const world = createStandIn();
const calls = control((url, init) => world.fetch(new Request(url, init)));
const issuerServer = await listen(world);
const issuer = issuerServer.url;
await calls.publishIssuer(issuer, jwks, { cacheControl: 'max-age=3600' });
const origin = await listen(world);

// --- wrangler dev ----------------------------------------------------------------------------
const scratch = await mkdtemp(join(tmpdir(), 'edge-load-'));
const adminToken = `load-${randomBytes(18).toString('base64url')}`;
await writeFile(join(scratch, 'secrets.env'), `ADMIN_TOKEN=${adminToken}\n`);
const port = await freePort();
const wrangler = startWranglerDev({
  port, inspectorPort: await freePort(), persistTo: join(scratch, 'state'), envFile: join(scratch, 'secrets.env'),
  vars: { ALLOW_INSECURE_ISSUERS: 'true', LOG_SAMPLE_RATE: '0' }, removeOnExit: scratch, readyTimeoutMs: 120_000,
  env: { WRANGLER_LOG_PATH: join(scratch, 'logs') },
});
process.on('SIGINT', () => { void wrangler.stop().finally(() => process.exit(130)); });

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/**
 * @param {string} host @param {string} path
 * @param {{ method?: string, headers?: Record<string, string>, body?: string }} [init]
 * @returns {Promise<{ status: number, body: string }>}
 */
function send(host, path, init = {}) {
  return new Promise((done, failed) => {
    /** @type {Record<string, string>} */
    const headers = { ...init.headers, host };
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    const request = http.request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers, agent }, (response) => {
      const chunks = /** @type {Buffer[]} */ ([]);
      response.on('data', (c) => chunks.push(c));
      response.on('end', () => done({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', failed);
    });
    request.setTimeout(30_000, () => request.destroy(new Error('timeout')));
    request.on('error', failed);
    request.end(init.body);
  });
}

async function main() {
  await wrangler.ready;

  const hosts = Array.from({ length: TENANTS }, (_, i) => `t${i}.load.test`);
  // The last tenant holds the one rate-limited key; the others' limits are never reached.
  const limitedHost = 'limited.load.test';
  for (const [i, host] of [...hosts, limitedHost].entries()) {
    const perSubject = host === limitedHost ? LIMIT : 1_000_000;
    const config = {
      id: `load-${i}`, hosts: [host], upstream: `http://127.0.0.1:${origin.port}`,
      issuers: [{ issuer, audiences: [`https://${host}`], algorithms: ['ES256'] }],
      routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', scopes: ['admin'] }, { path: '/*', auth: 'required' }],
      rateLimit: { perIp: { limit: 1_000_000, windowSeconds: 60 }, perSubject: { limit: perSubject, windowSeconds: 3600 } },
    };
    const put = await send('admin.localhost', `/tenants/load-${i}`, {
      method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(config),
    });
    if (put.status !== 201 && put.status !== 200) throw new Error(`PUT tenant ${i}: ${put.status} ${put.body}`);
  }

  const now = Math.floor(Date.now() / 1000);
  /** @param {Record<string, unknown>} claims @param {{ key?: Parameters<SignJWT['sign']>[0], kid?: string }} [o] */
  const sign = (claims, o = {}) => new SignJWT({ iss: issuer, iat: now, exp: now + 3600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? kid, typ: 'JWT' }).sign(o.key ?? privateKey);
  const tokens = await Promise.all(hosts.map(async (host, i) => ({
    // Many subjects, so the valid traffic stays far below its per-subject limit.
    valid: await Promise.all(Array.from({ length: 200 }, (_, s) => sign({ sub: `user-${i}-${s}`, aud: `https://${host}`, scope: 'read' }))),
    admin: await Promise.all(Array.from({ length: 50 }, (_, s) => sign({ sub: `admin-${i}-${s}`, aud: `https://${host}`, scope: 'read admin' }))),
    expired: await sign({ sub: 'u', aud: `https://${host}`, iat: now - 7200, exp: now - 3600 }),
    foreign: await sign({ sub: 'u', aud: `https://${hosts[(i + 1) % TENANTS]}` }),
    forged: await sign({ sub: 'u', aud: `https://${host}` }, { key: stranger.privateKey }),
    unknownKid: await sign({ sub: 'u', aud: `https://${host}` }, { key: stranger.privateKey, kid: 'nope' }),
  })));
  const limited = await sign({ sub: 'limited', aud: `https://${limitedHost}` });
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: issuer, aud: `https://${hosts[0]}`, exp: now + 3600 })).toString('base64url')}.`;

  /** @typedef {{ kind: string, host: string, path: string, token?: string, expect: number[] }} Plan */
  /** @param {number} n @returns {Plan} */
  function plan(n) {
    const t = n % TENANTS;
    const host = /** @type {string} */ (hosts[t]);
    const mine = /** @type {(typeof tokens)[number]} */ (tokens[t]);
    const pick = Math.floor(n / TENANTS) % 20;
    if (pick < 8) return { kind: 'valid', host, path: `/orders/${n}`, token: mine.valid[n % mine.valid.length], expect: [200] };
    if (pick === 8) return { kind: 'public', host, path: '/health', expect: [200] };
    if (pick === 9) return { kind: 'admin', host, path: '/admin/x', token: mine.admin[n % mine.admin.length], expect: [200] };
    if (pick === 10) return { kind: 'no-scope', host, path: '/admin/x', token: mine.valid[0], expect: [403] };
    if (pick === 11) return { kind: 'missing', host, path: '/orders', expect: [401] };
    if (pick === 12) return { kind: 'expired', host, path: '/orders', token: mine.expired, expect: [401] };
    if (pick === 13) return { kind: 'foreign', host, path: '/orders', token: mine.foreign, expect: [401] };
    if (pick === 14) return { kind: 'forged', host, path: '/orders', token: mine.forged, expect: [401] };
    if (pick === 15) return { kind: 'unknown-kid', host, path: '/orders', token: mine.unknownKid, expect: [401] };
    if (pick === 16) return { kind: 'alg-none', host: /** @type {string} */ (hosts[0]), path: '/orders', token: none, expect: [401] };
    if (pick === 17) return { kind: 'garbage', host, path: '/orders', token: `${n}.x.y`, expect: [401] };
    return { kind: 'valid', host, path: `/orders/${n}`, token: mine.valid[(n + 7) % mine.valid.length], expect: [200] };
  }

  /** @type {Record<string, number>} */
  const byStatus = {};
  /** @type {Record<string, Record<number, number>>} */
  const byKind = {};
  /** @type {string[]} */
  const failures = [];
  /** @type {number[]} */
  const latencies = [];
  let next = 0;
  let errors = 0;
  const started = Date.now();
  const deadline = started + MAX_SECONDS * 1000;

  /** @param {number} n @param {Plan} p */
  async function sendPlanned(n, p) {
    const sentAt = performance.now();
    let status = 0;
    let body = '';
    try {
      ({ status, body } = await send(p.host, p.path, p.token === undefined ? {} : { headers: { authorization: `Bearer ${p.token}` } }));
    } catch (error) {
      errors++;
      if (failures.length < 20) failures.push(`#${n} ${p.kind}: ${String(error)}`);
      return;
    }
    latencies.push(performance.now() - sentAt);
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    const counts = (byKind[p.kind] ??= {});
    counts[status] = (counts[status] ?? 0) + 1;
    if (!p.expect.includes(status) && failures.length < 20) failures.push(`#${n} ${p.kind}: expected ${p.expect.join('|')}, got ${status} ${body.slice(0, 200)}`);
  }

  async function worker() {
    while (next < REQUESTS && Date.now() < deadline) {
      const n = next++;
      await sendPlanned(n, plan(n));
    }
  }
  /** One client on the rate-limited key, alongside the load: its traffic must see exactly LIMIT. */
  async function limitedClient() {
    // Until the load is over and at least twice the limit was sent, within the time bound.
    let sentHere = 0;
    while ((next < REQUESTS || sentHere < 2 * LIMIT) && Date.now() < deadline) {
      sentHere++;
      await sendPlanned(-1, { kind: 'limited', host: limitedHost, path: '/orders', token: limited, expect: [200, 429] });
    }
  }
  await Promise.all([...Array.from({ length: CONCURRENCY - 1 }, worker), limitedClient()]);
  const seconds = (Date.now() - started) / 1000;

  latencies.sort((a, b) => a - b);
  const pct = (/** @type {number} */ q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(1);
  const sent = latencies.length + errors;
  const serverErrors = Object.entries(byStatus).filter(([s]) => Number(s) >= 500).reduce((sum, [, c]) => sum + c, 0);
  const falseAccepts = Object.entries(byKind)
    .filter(([kind]) => !['valid', 'public', 'admin', 'limited'].includes(kind))
    .reduce((sum, [, statuses]) => sum + (statuses[200] ?? 0), 0);
  const limitedSent = Object.values(byKind.limited ?? {}).reduce((a, b) => a + b, 0);
  const limitedAdmitted = byKind.limited?.[200] ?? 0;

  console.log(JSON.stringify({
    requests: sent, seconds: Number(seconds.toFixed(1)), rps: Math.round(sent / seconds), concurrency: CONCURRENCY,
    p50ms: Number(pct(0.5)), p99ms: Number(pct(0.99)), byStatus, byKind, networkErrors: errors,
    issuerHits: await calls.hits({ host: new URL(issuer).host }),
    rateLimit: { limit: LIMIT, sent: limitedSent, admitted: limitedAdmitted },
  }, null, 2));

  const problems = [];
  if (serverErrors > 0) problems.push(`${serverErrors} responses were 5xx`);
  if (falseAccepts > 0) problems.push(`${falseAccepts} invalid requests were admitted`);
  if (errors > 0) problems.push(`${errors} requests failed at the network level`);
  // Never more than the limit (the contract). Fewer happens: a lease's permits that arrive after the lease
  // ended, or that it does not spend, stay counted for the window. LOAD_STRICT_LIMIT=1 demands exact.
  if (limitedAdmitted > LIMIT) problems.push(`the rate-limited key admitted ${limitedAdmitted}, over its limit ${LIMIT}`);
  else if (limitedSent > LIMIT && limitedAdmitted < LIMIT) {
    const note = `the rate-limited key admitted ${limitedAdmitted} of its ${LIMIT} (leased permits stranded)`;
    if (process.env.LOAD_STRICT_LIMIT === '1') problems.push(note);
    else console.warn(`warning: ${note}`);
  }
  if (limitedSent <= LIMIT) problems.push(`the run sent only ${limitedSent} requests for the limited key (need more than ${LIMIT})`);
  if (failures.length > 0) problems.push(...failures);
  return problems;
}

let problems;
try {
  problems = await main();
} catch (error) {
  problems = [String(error instanceof Error ? error.stack : error)];
} finally {
  await wrangler.stop();
  agent.destroy();
  await issuerServer.close();
  await origin.close();
  await sleep(1_000);
  await rm(scratch, { recursive: true, force: true }).catch(() => {});
}
if (problems.length > 0) {
  console.error(`load test FAILED:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('load test passed: no 5xx, no false accept, rate limit bound held');
process.exit(0);
