// @ts-check
// The gateway's CPU budget, step by step (bench/RESULTS.md "The gateway's budget"): each step of
// its request path run many times inside one workerd (bench/workers/budget.ts, the gateway with a
// budget door), its cost read as the workerd process's CPU time around the run (the threads'
// schedstat, in nanoseconds) less an empty run's, divided by the count. Rounds alternate the
// steps, and a step's figure is its median over rounds. The table adds the steps up for a token
// cache hit and for a distinct token, and compares the sums with the rows' differences measured
// in the same run (gateway minus its floor).
//
//   const budget = await measureBudget(bench, { rounds: 5 });   // { steps: { [key]: { us, about, n } }, ... }
//   render(...budget)                                          // report.mjs writes the table
import { readFileSync, readdirSync } from 'node:fs';
import { expectStatus, request } from './load.mjs';
import { HOST } from './traffic.mjs';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

/** CPU time of every thread of a process so far, in ns (/proc/<pid>/task/<tid>/schedstat, field 1):
 *  the same time /proc/<pid>/stat counts in ticks of 10 ms, without the ticks. */
export function cpuNanos(/** @type {number} */ pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* the thread ended meanwhile */ }
  }
  return total;
}

/** How long a step's run should take: long enough that a request's own cost and the scheduler's
 *  noise are small beside it. */
const TARGET_NS = 25e6;
const MAX_N = 100_000;

/**
 * @param {import('./load.mjs').Bench} bench
 * @param {{ rounds: number; tokens: string[]; repeated: string }} options
 */
export async function measureBudget(bench, options) {
  const url = bench.urls.budget;
  const headers = { authorization: `Bearer ${options.repeated}` };
  // The budget Worker's isolate, warmed as the gateway's is by its rows: the tenant, keys and
  // state in memory, the repeated token in the token cache (kept from its second verification).
  for (let i = 0; i < 20; i++) await expectStatus(url, { headers }, 200, 'budget warm-up');
  await expectStatus(url, { method: 'POST', path: '/__budget/tokens', body: JSON.stringify(options.tokens) }, 204, 'budget tokens');
  const steps = /** @type {{ key: string; about: string }[]} */ (JSON.parse((await request(url, { path: '/__budget/' })).body));

  const run = async (/** @type {string} */ key, /** @type {number} */ n) => {
    const before = cpuNanos(bench.workerd);
    await expectStatus(url, { path: `/__budget/${encodeURIComponent(key)}/${n}`, headers }, 204, `budget step ${key}`);
    return cpuNanos(bench.workerd) - before;
  };
  // A budget request's own cost (HTTP, the step's setup): the empty step, many times over.
  const overhead = async () => {
    const runs = [];
    for (let i = 0; i < 7; i++) runs.push(await run('none', 1));
    return median(runs);
  };
  const measured = steps.filter((s) => s.key !== 'none');
  /** @type {Record<string, number>} */
  const counts = {};
  let base = await overhead();
  for (const { key } of measured) {
    // Calibration: double the count until a run takes a tenth of TARGET_NS, then scale.
    let n = 10;
    let took = 0;
    while (n < MAX_N && (took = (await run(key, n)) - base) < TARGET_NS / 10) n *= 2;
    counts[key] = Math.max(20, Math.min(MAX_N, Math.round(n * TARGET_NS / Math.max(took, 1))));
  }
  /** @type {Record<string, number[]>} */
  const samples = {};
  for (let round = 1; round <= options.rounds; round++) {
    base = await overhead();
    for (const { key } of measured) {
      const n = /** @type {number} */ (counts[key]);
      (samples[key] ??= []).push(((await run(key, n)) - base) / n / 1000);
    }
    log(`budget round ${round}/${options.rounds}: ${measured.length} steps`);
  }
  /** @type {Record<string, { us: number; about: string; n: number; median: number }>} */
  const result = {};
  for (const { key, about } of measured) {
    const values = /** @type {number[]} */ (samples[key]);
    // The lowest round: on a shared machine contention only ever adds CPU (cold caches after a
    // preemption, a busy neighbour), and a step's runs are short enough for some to miss it.
    result[key] = { us: Math.min(...values), median: median(values), about, n: /** @type {number} */ (counts[key]) };
  }
  return result;
}

/** @typedef {Awaited<ReturnType<typeof measureBudget>>} Budget */

/**
 * The budget's rows, for a token cache hit and a distinct token, from the steps' figures: some
 * rows are a difference of two steps (what the gateway does beyond the floor's own work), and the
 * last is what the steps cost together, in one request between fetches, beyond their cost alone.
 * @param {Budget} b
 */
export function budgetRows(b) {
  const us = (/** @type {string} */ key) => b[key]?.us ?? NaN;
  const about = (/** @type {string} */ key) => b[key]?.about ?? '';
  /** @type {{ step: string; hit: number | null; distinct: number | null; how: string }[]} */
  const rows = [];
  const add = (/** @type {string} */ step, /** @type {number | null} */ hit, /** @type {number | null} */ distinct, /** @type {string} */ how) =>
    rows.push({ step, hit, distinct, how });
  const both = (/** @type {string} */ step, /** @type {number} */ value, /** @type {string} */ how) => add(step, value, value, how);

  const decideSteps = ['tenant', 'state', 'route', 'token cache (hit)', 'possession', 'revocation', 'scopes and conditions', 'limits'];
  both('Hono dispatch', us('Hono dispatch'), about('Hono dispatch'));
  both('URL read', us('URL read'), about('URL read'));
  both('door setup', us('door setup'), about('door setup'));
  both('request reading', us('request reading') - us('credentials'),
    'pipelineRequestOf less credentials: request id, method overrides, DPoP, cf, client IP, Origin, preflight, public document');
  both('credentials', us('credentials'), 'the Authorization header and extractCredentials');
  both('tenant', us('tenant'), about('tenant'));
  both('state', us('state'), about('state'));
  both('route', us('route'), about('route'));
  add('token cache', us('token cache (hit)'), us('token cache (distinct)'),
    'a hit: fingerprint, compare, key set version, times; distinct: a miss and the doorkeeper');
  const verification = us('verification');
  const decoding = us('verification: our decoding');
  const signature = us('verification: signature');
  add('verification (and its decoding)', null, verification,
    `verifyToken: the header and payload decoded ${decoding.toFixed(1)}, the signature ${signature.toFixed(1)} `
    + `(crypto.subtle.verify alone ${us('verification: signature (subtle alone)').toFixed(1)}), the key from memory ${us('verification: key lookup').toFixed(1)}, `
    + `the claims (times, audience, scopes, freezing) ${(verification - decoding - signature - us('verification: key lookup')).toFixed(1)}`);
  both('proof of possession', us('possession'), about('possession'));
  both('revocation', us('revocation'), about('revocation'));
  both('scopes and conditions', us('scopes and conditions'), about('scopes and conditions'));
  both('limits', us('limits'), about('limits'));
  both('decide(): its own work', us('decide()') - decideSteps.reduce((sum, key) => sum + us(key), 0),
    "decide() less its steps above: the Decision, a clock read a step, the log record's fields, the identity, the async frames");
  both('admitted request', us('admitted request'), about('admitted request'));
  both('the log record', us('log record'), about('log record'));
  add('identity headers', us('origin request') - us('origin request (no identity)'),
    us('origin request (distinct token)') - us('fresh claims object') - us('origin request (no identity)'),
    `x-auth-*: from the memo on a hit; built for a distinct token (x-auth-claims: ${us('identity headers: x-auth-claims').toFixed(1)})`);
  both('header hygiene', us('header hygiene') - us('request copy'), 'the edge-owned names found and removed from the copy');
  both('building the origin request', us('origin request (no identity)') - (us('header hygiene') - us('request copy')) - us('floor request'),
    "originRequest less hygiene and identity (the target, x-request-id, x-forwarded-*), beyond the floor's own new URL and new Request");
  both('sending the edge\'s headers', us('fetch: gateway request') - us('origin request') - (us('fetch: floor request') - us('floor request')),
    "fetch, and the origin receiving them: the x-auth-*, x-request-id and x-forwarded-* headers, beyond the floor's fetch");
  both('response pass-through', us('response pass-through'), about('response pass-through'));
  both('Server-Timing', 0, `DEBUG_TIMING off in production: nothing (on: passThrough costs ${us('Server-Timing (DEBUG_TIMING on)').toFixed(1)})`);
  const sum = (/** @type {'hit' | 'distinct'} */ k) => rows.reduce((total, row) => total + (row[k] ?? 0), 0);
  const loop = {
    hit: us('whole: gateway, repeated token') - us('whole: forward-only floor'),
    distinct: us('whole: gateway, distinct token') - us('whole: forward-only floor, distinct token'),
    verify: us('whole: forward after one verify, distinct token') - us('whole: forward-only floor, distinct token'),
  };
  const apart = { hit: sum('hit'), distinct: sum('distinct') };
  add('together: cold caches and garbage', loop.hit - apart.hit, loop.distinct - apart.distinct,
    'the whole request in a loop (gateway less floor) less the steps above, each measured alone: what they cost together, between fetches');
  return { rows, apart, loop };
}

const median = (/** @type {number[]} */ values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? /** @type {number} */ (sorted[mid]) : (/** @type {number} */ (sorted[mid - 1]) + /** @type {number} */ (sorted[mid])) / 2;
};

export { HOST };
