// The compact form of one revocation list that every isolate holds (docs/revocation.md): the
// newest entries as sorted [hash32(value), revokedAt] pairs (the tail), a binary fuse filter of
// the hashes of the older entries down to a horizon, and the list's two forgetting marks. It
// answers "clear", "maybe" or (a mark) "refused", never "revoked" from a hash: an entry revoked
// at R matters only to tokens issued at or before R, so a token issued at or after the horizon
// that neither the tail (recent enough) nor the filter matches cannot be in the list at all. A
// newer copy also tells whether an exact answer the object gave earlier about a value still holds.
//
//   const list = { entries: encodeTail(newestFirst), filter, horizon, floor, agedThrough };   // the object
//   latestRevocation(list, hash32(token.subject))   // the newest tail time under that hash, or -1
//   filterMayHold(list, hash32(token.subject))      // the filter's "maybe"
//   mayHold(list, token.subject, iat, false)         // may it hold the value revoked at or after iat?
//   answerStillHolds(list, snapshot.asOf, sid, { at: times.sid, asOf: times.asOf })   // reuse an exact answer?
//
// A hash names a value only probably, and a filter says "maybe" about 1 time in 256 for a value
// it does not hold: a match is only ever a reason to ask the object, never a refusal on its own.
import { mayContain, mix, type FuseFilter } from './binary-fuse';

export interface RevocationList {
  /** The tail: [hash32(value), revokedAt (epoch seconds)] pairs sorted by hash, one pair per
   *  hash (the newest time among values sharing it). A Uint32Array: 8 bytes an entry on the
   *  wire, no parsing or index built in the isolate. Times fit until 2106. */
  readonly entries: Uint32Array;
  /** The entries older than the tail, down to the horizon, by hash only; null when the tail
   *  holds every entry shipped. */
  readonly filter: ListFilter | null;
  /** Every entry of the list that is not shipped was revoked before this (epoch seconds).
   *  0: the whole list is shipped. */
  readonly horizon: number;
  /** The forgetting floor: a list at its capacity forgot entries revoked at or before this, so
   *  every token it could have matched issued at or before it (or without iat) is revoked as a
   *  group. 0: nothing forgotten. */
  readonly floor: number;
  /** Entries revoked at or before this were forgotten with age (revocation.retainSeconds), so a
   *  token it could have matched issued at or before it is too old (0: none). Only a change of
   *  retainSeconds makes it matter: otherwise such a token is already too old by its iat. */
  readonly agedThrough: number;
}

/** A filter of a list's older entries, and what an isolate needs to use it. */
export interface ListFilter extends FuseFilter {
  /** The newest revocation time it holds: a token issued after it need not look, and an answer
   *  given after it cannot be contradicted by it. */
  readonly through: number;
}

/** One entry as the object stores it: the value's hash32 (written with it) and its time, epoch seconds. */
export type RevocationRow = readonly [hash: number, at: number];

export const EMPTY_LIST: RevocationList = Object.freeze({
  entries: new Uint32Array(0), filter: null, horizon: 0, floor: 0, agedThrough: 0,
});

/** The tail's pairs from rows in any order: sorted by hash, the newest time per hash. */
export function encodeTail(rows: readonly RevocationRow[]): Uint32Array {
  // Sorted by hash, then time: the last of a run of equal hashes holds the newest time.
  const sorted = [...rows].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const pairs: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const [hash, at] = sorted[i]!;
    if (i + 1 < sorted.length && sorted[i + 1]![0] === hash) continue;
    pairs.push(hash >>> 0, Math.max(0, Math.min(at, 0xffff_ffff)));
  }
  return Uint32Array.from(pairs);
}

/** The time the tail holds under `hash`, or -1: a binary search over the sorted pairs. */
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

/** Whether the filter of older entries may hold `hash`. */
export function filterMayHold(list: RevocationList, hash: number): boolean {
  return list.filter !== null && mayContain(list.filter, hash);
}

/** Whether the list ships every entry it holds and has forgotten none by capacity: then a
 *  membership list (denied jtis) matches by value alone. */
export function shipsWhole(list: RevocationList): boolean {
  return list.horizon === 0 && list.floor === 0;
}

/** Whether `list` may hold `value` revoked at or after `issued`. Exact "no" when: no tail entry
 *  under its hash is that recent; the filter does not hold it, or holds nothing that recent
 *  (its newest entry is older than the token); and the token was issued at or after the horizon
 *  (every entry not shipped was revoked before it). `membership`: a whole list matches by value
 *  alone. */
export function mayHold(list: RevocationList, value: string, issued: number | null, membership: boolean,
  hash: (value: string) => number): boolean {
  if (list.horizon === 0 && list.entries.length === 0 && list.filter === null) return false;
  const h = hash(value) >>> 0;
  const byValue = membership && shipsWhole(list);
  const at = latestRevocation(list, h);
  if (at >= 0 && (issued === null || at >= issued || byValue)) return true;
  if (list.filter !== null && (issued === null || issued <= list.filter.through || byValue) && filterMayHold(list, h)) return true;
  return list.horizon > 0 && (issued === null || issued < list.horizon);
}

/** One exact answer an isolate holds: the value's entry time (null: none) as of the object's
 *  clock `asOf`. */
export interface HeldAnswer {
  readonly at: number | null;
  readonly asOf: number;
}

/** Whether an answer the object gave about a value is still the answer, against a newer copy of
 *  the list: the copy (made at `snapshotAsOf`) is older than the answer, or it ships every entry
 *  revoked since the answer (its horizon is no later) and none of them may be the value (no tail
 *  entry under its hash that recent, and a filter whose newest entry is older than the answer, or
 *  that does not hold it). Anything revoked after the answer was revoked at
 *  or after it. Entries the object dropped since only make the answer more severe than the
 *  truth, and the floors and revokedBefore are checked on every token anyway. */
export function answerStillHolds(list: RevocationList, snapshotAsOf: number, value: string, answer: HeldAnswer): boolean {
  if (snapshotAsOf < answer.asOf) return true;
  if (list.horizon > answer.asOf) return false;
  const hash = hash32(value);
  if (latestRevocation(list, hash) >= answer.asOf) return false;
  return !(list.filter !== null && list.filter.through >= answer.asOf && filterMayHold(list, hash));
}

/** FNV-1a over UTF-16 code units with murmur3's final mix: fast in JS, spread well enough that
 *  the shipped entries rarely share a hash. Not a secret and not collision resistant: a
 *  collision costs one object call, never a wrong answer. */
export function hash32(value: string): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x0100_0193);
  }
  return mix(h);
}

/** What a list costs on the wire and in an isolate's memory, in bytes: the tail, the filter's
 *  fingerprints, and its handful of numbers. */
export function listBytes(list: RevocationList): number {
  return list.entries.byteLength + (list.filter === null ? 0 : list.filter.fingerprints.byteLength + 48);
}
