// Calls to the admin app as an operator's client makes them: the test token, JSON bodies, and
// the audit lines the calls leave in the captured log.
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { AdminApp } from '../../src/admin/app';
import type { Env } from '../../src/env';

export const ADMIN_TOKEN = 'test-admin-token';

export interface AdminCall {
  body?: unknown;
  raw?: BodyInit;
  headers?: Record<string, string>;
  /** null sends no Authorization header. */
  token?: string | null;
  env?: Env;
}

export function adminCaller(app: AdminApp) {
  return (method: string, path: string, options: AdminCall = {}): Promise<Response> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== null) headers.authorization ??= `Bearer ${options.token ?? ADMIN_TOKEN}`;
    let body = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const request = new Request(`http://admin.localhost${path}`, { method, headers, body });
    return Promise.resolve(app.fetch(request, options.env ?? env, createExecutionContext()));
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const json = async (response: Response) => (await response.json()) as Record<string, any>;

/** The audit lines among console.log calls captured by a spy. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function auditLines(log: { mock: { calls: unknown[][] } }): Record<string, any>[] {
  return log.mock.calls.map((c) => String(c[0])).filter((line) => line.includes('"audit"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
