// The one in-isolate cache type behind every tier: bounded by entries and bytes, TTL from an
// injected clock, a stale read for stale-if-error, and counters that logs and the bench read.
//
//   const tenants = new BoundedCache<string, Tenant>({ now, maxEntries: 10_000 });
//   tenants.set(host, tenant, { ttlMs: 30_000 });
//   tenants.get(host)        // fresh value or undefined
//   tenants.getStale(host)   // value even past its TTL (until evicted), with its expiry
import type { Clock } from './clock';

interface Entry<V> { value: V; expiresAt: number; bytes: number }

export interface CacheCounters { hits: number; misses: number; evictions: number }

export class BoundedCache<K, V> {
  readonly #now: Clock;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #entries = new Map<K, Entry<V>>();
  #bytes = 0;
  readonly #counters: CacheCounters = { hits: 0, misses: 0, evictions: 0 };

  constructor(options: { now: Clock; maxEntries: number; maxBytes?: number }) {
    this.#now = options.now;
    this.#maxEntries = options.maxEntries;
    this.#maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  }

  get counters(): Readonly<CacheCounters> { return this.#counters; }
  get size(): number { return this.#entries.size; }
  get bytes(): number { return this.#bytes; }

  /** The value while its TTL runs, else undefined. A hit refreshes its place in the LRU order. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.expiresAt <= this.#now()) {
      this.#counters.misses++;
      return undefined;
    }
    this.#counters.hits++;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** The value while its TTL runs, without counting or touching the LRU order. */
  peek(key: K): V | undefined {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.expiresAt > this.#now() ? entry.value : undefined;
  }

  /** The value whatever its age (for stale-if-error), with the time it expired or will. */
  getStale(key: K): { value: V; expiresAt: number } | undefined {
    const entry = this.#entries.get(key);
    return entry && { value: entry.value, expiresAt: entry.expiresAt };
  }

  set(key: K, value: V, options: { ttlMs: number; bytes?: number }): void {
    const bytes = options.bytes ?? 0;
    this.delete(key);
    if (bytes > this.#maxBytes) return;
    this.#entries.set(key, { value, expiresAt: this.#now() + options.ttlMs, bytes });
    this.#bytes += bytes;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.#counters.evictions++;
    }
  }

  delete(key: K): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
