// The TenantState object inside workerd: transitions and the version bump, each revocation kind,
// the compact snapshot and the exact check behind it, pruning by its alarm after retainSeconds,
// the list capacity (revocation-capacity.test.ts fills lists), retire and reset, the schema
// migration, and the DNS-check count.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkRevocation, settleRevocation } from '../../src/revocation/rules';
import { hash32, latestRevocation } from '../../src/revocation/revocation-list';
import {
  JTI_KEPT_PAST_EXP_SECONDS, JTI_REACH_SECONDS, MAX_LIST_ENTRIES, tenantStateStub, type TenantState, type TenantStateSnapshot,
} from '../../src/revocation/tenant-state';
import { unique } from '../tenants/fixtures';

// Ahead of the real clock, so an alarm scheduled from this clock never fires on its own.
let t: number;
const seconds = () => Math.floor(t / 1000);
const DAY = 24 * 60 * 60 * 1000;

beforeEach(() => { t = 1_900_000_000_000; });

/** A fresh tenant's object, reading the test's clock. */
async function object(name = unique('state').id) {
  const stub = tenantStateStub(env.TENANT_STATE, name);
  await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => t; });
  return stub;
}

type Stub = Awaited<ReturnType<typeof object>>;

const rows = (stub: Stub, table: 'revoked_subjects' | 'revoked_sessions' | 'denied_jtis') =>
  runInDurableObject(stub, (_: TenantState, state) => state.storage.sql.exec(`SELECT * FROM ${table}`).toArray());

const EMPTY = { entries: new Uint32Array(0), filter: null, horizon: 0, floor: 0, agedThrough: 0 };
const CLEAN_SNAPSHOT = {
  status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY, sessions: EMPTY, jtis: EMPTY, claimValues: EMPTY, asOf: expect.any(Number),
  dpopNonceSecret: expect.any(Uint8Array),
};
/** check()'s answer about values in no list. */
const NOTHING = { sub: null, sid: null, jti: null, asOf: expect.any(Number) };
/** How long a subject or session counts by default: a day, plus the largest clock tolerance. */
const KEPT_S = 86_400 + 300;
const CLEAN_SUMMARY = {
  status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: 0, revokedSessions: 0, revokedClaimValues: 0, deniedJtis: 0,
};
const policy = { tenantId: 'acme', versionClaim: null, tenantClaim: null };

/** The time a snapshot ships for a value (-1: none), whatever else shares its hash. */
const shipped = (snapshot: TenantStateSnapshot, list: 'subjects' | 'sessions' | 'jtis', value: string) =>
  latestRevocation(snapshot[list], hash32(value));

/** The whole check as an isolate makes it: the snapshot, then the object when it asks. */
async function judge(stub: Stub, token: { subject: string | null; issuedAt: number | null; claims: Record<string, unknown> }) {
  const snapshot = await stub.snapshot();
  const checked = checkRevocation(token, snapshot, policy);
  return checked.ok === 'ask' ? settleRevocation(token, snapshot, await stub.check(checked.query)) : checked;
}

describe('TenantState', () => {
  it('starts active at tokenVersion 1 with nothing revoked', async () => {
    const state = await object();
    expect(await state.snapshot()).toEqual(CLEAN_SNAPSHOT);
    expect(await state.summary()).toEqual(CLEAN_SUMMARY);
    expect(await state.check({ sub: 'u', sid: 's', jti: 'j' })).toEqual({ ...NOTHING, asOf: seconds() });
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

  it('revokes every token issued at or before now with revokeAll, the same second included, and none issued after', async () => {
    const state = await object();
    const before = seconds() - 1;
    t += 10_500;
    expect(await state.revokeAll()).toMatchObject({ status: 'active', tokenVersion: 2, revokedBefore: seconds() });
    expect(await judge(state, { subject: 'u', issuedAt: before, claims: {} }))
      .toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'revoked' } });
    expect((await judge(state, { subject: 'u', issuedAt: seconds(), claims: {} })).ok).toBe(false);
    expect((await judge(state, { subject: 'u', issuedAt: seconds() + 1, claims: {} })).ok).toBe(true);
  });

  for (const [kind, list, revoke, place] of [
    ['subject', 'subjects', (s: Stub, v: string) => s.revokeSubject(v), (v: string) => ({ subject: v, claims: {} })],
    ['session', 'sessions', (s: Stub, v: string) => s.revokeSession(v), (v: string) => ({ subject: 'u', claims: { sid: v } })],
  ] as const) {
    it(`revokes one ${kind} at the time of the call, keeping the later time on a repeat`, async () => {
      const state = await object();
      const first = seconds();
      const summary = (await revoke(state, 'v-1'));
      expect(summary).toEqual({ ...CLEAN_SUMMARY, [kind === 'subject' ? 'revokedSubjects' : 'revokedSessions']: 1 });
      t += 60_000;
      await revoke(state, 'v-1');
      expect(shipped(await state.snapshot(), list, 'v-1')).toBe(first + 60);
      expect(await state.check({ [kind === 'subject' ? 'sub' : 'sid']: 'v-1' })).toMatchObject({ [kind === 'subject' ? 'sub' : 'sid']: first + 60 });
      t -= 30_000;
      await revoke(state, 'v-1');
      expect(shipped(await state.snapshot(), list, 'v-1')).toBe(first + 60);
      // The same second as the revocation is revoked; the next second is not.
      expect((await judge(state, { ...place('v-1'), issuedAt: first + 60 })).ok).toBe(false);
      expect((await judge(state, { ...place('v-1'), issuedAt: first + 61 })).ok).toBe(true);
      expect((await judge(state, { ...place('v-2'), issuedAt: first })).ok).toBe(true);
      expect(await state.summary()).toMatchObject({ [kind === 'subject' ? 'revokedSubjects' : 'revokedSessions']: 1 });
    });
  }

  it('keeps values named like Object.prototype members as plain data', async () => {
    const state = await object();
    await state.revokeSubject('__proto__');
    expect(shipped(await state.snapshot(), 'subjects', '__proto__')).toBe(seconds());
    expect((await judge(state, { subject: '__proto__', issuedAt: seconds() - 1, claims: {} })).ok).toBe(false);
    expect((await judge(state, { subject: 'constructor', issuedAt: seconds() - 1, claims: {} })).ok).toBe(true);
    expect(await state.check({ sub: 'constructor', sid: '__proto__', jti: 'toString' })).toEqual(NOTHING);
  });

  it('answers check() about strings only: other RPC arguments ask about nothing', async () => {
    const state = await object();
    await state.revokeSubject('1');
    const hostile = { sub: 1, sid: { a: 1 }, jti: ['x'] } as unknown as { sub: string };
    expect(await state.check(hostile)).toEqual(NOTHING);
    expect(await state.check(null as unknown as { sub: string })).toEqual(NOTHING);
  });

  it('denies a jti until its exp plus the largest clock tolerance, without writing a token already past that', async () => {
    const state = await object();
    const exp = seconds() + 600;
    expect(await state.revokeJti('j-1', exp)).toMatchObject({ deniedJtis: 1 });
    expect(await state.revokeJti('j-old', seconds() - JTI_KEPT_PAST_EXP_SECONDS)).toMatchObject({ deniedJtis: 1 });
    expect((await rows(state, 'denied_jtis')).map((r) => r.jti)).toEqual(['j-1']);
    // Shipped at its denial time plus the clock tolerance: it covers a token whose issuer's clock runs ahead.
    expect(shipped(await state.snapshot(), 'jtis', 'j-1')).toBe(seconds() + JTI_REACH_SECONDS);
    t = (exp + JTI_KEPT_PAST_EXP_SECONDS - 1) * 1000;
    expect(shipped(await state.snapshot(), 'jtis', 'j-1')).toBeGreaterThan(0);
    expect((await state.check({ jti: 'j-1' })).jti).not.toBeNull();
    t += 1000;
    expect(await state.snapshot()).toEqual(CLEAN_SNAPSHOT);
    expect(await state.check({ jti: 'j-1' })).toEqual(NOTHING);
    expect(await state.summary()).toMatchObject({ deniedJtis: 0 });
  });

  it('prunes expired entries by its alarm, scheduled for the next expiry', async () => {
    const state = await object();
    await state.revokeSubject('user-1');
    await state.revokeSession('s-1');
    const exp = seconds() + 60;
    await state.revokeJti('j-1', exp);
    await state.revokeJti('j-2', exp + 3_600);
    const alarm = await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm());
    expect(alarm).toBe((exp + JTI_KEPT_PAST_EXP_SECONDS + 1) * 1000);

    t = alarm!;
    expect(await runDurableObjectAlarm(state)).toBe(true);
    expect((await rows(state, 'denied_jtis')).map((r) => r.jti)).toEqual(['j-2']);
    expect(await state.summary()).toMatchObject({ revokedSubjects: 1, revokedSessions: 1, deniedJtis: 1 });
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm()))
      .toBe((exp + 3_600 + JTI_KEPT_PAST_EXP_SECONDS + 1) * 1000);

    t += 31 * DAY;
    expect(await state.snapshot()).toEqual(CLEAN_SNAPSHOT);
    expect(await rows(state, 'revoked_subjects')).toHaveLength(1); // gone from reads before the alarm runs
    expect(await state.check({ sub: 'user-1', sid: 's-1' })).toEqual(NOTHING);
    expect(await runDurableObjectAlarm(state)).toBe(true);
    expect(await rows(state, 'revoked_subjects')).toEqual([]);
    expect(await rows(state, 'revoked_sessions')).toEqual([]);
    expect(await rows(state, 'denied_jtis')).toEqual([]);
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm())).toBeNull();
    // The kept sizes followed the deletes: a new entry counts from one again. What age took is
    // marked (a jti leaves with its token's exp: nothing to mark).
    expect(await state.revokeSubject('user-2')).toMatchObject({ revokedSubjects: 1 });
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.sql.exec('SELECT list, entries, floor, aged_through FROM list_sizes ORDER BY list').toArray()))
      .toEqual([{ list: 'claimValues', entries: 0, floor: 0, aged_through: 0 }, { list: 'jtis', entries: 0, floor: 0, aged_through: 0 },
        { list: 'sessions', entries: 0, floor: 0, aged_through: exp - 60 },
        { list: 'subjects', entries: 1, floor: 0, aged_through: exp - 60 }]);
    expect((await state.snapshot()).subjects).toMatchObject({ floor: 0, agedThrough: exp - 60 });
    expect(await state.summary()).not.toHaveProperty('floors');
  });

  it('keeps a subject and a session for retainSeconds (a day unless a reader says otherwise) plus the largest clock tolerance', async () => {
    const state = await object();
    await state.revokeSubject('user-1');
    await state.revokeSession('s-1');
    t += KEPT_S * 1000;
    expect(await state.summary()).toMatchObject({ revokedSubjects: 1, revokedSessions: 1 });
    t += 1_000;
    expect(await state.summary()).toMatchObject({ revokedSubjects: 0, revokedSessions: 0 });
    // A reader of a tenant that remembers a week keeps the next ones a week.
    const week = await object();
    await week.snapshot(7 * 86_400);
    await week.revokeSession('s-1');
    t += (7 * 86_400 + 300) * 1000;
    expect(await week.summary()).toMatchObject({ revokedSessions: 1 });
    t += 1_000;
    expect(await week.summary()).toMatchObject({ revokedSessions: 0 });
    expect(await runInDurableObject(week, (_: TenantState, s) => s.storage.getAlarm())).toBe((seconds() + 1) * 1000);
  });

  it('takes retainSeconds from readers only within the schema\'s range', async () => {
    const state = await object();
    for (const bad of [299, 2_592_001, 3_600.5, '3600', null, -1]) await state.snapshot(bad as number);
    await state.revokeSession('s-1');
    t += (KEPT_S + 1) * 1000;
    expect(await state.summary()).toMatchObject({ revokedSessions: 0 });
  });

  it('rebuilds its snapshot after every write, and not for reads in between', async () => {
    const state = await object();
    const first = await runInDurableObject(state, (instance: TenantState) => instance.snapshot());
    expect(await runInDurableObject(state, (instance: TenantState) => instance.snapshot())).toBe(first);
    await state.revokeSubject('user-1');
    const second = await runInDurableObject(state, (instance: TenantState) => instance.snapshot());
    expect(second).not.toBe(first);
    expect(shipped(second, 'subjects', 'user-1')).toBe(seconds());
    await state.setStatus('hold');
    expect((await state.snapshot()).status).toBe('hold');
  });

  it('counts re-revoking a value as no new entry; at its capacity a list forgets its oldest entry behind its floor', async () => {
    const state = await object();
    await runInDurableObject(state, (instance: TenantState) => { instance.maxListEntries = 2; });
    const first = seconds();
    await state.revokeSubject('user-1');
    t += 1_000;
    await state.revokeSubject('user-2');
    t += 1_000;
    expect(await state.revokeSubject('user-1')).toMatchObject({ revokedSubjects: 2 });
    expect(await state.summary()).not.toHaveProperty('floors');
    // user-2 (revoked at first + 1) is now the oldest: the third value forgets it.
    t += 1_000;
    expect(await state.revokeSubject('user-3')).toMatchObject({ revokedSubjects: 2, floors: { subjects: first + 1 } });
    expect((await state.check({ sub: 'user-2' })).sub).toBeNull();
    expect((await state.check({ sub: 'user-1' })).sub).toBe(first + 2);
    expect((await state.snapshot()).subjects.floor).toBe(first + 1);
    // Entries past their time make room first, and move no floor.
    t += (KEPT_S + 10) * 1000;
    await state.revokeSubject('user-4');
    await state.revokeSubject('user-5');
    expect(await state.summary()).toMatchObject({ revokedSubjects: 2, floors: { subjects: first + 1 } });
    // The other lists have their own capacity and floor.
    await runInDurableObject(state, (instance: TenantState) => { instance.maxListEntries = 1; });
    await state.revokeSession('s-1');
    t += 1_000;
    await state.revokeSession('s-2');
    expect(await state.summary()).toMatchObject({ revokedSessions: 1, floors: { subjects: first + 1, sessions: seconds() - 1 } });
    await state.revokeJti('j-1', seconds() + 600);
    t += 1_000;
    await state.revokeJti('j-2', seconds() + 600);
    expect((await state.summary()).floors).toEqual({ subjects: first + 1, sessions: seconds() - 2, jtis: seconds() - 1 + JTI_REACH_SECONDS });
  });

  it('retires a deleted tenant: hold and every token revoked in one step, lists kept, then reset starts it clean', async () => {
    const state = await object();
    await state.revokeSubject('user-1');
    await state.revokeJti('j-1', seconds() + 60);
    t += 2_000;
    expect(await state.retire()).toEqual({ ...CLEAN_SUMMARY, status: 'hold', tokenVersion: 2, revokedBefore: seconds(), revokedSubjects: 1, deniedJtis: 1 });
    expect((await state.snapshot()).status).toBe('hold');
    // A replace only resets a state still retired.
    expect(await state.reset({ ifRetired: true })).toBe(true);
    expect(await state.snapshot()).toEqual(CLEAN_SNAPSHOT);
    expect(await state.summary()).toEqual(CLEAN_SUMMARY);
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.getAlarm())).toBeNull();
    expect(await state.revokeSubject('user-2')).toMatchObject({ revokedSubjects: 1 });
    expect(await state.reset({ ifRetired: true })).toBe(false);
    expect(await state.summary()).toMatchObject({ revokedSubjects: 1 });
  });

  it('clears the retired mark on any admin write, so a later replace keeps what the admin did', async () => {
    for (const write of [(s: Stub) => s.revokeAll(), (s: Stub) => s.revokeSubject('u'), (s: Stub) => s.revokeSession('s'),
      (s: Stub) => s.revokeJti('j', seconds() + 60), (s: Stub) => s.setStatus('hold'), (s: Stub) => s.setStatus('active')]) {
      const state = await object();
      await state.retire();
      await write(state);
      expect(await state.reset({ ifRetired: true })).toBe(false);
      expect(await state.summary()).not.toEqual(CLEAN_SUMMARY);
    }
  });

  it('brings an object with the first schema up to date, keeping its entries and counting them', async () => {
    const name = unique('legacy').id;
    const stub = tenantStateStub(env.TENANT_STATE, name);
    const denied = Math.floor(Date.now() / 1000);
    await runInDurableObject(stub, (_: TenantState, s) => {
      // Back to the first layout, as an object created before schema versions holds it.
      s.storage.sql.exec(`DROP TABLE schema_version; DROP TABLE list_sizes; DROP TABLE revoked_sessions; DROP TABLE denied_jtis; DROP TABLE retention;
        DROP TABLE status; DROP TABLE revoked_subjects;
        CREATE TABLE status (id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, token_version INTEGER NOT NULL,
          revoked_before INTEGER NOT NULL, dns_failures INTEGER NOT NULL);
        CREATE TABLE revoked_subjects (sub TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
        CREATE INDEX revoked_subjects_by_time ON revoked_subjects (revoked_at);
        CREATE TABLE denied_jtis (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
        CREATE INDEX denied_jtis_by_exp ON denied_jtis (exp);`);
      s.storage.sql.exec("INSERT INTO status VALUES (1, 'active', 4, 123, 0)");
      s.storage.sql.exec("INSERT INTO revoked_subjects VALUES ('old-user', ?)", denied);
      s.storage.sql.exec("INSERT INTO denied_jtis VALUES ('old-jti', ?)", denied + 3_600);
    });
    await evictDurableObject(stub);
    expect(await stub.summary()).toEqual({ ...CLEAN_SUMMARY, tokenVersion: 4, revokedBefore: 123, revokedSubjects: 1, deniedJtis: 1 });
    expect((await stub.check({ jti: 'old-jti' })).jti).toBeGreaterThanOrEqual(denied + JTI_REACH_SECONDS);
    // Their hashes were written in: the snapshot finds them.
    const snapshot = await stub.snapshot();
    expect(shipped(snapshot, 'subjects', 'old-user')).toBe(denied);
    expect(shipped(snapshot, 'jtis', 'old-jti')).toBeGreaterThanOrEqual(denied + JTI_REACH_SECONDS);
    expect(await stub.revokeSession('s-1')).toMatchObject({ revokedSessions: 1 });
  });

  it('brings an object of schema version 4 up to date: list floors, what age took, and the retention', async () => {
    const name = unique('v4').id;
    const stub = tenantStateStub(env.TENANT_STATE, name);
    await runInDurableObject(stub, (_: TenantState, s) => {
      s.storage.sql.exec(`DROP TABLE retention; DROP TABLE list_sizes;
        CREATE TABLE list_sizes (list TEXT PRIMARY KEY, entries INTEGER NOT NULL);
        INSERT INTO list_sizes VALUES ('subjects', 0), ('sessions', 1), ('jtis', 0);
        UPDATE schema_version SET version = 4;`);
      s.storage.sql.exec("INSERT INTO revoked_sessions VALUES ('old-session', ?, ?)", seconds() - 10, hash32('old-session'));
    });
    await evictDurableObject(stub);
    await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => t; });
    expect(await stub.summary()).toEqual({ ...CLEAN_SUMMARY, revokedSessions: 1 });
    expect((await stub.snapshot(3_600)).sessions).toMatchObject({ floor: 0, agedThrough: 0 });
    expect((await stub.check({ sid: 'old-session' })).sid).toBe(seconds() - 10);
    expect(await runInDurableObject(stub, (_: TenantState, s) => s.storage.sql.exec('SELECT * FROM retention').toArray()))
      .toEqual([{ id: 1, retain_seconds: 3_600 }]);
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

describe('the DPoP nonce secret', () => {
  it('is 32 random bytes, the same on every read, and new after a reset (a re-created tenant)', async () => {
    const state = tenantStateStub(env.TENANT_STATE, unique('secret').id);
    const first = (await state.snapshot()).dpopNonceSecret!;
    expect(first).toHaveLength(32);
    expect((await state.snapshot()).dpopNonceSecret).toEqual(first);
    await state.revokeSubject('u1');
    expect((await state.snapshot()).dpopNonceSecret).toEqual(first);
    const other = (await tenantStateStub(env.TENANT_STATE, unique('secret').id).snapshot()).dpopNonceSecret;
    expect(other).not.toEqual(first);
    await state.reset();
    expect((await state.snapshot()).dpopNonceSecret).not.toEqual(first);
  });
});
