// The isolate's side of the key tiers (README.md "Keys: discovery and JWKS"): memory (key sets
// and their imported CryptoKeys) -> Cache API (per location) -> the IssuerKeys object, which
// alone touches the network. Implements KeySource; nothing is shared across requests but data.
// A key set belongs to an issuer of access and logout tokens or to an SSF transmitter
// (KeySetPolicy): both get the same tiers, lifetimes, kid-miss cooldown and stale-if-error.
//
//   const tiers = createKeyTiers({ now: systemClock });            // once per isolate
//   const keys = tiers.source({                                     // per request: its I/O
//     issuerKeys: env.ISSUER_KEYS, cache: caches.default, waitUntil: (p) => ctx.waitUntil(p),
//     allowInsecure: env.ALLOW_INSECURE_ISSUERS === 'true',
//   });
//   const found = await keys.candidates(issuer, { alg: 'RS256', kid: 'k1' });
//   if (found.ok) found.value.keys;   // else invalid_token/unknown_kid or issuer_unavailable
//   const endpoint = await tiers.introspectionEndpoint(io, discoveredKeySet);   // RFC 7662, from discovery
import { importJWK } from 'jose';
import { BoundedCache, type CacheCounters } from '../base/cache';
import type { Clock } from '../base/clock';
import { deny, invalidToken, ok, type Denial, type Outcome } from '../base/denial';
import type { Algorithm } from '../config/algorithms';
import {
  FAILURE_HOLD_MS, REFRESH_COOLDOWN_MS, STALE_IF_ERROR_MS, issuerKeysStub,
  type IssuerKeys, type KeySet, type KeySetAnswer,
} from './issuer-keys';
import type { KeyCandidate, KeyLookup, KeySetPolicy, KeySource, KeyTier } from './key-source';
import { selectKeys } from './selection';

export const DEFAULT_MAX_ISSUERS = 1_000;

/** The I/O one request lends the tiers. */
export interface KeyTierIo {
  readonly issuerKeys: DurableObjectNamespace<IssuerKeys>;
  /** caches.default, or null where there is no Cache API (tests of the other tiers). */
  readonly cache: Cache | null;
  /** ctx.waitUntil: Cache API writes happen after the answer. */
  readonly waitUntil: (promise: Promise<unknown>) => void;
  /** ALLOW_INSECURE_ISSUERS === "true": the object may then fetch http on loopback. */
  readonly allowInsecure: boolean;
}

export interface KeyTiers {
  source(io: KeyTierIo): KeySource;
  /** The introspection_endpoint the key set's discovery document names (introspection/), through
   *  the same tiers as its keys: no I/O when memory holds the set. issuer_unavailable when the set
   *  cannot be had or its document names none. */
  introspectionEndpoint(io: KeyTierIo, keySet: KeySetPolicy): Promise<Outcome<string>>;
  /** The version (fetchedAt) of the key set memory serves for this id now, without I/O; null
   *  when memory would not serve one. The verified-token cache checks its entries with it. */
  currentVersion(keySetId: string): number | null;
  /** The memory tier's counters, for the log and the bench. */
  readonly counters: Readonly<CacheCounters>;
}

/** A key set as the isolate holds it; imported keys by `${index}:${alg}`, null when unusable;
 *  answered lookups by `alg` or `alg:kid` (only found keys: bounded by the set's keys). */
interface HeldKeySet extends KeySet {
  readonly imported: Map<string, CryptoKey | null>;
  readonly answered: Map<string, Outcome<KeyLookup>>;
}

type Held =
  | { kind: 'keys'; set: HeldKeySet }
  /** A recent failure with nothing to serve: answer issuer_unavailable without asking again. */
  | { kind: 'unavailable'; retryAt: number };

type Found = Outcome<{ set: HeldKeySet; tier: KeyTier }>;

export function createKeyTiers(options: { now: Clock; maxIssuers?: number }): KeyTiers {
  const maxEntries = options.maxIssuers ?? DEFAULT_MAX_ISSUERS;
  const state: TierState = {
    now: options.now,
    memory: new BoundedCache<string, Held>({ now: options.now, maxEntries }),
    refreshAsked: new BoundedCache<string, true>({ now: options.now, maxEntries }),
  };
  return {
    source: (io) => ({
      candidates: async (issuer, header) => answeredFromMemory(state, issuer, header) ?? candidates(state, io, issuer, header),
    }),
    introspectionEndpoint: (io, keySet) => introspectionEndpointOf(state, io, keySet),
    currentVersion(keySetId) {
      const held = state.memory.peek(keySetId);
      return held?.kind === 'keys' ? held.set.fetchedAt : null;
    },
    get counters() { return state.memory.counters; },
  };
}

interface TierState {
  readonly now: Clock;
  readonly memory: BoundedCache<string, Held>;
  /** Key sets this isolate asked the object to refresh in the last 30 s. */
  readonly refreshAsked: BoundedCache<string, true>;
}

const lookupName = (header: { alg: Algorithm; kid: string | undefined }): string =>
  header.kid === undefined ? header.alg : `${header.alg}:${header.kid}`;

/** The hot path: the same lookup answered before from the key set memory holds now, without an
 *  await or an allocation. */
function answeredFromMemory(
  state: TierState, issuer: KeySetPolicy, header: { alg: Algorithm; kid: string | undefined },
): Outcome<KeyLookup> | undefined {
  const held = state.memory.get(issuer.keySetId);
  return held?.kind === 'keys' ? held.set.answered.get(lookupName(header)) : undefined;
}

async function candidates(
  state: TierState, io: KeyTierIo, issuer: KeySetPolicy, header: { alg: Algorithm; kid: string | undefined },
): Promise<Outcome<KeyLookup>> {
  let found = await keySetFor(state, io, issuer);
  if (!found.ok) return found;
  let selected = selectKeys(found.value.set.keys, header);
  if (selected.length === 0) {
    // A kid miss may be a rotation: one refresh past both caches, at most one per 30 s, so a
    // flood of random kids costs the object one call per isolate and the issuer one fetch.
    if (state.refreshAsked.get(issuer.keySetId) !== undefined) return invalidToken('unknown_kid', 'refresh cooling down');
    state.refreshAsked.set(issuer.keySetId, true, { ttlMs: REFRESH_COOLDOWN_MS });
    const refreshed = await fromObject(state, io, issuer, true, found.value.set);
    if (!refreshed.ok) return invalidToken('unknown_kid', 'refresh failed');
    found = refreshed;
    selected = selectKeys(found.value.set.keys, header);
    if (selected.length === 0) return invalidToken('unknown_kid');
  }
  const { set, tier } = found.value;
  const keys: KeyCandidate[] = [];
  for (const { jwk, index } of selected) {
    const name = `${index}:${header.alg}`;
    let key = set.imported.get(name);
    if (key === undefined) {
      key = await importJWK(jwk, header.alg).then((k) => (k instanceof Uint8Array ? null : k), () => null);
      set.imported.set(name, key);
    }
    if (key !== null) keys.push({ key, kid: jwk.kid });
  }
  if (keys.length === 0) return invalidToken('unknown_kid', 'key import failed');
  // Later requests find these keys in memory.
  set.answered.set(lookupName(header), ok(Object.freeze({ keys: Object.freeze(keys), tier: 'memory' as const, version: set.fetchedAt })));
  return ok({ keys, tier, version: set.fetchedAt });
}

async function introspectionEndpointOf(state: TierState, io: KeyTierIo, keySet: KeySetPolicy): Promise<Outcome<string>> {
  let found = await keySetFor(state, io, keySet);
  if (!found.ok) return found;
  // Held from before the endpoint was kept (a Cache API entry or an object's stored set): ask again.
  if (found.value.set.introspectionEndpoint === undefined) {
    found = await fromObject(state, io, keySet, false, found.value.set, true);
    if (!found.ok) return found;
  }
  const endpoint = found.value.set.introspectionEndpoint;
  if (typeof endpoint === 'string') return ok(endpoint);
  const note = 'discovery names no introspection_endpoint';
  return deny({ error: 'issuer_unavailable', retryAfterSeconds: FAILURE_HOLD_MS / 1000, note });
}

/** Memory, then the Cache API, then the object; stale memory when all of them fail. */
async function keySetFor(state: TierState, io: KeyTierIo, issuer: KeySetPolicy): Promise<Found> {
  const id = issuer.keySetId;
  const held = state.memory.get(id);
  if (held?.kind === 'keys') return ok({ set: held.set, tier: 'memory' });
  if (held?.kind === 'unavailable') return unavailable(held.retryAt, state.now(), 'recent failure');

  const previous = state.memory.getStale(id)?.value;
  const stale = previous?.kind === 'keys' ? previous.set : null;
  if (io.cache !== null) {
    const cached = await readCache(io.cache, id, state.now());
    if (cached !== null) {
      const set = adopt(cached, stale);
      state.memory.set(id, { kind: 'keys', set }, { ttlMs: set.expiresAt - state.now() });
      return ok({ set, tier: 'cache' });
    }
  }
  const answered = await fromObject(state, io, issuer, false, stale);
  if (answered.ok) return answered;

  const now = state.now();
  if (stale !== null && now < stale.expiresAt + STALE_IF_ERROR_MS) {
    state.memory.set(id, { kind: 'keys', set: stale }, { ttlMs: staleHoldMs(stale, now) });
    return ok({ set: stale, tier: 'memory' });
  }
  const retryAt = now + (answered.denial.error === 'issuer_unavailable' ? answered.denial.retryAfterSeconds * 1000 : FAILURE_HOLD_MS);
  state.memory.set(id, { kind: 'unavailable', retryAt }, { ttlMs: retryAt - now });
  return answered;
}

/** Asks the object; a good answer lands in memory and, while fresh, in the Cache API. */
async function fromObject(
  state: TierState, io: KeyTierIo, issuer: KeySetPolicy, refresh: boolean, stale: HeldKeySet | null, introspection = false,
): Promise<Found> {
  let answer: KeySetAnswer;
  try {
    answer = await issuerKeysStub(io.issuerKeys, issuer.keySetId).keySet({
      issuer: issuer.issuer, jwksUri: issuer.jwksUri, discovery: issuer.discovery, refresh, allowInsecure: io.allowInsecure,
      ...(introspection ? { introspection } : {}),
    });
  } catch {
    // An unreachable object is not a bug of ours: the same as an issuer that failed.
    answer = { ok: false, retryAfterSeconds: FAILURE_HOLD_MS / 1000, note: 'issuer keys object unreachable' };
  }
  const now = state.now();
  if (!answer.ok) return unavailable(now + answer.retryAfterSeconds * 1000, now, answer.note);

  const set = adopt(answer.keySet, stale);
  const fresh = set.expiresAt > now;
  state.memory.set(issuer.keySetId, { kind: 'keys', set }, { ttlMs: fresh ? set.expiresAt - now : staleHoldMs(set, now) });
  if (fresh && io.cache !== null) io.waitUntil(writeCache(io.cache, issuer.keySetId, set, now));
  return ok({ set, tier: answer.fetched ? 'network' : 'object' });
}

/** Stale keys are held briefly, so the object is asked again soon, and never past the limit. */
function staleHoldMs(set: KeySet, now: number): number {
  return Math.min(FAILURE_HOLD_MS, set.expiresAt + STALE_IF_ERROR_MS - now);
}

function unavailable(retryAt: number, now: number, note: string): { ok: false; denial: Denial } {
  return deny({ error: 'issuer_unavailable', retryAfterSeconds: Math.max(1, Math.ceil((retryAt - now) / 1000)), note });
}

/** The same version keeps its imported keys and answered lookups; a new version starts with none. */
function adopt(keySet: KeySet, previous: HeldKeySet | null): HeldKeySet {
  const same = previous !== null && previous.fetchedAt === keySet.fetchedAt;
  return {
    keys: keySet.keys, fetchedAt: keySet.fetchedAt, expiresAt: keySet.expiresAt, introspectionEndpoint: keySet.introspectionEndpoint,
    imported: same ? previous.imported : new Map(), answered: same ? previous.answered : new Map(),
  };
}

// The Cache API tier: one synthetic URL per key set (the only place it is built).
const cacheUrl = (keySetId: string): string =>
  `https://issuer-keys.edge-token-verifier.internal/v1/${encodeURIComponent(keySetId)}`;

async function readCache(cache: Cache, keySetId: string, now: number): Promise<KeySet | null> {
  try {
    const response = await cache.match(cacheUrl(keySetId));
    if (response === undefined) return null;
    const entry = (await response.json()) as Partial<KeySet> | null;
    if (entry === null || !Array.isArray(entry.keys) || typeof entry.fetchedAt !== 'number' || typeof entry.expiresAt !== 'number') {
      return null;
    }
    // The entry's own expiry rules, not the cache's: the two clocks may differ.
    if (!(entry.expiresAt > now)) return null;
    const endpoint = entry.introspectionEndpoint;
    return {
      keys: entry.keys, fetchedAt: entry.fetchedAt, expiresAt: entry.expiresAt,
      // Absent in entries written before it was kept: the object is asked when it is needed.
      introspectionEndpoint: typeof endpoint === 'string' || endpoint === null ? endpoint : undefined,
    };
  } catch {
    return null;
  }
}

async function writeCache(cache: Cache, keySetId: string, keySet: KeySet, now: number): Promise<void> {
  const maxAge = Math.max(1, Math.floor((keySet.expiresAt - now) / 1000));
  const body = JSON.stringify({
    keys: keySet.keys, fetchedAt: keySet.fetchedAt, expiresAt: keySet.expiresAt, introspectionEndpoint: keySet.introspectionEndpoint,
  });
  try {
    await cache.put(cacheUrl(keySetId), new Response(body, {
      headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${maxAge}` },
    }));
  } catch {
    // A failed cache write only costs the next isolate an object call.
  }
}
