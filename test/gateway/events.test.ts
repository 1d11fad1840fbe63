// Revocation events through the whole Worker: a logout token or a SET signed by the tenant's
// provider revokes the session or the subject at the real TenantState object, so the next
// request with an affected access token is refused; invalid ones change nothing; the endpoints
// exist only on tenants with an `events` block, after the status and perIp steps.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MAX_LIST_ENTRIES, tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import { TestIssuer } from '../support/issuer';
import { ADMIN, gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';

let edge: TestEdge;
let issuer: TestIssuer;
let transmitter: TestIssuer;
let host: string;
let id: string;

// Every decision in the log (production samples allowed ones).
gatewayTest('ev', { env: { LOG_SAMPLE_RATE: '1' }, issuer: { algs: ['RS256'] } }, async (made) => {
  ({ edge, issuer, id, host } = made);
  transmitter = await TestIssuer.create({ algs: ['ES256'] });
});

async function put(events: unknown = {
  backchannelLogout: { audiences: ['web-client'] },
  ssf: [{ issuer: transmitter.issuer, audience: 'https://receiver.example', jwksUri: transmitter.jwksUri }],
}, extra: Record<string, unknown> = {}) {
  await edge.putTenant(tenantConfig({ id, hosts: [host], issuer, events, revocation: { maxStalenessSeconds: 0 }, ...extra }));
}
const seconds = () => Math.floor(edge.now / 1000);
const access = (claims: Record<string, unknown>) => issuer.sign({ aud: `https://${host}`, iat: seconds() - 10, ...claims }, { now: edge.now });
const logoutToken = (claims: Record<string, unknown>) => issuer.sign({
  aud: 'web-client', jti: crypto.randomUUID(), events: { [LOGOUT_EVENT]: {} }, exp: undefined, ...claims,
}, { now: edge.now, header: { typ: 'logout+jwt' } });
const logout = (token: string) => edge.fetch(new Request(`https://${host}/_edge/backchannel-logout`, {
  method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}`,
}));
const set = (payload: Record<string, unknown>) => transmitter.sign({
  aud: 'https://receiver.example', jti: crypto.randomUUID(), exp: undefined, ...payload,
}, { now: edge.now, header: { typ: 'secevent+jwt' } });
const push = (token: string) => edge.fetch(new Request(`https://${host}/_edge/ssf`, {
  method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: token,
}));
const status = async (token: string) => (await edge.request(`https://${host}/orders`, { token })).status;

describe('OIDC back-channel logout at the gateway', () => {
  it('revokes the session a logout token names, and only it; 200 no-store', async () => {
    await put();
    const inSession = await access({ sub: 'alice', sid: 's-1' });
    const otherSession = await access({ sub: 'alice', sid: 's-2' });
    expect(await status(inSession)).toBe(200);
    const answer = await logout(await logoutToken({ sub: 'alice', sid: 's-1' }));
    expect(answer.status, await answer.clone().text()).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('x-request-id')).toBeTruthy();
    expect(await status(inSession)).toBe(401);
    expect(await status(otherSession)).toBe(200);
    expect(edge.decisions().some((d) => d.outcome === 'event')).toBe(true);
  });

  it('without sid, revokes the subject; an invalid token is 400 and changes nothing; a replay answers 200 again', async () => {
    await put();
    const token = await access({ sub: 'bob' });
    const bad = await logout(await logoutToken({ sub: 'bob', nonce: 'n' }));
    expect([bad.status, (await bad.json() as { error: string }).error]).toEqual([400, 'invalid_request']);
    expect(await status(token)).toBe(200);
    const once = await logoutToken({ sub: 'bob' });
    expect((await logout(once)).status).toBe(200);
    expect(await status(token)).toBe(401);
    expect((await logout(once)).status).toBe(200);
  });

  it('takes a logout into a session list at its real capacity (1,000,000): 200, and the session is revoked', async () => {
    await put();
    const stub = tenantStateStub(env.TENANT_STATE, id);
    await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => edge.now; });
    expect((await logout(await logoutToken({ sub: 'a', sid: 'first' }))).status).toBe(200);
    // At the capacity without writing a million rows: the kept size is what the capacity reads.
    await runInDurableObject(stub, (_: TenantState, state) => {
      state.storage.sql.exec("UPDATE list_sizes SET entries = ? WHERE list = 'sessions'", MAX_LIST_ENTRIES);
    });
    edge.advance(1_000);
    const session = await access({ sub: 'b', sid: 'victim', iat: seconds() });
    expect(await status(session)).toBe(200);
    const answer = await logout(await logoutToken({ sub: 'b', sid: 'victim' }));
    expect(answer.status, await answer.clone().text()).toBe(200);
    expect(await status(session)).toBe(401);
  });

  it('keeps revoking when the session list is full: a login/logout loop fills it, every logout is 200 and every logged-out token refused', async () => {
    await put();
    // A capacity of 3 on the object: the same path as the real 1,000,000.
    await runInDurableObject(tenantStateStub(env.TENANT_STATE, id), (instance: TenantState) => {
      instance.now = () => edge.now;
      instance.maxListEntries = 3;
    });
    const loggedOut: string[] = [];
    for (let i = 0; i < 8; i++) {
      const session = await access({ sub: 'looper', sid: `loop-${i}`, iat: seconds() });
      expect(await status(session)).toBe(200);
      const answer = await logout(await logoutToken({ sub: 'looper', sid: `loop-${i}` }));
      expect(answer.status, await answer.clone().text()).toBe(200);
      loggedOut.push(session);
      for (const token of loggedOut) expect(await status(token)).toBe(401);
      edge.advance(1_000);
    }
    // The list forgot its oldest sessions behind its floor: tokens with a sid issued at or before it are refused as a group.
    const state = await (await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/state`, { headers: ADMIN }))).json() as Record<string, unknown>;
    expect(state).toMatchObject({ revokedSessions: 3, floors: { sessions: expect.any(Number) } });
    expect(await status(await access({ sub: 'other', sid: 'never-logged-out', iat: seconds() - 7 }))).toBe(401);
    // A newer session, and a token without sid, are not affected.
    expect(await status(await access({ sub: 'other', sid: 'new-session', iat: seconds() }))).toBe(200);
    expect(await status(await access({ sub: 'other', iat: seconds() - 7 }))).toBe(200);
  });

  it('a logout token is never an access token, whatever audience it names', async () => {
    await put(undefined, { issuers: [{ issuer: issuer.issuer, audiences: [`https://${host}`, 'web-client'] }] });
    const token = await logoutToken({ sub: 'carol', sid: 's-9' });
    const response = await edge.request(`https://${host}/orders`, { token });
    expect([response.status, (await response.json() as { reason: string }).reason]).toEqual([401, 'wrong_type']);
  });
});

describe('Shared Signals push at the gateway', () => {
  it('CAEP session-revoked with a complex subject revokes the session; RISC account-disabled the subject; 202', async () => {
    await put();
    const session = await access({ sub: 'dave', sid: 'sess-7' });
    const user = await access({ sub: 'erin' });
    const first = await push(await set({
      sub_id: { format: 'complex', user: { format: 'iss_sub', iss: issuer.issuer, sub: 'dave' }, session: { format: 'opaque', id: 'sess-7' } },
      events: { [`${CAEP}session-revoked`]: { event_timestamp: seconds() } },
    }));
    expect(first.status, await first.clone().text()).toBe(202);
    expect(await status(session)).toBe(401);
    expect(await status(user)).toBe(200);
    expect((await push(await set({
      sub_id: { format: 'iss_sub', iss: issuer.issuer, sub: 'erin' }, events: { [`${RISC}account-disabled`]: {} },
    }))).status).toBe(202);
    expect(await status(user)).toBe(401);
  });

  it('a SET and a logout token with a fractional iat (a NumericDate may have one) are applied', async () => {
    await put();
    const user = await access({ sub: 'erin' });
    const session = await access({ sub: 'dave', sid: 'sess-9' });
    for (const iat of [seconds() - 0.5, seconds() + 0.25]) {
      const answer = await push(await set({ iat, sub_id: { format: 'opaque', id: 'erin' }, events: { [`${RISC}account-disabled`]: {} } }));
      expect([answer.status, await answer.text()]).toEqual([202, '']);
    }
    expect(await status(user)).toBe(401);
    expect((await logout(await logoutToken({ sub: 'dave', sid: 'sess-9', iat: seconds() - 0.5 }))).status).toBe(200);
    expect(await status(session)).toBe(401);
  });

  it('an email subject revokes tokens whose configured claim holds it (domain in any case), per transmitter, issued at or before', async () => {
    const other = await TestIssuer.create({ algs: ['ES256'] });
    await put({ ssf: [
      { issuer: transmitter.issuer, audience: 'https://receiver.example', jwksUri: transmitter.jwksUri },
      { issuer: other.issuer, audience: 'https://receiver.example', jwksUri: other.jwksUri, subjectClaims: { email: '/ext/upn' } },
    ] });
    const byEmail = await access({ sub: 'gina', email: 'Gina@Acme.example' });
    const byUpn = await access({ sub: 'gina-2', ext: { upn: 'Gina@acme.EXAMPLE' } });
    const stranger = await access({ sub: 'hal', email: 'hal@acme.example' });
    expect(await status(byEmail)).toBe(200);
    const credentialChange = { sub_id: { format: 'email', email: 'Gina@ACME.example' }, events: { [`${CAEP}credential-change`]: {} } };
    expect((await push(await set(credentialChange))).status).toBe(202);
    // The first transmitter names `email`: the token holding it there is refused, the one holding it under ext.upn is not.
    expect(await status(byEmail)).toBe(401);
    expect(await status(byUpn)).toBe(200);
    expect(await status(stranger)).toBe(200);
    const fromOther = await other.sign({ aud: 'https://receiver.example', jti: crypto.randomUUID(), exp: undefined, ...credentialChange },
      { now: edge.now, header: { typ: 'secevent+jwt' } });
    expect((await push(fromOther)).status).toBe(202);
    expect(await status(byUpn)).toBe(401);
    // A token issued after the event is not affected.
    edge.advance(2_000);
    expect(await status(await access({ sub: 'gina', email: 'gina@acme.example', iat: seconds() }))).toBe(200);
    const state = await (await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/state`, { headers: ADMIN }))).json();
    expect(state).toMatchObject({ revokedClaimValues: 2, revokedSubjects: 0 });
  });

  it('a SET from an unknown transmitter or with a bad signature is 400 with an RFC 8935 code and changes nothing', async () => {
    await put();
    const user = await access({ sub: 'frank' });
    const stranger = await TestIssuer.create({ algs: ['ES256'] });
    const foreign = await stranger.sign({ aud: 'https://receiver.example', jti: 'j', events: { [`${RISC}account-disabled`]: {} },
      sub_id: { format: 'opaque', id: 'frank' }, exp: undefined }, { now: edge.now });
    const refused = await push(foreign);
    expect([refused.status, (await refused.json() as { err: string }).err]).toEqual([400, 'invalid_issuer']);
    expect(await status(user)).toBe(200);
  });
});

describe('where the endpoints are', () => {
  it('on a tenant without events they are ordinary paths (a token route here)', async () => {
    await put(null);
    expect((await logout(await logoutToken({ sub: 'x' }))).status).toBe(401);
    expect((await push('x.y.z')).status).toBe(401);
  });

  it('a tenant on hold refuses them before anything (status comes first)', async () => {
    await put();
    const held = await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/status`, { method: 'POST', headers: ADMIN, body: JSON.stringify({ status: 'hold' }) }));
    expect(held.status).toBe(200);
    expect((await logout(await logoutToken({ sub: 'x' }))).status).toBe(403);
  });

  it('perIp counts them', async () => {
    await put(undefined, { rateLimit: { perIp: { limit: 1, windowSeconds: 60 } } });
    const send = async () => (await edge.fetch(new Request(`https://${host}/_edge/backchannel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.9' }, body: 'logout_token=x',
    }))).status;
    expect(await send()).toBe(400);
    expect(await send()).toBe(429);
  });
});
