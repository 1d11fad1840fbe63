// @ts-check
// `npm run bench`: what one request costs in workerd, the product's two doors against baselines
// measured in the same run (not part of npm test or CI; needs no root, no apt: npm install is
// enough). Every Worker is bundled with wrangler's esbuild and runs in ONE Miniflare (workerd)
// process on its own direct socket; autocannon, in this Node process, drives one row at a time,
// and the rows alternate in rounds (A B C ... A B C ...); each figure is the median over rounds.
//
// Two figures per row:
//   CPU µs/req  user + system CPU time of the workerd process (/proc/<pid>/stat, fields 14 and 15)
//               over the run, divided by the requests answered 2xx: what Workers bills, and steadier
//               than req/s when other processes compete for the cores. The targets are ratios of it.
//   req/s       requests answered per second of wall time: moves with everything else on the machine.
// The origin (aux) runs in the same workerd process: the forward-only floor, forward after one
// verify and the gateway rows include the origin's cost, which is why they are compared with each
// other. Ratios are taken per round (against the same round's reference), then the median.
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
// Extra rows, run only when BENCH_ROWS names them: crypto RS256|ES256 (one subtle.verify answering
// 200, a bare Worker), edgeAuth off (no TenantState or RateLimiter bound), edgeAuth on (plus a
// perSubject limit), gateway public (an auth:none route: forwarding without a decision).
// Distinct tokens never repeat within a run: each run takes the next tokens of its pool and
// stops early if the pool runs out. A full run also counts JWKS fetches for a cold tenant and a
// random-kid flood, and measures the deploy bundle.
//
//   npm run bench                                       # ~5 minutes; writes bench/RESULTS.md
//   BENCH_SECONDS=8 BENCH_ROUNDS=7 BENCH_CONNECTIONS=16 npm run bench    # defaults 4, 5, 16
//   BENCH_ROWS='^(floor|edgeAuth repeated)$' node bench/run.mjs   # rows matching a regex; no RESULTS.md
//   BENCH_PROFILE='^edgeAuth RS256$' node bench/run.mjs # those rows under V8's CPU profiler: self time by function and module
//   (also BENCH_WARMUP seconds per row before round 1, default 1; BENCH_POOL distinct tokens per alg)
//
// Adding a row: one line in rowsOf() below (a Worker of WORKERS, a traffic of TRAFFIC, a host); a
// new kind of traffic (say DPoP tokens with fresh proofs) is one entry in TRAFFIC: a list of
// header sets, and whether an entry may repeat. An A/B of one Worker (say a tenant resolver that
// returns a value against one that returns a promise) is a host variant in that Worker (as
// bench/workers/edge-auth.ts has) and a row per host. A target is one line in TARGETS.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { build as buildPackage } from '../scripts/build.mjs';
import { freePort } from '../scripts/processes.mjs';

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

/**
 * The part of autocannon's programmatic API used here (its types package lags its majors).
 * @typedef {{ url: string; connections: number; duration: number; maxOverallRequests?: number; sampleInt?: number;
 *   setupClient?: (client: { getRequestBuffer: () => Buffer }) => void }} LoadOptions
 * @typedef {{ '2xx': number; non2xx: number; errors: number; timeouts: number; statusCodeStats: Record<string, { count: number }> }} LoadResult
 */
const autocannon = /** @type {(options: LoadOptions) => Promise<LoadResult>} */ (require('autocannon'));

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const build = path.join(here, '.build');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
/** Distinct tokens per alg: more than a run answers at ~12,000 req/s, so a run rarely stops early
 *  (RS256 signing costs ~0.3 ms of this machine's two cores a token), and many more than the
 *  product's token cache remembers (10,000 tokens; its admission table 4,093 fingerprints), so a
 *  token that comes round again to the same Worker a pool later is a miss. */
const POOL = Number(process.env.BENCH_POOL ?? Math.max(60_000, 12_000 * SECONDS));
const ONLY = process.env.BENCH_ROWS ? new RegExp(process.env.BENCH_ROWS) : null;
const PROFILE = process.env.BENCH_PROFILE ? new RegExp(process.env.BENCH_PROFILE) : null;
const ISSUER = 'https://issuer.bench.test/';
const AUDIENCE = 'https://api.bench.test';
const HOST = 'api.bench.test';
const COMPAT = '2026-04-01';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

// --- rows, traffic and targets -------------------------------------------------------------

/** @typedef {'RS256' | 'ES256'} Alg */
/** @typedef {{ key: string; worker: WorkerName; traffic: string; host?: string; path?: string; about: string; extra?: boolean }} Row */

/** Every row, in the order a round runs them. `extra` rows run only when BENCH_ROWS names them. */
const rowsOf = () => /** @type {Row[]} */ ([
  { key: 'jose-hono RS256', worker: 'jose-hono', traffic: 'distinct RS256', about: 'jose jwtVerify as Hono middleware, RS256, distinct tokens' },
  { key: 'edgeAuth RS256', worker: 'edge-auth', traffic: 'distinct RS256', about: 'edgeAuth (edge-token-verifier/hono), RS256, distinct tokens' },
  { key: 'jose-hono ES256', worker: 'jose-hono', traffic: 'distinct ES256', about: 'jose jwtVerify as Hono middleware, ES256, distinct tokens' },
  { key: 'edgeAuth ES256', worker: 'edge-auth', traffic: 'distinct ES256', about: 'edgeAuth (edge-token-verifier/hono), ES256, distinct tokens' },
  { key: 'edgeAuth DPoP ES256', worker: 'edge-auth', traffic: 'dpop ES256', about: 'edgeAuth, ES256 DPoP-bound tokens, each with a fresh ES256 proof (replay object call included)' },
  { key: 'floor', worker: 'floor', traffic: 'repeated RS256', about: 'Hono floor: a Hono app answering 200' },
  { key: 'edgeAuth repeated', worker: 'edge-auth', traffic: 'repeated RS256', about: 'edgeAuth, one repeated RS256 token' },
  { key: 'forward+verify RS256', worker: 'forward-verify', traffic: 'distinct RS256', about: 'forward after one crypto.subtle.verify, RS256, distinct tokens' },
  { key: 'gateway RS256', worker: 'gateway', traffic: 'distinct RS256', about: 'gateway (edge-token-verifier), RS256, distinct tokens' },
  { key: 'forward+verify ES256', worker: 'forward-verify', traffic: 'distinct ES256', about: 'forward after one crypto.subtle.verify, ES256, distinct tokens' },
  { key: 'gateway ES256', worker: 'gateway', traffic: 'distinct ES256', about: 'gateway (edge-token-verifier), ES256, distinct tokens' },
  { key: 'forward', worker: 'forward', traffic: 'repeated RS256', about: 'forward-only floor (no auth)' },
  { key: 'gateway repeated', worker: 'gateway', traffic: 'repeated RS256', about: 'gateway, one repeated RS256 token' },
  { key: 'crypto RS256', worker: 'crypto', traffic: 'distinct RS256', about: 'crypto limit: one subtle.verify answering 200, RS256', extra: true },
  { key: 'crypto ES256', worker: 'crypto', traffic: 'distinct ES256', about: 'crypto limit: one subtle.verify answering 200, ES256', extra: true },
  { key: 'edgeAuth off', worker: 'edge-auth', traffic: 'distinct RS256', host: 'off.bench.test', about: 'edgeAuth RS256, no TenantState/RateLimiter bound', extra: true },
  { key: 'edgeAuth on', worker: 'edge-auth', traffic: 'distinct RS256', host: 'on.bench.test', about: 'edgeAuth RS256, revocation + perSubject limit', extra: true },
  { key: 'gateway public', worker: 'gateway', traffic: 'repeated RS256', host: 'public.bench.test', about: 'gateway, auth:none route (forwarding, no decision)', extra: true },
]);

/** @typedef {{ keys: Record<Alg, SigningKey> }} TrafficContext */
/** Kinds of traffic: the header sets a run's requests carry (one each, in order), and whether an
 *  entry may repeat within a run (`unique`: a run stops early rather than repeat one). Built once,
 *  when a selected row first needs it. */
const TRAFFIC = /** @type {Record<string, { unique: boolean; resendRefused?: boolean; build: (t: TrafficContext) => Promise<Record<string, string>[]> }>} */ ({
  'distinct RS256': { unique: true, build: async (t) => (await tokenPool(t.keys.RS256, 'RS256', POOL)).map(bearer) },
  'distinct ES256': { unique: true, build: async (t) => (await tokenPool(t.keys.ES256, 'ES256', POOL)).map(bearer) },
  'repeated RS256': { unique: false, build: async (t) => [bearer(await signToken(t.keys.RS256, 'RS256', 0))] },
  // Distinct DPoP-bound tokens (cnf.jkt) of 64 client keys, each request with its own proof for
  // the URL the Worker sees (the Host header's): one more ES256 signature and one replay-object
  // call per request.
  'dpop ES256': { unique: true, resendRefused: true, build: async (t) => dpopPool(t.keys.ES256, POOL) },
});
const bearer = (/** @type {string} */ token) => ({ authorization: `Bearer ${token}` });

/** The targets: a row's CPU per request at most `max` times its reference's, in the same round. */
const TARGETS = [
  { row: 'edgeAuth RS256', ref: 'jose-hono RS256', max: 1.03, path: '`edgeAuth`, distinct tokens, RS256', against: 'jose `jwtVerify` as Hono middleware' },
  { row: 'edgeAuth ES256', ref: 'jose-hono ES256', max: 1.03, path: '`edgeAuth`, distinct tokens, ES256', against: 'jose `jwtVerify` as Hono middleware' },
  { row: 'edgeAuth DPoP ES256', ref: 'edgeAuth ES256', max: 2.3, path: '`edgeAuth`, DPoP, distinct tokens, fresh ES256 proofs', against: 'the bearer row of the same alg' },
  { row: 'edgeAuth repeated', ref: 'floor', max: 1.25, path: '`edgeAuth`, repeated token', against: 'the Hono floor' },
  { row: 'gateway RS256', ref: 'forward+verify RS256', max: 1.10, path: 'gateway, distinct tokens, RS256', against: 'forward after one verify' },
  { row: 'gateway ES256', ref: 'forward+verify ES256', max: 1.10, path: 'gateway, distinct tokens, ES256', against: 'forward after one verify' },
  { row: 'gateway repeated', ref: 'forward', max: 1.15, path: 'gateway, repeated token', against: 'the forward-only floor' },
];

// --- the workerd process's CPU time --------------------------------------------------------

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

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

// --- tools ---------------------------------------------------------------------------------

function versions() {
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

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// --- keys and tokens -----------------------------------------------------------------------

/** @typedef {{ kid: string; privateKey: import('node:crypto').webcrypto.CryptoKey }} SigningKey */

async function makeKeys() {
  /** @type {Record<Alg, SigningKey>} */
  const keys = /** @type {any} */ ({});
  const jwks = [];
  for (const alg of /** @type {Alg[]} */ (['RS256', 'ES256'])) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `bench-${alg.toLowerCase()}`;
    keys[alg] = { kid, privateKey };
    jwks.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  }
  return { keys, jwks: JSON.stringify({ keys: jwks }) };
}

/** A token like a real access token (~0.9 KB for RS256): 50 users, distinct jti. */
function signToken(/** @type {SigningKey} */ key, /** @type {Alg} */ alg, /** @type {number} */ i,
  options = /** @type {{ issuer?: string; audience?: string; kid?: string; claims?: Record<string, unknown> }} */ ({})) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    scope: 'orders:read orders:write profile', azp: 'bench-client', email: `user-${i % 50}@bench.example`,
    name: `Bench User ${i % 50}`, roles: ['reader', 'writer'], tenant_tier: 'gold', sid: `s-${i.toString(36).padStart(12, '0')}`,
    ...options.claims,
  })
    .setProtectedHeader({ alg, kid: options.kid ?? key.kid })
    .setIssuer(options.issuer ?? ISSUER).setAudience(options.audience ?? AUDIENCE).setSubject(`user-${i % 50}`)
    .setJti(`jti-${alg}-${i}-${Math.random().toString(36).slice(2)}`).setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(key.privateKey);
}

/** DPoP-bound ES256 tokens, each with a fresh ES256 proof (RFC 9449 §4.2) for GET http://<HOST>/orders. */
async function dpopPool(/** @type {SigningKey} */ key, /** @type {number} */ n) {
  const started = Date.now();
  const clients = await Promise.all(Array.from({ length: 64 }, async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(publicKey);
    const jwk = { kty, crv, x, y };
    return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
  }));
  const htu = `http://${HOST}/orders`;
  /** @type {Record<string, string>[]} */
  const sets = [];
  for (let i = 0; i < n; i += 200) {
    sets.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, async (_, j) => {
      const client = /** @type {(typeof clients)[number]} */ (clients[(i + j) % clients.length]);
      const token = await signToken(key, 'ES256', i + j, { claims: { cnf: { jkt: client.jkt } } });
      const ath = createHash('sha256').update(token).digest('base64url');
      const proof = await new SignJWT({ jti: randomUUID(), htm: 'GET', htu, ath })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: client.jwk }).setIssuedAt().sign(client.privateKey);
      return { authorization: `DPoP ${token}`, dpop: proof };
    }))));
  }
  log(`signed ${n} DPoP-bound ES256 tokens and proofs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return sets;
}

async function tokenPool(/** @type {SigningKey} */ key, /** @type {Alg} */ alg, /** @type {number} */ n) {
  const started = Date.now();
  /** @type {string[]} */
  const tokens = [];
  for (let i = 0; i < n; i += 200) {
    tokens.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, j) => signToken(key, alg, i + j)))));
  }
  log(`signed ${n} ${alg} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return tokens;
}

// --- Workers -------------------------------------------------------------------------------

/** wrangler.toml's new_sqlite_classes. */
const sqlite = (/** @type {Record<string, string>} */ classes) =>
  Object.fromEntries(Object.entries(classes).map(([binding, className]) => [binding, { className, useSQLite: true }]));
const VARS = { LOG_SAMPLE_RATE: '0.01' };
/** Every Worker under test: its entry in bench/workers/ and its Miniflare options (given the JWKS). */
const WORKERS = {
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
  forward: { entry: 'forward-floor.js', options: () => ({ outboundService: 'aux' }) },
  'forward-verify': { entry: 'forward-verify.js', options: (/** @type {string} */ jwks) => ({ bindings: { JWKS: jwks }, outboundService: 'aux' }) },
  gateway: {
    entry: 'gateway.ts',
    options: () => ({
      bindings: {
        ...VARS, ADMIN_HOST: 'admin.localhost', ADMIN_TOKEN: 'bench-admin-token', TENANT_CACHE_SECONDS: '30',
        ALLOW_INSECURE_ISSUERS: 'false', DOH_URL: 'https://dns.bench.test/dns-query', DEBUG_TIMING: 'false',
      },
      kvNamespaces: ['TENANTS'], outboundService: 'aux',
      durableObjects: sqlite({ ISSUER_KEYS: 'IssuerKeys', DIRECTORY: 'Directory', TENANT_STATE: 'TenantState', RATE_LIMITER: 'RateLimiter' }),
    }),
  },
};
/** @typedef {keyof typeof WORKERS} WorkerName */
/** @typedef {Record<WorkerName | 'aux', URL>} Urls */

/** Each Worker of bench/workers/ bundled as wrangler would. The product's package name
 *  (edge-token-verifier, edge-token-verifier/hono) resolves through its own package.json
 *  "exports" (a self-reference) to lib/, built first: what a user's Worker installs. */
async function bundle() {
  await buildPackage();
  mkdirSync(build, { recursive: true });
  for (const [name, { entry }] of Object.entries(WORKERS)) {
    await esbuild.build({
      absWorkingDir: root, bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser'], external: ['cloudflare:*', 'node:*'], logLevel: 'error',
      entryPoints: [path.join(here, 'workers', entry)], outfile: path.join(build, `${name}.js`),
    });
  }
}

async function start(/** @type {string} */ jwks) {
  const direct = [{ host: '127.0.0.1', port: 0 }];
  const worker = (/** @type {string} */ name, /** @type {string} */ scriptPath, extra = {}) => ({
    name, modules: true, scriptPath, compatibilityDate: COMPAT, unsafeDirectSockets: direct, ...extra,
  });
  const inspectorPort = PROFILE ? await freePort() : undefined;
  const mf = new Miniflare(convertV4MiniflareOptions({
    // Only BENCH_PROFILE attaches a CPU profiler (an inspector costs a little on every request).
    ...(inspectorPort ? { inspectorPort } : {}),
    // The Workers' decision log lines (console.log, sampled at 0.01; every denial of the flood) are
    // not ours to print; warnings and errors are.
    handleStructuredLogs(/** @type {{ level: string; message: string }} */ { level, message }) {
      if (level === 'warn' || level === 'error') process.stderr.write(`${message}\n`);
    },
    workers: [
      worker('aux', path.join(here, 'workers/aux.js'), { bindings: { JWKS: jwks } }),
      ...Object.entries(WORKERS).map(([name, { options }]) => worker(name, path.join(build, `${name}.js`), options(jwks))),
    ],
  }));
  await mf.ready;
  /** @type {Urls} */
  const urls = /** @type {any} */ ({});
  for (const name of ['aux', ...Object.keys(WORKERS)]) urls[/** @type {keyof Urls} */ (name)] = await mf.unsafeGetDirectURL(name);
  return { mf, urls, inspectorPort };
}

// --- HTTP from Node, for setting up and checking (not for load) ----------------------------
// A connection per request: workerd closes idle keep-alive connections, and a pooled one reused
// as it closes fails with ECONNRESET.

/** @returns {Promise<{ status: number; body: string }>} */
function request(/** @type {URL} */ base, /** @type {{ host?: string; method?: string; path?: string; token?: string; headers?: Record<string, string>; body?: string }} */ options = {}) {
  return new Promise((resolve, reject) => {
    /** @type {Record<string, string>} */
    const headers = { host: options.host ?? HOST, ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const req = http.request({ hostname: base.hostname, port: base.port, path: options.path ?? '/orders', method: options.method ?? 'GET', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function expectStatus(/** @type {URL} */ base, /** @type {Parameters<typeof request>[1]} */ options, /** @type {number} */ status, /** @type {string} */ what) {
  const response = await request(base, options);
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${response.body.slice(0, 300)}`);
  return response;
}

// --- load ----------------------------------------------------------------------------------

/** @typedef {{ answered: number; errors: number; seconds: number; rps: number; cpuUs: number; ticks: number; nodeUs: number; early: boolean; hitShare?: number }} Run */

/**
 * Drives one row for `seconds` with autocannon and measures the workerd process's CPU across it.
 * Each connection sends pre-built request buffers (Host, Authorization, keep-alive) taken in turn
 * from the row's traffic, so the Node side does no per-request formatting; the cursor carries
 * over between the runs of a Worker, so its entries come round again only after the whole pool.
 */
async function load(/** @type {Bench} */ bench, /** @type {Row} */ row, /** @type {number} */ seconds) {
  const { buffers, unique, cursor } = await bench.requests(row);
  const traffic = /** @type {(typeof TRAFFIC)[string]} */ (TRAFFIC[row.traffic]);
  const n = buffers.length;
  let sent = 0;
  const url = bench.urls[row.worker];
  const statsBefore = row.worker === 'edge-auth' ? await tokenCacheStats(url) : null;
  const ticksBefore = procStat(bench.workerd).ticks;
  const nodeBefore = process.cpuUsage();
  const started = performance.now();
  const result = await autocannon({
    url: url.origin, connections: CONNECTIONS, duration: seconds,
    // Stop checks every 100 ms (autocannon's default samples per second: up to a second idle at the end).
    sampleInt: 100,
    ...(unique ? { maxOverallRequests: n } : {}),
    setupClient(client) {
      if (typeof client.getRequestBuffer !== 'function') throw new Error('autocannon changed: no Client#getRequestBuffer to hand pre-built requests to');
      client.getRequestBuffer = () => /** @type {Buffer} */ (buffers[(cursor.at + sent++) % n]);
    },
  });
  const wall = (performance.now() - started) / 1000;
  const ticks = procStat(bench.workerd).ticks - ticksBefore;
  const node = process.cpuUsage(nodeBefore);
  cursor.at = (cursor.at + sent) % n;
  const answered = result['2xx'];
  // autocannon sends a request again when its connection closed under it (workerd closes idle
  // keep-alive connections): a DPoP proof sent twice is refused as a replay, as it must be. Up to
  // one per connection is that; anything more, or any other status, is a failure.
  const resent = traffic.resendRefused ? (result.statusCodeStats['401']?.count ?? 0) : 0;
  if (resent > CONNECTIONS || result.non2xx - resent > 0) {
    throw new Error(`${row.key}: ${result.non2xx} answers not 2xx: ${JSON.stringify(result.statusCodeStats)}`);
  }
  if (!(answered > 0)) throw new Error(`${row.key}: nothing answered (${result.errors} errors)`);
  if (unique && sent > n) throw new Error(`${row.key}: sent ${sent} requests from a pool of ${n} distinct tokens`);
  /** @type {Run} */
  const run = {
    answered, errors: result.errors, seconds: wall, rps: answered / wall, ticks,
    cpuUs: (ticks / TICKS_PER_SECOND) * 1e6 / answered, nodeUs: (node.user + node.system) / answered,
    early: unique && sent >= n,
  };
  if (statsBefore !== null) {
    const after = await tokenCacheStats(url);
    const hits = after.hits - statsBefore.hits;
    run.hitShare = hits / (hits + after.misses - statsBefore.misses);
  }
  return run;
}

/** The edgeAuth bench Worker's token cache counters (its /__stats). */
async function tokenCacheStats(/** @type {URL} */ url) {
  return /** @type {{ hits: number; misses: number }} */ (JSON.parse((await request(url, { path: '/__stats' })).body).tokenCache);
}

/** @typedef {Awaited<ReturnType<typeof setUp>>} Bench */

/** The running Workers, the workerd pid, and the requests of each row's traffic (built once). */
async function setUp(/** @type {Urls} */ urls, /** @type {TrafficContext} */ context) {
  const workerd = findWorkerd();
  /** @type {Map<string, Promise<Record<string, string>[]>>} */
  const headerSets = new Map();
  /** @type {Map<string, Buffer[]>} */
  const buffers = new Map();
  /** @type {Map<string, { at: number }>} */
  const cursors = new Map();
  const headersOf = (/** @type {string} */ name) => {
    const traffic = TRAFFIC[name];
    if (!traffic) throw new Error(`no traffic ${name}`);
    let sets = headerSets.get(name);
    if (!sets) headerSets.set(name, sets = traffic.build(context));
    return sets;
  };
  return {
    urls, workerd, headersOf,
    async requests(/** @type {Row} */ row) {
      const traffic = /** @type {(typeof TRAFFIC)[string]} */ (TRAFFIC[row.traffic]);
      const key = `${row.traffic} ${row.host ?? HOST} ${row.path ?? '/orders'}`;
      let built = buffers.get(key);
      if (!built) {
        const head = `GET ${row.path ?? '/orders'} HTTP/1.1\r\nHost: ${row.host ?? HOST}\r\nConnection: keep-alive\r\n`;
        built = (await headersOf(row.traffic)).map((set) =>
          Buffer.from(`${head}${Object.entries(set).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`, 'latin1'));
        buffers.set(key, built);
      }
      // One cursor per traffic and Worker: a Worker sees a token again only after the whole pool.
      let cursor = cursors.get(`${row.traffic} ${row.worker}`);
      if (!cursor) cursors.set(`${row.traffic} ${row.worker}`, cursor = { at: 0 });
      return { buffers: built, unique: traffic.unique, cursor };
    },
  };
}

const median = (/** @type {number[]} */ values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return (sorted.length % 2 ? sorted[mid] : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2) ?? NaN;
};

// --- the run -------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const info = versions();
  const loadBefore = loadAverage();
  log(`edge token verifier bench: ${new Date().toISOString()} on ${info.cpu}, ${info.cores} cores, load average ${loadBefore}`);
  log(`node ${info.node}, wrangler ${info.wrangler}, workerd ${info.workerd}, miniflare ${info.miniflare}, jose ${info.jose}, hono ${info.hono}, autocannon ${info.autocannon}`);

  const rows = rowsOf().filter((row) => (ONLY ? ONLY.test(row.key) : !row.extra) && (!PROFILE || PROFILE.test(row.key)));
  if (rows.length === 0) throw new Error(`no row matches ${process.env.BENCH_ROWS ?? ''} ${process.env.BENCH_PROFILE ?? ''}`);
  const full = !ONLY && !PROFILE;

  await bundle();
  const { keys, jwks } = await makeKeys();
  const { mf, urls, inspectorPort } = await start(jwks);
  try {
    // The gateway's tenants, through its admin API, on the same host and audience as the others.
    const admin = { host: 'admin.localhost', method: 'PUT', headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' } };
    await expectStatus(urls.gateway, {
      ...admin, path: '/tenants/bench',
      body: JSON.stringify({ id: 'bench', hosts: [HOST], upstream: 'https://origin.bench.test', issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['RS256', 'ES256'] }] }),
    }, 201, 'PUT gateway tenant');
    await expectStatus(urls.gateway, {
      ...admin, path: '/tenants/public',
      body: JSON.stringify({ id: 'public', hosts: ['public.bench.test'], upstream: 'https://origin.bench.test', routes: [{ path: '/*', auth: 'none' }], issuers: [{ issuer: ISSUER, audiences: ['https://public.bench.test'] }] }),
    }, 201, 'PUT public gateway tenant');

    const bench = await setUp(urls, { keys });
    log(`workerd pid ${bench.workerd}; CPU from /proc/${bench.workerd}/stat in ticks of ${(1000 / TICKS_PER_SECOND).toFixed(0)} ms`);
    // Every row answers 200 to its first request, then warms (JIT, key imports, tenant caches) unmeasured.
    for (const row of rows) {
      const first = /** @type {Record<string, string>} */ ((await bench.headersOf(row.traffic))[0]);
      await expectStatus(urls[row.worker], { host: row.host ?? HOST, path: row.path, headers: first }, 200, row.key);
    }
    for (const row of rows) if (WARMUP > 0) await load(bench, row, WARMUP);

    if (PROFILE) return await profileRows(bench, rows, /** @type {number} */ (inspectorPort));
    const runs = await rounds(bench, rows);
    if (!full) return;
    const cold = await coldTenant(urls, keys);
    const flood = await kidFlood(urls, keys);
    const size = bundleSize();
    const tokenBytes = { RS256: (await bench.headersOf('distinct RS256'))[0]?.authorization?.length ?? 0, ES256: (await bench.headersOf('distinct ES256'))[0]?.authorization?.length ?? 0 };
    const report = render({ info, rows, runs, cold, flood, size, tokenBytes, workerd: bench.workerd, load: [loadBefore, loadAverage()], seconds: (Date.now() - started) / 1000 });
    log('');
    log(report);
    writeFileSync(path.join(here, 'RESULTS.md'), report);
    log(`written to bench/RESULTS.md in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await mf.dispose();
  }
}

/** ROUNDS rounds of every row, in order; each run's figures by row key. */
async function rounds(/** @type {Bench} */ bench, /** @type {Row[]} */ rows) {
  /** @type {Record<string, Run[]>} */
  const runs = {};
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS} (load average ${loadAverage()})`);
    for (const row of rows) {
      const run = await load(bench, row, SECONDS);
      (runs[row.key] ??= []).push(run);
      const notes = [
        run.hitShare === undefined ? '' : `token cache hits ${(100 * run.hitShare).toFixed(0)}%`,
        run.errors ? `${run.errors} socket errors` : '',
        run.early ? `pool used up after ${run.seconds.toFixed(1)} s` : '',
      ].filter(Boolean).join(', ');
      log(`  ${row.key.padEnd(22)} ${run.rps.toFixed(0).padStart(6)} req/s  ${run.cpuUs.toFixed(1).padStart(6)} µs CPU/req (${run.ticks} ticks / ${run.answered})  node ${run.nodeUs.toFixed(1)} µs/req${notes ? `  ${notes}` : ''}`);
    }
  }
  return runs;
}

// --- profiles (BENCH_PROFILE) --------------------------------------------------------------

/** Each row's Worker under V8's CPU profiler for one run: self time by function and by module. */
async function profileRows(/** @type {Bench} */ bench, /** @type {Row[]} */ rows, /** @type {number} */ port) {
  for (const row of rows) {
    const session = await inspector(port, row.worker);
    try {
      const { result: run, cpu } = await session.profiled(() => load(bench, row, SECONDS));
      writeFileSync(path.join(build, `${row.key.replace(/\W+/g, '-')}.cpuprofile`), JSON.stringify(cpu));
      log(`\n${row.key}: ${run.cpuUs.toFixed(1)} µs CPU per request under the profiler (${run.rps.toFixed(0)} req/s); self time by function:`);
      for (const [name, share] of selfTimes(cpu, (f) => `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`).slice(0, 30)) {
        log(`  ${(100 * share).toFixed(1).padStart(5)}%  ${name}`);
      }
      log('  by module (share of the isolate\'s busy samples):');
      for (const [name, share] of selfTimes(cpu, moduleGroups(row.worker))) log(`  ${(100 * share).toFixed(1).padStart(5)}%  ${name}`);
    } finally {
      session.close();
    }
  }
}

/** Connects to one Worker's V8 inspector: `profiled(work)` runs work under the CPU profiler. */
async function inspector(/** @type {number} */ port, /** @type {string} */ worker) {
  const { default: WebSocket } = await import(wranglerRequire.resolve('ws'));
  const targets = /** @type {{ title: string; webSocketDebuggerUrl: string }[]} */ (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json());
  const target = targets.find((t) => t.title.endsWith(`:${worker}`) || t.title === worker);
  if (!target) throw new Error(`no ${worker} inspector target in ${targets.map((t) => t.title).join(', ')}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve) => ws.once('open', resolve));
  let id = 0;
  /** @type {Map<number, (value: any) => void>} */
  const pending = new Map();
  ws.on('message', (/** @type {Buffer} */ data) => {
    const message = JSON.parse(data.toString());
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const call = (/** @type {string} */ method, params = {}) => new Promise((resolve) => {
    pending.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 50 });
  return {
    /** @template T @param {() => Promise<T>} work @returns {Promise<{ result: T; cpu: any }>} */
    async profiled(work) {
      await call('Profiler.start');
      const result = await work();
      const { profile: cpu } = /** @type {any} */ (await call('Profiler.stop'));
      return { result, cpu };
    },
    close: () => ws.close(),
  };
}

/** Self time by name: [name, share of busy samples], largest first. */
function selfTimes(/** @type {any} */ cpu, /** @type {(frame: any) => string} */ nameOf) {
  /** @type {Map<number, number>} */
  const samples = new Map();
  for (const sample of cpu.samples) samples.set(sample, (samples.get(sample) ?? 0) + 1);
  /** @type {Map<string, number>} */
  const self = new Map();
  let busy = 0;
  for (const node of cpu.nodes) {
    const count = samples.get(node.id) ?? 0;
    if (node.callFrame.functionName === '(idle)') continue;
    busy += count;
    const name = nameOf(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + count);
  }
  return [...self].map(([name, count]) => /** @type {[string, number]} */ ([name, count / busy])).sort((a, b) => b[1] - a[1]);
}

/** Names a profiled function's group: the module it was bundled from (the bundle's `// path`
 *  markers), the signature check, or the runtime. */
function moduleGroups(/** @type {string} */ worker) {
  /** @type {[number, string][]} */
  const modules = [];
  readFileSync(path.join(build, `${worker}.js`), 'utf8').split('\n').forEach((line, index) => {
    const marker = /^\/\/ ((?:node_modules|src|bench)\/\S+)$/.exec(line);
    if (marker?.[1]) modules.push([index, marker[1]]);
  });
  const moduleAt = (/** @type {number} */ line) => {
    let found = 'bench';
    for (const [start, name] of modules) if (start <= line) found = name; else break;
    return found;
  };
  return (/** @type {any} */ frame) => {
    const name = frame.functionName;
    if (!frame.url) {
      if (name === 'verify') return 'signature: crypto.subtle.verify';
      if (name === '(garbage collector)') return 'garbage collector';
      if (name === '(program)') return 'runtime (program)';
      return 'runtime built-ins (URL, Headers, TextDecoder, JSON, ...)';
    }
    const module = moduleAt(frame.lineNumber);
    // V8 books the synchronous part of subtle.verify to its JS caller.
    if (name === 'verifySignature') return 'signature: crypto.subtle.verify';
    if (module.startsWith('node_modules/jose/')) return 'jose';
    if (module.startsWith('node_modules/hono/')) return 'hono';
    if (module.startsWith('bench/')) return 'bench worker';
    return module;
  };
}

// --- keys under load, bundle ---------------------------------------------------------------

/** A tenant nobody has asked about, hit by 100 concurrent requests through the gateway. */
async function coldTenant(/** @type {Urls} */ urls, /** @type {Record<Alg, SigningKey>} */ keys) {
  const issuerHost = `cold-${Date.now().toString(36)}.issuer.bench.test`;
  const host = `cold-${Date.now().toString(36)}.bench.test`;
  await expectStatus(urls.gateway, {
    host: 'admin.localhost', method: 'PUT', path: '/tenants/cold',
    headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'cold', hosts: [host], upstream: 'https://origin.bench.test', issuers: [{ issuer: `https://${issuerHost}/`, audiences: [`https://${host}`] }] }),
  }, 201, 'PUT cold tenant');
  const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => signToken(keys.RS256, 'RS256', i, { issuer: `https://${issuerHost}/`, audience: `https://${host}` })));
  const answers = await Promise.all(tokens.map((token) => request(urls.gateway, { host, token })));
  const statuses = countBy(answers.map((a) => a.status));
  const hits = JSON.parse((await request(urls.aux, { path: `/__hits?host=${issuerHost}` })).body);
  log(`cold tenant, 100 concurrent: answers ${JSON.stringify(statuses)}, discovery fetches ${hits.discovery}, JWKS fetches ${hits.jwks}`);
  return { statuses, ...hits };
}

/** 1000 tokens with random kids at the warm edgeAuth Worker: how often does the issuer see a refetch? */
async function kidFlood(/** @type {Urls} */ urls, /** @type {Record<Alg, SigningKey>} */ keys) {
  const before = JSON.parse((await request(urls.aux, { path: '/__hits?host=issuer.bench.test' })).body);
  const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => signToken(keys.ES256, 'ES256', i, { kid: crypto.randomUUID() })));
  const started = Date.now();
  /** @type {number[]} */
  const statuses = [];
  for (let i = 0; i < tokens.length; i += 50) {
    statuses.push(...(await Promise.all(tokens.slice(i, i + 50).map((token) => request(urls['edge-auth'], { token })))).map((a) => a.status));
  }
  const seconds = (Date.now() - started) / 1000;
  const after = JSON.parse((await request(urls.aux, { path: '/__hits?host=issuer.bench.test' })).body);
  const refetches = after.jwks - before.jwks;
  log(`random-kid flood, 1000 tokens in ${seconds.toFixed(1)} s: answers ${JSON.stringify(countBy(statuses))}, JWKS refetches ${refetches}`);
  return { statuses: countBy(statuses), refetches, seconds };
}

function countBy(/** @type {number[]} */ values) {
  /** @type {Record<string, number>} */
  const counts = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

function bundleSize() {
  const outdir = path.join(build, 'deploy');
  execFileSync(path.join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], { cwd: root, stdio: 'ignore' });
  const file = path.join(outdir, 'index.js');
  const raw = statSync(file).size;
  const gzip = gzipSync(readFileSync(file), { level: 9 }).length;
  log(`bundle (wrangler deploy --dry-run): ${(raw / 1024).toFixed(1)} KiB, ${(gzip / 1024).toFixed(1)} KiB gzipped`);
  return { raw, gzip };
}

// --- the report ----------------------------------------------------------------------------

/** @param {any} r */
function render(r) {
  /** @type {Record<string, Run[]>} */
  const runs = r.runs;
  /** @type {Row[]} */
  const rows = r.rows;
  const of = (/** @type {string} */ key, /** @type {(run: Run) => number} */ f) => median((runs[key] ?? []).map(f));
  /** The median over rounds of a row's figure divided by its reference's in the same round. */
  const ratio = (/** @type {string} */ key, /** @type {string} */ ref, /** @type {(run: Run) => number} */ f) =>
    median((runs[key] ?? []).map((run, i) => f(run) / f(/** @type {Run} */ (runs[ref]?.[i]))));
  const cpu = (/** @type {string} */ key) => of(key, (x) => x.cpuUs);
  const int = (/** @type {number} */ x) => Math.round(x).toLocaleString('en-US');
  const range = (/** @type {string} */ key, /** @type {(run: Run) => number} */ f, /** @type {(x: number) => string} */ format) => {
    const values = (runs[key] ?? []).map(f);
    return `${format(Math.min(...values))}–${format(Math.max(...values))}`;
  };
  /** Round-to-round variation of a figure: the median over rows of (median absolute deviation / median). */
  const variation = (/** @type {(run: Run) => number} */ f) => median(rows.map((row) => {
    const values = (runs[row.key] ?? []).map(f);
    const m = median(values);
    return median(values.map((v) => Math.abs(v - m))) / m;
  }));
  const all = Object.values(runs).flat();
  const resolution = Math.max(...all.map((run) => (1e6 / TICKS_PER_SECOND) / run.answered));
  const errors = all.reduce((sum, run) => sum + run.errors, 0);
  const early = rows.filter((row) => runs[row.key]?.some((run) => run.early)).map((row) => row.key);

  const lines = [];
  lines.push('# Benchmark results', '');
  lines.push(`Date: ${new Date().toISOString()}  `);
  const busy = Math.max(...[...r.load].map((l) => Number(String(l).split(' ')[0]))) > r.info.cores;
  lines.push(`Machine: ${r.info.cpu}, ${r.info.cores} cores; load average ${r.load[0]} at the start, ${r.load[1]} at the end`
    + `${busy ? ' (**a busy machine**: more runnable processes than cores, other work competing with workerd and the load generator)' : ''}  `);
  lines.push(`Versions: node ${r.info.node}, wrangler ${r.info.wrangler}, workerd ${r.info.workerd} (miniflare ${r.info.miniflare}), jose ${r.info.jose}, hono ${r.info.hono}, autocannon ${r.info.autocannon}`, '');
  lines.push(`Run: \`npm run bench\`, ${ROUNDS} alternating rounds of every row, autocannon in the bench's Node process with ${CONNECTIONS} connections for ${SECONDS} s per figure `
    + `(after ${WARMUP} s of warm-up per row), medians over rounds; ratios are per round (the same round's reference), then the median. `
    + `Tokens: ${POOL} distinct per alg (Authorization header: RS256 ${r.tokenBytes.RS256} B, ES256 ${r.tokenBytes.ES256} B), never repeated within a run, or one repeated token. `
    + `LOG_SAMPLE_RATE 0.01. Every Worker, and the origin the forwarding rows reach, in one workerd process (pid ${r.workerd}) on loopback (Miniflare direct sockets).`, '');
  lines.push(`**CPU µs/req** is the workerd process's user + system time (\`/proc/<pid>/stat\`, clock ticks of ${(1000 / TICKS_PER_SECOND).toFixed(0)} ms) over the run divided by the requests answered 200; `
    + `one tick is at most ${resolution.toFixed(2)} µs per request in any run here. It is what Workers bills, and it moves less than req/s when other processes compete for the cores. `
    + `"rounds" is the lowest and highest round (contention only ever adds CPU: cold caches after a preemption, fewer requests per wake-up when workerd waits for the load generator). `
    + `Node µs/req is autocannon's own CPU (the load generator shares the machine).`
    + (errors ? ` Socket errors over the whole run: ${errors}.` : '')
    + (early.length ? ` Runs that used up their token pool before ${SECONDS} s (figures cover the requests answered): ${early.join(', ')}.` : ''), '');
  lines.push('**Only the ratios compare across machines.** Absolute µs and req/s are this machine\'s.', '');

  lines.push('## Rows', '');
  lines.push(`Round to round, a row's CPU per request typically varied by ${(100 * variation((x) => x.cpuUs)).toFixed(1)}% and its req/s by ${(100 * variation((x) => x.rps)).toFixed(1)}% `
    + '(median over rows of the median absolute deviation over the median).', '');
  lines.push('| Row | CPU µs/req | rounds | req/s | rounds | Node µs/req |', '|---|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const hit = runs[row.key]?.[0]?.hitShare === undefined ? '' : ` (token cache hits ${(100 * of(row.key, (x) => x.hitShare ?? 0)).toFixed(0)}%)`;
    lines.push(`| ${row.about}${hit} | ${cpu(row.key).toFixed(1)} | ${range(row.key, (x) => x.cpuUs, (x) => x.toFixed(0))} | ${int(of(row.key, (x) => x.rps))} | ${range(row.key, (x) => x.rps, int)} | ${of(row.key, (x) => x.nodeUs).toFixed(1)} |`);
  }
  lines.push('');

  lines.push('## Targets', '');
  lines.push('CPU per request, row / reference in the same round (lower is better). "Over by" is the µs per request above the target; the req/s ratio (reference / row, so comparable) is shown for contrast.', '');
  lines.push('| Path | Target | CPU ratio | Over by | req/s ratio | |', '|---|---|---:|---:|---:|---|');
  for (const t of TARGETS) {
    const v = ratio(t.row, t.ref, (x) => x.cpuUs);
    const over = cpu(t.row) - t.max * cpu(t.ref);
    const rps = ratio(t.ref, t.row, (x) => x.rps);
    lines.push(`| ${t.path} | ≤ ${t.max.toFixed(2)}x ${t.against} | ${v.toFixed(2)}x | ${over > 0 ? `${over.toFixed(1)} µs` : '–'} | ${rps.toFixed(2)}x | ${v <= t.max ? 'pass' : '**fail**'} |`);
  }
  lines.push(`| bundle (wrangler deploy --dry-run) | < 100 KiB gzipped | ${(r.size.gzip / 1024).toFixed(1)} KiB | | | ${r.size.gzip < 100 * 1024 ? 'pass' : '**fail**'} |`);
  lines.push(`| cold tenant, 100 concurrent requests | 1 discovery and 1 JWKS fetch | ${r.cold.discovery} and ${r.cold.jwks} | | | ${r.cold.discovery === 1 && r.cold.jwks === 1 ? 'pass' : '**fail**'} |`);
  lines.push(`| random-kid flood, 1000 tokens | ≤ 1 JWKS refetch per 30 s | ${r.flood.refetches} in ${r.flood.seconds.toFixed(1)} s | | | ${r.flood.refetches <= 1 ? 'pass' : '**fail**'} |`);
  lines.push('');

  lines.push('## Where the microseconds are', '');
  lines.push('Differences of the CPU µs/req medians above: the work one row adds to another.', '');
  lines.push('| µs of workerd CPU per request | RS256 | ES256 | the target allows (RS256, ES256) |', '|---|---:|---:|---:|');
  const algs = /** @type {Alg[]} */ (['RS256', 'ES256']);
  /** What a row's target leaves above its reference, in µs per request. */
  const slack = (/** @type {string} */ key) => {
    const t = TARGETS.find((target) => target.row === key);
    return t ? (t.max - 1) * cpu(t.ref) : NaN;
  };
  /** A line of the table: per alg, or one figure for both when `f` ignores the alg (a repeated RS256 token). */
  const line = (/** @type {string} */ label, /** @type {(alg: Alg) => number} */ f, /** @type {((alg: Alg) => number) | null} */ allows = null, perAlg = true) => {
    const cells = perAlg ? algs.map((alg) => f(alg).toFixed(1)) : [f('RS256').toFixed(1), ''];
    const allowed = allows === null ? '' : (perAlg ? algs.map((alg) => allows(alg).toFixed(1)).join(', ') : allows('RS256').toFixed(1));
    lines.push(`| ${label} | ${cells.join(' | ')} | ${allowed} |`);
  };
  line('Hono floor: a request and a 200', () => cpu('floor'), null, false);
  line('jose Hono middleware − floor: jwtVerify (iss, aud, exp)', (alg) => cpu(`jose-hono ${alg}`) - cpu('floor'));
  line('edgeAuth distinct − jose Hono middleware', (alg) => cpu(`edgeAuth ${alg}`) - cpu(`jose-hono ${alg}`), (alg) => slack(`edgeAuth ${alg}`));
  line('edgeAuth repeated − floor: edgeAuth on a token cache hit', () => cpu('edgeAuth repeated') - cpu('floor'), () => slack('edgeAuth repeated'), false);
  line('forward-only floor: a request forwarded to the origin, and the origin\'s 200', () => cpu('forward'), null, false);
  line('forward after one verify − forward: one subtle.verify with its decoding', (alg) => cpu(`forward+verify ${alg}`) - cpu('forward'));
  line('gateway distinct − forward after one verify', (alg) => cpu(`gateway ${alg}`) - cpu(`forward+verify ${alg}`), (alg) => slack(`gateway ${alg}`));
  line('gateway repeated − forward: the gateway on a token cache hit', () => cpu('gateway repeated') - cpu('forward'), () => slack('gateway repeated'), false);
  lines.push('');
  const verifyShare = (/** @type {Alg} */ alg) => ratio(`forward+verify ${alg}`, 'forward', (x) => x.cpuUs);
  lines.push(`Per round, forward after one verify costs ${verifyShare('RS256').toFixed(2)}x the forward-only floor's CPU for RS256 and ${verifyShare('ES256').toFixed(2)}x for ES256: `
    + `a gateway verifying distinct tokens serves at most ${(1 / verifyShare('RS256')).toFixed(2)}x (RS256) and ${(1 / verifyShare('ES256')).toFixed(2)}x (ES256) of the forward floor's requests per core.`, '');

  lines.push('## Keys under load', '');
  lines.push(`- Cold tenant, 100 concurrent requests through the gateway: answers ${JSON.stringify(r.cold.statuses)}; discovery fetches **${r.cold.discovery}**, JWKS fetches **${r.cold.jwks}**.`);
  lines.push(`- Random-kid flood, 1000 tokens (50 concurrent) in ${r.flood.seconds.toFixed(1)} s at the warm edgeAuth Worker: answers ${JSON.stringify(r.flood.statuses)}; JWKS refetches **${r.flood.refetches}**.`);
  lines.push(`- Bundle (wrangler deploy --dry-run --outdir): ${(r.size.raw / 1024).toFixed(1)} KiB, **${(r.size.gzip / 1024).toFixed(1)} KiB gzipped**.`, '');

  lines.push('## Every round', '');
  lines.push('CPU µs per request (req/s) of each run, in the order they ran; a round runs every row once.', '');
  const roundCount = Math.max(...rows.map((row) => runs[row.key]?.length ?? 0));
  lines.push(`| Row | ${Array.from({ length: roundCount }, (_, i) => `round ${i + 1}`).join(' | ')} |`, `|---|${'---:|'.repeat(roundCount)}`);
  for (const row of rows) lines.push(`| ${row.key} | ${(runs[row.key] ?? []).map((run) => `${run.cpuUs.toFixed(1)} (${int(run.rps)})`).join(' | ')} |`);
  lines.push('', `Full run: ${Math.round(r.seconds)} s.`);
  return `${lines.join('\n')}\n`;
}

await main();
