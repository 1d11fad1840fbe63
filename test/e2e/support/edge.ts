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
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostRequest } from '../../../scripts/host-request.mjs';
import { freePort } from '../../../scripts/processes.mjs';
import { startWranglerDev } from '../../../scripts/wrangler-dev.mjs';

export interface EdgeOptions {
  /** `--var NAME:VALUE` settings over wrangler.toml's [vars]; dev/.dev.vars is never read. */
  vars?: Record<string, string>;
  /** Secrets besides ADMIN_TOKEN (SECRETS_KEY), passed in the env file as the token is. */
  secrets?: Record<string, string>;
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

export async function startEdge(options: EdgeOptions = {}): Promise<Edge> {
  const vars: Record<string, string> = { ADMIN_TOKEN: `e2e-${randomBytes(24).toString('base64url')}`, ...options.vars };
  const { ADMIN_TOKEN: adminToken = '', ...plainVars } = vars;
  const adminHost = vars.ADMIN_HOST ?? 'admin.localhost';
  const scratch = await mkdtemp(join(tmpdir(), 'edge-e2e-'));
  // The token goes in an env file, as a secret: not in argv (ps) nor in wrangler's binding table.
  // Naming a file also keeps wrangler from loading any .dev.vars: a test runs with what it says.
  const envFile = join(scratch, 'secrets.env');
  const secrets = Object.entries({ ADMIN_TOKEN: adminToken, ...options.secrets }).map(([name, value]) => `${name}=${value}\n`).join('');
  await writeFile(envFile, secrets);
  const dev = startWranglerDev({
    port: await freePort(), inspectorPort: await freePort(), persistTo: join(scratch, 'state'), envFile,
    vars: plainVars, removeOnExit: scratch, adminHost, readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
    env: { WRANGLER_LOG_PATH: join(scratch, 'logs') },
  });
  let stopped: Promise<void> | undefined;
  const edge: Edge = {
    url: dev.url,
    adminToken,
    adminHost,
    vars,
    output: dev.output,
    stop: () => (stopped ??= dev.stop().then(() => rm(scratch, { recursive: true, force: true }))),
  };
  try {
    await dev.ready;
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
