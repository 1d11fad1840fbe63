// POST /_edge/ssf as a unit: SETs signed by a test transmitter that publishes its
// ssf-configuration, real key tiers over the auxiliary issuer Worker (hits counted), a clock moved
// by assignment, a fake sink with the capability's semantics.
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EventDeps } from '../../src/events/apply';
import type { AuditLine, ProcessedEventLine } from '../../src/events/audit';
import { CAEP_EVENT, RISC_EVENT, SSF_STREAM_UPDATED_EVENT, SSF_VERIFICATION_EVENT } from '../../src/events/event-types';
import { claimValueKey } from '../../src/revocation/claim-values';
import { JTI_MEMORY_SLACK_SECONDS } from '../../src/events/sink';
import { MAX_EVENTS_PER_SET } from '../../src/revocation/event-ledger';
import { MAX_SET_BYTES, SSF_PATH, handleSsfPush, verifySet } from '../../src/events/ssf';
import type { Tenant } from '../../src/tenants/tenant';
import { TestIssuer, makeKey, type TestKey } from '../support/issuer';
import { isolate, transmitterPolicyFor, useClock, type TestIsolate } from '../keys/isolates';
import { FakeSink, expectNoToken, hmacToken, linesText, raw, tampered, tenantOf } from './support';

const AUDIENCE = 'https://api.acme.test/ssf';
const SSF_AT = '/.well-known/ssf-configuration/t1';
const DAY = 86_400;

let transmitter: TestIssuer;
let idp: TestIssuer;
let other: TestIssuer;
let unlisted: TestKey;
let TENANT: Parameters<typeof tenantOf>[0];
let tenant: Tenant;
let t: number;
const now = () => t;
let sink: FakeSink;
let lines: AuditLine[];
let edge: TestIsolate;
let deps: EventDeps;
let jtis = 0;

beforeAll(async () => {
  transmitter = await TestIssuer.create({ path: '/t1', publish: false, algs: ['ES256', 'EdDSA'] });
  await transmitter.publishSsf();
  idp = await TestIssuer.create();
  other = await TestIssuer.create({ publish: false });
  await other.publishSsf();
  unlisted = await makeKey('ES256', transmitter.keys[0]!.kid);
  TENANT = {
    issuers: [{ issuer: idp.issuer, audiences: ['https://api.acme.test'] }],
    events: { ssf: [{ issuer: transmitter.issuer, audience: AUDIENCE }] },
  };
  tenant = tenantOf(TENANT);
});

beforeEach(async () => {
  t = Date.now();
  await useClock(transmitterPolicyFor(transmitter), now);
  sink = new FakeSink(now);
  lines = [];
  edge = isolate(now);
  deps = { now, keys: edge.keys, sink, audit: (line) => lines.push(line) };
});

const user = (sub = 'user-1', iss = idp.issuer) => ({ format: 'iss_sub', iss, sub });
const emailKey = (email: string) => claimValueKey('email', 'email', email);

/** A SET as SSF 1.0 transmitters send it; `undefined` removes a claim. */
function set(claims: Record<string, unknown> = {}, options: { key?: TestKey; header?: Record<string, unknown>; from?: TestIssuer } = {}) {
  return (options.from ?? transmitter).sign({
    aud: AUDIENCE, jti: `set-${++jtis}`, exp: undefined, sub_id: user(),
    events: { [`${CAEP_EVENT}credential-change`]: { credential_type: 'password', change_type: 'update' } },
    ...claims,
  }, { now: t, key: options.key, header: { typ: 'secevent+jwt', ...options.header } });
}

function push(body: string | Uint8Array, contentType: string | null = 'application/secevent+jwt', method = 'POST'): Promise<Response> {
  const headers: Record<string, string> = contentType === null ? {} : { 'content-type': contentType };
  return handleSsfPush(new Request(`https://api.acme.test${SSF_PATH}`, { method, headers, body: method === 'GET' ? null : body }), tenant, deps);
}

async function expectAccepted(token: string): Promise<void> {
  const response = await push(token);
  expect(response.status, await response.clone().text()).toBe(202);
  expect(await response.text()).toBe('');
}

async function expectRefused(token: string, err: string, description?: RegExp): Promise<void> {
  const response = await push(token);
  expect(response.status).toBe(400);
  expect(response.headers.get('content-type')).toBe('application/json');
  const body = await response.json() as { err: string; description: string };
  expect(body.err).toBe(err);
  if (description) expect(body.description).toMatch(description);
  expect(Object.keys(body).sort()).toEqual(['description', 'err']);
  expect(sink.batches).toEqual([]);
  expect(lines.find((line) => line.event === 'revocation_event_refused')).toMatchObject({ channel: 'ssf', status: 400, error: err });
  expectNoToken(token, JSON.stringify(body), linesText(lines));
}

const processed = () => lines.filter((line): line is ProcessedEventLine => line.event === 'revocation_event');

describe('the event table', () => {
  it.each([
    [`${CAEP_EVENT}session-revoked`, 'subject:user-1'],
    [`${CAEP_EVENT}credential-change`, 'subject:user-1'],
    [`${RISC_EVENT}account-disabled`, 'subject:user-1'],
    [`${RISC_EVENT}account-purged`, 'subject:user-1'],
    [`${RISC_EVENT}sessions-revoked`, 'subject:user-1'],
    [`${RISC_EVENT}tokens-revoked`, 'subject:user-1'],
    [`${RISC_EVENT}account-credential-change-required`, 'subject:user-1'],
    [SSF_VERIFICATION_EVENT, null],
    [`${CAEP_EVENT}assurance-level-change`, null],
    [`${RISC_EVENT}account-enabled`, null],
    ['https://example.com/event-type/custom', null],
  ])('%s: %s', async (type, effect) => {
    await expectAccepted(await set({ jti: 'j-table', events: { [type]: {} } }));
    expect(sink.effects).toEqual(effect === null ? [] : [effect]);
    expect(processed()).toEqual([{
      event: 'revocation_event', tenant: 'acme', channel: 'ssf', issuer: transmitter.issuer, eventType: type,
      subject: 'sub', subjectFormat: 'iss_sub', effect: effect === null ? 'none' : 'subject_revoked', replayed: false, jti: 'j-table',
      ...(effect === null && type !== SSF_VERIFICATION_EVENT ? { note: 'an event type this edge does not act on' } : {}),
    }]);
  });

  it('a verification event (sub_id the stream) is accepted and changes nothing, with no state call', async () => {
    await expectAccepted(await set({ sub_id: { format: 'opaque', id: 'stream-1' }, events: { [SSF_VERIFICATION_EVENT]: { state: 'c3RhdGU' } } }));
    expect(sink.batches).toEqual([]);
    expect(processed()).toMatchObject([{ effect: 'none', subject: 'sub', subjectFormat: 'opaque' }]);
  });

  it('session-revoked revokes the session of a complex subject, else its user', async () => {
    const sessionRevoked = `${CAEP_EVENT}session-revoked`;
    await expectAccepted(await set({
      sub_id: { format: 'complex', user: user(), session: { format: 'opaque', id: 'sid-9' }, tenant: { format: 'opaque', id: 'acme' } },
      events: { [sessionRevoked]: { initiating_entity: 'policy' } },
    }));
    await expectAccepted(await set({ sub_id: { format: 'complex', user: user('user-2') }, events: { [sessionRevoked]: {} } }));
    await expectAccepted(await set({ sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-10' } }, events: { [sessionRevoked]: {} } }));
    expect(sink.effects).toEqual(['session:sid-9', 'subject:user-2', 'session:sid-10']);
    expect(processed().map((line) => [line.subject, line.effect])).toEqual([['sid', 'session_revoked'], ['sub', 'subject_revoked'], ['sid', 'session_revoked']]);
  });

  it('a subject revocation needs a user: a complex subject with only a session changes nothing (logged)', async () => {
    await expectAccepted(await set({ sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-1' } } }));
    expect(sink.batches).toEqual([]);
    expect(processed()).toMatchObject([{ subject: 'sid', effect: 'none', note: 'the subject names no sub' }]);
  });
});

describe('subject formats (RFC 9493)', () => {
  it.each([
    ['iss_sub of a tenant issuer', () => user('u-7'), 'subject:u-7', 'sub'],
    ['iss_sub of another issuer', () => user('u-7', 'https://elsewhere.example/'), null, 'none'],
    ['opaque', () => ({ format: 'opaque', id: 'u-8' }), 'subject:u-8', 'sub'],
    ['complex with an iss_sub user', () => ({ format: 'complex', user: user('u-9'), device: { format: 'opaque', id: 'd' } }), 'subject:u-9', 'sub'],
    ['complex with an opaque user', () => ({ format: 'complex', user: { format: 'opaque', id: 'u-10' } }), 'subject:u-10', 'sub'],
    ['complex with an email user', () => ({ format: 'complex', user: { format: 'email', email: 'a@ACME.test' } }), `claim:${emailKey('a@acme.test')}`, 'email'],
    ['email', () => ({ format: 'email', email: 'jane@acme.test' }), `claim:${emailKey('jane@acme.test')}`, 'email'],
    ['phone_number', () => ({ format: 'phone_number', phone_number: '+12065550100' }),
      `claim:${claimValueKey('phone_number', 'phone_number', '+12065550100')}`, 'phone_number'],
    ['email without its member', () => ({ format: 'email', mail: 'jane@acme.test' }), null, 'none'],
    ['account', () => ({ format: 'account', uri: 'acct:jane@acme.test' }), null, 'none'],
    ['aliases', () => ({ format: 'aliases', identifiers: [user('u-11')] }), null, 'none'],
    ["Google's subject_type spelling", () => ({ subject_type: 'iss_sub', iss: idp.issuer, sub: 'u-12' }), 'subject:u-12', 'sub'],
    ['no format', () => ({ iss: idp.issuer, sub: 'u-13' }), null, 'none'],
    ['an empty sub', () => user(''), null, 'none'],
  ])('%s', async (_name, subject, effect, kind) => {
    await expectAccepted(await set({ sub_id: subject() }));
    expect(sink.effects).toEqual(effect === null ? [] : [effect]);
    const named = effect === null ? 'none' : effect.startsWith('claim:') ? 'claim_value_revoked' : 'subject_revoked';
    expect(processed()).toMatchObject([{ subject: kind, effect: named }]);
    if (effect === null) expect(processed()[0]!.note).toBeTruthy();
  });

  it('reads the event\'s own subject (older drafts) when the SET has no sub_id, and sub_id wins over it', async () => {
    const type = `${RISC_EVENT}account-disabled`;
    await expectAccepted(await set({ sub_id: undefined, events: { [type]: { subject: user('legacy'), reason: 'hijacking' } } }));
    await expectAccepted(await set({ sub_id: user('top'), events: { [type]: { subject: user('inner') } } }));
    expect(sink.effects).toEqual(['subject:legacy', 'subject:top']);
  });

  it('refuses a subject identifier over 256 characters with the whole SET', async () => {
    await expectRefused(await set({ sub_id: user('u'.repeat(257)) }), 'invalid_request', /256/);
    await expectRefused(await set({ sub_id: { format: 'email', email: `${'u'.repeat(250)}@acme.test` } }), 'invalid_request', /256/);
    await expectAccepted(await set({ sub_id: { format: 'email', email: `${'u'.repeat(246)}@acme.test` } }));
  });
});

describe('email and phone_number subjects', () => {
  const withClaims = async (subjectClaims: Record<string, string | null>, body: () => Promise<void>) => {
    const saved = tenant;
    tenant = tenantOf({ ...TENANT, events: { ssf: [{ issuer: transmitter.issuer, audience: AUDIENCE, subjectClaims }] } });
    try {
      await body();
    } finally {
      tenant = saved;
    }
  };

  it('name the value under the claim the transmitter names for the format, the email\'s domain in lowercase', async () => {
    await withClaims({ email: '/ext/upn', phone_number: 'phone' }, async () => {
      await expectAccepted(await set({ sub_id: { format: 'email', email: 'Jane.Doe@Acme.TEST' } }));
      await expectAccepted(await set({ sub_id: { format: 'complex', user: { format: 'phone_number', phone_number: '+1 206' } },
        events: { [`${CAEP_EVENT}session-revoked`]: {} } }));
    });
    expect(sink.effects).toEqual([`claim:${claimValueKey('email', '/ext/upn', 'Jane.Doe@acme.test')}`,
      `claim:${claimValueKey('phone_number', 'phone', '+1 206')}`]);
  });

  it('change nothing, logged, for a format with no claim configured', async () => {
    await withClaims({ email: null }, async () => {
      await expectAccepted(await set({ sub_id: { format: 'email', email: 'jane@acme.test' } }));
      await expectAccepted(await set({ sub_id: { format: 'phone_number', phone_number: '+12065550100' } }));
    });
    expect(sink.batches).toEqual([]);
    expect(processed().map((line) => [line.subject, line.effect, line.note])).toEqual([
      ['email', 'none', 'no claim is configured for email subjects'], ['phone_number', 'none', 'no claim is configured for phone_number subjects'],
    ]);
    expectNoToken('jane@acme.test', linesText(lines));
    expect(linesText(lines)).not.toContain('jane@acme.test');
  });

  it('a session in a complex subject wins over its email user', async () => {
    await expectAccepted(await set({ sub_id: { format: 'complex', user: { format: 'email', email: 'a@b.c' }, session: { format: 'opaque', id: 's-4' } },
      events: { [`${CAEP_EVENT}session-revoked`]: {} } }));
    expect(sink.effects).toEqual(['session:s-4']);
  });
});

describe('stream signals', () => {
  it('a stream-updated event is accepted, changes nothing, and tells the stream its new status', async () => {
    const token = await set({ sub_id: { format: 'opaque', id: 'stream-7' },
      events: { [SSF_STREAM_UPDATED_EVENT]: { status: 'paused', reason: 'maintenance' } } });
    const verified = await verifySet(token, tenant, deps);
    expect(verified.ok && verified.value.events[0]!.stream).toEqual({ kind: 'stream_updated', status: 'paused', reason: 'maintenance', streamId: 'stream-7' });
    await expectAccepted(token);
    expect(sink.batches).toEqual([]);
    expect(processed()).toMatchObject([{ eventType: SSF_STREAM_UPDATED_EVENT, effect: 'none' }]);
    expect(processed()[0]).not.toHaveProperty('note');
  });

  it('a stream-updated event with another status is logged and tells the stream nothing', async () => {
    const token = await set({ events: { [SSF_STREAM_UPDATED_EVENT]: { status: 'deleted' } } });
    const verified = await verifySet(token, tenant, deps);
    expect(verified.ok && verified.value.events[0]).toMatchObject({ note: 'stream-updated without a known status' });
    expect(verified.ok && verified.value.events[0]).not.toHaveProperty('stream');
  });

  it('a verification event carries its state to the stream', async () => {
    const verified = await verifySet(await set({ events: { [SSF_VERIFICATION_EVENT]: { state: 'c3RhdGU' } } }), tenant, deps);
    expect(verified.ok && verified.value.events[0]!.stream).toEqual({ kind: 'verification', state: 'c3RhdGU' });
  });
});

describe('one SET, one state transaction', () => {
  /** Every revoking type once, then custom types: 100 distinct event types, each with its own subject. */
  const manyEvents = (count: number) => {
    const revoking = [`${CAEP_EVENT}session-revoked`, `${CAEP_EVENT}credential-change`, `${RISC_EVENT}account-disabled`,
      `${RISC_EVENT}account-purged`, `${RISC_EVENT}sessions-revoked`, `${RISC_EVENT}tokens-revoked`, `${RISC_EVENT}account-credential-change-required`];
    const types = [...revoking, ...Array.from({ length: count - revoking.length }, (_, i) => `https://example.com/event-type/e${i}`)];
    return Object.fromEntries(types.map((type, i) => [type, { subject: user(`user-${i}`) }]));
  };

  it(`processes ${MAX_EVENTS_PER_SET} events with one sink call and one audit line each`, async () => {
    await expectAccepted(await set({ sub_id: undefined, events: manyEvents(MAX_EVENTS_PER_SET) }));
    expect(sink.batches).toHaveLength(1);
    expect(sink.effects).toEqual(Array.from({ length: 7 }, (_, i) => `subject:user-${i}`));
    expect(processed()).toHaveLength(MAX_EVENTS_PER_SET);
  });

  it(`refuses ${MAX_EVENTS_PER_SET + 1} events before acting on any`, async () => {
    await expectRefused(await set({ sub_id: undefined, events: manyEvents(MAX_EVENTS_PER_SET + 1) }), 'invalid_request', /more than 100 events/);
  });

  it('asks for the same revocation once', async () => {
    await expectAccepted(await set({ events: { [`${RISC_EVENT}account-disabled`]: {}, [`${RISC_EVENT}account-purged`]: {} } }));
    expect(sink.batches).toHaveLength(1);
    expect(sink.effects).toEqual(['subject:user-1']);
    expect(processed()).toHaveLength(2);
  });

  it('answers a replayed jti 202 again, changing nothing again', async () => {
    const token = await set({ jti: 'j-replay' });
    await expectAccepted(token);
    t += 3_600_000;
    await expectAccepted(token);
    expect(sink.batches.map((b) => b.jti)).toEqual(['j-replay', 'j-replay']);
    expect(processed().map((line) => [line.effect, line.replayed])).toEqual([['subject_revoked', false], ['none', true]]);
    // Remembered while a SET that old is accepted (the tenant's retainSeconds, a day by default,
    // and the 30 s tolerance), and no longer.
    const iat = Math.floor(t / 1000) - 3600;
    expect(sink.batches[0]!.rememberUntil - iat).toBeGreaterThanOrEqual(DAY + 30 + 1 + JTI_MEMORY_SLACK_SECONDS - 5);
    expect(sink.batches[0]!.rememberUntil - iat).toBeLessThanOrEqual(DAY + 30 + 1 + JTI_MEMORY_SLACK_SECONDS);
  });
});

describe('RFC 8935 error codes', () => {
  const s = () => Math.floor(t / 1000);
  const claims = () => ({ iss: transmitter.issuer, aud: AUDIENCE, iat: s(), jti: 'x', sub_id: user(), events: { [SSF_VERIFICATION_EVENT]: {} } });

  it('invalid_issuer: iss names no transmitter of the tenant', async () => expectRefused(await set({}, { from: other }), 'invalid_issuer', /transmitter/));
  it('invalid_issuer: iss of a tenant issuer that is no transmitter', async () => expectRefused(await set({}, { from: idp }), 'invalid_issuer'));
  it('invalid_issuer: no iss', async () => expectRefused(await set({ iss: undefined }), 'invalid_issuer'));
  it('invalid_audience: aud of another receiver', async () => expectRefused(await set({ aud: 'https://other.test/ssf' }), 'invalid_audience'));
  it('invalid_audience: aud missing', async () => expectRefused(await set({ aud: undefined }), 'invalid_audience'));
  it('invalid_key: alg none', async () => expectRefused(raw({ alg: 'none', typ: 'secevent+jwt' }, claims(), ''), 'invalid_key'));
  it('invalid_key: alg HS256', async () => expectRefused(await hmacToken(claims(), { typ: 'secevent+jwt' }), 'invalid_key'));
  it('invalid_key: a kid the transmitter does not publish', async () => expectRefused(await set({}, { header: { kid: 'nobody' } }), 'invalid_key'));
  it('authentication_failed: a bad signature', async () => expectRefused(tampered(await set()), 'authentication_failed'));
  it('authentication_failed: another key under a published kid', async () => expectRefused(await set({}, { key: unlisted }), 'authentication_failed'));
  it('invalid_request: not a JWS', async () => expectRefused('eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24', 'invalid_request'));
  it('invalid_request: typ of another JWT', async () => expectRefused(await set({}, { header: { typ: 'JWT' } }), 'invalid_request', /secevent\+jwt/));
  it('invalid_request: jti missing', async () => expectRefused(await set({ jti: undefined }), 'invalid_request', /jti/));
  it('invalid_request: iat missing', async () => expectRefused(await set({ iat: undefined }), 'invalid_request', /iat/));
  it('invalid_request: iat in the future', async () => expectRefused(await set({ iat: s() + 31 }), 'invalid_request', /future/));
  it('invalid_request: iat older than the tenant\'s retainSeconds (a day by default)', async () => {
    await expectRefused(await set({ iat: s() - DAY - 31 }), 'invalid_request', /old/);
    await expectAccepted(await set({ iat: s() - DAY - 29 }));
  });
  it('invalid_request: iat older than a shorter retainSeconds', async () => {
    const saved = tenant;
    tenant = tenantOf({ ...TENANT, revocation: { retainSeconds: 3_600 } });
    try {
      await expectRefused(await set({ iat: s() - 3_600 - 31 }), 'invalid_request', /old/);
      await expectAccepted(await set({ iat: s() - 3_600 + 60 }));
    } finally {
      tenant = saved;
    }
  });
  it('invalid_request: exp passed', async () => expectRefused(await set({ exp: s() - 31 }), 'invalid_request', /exp/));
  it('invalid_request: events missing', async () => expectRefused(await set({ events: undefined }), 'invalid_request', /events/));
  it('invalid_request: events empty', async () => expectRefused(await set({ events: {} }), 'invalid_request', /empty/));
  it('invalid_request: events an array', async () => expectRefused(await set({ events: [SSF_VERIFICATION_EVENT] }), 'invalid_request', /events/));
  it('invalid_request: an event payload that is not an object', async () => expectRefused(await set({ events: { [SSF_VERIFICATION_EVENT]: 'yes' } }), 'invalid_request'));

  it('accepts a SET without typ, with aud as an array, and with EdDSA', async () => {
    await expectAccepted(await set({ aud: ['https://other.test', AUDIENCE] }, { header: { typ: undefined }, key: transmitter.keys[1] }));
  });
});

describe('the request', () => {
  it('invalid_request: another content type, or none', async () => {
    const token = await set();
    for (const type of ['application/jwt', 'application/json', 'text/plain', null]) {
      const response = await push(token, type);
      expect(response.status, String(type)).toBe(400);
      expect(await response.json()).toEqual({ err: 'invalid_request', description: 'the body must be application/secevent+jwt' });
    }
  });

  it('accepts a content type with parameters and a trailing newline after the SET', async () => {
    expect((await push(`${await set()}\n`, 'Application/SecEvent+JWT; charset=utf-8')).status).toBe(202);
  });

  it('invalid_request: a body over 64 KiB, refused before it is parsed', async () => {
    const response = await push('x'.repeat(MAX_SET_BYTES + 1));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ err: 'invalid_request', description: `the body is over ${MAX_SET_BYTES} bytes` });
    expect(edge.objectCalls).toBe(0);
  });

  it('invalid_request: an empty body', async () => {
    expect(await (await push('')).json()).toMatchObject({ err: 'invalid_request' });
  });

  it('405 with Allow: POST to other methods', async () => {
    const response = await push('', null, 'GET');
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('503 issuer_unavailable with Retry-After when the transmitter\'s keys cannot be had', async () => {
    const down = await TestIssuer.create({ publish: false });
    await down.serve('/.well-known/ssf-configuration', { status: 503 });
    await down.serve('/.well-known/risc-configuration', { status: 503 });
    const saved = tenant;
    tenant = tenantOf({ issuers: [{ issuer: idp.issuer, audiences: ['x'] }], events: { ssf: [{ issuer: down.issuer, audience: AUDIENCE }] } });
    try {
      const response = await push(await set({}, { from: down }));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('30');
      expect(await response.json()).toMatchObject({ error: 'issuer_unavailable' });
    } finally {
      tenant = saved;
    }
  });
});

describe('bad signatures never cause a fetch storm', () => {
  it('a flood of forged SETs costs the transmitter one discovery and at most one JWKS refetch per 30 s', async () => {
    // A transmitter of its own, so no other test has fetched its keys.
    const flooded = await TestIssuer.create({ path: '/flooded', publish: false });
    await flooded.publishSsf();
    await useClock(transmitterPolicyFor(flooded), now);
    const saved = tenant;
    tenant = tenantOf({ issuers: [{ issuer: idp.issuer, audiences: ['x'] }], events: { ssf: [{ issuer: flooded.issuer, audience: AUDIENCE }] } });
    const sign = (header: Record<string, unknown> = {}) => set({}, { from: flooded, header });
    try {
      await expectAccepted(await sign());
      expect(await flooded.hits('/jwks')).toBe(1);
      t += 31_000;
      for (let i = 0; i < 40; i++) {
        const forged = i % 2 === 0 ? tampered(await sign()) : await sign({ kid: `random-${i}` });
        expect((await push(forged)).status).toBe(400);
      }
      // One refresh for the first unknown kid, then none within the cooldown; a bad signature
      // under a known kid never fetches.
      expect(await flooded.hits('/jwks')).toBe(2);
      t += 31_000;
      for (let i = 0; i < 10; i++) expect((await push(await sign({ kid: `later-${i}` }))).status).toBe(400);
      expect(await flooded.hits('/jwks')).toBe(3);
      // The discovered jwks_uri is reused: the configuration is fetched once.
      expect(await flooded.hits('/.well-known/ssf-configuration/flooded')).toBe(1);
      expect(sink.batches).toHaveLength(1);
    } finally {
      tenant = saved;
    }
  });
});
