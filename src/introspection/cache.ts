// Where introspection answers are kept (docs/introspection.md "Caching"): per (tenant, issuer,
// SHA-256 of the token), in the isolate's memory (the bounded cache: entries and bytes) and in the
// Cache API of the location (a synthetic URL holding the hash, never the token), each for the
// answer's window: cacheSeconds for an active answer and never past its exp, inactiveCacheSeconds
// for an inactive one. A failure is never kept. And the isolate's calls under way, so that
// concurrent requests with one token share one call.
//
// No promise is ever shared between requests: a request awaiting another request's I/O can hang
// in Workers when that request is cancelled (cfworker/cfworker#226). A call under way is plain
// data (a Flight): the request that makes the call (the leader) writes its outcome there; every
// other request with the token (a waiter) looks at it on its own timers, and stops looking at the
// flight's deadline whatever happened to the leader. See awaitFlight.
//
//   const introspections = createIntrospections({ now });           // once per isolate
//   const key = answerKey(tenant.id, issuer.issuer, token);         // the hash; the token goes no further
//   introspections.memory.get(key.memory);                          // a Held answer or undefined
//   const cached = await readCachedAnswer(caches.default, key, now());
//   keepAnswer(introspections, key, answer, ttlMs, io);              // memory now, the Cache API after the answer
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';
import type { Denial, Outcome } from '../base/denial';
import type { IssuerPolicy } from '../tenants/tenant';
import type { VerifiedToken } from '../verify/token';
import { INACTIVE, readAnswer, type Answer } from './answer';
import { sha256Hex } from './sha256';

export const DEFAULT_MAX_ANSWERS = 10_000;
export const DEFAULT_MAX_ANSWER_BYTES = 8 * 1024 * 1024;
/** Per entry beyond the answer's JSON text: the key, the entry, the judged token. An estimate. */
const ENTRY_OVERHEAD_BYTES = 512;
/** Calls under way an isolate tracks; past it, a request calls on its own (the platform bounds
 *  concurrent requests long before). */
const MAX_FLIGHTS = 1_000;

/** Which tier answered (the decision log's `tiers.introspection`). */
export type IntrospectionTier = 'memory' | 'cache' | 'network';

/** An answer as memory holds it, with the judgement of its claims under the issuer policy and
 *  resource that last read it (judged again when either changes: a recompiled tenant). */
export interface Held {
  readonly answer: Answer;
  /** When the answer came from the provider (Date.now()): its age is judged against the window the
   *  tenant's config has at each read (keptWithin), so a lowered window holds for it at once. */
  readonly keptAt: number;
  judged: { readonly issuer: IssuerPolicy; readonly resource: string; readonly token: Outcome<VerifiedToken> } | null;
}

/** A call under way, as plain data. `settled` is written once, by the leader. */
export interface Flight {
  /** Date.now() after which no waiter waits any longer. */
  readonly deadline: number;
  settled: Settled | null;
}

/** How a call ended: an answer (and the tier it came from) or the refusal it leads to. */
export type Settled = { ok: true; answer: Answer; tier: IntrospectionTier } | { ok: false; denial: Denial };

export interface Introspections {
  readonly now: Clock;
  readonly memory: BoundedCache<string, Held>;
  readonly flights: Map<string, Flight>;
}

export function createIntrospections(options: { now: Clock; maxEntries?: number; maxBytes?: number }): Introspections {
  return {
    now: options.now,
    memory: new BoundedCache({
      now: options.now, maxEntries: options.maxEntries ?? DEFAULT_MAX_ANSWERS, maxBytes: options.maxBytes ?? DEFAULT_MAX_ANSWER_BYTES,
    }),
    flights: new Map(),
  };
}

/** Names one token's answer in each store: the tenant, the issuer and the token's SHA-256. */
export class AnswerKey {
  /** The memory tier's and the flights' key. */
  readonly memory: string;
  readonly #tenantId: string;
  readonly #issuer: string;
  readonly #hash: string;

  constructor(tenantId: string, issuer: string, hash: string) {
    this.memory = `${tenantId} ${issuer} ${hash}`;
    this.#tenantId = tenantId;
    this.#issuer = issuer;
    this.#hash = hash;
  }

  /** The Cache API's synthetic URL (the only place it is built; only a cold token needs it). */
  get url(): string {
    return `https://introspection.edge-token-verifier.internal/v1/${encodeURIComponent(this.#tenantId)}/${
      encodeURIComponent(this.#issuer)}/${this.#hash}`;
  }
}

/** Synchronous (sha256.ts): no await between a request's memory lookup and its flight's start. */
export function answerKey(tenantId: string, issuer: string, token: string): AnswerKey {
  return new AnswerKey(tenantId, issuer, sha256Hex(token));
}

/** How long an answer may be reused (ms): active, cacheSeconds and never past its exp; inactive,
 *  inactiveCacheSeconds. 0 or less: not kept. An active answer without a numeric exp is refused
 *  whenever it is read (exp is required), so it is kept as any other. */
export function answerWindowMs(answer: Answer, issuer: IssuerPolicy & { introspection: { cacheSeconds: number;
  inactiveCacheSeconds: number } }, nowMs: number): number {
  const { cacheSeconds, inactiveCacheSeconds } = issuer.introspection;
  if (!answer.active) return inactiveCacheSeconds * 1000;
  const exp = answer.claims.exp;
  const untilExp = typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 - nowMs : Number.POSITIVE_INFINITY;
  return Math.min(cacheSeconds * 1000, untilExp);
}

/** Whether a kept answer may still be used under the window the issuer's config has now: the
 *  window it was kept for may be longer (the tenant lowered cacheSeconds or inactiveCacheSeconds
 *  since, say during a provider incident), and the lower one holds for it from the next read. */
export function keptWithin(answer: Answer, keptAt: number, issuer: Parameters<typeof answerWindowMs>[1], nowMs: number): boolean {
  return nowMs - keptAt < answerWindowMs(answer, issuer, keptAt);
}

/** Keeps an answer in memory now and in the Cache API after the response (io.waitUntil), as
 *  kept at keptAt (an answer from the Cache API keeps the time the provider gave it). */
export function keepAnswer(state: Introspections, key: AnswerKey, answer: Answer, ttlMs: number,
  io: { cache: Cache | null; waitUntil: (promise: Promise<unknown>) => void }, keptAt = state.now()): void {
  if (!(ttlMs > 0)) return;
  const now = state.now();
  const text = JSON.stringify(answer.active ? answer.claims : {});
  state.memory.set(key.memory, { answer, keptAt, judged: null }, { ttlMs, bytes: 2 * text.length + ENTRY_OVERHEAD_BYTES });
  if (io.cache !== null) io.waitUntil(writeCachedAnswer(io.cache, key, answer, text, keptAt, now + ttlMs, now));
}

/** Registers this request as the leader of a call for the key: null when a call is under way
 *  already (join it with awaitFlight), or when the isolate tracks too many. */
export function startFlight(state: Introspections, key: AnswerKey, deadline: number): Flight | null {
  if (state.flights.has(key.memory) || state.flights.size >= MAX_FLIGHTS) return null;
  const flight: Flight = { deadline, settled: null };
  state.flights.set(key.memory, flight);
  return flight;
}

export function flightOf(state: Introspections, key: AnswerKey): Flight | undefined {
  return state.flights.get(key.memory);
}

/** The leader's last act, whatever happened: the outcome for the waiters, the flight gone. */
export function endFlight(state: Introspections, key: AnswerKey, flight: Flight, settled: Settled): void {
  flight.settled = settled;
  if (state.flights.get(key.memory) === flight) state.flights.delete(key.memory);
}

/** A waiter's wait: it reads the flight on timers of its own (1, 2, 4 … 25 ms apart) until the
 *  leader settles it or the flight's deadline passes. It awaits nothing the leader made, so a
 *  leader cancelled mid-call cannot hang it: the leader's call runs under its waitUntil (a client
 *  going away does not stop it), and if the leader never writes an outcome after all, the waiter
 *  stops at the deadline with `undefined` (the caller's 503 issuer_unavailable). */
export async function awaitFlight(flight: Flight): Promise<Settled | undefined> {
  let pause = 1;
  while (flight.settled === null && Date.now() < flight.deadline) {
    await new Promise((wake) => setTimeout(wake, pause));
    pause = Math.min(pause * 2, 25);
  }
  return flight.settled ?? undefined;
}

/** A kept answer from the location's Cache API while its own window runs (the entry's expiry by
 *  our clock, not the cache's), with the time it was kept, else null. An entry without that time
 *  is a miss. Never throws: a cache that fails is a miss. */
export async function readCachedAnswer(cache: Cache, key: AnswerKey, nowMs: number):
  Promise<{ answer: Answer; keptAt: number; expiresAt: number } | null> {
  try {
    const response = await cache.match(key.url);
    if (response === undefined) return null;
    const entry = (await response.json()) as { active?: unknown; claims?: unknown; keptAt?: unknown; expiresAt?: unknown } | null;
    if (entry === null || typeof entry.expiresAt !== 'number' || !(entry.expiresAt > nowMs)) return null;
    const { active, claims, keptAt } = entry;
    if (typeof keptAt !== 'number' || !Number.isFinite(keptAt)) return null;
    const answer = active === false ? INACTIVE
      : active === true && typeof claims === 'object' && claims !== null ? readAnswer({ ...claims, active: true }) : null;
    return answer === null ? null : { answer, keptAt, expiresAt: entry.expiresAt };
  } catch {
    return null;
  }
}

async function writeCachedAnswer(cache: Cache, key: AnswerKey, answer: Answer, claimsText: string, keptAt: number, expiresAt: number,
  nowMs: number): Promise<void> {
  const maxAge = Math.max(1, Math.ceil((expiresAt - nowMs) / 1000));
  const body = `{"active":${answer.active},"keptAt":${keptAt},"expiresAt":${expiresAt},"claims":${claimsText}}`;
  try {
    await cache.put(key.url, new Response(body, {
      headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${maxAge}` },
    }));
  } catch {
    // A failed cache write only costs the next isolate a call.
  }
}
