// A real `wrangler dev` of this Worker for end-to-end tests: its own free port, fresh local KV
// and Durable Object state, a random admin token, and a process group that is always ended
// (stop(), a failed test, the test process exiting or being killed).
//
//   let edge: Edge;
//   beforeAll(async () => { edge = await startEdge({ vars: { ALLOW_INSECURE_ISSUERS: 'true' } }); });
//   afterAll(() => edge?.stop());
//   await fetchAdmin(edge, '/tenants/acme', { method: 'PUT', body: JSON.stringify(config) });
//   const response = await fetchAs(edge, 'api.acme.test', '/orders');   // the tenant's clients' view
//   edge.output();                                                    // what wrangler and the Worker printed
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostRequest } from '../../../scripts/host-request.mjs';
import { freePort, groupAlive, signalGroup } from '../../../scripts/processes.mjs';

export interface EdgeOptions {
  /** `--var NAME:VALUE` settings over wrangler.toml's [vars]; `.dev.vars` is never read. */
  vars?: Record<string, string>;
  /** How long wrangler dev may take to answer its first request; default 60 s. */
  readyTimeoutMs?: number;
}

export interface Edge {
  /** `http://127.0.0.1:<port>`: send every request here, with the Host header naming who you are talking to. */
  readonly url: string;
  readonly adminToken: string;
  /** `ADMIN_HOST` as this Worker runs it. */
  readonly adminHost: string;
  /** The vars it runs with, ADMIN_TOKEN included. */
  readonly vars: Readonly<Record<string, string>>;
  /** Everything wrangler dev and the Worker printed so far (stdout and stderr interleaved). */
  output(): string;
  stop(): Promise<void>;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const GUARD = join(ROOT, 'scripts/process-group-guard.mjs');
const OUTPUT_LIMIT = 256 * 1024;

/** Process groups still running, ended synchronously if the test process exits without stop(). */
const running = new Set<number>();
let exitHookInstalled = false;

export async function startEdge(options: EdgeOptions = {}): Promise<Edge> {
  const vars: Record<string, string> = { ADMIN_TOKEN: `e2e-${randomBytes(24).toString('base64url')}`, ...options.vars };
  const { ADMIN_TOKEN: adminToken = '', ...plainVars } = vars;
  const adminHost = vars.ADMIN_HOST ?? 'admin.localhost';
  const scratch = await mkdtemp(join(tmpdir(), 'edge-e2e-'));
  // The token goes in an env file, as a secret: not in argv (ps) nor in wrangler's binding table.
  // Naming a file also keeps wrangler from loading .dev.vars: a test runs with what it says.
  const envFile = join(scratch, 'secrets.env');
  await writeFile(envFile, `ADMIN_TOKEN=${adminToken}\n`);
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;

  const args = [
    WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort),
    '--persist-to', join(scratch, 'state'), '--env-file', envFile, '--show-interactive-dev-session=false',
    ...Object.entries(plainVars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
  ];
  const child = spawn(process.execPath, [GUARD, '--remove', scratch, process.execPath, ...args], {
    cwd: ROOT,
    detached: true, // its own process group, so stop() ends workerd and esbuild with it
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_LOG_PATH: join(scratch, 'logs'), FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  if (child.pid === undefined) throw new Error(`could not start wrangler dev: ${await new Promise((why) => child.once('error', why))}`);
  const group = child.pid;
  running.add(group);
  installExitHook();

  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  let stopped: Promise<void> | undefined;
  const edge: Edge = {
    url,
    adminToken,
    adminHost,
    vars,
    output: () => output,
    stop: () => (stopped ??= stopGroup(group, exited).then(() => rm(scratch, { recursive: true, force: true }))),
  };

  try {
    await waitUntilAnswering(edge, child, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await edge.stop();
    throw error;
  }
  return edge;
}

/** One request to the edge as `host` would see it (wrangler dev keeps the Host header). */
export function fetchAs(edge: Edge, host: string, path: string, init: RequestOptions = {}): Promise<Response> {
  return hostRequest(new URL(path, edge.url), { ...init, host });
}

/** An admin API request with the edge's token; a body is sent as application/json. */
export function fetchAdmin(edge: Edge, path: string, init: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${edge.adminToken}`, ...init.headers };
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  return fetchAs(edge, edge.adminHost, path, { ...init, headers });
}

async function waitUntilAnswering(edge: Edge, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const failure = (why: string) => new Error(`wrangler dev ${why}; its output:\n${edge.output().slice(-8_000)}`);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw failure(`exited (${child.exitCode ?? child.signalCode})`);
    // A build error leaves wrangler waiting for a file change, not exiting: no point waiting it out.
    if (/Build failed/.test(edge.output())) throw failure('could not build the Worker');
    if (Date.now() > deadline) throw failure(`did not answer within ${timeoutMs} ms`);
    try {
      // Any HTTP answer means the Worker is loaded (the admin API answers 401 to this).
      await fetchAs(edge, edge.adminHost, '/', { headers: { 'x-e2e-probe': '1' } }).then((r) => r.arrayBuffer());
      return;
    } catch {
      await new Promise((wake) => setTimeout(wake, 200));
    }
  }
}

async function stopGroup(group: number, exited: Promise<void>): Promise<void> {
  signalGroup(group, 'SIGTERM');
  await Promise.race([exited, sleep(5_000)]);
  // The guard may be gone while workerd still winds down: wait for the group, then insist.
  const deadline = Date.now() + 5_000;
  while (groupAlive(group) && Date.now() < deadline) await sleep(100);
  if (groupAlive(group)) signalGroup(group, 'SIGKILL');
  running.delete(group);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const group of running) signalGroup(group, 'SIGKILL');
  });
}


const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

