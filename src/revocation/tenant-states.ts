// The isolate's copies of tenant states (docs/revocation.md): a copy serves
// while younger than the tenant's maxStalenessSeconds, is refreshed in the background once past
// half of that, and outlives an unreachable object by GRACE_MS before the tenant fails closed.
// Copies are small (a snapshot is at most 64 KiB whatever the lists hold), and the cache is
// bounded by bytes as well as by tenants. It also runs the revocation step: the copy decides
// nearly every token; the few it cannot clear cost one object call, whose exact answers are kept
// per (tenant, list, value) and reused for as long as every later copy shows they still hold
// (rules.ts answerStillHolds).
//
//   const states = createTenantStates({ now });                       // once per isolate
//   const read = await states.read(tenant.id, 5, { tenantState: env.TENANT_STATE, waitUntil }, 86_400);   // + retainSeconds
//   if (read.ok) read.snapshot.status;                               // tier: memory | object | grace
//   const revoked = await states.revocation(verified, read, { tenantId, versionClaim, tenantClaim, maxStalenessSeconds: 5 }, env.TENANT_STATE);
//
// No promise is ever shared between requests: a request awaiting another request's I/O can hang
// in Workers (cfworker/cfworker#226). Concurrent requests share the data a read left in memory.
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';
import { deny, noteOf, type Outcome } from '../base/denial';
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';
import {
  answerStillHolds, checkRevocation, FIELDS, LIST_OF, settleRevocation, type HeldAnswer, type RevocationPolicy, type RevocationSubject,
} from './rules';
import { hash32 } from './revocation-list';
import {
  snapshotBytes, tenantStateStub, type RevocationQuery, type RevocationTimes, type TenantState, type TenantStateSnapshot,
} from './tenant-state';

/** How long past its allowance the last copy serves while the object cannot be reached. */
export const GRACE_MS = 60_000;
/** A background refresh not finished after this long counts as lost; the next request retries. */
export const REFRESH_LOST_AFTER_MS = 10_000;
/** What a failed-closed answer tells the client to wait. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
/** How old a copy `peek` gives when maxStalenessSeconds is 0 (every admitted request reads). */
export const PEEK_FLOOR_MS = 1_000;

export type StateRead =
  /** tier 'none': no TenantState object is bound (library use), so nothing is tracked. */
  | { ok: true; snapshot: TenantStateSnapshot; tier: 'memory' | 'object' | 'grace' | 'none' }
  | { ok: false; retryAfterSeconds: number; note: string };

export interface StateIo {
  readonly tenantState: DurableObjectNamespace<TenantState>;
  waitUntil(promise: Promise<unknown>): void;
}

export interface RevocationStep extends RevocationPolicy {
  readonly maxStalenessSeconds: number;
}

export interface TenantStates {
  /** Answered from memory on the hot path (no I/O). `retainSeconds`, the tenant's
   *  revocation.retainSeconds, goes with every read of the object: it keeps revocations that long. */
  read(tenantId: string, maxStalenessSeconds: number, io: StateIo, retainSeconds?: number): Promise<StateRead>;
  /** The isolate's copy alone, never I/O: younger than maxStalenessSeconds (than
   *  PEEK_FLOOR_MS when that is 0), else null. For the status check before perIp, which no
   *  object call may precede. */
  peek(tenantId: string, maxStalenessSeconds: number): Extract<StateRead, { ok: true }> | null;
  /** The revocation step against a read: `revocation_unavailable` for a failed one, else the
   *  rules. No I/O when the snapshot decides, or memory holds the exact answers it needs. */
  revocation(verified: RevocationSubject, read: StateRead, step: RevocationStep,
    tenantState: DurableObjectNamespace<TenantState> | null): Promise<Outcome<void>>;
  /** For logs, the benchmark and tests: copies held, and exact answers held. */
  readonly size: number;
  readonly bytes: number;
  readonly answers: { readonly size: number; readonly bytes: number };
  /** Object calls made: snapshot reads and exact checks. */
  readonly counters: Readonly<{ reads: number; checks: number }>;
}

/** Isolate memory the copies may take: 16 MiB is some 270 of the largest snapshots. */
export const STATE_CACHE_BYTES = 16 * 1024 * 1024;
/** Exact answers kept per isolate: a value asked about costs one call for as long as its answer
 *  holds (at most ANSWER_TTL_MS), within these bounds. */
export const ANSWER_CACHE_ENTRIES = 10_000;
export const ANSWER_CACHE_BYTES = 4 * 1024 * 1024;
/** An answer no copy has contradicted is still dropped after a day (the default retainSeconds):
 *  older tokens are mostly too old by then, and memory goes to answers in use. */
export const ANSWER_TTL_MS = 24 * 60 * 60 * 1000;

interface Held {
  readonly snapshot: TenantStateSnapshot;
  /** When the read that produced it started: the copy is at least this fresh. */
  readonly readAt: number;
  /** The answer memory gives while the copy serves, built once per copy. */
  readonly fromMemory: StateRead;
}

type ObjectRead = { ok: true; held: Held } | { ok: false; note: string };

type Times = { sub: number | null; sid: number | null; jti: number | null };

export function createTenantStates(options: {
  now: Clock; maxEntries?: number; maxBytes?: number; maxAnswers?: number; maxAnswerBytes?: number; objectDeadlineMs?: number;
}): TenantStates {
  const now = options.now;
  const deadlineMs = options.objectDeadlineMs ?? OBJECT_DEADLINE_MS;
  const maxEntries = options.maxEntries ?? 10_000;
  const held = new BoundedCache<string, Held>({ now, maxEntries, maxBytes: options.maxBytes ?? STATE_CACHE_BYTES });
  /** tenant -> start of its background refresh; plain data, so a lost one simply expires. */
  const refreshing = new BoundedCache<string, number>({ now, maxEntries });
  /** "<tenant>/<list>/<value>" -> the object's exact answer. A tenant id holds no "/". */
  const answers = new BoundedCache<string, HeldAnswer>({
    now, maxEntries: options.maxAnswers ?? ANSWER_CACHE_ENTRIES, maxBytes: options.maxAnswerBytes ?? ANSWER_CACHE_BYTES,
  });
  const counters = { reads: 0, checks: 0 };

  /** One read of the object; a newer copy is kept, an older one (a slow read) is not. */
  async function readObject(tenantId: string, allowanceMs: number, io: StateIo, retainSeconds: number | undefined): Promise<ObjectRead> {
    const readAt = now();
    try {
      counters.reads++;
      const snapshot = (await withDeadline(tenantStateStub(io.tenantState, tenantId).snapshot(retainSeconds), deadlineMs, 'TenantState')) as TenantStateSnapshot;
      const fresh: Held = { snapshot, readAt, fromMemory: { ok: true, snapshot, tier: 'memory' } };
      const current = held.getStale(tenantId)?.value;
      if (current === undefined || current.readAt <= readAt) {
        // Kept past its allowance only so it can serve the grace period.
        held.set(tenantId, fresh, { ttlMs: readAt + allowanceMs + GRACE_MS - now(), bytes: snapshotBytes(snapshot) + 2 * tenantId.length });
      }
      return { ok: true, held: fresh };
    } catch (error) {
      const note = noteOf(error);
      console.log(JSON.stringify({ event: 'tenant_state_unavailable', tenant: tenantId, note }));
      return { ok: false, note };
    }
  }

  function refreshAhead(tenantId: string, allowanceMs: number, io: StateIo, retainSeconds: number | undefined): void {
    if (refreshing.get(tenantId) !== undefined) return;
    refreshing.set(tenantId, now(), { ttlMs: REFRESH_LOST_AFTER_MS });
    io.waitUntil(readObject(tenantId, allowanceMs, io, retainSeconds).finally(() => refreshing.delete(tenantId)));
  }

  /** The answers memory holds that still hold against `snapshot`, and the values it must ask about. */
  function remembered(tenantId: string, query: RevocationQuery, snapshot: TenantStateSnapshot): { known: Times; missing: RevocationQuery | null } {
    const known: Times = { sub: null, sid: null, jti: null };
    let missing: { sub?: string; sid?: string; jti?: string } | null = null;
    for (const field of FIELDS) {
      const value = query[field];
      if (value === undefined) continue;
      const answer = answers.get(`${tenantId}/${LIST_OF[field]}/${value}`);
      if (answer !== undefined && answerStillHolds(snapshot[LIST_OF[field]], snapshot.asOf, hash32(value), answer)) known[field] = answer.at;
      else (missing ??= {})[field] = value;
    }
    return { known, missing };
  }

  /** "maybe", and memory holds no answer that still holds: one object call for the exact times
   *  of the values missing, kept for reuse. Unreachable: the token fails closed. */
  async function askObject(tenantId: string, verified: RevocationSubject, snapshot: TenantStateSnapshot,
    query: RevocationQuery, known: Times, tenantState: DurableObjectNamespace<TenantState>): Promise<Outcome<void>> {
    try {
      counters.checks++;
      const times = await withDeadline(tenantStateStub(tenantState, tenantId).check(query), deadlineMs, 'TenantState') as RevocationTimes;
      const settled = { ...known };
      for (const field of FIELDS) {
        const value = query[field];
        if (value === undefined) continue;
        settled[field] = times[field];
        const key = `${tenantId}/${LIST_OF[field]}/${value}`;
        answers.set(key, { at: times[field], asOf: times.asOf }, { ttlMs: ANSWER_TTL_MS, bytes: 2 * key.length + 64 });
      }
      return settleRevocation(verified, snapshot, settled);
    } catch (error) {
      const note = noteOf(error);
      console.log(JSON.stringify({ event: 'tenant_state_unavailable', tenant: tenantId, note }));
      return deny({ error: 'revocation_unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note });
    }
  }

  return {
    get size() { return held.size; },
    get bytes() { return held.bytes; },
    answers: { get size() { return answers.size; }, get bytes() { return answers.bytes; } },
    counters,

    async revocation(verified, read, step, tenantState) {
      if (!read.ok) return deny({ error: 'revocation_unavailable', retryAfterSeconds: read.retryAfterSeconds, note: read.note });
      const checked = checkRevocation(verified, read.snapshot, step);
      if (checked.ok !== 'ask') return checked;
      // Untracked (no object bound) lists are empty and never ask; should one, it fails closed.
      if (tenantState === null) return deny({ error: 'revocation_unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note: 'no TenantState bound' });
      const { known, missing } = remembered(step.tenantId, checked.query, read.snapshot);
      return missing === null ? settleRevocation(verified, read.snapshot, known)
        : askObject(step.tenantId, verified, read.snapshot, missing, known, tenantState);
    },

    peek(tenantId, maxStalenessSeconds) {
      const copy = held.peek(tenantId);
      if (copy === undefined || now() - copy.readAt >= Math.max(maxStalenessSeconds * 1000, PEEK_FLOOR_MS)) return null;
      return copy.fromMemory as Extract<StateRead, { ok: true }>;
    },

    async read(tenantId, maxStalenessSeconds, io, retainSeconds) {
      const allowanceMs = maxStalenessSeconds * 1000;
      const copy = held.get(tenantId);
      if (copy !== undefined) {
        const age = now() - copy.readAt;
        if (age < allowanceMs) {
          if (age >= allowanceMs / 2) refreshAhead(tenantId, allowanceMs, io, retainSeconds);
          return copy.fromMemory;
        }
      }
      return readThrough(tenantId, allowanceMs, io, retainSeconds);
    },
  };

  /** Memory could not answer: the object, else the grace copy, else fail closed. */
  async function readThrough(tenantId: string, allowanceMs: number, io: StateIo, retainSeconds: number | undefined): Promise<StateRead> {
    const read = await readObject(tenantId, allowanceMs, io, retainSeconds);
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
