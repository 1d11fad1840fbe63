// @ts-check
// The report of a full run (bench/RESULTS.md): the setting and the machine, every row's figures,
// the targets (a row's CPU per request against its reference's, in the same round), where the
// microseconds go, keys under load and the bundle, and every round's figures.
//
//   writeFileSync('bench/RESULTS.md', render({ info, settings, rows, targets, runs, cold, flood, size, ... }));
//
// The targets table's "Path" cells are how runs compare across rounds of work: keep them as they are.
import { budgetRows } from './budget.mjs';
import { TICKS_PER_SECOND, VARS } from './workerd.mjs';

/** @typedef {import('./run.mjs').Row} Row */
/** @typedef {import('./run.mjs').Target} Target */
/** @typedef {import('./run.mjs').Settings} Settings */
/** @typedef {import('./load.mjs').Run} Run */
/** @typedef {import('./traffic.mjs').Alg} Alg */

export const median = (/** @type {number[]} */ values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return (sorted.length % 2 ? sorted[mid] : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2) ?? NaN;
};

/**
 * RESULTS.md of a full run, as Markdown.
 * @param {{ info: ReturnType<typeof import('./workerd.mjs').versions>; settings: Settings; rows: Row[]; targets: Target[];
 *   runs: Record<string, Run[]>; cold: { statuses: Record<string, number>; discovery: number; jwks: number };
 *   flood: { statuses: Record<string, number>; refetches: number; seconds: number }; size: { raw: number; gzip: number; parts: [string, number][] };
 *   tokenBytes: { RS256: number; ES256: number }; workerd: number; load: [string, string]; seconds: number;
 *   budget: import('./budget.mjs').Budget | null; shares: Record<string, Record<string, number>> | null;
 *   dpop: Record<'noop' | 'claim' | 'cold', number> | null; baseline: string | null }} r
 */
export function render(r) {
  const { runs, rows, settings, targets } = r;
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
  const errors = all.reduce((sum, run) => sum + run.errors, 0);
  const early = rows.filter((row) => runs[row.key]?.some((run) => run.early)).map((row) => row.key);

  const lines = [];
  lines.push('# Benchmark results', '');
  lines.push(`Date: ${new Date().toISOString()}  `);
  const busy = Math.max(...[...r.load].map((l) => Number(String(l).split(' ')[0]))) > r.info.cores;
  lines.push(`Machine: ${r.info.cpu}, ${r.info.cores} cores; load average ${r.load[0]} at the start, ${r.load[1]} at the end`
    + `${busy ? ' (**a busy machine**: more runnable processes than cores, other work competing with workerd and the load generator)' : ''}  `);
  lines.push(`Versions: node ${r.info.node}, wrangler ${r.info.wrangler}, workerd ${r.info.workerd} (miniflare ${r.info.miniflare}), jose ${r.info.jose}, hono ${r.info.hono}, autocannon ${r.info.autocannon}`, '');
  lines.push(`Run: \`npm run bench\`, ${settings.rounds} alternating rounds of every row, autocannon in the bench's Node process with ${settings.connections} connections for ${settings.seconds} s per figure `
    + `(after ${settings.warmup} s of warm-up per row), medians over rounds; ratios are per round (the same round's reference), then the median. `
    + `Tokens: ${settings.pool} distinct per alg (Authorization header: RS256 ${r.tokenBytes.RS256} B, ES256 ${r.tokenBytes.ES256} B), never repeated within a run, or one repeated token. `
    + `LOG_SAMPLE_RATE ${VARS.LOG_SAMPLE_RATE} (the production default: a log line for 1 allowed request in 100, and every refusal) for every row but those named "(LOG_SAMPLE_RATE 1)". Every Worker, and the origin the forwarding rows reach, in one workerd process (pid ${r.workerd}) on loopback (Miniflare direct sockets).`, '');
  lines.push(`**CPU µs/req** is the workerd process's CPU time over the run (its threads' \`/proc/<pid>/task/*/schedstat\`, in ns; `
    + `checked against \`/proc/<pid>/stat\`'s user + system ticks of ${(1000 / TICKS_PER_SECOND).toFixed(0)} ms) divided by the requests answered 200. `
    + 'It is what Workers bills, and it moves less than req/s when other processes compete for the cores. '
    + `"rounds" is the lowest and highest round (contention only ever adds CPU: cold caches after a preemption, fewer requests per wake-up when workerd waits for the load generator). `
    + `Node µs/req is autocannon's own CPU (the load generator shares the machine).`
    + (errors ? ` Socket errors over the whole run: ${errors}.` : '')
    + (early.length ? ` Runs that used up their token pool before ${settings.seconds} s (figures cover the requests answered): ${early.join(', ')}.` : ''), '');
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
  for (const t of targets) {
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
    const t = targets.find((target) => target.row === key);
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

  const twins = rows.filter((row) => row.logAll !== undefined && runs[row.logAll] !== undefined);
  if (twins.length > 0) {
    lines.push('## LOG_SAMPLE_RATE: the production default against every line', '');
    lines.push(`Every row above runs at LOG_SAMPLE_RATE ${VARS.LOG_SAMPLE_RATE}, the production default, but its twin named "(LOG_SAMPLE_RATE 1)": `
      + 'the same Worker logging every allowed decision (its JSON line written with console.log). The difference is per round, then the median.', '');
    lines.push(`| Row | CPU µs/req at ${VARS.LOG_SAMPLE_RATE} | at 1 | difference per request | ratio |`, '|---|---:|---:|---:|---:|');
    for (const twin of twins) {
      const base = /** @type {string} */ (twin.logAll);
      const diff = median((runs[twin.key] ?? []).map((run, i) => run.cpuUs - (runs[base]?.[i]?.cpuUs ?? NaN)));
      lines.push(`| ${base} | ${cpu(base).toFixed(1)} | ${cpu(twin.key).toFixed(1)} | ${diff.toFixed(1)} µs | ${ratio(twin.key, base, (x) => x.cpuUs).toFixed(2)}x |`);
    }
    lines.push('');
  }

  if (r.baseline) {
    lines.push(`## This tree against ${r.baseline}`, '');
    lines.push(`BENCH_BASELINE=${r.baseline}: each product row beside its twin bundled from ${r.baseline}'s sources, in the same rounds.`, '');
    lines.push(renderBaseline(rows, runs, r.baseline), '');
  }

  if (r.dpop) lines.push(renderDpop(runs, r.dpop), '');

  if (r.budget || r.shares) lines.push(renderBudget({ budget: r.budget, shares: r.shares, runs }), '');

  lines.push('## Keys under load', '');
  lines.push(`- Cold tenant, 100 concurrent requests through the gateway: answers ${JSON.stringify(r.cold.statuses)}; discovery fetches **${r.cold.discovery}**, JWKS fetches **${r.cold.jwks}**.`);
  lines.push(`- Random-kid flood, 1000 tokens (50 concurrent) in ${r.flood.seconds.toFixed(1)} s at the warm edgeAuth Worker: answers ${JSON.stringify(r.flood.statuses)}; JWKS refetches **${r.flood.refetches}**.`);
  lines.push(`- Bundle (wrangler deploy --dry-run --outdir, minified as wrangler.toml says): ${(r.size.raw / 1024).toFixed(1)} KiB, **${(r.size.gzip / 1024).toFixed(1)} KiB gzipped**. `
    + `Its largest parts (KiB in the bundle before gzip; esbuild's metafile): ${r.size.parts.slice(0, 14).map(([part, bytes]) => `${part} ${(bytes / 1024).toFixed(1)}`).join(', ')}.`, '');

  lines.push('## Every round', '');
  lines.push('CPU µs per request (req/s) of each run, in the order they ran; a round runs every row once.', '');
  const roundCount = Math.max(...rows.map((row) => runs[row.key]?.length ?? 0));
  lines.push(`| Row | ${Array.from({ length: roundCount }, (_, i) => `round ${i + 1}`).join(' | ')} |`, `|---|${'---:|'.repeat(roundCount)}`);
  for (const row of rows) lines.push(`| ${row.key} | ${(runs[row.key] ?? []).map((run) => `${run.cpuUs.toFixed(1)} (${int(run.rps)})`).join(' | ')} |`);
  lines.push('', `Full run: ${Math.round(r.seconds)} s.`);
  return `${lines.join('\n')}\n`;
}

/**
 * The DPoP row split between the Worker and its replay object (bench/dpop.mjs), as Markdown.
 * @param {Record<string, Run[]>} runs
 * @param {Record<'noop' | 'claim' | 'cold', number>} dpop µs per call
 */
export function renderDpop(runs, dpop) {
  const cpu = (/** @type {string} */ key) => median((runs[key] ?? []).map((run) => run.cpuUs));
  const row = cpu('edgeAuth DPoP ES256');
  const bearer = cpu('edgeAuth ES256');
  const lines = ['## DPoP: the Worker\'s share and the replay object\'s', ''];
  lines.push('The DPoP row\'s DpopReplay objects run in the same workerd process as the Worker, so its CPU per request holds one object call '
    + '(an admitted DPoP request makes one; test/gateway/dpop.test.ts). The calls measured alone, from inside the Worker, one after another '
    + '(bench/dpop.mjs: workerd CPU around a request of many calls less an empty request\'s, the lowest round), and the row split by them:', '');
  lines.push('| µs of workerd CPU | per request or call |', '|---|---:|');
  lines.push(`| the row: edgeAuth, DPoP, distinct tokens, fresh ES256 proofs | ${row.toFixed(1)} |`);
  lines.push(`| a call that does nothing in the object (size()): the RPC, both sides | ${dpop.noop.toFixed(1)} |`);
  lines.push(`| a claim on a warm object: the RPC and the object's SQLite read and insert | ${dpop.claim.toFixed(1)} |`);
  lines.push(`| of which the object's own work (claim − no-op call) | ${(dpop.claim - dpop.noop).toFixed(1)} |`);
  lines.push(`| a claim on a new object (a key's first proof: the object starts and makes its table) | ${dpop.cold.toFixed(1)} |`);
  lines.push(`| **the Worker's share**: the row less one warm claim | **${(row - dpop.claim).toFixed(1)}** |`);
  lines.push(`| the bearer row of the same alg (edgeAuth ES256) | ${bearer.toFixed(1)} |`);
  lines.push(`| the Worker's DPoP work beyond a bearer token (its share − the bearer row): the proof verified, its binding checked | ${(row - dpop.claim - bearer).toFixed(1)} |`);
  return lines.join('\n');
}

/**
 * The gateway's budget (bench/budget.mjs) as a section of Markdown: each step's µs per request
 * on a token cache hit and on a distinct token, in the request (profiled) and alone (measured in
 * a loop), their sums, and the rows' differences they account for.
 * @param {{ budget: import('./budget.mjs').Budget | null; shares: Record<string, Record<string, number>> | null; runs: Record<string, Run[]>; load?: string }} r
 */
export function renderBudget(r) {
  const cpu = (/** @type {string} */ key) => median((r.runs[key] ?? []).map((run) => run.cpuUs));
  const { rows, sums, loop } = budgetRows(r.budget, r.shares, cpu);
  const fmt = (/** @type {number | null} */ x) => (x === null || Number.isNaN(x) ? '' : x.toFixed(1));
  const lines = ['## The gateway\'s budget', ''];
  lines.push('What the gateway adds to the forward-only floor, step by step, in µs of workerd CPU per request '
    + `(LOG_SAMPLE_RATE ${VARS.LOG_SAMPLE_RATE}${r.load ? `; load average ${r.load}` : ''}). `
    + '**In the request**: the rows gateway repeated, gateway RS256 and forward run again under V8\'s CPU profiler (a workerd of their own), '
    + 'each sample given to the step of the nearest frame up its stack that names one (bench/budget.mjs RULES), a step\'s share of the samples '
    + 'times its row\'s CPU per request above, less the floor\'s share of the same step (its URL, its Request, its fetch, its runtime): the column adds up '
    + 'to the rows\' difference, and what no step names is there by the runtime\'s name. **Alone**: the step run n times in a loop inside one workerd '
    + '(bench/workers/budget.ts), schedstat CPU less an empty loop\'s, the lowest of 9 rounds (a step measured as a difference of steps that wait for I/O, the fetch and the whole request, '
    + 'as the median over the rounds of the difference within each round): hot caches, no other request between, so less than in the request.', '');
  const before = rows.some((row) => row.hitBefore !== null);
  const baseCells = (/** @type {string} */ a, /** @type {string} */ b) => (before ? `${a} | ${b} | ` : '');
  lines.push(`| step | ${baseCells('hit, before (BENCH_BASELINE)', 'distinct, before')}hit, in the request | hit, alone | distinct RS256, in the request | distinct RS256, alone |`,
    `|---|${before ? '---:|---:|' : ''}---:|---:|---:|---:|`);
  for (const row of rows) {
    lines.push(`| ${row.step} | ${baseCells(fmt(row.hitBefore), fmt(row.distinctBefore))}${fmt(row.hit)} | ${fmt(row.hitAlone)} | ${fmt(row.distinct)} | ${fmt(row.distinctAlone)} |`);
  }
  const bold = (/** @type {number | null} */ x) => (fmt(x) === '' ? '' : `**${fmt(x)}**`);
  lines.push(`| **sum** | ${baseCells(bold(sums.hitBefore), bold(sums.distinctBefore))}`
    + `${bold(sums.hit)} | ${bold(r.budget ? sums.hitAlone : null)} | ${bold(sums.distinct)} | ${bold(r.budget ? sums.distinctAlone : null)} |`);
  const diff = (/** @type {string} */ key) => cpu(key) - cpu('forward');
  lines.push(`| measured: the rows, gateway − forward-only floor | ${baseCells(fmt(diff('gateway repeated @base')), fmt(diff('gateway RS256 @base')))}`
    + `${fmt(diff('gateway repeated'))} | | ${fmt(diff('gateway RS256'))} | |`);
  lines.push(`| measured: the whole request in a loop, gateway − floor | ${baseCells('', '')}| ${fmt(loop.hit)} | | ${fmt(loop.distinct)} |`);
  const within = (/** @type {number} */ sum, /** @type {number} */ of) => `${(100 * (sum - of) / of).toFixed(1)}%`;
  if (r.budget) lines.push('', `The alone columns' sums against the whole request in a loop: ${within(sums.hitAlone, loop.hit)} (hit) and `
    + `${within(sums.distinctAlone, loop.distinct)} (distinct); against the rows: ${within(sums.hitAlone, diff('gateway repeated'))} and `
    + `${within(sums.distinctAlone, diff('gateway RS256'))}. The in-the-request columns add up to the rows' difference by construction (every busy sample is some step's). `
    + 'A profile sees one isolate\'s JavaScript; the process also runs the origin\'s isolate and workerd\'s own I/O, which land in the runtime\'s rows '
    + 'and in the floor\'s share of the fetch and the Request: a negative figure is a step the floor spends a larger share of its samples on.');
  if (r.budget) lines.push('', `Forward after one verify is ${fmt(cpu('forward+verify RS256') - cpu('forward'))} µs above the floor in the rows `
    + `(${fmt(loop.verify)} in the loop): what a distinct token leaves to the gateway's own work is the rest.`);
  return lines.join('\n');
}

/**
 * An A/B run (BENCH_BASELINE): each product row beside its twin on the baseline's bundle, CPU per
 * request (medians over rounds) and the ratio per round, then its median.
 * @param {Row[]} rows @param {Record<string, Run[]>} runs @param {string} baseline
 */
export function renderBaseline(rows, runs, baseline) {
  const lines = [`| row | this tree µs/req | ${baseline} µs/req | difference | ratio (per round) |`, '|---|---:|---:|---:|---:|'];
  for (const row of rows) {
    const base = runs[`${row.key} @base`];
    const mine = runs[row.key];
    if (!base || !mine || row.key.endsWith(' @base')) continue;
    const cpu = (/** @type {Run[]} */ list) => median(list.map((x) => x.cpuUs));
    const ratio = median(mine.map((run, i) => run.cpuUs / /** @type {Run} */ (base[i]).cpuUs));
    lines.push(`| ${row.key} | ${cpu(mine).toFixed(1)} | ${cpu(base).toFixed(1)} | ${(cpu(mine) - cpu(base)).toFixed(1)} | ${ratio.toFixed(3)} |`);
  }
  return lines.join('\n');
}
