// @ts-check
// DPoP, the Worker's share and the replay object's: in the bench every DpopReplay object runs in
// the same workerd process as the edgeAuth Worker that calls it, so the DPoP row's CPU holds the
// object's RPC and SQLite work too. Here the object's calls are measured on their own, made one
// after another from inside the Worker (bench/workers/edge-auth.ts POST /__dpop), as workerd CPU
// (schedstat) around the request less an empty request's, per call, the lowest of the rounds:
//
//   noop   a call that does nothing in the object (size()): the RPC alone, both sides
//   claim  a claim of a fresh jti on a warm object: what an admitted DPoP request calls
//   cold   a claim on a new object each time: a key's first proof (the object starts, makes its table)
//
//   const dpop = await measureDpop(bench, { rounds: 5 });   // { noop, claim, cold } in µs per call
import { expectStatus } from './load.mjs';
import { cpuNanos } from './workerd.mjs';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

/** Calls per measured request: enough that the request's own cost is small beside them. */
const CALLS = { noop: 2000, claim: 2000, cold: 200 };

/**
 * @param {import('./load.mjs').Bench} bench
 * @param {{ rounds: number }} options
 * @returns {Promise<Record<'noop' | 'claim' | 'cold', number>>}
 */
export async function measureDpop(bench, options) {
  const url = bench.urls['edge-auth'];
  const run = async (/** @type {string} */ mode, /** @type {number} */ n) => {
    const before = cpuNanos(bench.workerd);
    await expectStatus(url, { method: 'POST', path: `/__dpop?mode=${mode}&n=${n}` }, 200, `dpop ${mode}`);
    return cpuNanos(bench.workerd) - before;
  };
  for (const mode of /** @type {const} */ (['noop', 'claim', 'cold'])) await run(mode, 50);
  /** @type {Record<'noop' | 'claim' | 'cold', number[]>} */
  const samples = { noop: [], claim: [], cold: [] };
  for (let round = 0; round < options.rounds; round++) {
    const empty = Math.min(await run('noop', 0), await run('noop', 0), await run('noop', 0));
    for (const mode of /** @type {const} */ (['noop', 'claim', 'cold'])) {
      samples[mode].push(((await run(mode, CALLS[mode])) - empty) / CALLS[mode] / 1000);
    }
  }
  const lowest = { noop: Math.min(...samples.noop), claim: Math.min(...samples.claim), cold: Math.min(...samples.cold) };
  log(`dpop: a no-op object call ${lowest.noop.toFixed(1)} µs, a warm claim ${lowest.claim.toFixed(1)}, a cold claim ${lowest.cold.toFixed(1)}`);
  return lowest;
}
