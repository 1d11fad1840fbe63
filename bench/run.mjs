// @ts-check
// `npm run bench`: what one request costs in workerd, the product's two doors against baselines
// measured in the same run (not part of npm test or CI; needs no root, no apt: npm install is
// enough). Every Worker is bundled with wrangler's esbuild and runs in ONE Miniflare (workerd)
// process on its own direct socket; autocannon, in this Node process, drives one row at a time,
// and the rows alternate in rounds (A B C ... A B C ...); each figure is the median over rounds.
//
// Two figures per row:
//   CPU µs/req  CPU time of the workerd process's threads (/proc/<pid>/task/*/schedstat, ns; checked
//               against /proc/<pid>/stat's ticks) over the run, divided by the requests answered 2xx:
//               what Workers bills, and steadier than req/s when other processes compete for the
//               cores. The targets are ratios of it.
//   req/s       requests answered per second of wall time: moves with everything else on the machine.
// The origin (the stand-in, test/fixtures/issuer-worker.js) runs in the same workerd process: the
// forward-only floor, forward after one verify and the gateway rows include the origin's cost,
// which is why they are compared with each other. Ratios are taken per round (against the same
// round's reference), then the median.
//
// Rows (the default run, in the order each round runs them: every row next to its reference):
//   jose-hono RS256|ES256      jose jwtVerify (local JWKS: iss, aud, exp) as a Hono middleware, distinct tokens
//   edgeAuth RS256|ES256       the product's library door (edge-token-verifier/hono), distinct tokens
//   edgeAuth DPoP ES256        edgeAuth, DPoP-bound ES256 tokens, each with a fresh ES256 proof
//   floor                      the Hono floor: a Hono app answering 200
//   edgeAuth repeated          edgeAuth, one RS256 token over and over (its verified-token cache)
//   forward+verify RS256|ES256 forward after one crypto.subtle.verify (key imported once), to the origin
//   gateway RS256|ES256        the product's Worker (edge-token-verifier's default export), distinct tokens
//   forward                    the forward-only floor: forwards to the origin, no auth
//   gateway repeated           the gateway, one RS256 token over and over
//   ... (LOG_SAMPLE_RATE 1)     edgeAuth repeated, gateway RS256 and gateway repeated again on twins that log every
//                              decision: every other row runs at the production default, 0.01 (a line for 1 in 100
//                              allowed requests); the report gives the difference per request
//   edgeAuth opaque repeated   edgeAuth, one opaque token over and over (its introspection answer kept in memory)
//   edgeAuth opaque distinct   edgeAuth, distinct opaque tokens, each introspected at the stand-in (in the same workerd)
// Extra rows, run only when BENCH_ROWS names them: crypto RS256|ES256 (one subtle.verify answering
// 200, a bare Worker), edgeAuth off (no TenantState or RateLimiter bound), edgeAuth on (plus a
// perSubject limit), gateway public (an auth:none route: forwarding without a decision).
// Distinct tokens never repeat within a run: each run takes the next tokens of its pool and
// stops early if the pool runs out. A full run also counts JWKS fetches for a cold tenant and a
// random-kid flood, and measures the deploy bundle.
//
// The knobs (environment):
//   npm run bench                                       # ~5 minutes; writes bench/RESULTS.md
//   BENCH_SECONDS=8 BENCH_ROUNDS=7 BENCH_CONNECTIONS=16 npm run bench    # defaults 4, 5, 16
//   BENCH_ROWS='^(floor|edgeAuth repeated)$' node bench/run.mjs   # rows matching a regex; no RESULTS.md
//   BENCH_PROFILE='^edgeAuth RS256$' node bench/run.mjs # those rows under V8's CPU profiler: self time by function and module
//   BENCH_WARMUP seconds per row before round 1 (default 1; 0: none); BENCH_POOL distinct tokens per alg
//   BENCH_BASELINE=HEAD~1 BENCH_ROWS='^gateway' node bench/run.mjs   # an A/B: each product row also on HEAD~1's sources
//   BENCH_BUDGET=only node bench/run.mjs                # the gateway's budget, step by step (bench/budget.mjs), and its four rows
//   BENCH_DPOP=only node bench/run.mjs                  # the DPoP row's Worker and replay-object shares (bench/dpop.mjs), and its two rows
//   BENCH_SECONDS=1 BENCH_ROUNDS=1 BENCH_WARMUP=0 BENCH_POOL=2000 npm run bench   # a smoke run (~20 s; its RESULTS.md says nothing)
//
// The parts: traffic.mjs (keys, tokens, the requests of each kind of traffic), workerd.mjs (the
// Workers bundled and started in one workerd, its CPU time from /proc), load.mjs (autocannon runs
// and rounds), profile.mjs (BENCH_PROFILE), checks.mjs (keys under load, bundle size), report.mjs
// (RESULTS.md).
//
// Adding a row: one line in ROWS below (a Worker of WORKERS in workerd.mjs, a traffic of TRAFFIC
// in traffic.mjs, a host). An A/B of one Worker (say a tenant resolver that returns a value
// against one that returns a promise) is a host variant in that Worker (as
// bench/workers/edge-auth.ts has) and a row per host. A target is one line in TARGETS.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureBudget, profileBudget } from './budget.mjs';
import { measureDpop } from './dpop.mjs';
import { bundleSize, coldTenant, kidFlood } from './checks.mjs';
import { expectStatus, rounds, runRow } from './load.mjs';
import { profileRows } from './profile.mjs';
import { render, renderBaseline, renderBudget, renderDpop } from './report.mjs';
import { AUDIENCE, HOST, ISSUER, createTraffic, makeKeys } from './traffic.mjs';
import { BASELINE, BASE_WORKERS, build, bundle, loadAverage, start, versions } from './workerd.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
/** @typedef {typeof settings} Settings */
const settings = {
  rounds: Number(process.env.BENCH_ROUNDS ?? 5),
  seconds,
  warmup: Number(process.env.BENCH_WARMUP ?? 1),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 16),
  /** Distinct tokens per alg: more than a run answers at ~12,000 req/s, so a run rarely stops early
   *  (RS256 signing costs ~0.3 ms of this machine's two cores a token), and many more than the
   *  product's token cache remembers (10,000 tokens; its admission table 4,093 fingerprints), so a
   *  token that comes round again to the same Worker a pool later is a miss. */
  pool: Number(process.env.BENCH_POOL ?? Math.max(60_000, 12_000 * seconds)),
};
/** BENCH_BUDGET=1: measure the gateway's budget after the rows (a full run always does);
 *  BENCH_BUDGET=only: the budget and the four rows it is compared with. */
const BUDGET = process.env.BENCH_BUDGET ?? '';
const BUDGET_ROWS = '^(forward|gateway repeated|forward\\+verify RS256|gateway RS256)$';
/** BENCH_DPOP=only: the DPoP split (bench/dpop.mjs) and the two rows it is read with (a full run always does it). */
const DPOP = process.env.BENCH_DPOP ?? '';
const DPOP_ROWS = '^(edgeAuth ES256|edgeAuth DPoP ES256)$';
const ONLY = process.env.BENCH_ROWS || BUDGET === 'only' || DPOP === 'only'
  ? new RegExp(process.env.BENCH_ROWS || (BUDGET === 'only' ? BUDGET_ROWS : DPOP_ROWS)) : null;
/** The edgeAuth host whose issuer introspects opaque tokens (bench/workers/edge-auth.ts). */
const OPAQUE_HOST = 'opaque.bench.test';
const PROFILE = process.env.BENCH_PROFILE ? new RegExp(process.env.BENCH_PROFILE) : null;

/** @typedef {{ key: string; worker: import('./workerd.mjs').WorkerName; traffic: string; host?: string; path?: string; about: string; extra?: boolean;
 *    logAll?: string }} Row `logAll`: the row is the named row's twin at LOG_SAMPLE_RATE 1 (every other row runs at the production 0.01) */

/** Every row, in the order a round runs them. `extra` rows run only when BENCH_ROWS names them. */
const ROWS = /** @type {Row[]} */ ([
  { key: 'jose-hono RS256', worker: 'jose-hono', traffic: 'distinct RS256', about: 'jose jwtVerify as Hono middleware, RS256, distinct tokens' },
  { key: 'edgeAuth RS256', worker: 'edge-auth', traffic: 'distinct RS256', about: 'edgeAuth (edge-token-verifier/hono), RS256, distinct tokens' },
  { key: 'jose-hono ES256', worker: 'jose-hono', traffic: 'distinct ES256', about: 'jose jwtVerify as Hono middleware, ES256, distinct tokens' },
  { key: 'edgeAuth ES256', worker: 'edge-auth', traffic: 'distinct ES256', about: 'edgeAuth (edge-token-verifier/hono), ES256, distinct tokens' },
  { key: 'edgeAuth DPoP ES256', worker: 'edge-auth', traffic: 'dpop ES256', about: 'edgeAuth, ES256 DPoP-bound tokens, each with a fresh ES256 proof (replay object call included)' },
  { key: 'floor', worker: 'floor', traffic: 'repeated RS256', about: 'Hono floor: a Hono app answering 200' },
  { key: 'edgeAuth repeated', worker: 'edge-auth', traffic: 'repeated RS256', about: 'edgeAuth, one repeated RS256 token' },
  { key: 'edgeAuth repeated (LOG_SAMPLE_RATE 1)', worker: 'edge-auth-log-all', traffic: 'repeated RS256', about: 'edgeAuth, one repeated RS256 token, every decision logged (LOG_SAMPLE_RATE 1)', logAll: 'edgeAuth repeated' },
  { key: 'forward+verify RS256', worker: 'forward-verify', traffic: 'distinct RS256', about: 'forward after one crypto.subtle.verify, RS256, distinct tokens' },
  { key: 'gateway RS256', worker: 'gateway', traffic: 'distinct RS256', about: 'gateway (edge-token-verifier), RS256, distinct tokens' },
  { key: 'gateway RS256 (LOG_SAMPLE_RATE 1)', worker: 'gateway-log-all', traffic: 'distinct RS256', about: 'gateway, RS256, distinct tokens, every decision logged (LOG_SAMPLE_RATE 1)', logAll: 'gateway RS256' },
  { key: 'forward+verify ES256', worker: 'forward-verify', traffic: 'distinct ES256', about: 'forward after one crypto.subtle.verify, ES256, distinct tokens' },
  { key: 'gateway ES256', worker: 'gateway', traffic: 'distinct ES256', about: 'gateway (edge-token-verifier), ES256, distinct tokens' },
  { key: 'forward', worker: 'forward', traffic: 'repeated RS256', about: 'forward-only floor (no auth)' },
  { key: 'gateway repeated', worker: 'gateway', traffic: 'repeated RS256', about: 'gateway, one repeated RS256 token' },
  { key: 'gateway repeated (LOG_SAMPLE_RATE 1)', worker: 'gateway-log-all', traffic: 'repeated RS256', about: 'gateway, one repeated RS256 token, every decision logged (LOG_SAMPLE_RATE 1)', logAll: 'gateway repeated' },
  { key: 'edgeAuth opaque repeated', worker: 'edge-auth', traffic: 'repeated opaque', host: OPAQUE_HOST, about: 'edgeAuth, one repeated opaque token (introspection cached)' },
  { key: 'edgeAuth opaque distinct', worker: 'edge-auth', traffic: 'distinct opaque', host: OPAQUE_HOST, about: 'edgeAuth, distinct opaque tokens (local introspection endpoint: the stand-in, in the same workerd)' },
  { key: 'crypto RS256', worker: 'crypto', traffic: 'distinct RS256', about: 'crypto limit: one subtle.verify answering 200, RS256', extra: true },
  { key: 'crypto ES256', worker: 'crypto', traffic: 'distinct ES256', about: 'crypto limit: one subtle.verify answering 200, ES256', extra: true },
  { key: 'edgeAuth off', worker: 'edge-auth', traffic: 'distinct RS256', host: 'off.bench.test', about: 'edgeAuth RS256, no TenantState/RateLimiter bound', extra: true },
  { key: 'edgeAuth on', worker: 'edge-auth', traffic: 'distinct RS256', host: 'on.bench.test', about: 'edgeAuth RS256, revocation + perSubject limit', extra: true },
  { key: 'gateway public', worker: 'gateway', traffic: 'repeated RS256', host: 'public.bench.test', about: 'gateway, auth:none route (forwarding, no decision)', extra: true },
]);

/** @typedef {(typeof TARGETS)[number]} Target */
/** The targets: a row's CPU per request at most `max` times its reference's, in the same round.
 *  `path` names the row in the report's targets table: runs compare across rounds by it. */
const TARGETS = [
  { row: 'edgeAuth RS256', ref: 'jose-hono RS256', max: 1.10, path: '`edgeAuth`, distinct tokens, RS256', against: 'jose `jwtVerify` as Hono middleware' },
  { row: 'edgeAuth ES256', ref: 'jose-hono ES256', max: 1.10, path: '`edgeAuth`, distinct tokens, ES256', against: 'jose `jwtVerify` as Hono middleware' },
  { row: 'edgeAuth DPoP ES256', ref: 'edgeAuth ES256', max: 2.3, path: '`edgeAuth`, DPoP, distinct tokens, fresh ES256 proofs', against: 'the bearer row of the same alg' },
  { row: 'edgeAuth repeated', ref: 'floor', max: 1.15, path: '`edgeAuth`, repeated token', against: 'the Hono floor' },
  { row: 'gateway RS256', ref: 'forward+verify RS256', max: 1.25, path: 'gateway, distinct tokens, RS256', against: 'forward after one verify' },
  { row: 'gateway ES256', ref: 'forward+verify ES256', max: 1.25, path: 'gateway, distinct tokens, ES256', against: 'forward after one verify' },
  { row: 'gateway repeated', ref: 'forward', max: 1.20, path: 'gateway, repeated token', against: 'the forward-only floor' },
  { row: 'edgeAuth opaque repeated', ref: 'edgeAuth repeated', max: 1.10, path: '`edgeAuth`, repeated opaque token (introspection cached)', against: 'the repeated JWT row' },
];

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

async function main() {
  const started = Date.now();
  const info = versions();
  const loadBefore = loadAverage();
  log(`edge token verifier bench: ${new Date().toISOString()} on ${info.cpu}, ${info.cores} cores, load average ${loadBefore}`);
  log(`node ${info.node}, wrangler ${info.wrangler}, workerd ${info.workerd}, miniflare ${info.miniflare}, jose ${info.jose}, hono ${info.hono}, autocannon ${info.autocannon}`);

  const rows = ROWS.filter((row) => (ONLY ? ONLY.test(row.key) : !row.extra) && (!PROFILE || PROFILE.test(row.key)))
    // BENCH_BASELINE: each row of the product's Workers with its twin on the baseline's bundle.
    .flatMap((row) => (BASELINE !== null && BASE_WORKERS.some((w) => w === row.worker)
      ? [row, { ...row, key: `${row.key} @base`, about: `${row.about}, on ${BASELINE}`, worker: /** @type {import('./workerd.mjs').WorkerName} */ (`${row.worker}@base`) }] : [row]));
  if (rows.length === 0) throw new Error(`no row matches ${process.env.BENCH_ROWS ?? ''} ${process.env.BENCH_PROFILE ?? ''}`);
  const full = !ONLY && !PROFILE;

  await bundle();
  const { keys, jwks } = await makeKeys();
  const traffic = createTraffic({ keys, pool: settings.pool });
  const wantBudget = full || BUDGET !== '';

  const measured = await withWorkerd({ jwks, inspector: PROFILE !== null, traffic, rows }, async ({ bench, inspectorPort, outside }) => {
    await warm(bench, rows);
    if (PROFILE) {
      await profileRows(bench, rows, { inspectorPort: /** @type {number} */ (inspectorPort), seconds: settings.seconds });
      return null;
    }
    const runs = await rounds(bench, rows, settings);
    const budget = wantBudget ? await gatewayBudget(bench, settings) : null;
    const dpop = full || DPOP !== '' ? await measureDpop(bench, { rounds: settings.rounds }) : null;
    if (!full) return { runs, budget, dpop, cold: null, flood: null, workerd: bench.workerd };
    const cold = await coldTenant(bench.urls, outside, keys, jwks);
    const flood = await kidFlood(bench.urls, outside, keys);
    return { runs, budget, dpop, cold, flood, workerd: bench.workerd };
  });
  if (measured === null) return;
  const { runs, budget } = measured;
  if (BASELINE !== null) log(`\n${renderBaseline(rows, runs, BASELINE)}`);
  if (measured.dpop !== null && !full) log(`\n${renderDpop(runs, measured.dpop)}`);

  // The budget in the request: its three rows (and with BENCH_BASELINE the gateway's twins) under
  // the profiler, in a workerd of their own (an inspector costs a little on every request: the rows
  // above ran without one).
  const profiled = rows.filter((row) => ['forward', 'gateway repeated', 'gateway RS256', 'gateway repeated @base', 'gateway RS256 @base'].includes(row.key));
  const shares = wantBudget
    ? await withWorkerd({ jwks, inspector: true, traffic, rows: profiled }, async ({ bench, inspectorPort }) => {
      await warm(bench, profiled);
      return profileBudget(bench, profiled, { inspectorPort: /** @type {number} */ (inspectorPort), seconds: settings.seconds });
    })
    : null;
  if (!full) {
    if (wantBudget) {
      writeFileSync(path.join(build, 'budget.json'), JSON.stringify({ budget, shares, runs }, null, 1));
      log(`\n${renderBudget({ budget, shares, runs, load: loadAverage() })}`);
    }
    return;
  }
  const size = bundleSize();
  const authorization = async (/** @type {string} */ kind) => (await traffic.headersOf(kind))[0]?.authorization?.length ?? 0;
  const tokenBytes = { RS256: await authorization('distinct RS256'), ES256: await authorization('distinct ES256') };
  const report = render({
    info, settings, rows, targets: TARGETS, runs, cold: /** @type {any} */ (measured.cold), flood: /** @type {any} */ (measured.flood),
    size, tokenBytes, workerd: measured.workerd, budget, shares, dpop: measured.dpop, baseline: BASELINE, load: [loadBefore, loadAverage()], seconds: (Date.now() - started) / 1000,
  });
  log('');
  log(report);
  writeFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'RESULTS.md'), report);
  log(`written to bench/RESULTS.md in ${Math.round((Date.now() - started) / 1000)} s`);
}

/**
 * One workerd with every Worker (start), the gateways' tenants put through their admin API, and
 * `work` given what a run needs; disposed after.
 * @template T
 * @param {{ jwks: { keys: object[] }; inspector: boolean; traffic: import('./traffic.mjs').Traffic; rows: Row[] }} options
 * @param {(w: { bench: import('./load.mjs').Bench; inspectorPort: number | undefined; outside: any }) => Promise<T>} work
 */
async function withWorkerd(options, work) {
  const { mf, urls, inspectorPort, outside, workerd } = await start({ jwks: options.jwks, inspector: options.inspector });
  try {
    // The gateway's tenants, through its admin API, on the same host and audience as the others.
    const admin = { host: 'admin.localhost', method: 'PUT', headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' } };
    const benchTenant = JSON.stringify({ id: 'bench', hosts: [HOST], upstream: 'https://origin.bench.test', issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256', 'ES256'] }] });
    for (const worker of /** @type {import('./workerd.mjs').WorkerName[]} */ (['gateway', 'gateway-log-all', 'budget', ...(BASELINE === null ? [] : ['gateway@base'])])) {
      await expectStatus(urls[worker], { ...admin, path: '/tenants/bench', body: benchTenant }, 201, `PUT ${worker} tenant`);
    }
    await expectStatus(urls.gateway, {
      ...admin, path: '/tenants/public',
      body: JSON.stringify({ id: 'public', hosts: ['public.bench.test'], upstream: 'https://origin.bench.test', routes: [{ path: '/*', auth: 'none' }], issuers: [{ issuer: ISSUER, audiences: ['https://public.bench.test'] }] }),
    }, 201, 'PUT public gateway tenant');
    // The introspection endpoint of the opaque rows' tenant: every token active for an hour.
    if (options.rows.some((row) => row.host === OPAQUE_HOST)) {
      const now = Math.floor(Date.now() / 1000);
      await outside.register({
        url: `${ISSUER.replace(/\/$/, '')}/introspect`, behaviour: 'introspect',
        body: { active: true, iss: ISSUER, sub: 'user-1', aud: 'https://opaque.bench.test', scope: 'orders:read', client_id: 'bench-client',
          token_type: 'Bearer', iat: now, exp: now + 3600 },
      });
    }
    log(`workerd pid ${workerd}${inspectorPort ? ' (with an inspector)' : ''}; CPU from /proc/${workerd}/task/*/schedstat`);
    return await work({ bench: { urls, workerd, traffic: options.traffic, connections: settings.connections }, inspectorPort, outside });
  } finally {
    await mf.dispose();
  }
}

/** Every row answers 200 to its first request, then warms (JIT, key imports, tenant caches) unmeasured. */
async function warm(/** @type {import('./load.mjs').Bench} */ bench, /** @type {Row[]} */ rows) {
  for (const row of rows) {
    const first = /** @type {Record<string, string>} */ ((await bench.traffic.headersOf(row.traffic))[0]);
    await expectStatus(bench.urls[row.worker], { host: row.host ?? HOST, path: row.path, headers: first }, 200, row.key);
  }
  for (const row of rows) if (settings.warmup > 0) await runRow(bench, row, settings.warmup);
}

/** The budget, on distinct RS256 tokens the budget Worker has not seen and the repeated token. */
async function gatewayBudget(/** @type {import('./load.mjs').Bench} */ bench, /** @type {Settings} */ options) {
  const pool = await bench.traffic.headersOf('distinct RS256');
  // Its distinct-token steps use up to 8,000 tokens the budget Worker has not seen: a smoke run's
  // small pool has too few, and its budget is only the profile's columns.
  if (pool.length < 8000) {
    log(`budget: the steps alone need 8000 distinct tokens, the pool has ${pool.length}: only the profile's columns`);
    return null;
  }
  const tokens = pool.slice(0, 8000).map((set) => /** @type {string} */ (set.authorization).slice('Bearer '.length));
  const repeated = /** @type {string} */ ((await bench.traffic.headersOf('repeated RS256'))[0]?.authorization).slice('Bearer '.length);
  // Steps of a microsecond or less need more rounds than rows do to settle on a busy machine.
  return measureBudget(bench, { rounds: Math.max(options.rounds, 9), tokens, repeated });
}

await main();
