// The dev SSF transmitter's fault modes, as a receiver under test meets them: down (503 with
// Retry-After for everything but /dev, polls counted, pushes held until it is back), a 10 MiB
// poll answer, 10,000 SETs in one answer whatever maxEvents says, SETs signed by a key its JWKS
// does not list (or under its kid), and moreAvailable: true that never ends.
import { errors as joseErrors } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTransmitter, type RunningTransmitter } from '../../../dev/ssf-transmitter.mjs';
import { ALICE, FAST_RETRY, POLL, RECEIVER, call, control, createStream, deliveryLog, emit, json, poll, pushTo, startReceiver, until, verifySet, type Receiver } from './support';

let transmitter: RunningTransmitter;
let receiver: Receiver;
let stream: Record<string, any>;

beforeAll(async () => {
  receiver = await startReceiver();
  transmitter = await startTransmitter({ receivers: [{ ...RECEIVER, maxStreams: 2 }], retry: FAST_RETRY, longPollSeconds: 1 });
  stream = await createStream(transmitter, { delivery: { method: POLL } });
});
afterAll(async () => {
  await transmitter?.stop();
  await receiver?.stop();
});
afterEach(async () => {
  await control(transmitter, '/faults', undefined, 'DELETE');
  // Acknowledge whatever a test left, so the next starts with an empty queue.
  const left = (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`)).filter((r) => r.state === 'queued' || r.state === 'delivered');
  await poll(transmitter, stream, { maxEvents: 0, returnImmediately: true, ack: left.map((r) => r.jti) });
});

describe('down', () => {
  it('answers 503 with Retry-After to every endpoint but /dev, counts the polls it refused, and delivers what queued once it is back', async () => {
    expect(await control(transmitter, '/faults', { mode: 'down', seconds: 600 })).toMatchObject({ faults: [{ mode: 'down', times: null }] });
    for (const path of ['/.well-known/ssf-configuration', '/jwks.json', '/ssf/stream', `/ssf/poll/${stream.stream_id}`]) {
      const response = await call(transmitter, path, path.includes('poll') ? { body: { returnImmediately: true } } : {});
      expect(response.status, path).toBe(503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(590);
    }
    // Events still come (through /dev) while it is down; they wait.
    for (let i = 0; i < 3; i++) await emit(transmitter, { type: 'session-revoked', subject: { format: 'opaque', id: `down-${i}` } });
    for (let i = 0; i < 4; i++) await poll(transmitter, stream, { returnImmediately: true });
    const [report] = (await control(transmitter, '/streams')).streams;
    expect(report.counters.pollsRefusedDown).toBe(5);
    expect(report.counters.polls).toBe(0);

    await control(transmitter, '/faults', undefined, 'DELETE');
    const answer = await json(await poll(transmitter, stream, { returnImmediately: true }));
    expect(Object.keys(answer.sets)).toHaveLength(3);
  });

  it('ends by itself after its seconds, and holds pushes while down', async () => {
    const pushStream = await createStream(transmitter, { delivery: pushTo(receiver) });
    await control(transmitter, '/faults', { mode: 'down', seconds: 1 });
    const before = receiver.pushes.length;
    await emit(transmitter, { type: 'credential-change', subject: ALICE, stream_id: pushStream.stream_id });
    await new Promise((wake) => setTimeout(wake, 600));
    expect(receiver.pushes.length).toBe(before);
    await until(() => receiver.pushes.length > before, 3_000);
    expect((await fetch(`${transmitter.url}/jwks.json`)).status).toBe(200);
    await call(transmitter, `/ssf/stream?stream_id=${pushStream.stream_id}`, { method: 'DELETE' });
  });
});

describe('hostile poll answers', () => {
  it('huge: answers the next poll with a 10 MiB JSON body, streamed, then answers normally', async () => {
    await control(transmitter, '/faults', { mode: 'huge' });
    const response = await poll(transmitter, stream, { returnImmediately: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBeNull();
    const text = await response.text();
    expect(text.length).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    expect(JSON.parse(text)).toMatchObject({ sets: {}, moreAvailable: false });
    expect(await json(await poll(transmitter, stream, { returnImmediately: true }))).toEqual({ sets: {}, moreAvailable: false });
  });

  it('many: answers the next poll with 10,000 real SETs whatever maxEvents asks, and records each one\'s ack or setErrs', async () => {
    await control(transmitter, '/faults', { mode: 'many', stream_id: stream.stream_id });
    const answer = await json(await poll(transmitter, stream, { maxEvents: 10, returnImmediately: true }));
    const jtis = Object.keys(answer.sets);
    expect(jtis).toHaveLength(10_000);
    expect(answer.moreAvailable).toBe(false);
    for (const jti of [jtis[0]!, jtis[4_999]!, jtis[9_999]!]) {
      const { payload } = await verifySet(transmitter, answer.sets[jti]);
      expect(payload.jti).toBe(jti);
    }
    // The fault is spent: what is left is offered as usual, maxEvents at a time.
    const setErrs = Object.fromEntries(jtis.slice(0, 100).map((jti) => [jti, { err: 'invalid_request', description: 'too many' }]));
    const next = await json(await poll(transmitter, stream, { maxEvents: 10, returnImmediately: true, ack: jtis.slice(100, 9_000), setErrs }));
    expect(Object.keys(next.sets)).toEqual(jtis.slice(9_000, 9_010));
    expect(next.moreAvailable).toBe(true);
    const flood = new Set(jtis);
    const records = (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`)).filter((r) => flood.has(r.jti));
    expect(records.filter((r) => r.state === 'refused')).toHaveLength(100);
    expect(records.filter((r) => r.state === 'refused')[0]).toMatchObject({ err: 'invalid_request', description: 'too many' });
    expect(records.filter((r) => r.state === 'acknowledged')).toHaveLength(8_900);
  });

  it('foreign-key: signs the next SETs with a key its JWKS does not list, or under its own kid, and says so in the log', async () => {
    await control(transmitter, '/faults', { mode: 'foreign-key', times: 1 });
    await control(transmitter, '/faults', { mode: 'foreign-key', times: 1, sameKid: true });
    const { issued } = await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const second = await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const third = await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const answer = await json(await poll(transmitter, stream, { returnImmediately: true }));
    await expect(verifySet(transmitter, answer.sets[issued[0]!.jti])).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    await expect(verifySet(transmitter, answer.sets[second.issued[0]!.jti])).rejects.toBeInstanceOf(joseErrors.JWSSignatureVerificationFailed);
    await verifySet(transmitter, answer.sets[third.issued[0]!.jti]);
    const records = await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`);
    expect(records.filter((r) => r.foreign_key).map((r) => r.jti)).toEqual([issued[0]!.jti, second.issued[0]!.jti]);
  });

  it('endless: says moreAvailable: true on every answer, even an empty one, until it ends', async () => {
    await control(transmitter, '/faults', { mode: 'endless', times: 3 });
    for (let i = 0; i < 3; i++) {
      expect(await json(await poll(transmitter, stream, { returnImmediately: true }))).toEqual({ sets: {}, moreAvailable: true });
    }
    expect(await json(await poll(transmitter, stream, { returnImmediately: true }))).toEqual({ sets: {}, moreAvailable: false });
  });

  it('refuses a fault it does not know, or out of bounds', async () => {
    for (const body of [{ mode: 'slow' }, { mode: 'huge', bytes: 0 }, { mode: 'many', count: 1_000_000 }, { mode: 'down', seconds: 1.5 }, { mode: 'endless', stream_id: 7 }]) {
      expect((await fetch(`${transmitter.url}/dev/faults`, { method: 'POST', body: JSON.stringify(body) })).status, JSON.stringify(body)).toBe(400);
    }
    expect((await control(transmitter, '/faults')).faults).toEqual([]);
    // Faults are bounded like everything a caller can add.
    for (let i = 0; i < 100; i++) await control(transmitter, '/faults', { mode: 'endless', stream_id: 'none-such' });
    expect((await fetch(`${transmitter.url}/dev/faults`, { method: 'POST', body: JSON.stringify({ mode: 'endless' }) })).status).toBe(400);
  });
});
