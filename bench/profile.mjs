// @ts-check
// Rows under V8's CPU profiler (BENCH_PROFILE): one run of each row with the profiler of its
// Worker's isolate on (through workerd's inspector, the Chrome DevTools Protocol over a
// WebSocket), then self time by function and by the module the bundle took it from. Each
// profile is also written to bench/.build/<row>.cpuprofile, for DevTools.
//
//   await profileRows(bench, rows, { inspectorPort, seconds: 4 });
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runRow } from './load.mjs';
import { build } from './workerd.mjs';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

/** @typedef {import('./load.mjs').Bench} Bench */
/** @typedef {import('./run.mjs').Row} Row */

/** Each row's Worker under V8's CPU profiler for one run: self time by function and by module. */
export async function profileRows(/** @type {Bench} */ bench, /** @type {Row[]} */ rows, /** @type {{ inspectorPort: number; seconds: number }} */ options) {
  for (const row of rows) {
    const session = await inspector(options.inspectorPort, row.worker);
    try {
      const { result: run, cpu } = await session.profiled(() => runRow(bench, row, options.seconds));
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

/** Connects to one Worker's V8 inspector (Node's own WebSocket client): `profiled(work)` runs
 *  work under the CPU profiler. */
export async function inspector(/** @type {number} */ port, /** @type {string} */ worker) {
  const targets = /** @type {{ title: string; webSocketDebuggerUrl: string }[]} */ (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json());
  const target = targets.find((t) => t.title.endsWith(`:${worker}`) || t.title === worker);
  if (!target) throw new Error(`no ${worker} inspector target in ${targets.map((t) => t.title).join(', ')}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', () => reject(new Error(`inspector of ${worker}: could not connect`)), { once: true });
  });
  let id = 0;
  /** @type {Map<number, (value: any) => void>} */
  const pending = new Map();
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data));
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

/** The module a line of a Worker's bundle came from (the bundle's `// path` markers); 'bench'
 *  before the first. */
export function bundleModules(/** @type {string} */ worker) {
  /** @type {[number, string][]} */
  const modules = [];
  readFileSync(path.join(build, `${worker}.js`), 'utf8').split('\n').forEach((line, index) => {
    // A baseline's bundle (BENCH_BASELINE) reaches node_modules through a symlink: ../../../node_modules/...
    const marker = /^\/\/ (?:\.\.\/)*((?:node_modules|src|bench)\/\S+)$/.exec(line);
    if (marker?.[1]) modules.push([index, marker[1]]);
  });
  return (/** @type {number} */ line) => {
    let found = 'bench';
    for (const [start, name] of modules) if (start <= line) found = name; else break;
    return found;
  };
}

/** Names a profiled function's group: the module it was bundled from, the signature check, or
 *  the runtime. */
function moduleGroups(/** @type {string} */ worker) {
  const moduleAt = bundleModules(worker);
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
