// The RateLimiter Durable Object: one per (tenant, policy, key), the authority on how many
// permits that key may still use (README.md "Rate limits"). Isolates lease permits from it.
//
//   const limiter = rateLimiterStub(env.RATE_LIMITER, { tenantId: 'acme', policy: 'ip', key: '192.0.2.1' });
//   const answer = await limiter.acquire({ limit: 600, windowSeconds: 60, want: 8, leaseMs: 1000 });
//   answer.granted;   // 0..want: the first is the caller's, used now; the rest a lease until sent + leaseMs
//   answer.resetMs;   // denied: when the next admission is possible; granted: when the oldest permit frees
//
// Why the bound holds. The object keeps a log of the permits it granted, each with the time
// it stops counting ("frees"). A lease granted at g may be used only until g + ε: the isolate
// starts the lifetime when it SENDS the request (its clock, before g in real time), so every use
// of a leased permit happens at some u in [g, g + ε] without the two clocks agreeing. The first
// permit of every grant is the calling request's own and is admitted at g (ε = 0 for it). A permit
// frees at g + ε + w (w = the window). Grant k permits only if
//     count(permits not yet freed) + k <= L.
// Proof: suppose a window [a, a + w) held L + 1 uses. Let g* be the latest grant time among the
// permits used in it; g* < a + w. Each such permit was used at u >= a and u <= g + ε, so it frees
// at g + ε + w >= a + w > g*, and was granted at or before g*: at g* all L + 1 were counted
// (those granted earlier as not yet freed, those granted at g* as the new k), contradicting the
// check. This is the lead's sliding log over grant times with window w + ε, kept per permit so
// isolates may use different ε. Leased permits stay counted ε longer than they could be used: the
// limit is stricter than the bare bound by at most ε / w (1 s of 60 s), and only for leased
// permits; a key served one permit per request (small limits, cold keys) gets the exact bound.
// Permits an isolate leases and never uses are lost for their window: lease sizing (below and in
// rate-limits.ts) keeps leases small, a fraction of what is left, so few are ever stranded.
//
// Why one object per key: no global hot object (a tenant's busiest key cannot slow its others),
// each log is small, and the object is created where the key's traffic is. Why persisted: an
// object evicted while holding only memory would come back with an empty log and admit a full
// limit again inside the same window. The log is written before the answer leaves (the output
// gate holds it), so a permit is never granted that a restarted object does not know about.
// The log is bounded: grants whose free times lie within w / 128 of each other share one entry
// at the later time (counted a little longer, never shorter), so a key with a limit of a million
// keeps a few hundred entries, not a million. An alarm deletes the storage once everything freed.
import { DurableObject } from 'cloudflare:workers';
import { systemClock, type Clock } from '../base/clock';

export type LimitPolicy = 'ip' | 'sub';

export interface AcquireRequest {
  readonly limit: number;
  readonly windowSeconds: number;
  /** Permits wanted: 1 for this request, more to lease. */
  readonly want: number;
  /** How long the caller will use leased permits, from when it sent this call. */
  readonly leaseMs: number;
}

export interface AcquireAnswer {
  /** 0 when refused; else 1 for the caller's request plus any leased permits. */
  readonly granted: number;
  /** Permits the object can still grant now (after this grant). */
  readonly remaining: number;
  /** Epoch ms (object clock). Refused: when an admission is next possible. Granted: when the
   *  oldest counted permit frees. */
  readonly resetMs: number;
  /** The object's clock when it answered, so callers can turn resetMs into a duration. */
  readonly atMs: number;
}

/** Lease at most this share of what is left, so one isolate never takes a key's whole budget. */
export const LEASE_SHARE = 1 / 8;
/** Grants freeing within window / MERGE_DIVISOR of each other share one log entry. */
const MERGE_DIVISOR = 128;
const STORAGE_KEY = 'grants';

/** [freesAt epoch ms, permits], sorted by freesAt. */
type Entry = [freesAt: number, permits: number];

/** The object's name for a key: the one place it is derived. Tenant ids hold no `/` and the
 *  policy is fixed, so the key (an IP, a /64 or a subject) may hold anything. */
export function rateLimiterName(target: { tenantId: string; policy: LimitPolicy; key: string }): string {
  return `${target.tenantId}/${target.policy}/${target.key}`;
}

export function rateLimiterStub(
  namespace: DurableObjectNamespace<RateLimiter>, target: { tenantId: string; policy: LimitPolicy; key: string },
): DurableObjectStub<RateLimiter> {
  return namespace.get(namespace.idFromName(rateLimiterName(target)));
}

export class RateLimiter extends DurableObject {
  now: Clock = systemClock;
  #log: Entry[] = [];
  #alarmSet = false;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.#log = (await ctx.storage.get<Entry[]>(STORAGE_KEY)) ?? [];
      this.#alarmSet = (await ctx.storage.getAlarm()) !== null;
    });
  }

  async acquire(request: AcquireRequest): Promise<AcquireAnswer> {
    const now = this.now();
    const limit = Math.max(0, Math.floor(request.limit));
    const windowMs = Math.max(1, request.windowSeconds) * 1000;
    const leaseMs = Math.min(Math.max(0, request.leaseMs), windowMs);
    const want = Math.max(1, Math.floor(request.want));

    const counted = this.#prune(now);
    const available = limit - counted;
    if (available <= 0) {
      return { granted: 0, remaining: 0, resetMs: this.#admissionAt(counted - limit + 1, now), atMs: now };
    }
    const granted = Math.min(want, Math.max(1, Math.floor(available * LEASE_SHARE)));
    const mergeMs = windowMs / MERGE_DIVISOR;
    this.#record(now + windowMs, 1, mergeMs);
    if (granted > 1) this.#record(now + leaseMs + windowMs, granted - 1, mergeMs);
    await this.#persist();
    return { granted, remaining: available - granted, resetMs: this.#log[0]![0], atMs: now };
  }

  /** Deletes the storage once every permit freed, so idle keys cost nothing. */
  override async alarm(): Promise<void> {
    this.#alarmSet = false;
    this.#prune(this.now());
    if (this.#log.length === 0) {
      await this.ctx.storage.deleteAll();
    } else {
      this.#alarmSet = true;
      await this.ctx.storage.setAlarm(this.#log.at(-1)![0]);
    }
  }

  /** Drops freed entries; returns the permits still counted. */
  #prune(now: number): number {
    let drop = 0;
    while (drop < this.#log.length && this.#log[drop]![0] <= now) drop++;
    if (drop > 0) this.#log.splice(0, drop);
    let counted = 0;
    for (const [, permits] of this.#log) counted += permits;
    return counted;
  }

  /** When `excess` more permits will have freed: the time an admission is next possible. */
  #admissionAt(excess: number, now: number): number {
    let freed = 0;
    for (const [freesAt, permits] of this.#log) {
      freed += permits;
      if (freed >= excess) return freesAt;
    }
    return this.#log.at(-1)?.[0] ?? now; // unreachable for limit >= 1: counted >= excess
  }

  /** Adds permits freeing at `freesAt`, into a neighbour within mergeMs when there is one, always
   *  at the later of the two times, so an entry is never counted shorter than its permits. */
  #record(freesAt: number, permits: number, mergeMs: number): void {
    const log = this.#log;
    let at = log.length;
    while (at > 0 && log[at - 1]![0] > freesAt) at--;
    const later = log[at];
    const earlier = log[at - 1];
    if (later !== undefined && later[0] - freesAt <= mergeMs) {
      later[1] += permits;
    } else if (earlier !== undefined && freesAt - earlier[0] <= mergeMs) {
      earlier[0] = freesAt;
      earlier[1] += permits;
    } else {
      log.splice(at, 0, [freesAt, permits]);
    }
  }

  async #persist(): Promise<void> {
    await this.ctx.storage.put(STORAGE_KEY, this.#log);
    if (!this.#alarmSet) {
      this.#alarmSet = true;
      await this.ctx.storage.setAlarm(this.#log.at(-1)![0]);
    }
  }
}
