// The compact form of one revocation list that every isolate holds (docs/revocation.md): the newest entries as sorted [hash32(value), revokedAt] pairs, and a horizon
// below which every entry left out was revoked. It answers "clear" or "maybe", never "revoked":
// an entry revoked at R matters only to tokens issued at or before R, so a token issued at or
// after the horizon that matches no shipped entry cannot be in the list at all.
//
//   const list = encodeRevocationList(newestFirst, SHIPPED_PER_LIST);   // in the object: [hash32(value), at] rows
//   latestRevocation(list, hash32(token.subject))   // the newest time shipped under that hash, or -1
//
// A hash names a value only probably: two values may share one, so a match is only ever a
// reason to ask the object, never a refusal on its own.

export interface RevocationList {
  /** [hash32(value), revokedAt (epoch seconds)] pairs sorted by hash, one pair per hash (the
   *  newest time among values sharing it). A Uint32Array: 8 bytes an entry on the wire, no
   *  parsing or index built in the isolate. Times fit until 2106. */
  readonly entries: Uint32Array;
  /** Every entry of the list that is not shipped was revoked before this (epoch seconds).
   *  0: the whole list is shipped. */
  readonly horizon: number;
}

/** One entry as the object stores it: the value's hash32 (written with it) and its time, epoch seconds. */
export type RevocationRow = readonly [hash: number, at: number];

/** Entries shipped per list: three full lists and the scalars stay under 64 KiB
 *  (3 × 2,500 × 8 = 60,000 bytes), whatever the lists hold. */
export const SHIPPED_PER_LIST = 2_500;

export const EMPTY_LIST: RevocationList = Object.freeze({ entries: new Uint32Array(0), horizon: 0 });

/** From at most `shipped + 1` rows, newest first (the object's `ORDER BY at DESC LIMIT shipped + 1`).
 *  Up to `shipped` rows: all of them, horizon 0. More: the horizon is one second past the first
 *  row left out, and only rows at or after it are shipped, so a second is never half shipped. */
export function encodeRevocationList(newestFirst: readonly RevocationRow[], shipped: number = SHIPPED_PER_LIST): RevocationList {
  let count = newestFirst.length;
  let horizon = 0;
  if (count > shipped) {
    horizon = newestFirst[shipped]![1] + 1;
    count = 0;
    while (count < shipped && newestFirst[count]![1] >= horizon) count++;
  }
  // Sorted by hash, then time: the last of a run of equal hashes holds the newest time.
  const rows = newestFirst.slice(0, count).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const pairs: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const [hash, at] = rows[i]!;
    if (i + 1 < rows.length && rows[i + 1]![0] === hash) continue;
    pairs.push(hash >>> 0, Math.max(0, Math.min(at, 0xffff_ffff)));
  }
  return { entries: Uint32Array.from(pairs), horizon };
}

/** The time shipped under `hash`, or -1: a binary search over the sorted pairs. */
export function latestRevocation(list: RevocationList, hash: number): number {
  const entries = list.entries;
  let low = 0;
  let high = entries.length / 2 - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const found = entries[2 * mid]!;
    if (found === hash) return entries[2 * mid + 1]!;
    if (found < hash) low = mid + 1;
    else high = mid - 1;
  }
  return -1;
}

/** FNV-1a over UTF-16 code units with murmur3's final mix: fast in JS, spread well enough that
 *  2,500 shipped entries rarely share a hash. Not a secret and not collision resistant: a
 *  collision costs one object call, never a wrong answer. */
export function hash32(value: string): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x0100_0193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What a list costs on the wire and in an isolate's memory, in bytes. */
export function listBytes(list: RevocationList): number {
  return list.entries.byteLength;
}
