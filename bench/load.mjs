// @ts-check
// Driving the Workers: autocannon (in this Node process) sends a row's pre-built requests for a
// while, and the row's figures come from the workerd process's CPU time over the run (its threads'
// schedstat in ns, checked against /proc/<pid>/stat's ticks); rounds run
// every row in turn. Also plain HTTP from Node for setting up and checking.
//
//   const run = await runRow(bench, row, 4);         // { cpuUs, rps, answered, ... }
//   const runs = await rounds(bench, rows, { rounds: 5, seconds: 4 });   // by row key
//   await expectStatus(urls.gateway, { host, token }, 200, 'first request');
import http from 'node:http';
import { createRequire } from 'node:module';
import { HOST } from './traffic.mjs';
import { TICKS_PER_SECOND, cpuNanos, cpuTicks, loadAverage } from './workerd.mjs';

/**
 * The part of autocannon's programmatic API used here (its types package lags its majors).
 * @typedef {{ url: string; connections: number; duration: number; maxOverallRequests?: number; sampleInt?: number;
 *   setupClient?: (client: { getRequestBuffer: () => Buffer }) => void }} LoadOptions
 * @typedef {{ '2xx': number; non2xx: number; errors: number; timeouts: number; statusCodeStats: Record<string, { count: number }> }} LoadResult
 */
const autocannon = /** @type {(options: LoadOptions) => Promise<LoadResult>} */ (createRequire(import.meta.url)('autocannon'));

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

/** @typedef {import('./run.mjs').Row} Row */
/** @typedef {{ answered: number; errors: number; seconds: number; rps: number; cpuUs: number; ticks: number; nodeUs: number; early: boolean; hitShare?: number }} Run */
/** What a run needs: the Workers' URLs, the workerd pid, the traffic, autocannon's connections.
 *  @typedef {{ urls: import('./workerd.mjs').Urls; workerd: number; traffic: import('./traffic.mjs').Traffic; connections: number }} Bench */

/**
 * Drives one row for `seconds` with autocannon and measures the workerd process's CPU across it.
 * Each connection sends pre-built request buffers taken in turn from the row's traffic; the
 * cursor carries over between the runs of a Worker, so its entries come round again only after
 * the whole pool.
 */
export async function runRow(/** @type {Bench} */ bench, /** @type {Row} */ row, /** @type {number} */ seconds) {
  const { buffers, unique, resendRefused, cursor } = await bench.traffic.requests(row);
  const n = buffers.length;
  let sent = 0;
  const url = bench.urls[row.worker];
  const statsBefore = row.worker.startsWith('edge-auth') ? await tokenCacheStats(url) : null;
  const ticksBefore = cpuTicks(bench.workerd);
  const nanosBefore = cpuNanos(bench.workerd);
  const nodeBefore = process.cpuUsage();
  const started = performance.now();
  const result = await autocannon({
    url: url.origin, connections: bench.connections, duration: seconds,
    // Stop checks every 100 ms (autocannon's default samples per second: up to a second idle at the end).
    sampleInt: 100,
    ...(unique ? { maxOverallRequests: n } : {}),
    setupClient(client) {
      if (typeof client.getRequestBuffer !== 'function') throw new Error('autocannon changed: no Client#getRequestBuffer to hand pre-built requests to');
      client.getRequestBuffer = () => /** @type {Buffer} */ (buffers[(cursor.at + sent++) % n]);
    },
  });
  const wall = (performance.now() - started) / 1000;
  const nanos = cpuNanos(bench.workerd) - nanosBefore;
  const ticks = cpuTicks(bench.workerd) - ticksBefore;
  // The two clocks of one process: apart by more than a tick and a tenth, a thread ended in the run.
  if (Math.abs(nanos / 1e9 - ticks / TICKS_PER_SECOND) > 1 / TICKS_PER_SECOND + 0.1 * (ticks / TICKS_PER_SECOND)) {
    throw new Error(`${row.key}: workerd's threads account for ${(nanos / 1e6).toFixed(0)} ms of CPU, its process for ${ticks} ticks`);
  }
  const node = process.cpuUsage(nodeBefore);
  cursor.at = (cursor.at + sent) % n;
  const answered = result['2xx'];
  // autocannon sends a request again when its connection closed under it (workerd closes idle
  // keep-alive connections): a DPoP proof sent twice is refused as a replay, as it must be. Up to
  // one per connection is that; anything more, or any other status, is a failure.
  const resent = resendRefused ? (result.statusCodeStats['401']?.count ?? 0) : 0;
  if (resent > bench.connections || result.non2xx - resent > 0) {
    throw new Error(`${row.key}: ${result.non2xx} answers not 2xx: ${JSON.stringify(result.statusCodeStats)}`);
  }
  if (!(answered > 0)) throw new Error(`${row.key}: nothing answered (${result.errors} errors)`);
  if (unique && sent > n) throw new Error(`${row.key}: sent ${sent} requests from a pool of ${n} distinct tokens`);
  /** @type {Run} */
  const run = {
    answered, errors: result.errors, seconds: wall, rps: answered / wall, ticks,
    cpuUs: nanos / 1e3 / answered, nodeUs: (node.user + node.system) / answered,
    early: unique && sent >= n,
  };
  if (statsBefore !== null) {
    const after = await tokenCacheStats(url);
    const hits = after.hits - statsBefore.hits;
    const asked = hits + after.misses - statsBefore.misses;
    // Opaque tokens never ask the JWT cache: no share to show.
    if (asked > 0) run.hitShare = hits / asked;
  }
  return run;
}

/** `rounds` rounds of every row, in order; each run's figures by row key. */
export async function rounds(/** @type {Bench} */ bench, /** @type {Row[]} */ rows, /** @type {{ rounds: number; seconds: number }} */ options) {
  /** @type {Record<string, Run[]>} */
  const runs = {};
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}/${options.rounds} (load average ${loadAverage()})`);
    for (const row of rows) {
      const run = await runRow(bench, row, options.seconds);
      (runs[row.key] ??= []).push(run);
      const notes = [
        run.hitShare === undefined ? '' : `token cache hits ${(100 * run.hitShare).toFixed(0)}%`,
        run.errors ? `${run.errors} socket errors` : '',
        run.early ? `pool used up after ${run.seconds.toFixed(1)} s` : '',
      ].filter(Boolean).join(', ');
      log(`  ${row.key.padEnd(22)} ${run.rps.toFixed(0).padStart(6)} req/s  ${run.cpuUs.toFixed(1).padStart(6)} µs CPU/req (${run.answered} answered)  node ${run.nodeUs.toFixed(1)} µs/req${notes ? `  ${notes}` : ''}`);
    }
  }
  return runs;
}

/** The edgeAuth bench Worker's token cache counters (its /__stats). */
async function tokenCacheStats(/** @type {URL} */ url) {
  return /** @type {{ hits: number; misses: number }} */ (JSON.parse((await request(url, { path: '/__stats' })).body).tokenCache);
}

// --- HTTP from Node, for setting up and checking (not for load) ----------------------------
// A connection per request: workerd closes idle keep-alive connections, and a pooled one reused
// as it closes fails with ECONNRESET.

/** @returns {Promise<{ status: number; body: string }>} */
export function request(/** @type {URL} */ base, /** @type {{ host?: string; method?: string; path?: string; token?: string; headers?: Record<string, string>; body?: string }} */ options = {}) {
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

export async function expectStatus(/** @type {URL} */ base, /** @type {Parameters<typeof request>[1]} */ options, /** @type {number} */ status, /** @type {string} */ what) {
  const response = await request(base, options);
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${response.body.slice(0, 300)}`);
  return response;
}
