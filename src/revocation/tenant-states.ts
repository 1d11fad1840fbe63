// The isolate's copies of tenant states (docs/revocation.md): a copy serves
// while younger than the tenant's maxStalenessSeconds, is refreshed in the background once past
// half of that, and outlives an unreachable object by GRACE_MS before the tenant fails closed.
// Copies are small (a snapshot is at most 64 KiB whatever the lists hold), and the cache is
// bounded by bytes as well as by tenants. It also runs the revocation step: the copy decides
// nearly every token; the few it cannot clear cost one object call, whose exact answers are kept
// per (tenant, list, value) and reused for as long as every later copy shows they still hold
// (revocation-list.ts answerStillHolds).
//
//   const states = createTenantStates({ now });                       // once per isolate
//   const read = await readState(states, tenant.id, 5, { tenantState: env.TENANT_STATE, waitUntil }, 86_400);   // + retainSeconds
//   if (read.ok) read.snapshot.status;                               // tier: memory | object | grace
//   const step = { tenantId, versionClaim, tenantClaim, maxStalenessSeconds: 5 };
//   const revoked = await decideRevocation(states, verified, read, step, env.TENANT_STATE);
//
// No promise is ever shared between requests: a request awaiting another request's I/O can hang
// in Workers (cfworker/cfworker#226). Concurrent requests share the data a read left in memory.
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';
import { deny, noteOf, ok, type Outcome } from '../base/denial';
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';
import { answerStillHolds, type HeldAnswer } from './revocation-list';
import { checkRevocation, FIELDS, LIST_OF, settleRevocation, type RevocationPolicy, type RevocationSubject } from './rules';
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

/** Isolate memory the copies may take: 16 MiB is some 270 of the largest snapshots. */
export const STATE_CACHE_BYTES = 16 * 1024 * 1024;
/** Exact answers kept per isolate: a value asked about costs one call for as long as its answer
 *  holds (at most ANSWER_TTL_MS), within these bounds. */
export const ANSWER_CACHE_ENTRIES = 10_000;
export const ANSWER_CACHE_BYTES = 4 * 1024 * 1024;
/** An answer no copy has contradicted is still dropped after a day (the default retainSeconds):
 *  older tokens are mostly too old by then, and memory goes to answers in use. */
export const ANSWER_TTL_MS = 24 * 60 * 60 * 1000;

export interface Held {
  readonly snapshot: TenantStateSnapshot;
  /** When the read that produced it started: the copy is at least this fresh. */
  readonly readAt: number;
  /** The answer memory gives while the copy serves, built once per copy. */
  readonly fromMemory: StateRead;
}

type ObjectRead = { ok: true; held: Held } | { ok: false; note: string };

type Times = { sub: number | null; sid: number | null; jti: number | null; claims?: (number | null)[] };

export interface TenantStatesOptions {
  now: Clock; maxEntries?: number; maxBytes?: number; maxAnswers?: number; maxAnswerBytes?: number; objectDeadlineMs?: number;
}

/** The isolate's copies and exact answers: plain state, made once per isolate, which the
 *  functions below read and write. The methods are the same calls, for tests and the bench. */
export class TenantStates {
  readonly now: Clock;
  readonly deadlineMs: number;
  readonly held: BoundedCache<string, Held>;
  /** tenant -> start of its background refresh; plain data, so a lost one simply expires. */
  readonly refreshing: BoundedCache<string, number>;
  /** "<tenant>/<list>/<value>" -> the object's exact answer. A tenant id holds no "/". */
  readonly exact: BoundedCache<string, HeldAnswer>;
  /** Object calls made: snapshot reads and exact checks. */
  readonly counters = { reads: 0, checks: 0 };

  constructor(options: TenantStatesOptions) {
    const now = options.now;
    const maxEntries = options.maxEntries ?? 10_000;
    this.now = now;
    this.deadlineMs = options.objectDeadlineMs ?? OBJECT_DEADLINE_MS;
    this.held = new BoundedCache<string, Held>({ now, maxEntries, maxBytes: options.maxBytes ?? STATE_CACHE_BYTES });
    this.refreshing = new BoundedCache<string, number>({ now, maxEntries });
    this.exact = new BoundedCache<string, HeldAnswer>({
      now, maxEntries: options.maxAnswers ?? ANSWER_CACHE_ENTRIES, maxBytes: options.maxAnswerBytes ?? ANSWER_CACHE_BYTES,
    });
  }

  /** readState(this, …) */
  read(tenantId: string, maxStalenessSeconds: number, io: StateIo, retainSeconds?: number): Promise<StateRead> {
    return readState(this, tenantId, maxStalenessSeconds, io, retainSeconds);
  }

  /** peekState(this, …) */
  peek(tenantId: string, maxStalenessSeconds: number): Extract<StateRead, { ok: true }> | null {
    return peekState(this, tenantId, maxStalenessSeconds);
  }

  /** decideRevocation(this, …) */
  revocation(verified: RevocationSubject, read: StateRead, step: RevocationStep,
    tenantState: DurableObjectNamespace<TenantState> | null): Promise<Outcome<void>> {
    return decideRevocation(this, verified, read, step, tenantState);
  }

  /** For logs, the benchmark and tests: copies held, and exact answers held. */
  get size(): number { return this.held.size; }
  get bytes(): number { return this.held.bytes; }
  get answers(): { readonly size: number; readonly bytes: number } { return { size: this.exact.size, bytes: this.exact.bytes }; }
}

export const createTenantStates = (options: TenantStatesOptions): TenantStates => new TenantStates(options);

/** A tenant's state, answered from memory on the hot path (no I/O). `retainSeconds`, the tenant's
 *  revocation.retainSeconds, goes with every read of the object: it keeps revocations that long. */
export async function readState(
  states: TenantStates, tenantId: string, maxStalenessSeconds: number, io: StateIo, retainSeconds?: number,
): Promise<StateRead> {
  const allowanceMs = maxStalenessSeconds * 1000;
  const copy = states.held.get(tenantId);
  if (copy !== undefined) {
    const age = states.now() - copy.readAt;
    if (age < allowanceMs) {
      if (age >= allowanceMs / 2) refreshAhead(states, tenantId, allowanceMs, io, retainSeconds);
      return copy.fromMemory;
    }
  }
  return readThrough(states, tenantId, allowanceMs, io, retainSeconds);
}

/** The isolate's copy alone, never I/O: younger than maxStalenessSeconds (than PEEK_FLOOR_MS
 *  when that is 0), else null. For the status check before perIp, which no object call may
 *  precede. */
export function peekState(states: TenantStates, tenantId: string, maxStalenessSeconds: number): Extract<StateRead, { ok: true }> | null {
  const copy = states.held.peek(tenantId);
  if (copy === undefined || states.now() - copy.readAt >= Math.max(maxStalenessSeconds * 1000, PEEK_FLOOR_MS)) return null;
  return copy.fromMemory as Extract<StateRead, { ok: true }>;
}

/** The revocation step against a read: `revocation_unavailable` for a failed one, else the
 *  rules: the snapshot's, then, for the values it could not clear, the exact times (memory's
 *  answers that still hold, the object's for the rest). No I/O when the snapshot decides, or
 *  memory holds the exact answers it needs. */
export async function decideRevocation(states: TenantStates, verified: RevocationSubject, read: StateRead, step: RevocationStep,
  tenantState: DurableObjectNamespace<TenantState> | null): Promise<Outcome<void>> {
  if (!read.ok) return deny({ error: 'revocation_unavailable', retryAfterSeconds: read.retryAfterSeconds, note: read.note });
  const checked = checkRevocation(verified, read.snapshot, step);
  if (checked.ok !== 'ask') return checked;
  // Untracked (no object bound) lists are empty and never ask; should one, it fails closed.
  if (tenantState === null) {
    return deny({ error: 'revocation_unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note: 'no TenantState bound' });
  }
  const times: Times = { sub: null, sid: null, jti: null };
  const missing = remembered(states, step.tenantId, checked.query, read.snapshot, times);
  const asked = missing === null ? ASKED_NOTHING : await askObject(states, step.tenantId, missing, times, tenantState);
  return asked.ok ? settleRevocation(verified, read.snapshot, times) : asked;
}

/** Memory could not answer: the object, else the grace copy, else fail closed. */
async function readThrough(
  states: TenantStates, tenantId: string, allowanceMs: number, io: StateIo, retainSeconds: number | undefined,
): Promise<StateRead> {
  const read = await readObject(states, tenantId, allowanceMs, io, retainSeconds);
  if (read.ok) return { ok: true, snapshot: read.held.snapshot, tier: 'object' };
  // The newest copy (another request may have read meanwhile), aged as of now: the failed
  // read may have taken a while.
  const last = states.held.getStale(tenantId)?.value;
  if (last !== undefined && states.now() - last.readAt < allowanceMs + GRACE_MS) {
    return { ok: true, snapshot: last.snapshot, tier: 'grace' };
  }
  return { ok: false, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note: read.note };
}

/** One read of the object; a newer copy is kept, an older one (a slow read) is not. */
async function readObject(
  states: TenantStates, tenantId: string, allowanceMs: number, io: StateIo, retainSeconds: number | undefined,
): Promise<ObjectRead> {
  const readAt = states.now();
  try {
    states.counters.reads++;
    const call = tenantStateStub(io.tenantState, tenantId).snapshot(retainSeconds);
    const snapshot = (await withDeadline(call, states.deadlineMs, 'TenantState')) as TenantStateSnapshot;
    const fresh: Held = { snapshot, readAt, fromMemory: { ok: true, snapshot, tier: 'memory' } };
    const current = states.held.getStale(tenantId)?.value;
    if (current === undefined || current.readAt <= readAt) {
      // Kept past its allowance only so it can serve the grace period.
      const ttlMs = readAt + allowanceMs + GRACE_MS - states.now();
      states.held.set(tenantId, fresh, { ttlMs, bytes: snapshotBytes(snapshot) + 2 * tenantId.length });
    }
    return { ok: true, held: fresh };
  } catch (error) {
    const note = noteOf(error);
    console.log(JSON.stringify({ event: 'tenant_state_unavailable', tenant: tenantId, note }));
    return { ok: false, note };
  }
}

function refreshAhead(states: TenantStates, tenantId: string, allowanceMs: number, io: StateIo, retainSeconds: number | undefined): void {
  if (states.refreshing.get(tenantId) !== undefined) return;
  states.refreshing.set(tenantId, states.now(), { ttlMs: REFRESH_LOST_AFTER_MS });
  io.waitUntil(readObject(states, tenantId, allowanceMs, io, retainSeconds).finally(() => states.refreshing.delete(tenantId)));
}

/** Writes into `times` the answers memory holds that still hold against `snapshot`; returns the
 *  values it must ask about (null: none). */
function remembered(states: TenantStates, tenantId: string, query: RevocationQuery, snapshot: TenantStateSnapshot,
  times: Times): RevocationQuery | null {
  let missing: { sub?: string; sid?: string; jti?: string; claims?: string[] } | null = null;
  for (const field of FIELDS) {
    const value = query[field];
    if (value === undefined) continue;
    const answer = states.exact.get(`${tenantId}/${LIST_OF[field]}/${value}`);
    if (answer !== undefined && answerStillHolds(snapshot[LIST_OF[field]], snapshot.asOf, value, answer)) times[field] = answer.at;
    else (missing ??= {})[field] = value;
  }
  for (const key of query.claims ?? []) {
    const answer = states.exact.get(`${tenantId}/claimValues/${key}`);
    if (answer !== undefined && answerStillHolds(snapshot.claimValues, snapshot.asOf, key, answer)) (times.claims ??= []).push(answer.at);
    else ((missing ??= {}).claims ??= []).push(key);
  }
  return missing;
}

const ASKED_NOTHING: Outcome<void> = ok(undefined);

/** "maybe", and memory holds no answer that still holds: one object call for the exact times
 *  of the values missing, written into `times` and kept for reuse. Unreachable: the token fails
 *  closed. */
async function askObject(states: TenantStates, tenantId: string, query: RevocationQuery, times: Times,
  tenantState: DurableObjectNamespace<TenantState>): Promise<Outcome<void>> {
  try {
    states.counters.checks++;
    const call = tenantStateStub(tenantState, tenantId).check(query);
    const answered = await withDeadline(call, states.deadlineMs, 'TenantState') as RevocationTimes;
    const keep = (key: string, at: number | null) =>
      states.exact.set(key, { at, asOf: answered.asOf }, { ttlMs: ANSWER_TTL_MS, bytes: 2 * key.length + 64 });
    for (const field of FIELDS) {
      const value = query[field];
      if (value === undefined) continue;
      times[field] = answered[field];
      keep(`${tenantId}/${LIST_OF[field]}/${value}`, answered[field]);
    }
    (query.claims ?? []).forEach((key, i) => {
      const at = answered.claims?.[i] ?? null;
      (times.claims ??= []).push(at);
      keep(`${tenantId}/claimValues/${key}`, at);
    });
    return ASKED_NOTHING;
  } catch (error) {
    const note = noteOf(error);
    console.log(JSON.stringify({ event: 'tenant_state_unavailable', tenant: tenantId, note }));
    return deny({ error: 'revocation_unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, note });
  }
}
