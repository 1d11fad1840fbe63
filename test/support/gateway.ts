// The whole Worker as tests drive it: createApp with a clock moved by assignment, the real
// bindings of the test runtime, the admin API for putting tenants, and the decision log; and the
// setup most gateway test files share (gatewayTest).
//
//   const edge = testEdge();
//   await edge.putTenant(tenantConfig({ issuer }));
//   const response = await edge.request('https://api.acme.test/orders', { token });
//   edge.advance(31_000);
//
//   let edge: TestEdge; let issuer: TestIssuer; let host: string;
//   gatewayTest('cors', {}, (made) => ({ edge, issuer, host } = made));   // before each test; the log restored after
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, vi } from 'vitest';
import { createApp } from '../../src/app';
import type { Env } from '../../src/env';
import { TestIssuer } from './issuer';

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

export type TestEdge = ReturnType<typeof testEdge>;

/** What each test of a gateway file starts from: a fresh edge (its own isolate caches, clock and
 *  log), a test issuer, and a tenant id and host of its own (KV is shared across test files). */
export interface GatewaySetup {
  readonly edge: TestEdge;
  readonly issuer: TestIssuer;
  readonly id: string;
  readonly host: string;
}

/** The setup gateway test files share, made before each test, the log restored after it. `then`
 *  takes what was made (into the file's own variables) and adds what the file needs besides. */
export function gatewayTest(
  prefix: string | undefined, options: { env?: Partial<Env>; issuer?: Parameters<typeof TestIssuer.create>[0] },
  then: (made: GatewaySetup) => unknown,
): void {
  let edge: TestEdge | undefined;
  beforeEach(async () => {
    edge = testEdge({ env: options.env });
    const issuer = await TestIssuer.create(options.issuer);
    const { id, domain } = uniqueTenant(prefix);
    await then({ edge, issuer, id, host: `api.${domain}` });
  });
  afterEach(() => edge?.restoreLog());
}

/** What the echo origin of the auxiliary Worker saw. */
export interface Echo { method: string; url: string; headers: Record<string, string>; body: string; hasBody: boolean }
