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
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expectStatus, request, runRow } from './load.mjs';
import { bundleModules, inspector } from './profile.mjs';
import { build, cpuNanos } from './workerd.mjs';
import { HOST } from './traffic.mjs';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

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
  /** @type {Record<string, { us: number; about: string; n: number; median: number; rounds: number[] }>} */
  const result = {};
  for (const { key, about } of measured) {
    const values = /** @type {number[]} */ (samples[key]);
    // The lowest round: on a shared machine contention only ever adds CPU (cold caches after a
    // preemption, a busy neighbour), and a step's runs are short enough for some to miss it.
    // Each round's figure is kept too: a difference of two steps is taken within a round.
    result[key] = { us: Math.min(...values), median: median(values), about, n: /** @type {number} */ (counts[key]), rounds: values };
  }
  return result;
}

/** @typedef {Awaited<ReturnType<typeof measureBudget>>} Budget */

/** The table's steps, in the order a request meets them. */
const STEPS = [
  'dispatch', 'URL read', 'door setup', 'request reading', 'credentials', 'tenant', 'state', 'route', 'token cache',
  'verification: decoding', 'verification: signature', 'verification: key lookup', 'verification: the JWS and claims',
  'proof of possession', 'revocation', 'scopes and conditions', 'limits', 'decide(): its own frames', 'the log record',
  'edgeAuth: its own frame', 'admitted request', 'identity headers', 'header hygiene', 'building the origin request',
  "sending the edge's headers (fetch)", 'response pass-through', 'Server-Timing',
  'garbage collection', 'the runtime (program)', "the runtime's built-ins",
];

/**
 * The budget's rows: each step's µs per request in the request (its share of the row's profile
 * times the row's CPU per request, less the floor's same step where the floor has one) and
 * alone (the micro-measurements, beyond the floor's own work), on a token cache hit and on a
 * distinct RS256 token.
 * @param {Budget | null} b the micro-measurements
 * @param {Record<string, Record<string, number>> | null} shares the profiles' shares by row key
 * @param {(key: string) => number} cpu a row's CPU µs per request (median of the rounds)
 */
export function budgetRows(b, shares, cpu) {
  const us = (/** @type {string} */ key) => b?.[key]?.us ?? NaN;
  /** A sum of steps (sign +1 or -1 each) whose parts do I/O (a fetch, the origin's work, a
   *  whole request), where two steps' lowest rounds need not be alike: the sum within each round
   *  (the steps ran one after another), then the median over the rounds. */
  const paired = (/** @type {[number, string][]} */ terms) => {
    const rounds = b?.[terms[0]?.[1] ?? '']?.rounds;
    if (rounds === undefined) return NaN;
    return median(rounds.map((_, i) => terms.reduce((total, [sign, key]) => total + sign * (b?.[key]?.rounds[i] ?? NaN), 0)));
  };
  const twice = (/** @type {number} */ x) => /** @type {[number, number]} */ ([x, x]);
  /** Alone: what each step costs by itself, beyond what the floor does too. */
  /** @type {Record<string, [number | null, number | null]>} */
  const alone = {
    dispatch: [us('dispatch'), us('dispatch')],
    'URL read': [us('URL read'), us('URL read')],
    'door setup': [us('door setup'), us('door setup')],
    'request reading': [us('request reading') - us('credentials'), us('request reading') - us('credentials')],
    credentials: [us('credentials'), us('credentials')],
    tenant: [us('tenant'), us('tenant')],
    state: [us('state'), us('state')],
    route: [us('route'), us('route')],
    'token cache': [us('token cache (hit)'), us('token cache (distinct)')],
    'verification: decoding': [null, us('verification: our decoding')],
    'verification: signature': [null, us('verification: signature')],
    'verification: key lookup': [null, us('verification: key lookup')],
    'verification: the JWS and claims': [null,
      us('verification') - us('verification: our decoding') - us('verification: signature') - us('verification: key lookup')],
    'proof of possession': [us('possession'), us('possession')],
    revocation: [us('revocation'), us('revocation')],
    'scopes and conditions': [us('scopes and conditions'), us('scopes and conditions')],
    limits: [us('limits'), us('limits')],
    'decide(): its own frames': twice(us('decide()') - ['tenant', 'state', 'route', 'token cache (hit)', 'possession', 'revocation',
      'scopes and conditions', 'limits'].reduce((sum, key) => sum + us(key), 0)),
    'the log record': [us('log record'), us('log record')],
    'admitted request': [us('admitted request'), us('admitted request')],
    'identity headers': [us('origin request') - us('origin request (no identity)'),
      us('origin request (distinct token)') - us('fresh claims object') - us('origin request (no identity)')],
    'header hygiene': twice(us('header hygiene') - us('request copy')),
    'building the origin request': twice(us('origin request (no identity)') - (us('header hygiene') - us('request copy')) - us('floor request')),
    "sending the edge's headers (fetch)": twice(paired([[1, 'fetch: gateway request'], [-1, 'origin request'], [-1, 'fetch: floor request'],
      [1, 'floor request']])),
    'response pass-through': [us('response pass-through'), us('response pass-through')],
    'Server-Timing': [0, 0],
  };
  /** In the request: the gateway row's µs of a step less the floor's (null: the row was not profiled). */
  const inRequest = (/** @type {string} */ row, /** @type {string} */ step) => {
    if (shares === null || shares[row] === undefined) return null;
    return (shares[row]?.[step] ?? 0) * cpu(row) - (shares.forward?.[step] ?? 0) * cpu('forward');
  };
  const steps = [...STEPS];
  for (const row of Object.values(shares ?? {})) for (const step of Object.keys(row)) if (!steps.includes(step)) steps.push(step);
  const rows = steps.map((step) => ({
    step,
    // BENCH_BASELINE: the same steps of the baseline's gateway (its rows' twins, profiled alike).
    hitBefore: inRequest('gateway repeated @base', step), distinctBefore: inRequest('gateway RS256 @base', step),
    hit: inRequest('gateway repeated', step), hitAlone: alone[step]?.[0] ?? null,
    distinct: inRequest('gateway RS256', step), distinctAlone: alone[step]?.[1] ?? null,
  }));
  const sum = (/** @type {'hitBefore' | 'distinctBefore' | 'hit' | 'hitAlone' | 'distinct' | 'distinctAlone'} */ k) =>
    rows.reduce((total, row) => total + (row[k] ?? 0), 0);
  return {
    rows,
    sums: {
      hitBefore: sum('hitBefore'), distinctBefore: sum('distinctBefore'),
      hit: sum('hit'), hitAlone: sum('hitAlone'), distinct: sum('distinct'), distinctAlone: sum('distinctAlone'),
    },
    loop: {
      hit: paired([[1, 'whole: gateway, repeated token'], [-1, 'whole: forward-only floor']]),
      distinct: paired([[1, 'whole: gateway, distinct token'], [-1, 'whole: forward-only floor, distinct token']]),
      verify: paired([[1, 'whole: forward after one verify, distinct token'], [-1, 'whole: forward-only floor, distinct token']]),
    },
  };
}

// --- in the request: the rows under V8's CPU profiler ---------------------------------------

/** Where a profiled frame's time goes: the step of the nearest frame up its stack that names
 *  one. A rule is [step, module (a path prefix of the bundle's markers, or '' for the runtime's
 *  native functions), function names (null: any), and for natives the caller's name]. */
const RULES = /** @type {[string, string, string[] | null, string[]?][]} */ ([
  // The floor's own handler and the natives it calls (bench/workers/forward-floor.js).
  ['URL read', '', ['URL'], ['fetch']],
  ['URL read', 'src/http/request-url.ts', null],
  ['door setup', 'src/config/settings.ts', null],
  ['door setup', 'src/pipeline/io.ts', null],
  ['door setup', 'src/http/tenant-lookup.ts', null],
  ['door setup', 'src/http/edge-auth.ts', ['waitUntilOf']],
  ['credentials', 'src/verify/extract.ts', null],
  ['request reading', 'src/http/request.ts', null],
  ['request reading', 'src/policy/routes.ts', ['methodOverridesOf']],
  ['request reading', 'src/possession/certificate.ts', ['certificateOfRequest']],
  ['request reading', 'src/http/metadata.ts', ['publicDocumentOf']],
  ['request reading', 'src/http/cors.ts', ['isPreflight']],
  ['tenant', 'src/tenants/', null],
  ['tenant', 'src/config/hosts.ts', null],
  ['tenant', 'src/pipeline/cors.ts', null],
  ['state', 'src/revocation/tenant-states.ts', ['peekState', 'readState', 'refreshAhead', 'readThrough', 'readObject']],
  ['revocation', 'src/revocation/', null],
  ['route', 'src/policy/routes.ts', null],
  ['token cache', 'src/verify/token-cache.ts', null],
  ['token cache', 'src/pipeline/decide.ts', ['verified']],
  ['verification: signature', '', ['verify'], null],
  ['verification: signature', 'src/verify/compact.ts', ['verifySignature', 'checkKey']],
  ['verification: decoding', 'src/verify/compact.ts', null],
  ['verification: decoding', 'src/verify/jws.ts', ['decodeHeader']],
  // A revision that still checked signatures with jose's compactVerify (a BENCH_BASELINE): its
  // frames decode the token again (crypto.subtle.verify under them is the signature, above).
  ['verification: decoding', 'node_modules/jose/', null],
  ['verification: key lookup', 'src/keys/', null],
  ['verification: the JWS and claims', 'src/verify/', null],
  ['proof of possession', 'src/possession/', null],
  ['scopes and conditions', 'src/policy/', null],
  ['limits', 'src/limits/', null],
  ['the log record', 'src/pipeline/decide.ts', ['Decision', 'lap', 'end', 'counted']],
  ['the log record', 'src/pipeline/record.ts', null],
  ['the log record', 'src/http/edge-auth.ts', ['finish']],
  ['the log record', 'src/http/door.ts', ['end']],
  ['decide(): its own frames', 'src/pipeline/', null],
  ['admitted request', 'src/http/edge-auth.ts', ['Admitted', 'admittedOf', 'get requestId']],
  ['admitted request', 'src/http/door.ts', ['Admitted', 'get requestId']],
  ['response pass-through', 'src/http/answers.ts', null],
  ['response pass-through', 'src/http/door.ts', ['answer']],
  ['response pass-through', 'src/http/edge-auth.ts', ['replaceResponse']],
  ['edgeAuth: its own frame', 'src/http/edge-auth.ts', null],
  ['edgeAuth: its own frame', 'src/http/door.ts', null],
  ['identity headers', 'src/gateway/forward.ts', ['setIdentity', 'identityHeaders', 'headerValue', 'claimHeaderValue']],
  ['header hygiene', 'src/gateway/forward.ts', ['isEdgeOwned']],
  ['header hygiene', '', ['keys', 'next', 'delete', 'forEach'], ['originRequest']],
  ['sending the edge\'s headers (fetch)', '', ['fetch'], null],
  ['building the origin request', '', null, ['originRequest', 'forwardToOrigin', 'fetch']],
  ['building the origin request', 'src/gateway/forward.ts', null],
  ['building the origin request', 'bench/workers/forward-floor.js', null],
  // Hono's before c93d2b8 (a BENCH_BASELINE); since, the gateway's own fetch handler.
  ['dispatch', 'src/app.ts', null],
  ['dispatch', 'node_modules/hono/', null],
]);

/**
 * Each step's share of a profile's busy samples (idle left out): a sample goes to the step of the
 * nearest frame up its stack a rule names; one no frame names goes to the runtime (program),
 * garbage collection, or the runtime's built-ins.
 * @param {any} cpu a .cpuprofile
 * @param {string} worker whose bundle the frames' lines are in
 */
export function stepShares(cpu, worker) {
  const moduleAt = bundleModules(worker);
  /** @type {Map<number, any>} */
  const byId = new Map(cpu.nodes.map((/** @type {any} */ node) => [node.id, node]));
  /** @type {Map<number, number>} */
  const parentOf = new Map();
  for (const node of cpu.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** @type {Map<number, string>} */
  const stepOf = new Map();
  const name = (/** @type {any} */ node) => node.callFrame.functionName || '(anonymous)';
  const ruleFor = (/** @type {any} */ node) => {
    const frame = node.callFrame;
    const module = frame.url ? moduleAt(frame.lineNumber) : '';
    const parent = byId.get(parentOf.get(node.id) ?? -1);
    for (const [step, prefix, names, callers] of RULES) {
      if (prefix === '' ? frame.url !== '' : !module.startsWith(prefix)) continue;
      if (names !== null && !names.includes(name(node))) continue;
      if (callers && (!parent || !callers.includes(name(parent)))) continue;
      return step;
    }
    return null;
  };
  const classify = (/** @type {number} */ id) => {
    let step = stepOf.get(id);
    if (step !== undefined) return step;
    const node = byId.get(id);
    const self = name(node);
    if (self === '(garbage collector)') step = 'garbage collection';
    else if (self === '(program)') step = 'the runtime (program)';
    else if (self === '(idle)') step = '(idle)';
    else {
      for (let at = id; at !== undefined && step === undefined; at = /** @type {number} */ (parentOf.get(at))) {
        step = ruleFor(byId.get(at)) ?? undefined;
      }
      step ??= node.callFrame.url ? `other: ${moduleAt(node.callFrame.lineNumber)}` : 'the runtime\'s built-ins';
    }
    stepOf.set(id, step);
    return step;
  };
  /** @type {Map<string, number>} */
  const counts = new Map();
  let busy = 0;
  for (const sample of cpu.samples) {
    const step = classify(sample);
    if (step === '(idle)') continue;
    busy++;
    counts.set(step, (counts.get(step) ?? 0) + 1);
  }
  /** @type {Record<string, number>} */
  const shares = {};
  for (const [step, count] of counts) shares[step] = count / busy;
  return shares;
}

/**
 * The rows the budget reads in the request, each under the profiler for a run: the gateway on a
 * token cache hit and on distinct RS256 tokens, and the forward-only floor. Each step's share of
 * the profile, times the row's CPU per request without a profiler (the rounds), is its µs.
 * @param {import('./load.mjs').Bench} bench
 * @param {import('./run.mjs').Row[]} rows the three rows
 * @param {{ inspectorPort: number; seconds: number }} options
 */
export async function profileBudget(bench, rows, options) {
  /** @type {Record<string, Record<string, number>>} */
  const shares = {};
  for (const row of rows) {
    const session = await inspector(options.inspectorPort, row.worker);
    try {
      const { cpu } = await session.profiled(() => runRow(bench, row, options.seconds));
      writeFileSync(path.join(build, `budget-${row.key.replace(/\W+/g, '-')}.cpuprofile`), JSON.stringify(cpu));
      shares[row.key] = stepShares(cpu, row.worker);
      log(`budget: ${row.key} profiled`);
    } finally {
      session.close();
    }
  }
  return shares;
}

const median = (/** @type {number[]} */ values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? /** @type {number} */ (sorted[mid]) : (/** @type {number} */ (sorted[mid - 1]) + /** @type {number} */ (sorted[mid])) / 2;
};

export { HOST };
