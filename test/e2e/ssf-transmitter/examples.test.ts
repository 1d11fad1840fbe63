// The dev SSF transmitter against the standards' own examples (examples.ts, as printed): SSF
// 1.0's requests sent as they are (its example bearer token is the test receiver's token; only
// the stream_id and the push endpoint_url are replaced by this run's), its responses and SETs
// compared member by member with what the transmitter answers; RFC 8936's poll requests sent as
// they are to SETs carrying the RFC's jti values; RFC 8935's transmission request compared with
// the transmitter's pushes, and its receiver answers played back to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTransmitter, type RunningTransmitter } from '../../../dev/ssf-transmitter.mjs';
import { examples, httpMessage, type HttpMessage } from './examples';
import {
  ALICE, CAEP, FAST_RETRY, POLL, RECEIVER, SSF, control, createStream, deliveryLog, emit, json, poll, pushTo, startReceiver,
  until, verifySet, type Receiver,
} from './support';

const EXAMPLE_STREAM_ID = 'f67e39a0a4d34d56b3aa1bc4cff0069f';
const EXAMPLE_ENDPOINT = 'https://receiver.example.com/events';

let transmitter: RunningTransmitter;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  transmitter = await startTransmitter({ receivers: [RECEIVER], retry: FAST_RETRY, longPollSeconds: 1 });
});
afterAll(async () => {
  await transmitter?.stop();
  await receiver?.stop();
});

/** Sends an example request as printed, with this run's stream id and push endpoint in place of the example's. */
async function send(example: string, streamId?: string): Promise<Response> {
  const text = example.replaceAll(EXAMPLE_STREAM_ID, streamId ?? EXAMPLE_STREAM_ID).replaceAll(EXAMPLE_ENDPOINT, receiver.url);
  const request = httpMessage(text);
  const headers = new Headers(request.headers);
  headers.delete('host');
  return fetch(`${transmitter.url}${request.target}`, {
    method: request.method, headers, ...(request.body === '' ? {} : { body: request.body }),
  });
}

/**
 * The answer has the example's status and Content-Type, and each member of the example's body,
 * with a value of the same JSON type; `equal` names the members whose values must be the same.
 * `aud` may be a string or an array (SSF §4.1.8): the examples use one, this transmitter the other.
 * `optional` names members SSF makes OPTIONAL that this transmitter leaves out.
 */
async function expectLike(response: Response, example: HttpMessage, equal: string[] = [], optional: string[] = []): Promise<any> {
  expect(response.status, await response.clone().text()).toBe(example.status);
  const contentType = example.headers.get('content-type');
  if (contentType !== null) expect(response.headers.get('content-type')).toBe(contentType);
  const cacheControl = example.headers.get('cache-control');
  if (cacheControl !== null) expect(response.headers.get('cache-control')).toBe(cacheControl);
  if (example.body === '') {
    expect(await response.text()).toBe('');
    return null;
  }
  const actual = await json(response);
  const expected = example.json();
  for (const name of optional) delete expected[name];
  expectSameShape(actual, expected, equal);
  return actual;
}

function expectSameShape(actual: any, expected: any, equal: string[] = []) {
  const kind = (value: unknown) => (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value);
  expect(kind(actual)).toBe(kind(expected));
  if (kind(expected) !== 'object') return;
  for (const [name, value] of Object.entries(expected)) {
    expect(actual, `member ${name}`).toHaveProperty([name]);
    if (name === 'aud') expect(['string', 'array']).toContain(kind(actual[name]));
    else expect(kind(actual[name]), `member ${name}`).toBe(kind(value));
    if (equal.includes(name)) expect(actual[name], `member ${name}`).toEqual(value);
  }
}

describe('SSF 1.0 §7: transmitter configuration metadata', () => {
  it('answers the §7.2.1 request with every member of the §7.2.3 response, its endpoints under its issuer', async () => {
    const metadata = await expectLike(await send(examples.ssfDiscoveryRequest), httpMessage(examples.ssfDiscoveryResponse),
      ['spec_version', 'delivery_methods_supported'], ['critical_subject_members']);
    const { critical_subject_members: _optional, ...required } = httpMessage(examples.ssfDiscoveryResponse).json();
    expect(Object.keys(metadata).sort()).toEqual(Object.keys(required).sort());
    expect(metadata.issuer).toBe(transmitter.issuer);
    for (const name of ['jwks_uri', 'configuration_endpoint', 'status_endpoint', 'add_subject_endpoint', 'remove_subject_endpoint', 'verification_endpoint']) {
      expect(metadata[name].startsWith(`${transmitter.issuer}/`), name).toBe(true);
    }
    // The CAEP interoperability profile's requirement, and the OAuth scheme of its own token endpoint.
    expect(metadata.authorization_schemes).toContainEqual({ spec_urn: 'urn:ietf:rfc:6749' });
    expect(['ALL', 'NONE']).toContain(metadata.default_subjects);
  });

  it('places the document as §7.2.1 (with path) and RFC 8414 §3 place it for an issuer with a path, and nowhere else', async () => {
    const pathed = await startTransmitter({ receivers: [RECEIVER], path: '/issuer1' });
    try {
      const example = httpMessage(examples.ssfDiscoveryRequestWithPath);
      expect(example.target).toBe('/.well-known/ssf-configuration/issuer1');
      const response = await fetch(`${pathed.url}${example.target}`);
      expect(response.status).toBe(200);
      const metadata = await json(response);
      expect(metadata.issuer).toBe(`${pathed.url}/issuer1`);
      expect(metadata.configuration_endpoint).toBe(`${pathed.url}/issuer1/ssf/stream`);
      // The "appended" placement some clients try is not where SSF puts it.
      expect((await fetch(`${pathed.url}/issuer1/.well-known/ssf-configuration`)).status).toBe(404);
      expect((await fetch(`${pathed.url}/.well-known/ssf-configuration`)).status).toBe(404);
      const authorizationServer = await json(await fetch(`${pathed.url}/.well-known/oauth-authorization-server/issuer1`));
      expect(authorizationServer).toMatchObject({ issuer: `${pathed.url}/issuer1`, token_endpoint: `${pathed.url}/issuer1/token` });
    } finally {
      await pathed.stop();
    }
  });
});

describe('SSF 1.0 §8.1.1: stream configuration', () => {
  it('walks the examples: create (§8.1.1.1), read (§8.1.1.2), update (§8.1.1.3), replace (§8.1.1.4), delete (§8.1.1.5)', async () => {
    const none = await send(examples.ssfReadStreamRequest.replace(`?stream_id=${EXAMPLE_STREAM_ID}`, ''));
    expect(await expectLike(none, httpMessage(examples.ssfReadNoStreamsResponse))).toEqual([]);

    const created = await expectLike(await send(examples.ssfCreateStreamRequest), httpMessage(examples.ssfCreateStreamResponse),
      ['aud', 'events_requested', 'description']);
    const request = httpMessage(examples.ssfCreateStreamRequest).json();
    expect(created.iss).toBe(transmitter.issuer);
    expect(created.delivery).toEqual({ ...request.delivery, endpoint_url: receiver.url });
    // The example's types are urn:example ones this transmitter does not support: none is delivered.
    expect(created.events_delivered).toEqual([]);
    expect(created.events_supported).toContain(`${CAEP}session-revoked`);
    const id = created.stream_id;
    expect(id).toMatch(/^[A-Za-z0-9\-._~]+$/);

    const read = await expectLike(await send(examples.ssfReadStreamRequest, id), httpMessage(examples.ssfReadStreamResponse),
      ['aud', 'events_requested', 'description']);
    expect(read).toEqual(created);
    const list = await json(await send(examples.ssfReadStreamRequest.replace(`?stream_id=${EXAMPLE_STREAM_ID}`, '')));
    expect(list).toEqual([created]);

    const updated = await expectLike(await send(examples.ssfUpdateStreamRequest, id), httpMessage(examples.ssfUpdateStreamResponse),
      ['aud', 'events_requested', 'description']);
    expect(updated.description).toBe('Stream for Receiver B using events type_2, type_3, type_4');
    expect(updated.delivery).toEqual(created.delivery);

    const replaced = await expectLike(await send(examples.ssfReplaceStreamRequest, id), httpMessage(examples.ssfReplaceStreamResponse),
      ['aud', 'events_requested', 'description']);
    expect(replaced.description).toBe('Stream for Receiver C');

    await expectLike(await send(examples.ssfDeleteStreamRequest, id), httpMessage(examples.ssfDeleteStreamResponse));
    expect((await send(examples.ssfReadStreamRequest, id)).status).toBe(404);
    expect((await send(examples.ssfDeleteStreamRequest, id)).status).toBe(404);
  });

  it('§8.1.1.1: a create without delivery is a poll stream whose endpoint_url the transmitter gives', async () => {
    const created = await createStream(transmitter, { events_requested: [`${CAEP}session-revoked`] });
    expect(created.delivery).toEqual({ method: POLL, endpoint_url: `${transmitter.issuer}/ssf/poll/${created.stream_id}` });
    expect(created.events_delivered).toEqual([`${CAEP}session-revoked`]);
    expect((await send(examples.ssfDeleteStreamRequest, created.stream_id)).status).toBe(204);
  });
});

describe('SSF 1.0 §8.1.2-5: status, subjects, verification, stream-updated', () => {
  let streamId: string;
  beforeAll(async () => {
    const created = await json(await send(examples.ssfCreateStreamRequest.replace(/"events_requested": \[[^\]]*\]/, `"events_requested": ["${CAEP}session-revoked"]`)));
    streamId = created.stream_id;
  });
  afterAll(async () => {
    await send(examples.ssfDeleteStreamRequest, streamId);
  });

  it('answers the status examples, and a change sends the §8.1.5 stream-updated SET', async () => {
    const status = await expectLike(await send(examples.ssfStatusRequest, streamId), httpMessage(examples.ssfStatusResponse), [], ['reason']);
    expect(status).toEqual({ stream_id: streamId, status: 'enabled' });

    const pushesBefore = receiver.pushes.length;
    await expectLike(await send(examples.ssfUpdateStatusWithReasonRequest, streamId), httpMessage(examples.ssfUpdateStatusResponse), ['status', 'reason']);
    await until(() => receiver.pushes.length > pushesBefore);
    const { payload } = await verifySet(transmitter, receiver.pushes[pushesBefore]!.body);
    const example = JSON.parse(examples.ssfStreamUpdatedSet);
    expectSameShape(payload, example);
    expect(payload.sub_id).toEqual({ ...example.sub_id, id: streamId });
    const type = `${SSF}stream-updated`;
    expect(Object.keys(payload.events)).toEqual(Object.keys(example.events));
    expect(Object.keys(payload.events[type]).sort()).toEqual(Object.keys(example.events[type]).sort());
    expect(payload.events[type]).toEqual({ status: 'paused', reason: 'Disabled by administrator action.' });

    // The request without a reason: the same status is no change, so no second SET.
    const same = await send(examples.ssfUpdateStatusRequest, streamId);
    expect(await json(same)).toEqual({ stream_id: streamId, status: 'paused' });
    const enabled = await send(examples.ssfUpdateStatusRequest.replace('"paused"', '"enabled"'), streamId);
    expect(await json(enabled)).toEqual({ stream_id: streamId, status: 'enabled' });
    await until(() => receiver.pushes.length === pushesBefore + 2);
    const second = await verifySet(transmitter, receiver.pushes[pushesBefore + 1]!.body);
    expect(second.payload.events).toEqual({ [`${SSF}stream-updated`]: { status: 'enabled' } });
  });

  it('answers the subject examples (§8.1.3.2-3): add 200 empty, remove 204', async () => {
    await expectLike(await send(examples.ssfAddSubjectRequest, streamId), httpMessage(examples.ssfAddSubjectResponse));
    await expectLike(await send(examples.ssfRemoveSubjectRequest, streamId), httpMessage(examples.ssfRemoveSubjectResponse));
    const [report] = (await control(transmitter, '/streams')).streams.filter((s: any) => s.stream_id === streamId);
    expect(report.subjects).toEqual([{ subject: { format: 'email', email: 'example.user@example.com' }, verified: true }]);
    expect(report.removed_subjects).toEqual([{ format: 'phone', phone_number: '+12065550123' }]);
  });

  it('answers the §8.1.4.2 verification request with 204 and pushes the verification SET carrying its state', async () => {
    const pushesBefore = receiver.pushes.length;
    await expectLike(await send(examples.ssfVerificationRequest, streamId), httpMessage(examples.ssfVerificationResponse));
    await until(() => receiver.pushes.length > pushesBefore);
    const push = receiver.pushes[pushesBefore]!;
    const { payload, protectedHeader } = await verifySet(transmitter, push.body);
    expect(protectedHeader).toMatchObject({ typ: 'secevent+jwt', alg: 'ES256' });
    const example = JSON.parse(examples.ssfVerificationSet);
    expectSameShape(payload, example, ['events']);
    expect(payload.sub_id).toEqual({ ...example.sub_id, id: streamId });
    expect(payload).not.toHaveProperty('sub');
    expect(payload).not.toHaveProperty('exp');
  });

  it('sends §5\'s complex-subject session-revoked example as that SET (same subject, same event claims)', async () => {
    const example = JSON.parse(examples.ssfComplexSubjectSet);
    const type = `${CAEP}session-revoked`;
    const pushesBefore = receiver.pushes.length;
    await emit(transmitter, { type: 'session-revoked', subject: example.sub_id, event: example.events[type], txn: example.txn });
    await until(() => receiver.pushes.length > pushesBefore);
    const { payload } = await verifySet(transmitter, receiver.pushes[pushesBefore]!.body);
    expectSameShape(payload, example, ['sub_id', 'events', 'txn']);
  });
});

describe('RFC 8935: push delivery', () => {
  it('pushes as §2.1\'s Figure 1 transmits: POST, Content-Type application/secevent+jwt, Accept application/json, the SET as body', async () => {
    const figure = httpMessage(examples.rfc8935Figure1);
    const stream = await createStream(transmitter, { delivery: pushTo(receiver, 'Bearer push-secret') });
    const pushesBefore = receiver.pushes.length;
    await emit(transmitter, { type: 'account-disabled', subject: ALICE, stream_id: stream.stream_id, event: { reason: 'hijacking' } });
    await until(() => receiver.pushes.length > pushesBefore);
    const push = receiver.pushes[pushesBefore]!;
    expect(push.method).toBe(figure.method);
    expect(push.headers['content-type']).toBe(figure.headers.get('content-type'));
    expect(push.headers.accept).toBe(figure.headers.get('accept'));
    expect(push.headers['accept-language']).toBeTruthy();
    expect(push.headers.authorization).toBe('Bearer push-secret');
    // The figure's body is a compact JWS (three base64url parts); so is every push.
    expect(figure.body).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(push.body).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload } = await verifySet(transmitter, push.body);
    expect(payload.events).toEqual({ [`${'https://schemas.openid.net/secevent/risc/event-type/'}account-disabled`]: { reason: 'hijacking' } });
    expect(payload.sub_id).toEqual(ALICE);
    expect(payload.aud).toEqual(RECEIVER.audience);
    expect((await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`)).map((r) => [r.state, r.status])).toEqual([['acknowledged', 202]]);
    await fetch(`${transmitter.url}/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${RECEIVER.bearerToken}` } });
  });

  it.each([
    ['Figure 2 (202 Accepted)', examples.rfc8935Figure2, 'acknowledged'],
    ['Figure 3 (invalid_key)', examples.rfc8935Figure3, 'refused'],
    ['Figure 4 (authentication_failed)', examples.rfc8935Figure4, 'refused'],
    ['Figure 5 (invalid_issuer)', examples.rfc8935Figure5, 'refused'],
  ])('takes the receiver\'s §2.2-2.3 answer %s once, with its err and description, and never sends that SET again', async (_name, text, state) => {
    const answer = httpMessage(text);
    const own = await startReceiver();
    own.answer(() => ({ status: answer.status!, headers: Object.fromEntries(answer.headers), body: answer.body }));
    const stream = await createStream(transmitter, { delivery: pushTo(own) });
    try {
      const { issued } = await emit(transmitter, { type: 'credential-change', subject: ALICE, stream_id: stream.stream_id });
      const record = await until(async () => (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`)).find((r) => r.jti === issued[0]!.jti && r.state !== 'queued'));
      expect(record.state).toBe(state);
      if (state === 'refused') {
        expect(record).toMatchObject({ status: 400, err: answer.json().err, description: answer.json().description, language: 'en-US' });
      }
      await new Promise((wake) => setTimeout(wake, 3 * FAST_RETRY.maxMs));
      expect(own.pushes).toHaveLength(1);
    } finally {
      await fetch(`${transmitter.url}/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${RECEIVER.bearerToken}` } });
      await own.stop();
    }
  });
});

describe('RFC 8936: poll delivery, with SETs carrying the RFC\'s jti values', () => {
  const [first, second] = ['4d3559ec67504aaba65d40b0363faad8', '3d0c3cf797584bd193bd0fb1bd4e7d30'];
  let stream: Record<string, any>;
  /** Sends an RFC 8936 figure's poll request as printed to the stream's endpoint_url. */
  const pollAsPrinted = (figure: string) => {
    const request = httpMessage(figure);
    const headers = Object.fromEntries(request.headers);
    delete headers.host;
    expect(request.method).toBe('POST');
    return poll(transmitter, stream, request.body, headers);
  };

  beforeAll(async () => {
    stream = await createStream(transmitter, { delivery: { method: POLL } });
  });

  it('answers Figure 1 with both SETs in Figure 6\'s shape, each verifying against the JWKS', async () => {
    for (const jti of [first, second]) await emit(transmitter, { type: 'session-revoked', subject: ALICE, stream_id: stream.stream_id, jti });
    const response = await pollAsPrinted(examples.rfc8936Figure1);
    const answer = await expectLike(response, httpMessage(examples.rfc8936Figure6));
    expect(Object.keys(answer.sets).sort()).toEqual(Object.keys(httpMessage(examples.rfc8936Figure6).json().sets).sort());
    for (const [jti, set] of Object.entries(answer.sets)) {
      const { payload } = await verifySet(transmitter, set as string);
      expect(payload.jti).toBe(jti);
    }
    expect(answer.moreAvailable).toBe(false);
  });

  it('takes Figure 5\'s ack and setErrs: one acknowledged, one refused with its err, description and Content-Language', async () => {
    const answer = await json(await pollAsPrinted(examples.rfc8936Figure5));
    expect(answer).toEqual({ sets: {}, moreAvailable: false });
    const records = await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`);
    expect(records.find((r) => r.jti === second)).toMatchObject({ state: 'acknowledged' });
    expect(records.find((r) => r.jti === first)).toMatchObject({
      state: 'refused', err: 'authentication_failed', description: 'The SET could not be authenticated', language: 'en-US',
    });
  });

  it('answers Figure 7 when nothing is left, and Figure 2\'s default poll waits (long poll) until an event comes', async () => {
    await expectLike(await poll(transmitter, stream, { returnImmediately: true }), httpMessage(examples.rfc8936Figure7));
    const started = Date.now();
    const waiting = pollAsPrinted(examples.rfc8936Figure2);
    await new Promise((wake) => setTimeout(wake, 200));
    await emit(transmitter, { type: 'credential-change', subject: ALICE, stream_id: stream.stream_id });
    const answer = await json(await waiting);
    expect(Object.keys(answer.sets)).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    // Nothing acknowledged it: the next poll offers it again (redelivery).
    const again = await json(await poll(transmitter, stream, { returnImmediately: true }));
    expect(Object.keys(again.sets)).toEqual(Object.keys(answer.sets));
  });

  it('takes Figure 3 (acknowledge-only, maxEvents 0) and Figure 4 (ack with a long poll) with the RFC\'s jti values', async () => {
    for (const jti of [first, second]) await emit(transmitter, { type: 'session-revoked', subject: ALICE, stream_id: stream.stream_id, jti: `${jti}-2` });
    const log = await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`);
    const pendingOther = log.filter((r) => r.state === 'delivered').map((r) => r.jti);
    // Figure 3 names jti values this stream no longer holds (settled above): none are returned, nothing changes.
    const ackOnly = await json(await pollAsPrinted(examples.rfc8936Figure3));
    expect(ackOnly.sets).toEqual({});
    expect(ackOnly.moreAvailable).toBe(true);
    const figure4 = httpMessage(examples.rfc8936Figure4).json();
    const acked = await json(await poll(transmitter, stream, { ...figure4, ack: [...pendingOther, `${first}-2`, `${second}-2`] }));
    // All acknowledged; the long poll (1 s here) ends with nothing.
    expect(acked).toEqual({ sets: {}, moreAvailable: false });
    const states = (await deliveryLog(transmitter, `?stream_id=${stream.stream_id}`)).map((r) => r.state);
    expect(states.filter((s) => s === 'delivered' || s === 'queued')).toEqual([]);
    const [report] = (await control(transmitter, '/streams')).streams.filter((s: any) => s.stream_id === stream.stream_id);
    expect(report.counters.unknownAcks).toBe(2);
  });
});
