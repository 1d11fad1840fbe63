// POST /_edge/backchannel-logout as a unit: real logout tokens signed by a test issuer, real key
// tiers over the auxiliary issuer Worker, a clock moved by assignment, a fake sink with the
// capability's semantics. Each validation rule has a token that fails it alone.
import type { DurableObject } from 'cloudflare:workers';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditLine } from '../../src/events/audit';
import { BACKCHANNEL_LOGOUT_PATH, MAX_LOGOUT_BODY_BYTES, MAX_LOGOUT_TOKEN_AGE_SECONDS, handleBackchannelLogout } from '../../src/events/backchannel-logout';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/events/event-types';
import type { EventDeps } from '../../src/events/apply';
import { JTI_MEMORY_SLACK_SECONDS, revocationSinkOf, type RevocationSink } from '../../src/events/sink';
import type { BatchResult, EventBatch } from '../../src/revocation/event-ledger';
import type { Tenant } from '../../src/tenants/tenant';
import { TestIssuer, makeKey, type TestKey } from '../support/issuer';
import { isolate, policyFor, useClock } from '../keys/isolates';
import { FakeSink, expectNoToken, hmacToken, linesText, raw, tampered, tenantOf } from './support';

const CLIENT = 'acme-web';
const URL_ = `https://api.acme.test${BACKCHANNEL_LOGOUT_PATH}`;

let issuer: TestIssuer;
let stranger: TestIssuer;
let unlisted: TestKey;
let tenant: Tenant;
let t: number;
const now = () => t;
let sink: FakeSink;
let lines: AuditLine[];
let deps: EventDeps;
let jtis = 0;

beforeAll(async () => {
  issuer = await TestIssuer.create({ algs: ['RS256', 'ES256', 'RS384'] });
  stranger = await TestIssuer.create();
  unlisted = await makeKey('ES256', issuer.keys[1]!.kid); // same kid as a published key, another key pair
  tenant = tenantOf({
    issuers: [{ issuer: issuer.issuer, audiences: ['https://api.acme.test'], algorithms: ['RS256', 'ES256'], requiredType: 'at+jwt' }],
    events: { backchannelLogout: { audiences: ['another-client', CLIENT] } },
  });
});

beforeEach(async () => {
  t = Date.now();
  await useClock(policyFor(issuer), now);
  sink = new FakeSink(now);
  lines = [];
  deps = { now, keys: isolate(now).keys, sink, audit: (line) => lines.push(line) };
});

/** A logout token as OpenID providers send it (oidc-provider's shape); `undefined` removes a claim. */
function logoutToken(claims: Record<string, unknown> = {}, options: { key?: TestKey; header?: Record<string, unknown>; from?: TestIssuer } = {}) {
  const from = options.from ?? issuer;
  return from.sign({
    aud: CLIENT, sub: 'user-1', sid: 'session-1', jti: `jti-${++jtis}`, exp: Math.floor(t / 1000) + 120,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...claims,
  }, { now: t, key: options.key, header: { typ: 'logout+jwt', ...options.header } });
}

function post(body: string | Uint8Array, contentType: string | null = 'application/x-www-form-urlencoded', method = 'POST'): Promise<Response> {
  const headers: Record<string, string> = contentType === null ? {} : { 'content-type': contentType };
  return handleBackchannelLogout(new Request(URL_, { method, headers, body: method === 'GET' ? null : body }), tenant, deps);
}
const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();

async function expectAccepted(token: string): Promise<Response> {
  const response = await post(form(token));
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(await response.text()).toBe('');
  return response;
}

async function expectRefused(token: string, description: RegExp | string, reason?: string): Promise<void> {
  const response = await post(form(token));
  expect(response.status).toBe(400);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('content-type')).toBe('application/json');
  const body = await response.json() as { error: string; error_description: string };
  expect(body.error).toBe('invalid_request');
  expect(body.error_description).toMatch(description);
  expect(sink.batches).toEqual([]);
  const refusedLine = lines.find((line) => line.event === 'revocation_event_refused');
  expect(refusedLine).toMatchObject({ tenant: 'acme', channel: 'backchannel_logout', status: 400, error: 'invalid_request' });
  if (reason !== undefined) expect(refusedLine).toMatchObject({ reason });
  expectNoToken(token, JSON.stringify(body), linesText(lines));
}

describe('a valid logout token', () => {
  it('with sid revokes that session, answers 200 no-store, and logs one audit line', async () => {
    const token = await logoutToken({ jti: 'j-sid' });
    await expectAccepted(token);
    expect(sink.batches).toEqual([{
      issuer: issuer.issuer, jti: 'j-sid', effects: [{ kind: 'session', value: 'session-1' }],
      // Remembered while the token could be accepted again (iat + 5 minutes + the 30 s tolerance), no longer.
      rememberUntil: Math.floor(t / 1000) + MAX_LOGOUT_TOKEN_AGE_SECONDS + 30 + 1 + JTI_MEMORY_SLACK_SECONDS,
    }]);
    expect(lines).toEqual([{
      event: 'revocation_event', tenant: 'acme', channel: 'backchannel_logout', issuer: issuer.issuer,
      eventType: BACKCHANNEL_LOGOUT_EVENT, subject: 'sid', effect: 'session_revoked', replayed: false, jti: 'j-sid',
    }]);
    expectNoToken(token, linesText(lines));
  });

  it('without sid revokes the subject', async () => {
    await expectAccepted(await logoutToken({ sid: undefined }));
    expect(sink.effects).toEqual(['subject:user-1']);
    expect(lines[0]).toMatchObject({ subject: 'sub', effect: 'subject_revoked' });
  });

  it('with sid and no sub revokes the session', async () => {
    await expectAccepted(await logoutToken({ sub: undefined }));
    expect(sink.effects).toEqual(['session:session-1']);
  });

  it('replayed is answered 200 again and changes nothing again', async () => {
    const token = await logoutToken();
    await expectAccepted(token);
    t += 60_000;
    await expectAccepted(token);
    expect(sink.batches).toHaveLength(2);
    expect(lines.map((line) => line.event === 'revocation_event' && [line.effect, line.replayed]))
      .toEqual([['session_revoked', false], ['none', true]]);
  });

  it('accepts typ in any case and with the application/ prefix, and no typ at all', async () => {
    await expectAccepted(await logoutToken({}, { header: { typ: 'LOGOUT+JWT' } }));
    await expectAccepted(await logoutToken({}, { header: { typ: 'application/logout+jwt' } }));
    await expectAccepted(await logoutToken({}, { header: { typ: undefined } }));
  });

  it('accepts aud as an array, no exp, and another of the issuer\'s algorithms', async () => {
    await expectAccepted(await logoutToken({ aud: ['someone-else', CLIENT], exp: undefined }, { key: issuer.keys[1] }));
    expect(sink.batches).toHaveLength(1);
  });

  it('accepts iat up to 5 minutes old plus the issuer\'s clock tolerance, and up to the tolerance in the future', async () => {
    const s = Math.floor(t / 1000);
    await expectAccepted(await logoutToken({ iat: s - 330 }));
    await expectAccepted(await logoutToken({ iat: s + 30 }));
  });

  it('does not care what requiredType access tokens of the issuer need', async () => {
    expect(tenant.issuers.get(issuer.issuer)!.requiredType).toBe('at+jwt');
    await expectAccepted(await logoutToken());
  });
});

describe('an invalid logout token is 400 invalid_request and changes nothing', () => {
  const s = () => Math.floor(t / 1000);

  it('iss of another issuer', async () => expectRefused(await logoutToken({}, { from: stranger }), /issuers/, 'unknown_issuer'));
  it('alg none', async () => expectRefused(raw({ alg: 'none' }, { iss: issuer.issuer, aud: CLIENT, iat: s(), jti: 'x', sid: 's', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }, ''),
    /asymmetric/, 'alg_not_allowed'));
  it('alg HS256', async () => expectRefused(await hmacToken({ iss: issuer.issuer, aud: CLIENT, iat: s(), jti: 'x', sid: 's', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }),
    /asymmetric/, 'alg_not_allowed'));
  it('an alg of the issuer\'s keys but not in its allowlist', async () => expectRefused(await logoutToken({}, { key: issuer.keys[2] }), /asymmetric/, 'alg_not_allowed'));
  it('a bad signature', async () => expectRefused(tampered(await logoutToken()), /signature/, 'bad_signature'));
  it('signed by another key under a published kid', async () => expectRefused(await logoutToken({}, { key: unlisted }), /signature/, 'bad_signature'));
  it('an unknown kid', async () => expectRefused(await logoutToken({}, { header: { kid: 'nobody' } }), /key/, 'unknown_kid'));
  it('not a JWS', async () => expectRefused('not.a.jwt', /signed JWT/, 'malformed'));
  it('aud of another client', async () => expectRefused(await logoutToken({ aud: 'another-app' }), /aud/, 'wrong_audience'));
  it('aud of the access tokens', async () => expectRefused(await logoutToken({ aud: 'https://api.acme.test' }), /aud/, 'wrong_audience'));
  it('aud missing', async () => expectRefused(await logoutToken({ aud: undefined }), /aud/, 'wrong_audience'));
  it('aud not a string', async () => expectRefused(await logoutToken({ aud: [CLIENT, 7] }), /aud/, 'wrong_audience'));
  it('iat missing', async () => expectRefused(await logoutToken({ iat: undefined }), /iat is required/, 'malformed'));
  it('iat not a number', async () => expectRefused(await logoutToken({ iat: '2026-01-01' }), /iat/, 'malformed'));
  it('iat older than 5 minutes plus the tolerance', async () => expectRefused(await logoutToken({ iat: s() - 331 }), /300 seconds old/, 'too_old'));
  it('iat in the future beyond the tolerance', async () => expectRefused(await logoutToken({ iat: s() + 31 }), /future/, 'not_yet_valid'));
  it('exp passed', async () => expectRefused(await logoutToken({ exp: s() - 31 }), /exp has passed/, 'expired'));
  it('jti missing', async () => expectRefused(await logoutToken({ jti: undefined }), /jti is required/, 'malformed'));
  it('jti not a string', async () => expectRefused(await logoutToken({ jti: 42 }), /jti/, 'malformed'));
  it('jti over 256 characters', async () => expectRefused(await logoutToken({ jti: 'j'.repeat(257) }), /256/, 'malformed'));
  it('events missing', async () => expectRefused(await logoutToken({ events: undefined }), /events/, 'malformed'));
  it('events not an object', async () => expectRefused(await logoutToken({ events: [BACKCHANNEL_LOGOUT_EVENT] }), /events/, 'malformed'));
  it('events without the back-channel logout member', async () => expectRefused(
    await logoutToken({ events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': {} } }), /backchannel-logout/, 'malformed'));
  it('the member not an object', async () => expectRefused(await logoutToken({ events: { [BACKCHANNEL_LOGOUT_EVENT]: true } }), /backchannel-logout/, 'malformed'));
  it('neither sub nor sid', async () => expectRefused(await logoutToken({ sub: undefined, sid: undefined }), /sub or a sid/, 'malformed'));
  it('sid not a string', async () => expectRefused(await logoutToken({ sid: 12 }), /sid/, 'malformed'));
  it('sub over 256 characters', async () => expectRefused(await logoutToken({ sub: 'u'.repeat(257), sid: undefined }), /256/, 'malformed'));
  it('sid over 256 characters', async () => expectRefused(await logoutToken({ sid: 's'.repeat(257) }), /256/, 'malformed'));
  it('nonce present (an ID token)', async () => expectRefused(await logoutToken({ nonce: 'n-0S6_WzA2Mj' }), /nonce/, 'malformed'));
  it('typ of another kind of JWT', async () => expectRefused(await logoutToken({}, { header: { typ: 'JWT' } }), /logout\+jwt/, 'wrong_type'));
  it('typ at+jwt (an access token)', async () => expectRefused(await logoutToken({}, { header: { typ: 'at+jwt' } }), /logout\+jwt/, 'wrong_type'));
  it('an access token of the issuer', async () => expectRefused(
    await issuer.sign({ aud: CLIENT, sub: 'user-1', jti: 'at-1' }, { now: t, header: { typ: 'at+jwt' } }), /logout\+jwt/, 'wrong_type'));
});

describe('the request', () => {
  it('refuses another content type, a missing one, and JSON', async () => {
    const token = await logoutToken();
    for (const type of ['application/json', 'text/plain', null]) {
      const response = await post(form(token), type);
      expect(response.status, String(type)).toBe(400);
      expect(await response.json()).toEqual({ error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
    }
    expect(sink.batches).toEqual([]);
  });

  it('accepts a charset parameter on the content type', async () => {
    expect((await post(form(await logoutToken()), 'Application/X-WWW-Form-Urlencoded; charset=UTF-8')).status).toBe(200);
  });

  it('refuses a body without logout_token, with it twice, or empty', async () => {
    const token = await logoutToken();
    for (const body of ['', 'token=x', `logout_token=${token}&logout_token=${token}`, 'logout_token=']) {
      const response = await post(body);
      expect(response.status, body.slice(0, 20)).toBe(400);
      expect((await response.json() as { error_description: string }).error_description).toMatch(/logout_token/);
    }
    expect(sink.batches).toEqual([]);
  });

  it('refuses a body over the cap before reading it, and one that is not UTF-8', async () => {
    const big = `logout_token=${'a'.repeat(MAX_LOGOUT_BODY_BYTES)}`;
    const response = await post(big);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error_description: `the body is over ${MAX_LOGOUT_BODY_BYTES} bytes` });
    const latin1 = await post(new Uint8Array([0x6c, 0x6f, 0x3d, 0xff, 0xfe]));
    expect(latin1.status).toBe(400);
  });

  it('ignores other form parameters', async () => {
    const token = await logoutToken();
    expect((await post(`state=x&${form(token)}&foo=bar`)).status).toBe(200);
  });

  it('answers 405 with Allow: POST to other methods', async () => {
    const response = await post('', null, 'GET');
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('is 400 on a tenant whose events block has no backchannelLogout', async () => {
    tenant = tenantOf({ issuers: [{ issuer: issuer.issuer, audiences: ['https://api.acme.test'] }], events: { ssf: [] } });
    try {
      await expectRefused(await logoutToken(), /not configured/);
    } finally {
      tenant = tenantOf({
        issuers: [{ issuer: issuer.issuer, audiences: ['https://api.acme.test'], algorithms: ['RS256', 'ES256'], requiredType: 'at+jwt' }],
        events: { backchannelLogout: { audiences: ['another-client', CLIENT] } },
      });
    }
  });
});

describe('failures the provider should retry', () => {
  it('issuer keys unreachable: 503 issuer_unavailable with Retry-After, nothing changed', async () => {
    const down = await TestIssuer.create({ publish: false });
    await down.serve('/.well-known/openid-configuration', { status: 500 });
    const saved = tenant;
    tenant = tenantOf({ issuers: [{ issuer: down.issuer, audiences: ['x'] }], events: { backchannelLogout: { audiences: [CLIENT] } } });
    try {
      const response = await post(form(await logoutToken({}, { from: down })));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('30');
      expect(await response.json()).toMatchObject({ error: 'issuer_unavailable' });
      expect(sink.batches).toEqual([]);
    } finally {
      tenant = saved;
    }
  });

  it('tenant state unreachable: 503 revocation_unavailable, logged', async () => {
    sink.failure = 'throw';
    const response = await post(form(await logoutToken()));
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: 'revocation_unavailable' });
    expect(lines).toEqual([expect.objectContaining({ event: 'revocation_event_refused', status: 503, error: 'revocation_unavailable', note: expect.stringMatching(/TenantState/) })]);
  });
});

/** Type-level: a Durable Object stub whose class has applyEvents is a sink (TenantState in phase 2). */
function stubIsASink(stub: DurableObjectStub<StateWithEvents>): RevocationSink {
  return revocationSinkOf(stub);
}
void stubIsASink;
declare class StateWithEvents extends DurableObject {
  applyEvents(batch: EventBatch): Promise<BatchResult>;
}

describe('revocationSinkOf', () => {
  it('passes a batch to the object and fails past the deadline, so the endpoint answers 503', async () => {
    const batches: unknown[] = [];
    const answering = revocationSinkOf({ applyEvents: async (b) => { batches.push(b); return { outcome: 'applied' }; } });
    const message = { issuer: issuer.issuer, jti: 'j', rememberUntil: 2_000_000_000, effects: [] };
    expect(await answering.applyEvents(message)).toEqual({ outcome: 'applied' });
    expect(batches).toEqual([message]);
    const hung = revocationSinkOf({ applyEvents: () => new Promise(() => {}) }, 20);
    deps = { ...deps, sink: hung };
    const response = await post(form(await logoutToken()));
    expect(response.status).toBe(503);
    expect(lines[0]).toMatchObject({ error: 'revocation_unavailable', note: expect.stringMatching(/TenantState did not answer within 20 ms/) });
  });
});
