// The tenants CLI (scripts/tenants.mjs) run as operators run it: a child process with the
// admin URL, Host and token in its environment, its exit code and both streams collected.
//
//   const result = await runTenants(edge, ['put', file]);
//   result.code;   // 0 ok, 1 refused, 2 usage, 3 unreachable
//   result.stdout; result.stderr; result.json();
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Edge } from './edge';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = join(ROOT, 'scripts/tenants.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON. */
  json(): any;
}

/** `env` overrides (or, with undefined, removes) the EDGE_ADMIN_* settings taken from `edge`. */
export function runTenants(edge: Edge | null, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const settings: Record<string, string | undefined> = {
    EDGE_ADMIN_URL: edge?.url,
    EDGE_ADMIN_HOST: edge?.adminHost,
    EDGE_ADMIN_TOKEN: edge?.adminToken,
    ...env,
  };
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...settings })) {
    if (value !== undefined && !(name.startsWith('EDGE_ADMIN_') && settings[name] === undefined)) childEnv[name] = value;
  }
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr, json: () => JSON.parse(stdout) });
    });
  });
}
