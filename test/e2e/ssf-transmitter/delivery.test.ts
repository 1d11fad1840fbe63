// The dev SSF transmitter's delivery as a receiver sees it: pushes retried with back-off on 5xx
// and network errors and given up after their attempts, a bounded queue, order kept; polls with
// maxEvents, moreAvailable, setErrs and redelivery; status changes that send stream-updated first,
// hold events while paused and drop them while disabled; and the events and subjects a stream
// asked for.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTransmitter, type RunningTransmitter } from '../../../dev/ssf-transmitter.mjs';
import {
  ALICE, CAEP, FAST_RETRY, POLL, RECEIVER, SSF, call, control, createStream, deliveryLog, emit, json, poll, pushTo, startReceiver,
  until, verifySet, type Receiver,
} from './support';

let transmitter: RunningTransmitter;
let receiver: Receiver;
const BOB = { format: 'email', email: 'bob@example.com' };

beforeAll(async () => {
  receiver = await startReceiver();
  transmitter = await startTransmitter({ receivers: [{ ...RECEIVER, maxStreams: 10 }], retry: FAST_RETRY, longPollSeconds: 1, maxQueue: 5 });
});
afterAll(async () => {
  await transmitter?.stop();
  await receiver?.stop();
});
afterEach(async () => {
  receiver.answer(() => ({ status: 202 }));
  for (const stream of await json(await call(transmitter, '/ssf/stream'))) {
    await call(transmitter, `/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE' });
  }
});

const typesOf = async (sets: string[]) => Promise.all(sets.map(async (set) => Object.keys((await verifySet(transmitter, set)).payload.events)[0]));

describe('push (RFC 8935)', () => {
  it('retries a SET the receiver answers 503, then 500, then 202 for, backing off, and records it acknowledged', async () => {
    receiver.answer((_push, index) => ({ status: [503, 500][index] ?? 202 }));
    const started = receiver.pushes.length;
    const stream = await createStream(transmitter, { delivery: pushTo(receiver) });
    const { issued } = await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const record = await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=acknowledged`))[0]);
    expect(record).toMatchObject({ jti: issued[0]!.jti, attempts: 3, status: 202 });
    const mine = receiver.pushes.slice(started);
    expect(mine).toHaveLength(3);
    expect(new Set(mine.map((push) => push.body)).size).toBe(1);
  });

  it('gives a SET up as failed after its attempts when the receiver cannot be reached, and pushes the next one', async () => {
    const gone = await startReceiver();
    await gone.stop();
    const stream = await createStream(transmitter, { delivery: pushTo(gone) });
    const { issued } = await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const record = await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=failed`))[0]);
    expect(record).toMatchObject({ jti: issued[0]!.jti, attempts: FAST_RETRY.maxAttempts, reason: expect.stringMatching(/^the push failed to connect/) });
    // The receiver moves to a live endpoint (PATCH): the next SET goes there.
    await call(transmitter, '/ssf/stream', { method: 'PATCH', body: { stream_id: stream.stream_id, delivery: pushTo(receiver) } });
    const before = receiver.pushes.length;
    await emit(transmitter, { type: 'credential-change', subject: ALICE });
    await until(() => receiver.pushes.length > before);
  });

  it('keeps at most maxQueue SETs waiting, dropping the oldest, and delivers the rest in order', async () => {
    let open = false;
    receiver.answer(() => ({ status: open ? 202 : 503, headers: { 'retry-after': '1' } }));
    const stream = await createStream(transmitter, { delivery: pushTo(receiver) });
    const jtis: string[] = [];
    for (let i = 0; i < 8; i++) jtis.push((await emit(transmitter, { type: 'session-revoked', subject: { format: 'opaque', id: `user-${i}` } })).issued[0]!.jti);
    const dropped = (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=dropped`)).map((r) => r.jti);
    // Five fit; the three oldest made way (the first while it waited to be retried).
    expect(dropped).toEqual(jtis.slice(0, 3));
    open = true;
    const before = receiver.pushes.length;
    await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=acknowledged`)).length === 5, 8_000);
    const delivered = receiver.pushes.slice(before).filter((_push, index, all) => all.findIndex((p) => p.body === _push.body) === index);
    const order = await Promise.all(delivered.map(async (push) => (await verifySet(transmitter, push.body)).payload.jti));
    expect(order).toEqual(jtis.filter((jti) => !dropped.includes(jti)));
  });

  it('does not follow a redirect: a 307 refuses the SET', async () => {
    receiver.answer(() => ({ status: 307, headers: { location: 'http://127.0.0.1:1/elsewhere' } }));
    const stream = await createStream(transmitter, { delivery: pushTo(receiver) });
    await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const record = await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=refused`))[0]);
    expect(record).toMatchObject({ status: 307, attempts: 1 });
  });
});

describe('poll (RFC 8936)', () => {
  it('answers at most maxEvents, oldest first, with moreAvailable until the last, and acks remove them', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    const jtis: string[] = [];
    for (let i = 0; i < 5; i++) jtis.push((await emit(transmitter, { type: 'session-revoked', subject: { format: 'opaque', id: `u${i}` } })).issued[0]!.jti);
    const first = await json(await poll(transmitter, stream, { maxEvents: 2, returnImmediately: true }));
    expect(Object.keys(first.sets)).toEqual(jtis.slice(0, 2));
    expect(first.moreAvailable).toBe(true);
    const second = await json(await poll(transmitter, stream, { maxEvents: 2, returnImmediately: true, ack: Object.keys(first.sets) }));
    expect(Object.keys(second.sets)).toEqual(jtis.slice(2, 4));
    const third = await json(await poll(transmitter, stream, { maxEvents: 2, returnImmediately: true, ack: Object.keys(second.sets) }));
    expect(third).toEqual({ sets: { [jtis[4]!]: expect.any(String) }, moreAvailable: false });
    // Not acknowledged: offered again, and again.
    const fourth = await json(await poll(transmitter, stream, { returnImmediately: true }));
    expect(Object.keys(fourth.sets)).toEqual([jtis[4]]);
    const records = await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`);
    expect(records.map((r) => r.state)).toEqual(['acknowledged', 'acknowledged', 'acknowledged', 'acknowledged', 'delivered']);
    expect(records[4]!.attempts).toBe(2);
  });

  it('refuses a malformed poll with 400 and applies none of it (its acks neither)', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    const { issued } = await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const jti = issued[0]!.jti;
    for (const body of [
      { ack: [jti], maxEvents: -1 },
      { ack: [jti], returnImmediately: 'yes' },
      { ack: [jti], setErrs: { other: { description: 'no err' } } },
      { ack: [jti], setErrs: { [jti]: { err: 'invalid_key' } } },
      { ack: jti },
      '[1, 2]',
      'not json',
    ]) {
      const response = await poll(transmitter, stream, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    expect((await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`)).map((r) => r.state)).toEqual(['queued']);
  });

  it('refuses a poll of a push stream, and one of another receiver\'s stream as unknown', async () => {
    const pushStream = await createStream(transmitter, { delivery: pushTo(receiver) });
    const pollUrl = `${transmitter.issuer}/ssf/poll/${pushStream.stream_id}`;
    expect((await poll(transmitter, { delivery: { endpoint_url: pollUrl } }, { returnImmediately: true })).status).toBe(400);
    expect((await poll(transmitter, { delivery: { endpoint_url: `${transmitter.issuer}/ssf/poll/nope` } }, {})).status).toBe(404);
  });
});

describe('stream status (SSF §8.1.2, §8.1.5)', () => {
  it('sends stream-updated before pausing, holds events while paused, and releases them after the stream-updated that enables it', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    const status = (value: string, reason?: string) => call(transmitter, '/ssf/status', { method: 'POST', body: { stream_id: stream.stream_id, status: value, ...(reason ? { reason } : {}) } });
    expect(await json(await status('paused', 'maintenance'))).toEqual({ stream_id: stream.stream_id, status: 'paused', reason: 'maintenance' });
    await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    await call(transmitter, '/ssf/verify', { method: 'POST', body: { stream_id: stream.stream_id, state: 'while-paused' } });
    // Paused: only the stream-updated SET is offered.
    const paused = await json(await poll(transmitter, stream, { returnImmediately: true }));
    expect(await typesOf(Object.values(paused.sets))).toEqual([`${SSF}stream-updated`]);
    const [update] = await Promise.all(Object.values(paused.sets).map((set) => verifySet(transmitter, set as string)));
    expect(update!.payload.events).toEqual({ [`${SSF}stream-updated`]: { status: 'paused', reason: 'maintenance' } });
    expect((await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=held`))).toHaveLength(2);

    await status('enabled');
    const enabled = await json(await poll(transmitter, stream, { returnImmediately: true, ack: Object.keys(paused.sets) }));
    expect(await typesOf(Object.values(enabled.sets))).toEqual([`${SSF}stream-updated`, `${CAEP}session-revoked`, `${SSF}verification`]);
    expect((await json(await call(transmitter, `/ssf/status?stream_id=${stream.stream_id}`)))).toEqual({ stream_id: stream.stream_id, status: 'enabled' });
  });

  it('drops what waits when disabled, sends nothing but stream-updated while disabled, and may be enabled again', async () => {
    const stream = await createStream(transmitter, { delivery: pushTo(receiver) });
    // The first push is told to come back in a second; the stream is disabled before it does.
    const first = receiver.pushes.length;
    receiver.answer((_push, index) => (index === first ? { status: 503, headers: { 'retry-after': '1' } } : { status: 202 }));
    await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    await until(() => receiver.pushes.length > first);
    const before = receiver.pushes.length;
    await control(transmitter, '/status', { stream_id: stream.stream_id, status: 'disabled', reason: 'transmitter decided' });
    const skipped = await emit(transmitter, { type: 'credential-change', subject: ALICE });
    expect(skipped.skipped).toEqual([{ stream_id: stream.stream_id, reason: 'the stream is disabled' }]);
    await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=acknowledged`)).length === 1);
    const types = await typesOf(receiver.pushes.slice(before).map((push) => push.body));
    expect(types).toEqual([`${SSF}stream-updated`]);
    expect((await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=dropped`))[0]).toMatchObject({ reason: 'the stream was disabled' });
    await control(transmitter, '/status', { stream_id: stream.stream_id, status: 'enabled' });
    await emit(transmitter, { type: 'credential-change', subject: ALICE });
    await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}&state=acknowledged`)).length === 3);
  });

  it('refuses a status it does not know, and a stream_id that is not the receiver\'s', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    expect((await call(transmitter, '/ssf/status', { body: { stream_id: stream.stream_id, status: 'Enabled' } })).status).toBe(400);
    expect((await call(transmitter, '/ssf/status', { body: { stream_id: 'other', status: 'paused' } })).status).toBe(404);
    expect((await call(transmitter, '/ssf/status')).status).toBe(400);
  });
});

describe('what a stream gets (SSF §8.1.1 events_delivered, §8.1.3 subjects)', () => {
  it('sends only requested event types, and no events about a removed subject (default_subjects ALL)', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL }, events_requested: [`${CAEP}session-revoked`, 'urn:example:unknown'] });
    expect(stream.events_delivered).toEqual([`${CAEP}session-revoked`]);
    expect((await emit(transmitter, { type: 'credential-change', subject: ALICE })).skipped[0]!.reason).toBe('the stream did not request this event type');
    expect((await call(transmitter, '/ssf/subjects:remove', { body: { stream_id: stream.stream_id, subject: BOB } })).status).toBe(204);
    expect((await emit(transmitter, { type: 'session-revoked', subject: BOB })).skipped[0]!.reason).toBe('the subject is not in the stream');
    // SSF §8.1.3.1 matches simple subjects only when identical: a complex one holding BOB is another subject.
    const complexBob = { format: 'complex', user: BOB, tenant: { format: 'opaque', id: 't1' } };
    expect((await emit(transmitter, { type: 'session-revoked', subject: complexBob })).issued).toHaveLength(1);
    await call(transmitter, '/ssf/subjects:add', { body: { stream_id: stream.stream_id, subject: BOB } });
    expect((await emit(transmitter, { type: 'session-revoked', subject: BOB })).issued).toHaveLength(1);
  });

  it('with default_subjects NONE, sends events only about subjects added, matched as SSF §8.1.3.1 matches complex subjects', async () => {
    const none = await startTransmitter({ receivers: [RECEIVER], defaultSubjects: 'NONE' });
    try {
      expect((await json(await fetch(`${none.url}/.well-known/ssf-configuration`))).default_subjects).toBe('NONE');
      const stream = await createStream(none, {});
      const tenant = { format: 'opaque', id: 'example-a38h4792-uw2' };
      expect((await emit(none, { type: 'session-revoked', subject: ALICE })).skipped).toHaveLength(1);
      expect((await call(none, '/ssf/subjects:add', { body: { stream_id: stream.stream_id, subject: { format: 'complex', tenant } } })).status).toBe(200);
      // SSF §8.1.3.1's first example: a less restrictive added subject matches.
      expect((await emit(none, { type: 'session-revoked', subject: { format: 'complex', tenant, user: { format: 'email', email: 'jdoe@example.com' } } })).issued).toHaveLength(1);
      expect((await emit(none, { type: 'session-revoked', subject: { format: 'complex', tenant: { format: 'opaque', id: 'other' } } })).issued).toHaveLength(0);
    } finally {
      await none.stop();
    }
  });

  it('places the subject as the event\'s subject for older receivers when asked (placement: event)', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    await emit(transmitter, { type: 'account-disabled', subject: ALICE, placement: 'event' });
    const answer = await json(await poll(transmitter, stream, { returnImmediately: true }));
    const { payload } = await verifySet(transmitter, Object.values(answer.sets)[0] as string);
    expect(payload).not.toHaveProperty('sub_id');
    expect(payload.events).toEqual({ 'https://schemas.openid.net/secevent/risc/event-type/account-disabled': { subject: ALICE } });
  });
});

describe('signing', () => {
  it('signs with RS256 and a 2048-bit key when asked (what the CAEP interoperability profile requires), the JWKS saying so', async () => {
    const rsa = await startTransmitter({ receivers: [RECEIVER], alg: 'RS256' });
    try {
      const jwks = await json(await fetch(`${rsa.url}/jwks.json`));
      expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' })]);
      expect(Buffer.from(jwks.keys[0].n, 'base64url').length * 8).toBe(2048);
      expect(jwks.keys[0]).not.toHaveProperty('d');
      const stream = await createStream(rsa, {});
      await emit(rsa, { type: 'session-revoked', subject: ALICE });
      const answer = await json(await poll(rsa, stream, { returnImmediately: true }));
      const { protectedHeader, payload } = await verifySet(rsa, Object.values(answer.sets)[0] as string);
      expect(protectedHeader).toEqual({ alg: 'RS256', kid: jwks.keys[0].kid, typ: 'secevent+jwt' });
      expect(payload.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    } finally {
      await rsa.stop();
    }
  });

  it('keeps the old key published after a rotation: SETs signed before it still verify, new ones use the new kid', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    await emit(transmitter, { type: 'session-revoked', subject: ALICE });
    const before = Object.values((await json(await poll(transmitter, stream, { returnImmediately: true }))).sets)[0] as string;
    const { kid } = await control(transmitter, '/rotate', {});
    const jwks = await json(await fetch(`${transmitter.url}/jwks.json`));
    expect(jwks.keys.map((key: any) => key.kid)[0]).toBe(kid);
    expect(jwks.keys).toHaveLength(2);
    await verifySet(transmitter, before);
    await emit(transmitter, { type: 'credential-change', subject: ALICE });
    const sets = (await json(await poll(transmitter, stream, { returnImmediately: true }))).sets;
    const after = await Promise.all(Object.values(sets).map((set) => verifySet(transmitter, set as string)));
    expect(after.map((set) => set.protectedHeader.kid)).toContain(kid);
  });
});
