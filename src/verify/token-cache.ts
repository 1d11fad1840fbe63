// The verified-token cache (README.md "Observability": 10,000 entries or 8 MiB per isolate): a
// token this isolate verified for a tenant answers again without signature work, the way
// Envoy's jwt_authn cache does, and like it re-checks time on every hit. Only successes are
// kept; revocation, scopes and rate limits still run on every request, after this step.
//
//   const tokens = createTokenCache({ now });                          // once per isolate
//   const hit = tokens.get(token, tenant, resource, keyTiers);         // VerifiedToken | undefined
//   if (hit === undefined) { verified = await verifyToken(...); if (verified.ok) tokens.set(token, tenant, resource, verified.value); }
//   // kept from its second verification on: one-shot tokens never take a place
//
// The key is a 49-bit fingerprint of the token (its signature's last characters: no hashing of
// the ~1 KB string per request, no SHA-256 at ~2 µs and an await), and an entry answers only
// for the very token it holds, compared whole: a colliding token is a miss, never another
// token's result. The token's memory is counted in the byte bound.
// An entry answers only for the compiled Tenant object it was verified under (a config change
// compiles a new one), the same effective resource, and while the issuer's key set in the key
// tiers' memory is still the version that verified it (a rotation that drops a key stops its
// tokens at once); it lives no longer than the token's exp.
// Admission: a token is kept on its second verification, not its first (TinyLFU's "doorkeeper"):
// traffic of one-shot tokens would otherwise fill the cache with entries nobody asks for again,
// and their allocation and garbage collection cost more than the cache saves (measured in
// bench/: about a fifth of the throughput of distinct-token traffic). The doorkeeper is a fixed table of token
// fingerprints: no allocation per request; a collision only delays or hastens an admission.
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';
import type { Tenant } from '../tenants/tenant';
import { checkTimes } from './times';
import type { VerifiedToken } from './token';

export const DEFAULT_MAX_TOKENS = 10_000;
export const DEFAULT_MAX_TOKEN_BYTES = 8 * 1024 * 1024;
/** Fingerprints of tokens verified once, by slot (32 KiB; a prime, so every fingerprint bit
 *  picks the slot). About as many tokens as the cache holds at 8 MiB: a token seen again only
 *  after thousands of others would have been evicted before its next use anyway. */
const DOORKEEPER_SLOTS = 4093;
/** Per entry beyond the token's own characters: the claims object (about the payload's size,
 *  counted as the token's length again), the scope set, the entry itself. An estimate. */
const ENTRY_OVERHEAD_BYTES = 512;

/** The key tiers' cheap, I/O-free answer: the version of an issuer's key set held in memory. */
export interface KeySetVersions {
  currentVersion(keySetId: string): number | null;
}

export interface TokenCacheCounters { hits: number; misses: number; evictions: number }

export interface TokenCache {
  /** The verified token, if this isolate verified exactly this token for this tenant and
   *  resource under the issuer's current key set, and it is still inside its times. */
  get(token: string, tenant: Tenant, resource: string, keys: KeySetVersions): VerifiedToken | undefined;
  /** A successful verification; kept if it is the token's second (see Admission above). */
  set(token: string, tenant: Tenant, resource: string, verified: VerifiedToken): void;
  readonly counters: Readonly<TokenCacheCounters>;
  readonly size: number;
  readonly bytes: number;
}

interface Entry {
  readonly token: string;
  readonly tenant: Tenant;
  readonly resource: string;
  readonly verified: VerifiedToken;
}

export function createTokenCache(options: { now: Clock; maxEntries?: number; maxBytes?: number }): TokenCache {
  const now = options.now;
  const entries = new BoundedCache<number, Entry>({
    now, maxEntries: options.maxEntries ?? DEFAULT_MAX_TOKENS, maxBytes: options.maxBytes ?? DEFAULT_MAX_TOKEN_BYTES,
  });
  const counters = { hits: 0, misses: 0 };
  const doorkeeper = new Float64Array(DOORKEEPER_SLOTS);

  return {
    get(token, tenant, resource, keys) {
      const key = fingerprint(token);
      const entry = entries.get(key);
      if (entry === undefined || entry.token !== token) {
        counters.misses++;
        return undefined;
      }
      const { verified } = entry;
      if (entry.tenant !== tenant || entry.resource !== resource
        || keys.currentVersion(verified.issuer.keySetId) !== verified.keySetVersion
        || !checkTimes(verified, verified.issuer, now()).ok) {
        // Verification decides again, and says why if it refuses.
        entries.delete(key);
        counters.misses++;
        return undefined;
      }
      counters.hits++;
      return verified;
    },

    set(token, tenant, resource, verified) {
      const ttlMs = (verified.expiresAt + verified.issuer.clockToleranceSeconds) * 1000 - now();
      if (!(ttlMs > 0)) return;
      const key = fingerprint(token);
      const slot = key % DOORKEEPER_SLOTS;
      if (doorkeeper[slot] !== key) {
        doorkeeper[slot] = key;
        return;
      }
      // Later requests get this very token: its claims and scopes are immutable (verifyToken).
      entries.set(key, { token, tenant, resource, verified }, { ttlMs, bytes: 2 * token.length + ENTRY_OVERHEAD_BYTES });
    },

    get counters() { return { ...counters, evictions: entries.counters.evictions }; },
    get size() { return entries.size; },
    get bytes() { return entries.bytes; },
  };
}

/** 49 bits of 7 characters of the token's end: for a JWS, its signature's, as good as random
 *  (the very last character is not used: it carries only the signature's last few bits). It
 *  only finds an entry (which then compares the whole token) or a doorkeeper slot. */
function fingerprint(token: string): number {
  let value = 0;
  const end = token.length - 1;
  for (let i = Math.max(0, end - 7); i < end; i++) value = value * 128 + (token.charCodeAt(i) & 127);
  return value;
}
