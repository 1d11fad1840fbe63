// The whole Worker as tests drive it: createApp with a clock moved by assignment, the real
// bindings of the test runtime, the admin API for putting tenants, and the decision log.
//
//   const edge = testEdge();
//   await edge.putTenant(tenantConfig({ issuer }));
//   const response = await edge.request('https://api.acme.test/orders', { token });
//   edge.advance(31_000);
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import { createApp } from '../../src/app';
import type { Env } from '../../src/env';
import type { TestIssuer } from './issuer';

export const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };

let tenantCounter = 0;
/** A unique tenant id and host suffix for this test (KV is shared across test files). */
export function uniqueTenant(prefix = 't'): { id: string; domain: string } {
  const id = `${prefix}-${Date.now().toString(36)}-${++tenantCounter}`;
  return { id, domain: `${id}.example.test` };
}

/** A tenant config for one issuer with everything else defaulted. */
export function tenantConfig(options: { id: string; hosts: string[]; issuer: TestIssuer; audience?: string } & Record<string, unknown>) {
  const { id, hosts, issuer, audience, ...rest } = options;
  return {
    id,
    hosts,
    issuers: [{ issuer: issuer.issuer, audiences: [audience ?? `https://${hosts[0]}`] }],
    ...rest,
  };
}

export function testEdge(options: { env?: Partial<Env>; start?: number } = {}) {
  let t = options.start ?? Date.now();
  const app = createApp({ now: () => t, random: () => 0.5 });
  const bindings = { ...env, ...options.env } as Env;
  const logs: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { logs.push(args.map(String).join(' ')); });

  async function fetch(request: Request): Promise<Response> {
    const ctx = createExecutionContext();
    const response = await app.fetch(request, bindings, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  }

  return {
    app,
    env: bindings,
    logs,
    get now() { return t; },
    advance(ms: number) { t += ms; },
    restoreLog() { spy.mockRestore(); },
    fetch,
    /** A request to a tenant host; `token` goes into the Authorization header. */
    request(url: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
      const { token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
      return fetch(new Request(url, { ...rest, headers }));
    },
    async putTenant(config: Record<string, unknown>): Promise<Response> {
      const response = await fetch(new Request(`http://admin.localhost/tenants/${String(config.id)}`, {
        method: 'PUT', headers: ADMIN, body: JSON.stringify(config),
      }));
      if (response.status !== 200 && response.status !== 201) {
        throw new Error(`PUT tenant failed: ${response.status} ${await response.text()}`);
      }
      return response;
    },
    decisions(): Record<string, unknown>[] {
      return logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.event === 'decision');
    },
  };
}

/** What the echo origin of the auxiliary Worker saw. */
export interface Echo { method: string; url: string; headers: Record<string, string>; body: string; hasBody: boolean }
