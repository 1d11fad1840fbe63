// The isolate's copies of tenant states (SPEC.md "Tenant status and revocation"): a copy serves
// while younger than the tenant's maxStalenessSeconds, is refreshed in the background once past
// half of that, and outlives an unreachable object by GRACE_MS before the tenant fails closed.
//
//   const states = createTenantStates({ now });                       // once per isolate
//   const read = await states.read(tenant.id, 5, { tenantState: env.TENANT_STATE, waitUntil });
//   if (read.ok) checkRevocation(token, read.snapshot, policy);      // tier: memory | object | grace
//   else deny({ error: 'revocation_unavailable', retryAfterSeconds: read.retryAfterSeconds });
//
// No promise is ever shared between requests: a request awaiting another request's I/O can hang
// in Workers (cfworker/cfworker#226). Concurrent requests share the data a read left in memory.
import { BoundedCache } from '../cache';
import type { Clock } from '../clock';
import { noteOf } from '../denial';
import { OBJECT_DEADLINE_MS, withDeadline } from './deadline';
import { tenantStateStub, type TenantState, type TenantStateSnapshot } from './tenant-state';

/** How long past its allowance the last copy serves while the object cannot be reached. */
export const GRACE_MS = 60_000;
/** A background refresh not finished after this long counts as lost; the next request retries. */
export const REFRESH_LOST_AFTER_MS = 10_000;
/** What a failed-closed answer tells the client to wait. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

export type StateRead =
  /** tier 'none': no TenantState object is bound (library use), so nothing is tracked. */
  | { ok: true; snapshot: TenantStateSnapshot; tier: 'memory' | 'object' | 'grace' | 'none' }
  | { ok: false; retryAfterSeconds: number; note: string };

export interface StateIo {
  readonly tenantState: DurableObjectNamespace<TenantState>;
  waitUntil(promise: Promise<unknown>): void;
}

export interface TenantStates {
  /** Synchronous when memory answers (the hot path: no promise, no await). */
  read(tenantId: string, maxStalenessSeconds: number, io: StateIo): StateRead | Promise<StateRead>;
  /** For logs and the benchmark. */
  readonly size: number;
}

interface Held {
  readonly snapshot: TenantStateSnapshot;
  /** When the read that produced it started: the copy is at least this fresh. */
  readonly readAt: number;
  /** The answer memory gives while the copy serves, built once per copy. */
  readonly fromMemory: StateRead;
}

type ObjectRead = { ok: true; held: Held } | { ok: false; note: string };

export function createTenantStates(options: { now: Clock; maxEntries?: number; objectDeadlineMs?: number }): TenantStates {
  const now = options.now;
  const deadlineMs = options.objectDeadlineMs ?? OBJECT_DEADLINE_MS;
  const maxEntries = options.maxEntries ?? 10_000;
  const held = new BoundedCache<string, Held>({ now, maxEntries });
  /** tenant -> start of its background refresh; plain data, so a lost one simply expires. */
  const refreshing = new BoundedCache<string, number>({ now, maxEntries });

  /** One read of the object; a newer copy is kept, an older one (a slow read) is not. */
  async function readObject(tenantId: string, allowanceMs: number, io: StateIo): Promise<ObjectRead> {
    const readAt = now();
    try {
      const snapshot = (await withDeadline(tenantStateStub(io.tenantState, tenantId).snapshot(), deadlineMs, 'TenantState')) as TenantStateSnapshot;
      const fresh: Held = { snapshot, readAt, fromMemory: { ok: true, snapshot, tier: 'memory' } };
      const current = held.getStale(tenantId)?.value;
      if (current === undefined || current.readAt <= readAt) {
        // Kept past its allowance only so it can serve the grace period.
        held.set(tenantId, fresh, { ttlMs: readAt + allowanceMs + GRACE_MS - now() });
      }
      return { ok: true, held: fresh };
    } catch (error) {
      const note = noteOf(error);
      console.log(JSON.stringify({ event: 'tenant_state_unavailable', tenant: tenantId, note }));
      return { ok: false, note };
    }
  }

  function refreshAhead(tenantId: string, allowanceMs: number, io: StateIo): void {
    if (refreshing.get(tenantId) !== undefined) return;
    refreshing.set(tenantId, now(), { ttlMs: REFRESH_LOST_AFTER_MS });
    io.waitUntil(readObject(tenantId, allowanceMs, io).finally(() => refreshing.delete(tenantId)));
  }

  return {
    get size() { return held.size; },

    read(tenantId, maxStalenessSeconds, io) {
      const allowanceMs = maxStalenessSeconds * 1000;
      const copy = held.get(tenantId);
      if (copy !== undefined) {
        const age = now() - copy.readAt;
        if (age < allowanceMs) {
          if (age >= allowanceMs / 2) refreshAhead(tenantId, allowanceMs, io);
          return copy.fromMemory;
        }
      }
      return readThrough(tenantId, allowanceMs, io);
    },
  };

  /** Memory could not answer: the object, else the grace copy, else fail closed. */
  async function readThrough(tenantId: string, allowanceMs: number, io: StateIo): Promise<StateRead> {
    const read = await readObject(tenantId, allowanceMs, io);
    if (read.ok) return { ok: true, snapshot: read.held.snapshot, tier: 'object' };
    // The newest copy (another request may have read meanwhile), aged as of now: the failed
    // read may have taken a while.
    const last = held.getStale(tenantId)?.value;
    if (last !== undefined && now() - last.readAt < allowanceMs + GRACE_MS) {
      return { ok: true, snapshot: last.snapshot, tier: 'grace' };
    }
    return { ok: false, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note: read.note };
  }
}
