// The streams admin API (SSF 1.0 §8) against the local stack's real transmitter (dev/ssf/),
// through the whole Worker: create (push, with the authorization_header the edge then requires),
// a second create, a transmitter that refuses, GET (the transmitter's configuration and status
// now, the last event, verification, stream-updated), verify, delete, the tenant's deletion, bearer
// and client-credentials management, and no secret in any answer or log line.
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { base64url } from 'jose';
import { createKeyring } from '../../src/secrets/keyring';
import { afterEach, describe, expect, it } from 'vitest';
import { ssfStreamStub, type SsfStream } from '../../src/events/ssf-stream';
import { ADMIN, gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';
import type { TestIssuer } from '../support/issuer';
import { BEARER, CLIENT, startTestTransmitter, wireStream, type TestTransmitter } from '../support/ssf';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';

let edge: TestEdge;
let issuer: TestIssuer;
let id: string;
let host: string;
let transmitter: TestTransmitter;
const audience = () => `https://${host}/ssf`;

gatewayTest('st', { env: { LOG_SAMPLE_RATE: '1' }, issuer: { algs: ['RS256'] } }, async (made) => {
  ({ edge, issuer, id, host } = made);
  transmitter = await startTestTransmitter({ audience: audience(), push: (request) => edge.fetch(request), now: () => edge.now, path: '/ssf-tx' });
});
afterEach(() => transmitter?.close());

async function put(management: Record<string, unknown> = { bearerToken: BEARER }, extra: Record<string, unknown> = {}) {
  await edge.putTenant(tenantConfig({
    id, hosts: [host, `*.${host}`], issuer, revocation: { maxStalenessSeconds: 0 },
    events: { ssf: [{ issuer: transmitter.issuer, audience: audience(), management, ...extra }] },
  }));
  await wireStream(id, transmitter, () => edge.now);
}

const admin = (method: string, path: string, body?: unknown) => edge.fetch(new Request(`http://admin.localhost/tenants/${id}${path}`, {
  method, headers: ADMIN, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
}));
const create = () => admin('POST', '/streams', { issuer: transmitter.issuer });
const list = async () => (await (await admin('GET', '/streams')).json() as { streams: Record<string, any>[] }).streams;
const seconds = () => Math.floor(edge.now / 1000);
const access = (claims: Record<string, unknown>) => issuer.sign({ aud: `https://${host}`, iat: seconds() - 10, ...claims }, { now: edge.now });
const status = async (token: string) => (await edge.request(`https://${host}/orders`, { token })).status;
const user = (sub: string) => ({ format: 'iss_sub', iss: issuer.issuer, sub });

/** The secret the edge gave the transmitter in its create request. */
const pushSecret = () => transmitter.requests.find((r) => r.path === '/ssf/stream' && r.method === 'POST')?.body.delivery.authorization_header as string;

describe('POST /tenants/:id/streams', () => {
  it('creates a push stream at the configuration_endpoint with the events the edge acts on, 201 with the secret redacted', async () => {
    await put();
    const response = await create();
    expect(response.status, await response.clone().text()).toBe(201);
    const configuration = await response.json() as Record<string, any>;
    expect(configuration).toMatchObject({
      stream_id: expect.any(String), iss: transmitter.issuer, aud: audience(),
      delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `https://${host}/_edge/ssf`, authorization_header: { set: true } },
    });
    const sent = transmitter.requests.find((r) => r.path === '/ssf/stream')!;
    expect(sent.authorization).toBe(`Bearer ${BEARER}`);
    expect(sent.body.events_requested).toEqual([
      `${CAEP}session-revoked`, `${CAEP}credential-change`, ...['account-disabled', 'account-purged', 'sessions-revoked', 'tokens-revoked',
        'account-credential-change-required'].map((name) => `https://schemas.openid.net/secevent/risc/event-type/${name}`),
    ]);
    expect(pushSecret()).toMatch(/^Bearer [A-Za-z0-9_-]{43}$/);
    // The transmitter's own view: the stream, pushing to the tenant's first exact host.
    const { streams } = await transmitter.control('/streams');
    expect(streams).toMatchObject([{ stream_id: configuration.stream_id, delivery: { endpoint_url: `https://${host}/_edge/ssf` } }]);
    expect(edge.logs.some((line) => line.includes('"action":"stream.create"'))).toBe(true);
  });

  it('refuses a second create (409 stream_exists), whatever the transmitter would allow', async () => {
    await put();
    expect((await create()).status).toBe(201);
    const second = await create();
    expect([second.status, (await second.json() as { error: string }).error]).toEqual([409, 'stream_exists']);
    expect(transmitter.calls('/ssf/stream')).toBe(1);
  });

  it('passes on a transmitter\'s refusal as 502 stream_error with its status and error, and keeps nothing', async () => {
    await put({ bearerToken: 'not-the-transmitters-token' });
    const refused = await create();
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({
      error: 'stream_error', transmitter: { status: 401, error: 'invalid_token' },
    });
    expect((await list())).toEqual([{ issuer: transmitter.issuer, streamId: null, delivery: 'push' }]);
    // The right token: the create goes through (nothing was kept to refuse it as a second one).
    await put({ bearerToken: BEARER });
    expect((await create()).status).toBe(201);
  });

  it('refuses what it cannot do: no such transmitter, no management, bad bodies, an unknown tenant', async () => {
    await put(null as unknown as Record<string, unknown>);
    const cases: [Response, number, string][] = [
      [await create(), 400, 'invalid_request'],
      [await admin('POST', '/streams', { issuer: 'https://elsewhere.example' }), 400, 'invalid_request'],
      [await admin('POST', '/streams', { issuer: transmitter.issuer, extra: 1 }), 400, 'invalid_request'],
      [await admin('POST', '/streams', [transmitter.issuer]), 400, 'invalid_request'],
      [await edge.fetch(new Request('http://admin.localhost/tenants/nobody-here/streams', { method: 'POST', headers: ADMIN, body: '{"issuer":"x"}' })),
        404, 'unknown_tenant'],
      [await admin('PUT', '/streams', {}), 405, 'method_not_allowed'],
    ];
    for (const [response, code, error] of cases) expect([response.status, (await response.json() as { error: string }).error]).toEqual([code, error]);
    expect(transmitter.calls('/ssf/stream')).toBe(0);
  });

  it('needs an exact host for a push stream', async () => {
    await edge.putTenant(tenantConfig({ id, hosts: [`*.${host}`], issuer,
      events: { ssf: [{ issuer: transmitter.issuer, audience: audience(), management: { bearerToken: BEARER } }] } }));
    await wireStream(id, transmitter, () => edge.now);
    const refused = await create();
    expect([refused.status, (await refused.json() as { error_description: string }).error_description]).toEqual([400, expect.stringMatching(/exact host/)]);
  });
});

describe('pushes to a stream the edge created', () => {
  it('are applied with the stream\'s authorization_header; without it or with another, 401 authentication_failed and nothing changes', async () => {
    await put();
    expect((await create()).status).toBe(201);
    const alice = await access({ sub: 'alice' });
    const bob = await access({ sub: 'bob' });
    // A SET the transmitter signed, pushed by someone who does not hold the secret.
    const emitted = await transmitter.control('/events', { type: 'credential-change', subject: user('bob') });
    expect(emitted.issued).toHaveLength(1);
    expect(await status(bob)).toBe(401);
    const log = await transmitter.control('/log');
    expect(log.records.map((r: { state: string }) => r.state)).toEqual(['acknowledged']);

    const set = await signedSet(user('alice'));
    // Another scheme's spelling, a case change, one character short (trailing spaces are not the header's: HTTP drops them).
    for (const authorization of [null, 'Bearer wrong', pushSecret().toLowerCase(), pushSecret().slice(0, -1)]) {
      const refused = await edge.fetch(new Request(`https://${host}/_edge/ssf`, {
        method: 'POST', body: set, headers: { 'content-type': 'application/secevent+jwt', ...(authorization === null ? {} : { authorization }) },
      }));
      expect([refused.status, await refused.json()]).toEqual([401, { err: 'authentication_failed', description: expect.any(String) }]);
    }
    expect(await status(alice)).toBe(200);
    expect(edge.logs.filter((line) => line.includes('"revocation_event_refused"') && line.includes('"status":401'))).toHaveLength(4);
    const accepted = await edge.fetch(new Request(`https://${host}/_edge/ssf`, {
      method: 'POST', body: set, headers: { 'content-type': 'application/secevent+jwt', authorization: pushSecret() },
    }));
    expect(accepted.status).toBe(202);
    expect(await status(alice)).toBe(401);
  });

  it('a verification asked for with a random state shows in GET when its SET arrives', async () => {
    await put();
    expect((await create()).status).toBe(201);
    const before = await list();
    expect(before[0]).toMatchObject({ lastVerification: null, lastEvent: null });
    const asked = await admin('POST', '/streams/verify', { issuer: transmitter.issuer });
    expect(asked.status, await asked.clone().text()).toBe(202);
    expect(await asked.json()).toEqual({ requestedAt: seconds() });
    const state = transmitter.requests.find((r) => r.path === '/ssf/verify')!.body.state as string;
    expect(state).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await transmitter.settle();
    const [stream] = await list();
    expect(stream).toMatchObject({ lastVerification: { requestedAt: seconds(), receivedAt: seconds() }, lastEvent: { at: seconds() } });
    // A second request gets a state of its own.
    await admin('POST', '/streams/verify', { issuer: transmitter.issuer });
    expect(transmitter.requests.filter((r) => r.path === '/ssf/verify')[1]!.body.state).not.toBe(state);
  });

  it('stream-updated records the new status (SSF 8.1.5), and GET shows the transmitter\'s status now', async () => {
    await put();
    const { stream_id: streamId } = await (await create()).json() as { stream_id: string };
    await transmitter.control('/status', { stream_id: streamId, status: 'paused', reason: 'maintenance' });
    const [paused] = await list();
    expect(paused).toMatchObject({ statusUpdate: { status: 'paused', reason: 'maintenance', at: seconds() }, status: { status: 'paused' } });
    await transmitter.control('/status', { stream_id: streamId, status: 'enabled' });
    expect((await list())[0]).toMatchObject({ statusUpdate: { status: 'enabled', reason: null }, status: { status: 'enabled' } });
  });
});

describe('GET and DELETE /tenants/:id/streams', () => {
  it('lists the stream with its configuration (secret redacted) and status as the transmitter answers them now', async () => {
    await put();
    const { stream_id: streamId } = await (await create()).json() as { stream_id: string };
    const [stream] = await list();
    expect(stream).toEqual({
      issuer: transmitter.issuer, streamId, delivery: 'push', endpoint: `https://${host}/_edge/ssf`, createdAt: seconds(),
      configuration: expect.objectContaining({ stream_id: streamId, delivery: expect.objectContaining({ authorization_header: { set: true } }) }),
      status: { stream_id: streamId, status: 'enabled' }, lastEvent: null, lastVerification: null, statusUpdate: null,
    });
    expect(transmitter.calls('/ssf/status')).toBe(1);
  });

  it('shows what it could not ask the transmitter (no answer): the rest of the view stays', async () => {
    await put();
    const { stream_id: streamId } = await (await create()).json() as { stream_id: string };
    await wireStream(id, transmitter, () => edge.now, async () => { throw new Error('connection refused'); });
    // The metadata the object holds is kept 10 minutes: past it, the transmitter is asked again.
    edge.advance(11 * 60_000);
    const [stream] = await list();
    expect(stream).toMatchObject({
      streamId, configuration: null, status: null, transmitterError: { status: null, note: 'discovery: network error' }, lastEvent: null,
    });
  });

  it('deletes the stream at the transmitter and here (204); then pushes need no header, and a second DELETE is 404 unknown_stream', async () => {
    await put();
    expect((await create()).status).toBe(201);
    const deleted = await admin('DELETE', `/streams?issuer=${encodeURIComponent(transmitter.issuer)}`);
    expect(deleted.status).toBe(204);
    expect((await transmitter.control('/streams')).streams).toEqual([]);
    expect(await list()).toEqual([{ issuer: transmitter.issuer, streamId: null, delivery: 'push' }]);
    const again = await admin('DELETE', `/streams?issuer=${encodeURIComponent(transmitter.issuer)}`);
    expect([again.status, (await again.json() as { error: string }).error]).toEqual([404, 'unknown_stream']);
    expect((await admin('DELETE', '/streams')).status).toBe(400);
    const set = await signedSet(user('carol'));
    expect((await edge.fetch(new Request(`https://${host}/_edge/ssf`, { method: 'POST', body: set, headers: { 'content-type': 'application/secevent+jwt' } }))).status).toBe(202);
  });

  it('leaves no storage behind where it keeps no stream: a list before any create, a DELETE naming a transmitter the tenant never had, a deleted stream', async () => {
    await put();
    const tables = (stub: DurableObjectStub<SsfStream>) => runInDurableObject(stub, (_: SsfStream, state) => state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'").toArray());
    const stub = await wireStream(id, transmitter, () => edge.now);
    expect(await list()).toEqual([{ issuer: transmitter.issuer, streamId: null, delivery: 'push' }]);
    expect(await tables(stub)).toEqual([]);
    for (const stranger of ['https://never.example/', 'x', transmitter.issuer.toUpperCase()]) {
      const refused = await admin('DELETE', `/streams?issuer=${encodeURIComponent(stranger)}`);
      expect([refused.status, (await refused.json() as { error: string }).error]).toEqual([404, 'unknown_stream']);
      expect(await tables(ssfStreamStub(env.SSF_STREAMS, id, stranger)), stranger).toEqual([]);
    }
    expect((await create()).status).toBe(201);
    expect((await tables(stub)).length).toBeGreaterThan(0);
    expect((await admin('DELETE', `/streams?issuer=${encodeURIComponent(transmitter.issuer)}`)).status).toBe(204);
    expect(await tables(stub)).toEqual([]);
    expect(await runInDurableObject(stub, (_: SsfStream, state) => state.storage.getAlarm())).toBeNull();
    // And it keeps a stream again when asked.
    expect((await create()).status).toBe(201);
    expect((await list())[0]).toMatchObject({ issuer: transmitter.issuer, streamId: expect.any(String) });
  });

  it('deleting the tenant deletes its streams at their transmitters, logged', async () => {
    await put();
    expect((await create()).status).toBe(201);
    expect((await edge.fetch(new Request(`http://admin.localhost/tenants/${id}`, { method: 'DELETE', headers: ADMIN }))).status).toBe(204);
    expect((await transmitter.control('/streams')).streams).toEqual([]);
    expect(edge.logs.find((line) => line.includes('"ssf_stream_deleted"'))).toMatch(/"atTransmitter":"deleted"/);
    const stub = await wireStream(id, transmitter, () => edge.now);
    expect(await runInDurableObject(stub, (_: SsfStream, state) =>
      state.storage.sql.exec("SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN ('stream', 'tokens')").one().n)).toBe(0);
  });
});

describe('management authentication', () => {
  it('OAuth client credentials: the token endpoint from the transmitter\'s RFC 8414 document, one token until shortly before it expires', async () => {
    transmitter = await startTestTransmitter({ audience: audience(), push: (request) => edge.fetch(request), now: () => edge.now, tokenTtlSeconds: 300 });
    await put({ ...CLIENT, scope: 'ssf.manage ssf.read' });
    expect((await create()).status).toBe(201);
    await list();
    await admin('POST', '/streams/verify', { issuer: transmitter.issuer });
    expect(transmitter.calls('/token')).toBe(1);
    expect(transmitter.calls('/.well-known/oauth-authorization-server')).toBe(1);
    const tokenRequest = transmitter.requests.find((r) => r.path === '/token')!;
    expect(tokenRequest.authorization).toBe(`Basic ${btoa(`${CLIENT.clientId}:${CLIENT.clientSecret}`)}`);
    expect(tokenRequest.body).toBe('grant_type=client_credentials&scope=ssf.manage+ssf.read');
    // Used until 60 s before expires_in runs out.
    edge.advance(239_000);
    await list();
    expect(transmitter.calls('/token')).toBe(1);
    edge.advance(2_000);
    await list();
    expect(transmitter.calls('/token')).toBe(2);
    // At rest it is sealed: the object's storage never holds the token.
    const token = transmitter.requests.at(-1)!.authorization!.slice('Bearer '.length);
    const stub = await wireStream(id, transmitter, () => edge.now);
    const stored = await runInDurableObject(stub, (_: SsfStream, state) => JSON.stringify(state.storage.sql.exec('SELECT * FROM tokens').toArray()));
    expect(stored).toMatch(/"sealed":"v1\./);
    expect(stored).not.toContain(token);
  });

  it('a configured tokenEndpoint is used as it is, without discovery', async () => {
    transmitter = await startTestTransmitter({ audience: audience(), push: (request) => edge.fetch(request), now: () => edge.now, tokenTtlSeconds: 3600 });
    await put({ ...CLIENT, tokenEndpoint: `${new URL(transmitter.issuer).origin}/token` });
    expect((await create()).status).toBe(201);
    expect(transmitter.calls('/.well-known/oauth-authorization-server')).toBe(0);
  });
});

describe('secrets', () => {
  it('a SECRETS_KEY rotation: a list reseals the push secret with the new key, and pushes go on once the old key is gone', async () => {
    await put();
    expect((await create()).status).toBe(201);
    const stub = await wireStream(id, transmitter, () => edge.now);
    const sealedWith = () => runInDurableObject(stub, (_: SsfStream, state) =>
      (state.storage.sql.exec('SELECT push_secret FROM stream').one().push_secret as string).split('.')[1]);
    const before = await sealedWith();
    const current = env.SECRETS_KEY!;
    const next = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
    await runInDurableObject(stub, (instance: SsfStream) => { instance.keyring = createKeyring({ SECRETS_KEY: next, SECRETS_KEY_PREVIOUS: current }); });
    expect((await list())[0]).toMatchObject({ streamId: expect.any(String), status: { status: 'enabled' } });
    const after = await sealedWith();
    expect(after).not.toBe(before);
    // The old key deleted (and the object's memory gone): the push secret still opens.
    await evictDurableObject(stub);
    await wireStream(id, transmitter, () => edge.now);
    await runInDurableObject(stub, (instance: SsfStream) => { instance.keyring = createKeyring({ SECRETS_KEY: next }); });
    const erin = await access({ sub: 'erin' });
    await transmitter.control('/events', { type: 'credential-change', subject: user('erin') });
    expect(await status(erin)).toBe(401);
    expect(await transmitter.control('/log')).toMatchObject({ records: [{ state: 'acknowledged' }] });
  });


  it('no answer and no log line holds the push secret or the management token', async () => {
    await put();
    const answers = [await (await create()).text(), await (await admin('GET', '/streams')).text(),
      await (await admin('POST', '/streams/verify', { issuer: transmitter.issuer })).text()];
    await transmitter.control('/events', { type: 'session-revoked', subject: user('dana') });
    const secret = pushSecret().slice('Bearer '.length);
    for (const text of [...answers, edge.logs.join('\n')]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(BEARER);
    }
    const stub = await wireStream(id, transmitter, () => edge.now);
    const stored = await runInDurableObject(stub, (_: SsfStream, state) => JSON.stringify(state.storage.sql.exec('SELECT * FROM stream').toArray()));
    expect(stored).not.toContain(secret);
  });
});

/** A SET the transmitter signed for this tenant's audience, in hand: emitted on a poll stream of
 *  the same receiver (made once, by the test, not the edge) and read from it. */
async function signedSet(subject: Record<string, unknown>): Promise<string> {
  const call = (path: string, body: unknown) => transmitter.fetch(new Request(`${transmitter.issuer}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${BEARER}` }, body: JSON.stringify(body),
  }));
  const { streams } = await transmitter.control('/streams');
  const held = streams.find((stream: { delivery: { method: string } }) => stream.delivery.method.endsWith('8936'));
  const streamId = held?.stream_id ?? (await (await call('/ssf/stream', {})).json() as { stream_id: string }).stream_id;
  await transmitter.control('/events', { type: 'credential-change', subject, stream_id: streamId });
  const polled = await (await call(`/ssf/poll/${streamId}`, { returnImmediately: true })).json() as { sets: Record<string, string> };
  return Object.values(polled.sets).at(-1)!;
}
