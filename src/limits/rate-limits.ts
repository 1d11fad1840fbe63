// Rate limits as the request path sees them (README.md "Rate limits"): the isolate's leases of
// permits from the RateLimiter objects and the client IP key (IPv6 by its /64). The headers they
// give an answer are HTTP's (http/answers.ts).
//
//   const limits = createRateLimits({ now });              // once per isolate: leases live here
//   const key = clientIpKey(request.headers.get('cf-connecting-ip'));   // null: not counted
//   const ip = await countRequest(limits, tenantId, 'ip', { limit: 600, windowSeconds: 60 }, key, env.RATE_LIMITER);
//   if (ip?.admitted === false) deny({ error: 'rate_limited', retryAfterSeconds: ip.retryAfterSeconds });
//
// A request first spends a permit this isolate holds on lease; only without one does it ask the
// key's object (rate-limiter.ts explains why the bound holds). Each request makes its own call:
// a promise is never shared across requests (a Worker awaiting another request's I/O can hang,
// cfworker/cfworker#226); leases are plain data in memory, which requests may share.
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';
import { noteOf } from '../base/denial';
import { rateLimiterName, rateLimiterStub, type LimitPolicy, type RateLimiter } from './rate-limiter';
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';

export type { LimitPolicy } from './rate-limiter';

/** A lease lives this long at most, and never more than a tenth of the window: leased permits
 *  count this much longer than they can be used (the ε of rate-limiter.ts). */
export const LEASE_MS = 1000;
export const leaseMsFor = (windowSeconds: number): number => Math.min(LEASE_MS, windowSeconds * 100);

export interface LimitRequest {
  readonly tenantId: string;
  readonly policy: LimitPolicy;
  /** An IP (clientIpKey) or a verified subject. */
  readonly key: string;
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface LimitDecision {
  readonly policy: LimitPolicy;
  readonly limit: number;
  readonly windowSeconds: number;
  readonly admitted: boolean;
  /** Permits left for the key as this isolate last knew it (exact when the object answered). */
  readonly remaining: number;
  /** Whole seconds until the oldest counted permit frees (admitted) or the next admission (refused). */
  readonly resetSeconds: number;
  /** Refused: whole seconds until the next admission is possible, at least 1. Admitted: 0. */
  readonly retryAfterSeconds: number;
  /** The limiter could not be reached: admitted without counting (the contract: requests pass). */
  readonly unavailable: boolean;
}

export interface RateLimitCounters { local: number; objectCalls: number; unavailable: number }

interface Lease { permits: number; readonly expiresAt: number }

/** What an isolate knows about one key. Times are this isolate's clock. */
export interface KeyState {
  readonly limit: number;
  readonly windowSeconds: number;
  /** Sorted by expiry; the soonest is spent first. */
  leases: Lease[];
  /** The object refused: no admission is possible before this (from the call's send time). */
  deniedUntil: number;
  /** The same moment from the answer's arrival, for Retry-After. */
  retryAt: number;
  /** The object's unleased permits and its reset time, as of its last answer. */
  objectRemaining: number;
  resetAt: number;
  /** Demand: requests seen in the current lease-length period and in the one before. */
  periodStart: number;
  seen: number;
  lastPeriodSeen: number;
}

/** The isolate's leases and remembered refusals, by key: plain state, made once per isolate,
 *  which admitLimit reads and writes. `admit` is the same call, for tests and the bench. */
export class RateLimits {
  readonly now: Clock;
  readonly deadlineMs: number;
  readonly keys: BoundedCache<string, KeyState>;
  /** Decisions made from the isolate's leases or remembered refusals vs calls to the objects. */
  readonly counters: RateLimitCounters = { local: 0, objectCalls: 0, unavailable: 0 };

  constructor(options: { now: Clock; maxKeys?: number; objectDeadlineMs?: number }) {
    this.now = options.now;
    this.deadlineMs = options.objectDeadlineMs ?? OBJECT_DEADLINE_MS;
    this.keys = new BoundedCache<string, KeyState>({ now: options.now, maxEntries: options.maxKeys ?? 10_000 });
  }

  /** admitLimit(this, …) */
  admit(request: LimitRequest, io: { rateLimiter: DurableObjectNamespace<RateLimiter> }): Promise<LimitDecision> {
    return admitLimit(this, request, io);
  }
}

export const createRateLimits = (options: { now: Clock; maxKeys?: number; objectDeadlineMs?: number }): RateLimits =>
  new RateLimits(options);

/** The limit step of a request: counted against its key, or null (admitted without counting) when
 *  it has no key (an address that does not parse) or no RateLimiter is bound. */
export async function countRequest(limits: RateLimits, tenantId: string, policy: LimitPolicy,
  config: { readonly limit: number; readonly windowSeconds: number }, key: string | null,
  rateLimiter: DurableObjectNamespace<RateLimiter> | null): Promise<LimitDecision | null> {
  if (key === null || rateLimiter === null) return null;
  return admitLimit(limits, { tenantId, policy, key, ...config }, { rateLimiter });
}

/** Counts a request against its key. No I/O when the isolate's leases or a remembered refusal
 *  decide (the hot path); from check to spend the code runs without an await, so concurrent
 *  requests never spend one permit twice. */
export async function admitLimit(
  limits: RateLimits, request: LimitRequest, io: { rateLimiter: DurableObjectNamespace<RateLimiter> },
): Promise<LimitDecision> {
  const name = rateLimiterName(request);
  const sentAt = limits.now();
  const leaseMs = leaseMsFor(request.windowSeconds);
  const state = stateOf(limits, name, request, sentAt);

  if (sentAt - state.periodStart >= leaseMs) {
    state.lastPeriodSeen = sentAt - state.periodStart < 2 * leaseMs ? state.seen : 0;
    state.periodStart = sentAt;
    state.seen = 0;
  }
  state.seen++;
  if (spendLeased(state, sentAt)) {
    limits.counters.local++;
    return decision(request, state, true, sentAt);
  }
  if (sentAt < state.deniedUntil) {
    limits.counters.local++;
    return decision(request, state, false, sentAt);
  }

  return acquire(limits, request, io, name, state, sentAt, leaseMs);
}

/** No leased permit and no remembered refusal: the key's object decides. */
async function acquire(
  limits: RateLimits, request: LimitRequest, io: { rateLimiter: DurableObjectNamespace<RateLimiter> }, name: string,
  asked: KeyState, sentAt: number, leaseMs: number,
): Promise<LimitDecision> {
  // The isolate's demand over one lease lifetime (rate × ε): doubles while a burst lasts.
  const want = Math.max(asked.seen, asked.lastPeriodSeen);
  limits.counters.objectCalls++;
  let answer;
  try {
    // Past the deadline the permits the object may still grant stay counted there: never over.
    const call = rateLimiterStub(io.rateLimiter, request)
      .acquire({ limit: request.limit, windowSeconds: request.windowSeconds, want, leaseMs });
    answer = await withDeadline(call, limits.deadlineMs, 'RateLimiter');
  } catch (error) {
    limits.counters.unavailable++;
    const note = noteOf(error);
    console.log(JSON.stringify({ event: 'rate_limiter_unavailable', tenant: request.tenantId, policy: request.policy, note }));
    return {
      policy: request.policy, limit: request.limit, windowSeconds: request.windowSeconds,
      admitted: true, remaining: request.limit, resetSeconds: 0, retryAfterSeconds: 0, unavailable: true,
    };
  }

  const receivedAt = limits.now();
  // Another request may have replaced or evicted the state meanwhile: store into the current one.
  const state = stateOf(limits, name, request, receivedAt);
  const untilReset = answer.resetMs - answer.atMs;
  state.objectRemaining = answer.remaining;
  state.resetAt = receivedAt + untilReset;
  if (answer.granted > 0) {
    const expiresAt = sentAt + leaseMs;
    if (answer.granted > 1 && expiresAt > receivedAt) {
      state.leases.push({ permits: answer.granted - 1, expiresAt });
      state.leases.sort((a, b) => a.expiresAt - b.expiresAt);
    }
    limits.keys.set(name, state, { ttlMs: Math.max(2 * leaseMs, expiresAt - receivedAt) });
    return decision(request, state, true, receivedAt);
  }
  // Measured from the send time the refusal may end a little early (one more call), never late.
  state.deniedUntil = sentAt + untilReset;
  state.retryAt = receivedAt + untilReset;
  limits.keys.set(name, state, { ttlMs: Math.max(2 * leaseMs, state.deniedUntil - receivedAt) });
  // A concurrent request may have stored a lease while this one waited.
  return decision(request, state, spendLeased(state, receivedAt), receivedAt);
}

function stateOf(limits: RateLimits, name: string, request: LimitRequest, at: number): KeyState {
  const held = limits.keys.get(name);
  if (held !== undefined && held.limit === request.limit && held.windowSeconds === request.windowSeconds) return held;
  const fresh: KeyState = {
    limit: request.limit, windowSeconds: request.windowSeconds, leases: [], deniedUntil: 0, retryAt: 0,
    objectRemaining: request.limit, resetAt: at, periodStart: at, seen: 0, lastPeriodSeen: 0,
  };
  limits.keys.set(name, fresh, { ttlMs: 2 * leaseMsFor(request.windowSeconds) });
  return fresh;
}

/** Synchronous from check to spend, so concurrent requests cannot spend one permit twice. */
function spendLeased(state: KeyState, at: number): boolean {
  while (state.leases.length > 0 && (state.leases[0]!.expiresAt <= at || state.leases[0]!.permits <= 0)) {
    state.leases.shift();
  }
  const lease = state.leases[0];
  if (lease === undefined) return false;
  lease.permits--;
  return true;
}

function decision(request: LimitRequest, state: KeyState, admitted: boolean, at: number): LimitDecision {
  const base = { policy: request.policy, limit: request.limit, windowSeconds: request.windowSeconds, unavailable: false };
  if (!admitted) {
    const retryAfterSeconds = Math.max(1, Math.ceil((state.retryAt - at) / 1000));
    return { ...base, admitted, remaining: 0, resetSeconds: retryAfterSeconds, retryAfterSeconds };
  }
  let leased = 0;
  for (const lease of state.leases) if (lease.expiresAt > at) leased += lease.permits;
  const remaining = Math.min(request.limit, state.objectRemaining + leased);
  return { ...base, admitted, remaining, resetSeconds: Math.max(0, Math.ceil((state.resetAt - at) / 1000)), retryAfterSeconds: 0 };
}

/** The key for a client address: an IPv4 address as is, an IPv6 address by its /64 (one client
 *  usually holds a whole /64), an IPv4-mapped IPv6 address as its IPv4. Null when unparsable. */
export function clientIpKey(connectingIp: string | null): string | null {
  if (connectingIp === null) return null;
  const text = connectingIp.trim();
  if (!text.includes(':')) return ipv4(text);
  const groups = ipv6Groups(text.toLowerCase());
  if (groups === null) return null;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  // RFC 5952 for the prefix: the four zero groups of the interface id are the longest zero run.
  const prefix = groups.slice(0, 4);
  while (prefix.length > 0 && prefix.at(-1) === 0) prefix.pop();
  return `${prefix.map((g) => g.toString(16)).join(':')}::/64`;
}

function ipv4(text: string): string | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number).join('.');
}

function ipv6Groups(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (half: string): number[] | null => {
    if (half === '') return [];
    const groups: number[] = [];
    const parts = half.split(':');
    for (const [index, part] of parts.entries()) {
      if (index === parts.length - 1 && part.includes('.')) {
        const v4 = ipv4(part);
        if (v4 === null) return null;
        const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-f]{1,4}$/.test(part)) {
        groups.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || tail === null) return null;
  // An embedded IPv4 belongs only at the very end.
  if (halves.length === 2 && halves[0]!.includes('.')) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : null;
}
