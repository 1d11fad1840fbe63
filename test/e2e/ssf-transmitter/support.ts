// What the dev SSF transmitter's tests share: a push receiver on loopback that records each
// transmission request and answers as the test says, calls to the management and control APIs,
// and SETs verified with jose against the JWKS the transmitter publishes.
//
//   const receiver = await startReceiver();                    // answers 202 until told otherwise
//   receiver.answer(() => ({ status: 503 }));
//   const transmitter = await startTransmitter({ receivers: [RECEIVER], retry: FAST_RETRY });
//   const stream = await createStream(transmitter, { delivery: pushTo(receiver) });
//   await emit(transmitter, { type: 'session-revoked', subject: ALICE });
//   const { payload } = await verifySet(transmitter, receiver.pushes[0].body);
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { expect } from 'vitest';
import type { RunningTransmitter } from '../../../dev/ssf-transmitter.mjs';

export const PUSH = 'urn:ietf:rfc:8935';
export const POLL = 'urn:ietf:rfc:8936';
export const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';

/** The receiver every test configures: its token is SSF's example token, so SSF's example requests work as printed. */
export const RECEIVER = {
  id: 'receiver-a',
  audience: ['https://receiver.example.com/web', 'https://receiver.example.com/mobile'],
  bearerToken: 'eyJ0b2tlbiI6ImV4YW1wbGUifQo=',
  clientId: 'receiver-a-client',
  clientSecret: 'receiver-a-secret',
};
export const OTHER_RECEIVER = { id: 'receiver-b', audience: 'https://b.example/ssf', bearerToken: 'receiver-b-token' };
/** Retries in milliseconds, so a test sees several. */
export const FAST_RETRY = { baseMs: 20, maxMs: 200, maxAttempts: 4 };
export const ALICE = { format: 'iss_sub', iss: 'https://idp.example.com/', sub: 'alice' };

export interface Push {
  headers: IncomingHttpHeaders;
  method: string;
  path: string;
  body: string;
}
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
export interface Receiver {
  url: string;
  pushes: Push[];
  /** How the receiver answers from now on (default 202, empty body). */
  answer(answer: (push: Push, index: number) => Answer): void;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const pushes: Push[] = [];
  let answer: (push: Push, index: number) => Answer = () => ({ status: 202 });
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => { body += chunk; });
    request.on('end', () => {
      const push = { headers: request.headers, method: request.method ?? '', path: request.url ?? '', body };
      pushes.push(push);
      const { status, headers = {}, body: answerBody } = answer(push, pushes.length - 1);
      response.writeHead(status, headers);
      response.end(answerBody);
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/events`,
    pushes,
    answer: (next) => { answer = next; },
    stop: () => new Promise<void>((stopped) => {
      server.close(() => stopped());
      server.closeAllConnections();
    }),
  };
}

/** A response's JSON body, untyped: tests assert its shape. */
export const json = (response: Response): Promise<any> => response.json();

export const bearer = (token: string = RECEIVER.bearerToken) => ({ authorization: `Bearer ${token}` });

/** A call to the transmitter, as the receiver (its bearer token unless `headers` says otherwise). */
export function call(transmitter: RunningTransmitter, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  return fetch(`${transmitter.url}${path}`, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers: { ...bearer(), ...init.headers }, body });
}

/** A call to the /dev control API. */
export async function control(transmitter: RunningTransmitter, path: string, body?: unknown, method?: string): Promise<any> {
  const response = await fetch(`${transmitter.url}/dev${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return response.status === 204 ? null : json(response);
}

export const pushTo = (receiver: Receiver, authorizationHeader?: string) => ({
  method: PUSH, endpoint_url: receiver.url, ...(authorizationHeader === undefined ? {} : { authorization_header: authorizationHeader }),
});

export async function createStream(transmitter: RunningTransmitter, body: Record<string, unknown>, headers?: Record<string, string>): Promise<Record<string, any>> {
  const response = await call(transmitter, '/ssf/stream', { method: 'POST', body, ...(headers ? { headers } : {}) });
  expect(response.status, await response.clone().text()).toBe(201);
  return json(response);
}

export async function emit(transmitter: RunningTransmitter, body: Record<string, unknown>): Promise<{ issued: { stream_id: string; jti: string; state: string }[]; skipped: { stream_id: string; reason: string }[] }> {
  const response = await fetch(`${transmitter.url}/dev/events`, { method: 'POST', body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBe(202);
  return json(response);
}

export interface Record_ {
  jti: string;
  stream_id: string;
  state: string;
  attempts: number;
  types: string[];
  status?: number;
  err?: string;
  description?: string;
  language?: string;
  reason?: string;
  foreign_key?: boolean;
}

export async function deliveryLog(transmitter: RunningTransmitter, query = ''): Promise<Record_[]> {
  return (await control(transmitter, `/log${query}`)).records;
}

export async function poll(transmitter: RunningTransmitter, stream: Record<string, any>, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(stream.delivery.endpoint_url, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(), ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** A SET verified as a receiver would: signature by the published JWKS, typ, iss and aud. */
export async function verifySet(transmitter: RunningTransmitter, set: string, audience: string = RECEIVER.audience[0] as string): Promise<{ payload: JWTPayload & Record<string, any>; protectedHeader: JWTHeaderParameters }> {
  const metadata = await json(await fetch(`${transmitter.url}/.well-known/ssf-configuration${new URL(transmitter.issuer).pathname.replace(/\/$/, '')}`));
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
  return jwtVerify(set, keys, { issuer: transmitter.issuer, audience, typ: 'secevent+jwt' }) as any;
}

/** Waits until `check` holds, or fails the test after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((wake) => setTimeout(wake, 20));
  }
}
