// Who may manage the dev SSF transmitter's streams, and what it refuses: static bearer tokens and
// its own OAuth 2.0 client credentials (RFC 6749 §4.4, RFC 8414 metadata) with ssf.read and
// ssf.manage checked per call (RFC 6750 §3.1 errors), one receiver never seeing another's
// streams, 409 for a second stream, and bad input of any shape refused with a 4xx that leaves
// nothing behind (property tests).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTransmitter, type RunningTransmitter } from '../../../dev/ssf-transmitter.mjs';
import { CAEP, OTHER_RECEIVER, POLL, RECEIVER, bearer, call, control, createStream, emit, json, poll } from './support';

let transmitter: RunningTransmitter;
let now = Date.now();
const READER = { id: 'reader', audience: 'https://reader.example/ssf', clientId: 'reader-client', clientSecret: 'reader-secret', scope: 'ssf.read' };

/** Pushes to generated endpoint URLs go nowhere but loopback: anything else fails as an unreachable receiver would. */
const loopbackOnly: typeof fetch = (url, init) => {
  const target = new URL(url instanceof Request ? url.url : String(url));
  return target.hostname === '127.0.0.1' ? fetch(url, init) : Promise.reject(new TypeError('this test reaches loopback only'));
};

beforeAll(async () => {
  transmitter = await startTransmitter({
    receivers: [RECEIVER, OTHER_RECEIVER, READER], now: () => now, tokenTtlSeconds: 60, longPollSeconds: 0, fetch: loopbackOnly,
    retry: { baseMs: 10, maxMs: 50, maxAttempts: 2 },
  });
});
afterAll(() => transmitter?.stop());

async function token(form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${transmitter.url}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString(),
  });
}
const basic = (id: string, secret: string) => ({ authorization: `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}` });

describe('authentication', () => {
  it('answers 401 with WWW-Authenticate without a token, with a wrong one, and with one in the query', async () => {
    for (const headers of [{ authorization: '' }, bearer('wrong-token'), { authorization: `Basic ${btoa('a:b')}` }, { authorization: `bearer ${RECEIVER.bearerToken} extra` }]) {
      const response = await call(transmitter, '/ssf/stream', { headers });
      expect(response.status, JSON.stringify(headers)).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="ssf"/);
      expect(await response.text()).not.toContain(RECEIVER.bearerToken);
    }
    const query = await fetch(`${transmitter.url}/ssf/stream?access_token=${encodeURIComponent(RECEIVER.bearerToken)}`);
    expect(query.status).toBe(401);
  });

  it('publishes RFC 8414 metadata naming its token endpoint, and issues tokens by client_secret_basic and client_secret_post', async () => {
    const metadata = await json(await fetch(`${transmitter.url}/.well-known/oauth-authorization-server`));
    expect(metadata).toMatchObject({
      issuer: transmitter.issuer, token_endpoint: `${transmitter.issuer}/token`, grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'], scopes_supported: ['ssf.read', 'ssf.manage'],
    });
    const byBasic = await token({ grant_type: 'client_credentials', scope: 'ssf.manage' }, basic(RECEIVER.clientId, RECEIVER.clientSecret));
    expect(byBasic.status).toBe(200);
    expect(byBasic.headers.get('cache-control')).toBe('no-store');
    const issued = await json(byBasic);
    expect(issued).toMatchObject({ token_type: 'Bearer', expires_in: 60, scope: 'ssf.manage' });
    const byPost = await json(await token({ grant_type: 'client_credentials', client_id: RECEIVER.clientId, client_secret: RECEIVER.clientSecret }));
    expect(byPost.scope).toBe('ssf.read ssf.manage');
    const created = await createStream(transmitter, { delivery: { method: POLL } }, bearer(issued.access_token));
    expect((await call(transmitter, `/ssf/stream?stream_id=${created.stream_id}`, { method: 'DELETE', headers: bearer(byPost.access_token) })).status).toBe(204);
  });

  it('refuses token requests as RFC 6749 §5.2 says: invalid_client, unsupported_grant_type, invalid_scope, invalid_request', async () => {
    const cases: [Response, number, string][] = [
      [await token({ grant_type: 'client_credentials' }, basic(RECEIVER.clientId, 'wrong')), 401, 'invalid_client'],
      [await token({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }), 401, 'invalid_client'],
      [await token({ grant_type: 'client_credentials' }), 401, 'invalid_client'],
      [await token({ grant_type: 'password' }, basic(RECEIVER.clientId, RECEIVER.clientSecret)), 400, 'unsupported_grant_type'],
      [await token({ grant_type: 'client_credentials', scope: 'ssf.manage' }, basic(READER.clientId, READER.clientSecret)), 400, 'invalid_scope'],
      [await token({ grant_type: 'client_credentials', scope: 'openid' }, basic(RECEIVER.clientId, RECEIVER.clientSecret)), 400, 'invalid_scope'],
      [await token({ grant_type: 'client_credentials', client_id: RECEIVER.clientId, client_secret: RECEIVER.clientSecret }, basic(RECEIVER.clientId, RECEIVER.clientSecret)), 400, 'invalid_request'],
      [await fetch(`${transmitter.url}/token`, { method: 'POST', headers: basic(RECEIVER.clientId, RECEIVER.clientSecret), body: '{"grant_type":"client_credentials"}' }), 400, 'invalid_request'],
    ];
    for (const [response, status, error] of cases) {
      expect(response.status).toBe(status);
      const body = await json(response);
      expect(body.error).toBe(error);
      expect(JSON.stringify(body)).not.toContain(RECEIVER.clientSecret);
    }
    expect(cases[0]![0].headers.get('www-authenticate')).toBe('Basic realm="ssf"');
  });

  it('checks the scope per call: ssf.read reads and polls, ssf.manage is needed to change anything (403 insufficient_scope)', async () => {
    const reader = (await json(await token({ grant_type: 'client_credentials' }, basic(READER.clientId, READER.clientSecret)))).access_token;
    const create = await call(transmitter, '/ssf/stream', { body: {}, headers: bearer(reader) });
    expect(create.status).toBe(403);
    expect(create.headers.get('www-authenticate')).toBe('Bearer realm="ssf", error="insufficient_scope", scope="ssf.manage"');
    expect(await json(await call(transmitter, '/ssf/stream', { headers: bearer(reader) }))).toEqual([]);
    for (const [path, body] of [['/ssf/status', { stream_id: 'x', status: 'paused' }], ['/ssf/verify', { stream_id: 'x' }], ['/ssf/subjects:add', { stream_id: 'x', subject: { format: 'opaque', id: 'a' } }]] as const) {
      expect((await call(transmitter, path, { body, headers: bearer(reader) })).status, path).toBe(403);
    }
    // The same receiver's read-only token may poll its streams.
    const readOnly = (await json(await token({ grant_type: 'client_credentials', scope: 'ssf.read' }, basic(RECEIVER.clientId, RECEIVER.clientSecret)))).access_token;
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    expect((await poll(transmitter, stream, { returnImmediately: true }, bearer(readOnly))).status).toBe(200);
    expect((await call(transmitter, `/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE', headers: bearer(readOnly) })).status).toBe(403);
    await call(transmitter, `/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE' });
  });

  it('stops taking an access token at its expiry (the transmitter\'s clock), at the second', async () => {
    const issued = await json(await token({ grant_type: 'client_credentials' }, basic(RECEIVER.clientId, RECEIVER.clientSecret)));
    now += 59_999;
    expect((await call(transmitter, '/ssf/stream', { headers: bearer(issued.access_token) })).status).toBe(200);
    now += 1;
    const expired = await call(transmitter, '/ssf/stream', { headers: bearer(issued.access_token) });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('streams per receiver', () => {
  it('answers 409 to a second create, and shows one receiver none of another\'s streams (404, empty list)', async () => {
    const mine = await createStream(transmitter, { delivery: { method: POLL } });
    const second = await call(transmitter, '/ssf/stream', { body: { delivery: { method: POLL } } });
    expect(second.status).toBe(409);
    expect((await json(second)).error).toBe('stream_exists');
    const other = bearer(OTHER_RECEIVER.bearerToken);
    expect(await json(await call(transmitter, '/ssf/stream', { headers: other }))).toEqual([]);
    for (const [path, method, body] of [
      [`/ssf/stream?stream_id=${mine.stream_id}`, 'GET', undefined],
      [`/ssf/stream?stream_id=${mine.stream_id}`, 'DELETE', undefined],
      ['/ssf/stream', 'PATCH', { stream_id: mine.stream_id, description: 'mine now' }],
      [`/ssf/status?stream_id=${mine.stream_id}`, 'GET', undefined],
      ['/ssf/verify', 'POST', { stream_id: mine.stream_id }],
      [`/ssf/poll/${mine.stream_id}`, 'POST', { returnImmediately: true }],
    ] as const) {
      expect((await call(transmitter, path, { method, body, headers: other })).status, `${method} ${path}`).toBe(404);
    }
    // The other receiver's own stream carries its own audience.
    const theirs = await createStream(transmitter, {}, other);
    expect(theirs.aud).toBe(OTHER_RECEIVER.audience);
    await call(transmitter, `/ssf/stream?stream_id=${theirs.stream_id}`, { method: 'DELETE', headers: other });
    await call(transmitter, `/ssf/stream?stream_id=${mine.stream_id}`, { method: 'DELETE' });
  });
});

describe('refusals', () => {
  it('refuses what SSF §8.1.1 does not allow: transmitter-supplied members on create, mismatched ones on update, bad delivery', async () => {
    const refused = async (method: string, body: unknown) => {
      const response = await call(transmitter, '/ssf/stream', { method, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      return (await json(response)).error_description as string;
    };
    for (const body of [
      { stream_id: 'mine' }, { iss: transmitter.issuer }, { aud: 'x' }, { events_delivered: [] },
      { delivery: { method: 'urn:example:smoke-signals' } },
      { delivery: { method: 'urn:ietf:rfc:8935' } },
      { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'ftp://receiver.example.com/events' } },
      { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://user:pass@receiver.example.com/events' } },
      { delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://r.example/e', authorization_header: 'Bearer a\r\nX-Injected: 1' } },
      { events_requested: 'all' }, { events_requested: [1] }, { description: 7 },
    ]) await refused('POST', body);
    expect(await json(await call(transmitter, '/ssf/stream'))).toEqual([]);

    const stream = await createStream(transmitter, { events_requested: [`${CAEP}session-revoked`] });
    expect(await refused('PATCH', { stream_id: stream.stream_id, events_delivered: [] })).toContain('events_delivered');
    expect(await refused('PUT', { stream_id: stream.stream_id, aud: 'someone-else' })).toContain('aud');
    // Matching transmitter-supplied members are allowed (§8.1.1.3).
    const patched = await call(transmitter, '/ssf/stream', { method: 'PATCH', body: { stream_id: stream.stream_id, iss: transmitter.issuer, events_delivered: stream.events_delivered, description: 'x'.repeat(5000) } });
    expect(patched.status).toBe(200);
    expect((await json(patched)).description).toHaveLength(1024);
    // PUT without events_requested or delivery: both as on create (every event, poll).
    const put = await json(await call(transmitter, '/ssf/stream', { method: 'PUT', body: { stream_id: stream.stream_id } }));
    expect(put).not.toHaveProperty('events_requested');
    expect(put).not.toHaveProperty('description');
    expect(put.events_delivered).toEqual(put.events_supported);
    expect(put.delivery.method).toBe(POLL);
    await call(transmitter, `/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE' });
  });

  it('refuses a body past its bound with 413 before reading it all, and unknown methods and paths', async () => {
    const response = await call(transmitter, '/ssf/stream', { body: JSON.stringify({ description: 'x'.repeat(70 * 1024) }) });
    expect(response.status).toBe(413);
    const method = await call(transmitter, '/ssf/stream', { method: 'OPTIONS' });
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('GET, POST, PATCH, PUT, DELETE');
    expect((await call(transmitter, '/ssf/streams')).status).toBe(404);
    expect((await fetch(`${transmitter.url}/dev/nothing`)).status).toBe(404);
  });

  it('refuses a verification too soon after the last when min_verification_interval is set (429 with Retry-After)', async () => {
    const strict = await startTransmitter({ receivers: [RECEIVER], minVerificationInterval: 30 });
    try {
      const stream = await createStream(strict, {});
      expect(stream.min_verification_interval).toBe(30);
      expect((await call(strict, '/ssf/verify', { body: { stream_id: stream.stream_id, state: 'a' } })).status).toBe(204);
      const again = await call(strict, '/ssf/verify', { body: { stream_id: stream.stream_id, state: 'b' } });
      expect(again.status).toBe(429);
      expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await control(strict, '/log')).records).toHaveLength(1);
    } finally {
      await strict.stop();
    }
  });

  it('answers any JSON body to create, update, status, subjects, verify, poll and the control API with a status below 500, and a refused one leaves nothing', async () => {
    const stream = await createStream(transmitter, { delivery: { method: POLL } });
    await emit(transmitter, { type: 'session-revoked', subject: { format: 'opaque', id: 'x' } });
    // What a refused request must not change: configurations, status, subjects, faults, and the SETs minted.
    // (Queue lengths and delivery states move on their own while pushes of an accepted change run.)
    const snapshot = async () => JSON.stringify([
      await json(await call(transmitter, '/ssf/stream')),
      (await control(transmitter, '/streams')).streams.map(({ counters: _c, queued: _q, held: _h, ...rest }: any) => rest),
      (await control(transmitter, '/faults')).faults,
      (await control(transmitter, '/log')).records.map((r: any) => r.jti),
    ]);
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({
        stream_id: fc.oneof(fc.constant(stream.stream_id), fc.jsonValue()),
        delivery: fc.oneof(fc.jsonValue(), fc.record({ method: fc.constantFrom('urn:ietf:rfc:8935', 'urn:ietf:rfc:8936', 'x'), endpoint_url: fc.oneof(fc.constantFrom('http://127.0.0.1:9/events', 'https://receiver.invalid/events'), fc.string()) }, { requiredKeys: [] })),
        events_requested: fc.oneof(fc.jsonValue(), fc.array(fc.string())),
        status: fc.oneof(fc.constantFrom('enabled', 'paused', 'disabled'), fc.jsonValue()),
        subject: fc.jsonValue(), maxEvents: fc.jsonValue(), ack: fc.jsonValue(), setErrs: fc.jsonValue(), type: fc.jsonValue(), mode: fc.jsonValue(),
      }, { requiredKeys: [] }),
    );
    const target = fc.constantFrom(
      ['POST', '/ssf/stream'], ['PATCH', '/ssf/stream'], ['PUT', '/ssf/stream'], ['POST', '/ssf/status'], ['POST', '/ssf/subjects:add'],
      ['POST', '/ssf/subjects:remove'], ['POST', '/ssf/verify'], ['POST', `/ssf/poll/${stream.stream_id}`], ['POST', '/dev/events'], ['POST', '/dev/faults'],
    );
    await fc.assert(fc.asyncProperty(target, body, async ([method, path], value) => {
      const before = await snapshot();
      const response = await call(transmitter, path, { method, body: JSON.stringify(value) });
      expect(response.status, `${method} ${path} ${JSON.stringify(value)}`).toBeLessThan(500);
      await response.arrayBuffer();
      if (response.status >= 400) expect(await snapshot(), `${method} ${path} ${JSON.stringify(value)}`).toBe(before);
      else {
        // An accepted change is undone so the next run starts from the same state.
        await fetch(`${transmitter.url}/dev/faults`, { method: 'DELETE' });
        if (path === '/ssf/stream' && method === 'POST') {
          const created = await json(await call(transmitter, '/ssf/stream'));
          for (const s of created) if (s.stream_id !== stream.stream_id) await call(transmitter, `/ssf/stream?stream_id=${s.stream_id}`, { method: 'DELETE' });
        }
      }
    }), { numRuns: 150 });
    await call(transmitter, `/ssf/stream?stream_id=${stream.stream_id}`, { method: 'DELETE' });
  });
});
