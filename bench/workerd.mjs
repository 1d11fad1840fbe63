// @ts-check
// The Workers under test in ONE workerd process: each bundled with wrangler's own esbuild, run by
// the Miniflare wrangler runs, each on its own direct socket, with the stand-in issuer and origin
// (test/fixtures/issuer-worker.js) behind their outbound fetches; and that process's CPU time.
//
//   await bundle();
//   const { mf, urls, workerd, outside } = await start({ jwks, inspector: false });
//   const before = cpuTicks(workerd);   ...   (cpuTicks(workerd) - before) / TICKS_PER_SECOND
//   await outside.hits({ url: 'https://issuer.bench.test/jwks' });
//   await mf.dispose();
//
// Adding a Worker: its entry in bench/workers/ and one line in WORKERS below.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/processes.mjs';
import { control } from '../test/fixtures/issuer-worker.js';
import { AUDIENCE, ISSUER } from './traffic.mjs';

const require = createRequire(import.meta.url);
// The Miniflare (and so the workerd) that wrangler itself runs (package.json overrides keep the
// vitest plugin on the same one).
const wranglerRequire = createRequire(require.resolve('wrangler/package.json'));
// Typed loosely: the types that resolve from here are the beta's. Miniflare 5 takes its own options
// shape; convertV4MiniflareOptions reads the v4 one (scriptPath, bindings, ...) written here.
/** @type {{ Miniflare: new (options: any) => any; convertV4MiniflareOptions: (options: any) => any }} */
const { Miniflare, convertV4MiniflareOptions } = await import(wranglerRequire.resolve('miniflare'));
const miniflareRequire = createRequire(wranglerRequire.resolve('miniflare'));
/** wrangler's own esbuild (not a dependency of ours). */
/** @type {typeof import('esbuild')} */
const esbuild = await import(wranglerRequire.resolve('esbuild'));

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.dirname(here);
/** Bundles, the deploy dry run and profiles go here (git-ignored). */
export const build = path.join(here, '.build');
const STAND_IN = path.join(root, 'test/fixtures/issuer-worker.js');
const COMPAT = '2026-04-01';

/** The settings every product Worker runs with: the production default (wrangler.toml). */
export const VARS = { LOG_SAMPLE_RATE: '0.01' };
/** The twins that log every allowed decision (the rows named `... (LOG_SAMPLE_RATE 1)`). */
export const LOG_ALL = { LOG_SAMPLE_RATE: '1' };

/** wrangler.toml's new_sqlite_classes. */
const sqlite = (/** @type {Record<string, string>} */ classes) =>
  Object.fromEntries(Object.entries(classes).map(([binding, className]) => [binding, { className, useSQLite: true }]));
/** Every Worker under test: its entry in bench/workers/ and its Miniflare options (given the JWKS, JSON). */
export const WORKERS = {
  floor: { entry: 'floor.js', options: () => ({}) },
  crypto: { entry: 'crypto-limit.js', options: (/** @type {string} */ jwks) => ({ bindings: { JWKS: jwks } }) },
  'jose-hono': { entry: 'jose-hono.js', options: (/** @type {string} */ jwks) => ({ bindings: { JWKS: jwks, ISSUER, AUDIENCE } }) },
  'edge-auth': {
    entry: 'edge-auth.ts',
    options: () => ({
      bindings: { ...VARS, ISSUER, AUDIENCE }, outboundService: 'aux',
      durableObjects: sqlite({ ISSUER_KEYS: 'IssuerKeys', TENANT_STATE: 'TenantState', RATE_LIMITER: 'RateLimiter', DPOP_REPLAY: 'DpopReplay' }),
    }),
  },
  // The same Worker logging every decision: what a log line costs, against the production default.
  'edge-auth-log-all': {
    entry: 'edge-auth.ts',
    options: () => ({
      bindings: { ...LOG_ALL, ISSUER, AUDIENCE }, outboundService: 'aux',
      durableObjects: sqlite({ ISSUER_KEYS: 'IssuerKeys', TENANT_STATE: 'TenantState', RATE_LIMITER: 'RateLimiter', DPOP_REPLAY: 'DpopReplay' }),
    }),
  },
  forward: { entry: 'forward-floor.js', options: () => ({ outboundService: 'aux' }) },
  'forward-verify': { entry: 'forward-verify.js', options: (/** @type {string} */ jwks) => ({ bindings: { JWKS: jwks }, outboundService: 'aux' }) },
  gateway: { entry: 'gateway.ts', options: () => ({ ...gatewayOptions }) },
  'gateway-log-all': { entry: 'gateway.ts', options: () => ({ ...gatewayOptions, bindings: { ...gatewayOptions.bindings, ...LOG_ALL } }) },
  // The gateway again, with the budget door (bench/budget.mjs): its own isolate, so the budget's
  // loops never touch the gateway row's caches.
  budget: { entry: 'budget.ts', options: () => ({ ...gatewayOptions }) },
};
/** The gateway's bindings, as wrangler.toml gives them (no DPOP_REPLAY: the bench sends it no DPoP). */
const gatewayOptions = {
  bindings: {
    ...VARS, ADMIN_HOST: 'admin.localhost', ADMIN_TOKEN: 'bench-admin-token', TENANT_CACHE_SECONDS: '30',
    ALLOW_INSECURE_ISSUERS: 'false', DOH_URL: 'https://dns.bench.test/dns-query', DEBUG_TIMING: 'false',
  },
  kvNamespaces: ['TENANTS'], outboundService: 'aux',
  durableObjects: sqlite({ ISSUER_KEYS: 'IssuerKeys', DIRECTORY: 'Directory', TENANT_STATE: 'TenantState', RATE_LIMITER: 'RateLimiter' }),
};
/** @typedef {keyof typeof WORKERS | 'edge-auth@base' | 'gateway@base'} WorkerName */
/** @typedef {Record<WorkerName | 'aux', URL>} Urls */

/** BENCH_BASELINE=<git revision>: the product's two Workers bundled again from that revision's
 *  sources, as `edge-auth@base` and `gateway@base` beside the working tree's: an A/B of a change
 *  in one run, rounds alternating. */
export const BASELINE = process.env.BENCH_BASELINE || null;
export const BASE_WORKERS = /** @type {const} */ (['edge-auth', 'gateway']);

/** Each Worker of bench/workers/ bundled as wrangler would. The product's package name
 *  (edge-token-verifier, edge-token-verifier/hono) means the sources, as tsconfig.json "paths"
 *  says (esbuild reads them): the bench measures src/ as it stands, as the tests do. */
export async function bundle() {
  mkdirSync(build, { recursive: true });
  for (const [name, { entry }] of Object.entries(WORKERS)) {
    await esbuild.build({
      absWorkingDir: root, bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser'], external: ['cloudflare:*', 'node:*'], logLevel: 'error',
      entryPoints: [path.join(here, 'workers', entry)], outfile: path.join(build, `${name}.js`),
    });
  }
  if (BASELINE === null) return;
  // The revision's files as they were committed (no checkout: the repository is left as it is),
  // this tree's node_modules beside them.
  const base = path.join(build, 'base');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  execFileSync('sh', ['-c', `git archive ${JSON.stringify(BASELINE)} src bench/workers tsconfig.json package.json | tar -x -C ${JSON.stringify(base)}`], { cwd: root });
  symlinkSync(path.join(root, 'node_modules'), path.join(base, 'node_modules'));
  for (const name of BASE_WORKERS) {
    await esbuild.build({
      absWorkingDir: base, bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser'], external: ['cloudflare:*', 'node:*'], logLevel: 'error',
      entryPoints: [path.join(base, 'bench/workers', WORKERS[name].entry)], outfile: path.join(build, `${name}@base.js`),
    });
  }
}

/** Every Worker to start: name, bundle and Miniflare options. */
const workersToStart = () => [
  ...Object.entries(WORKERS).map(([name, { options }]) => ({ name, options })),
  ...(BASELINE === null ? [] : BASE_WORKERS.map((name) => ({ name: `${name}@base`, options: WORKERS[name].options }))),
];

/**
 * Starts every Worker and the stand-in (`aux`: the bench issuer's discovery and JWKS, and an
 * origin answering 200 on origin.bench.test) in one workerd process.
 * @param {{ jwks: { keys: object[] }; inspector: boolean }} options
 */
export async function start({ jwks, inspector }) {
  const direct = [{ host: '127.0.0.1', port: 0 }];
  const worker = (/** @type {string} */ name, /** @type {string} */ scriptPath, extra = {}) => ({
    name, modules: true, scriptPath, compatibilityDate: COMPAT, unsafeDirectSockets: direct, ...extra,
  });
  const jwksJson = JSON.stringify(jwks);
  const inspectorPort = inspector ? await freePort() : undefined;
  const mf = new Miniflare(convertV4MiniflareOptions({
    // Only a profile attaches a CPU profiler (an inspector costs a little on every request).
    ...(inspectorPort ? { inspectorPort } : {}),
    // The Workers' decision log lines (console.log, sampled at 0.01; every denial of the flood) are
    // not ours to print; warnings and errors are.
    handleStructuredLogs(/** @type {{ level: string; message: string }} */ { level, message }) {
      if (level === 'warn' || level === 'error') process.stderr.write(`${message}\n`);
    },
    workers: [
      worker('aux', STAND_IN),
      ...workersToStart().map(({ name, options }) => worker(name, path.join(build, `${name}.js`), options(jwksJson))),
    ],
  }));
  await mf.ready;
  /** @type {Urls} */
  const urls = /** @type {any} */ ({});
  for (const name of ['aux', ...workersToStart().map((w) => w.name)]) urls[/** @type {keyof Urls} */ (name)] = await mf.unsafeGetDirectURL(name);
  const aux = await mf.getWorker('aux');
  const outside = control((url, init) => aux.fetch(url, init));
  await outside.publishIssuer(ISSUER, jwks, { cacheControl: 'public, max-age=3600' });
  // The origin: 200 'ok' (text/plain from the string body itself), as cheap as a bare
  // `new Response('ok')`: every forwarding row pays it, and a headers record would add ~10 µs.
  await outside.register({ url: 'https://origin.bench.test/*', body: 'ok', headers: {} });
  const answer = await (await aux.fetch('https://origin.bench.test/orders')).text();
  if (answer !== 'ok') throw new Error(`the stand-in origin answers ${answer.slice(0, 100)}, not its registered 'ok'`);
  return { mf, urls, inspectorPort, outside, workerd: findWorkerd() };
}

// --- the workerd process's CPU time --------------------------------------------------------

export const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** user + system CPU time of a process so far (all threads, ended ones too), in clock ticks. */
export const cpuTicks = (/** @type {number} */ pid) => procStat(pid).ticks;

/** CPU time of a process's live threads so far, in ns (/proc/<pid>/task/<tid>/schedstat, field
 *  1): the time /proc/<pid>/stat counts in ticks of 10 ms, without the ticks, so a 1 s run of a
 *  row is as exact as a long one. A thread that ends takes its time along: runs check it against
 *  the ticks (workerd's threads live as long as it does). */
export function cpuNanos(/** @type {number} */ pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* the thread ended meanwhile */ }
  }
  return total;
}

/** /proc/<pid>/stat: comm (field 2, in parentheses, may itself hold spaces and parentheses),
 *  ppid (field 4) and utime + stime (fields 14 and 15, in clock ticks, all threads). */
function procStat(/** @type {number | string} */ pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' '); // fields[0] is field 3 (state)
  return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** The workerd Miniflare spawned: the one process named workerd among this process's descendants
 *  (a child today; any depth, in case a wrapper ever sits between). */
function findWorkerd() {
  /** @type {Map<number, { comm: string; ppid: number }>} */
  const procs = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      procs.set(Number(entry), procStat(entry));
    } catch { /* ended meanwhile */ }
  }
  const ours = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, { ppid }] of procs) if (!ours.has(pid) && ours.has(ppid)) { ours.add(pid); grew = true; }
  }
  const found = [...ours].filter((pid) => procs.get(pid)?.comm === 'workerd');
  if (found.length !== 1) throw new Error(`expected one workerd below pid ${process.pid}, found ${found.length}: CPU per request needs Linux's /proc`);
  return /** @type {number} */ (found[0]);
}

// --- the machine ---------------------------------------------------------------------------

export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The versions that make a run's figures what they are, and the machine's CPU. */
export function versions() {
  // The package.json above the file a require resolves to (some packages export no package.json).
  const pkg = (/** @type {string} */ name, from = require) => {
    let dir = path.dirname(from.resolve(name));
    for (;;) {
      try {
        const json = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
        if (json.name === name) return json.version;
      } catch { /* not here */ }
      if (dir === path.dirname(dir)) return 'unknown';
      dir = path.dirname(dir);
    }
  };
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    node: process.version, wrangler: pkg('wrangler'), workerd: pkg('workerd', miniflareRequire), miniflare: pkg('miniflare', wranglerRequire),
    jose: pkg('jose'), hono: pkg('hono'), autocannon: pkg('autocannon'), cpu, cores: os.cpus().length,
  };
}
