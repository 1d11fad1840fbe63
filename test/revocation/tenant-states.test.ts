// The isolate's copies of tenant states against the real object: the staleness bound, refresh
// ahead of expiry, maxStalenessSeconds 0, the grace period while the object is unreachable, the
// byte bound, and the revocation step: what the copy decides alone, what it asks the object, how
// often, and how long an exact answer is reused.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Outcome } from '../../src/base/denial';
import type { RevocationSubject } from '../../src/revocation/rules';
import { snapshotBytes, tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import {
  createTenantStates, GRACE_MS, REFRESH_LOST_AFTER_MS, UNAVAILABLE_RETRY_AFTER_SECONDS, type StateIo, type StateRead, type TenantStates,
} from '../../src/revocation/tenant-states';
import { listValue, seededAt, seedList } from '../support/revocations';
import { unique } from '../tenants/fixtures';

let t: number;
let logs: string[];
let log: ReturnType<typeof vi.spyOn>;

beforeEach(() => {
  t = 1_900_000_000_000;
  logs = [];
  log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => { logs.push(String(line)); });
});
afterEach(() => log.mockRestore());

/** The real namespace, with snapshot() reads and check() calls counted and the object made
 *  unreachable or slow at will. */
function objects() {
  const ns = env.TENANT_STATE;
  const control = { reads: 0, checks: 0, mode: 'up' as 'up' | 'down' | 'hang' };
  const pending: Promise<unknown>[] = [];
  const reach = <T>(call: () => Promise<T>): Promise<T> => {
    if (control.mode === 'down') return Promise.reject(new Error('Durable Object is overloaded'));
    if (control.mode === 'hang') return new Promise(() => {});
    return call();
  };
  const tenantState = {
    idFromName: (name: string) => ns.idFromName(name),
    get(id: DurableObjectId) {
      const stub = ns.get(id);
      return {
        snapshot() {
          control.reads++;
          return reach(() => stub.snapshot());
        },
        check(query: Parameters<typeof stub.check>[0]) {
          control.checks++;
          return reach(() => stub.check(query));
        },
      };
    },
  } as unknown as DurableObjectNamespace<TenantState>;
  const io: StateIo = { tenantState, waitUntil: (promise) => { pending.push(promise); } };
  return { control, io, settle: () => Promise.all(pending.splice(0)) };
}

async function tenant() {
  const id = unique('states').id;
  const stub = tenantStateStub(env.TENANT_STATE, id);
  await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => t; });
  return { id, stub };
}

describe('createTenantStates', () => {
  it('serves a copy within maxStalenessSeconds without asking the object, and reads it again past that', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io } = objects();
    const { id, stub } = await tenant();
    expect(await states.read(id, 10, io)).toMatchObject({ ok: true, tier: 'object', snapshot: { tokenVersion: 1 } });
    await stub.revokeAll();
    t += 4_999;
    expect(await states.read(id, 10, io)).toMatchObject({ ok: true, tier: 'memory', snapshot: { tokenVersion: 1 } });
    expect(control.reads).toBe(1);
    t = 1_900_000_000_000 + 10_000;
    expect(await states.read(id, 10, io)).toMatchObject({ ok: true, tier: 'object', snapshot: { tokenVersion: 2 } });
    expect(control.reads).toBe(2);
  });

  it('refreshes ahead once past half the allowance, one refresh at a time, still answering from the copy', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io, settle } = objects();
    const { id, stub } = await tenant();
    await states.read(id, 10, io);
    await stub.setStatus('hold');
    t += 5_000;
    const [a, b] = await Promise.all([states.read(id, 10, io), states.read(id, 10, io)]);
    expect([a, b]).toMatchObject([{ tier: 'memory', snapshot: { status: 'active' } }, { tier: 'memory', snapshot: { status: 'active' } }]);
    expect(control.reads).toBe(2);
    await settle();
    // The refreshed copy is young again: no further refresh for another half allowance.
    t += 4_000;
    expect(await states.read(id, 10, io)).toMatchObject({ tier: 'memory', snapshot: { status: 'hold' } });
    await settle();
    expect(control.reads).toBe(2);
  });

  it('retries a refresh that was lost', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io } = objects();
    const { id } = await tenant();
    await states.read(id, 60, io);
    control.mode = 'hang';
    t += 30_000;
    await states.read(id, 60, io);
    t += REFRESH_LOST_AFTER_MS - 1;
    await states.read(id, 60, io);
    expect(control.reads).toBe(2);
    t += 1;
    expect(await states.read(id, 60, io)).toMatchObject({ ok: true, tier: 'memory' });
    expect(control.reads).toBe(3);
  });

  it('asks the object on every request when maxStalenessSeconds is 0', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io } = objects();
    const { id, stub } = await tenant();
    expect(await states.read(id, 0, io)).toMatchObject({ ok: true, tier: 'object' });
    await stub.revokeSubject('user-1');
    const read = await states.read(id, 0, io);
    expect(read).toMatchObject({ ok: true, tier: 'object' });
    expect(read.ok && Array.from(read.snapshot.subjects.entries)).toEqual([expect.any(Number), Math.floor(t / 1000)]);
    expect(control.reads).toBe(2);
  });

  it('serves the last copy for GRACE_MS past its allowance while the object is unreachable, then fails closed', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io } = objects();
    const { id } = await tenant();
    const start = t;
    await states.read(id, 5, io);
    control.mode = 'down';
    t = start + 5_000;
    expect(await states.read(id, 5, io)).toMatchObject({ ok: true, tier: 'grace', snapshot: { tokenVersion: 1 } });
    t = start + 5_000 + GRACE_MS - 1;
    expect(await states.read(id, 5, io)).toMatchObject({ ok: true, tier: 'grace' });
    t += 1;
    expect(await states.read(id, 5, io)).toEqual({ ok: false, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note: 'Error: Durable Object is overloaded' });
    const unavailable = logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.event === 'tenant_state_unavailable');
    expect(unavailable).toHaveLength(3);
    expect(unavailable[0]).toEqual({ event: 'tenant_state_unavailable', tenant: id, note: 'Error: Durable Object is overloaded' });
    // Back up: the next request reads it again.
    control.mode = 'up';
    expect(await states.read(id, 5, io)).toMatchObject({ ok: true, tier: 'object' });
  });

  it('fails closed at once when the object is unreachable and nothing was read before', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io } = objects();
    control.mode = 'down';
    const { id } = await tenant();
    expect(await states.read(id, 5, io)).toMatchObject({ ok: false, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS });
  });

  it('counts an object that does not answer within the deadline as unreachable', async () => {
    // Long enough for the first, real read on a busy machine; the hung one never answers.
    const states = createTenantStates({ now: () => t, objectDeadlineMs: 500 });
    const { control, io } = objects();
    const { id } = await tenant();
    await states.read(id, 0, io);
    control.mode = 'hang';
    expect(await states.read(id, 0, io)).toMatchObject({ ok: true, tier: 'grace' });
    t += GRACE_MS;
    expect(await states.read(id, 0, io)).toMatchObject({ ok: false, note: 'Error: TenantState did not answer within 500 ms' });
  });

  it('grants the grace to a copy read with maxStalenessSeconds 0 too', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io } = objects();
    const { id } = await tenant();
    await states.read(id, 0, io);
    control.mode = 'down';
    t += GRACE_MS - 1;
    expect(await states.read(id, 0, io)).toMatchObject({ ok: true, tier: 'grace' });
    t += 1;
    expect((await states.read(id, 0, io)).ok).toBe(false);
  });

  it('keeps a failed background refresh from disturbing the copy', async () => {
    const states = createTenantStates({ now: () => t });
    const { control, io, settle } = objects();
    const { id } = await tenant();
    await states.read(id, 10, io);
    control.mode = 'down';
    t += 6_000;
    expect(await states.read(id, 10, io)).toMatchObject({ ok: true, tier: 'memory' });
    await settle();
    t += 1_000;
    expect(await states.read(id, 10, io)).toMatchObject({ ok: true, tier: 'memory' });
    expect(control.reads).toBe(3); // the failed refresh is not in flight any more, so it is tried again
  });

  it('holds at most maxEntries tenants', async () => {
    const states = createTenantStates({ now: () => t, maxEntries: 2 });
    const { io } = objects();
    for (let i = 0; i < 3; i++) await states.read((await tenant()).id, 5, io);
    expect(states.size).toBe(2);
  });

  it('holds copies within maxBytes, counting each snapshot\'s encoded size', async () => {
    const { io } = objects();
    const seconds = Math.floor(t / 1000);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { id, stub } = await tenant();
      await seedList(stub, 'subjects', { count: 20_000, from: seconds - 100, to: seconds - 1 }, () => t);
      ids.push(id);
    }
    const one = await tenantStateStub(env.TENANT_STATE, ids[0]!).snapshot();
    expect(snapshotBytes(one)).toBeGreaterThan(16_000);
    const states = createTenantStates({ now: () => t, maxBytes: 2.5 * snapshotBytes(one) });
    for (const id of ids) await states.read(id, 5, io);
    expect(states.size).toBe(2);
    expect(states.bytes).toBeLessThanOrEqual(2.5 * snapshotBytes(one));
  });
});

describe('the revocation step', () => {
  const policy = (tenantId: string, maxStalenessSeconds = 5) => ({ tenantId, versionClaim: null, tenantClaim: null, maxStalenessSeconds });
  const settle = (answer: Promise<Outcome<void>>) => answer;

  async function setUp() {
    const states = createTenantStates({ now: () => t });
    const objectsIo = objects();
    const { id, stub } = await tenant();
    const read = async () => (await states.read(id, 5, objectsIo.io)) as StateRead;
    const step = (states2: TenantStates, token: RevocationSubject, state: StateRead, staleness = 5) =>
      states2.revocation(token, state, policy(id, staleness), objectsIo.io.tenantState);
    return { states, ...objectsIo, id, stub, read, step };
  }

  it('answers revocation_unavailable for a read that failed, without asking anything', async () => {
    const { states, control, step } = await setUp();
    const failed: StateRead = { ok: false, retryAfterSeconds: 5, note: 'down' };
    expect(await step(states, { subject: 'u', issuedAt: 1, claims: {} }, failed))
      .toEqual({ ok: false, denial: { error: 'revocation_unavailable', retryAfterSeconds: 5, note: 'down' } });
    expect(control.checks).toBe(0);
  });

  it('decides 1,000 tokens of 1,000 subjects synchronously, with no object call, against 100,000 older revocations', async () => {
    const { states, control, stub, read, step } = await setUp();
    const now = Math.floor(t / 1000);
    const seeded = { count: 100_000, from: now - 86_400 + 60, to: now - 60 };
    await seedList(stub, 'subjects', seeded, () => t);
    const state = await read();
    // More than the filter holds: the newest half day or so ships, as a filter and its tail.
    expect(state.ok && state.snapshot.subjects.horizon).toBeGreaterThan(now - 86_400);
    expect(state.ok && state.snapshot.subjects.filter).not.toBeNull();
    // 250 of the oldest revoked subjects (never shipped), 250 of the newest (shipped), 500 never revoked.
    const subjects = [
      ...Array.from({ length: 250 }, (_, i) => listValue('subjects', i + 1)),
      ...Array.from({ length: 250 }, (_, i) => listValue('subjects', seeded.count - i)),
      ...Array.from({ length: 500 }, (_, i) => `fresh-${i}`),
    ];
    let allowed = 0;
    for (const subject of subjects) {
      const answer = await step(states, { subject, issuedAt: now - 30, claims: {} }, state);
      if (answer.ok) allowed++;
    }
    expect(allowed).toBe(1_000);
    expect(control.checks).toBe(0);
    expect(control.reads).toBe(1);
    console.info(JSON.stringify({ event: 'revocation_object_calls', scenario: 'old revocations', requests: 1_000, reads: control.reads, checks: control.checks }));
  });

  it('asks once per value the filter may hold after a recent mass revocation, and reuses each answer while it holds', async () => {
    const { states, control, stub, read, step } = await setUp();
    const now = Math.floor(t / 1000);
    // 10,000 subjects revoked over the last 10 s: all in the filter.
    const seeded = { count: 10_000, from: now - 9, to: now };
    await seedList(stub, 'subjects', seeded, () => t);
    t += 1_000;
    const state = await read();
    expect(state.ok && state.snapshot.subjects).toMatchObject({ horizon: 0, filter: { through: now } });
    const revokedAt = new Map(Array.from({ length: seeded.count }, (_, i) => [listValue('subjects', i + 1), seededAt(i + 1, seeded)]));
    // 1,000 distinct subjects, half of them in the revocation; half the tokens issued before it, half after.
    const tokens = Array.from({ length: 1_000 }, (_, i): RevocationSubject => ({
      subject: i % 2 === 0 ? listValue('subjects', 1 + i * 10) : `fresh-${i}`,
      issuedAt: i < 500 ? now - 100 : now + 1,
      claims: {},
    }));
    for (const token of tokens) {
      const expected = revokedAt.has(token.subject!) && revokedAt.get(token.subject!)! >= token.issuedAt!;
      expect((await settle(step(states, token, state))).ok).toBe(!expected);
    }
    // The 250 revoked subjects with old tokens, and the filter's rare false positives among the
    // 250 fresh ones; a token issued after the newest entry never looks.
    expect(control.checks).toBeGreaterThanOrEqual(250);
    expect(control.checks).toBeLessThan(260);
    const asked = control.checks;
    console.info(JSON.stringify({ event: 'revocation_object_calls', scenario: 'mass revocation', requests: 1_000, reads: control.reads, checks: asked }));
    // The same tokens again, and again with a newer copy while revocations of other values go
    // on: each answer still holds, no call.
    for (const token of tokens) await step(states, token, state);
    t += 5_000;
    await stub.revokeSubject('someone-else');
    const later = await read();
    for (const token of tokens) await step(states, token, later);
    expect(control.checks).toBe(asked);
    // A value revoked since its answer: asked again, once, and refused.
    const fresh = tokens[1]!;
    await stub.revokeSubject(fresh.subject!);
    t += 5_000;
    const after = await read();
    expect(await settle(step(states, fresh, after))).toMatchObject({ ok: false, denial: { reason: 'revoked' } });
    expect(await settle(step(states, fresh, after))).toMatchObject({ ok: false, denial: { reason: 'revoked' } });
    expect(control.checks).toBe(asked + 1);
  });

  it('asks on every maybe when maxStalenessSeconds is 0', async () => {
    const { states, control, stub, read, step } = await setUp();
    const now = Math.floor(t / 1000);
    await stub.revokeSubject('user-1');
    const state = await read();
    for (let i = 0; i < 3; i++) expect((await settle(step(states, { subject: 'user-1', issuedAt: now, claims: {} }, state, 0))).ok).toBe(false);
    expect(control.checks).toBe(3);
  });

  it('uses an answer that still holds when the object cannot be reached; a value never asked about fails closed', async () => {
    const { states, control, stub, read, step } = await setUp();
    const now = Math.floor(t / 1000);
    await stub.revokeSubject('user-1');
    await stub.revokeSubject('user-2');
    t += 1_000;
    const state = await read();
    const token = { subject: 'user-1', issuedAt: now, claims: {} };
    expect((await settle(step(states, token, state))).ok).toBe(false);
    control.mode = 'down';
    t += 5_000 + GRACE_MS - 1;
    expect(await settle(step(states, token, state))).toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'revoked' } });
    // A maybe never asked before has no answer to fall back on.
    expect(await settle(step(states, { subject: 'user-2', issuedAt: now, claims: {} }, state)))
      .toMatchObject({ ok: false, denial: { error: 'revocation_unavailable' } });
    // Past the grace the copy itself is gone: the token route fails closed.
    t += 1;
    const failed = await read();
    expect(failed.ok).toBe(false);
    expect(await settle(step(states, token, failed))).toEqual({
      ok: false, denial: { error: 'revocation_unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note: 'Error: Durable Object is overloaded' },
    });
    expect(logs.some((line) => line.includes('tenant_state_unavailable'))).toBe(true);
  });

  it('bounds the exact answers by entries and bytes, whatever values tokens carry', async () => {
    const states = createTenantStates({ now: () => t, maxAnswers: 50, maxAnswerBytes: 20_000 });
    const { io, control } = objects();
    const { id, stub } = await tenant();
    const now = Math.floor(t / 1000);
    await seedList(stub, 'subjects', { count: 3_000, from: now - 10, to: now }, () => t);
    // No room for a filter: every token issued before the newest seconds asks.
    await runInDurableObject(stub, (instance: TenantState) => { instance.snapshotBudget = { tailEntries: 100, filterBytes: 0 }; });
    const state = await states.read(id, 5, io) as StateRead;
    expect(state.ok && state.snapshot.subjects.horizon).toBeGreaterThan(now - 10);
    for (let i = 0; i < 200; i++) {
      const subject = `${'x'.repeat(200)}-${i}`;
      const answer = states.revocation({ subject, issuedAt: now - 100, claims: {} }, state, policy(id), io.tenantState);
      expect((await answer).ok).toBe(true);
    }
    expect(control.checks).toBe(200);
    expect(states.answers.size).toBeLessThanOrEqual(50);
    expect(states.answers.bytes).toBeLessThanOrEqual(20_000);
  });
});
