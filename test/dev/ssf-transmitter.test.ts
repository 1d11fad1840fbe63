// The dev SSF transmitter's handler (dev/ssf/transmitter.mjs) inside workerd, where its Worker
// form (dev/ssf-transmitter-worker.mjs) runs: Web Crypto keys and signatures, streams, a push
// through an injected fetch (its per-push abort controller and timeout), a long poll on workerd's
// timers, and a 10 MiB answer streamed. The Node side (startTransmitter and the standards'
// examples) is tested in test/e2e/ssf-transmitter/. The module is plain JavaScript: it is loaded
// by path, so this project's TypeScript settings (no allowJs) do not have to read it.
import { createLocalJWKSet, jwtVerify } from 'jose';
import { expect, it } from 'vitest';

const MODULE = '../../dev/ssf/transmitter.mjs';
const ISSUER = 'https://ssf.transmitter.test';
const RECEIVER = { id: 'edge', audience: 'https://api.acme.test/ssf', bearerToken: 'workerd-token' };

async function start(pushes: Request[]) {
  const { createTransmitter } = await import(/* @vite-ignore */ MODULE);
  return createTransmitter({
    issuer: ISSUER, receivers: [RECEIVER], longPollSeconds: 1, retry: { baseMs: 10, maxMs: 20, maxAttempts: 2 },
    fetch: async (url: string, init: RequestInit) => {
      pushes.push(new Request(url, init));
      return new Response(null, { status: 202 });
    },
  });
}

it('runs in workerd: signs SETs its JWKS verifies, pushes, long-polls and streams a 10 MiB fault answer', async () => {
  const pushes: Request[] = [];
  const transmitter = await start(pushes);
  const call = async (path: string, body?: unknown) => {
    const response = await transmitter.fetch(new Request(`${ISSUER}${path}`, {
      method: body === undefined ? 'GET' : 'POST', headers: { authorization: `Bearer ${RECEIVER.bearerToken}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }));
    return { status: response.status as number, response };
  };
  try {
    const keys = createLocalJWKSet(await (await call('/jwks.json')).response.json());

    const push = await (await call('/ssf/stream', { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://api.acme.test/_edge/ssf', authorization_header: 'Bearer s' } })).response.json() as any;
    expect((await call('/ssf/verify', { stream_id: push.stream_id, state: 'workerd' })).status).toBe(204);
    await expect.poll(() => pushes.length).toBe(1);
    expect(pushes[0]!.headers.get('content-type')).toBe('application/secevent+jwt');
    expect(pushes[0]!.headers.get('authorization')).toBe('Bearer s');
    const pushed = await jwtVerify(await pushes[0]!.text(), keys, { issuer: ISSUER, audience: RECEIVER.audience, typ: 'secevent+jwt' });
    expect(pushed.payload.events).toEqual({ 'https://schemas.openid.net/secevent/ssf/event-type/verification': { state: 'workerd' } });
    expect((await call(`/ssf/stream?stream_id=${push.stream_id}`, undefined)).status).toBe(200);
    await transmitter.fetch(new Request(`${ISSUER}/ssf/stream?stream_id=${push.stream_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${RECEIVER.bearerToken}` } }));

    const stream = await (await call('/ssf/stream', {})).response.json() as any;
    const endpoint = new URL(stream.delivery.endpoint_url).pathname;
    const waiting = call(endpoint, { maxEvents: 5 });
    await new Promise((wake) => setTimeout(wake, 100));
    await transmitter.fetch(new Request(`${ISSUER}/dev/events`, { method: 'POST', body: JSON.stringify({ type: 'credential-change', subject: { format: 'email', email: 'ann@example.com' } }) }));
    const answer = await (await waiting).response.json() as any;
    const [set] = Object.values(answer.sets) as string[];
    const polled = await jwtVerify(set!, keys, { issuer: ISSUER, audience: RECEIVER.audience });
    expect(Object.keys(polled.payload.events as object)).toEqual(['https://schemas.openid.net/secevent/caep/event-type/credential-change']);

    await transmitter.fetch(new Request(`${ISSUER}/dev/faults`, { method: 'POST', body: JSON.stringify({ mode: 'huge' }) }));
    const huge = await call(endpoint, { returnImmediately: true, ack: Object.keys(answer.sets) });
    expect((await huge.response.arrayBuffer()).byteLength).toBe(10 * 1024 * 1024);
  } finally {
    await transmitter.close();
  }
});

it('ends each JSON answer with a newline, as the edge does, so a pasted curl leaves the prompt on its own line', async () => {
  const transmitter = await start([]);
  try {
    const event = await transmitter.fetch(new Request(`${ISSUER}/dev/events`, {
      method: 'POST', body: JSON.stringify({ type: 'credential-change', subject: { format: 'iss_sub', iss: ISSUER, sub: 'bob' } }),
    }));
    expect(event.status).toBe(202);
    expect(await event.text()).toMatch(/^\{.*\}\n$/s);
    const refused = await transmitter.fetch(new Request(`${ISSUER}/ssf/stream`, { method: 'POST', body: '{}' }));
    expect(refused.status).toBe(401);
    expect(await refused.text()).toMatch(/"error_description":.*\}\n$/s);
  } finally {
    await transmitter.close();
  }
});
