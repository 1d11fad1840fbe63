// The dev SSF transmitter (dev/ssf/transmitter.mjs, the local stack's) running in the test's own
// isolate, for the stream tests: its configuration and JWKS published on the auxiliary issuer
// Worker (workerd's outbound fetch, which the IssuerKeys object uses for the transmitter's keys),
// its pushes sent to the Worker under test, and the stream object's network pointed at it (the
// object's only seam: workerd routes its fetch to the stand-in, not to this isolate). Each call
// the edge makes is counted by path. The module is plain JavaScript loaded by path, as in
// test/dev/ssf-transmitter.test.ts.
//
//   const transmitter = await startTestTransmitter({ audience, push: (r) => edge.fetch(r), now });
//   await wireStream(tenantId, transmitter, now);          // before the first admin call of the tenant
//   await transmitter.control('/events', { type: 'session-revoked', subject });
//   transmitter.calls('/ssf/stream');                      // requests the edge made there
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { ssfStreamStub, type SsfStream } from '../../src/events/ssf-stream';
import { register } from './issuer';

const MODULE = '../../dev/ssf/transmitter.mjs';

/** The edge's credentials at every test transmitter. */
export const BEARER = 'edge-management-bearer-token';
export const CLIENT = { clientId: 'edge-client', clientSecret: 'edge-client-secret' };

export interface TestTransmitter {
  readonly issuer: string;
  /** The transmitter's handler, as the stream object's network. */
  fetch(request: Request): Promise<Response>;
  /** A call to its /dev control API (JSON in and out). */
  control(path: string, body?: unknown, method?: string): Promise<any>;
  /** Waits for the pushes under way (a verification the edge asked for, a status change). */
  settle(): Promise<void>;
  /** Requests the edge made to a path of the transmitter (the issuer's path left out). */
  calls(path: string): number;
  /** What the edge sent, in order: method, path and JSON body. */
  readonly requests: { method: string; path: string; body: any; authorization: string | null }[];
  close(): Promise<void>;
}

let counter = 0;

export async function startTestTransmitter(options: {
  audience: string; push: (request: Request) => Promise<Response>; now: () => number; path?: string;
  receivers?: Record<string, unknown>[]; tokenTtlSeconds?: number;
}): Promise<TestTransmitter> {
  const { createTransmitter } = await import(/* @vite-ignore */ MODULE);
  const origin = `https://tr${Date.now().toString(36)}${++counter}.transmitter.test`;
  const path = options.path ?? '';
  const transmitter = await createTransmitter({
    issuer: `${origin}${path}`, now: options.now, tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
    receivers: options.receivers ?? [{ id: 'edge', audience: options.audience, bearerToken: BEARER, ...CLIENT, maxStreams: 2 }],
    retry: { baseMs: 10, maxMs: 50, maxAttempts: 3 }, longPollSeconds: 1,
    fetch: (url: string, init: RequestInit) => options.push(new Request(url, init)),
  });
  const pending = new Set<Promise<unknown>>();
  const context = { waitUntil: (promise: Promise<unknown>) => { pending.add(promise); void promise.finally(() => pending.delete(promise)); } };
  const settle = async () => { while (pending.size > 0) await Promise.all([...pending]); };
  const hits = new Map<string, number>();
  const requests: TestTransmitter['requests'] = [];
  const serve = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const relative = url.pathname.startsWith(path) ? url.pathname.slice(path.length) : url.pathname;
    hits.set(relative, (hits.get(relative) ?? 0) + 1);
    const text = request.method === 'GET' || request.method === 'DELETE' ? '' : await request.clone().text();
    let body: unknown = text;
    try { body = text === '' ? null : JSON.parse(text); } catch { /* a form */ }
    requests.push({ method: request.method, path: relative, body, authorization: request.headers.get('authorization') });
    return transmitter.fetch(request, context);
  };
  // The keys, where the IssuerKeys object fetches them (SSF §7.2 placement).
  const metadata = await (await transmitter.fetch(new Request(`${origin}/.well-known/ssf-configuration${path}`))).json() as { jwks_uri: string };
  await register(`${origin}/.well-known/ssf-configuration${path}`, { body: metadata });
  await register(metadata.jwks_uri, { body: await (await transmitter.fetch(new Request(metadata.jwks_uri))).json() });
  return {
    issuer: transmitter.issuer,
    fetch: serve,
    requests,
    calls: (at) => hits.get(at) ?? 0,
    async control(at, body, method) {
      const response = await transmitter.fetch(new Request(`${origin}/dev${at}`, {
        method: method ?? (body === undefined ? 'GET' : 'POST'), ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }), context);
      // Pushes the call started (a verification, an event) are delivered before it returns.
      await settle();
      return response.status === 204 ? null : response.json();
    },
    settle,
    async close() {
      await transmitter.close();
    },
  };
}

/** The tenant's stream object at this transmitter, on the test's clock and network. */
export async function wireStream(tenantId: string, transmitter: Pick<TestTransmitter, 'issuer' | 'fetch'>, now: () => number,
  network?: typeof fetch): Promise<DurableObjectStub<SsfStream>> {
  const stub = ssfStreamStub(env.SSF_STREAMS, tenantId, transmitter.issuer);
  await runInDurableObject(stub, (instance: SsfStream) => {
    instance.now = now;
    instance.network = network ?? ((input, init) => transmitter.fetch(new Request(input, init)));
  });
  return stub;
}
