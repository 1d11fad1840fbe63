// The isolate's copies of tenant states against the real object: the staleness bound, refresh
// ahead of expiry, maxStalenessSeconds 0, and the grace period while the object is unreachable.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tenantStateStub, type TenantState } from '../../src/state/tenant-state';
import {
  createTenantStates, GRACE_MS, REFRESH_LOST_AFTER_MS, UNAVAILABLE_RETRY_AFTER_SECONDS, type StateIo,
} from '../../src/state/tenant-states';
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

/** The real namespace, with snapshot() reads counted and the object made unreachable or slow at will. */
function objects() {
  const ns = env.TENANT_STATE;
  const control = { reads: 0, mode: 'up' as 'up' | 'down' | 'hang' };
  const pending: Promise<unknown>[] = [];
  const tenantState = {
    idFromName: (name: string) => ns.idFromName(name),
    get(id: DurableObjectId) {
      const stub = ns.get(id);
      return {
        snapshot() {
          control.reads++;
          if (control.mode === 'down') return Promise.reject(new Error('Durable Object is overloaded'));
          if (control.mode === 'hang') return new Promise(() => {});
          return stub.snapshot();
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
    expect(await states.read(id, 0, io)).toMatchObject({ ok: true, tier: 'object', snapshot: { revokedSubjects: { 'user-1': Math.floor(t / 1000) } } });
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
    const states = createTenantStates({ now: () => t, objectDeadlineMs: 20 });
    const { control, io } = objects();
    const { id } = await tenant();
    await states.read(id, 0, io);
    control.mode = 'hang';
    expect(await states.read(id, 0, io)).toMatchObject({ ok: true, tier: 'grace' });
    t += GRACE_MS;
    expect(await states.read(id, 0, io)).toMatchObject({ ok: false, note: 'Error: TenantState did not answer within 20 ms' });
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
});
