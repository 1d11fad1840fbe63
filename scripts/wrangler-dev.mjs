// @ts-check
// The one way the tools start this Worker under `wrangler dev` (npm start, the end-to-end tests,
// the load test), or another Worker project with its own wrangler (`cwd`): loopback only, its own process group behind the guard (so workerd and esbuild
// end with it, even when the parent is killed), output kept until it answers, a ready check that
// fails fast on a build error, and a stop that always ends the whole group.
//
//   const edge = startWranglerDev({ port: 8787, vars: { ALLOW_INSECURE_ISSUERS: 'true' } });
//   await edge.ready;            // any HTTP answer from the admin host (the admin API answers 401)
//   edge.output();               // what wrangler and the Worker printed so far
//   edge.passThrough();          // from now on, stream the output to this process's stdout/stderr
//   await edge.stop();
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostRequest } from './host-request.mjs';
import { groupAlive, signalGroup } from './processes.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GUARD = join(ROOT, 'scripts/process-group-guard.mjs');
const OUTPUT_LIMIT = 256 * 1024;

/**
 * @typedef {object} WranglerDevOptions
 * @property {number} port
 * @property {string} [cwd] another Worker project: its wrangler.toml, run by its own wrangler; default this one
 * @property {number} [inspectorPort]
 * @property {string} [persistTo] local KV and Durable Object state; default wrangler's (.wrangler/state)
 * @property {string} [envFile] secrets file; naming one keeps wrangler from reading .dev.vars
 * @property {Record<string, string>} [vars] `--var NAME:VALUE` over wrangler.toml's [vars]
 * @property {string} [removeOnExit] a scratch directory the guard removes if this process dies first
 * @property {Record<string, string>} [env] extra environment for wrangler
 * @property {string} [adminHost] the Host the ready check asks; default admin.localhost
 * @property {number} [readyTimeoutMs] default 90 s
 */

/**
 * @typedef {object} WranglerDev
 * @property {string} url http://127.0.0.1:<port>
 * @property {number} group the process group
 * @property {Promise<void>} ready
 * @property {() => string} output
 * @property {() => void} passThrough
 * @property {Promise<number | string | null>} exited
 * @property {() => Promise<void>} stop
 */

/** Process groups still running, ended synchronously if this process exits without stop(). */
const running = new Set();
let exitHookInstalled = false;

/** @param {WranglerDevOptions} options @returns {WranglerDev} */
export function startWranglerDev(options) {
  const url = `http://127.0.0.1:${options.port}`;
  const adminHost = options.adminHost ?? 'admin.localhost';
  const cwd = options.cwd ?? ROOT;
  const args = [
    join(cwd, 'node_modules/wrangler/bin/wrangler.js'), 'dev', '--ip', '127.0.0.1', '--port', String(options.port), '--show-interactive-dev-session=false',
    ...(options.inspectorPort === undefined ? [] : ['--inspector-port', String(options.inspectorPort)]),
    ...(options.persistTo === undefined ? [] : ['--persist-to', options.persistTo]),
    ...(options.envFile === undefined ? [] : ['--env-file', options.envFile]),
    ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
  ];
  const guard = options.removeOnExit === undefined ? [GUARD] : [GUARD, '--remove', options.removeOnExit];
  const child = spawn(process.execPath, [...guard, process.execPath, ...args], {
    cwd,
    detached: true, // its own process group: stop() ends workerd and esbuild with it
    stdio: ['pipe', 'pipe', 'pipe'], // the guard watches its stdin: closed when we die
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', FORCE_COLOR: '0', NO_COLOR: '1', ...options.env },
  });
  const group = child.pid;
  if (group === undefined) throw new Error('could not start wrangler dev');
  running.add(group);
  installExitHook();

  let output = '';
  let streaming = false;
  /** @param {NodeJS.WriteStream} to */
  const collect = (to) => (/** @type {Buffer} */ chunk) => {
    if (streaming) to.write(chunk);
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect(process.stdout));
  child.stderr?.on('data', collect(process.stderr));
  /** @type {Promise<number | string | null>} */
  const exited = new Promise((done) => child.once('exit', (code, signal) => done(code ?? signal)));

  const failure = (/** @type {string} */ why) => new Error(`wrangler dev ${why}; its output:\n${output.slice(-8_000)}`);
  const ready = (async () => {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw failure(`exited (${child.exitCode ?? child.signalCode})`);
      // A build error leaves wrangler waiting for a file change, not exiting: no point waiting it out.
      if (/Build failed/.test(output)) throw failure('could not build the Worker');
      if (Date.now() > deadline) throw failure(`did not answer within ${(options.readyTimeoutMs ?? 90_000) / 1000} s`);
      try {
        await hostRequest(`${url}/`, { host: adminHost, timeoutMs: 5_000 }).then((r) => r.arrayBuffer());
        return;
      } catch {
        await sleep(200);
      }
    }
  })();

  /** @type {Promise<void> | undefined} */
  let stopping;
  return {
    url,
    group,
    ready,
    exited,
    output: () => output,
    passThrough: () => { streaming = true; },
    stop: () => (stopping ??= stopGroup(group, exited)),
  };
}

/** @param {number} group @param {Promise<unknown>} exited */
async function stopGroup(group, exited) {
  signalGroup(group, 'SIGTERM');
  await Promise.race([exited, sleep(5_000)]);
  // The guard may be gone while workerd still winds down: wait for the group, then insist.
  const deadline = Date.now() + 5_000;
  while (groupAlive(group) && Date.now() < deadline) await sleep(100);
  if (groupAlive(group)) signalGroup(group, 'SIGKILL');
  running.delete(group);
}

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const group of running) signalGroup(group, 'SIGKILL');
  });
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((wake) => setTimeout(wake, ms));
}
