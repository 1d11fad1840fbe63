// The admin API's revoke, status and state endpoints inside workerd: real Directory and
// TenantState objects, every status they answer, DELETE retiring the state and a create
// resetting it.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app';
import { MAX_BODY_BYTES } from '../../src/admin/json-body';
import { MAX_IDENTIFIER_LENGTH } from '../../src/admin/state';
import { hash32, latestRevocation } from '../../src/revocation/revocation-list';
import { tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import { config, unique } from '../tenants/fixtures';
import { ADMIN_TOKEN as TOKEN, adminCaller, auditLines, json } from './caller';

let t: number;
let log: ReturnType<typeof vi.spyOn>;
const app = createAdminApp({ now: () => t });
const seconds = () => Math.floor(t / 1000);

const call = adminCaller(app);
const audits = () => auditLines(log);

/** A tenant created through the admin API, its state object reading the test's clock. */
async function tenant(): Promise<string> {
  const { id, domain } = unique('adm-state');
  const created = await call('PUT', `/tenants/${id}`, { body: config(id, [`api.${domain}`]) });
  expect(created.status).toBe(201);
  await runInDurableObject(tenantStateStub(env.TENANT_STATE, id), (instance: TenantState) => { instance.now = () => t; });
  return id;
}

const INITIAL = { status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: 0, revokedSessions: 0, revokedClaimValues: 0, deniedJtis: 0 };
const EMPTY = { entries: new Uint32Array(0), filter: null, horizon: 0, floor: 0, agedThrough: 0 };

beforeEach(() => {
  t = 1_900_000_000_000;
  log = vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterEach(() => log.mockRestore());

describe('GET /tenants/:id/state', () => {
  it('answers the summary of a new tenant, also to HEAD', async () => {
    const id = await tenant();
    const response = await call('GET', `/tenants/${id}/state`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await json(response)).toEqual(INITIAL);
    expect((await call('HEAD', `/tenants/${id}/state`)).status).toBe(200);
  });

  it('answers 404 unknown_tenant for a tenant the Directory does not hold', async () => {
    const response = await call('GET', `/tenants/${unique('none').id}/state`);
    expect(response.status).toBe(404);
    expect((await json(response)).error).toBe('unknown_tenant');
    expect((await json(await call('GET', '/tenants/NOT_AN_ID/state'))).error).toBe('unknown_tenant');
  });
});

describe('POST /tenants/:id/revoke', () => {
  it('revokes every token with {}: tokenVersion bumped and revokedBefore now, with an audit line', async () => {
    const id = await tenant();
    const response = await call('POST', `/tenants/${id}/revoke`, { body: {} });
    expect(response.status).toBe(200);
    const after = { ...INITIAL, tokenVersion: 2, revokedBefore: seconds() };
    expect(await json(response)).toEqual(after);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(after);
    const [line] = audits().filter((a) => a.action === 'tenant.revoke');
    expect(line).toMatchObject({ event: 'audit', who: expect.stringMatching(/^[0-9a-f]{12}$/), tenant: id, kind: 'all', before: INITIAL, after });
    expect(JSON.stringify(line)).not.toContain(TOKEN);
  });

  it('revokes one subject with {"sub"}, one session with {"sid"} and one token with {"jti", "exp"}', async () => {
    const id = await tenant();
    expect(await json(await call('POST', `/tenants/${id}/revoke`, { body: { sub: 'user-1' } })))
      .toEqual({ ...INITIAL, revokedSubjects: 1 });
    expect(await json(await call('POST', `/tenants/${id}/revoke`, { body: { sid: 'session-1' } })))
      .toEqual({ ...INITIAL, revokedSubjects: 1, revokedSessions: 1 });
    expect(await json(await call('POST', `/tenants/${id}/revoke`, { body: { jti: 'j-1', exp: seconds() + 600 } })))
      .toEqual({ ...INITIAL, revokedSubjects: 1, revokedSessions: 1, deniedJtis: 1 });
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual({ ...INITIAL, revokedSubjects: 1, revokedSessions: 1, deniedJtis: 1 });
    const state = tenantStateStub(env.TENANT_STATE, id);
    const snapshot = await state.snapshot();
    expect(latestRevocation(snapshot.subjects, hash32('user-1'))).toBe(seconds());
    expect(latestRevocation(snapshot.sessions, hash32('session-1'))).toBe(seconds());
    expect(latestRevocation(snapshot.jtis, hash32('j-1'))).toBeGreaterThanOrEqual(seconds());
    expect(await state.check({ sub: 'user-1', sid: 'session-1', jti: 'j-1' })).toEqual({ sub: seconds(), sid: seconds(), jti: expect.any(Number), asOf: seconds() });
    const lines = audits().filter((a) => a.action === 'tenant.revoke');
    expect(lines.map((a) => a.kind)).toEqual(['subject', 'session', 'jti']);
    expect(lines[1]).toMatchObject({ sid: 'session-1', after: { revokedSessions: 1 } });
  });

  it('accepts values up to 256 characters and refuses 257 with 400 invalid_request', async () => {
    const id = await tenant();
    for (const field of ['sub', 'sid', 'jti'] as const) {
      const body = (value: string) => (field === 'jti' ? { jti: value, exp: seconds() + 600 } : { [field]: value });
      const longest = await call('POST', `/tenants/${id}/revoke`, { body: body('v'.repeat(256)) });
      expect(longest.status, field).toBe(200);
      const over = await call('POST', `/tenants/${id}/revoke`, { body: body('v'.repeat(257)) });
      expect([over.status, (await json(over)).error], field).toEqual([400, 'invalid_request']);
    }
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual({ ...INITIAL, revokedSubjects: 1, revokedSessions: 1, deniedJtis: 1 });
  });

  it('takes a revocation into a full list (200, never 409): the oldest entry is forgotten and GET state shows the floor', async () => {
    const id = await tenant();
    // A capacity of 2 on the instance: the same path as the real 1,000,000.
    await runInDurableObject(tenantStateStub(env.TENANT_STATE, id), (instance: TenantState) => { instance.maxListEntries = 2; });
    const first = seconds();
    await call('POST', `/tenants/${id}/revoke`, { body: { sid: 's-1' } });
    t += 1_000;
    await call('POST', `/tenants/${id}/revoke`, { body: { sid: 's-2' } });
    t += 1_000;
    const full = await call('POST', `/tenants/${id}/revoke`, { body: { sid: 's-3' } });
    expect(full.status).toBe(200);
    const after = { ...INITIAL, revokedSessions: 2, floors: { sessions: first } };
    expect(await json(full)).toEqual(after);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(after);
    expect(audits().filter((a) => a.action === 'tenant.revoke').map((a) => a.sid)).toEqual(['s-1', 's-2', 's-3']);
    // Each list has its own floor; a revoke-all leaves the floors as they are.
    t += 1_000;
    for (const sub of ['u-1', 'u-2', 'u-3']) expect((await call('POST', `/tenants/${id}/revoke`, { body: { sub } })).status).toBe(200);
    expect(await json(await call('POST', `/tenants/${id}/revoke`, { body: {} })))
      .toMatchObject({ tokenVersion: 2, floors: { sessions: first, subjects: seconds() } });
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'all'],
    ['an empty sub', { sub: '' }],
    ['a numeric sub', { sub: 42 }],
    ['a sub over the length limit', { sub: 'x'.repeat(MAX_IDENTIFIER_LENGTH + 1) }],
    ['an empty sid', { sid: '' }],
    ['a numeric sid', { sid: 7 }],
    ['a sid over the length limit', { sid: 'x'.repeat(MAX_IDENTIFIER_LENGTH + 1) }],
    ['a jti over the length limit', { jti: 'x'.repeat(MAX_IDENTIFIER_LENGTH + 1), exp: 1_900_000_000 }],
    ['sub and sid together', { sub: 'u', sid: 's' }],
    ['a jti without exp', { jti: 'j-1' }],
    ['an exp without jti', { exp: 1_900_000_000 }],
    ['a fractional exp', { jti: 'j-1', exp: 1.5 }],
    ['a string exp', { jti: 'j-1', exp: '1900000000' }],
    ['a negative exp', { jti: 'j-1', exp: -1 }],
    ['sub and jti together', { sub: 'u', jti: 'j-1', exp: 1_900_000_000 }],
    ['an unknown field', { all: true }],
  ])('refuses %s with 400 invalid_request and changes nothing', async (_, body) => {
    const id = await tenant();
    const response = await call('POST', `/tenants/${id}/revoke`, { body });
    expect(response.status).toBe(400);
    const answer = await json(response);
    expect(answer.error).toBe('invalid_request');
    expect(typeof answer.error_description).toBe('string');
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(INITIAL);
    expect(audits()).toEqual([expect.objectContaining({ action: 'tenant.create' })]);
  });

  it('answers 404 unknown_tenant and leaves no state behind', async () => {
    const id = unique('none').id;
    const response = await call('POST', `/tenants/${id}/revoke`, { body: {} });
    expect(response.status).toBe(404);
    expect((await json(response)).error).toBe('unknown_tenant');
    expect(await tenantStateStub(env.TENANT_STATE, id).summary()).toEqual(INITIAL);
  });

  it('applies the admin body rules: 413, 415, invalid_json, 401, 405', async () => {
    const id = await tenant();
    const path = `/tenants/${id}/revoke`;
    const big = await call('POST', path, { raw: JSON.stringify({ sub: 'x'.repeat(MAX_BODY_BYTES) }), headers: { 'content-type': 'application/json' } });
    expect([big.status, (await json(big)).error]).toEqual([413, 'body_too_large']);
    const text = await call('POST', path, { raw: '{}', headers: { 'content-type': 'text/plain' } });
    expect([text.status, (await json(text)).error]).toEqual([415, 'unsupported_media_type']);
    const none = await call('POST', path, { raw: '{}' });
    expect(none.status).toBe(415);
    const broken = await call('POST', path, { raw: '{"sub":', headers: { 'content-type': 'application/json' } });
    expect([broken.status, (await json(broken)).error]).toEqual([400, 'invalid_json']);
    const anonymous = await call('POST', path, { body: {}, token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="admin"');
    const get = await call('GET', path);
    expect([get.status, get.headers.get('allow'), (await json(get)).error]).toEqual([405, 'POST', 'method_not_allowed']);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(INITIAL);
  });
});

describe('POST /tenants/:id/status', () => {
  it('moves to hold and back, bumping tokenVersion each time, and changes nothing on a repeat', async () => {
    const id = await tenant();
    const held = await call('POST', `/tenants/${id}/status`, { body: { status: 'hold' } });
    expect(held.status).toBe(200);
    expect(await json(held)).toEqual({ ...INITIAL, status: 'hold', tokenVersion: 2, revokedBefore: seconds() });
    t += 10_000;
    expect(await json(await call('POST', `/tenants/${id}/status`, { body: { status: 'hold' } })))
      .toEqual({ ...INITIAL, status: 'hold', tokenVersion: 2, revokedBefore: seconds() - 10 });
    expect(await json(await call('POST', `/tenants/${id}/status`, { body: { status: 'active' } })))
      .toEqual({ ...INITIAL, tokenVersion: 3, revokedBefore: seconds() });
    const lines = audits().filter((a) => a.action === 'tenant.status');
    expect(lines.map((a) => [a.status, a.before.status, a.after.status])).toEqual([['hold', 'active', 'hold'], ['hold', 'hold', 'hold'], ['active', 'hold', 'active']]);
  });

  it.each([
    ['an unknown status', { status: 'paused' }],
    ['no status', {}],
    ['an extra field', { status: 'hold', reason: 'x' }],
    ['an array', [{ status: 'hold' }]],
  ])('refuses %s with 400 invalid_request', async (_, body) => {
    const id = await tenant();
    const response = await call('POST', `/tenants/${id}/status`, { body });
    expect([response.status, (await json(response)).error]).toEqual([400, 'invalid_request']);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(INITIAL);
  });

  it('answers 404 unknown_tenant, and 405 to other methods', async () => {
    const response = await call('POST', `/tenants/${unique('none').id}/status`, { body: { status: 'hold' } });
    expect([response.status, (await json(response)).error]).toEqual([404, 'unknown_tenant']);
    const put = await call('PUT', `/tenants/x/status`, { body: { status: 'hold' } });
    expect([put.status, put.headers.get('allow')]).toEqual([405, 'POST']);
    const post = await call('POST', `/tenants/x/state`, { body: {} });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });
});

describe('DELETE /tenants/:id', () => {
  it('retires the tenant state: hold, every token revoked, nothing forgotten; a re-create starts clean', async () => {
    const id = await tenant();
    await call('POST', `/tenants/${id}/status`, { body: { status: 'hold' } });
    await call('POST', `/tenants/${id}/revoke`, { body: { sub: 'user-1' } });
    t += 3_000;
    expect((await call('DELETE', `/tenants/${id}`)).status).toBe(204);
    expect((await call('GET', `/tenants/${id}/state`)).status).toBe(404);
    // Isolates may still serve the deleted tenant: its state must not let any token through.
    expect(await tenantStateStub(env.TENANT_STATE, id).summary())
      .toEqual({ ...INITIAL, status: 'hold', tokenVersion: 3, revokedBefore: seconds(), revokedSubjects: 1 });
    const { domain } = unique('reuse');
    expect((await call('PUT', `/tenants/${id}`, { body: config(id, [`api.${domain}`]) })).status).toBe(201);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(INITIAL);
    expect(await tenantStateStub(env.TENANT_STATE, id).snapshot())
      .toEqual({ status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY, sessions: EMPTY, jtis: EMPTY, claimValues: EMPTY, asOf: seconds(),
        dpopNonceSecret: expect.any(Uint8Array) });
  });

  it('still answers 404 for an unknown tenant, retiring whatever state its id had', async () => {
    const id = unique('gone').id;
    await tenantStateStub(env.TENANT_STATE, id).revokeSubject('user-1');
    const response = await call('DELETE', `/tenants/${id}`);
    expect([response.status, (await json(response)).error]).toEqual([404, 'unknown_tenant']);
    expect(await tenantStateStub(env.TENANT_STATE, id).summary()).toMatchObject({ status: 'hold', tokenVersion: 2, revokedSubjects: 1 });
  });

  it('keeps the state when the removal is refused', async () => {
    const id = await tenant();
    await call('POST', `/tenants/${id}/revoke`, { body: {} });
    const refused = await call('DELETE', `/tenants/${id}`, { headers: { 'if-match': '"stale"' } });
    expect(refused.status).toBe(412);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toMatchObject({ status: 'active', tokenVersion: 2 });
  });

  it('keeps a replace from touching a live state: only a create resets it', async () => {
    const id = await tenant();
    await call('POST', `/tenants/${id}/revoke`, { body: { sub: 'user-1' } });
    const { domain } = unique('replace');
    expect((await call('PUT', `/tenants/${id}`, { body: config(id, [`api.${domain}`]) })).status).toBe(200);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual({ ...INITIAL, revokedSubjects: 1 });
  });

  it('leaves a re-created tenant on hold when its reset fails (500), and a repeated PUT finishes it', async () => {
    const id = await tenant();
    await call('POST', `/tenants/${id}/revoke`, { body: { sub: 'user-1' } });
    expect((await call('DELETE', `/tenants/${id}`)).status).toBe(204);
    const real = env.TENANT_STATE;
    const broken = {
      idFromName: (name: string) => real.idFromName(name),
      get: (objectId: DurableObjectId) => ({ reset: () => Promise.reject(new Error('object unreachable')), summary: () => real.get(objectId).summary() }),
    } as unknown as typeof env.TENANT_STATE;
    const { domain } = unique('again');
    const body = config(id, [`api.${domain}`]);
    const failed = await call('PUT', `/tenants/${id}`, { body, env: { ...env, TENANT_STATE: broken } });
    expect([failed.status, (await json(failed)).error]).toEqual([500, 'internal_error']);
    // Fail closed: the tenant exists, its state is the deleted one's, on hold.
    expect(await json(await call('GET', `/tenants/${id}/state`))).toMatchObject({ status: 'hold', revokedSubjects: 1 });
    expect((await call('PUT', `/tenants/${id}`, { body })).status).toBe(200);
    expect(await json(await call('GET', `/tenants/${id}/state`))).toEqual(INITIAL);
  });

  it('retires the state again when a DELETE lands between a change and its after-check', async () => {
    const id = await tenant();
    const real = env.DIRECTORY;
    let existsCalls = 0;
    // The Directory says the tenant exists before the change and not after: a DELETE ran in between.
    const racing = {
      idFromName: (name: string) => real.idFromName(name),
      get: (objectId: DurableObjectId) => ({ exists: async () => ++existsCalls === 1 }),
    } as unknown as typeof env.DIRECTORY;
    await tenantStateStub(env.TENANT_STATE, id).retire();
    const response = await call('POST', `/tenants/${id}/status`, { body: { status: 'active' }, env: { ...env, DIRECTORY: racing } });
    expect([response.status, (await json(response)).error]).toEqual([404, 'unknown_tenant']);
    expect(await tenantStateStub(env.TENANT_STATE, id).summary()).toMatchObject({ status: 'hold' });
    expect(await tenantStateStub(env.TENANT_STATE, id).reset({ ifRetired: true })).toBe(true);
  });
});
