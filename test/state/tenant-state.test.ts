// The TenantState object inside workerd: transitions and the version bump, each revocation kind,
// pruning by its alarm, wipe, and the DNS-check count.
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkRevocation } from '../../src/state/revocation';
import {
  JTI_KEPT_PAST_EXP_SECONDS, tenantStateStub, type TenantState,
} from '../../src/state/tenant-state';
import { unique } from '../tenants/fixtures';

// Ahead of the real clock, so an alarm scheduled from this clock never fires on its own.
let t: number;
const seconds = () => Math.floor(t / 1000);
const DAY = 24 * 60 * 60 * 1000;

beforeEach(() => { t = 1_900_000_000_000; });

/** A fresh tenant's object, reading the test's clock. */
async function object() {
  const stub = tenantStateStub(env.TENANT_STATE, unique('state').id);
  await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => t; });
  return stub;
}

const rows = (stub: DurableObjectStub<TenantState>, table: 'revoked_subjects' | 'denied_jtis') =>
  runInDurableObject(stub, (_: TenantState, state) => state.storage.sql.exec(`SELECT * FROM ${table}`).toArray());

describe('TenantState', () => {
  it('starts active at tokenVersion 1 with nothing revoked', async () => {
    const state = await object();
    expect(await state.snapshot()).toEqual({ status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: {}, deniedJtis: {} });
    expect(await state.summary()).toEqual({ status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: 0, deniedJtis: 0 });
  });

  it('bumps tokenVersion and sets revokedBefore on every move into or out of active, and not on a repeat', async () => {
    const state = await object();
    const held = await state.setStatus('hold');
    expect(held).toMatchObject({ status: 'hold', tokenVersion: 2, revokedBefore: seconds() });
    t += 5_000;
    expect(await state.setStatus('hold')).toEqual(held);
    t += 5_000;
    expect(await state.setStatus('active')).toMatchObject({ status: 'active', tokenVersion: 3, revokedBefore: seconds() });
    expect(await state.setStatus('active')).toMatchObject({ tokenVersion: 3 });
  });

  it('revokes every token issued before now with revokeAll, and none issued after', async () => {
    const state = await object();
    const before = seconds() - 1;
    t += 10_000;
    expect(await state.revokeAll()).toMatchObject({ status: 'active', tokenVersion: 2, revokedBefore: seconds() });
    const snapshot = await state.snapshot();
    const policy = { tenantId: 'acme', versionClaim: null, tenantClaim: null };
    expect(checkRevocation({ subject: 'u', issuedAt: before, claims: {} }, snapshot, policy))
      .toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'revoked' } });
    expect(checkRevocation({ subject: 'u', issuedAt: seconds(), claims: {} }, snapshot, policy).ok).toBe(true);
  });

  it('revokes one subject at the time of the call, keeping the later time on a repeat', async () => {
    const state = await object();
    const first = seconds();
    expect(await state.revokeSubject('user-1')).toMatchObject({ tokenVersion: 1, revokedBefore: 0, revokedSubjects: 1 });
    t += 60_000;
    await state.revokeSubject('user-1');
    expect((await state.snapshot()).revokedSubjects).toEqual({ 'user-1': first + 60 });
    t -= 30_000;
    await state.revokeSubject('user-1');
    expect((await state.snapshot()).revokedSubjects).toEqual({ 'user-1': first + 60 });
  });

  it('keeps a subject named like an Object.prototype member as plain data', async () => {
    const state = await object();
    await state.revokeSubject('__proto__');
    const snapshot = await state.snapshot();
    expect(Object.hasOwn(snapshot.revokedSubjects, '__proto__')).toBe(true);
    expect(checkRevocation({ subject: '__proto__', issuedAt: seconds() - 1, claims: {} }, snapshot,
      { tenantId: 'acme', versionClaim: null, tenantClaim: null }).ok).toBe(false);
    expect(checkRevocation({ subject: 'constructor', issuedAt: seconds() - 1, claims: {} }, snapshot,
      { tenantId: 'acme', versionClaim: null, tenantClaim: null }).ok).toBe(true);
  });

  it('denies a jti until its exp plus the largest clock tolerance, without reading a token already past that', async () => {
    const state = await object();
    const exp = seconds() + 600;
    expect(await state.revokeJti('j-1', exp)).toMatchObject({ deniedJtis: 1 });
    expect(await state.revokeJti('j-old', seconds() - JTI_KEPT_PAST_EXP_SECONDS)).toMatchObject({ deniedJtis: 1 });
    expect((await state.snapshot()).deniedJtis).toEqual({ 'j-1': exp });
    t = (exp + JTI_KEPT_PAST_EXP_SECONDS - 1) * 1000;
    expect((await state.snapshot()).deniedJtis).toEqual({ 'j-1': exp });
    t += 1000;
    expect((await state.snapshot()).deniedJtis).toEqual({});
    expect(await state.summary()).toMatchObject({ deniedJtis: 0 });
  });

  it('prunes expired entries by its alarm, scheduled for the next expiry', async () => {
    const state = await object();
    await state.revokeSubject('user-1');
    const exp = seconds() + 60;
    await state.revokeJti('j-1', exp);
    await state.revokeJti('j-2', exp + 3_600);
    const alarm = await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm());
    expect(alarm).toBe((exp + JTI_KEPT_PAST_EXP_SECONDS + 1) * 1000);

    t = alarm!;
    expect(await runDurableObjectAlarm(state)).toBe(true);
    expect((await rows(state, 'denied_jtis')).map((r) => r.jti)).toEqual(['j-2']);
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm()))
      .toBe((exp + 3_600 + JTI_KEPT_PAST_EXP_SECONDS + 1) * 1000);

    t += 31 * DAY;
    expect((await state.snapshot()).revokedSubjects).toEqual({});
    expect(await rows(state, 'revoked_subjects')).toHaveLength(1); // gone from reads before the alarm runs
    expect(await runDurableObjectAlarm(state)).toBe(true);
    expect(await rows(state, 'revoked_subjects')).toEqual([]);
    expect(await rows(state, 'denied_jtis')).toEqual([]);
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm())).toBeNull();
  });

  it('keeps a subject for 30 days after its revocation', async () => {
    const state = await object();
    await state.revokeSubject('user-1');
    t += 30 * DAY - 1_000;
    expect(await state.summary()).toMatchObject({ revokedSubjects: 1 });
    t += 1_000;
    expect(await state.summary()).toMatchObject({ revokedSubjects: 0 });
  });

  it('wipes everything, alarm included, so a reused id starts clean', async () => {
    const state = await object();
    await state.setStatus('hold');
    await state.revokeSubject('user-1');
    await state.revokeJti('j-1', seconds() + 60);
    await state.wipe();
    expect(await state.snapshot()).toEqual({ status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: {}, deniedJtis: {} });
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm())).toBeNull();
    expect(await state.revokeSubject('user-2')).toMatchObject({ revokedSubjects: 1 });
  });
});

describe('TenantState.recordDnsCheck', () => {
  const enforce = { failuresBeforeHold: 3, mode: 'enforce' } as const;

  it('holds after failuresBeforeHold consecutive mismatches, with the same bump as setStatus', async () => {
    const state = await object();
    expect(await state.recordDnsCheck('mismatch', enforce)).toEqual({ failures: 1, held: false, status: 'active' });
    expect(await state.recordDnsCheck('mismatch', enforce)).toEqual({ failures: 2, held: false, status: 'active' });
    t += 300_000;
    expect(await state.recordDnsCheck('mismatch', enforce)).toEqual({ failures: 3, held: true, status: 'hold' });
    expect(await state.summary()).toMatchObject({ status: 'hold', tokenVersion: 2, revokedBefore: seconds() });
    expect(await state.recordDnsCheck('mismatch', enforce)).toEqual({ failures: 4, held: false, status: 'hold' });
    expect(await state.summary()).toMatchObject({ tokenVersion: 2 });
  });

  it('resets the count on ok and leaves it on transient', async () => {
    const state = await object();
    await state.recordDnsCheck('mismatch', enforce);
    await state.recordDnsCheck('mismatch', enforce);
    expect(await state.recordDnsCheck('transient', enforce)).toEqual({ failures: 2, held: false, status: 'active' });
    expect(await state.recordDnsCheck('ok', enforce)).toEqual({ failures: 0, held: false, status: 'active' });
    expect(await state.recordDnsCheck('mismatch', enforce)).toEqual({ failures: 1, held: false, status: 'active' });
  });

  it('only counts in report mode', async () => {
    const state = await object();
    const report = { failuresBeforeHold: 1, mode: 'report' } as const;
    expect(await state.recordDnsCheck('mismatch', report)).toEqual({ failures: 1, held: false, status: 'active' });
    expect(await state.recordDnsCheck('mismatch', report)).toEqual({ failures: 2, held: false, status: 'active' });
    expect(await state.summary()).toMatchObject({ status: 'active', tokenVersion: 1 });
  });

  it('stays on hold after an ok verdict until an admin sets active, which restarts the count', async () => {
    const state = await object();
    const once = { failuresBeforeHold: 1, mode: 'enforce' } as const;
    expect(await state.recordDnsCheck('mismatch', once)).toMatchObject({ held: true, status: 'hold' });
    expect(await state.recordDnsCheck('ok', once)).toEqual({ failures: 0, held: false, status: 'hold' });
    expect(await state.summary()).toMatchObject({ status: 'hold' });
    await state.recordDnsCheck('mismatch', enforce);
    expect(await state.setStatus('active')).toMatchObject({ status: 'active', tokenVersion: 3 });
    expect(await state.recordDnsCheck('mismatch', enforce)).toEqual({ failures: 1, held: false, status: 'active' });
  });
});
