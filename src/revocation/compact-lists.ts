// What the TenantState object ships of its revocation lists (docs/revocation.md, "The bounded
// read"): the split of every list into a filter of its older entries and an exact tail of its
// newest, under one byte budget for the whole read. Free of the Durable Object class and of SQL:
// the object hands in its rows newest first, so the same code is tested with plain arrays.
//
//   let plan = TAILS_ONLY;                                                        // until the tails outgrow their share
//   plan = planFilters({ subjects: rowsOf('subjects'), ... }, { subjects: now, ... }, FILTER_BYTES);   // then, rarely
//   plan.sessions   // { filter, horizon, tailFrom }: the tail is every live entry revoked at or after tailFrom
//   const lists = composeLists(plan, { subjects: tailRows, ... }, TAIL_ENTRIES, marks);   // every read that follows a write
//
// The filters are rebuilt only when the tails outgrow their share (many isolates read between
// two writes, and a write per second or more is ordinary); a read after a write re-reads the
// tails alone. A list short enough ships whole in its tail, with exact times and no filter.
import { buildFuseFilter, fuseFilterBytes } from './binary-fuse';
import { encodeTail, type ListFilter, type RevocationList, type RevocationRow } from './revocation-list';

/** The whole read's bound: the lists, the scalars and the DPoP nonce key. */
export const SNAPSHOT_BYTES = 64 * 1024;
/** Entries all tails together hold before the filters are rebuilt: 8 bytes each. */
export const TAIL_ENTRIES = 512;
/** What the scalars, the field names and each filter's numbers take, with room to spare. */
const OTHER_BYTES = 2_048;
/** Fingerprint bytes all filters together may take. With one busy list that is about 52,000
 *  entries: at 12 revocations a second, the last 72 minutes. */
export const FILTER_BYTES = SNAPSHOT_BYTES - OTHER_BYTES - TAIL_ENTRIES * 8;

/** One list's part of a plan. */
export interface FilterPlan {
  readonly filter: ListFilter | null;
  /** Every live entry not in the filter nor the tail was revoked before this; 0: none left out. */
  readonly horizon: number;
  /** The tail is every live entry revoked at or after this; the filter holds those before it.
   *  Entries written later are revoked at or after it (the object's clock moves forward; it
   *  plans again if it ever goes back). */
  readonly tailFrom: number;
}

/** No filter: each tail is the whole list. */
export const TAIL_ONLY: FilterPlan = Object.freeze({ filter: null, horizon: 0, tailFrom: 0 });

/** A list's forgetting marks, as the object keeps them. */
export interface ListMarks {
  readonly floor: number;
  readonly agedThrough: number;
}

/** The lists as shipped: each tail fitted under `tailEntries` together (fitTails), the filter
 *  and horizon of the plan (a tail cut short drops its filter and raises its horizon), the marks. */
export function composeLists<N extends string>(plan: Record<N, FilterPlan>, tails: Record<N, readonly RevocationRow[]>,
  tailEntries: number, marks: Record<N, ListMarks>): Record<N, RevocationList> {
  const fitted = fitTails(tails, tailEntries);
  const lists = {} as Record<N, RevocationList>;
  for (const name of Object.keys(plan) as N[]) {
    const { filter, horizon } = plan[name];
    const cut = fitted[name].horizon;
    lists[name] = {
      entries: encodeTail(fitted[name].rows),
      // A tail cut short starts above everything the filter holds.
      filter: cut > 0 ? null : filter,
      horizon: Math.max(horizon, cut),
      floor: marks[name].floor,
      agedThrough: marks[name].agedThrough,
    };
  }
  return lists;
}

/** Splits the lists at one horizon for all of them, whole seconds only: taking the newest
 *  second not yet taken, from every list at once, while the filters that would hold what is
 *  taken fit `budgetBytes`. `newestFirst` gives each list's live rows revoked before its
 *  `tailFrom` (what is newer is the tail's), newest first; it is read only as far as the budget
 *  reaches. */
export function planFilters<N extends string>(newestFirst: Record<N, Iterator<RevocationRow>>, tailFrom: Record<N, number>,
  budgetBytes: number): Record<N, FilterPlan> {
  const names = Object.keys(newestFirst) as N[];
  const lists = new Map(names.map((name) => [name, { next: pull(newestFirst[name]), taken: [] as number[], through: -1, leftOut: false }]));
  let cut = -1;
  while (cut < 0) {
    let second = -1;
    for (const list of lists.values()) second = Math.max(second, list.next?.[1] ?? -1);
    if (second < 0) break;
    const pending = new Map<N, number[]>();
    let bytes = 0;
    for (const [name, list] of lists) {
      const hashes: number[] = [];
      while (list.next !== undefined && list.next[1] === second) {
        hashes.push(list.next[0]);
        list.next = pull(newestFirst[name]);
      }
      pending.set(name, hashes);
      bytes += fuseFilterBytes(list.taken.length + hashes.length);
    }
    for (const [name, list] of lists) {
      const hashes = pending.get(name)!;
      if (hashes.length === 0) continue;
      if (bytes > budgetBytes) list.leftOut = true;
      else {
        if (list.through < 0) list.through = second;
        for (const hash of hashes) list.taken.push(hash);
      }
    }
    if (bytes > budgetBytes) cut = second;
  }
  const plan = {} as Record<N, FilterPlan>;
  for (const [name, list] of lists) {
    // A list whose rows were all taken is whole; one cut short starts where the cut second ends.
    const horizon = list.leftOut || list.next !== undefined ? cut + 1 : 0;
    plan[name] = {
      filter: list.taken.length === 0 ? null
        : { ...buildFuseFilter(Uint32Array.from(list.taken)), through: list.through },
      horizon,
      tailFrom: tailFrom[name],
    };
  }
  return plan;
}

/** One list's tail as shipped. */
export interface FittedTail {
  readonly rows: readonly RevocationRow[];
  /** 0, or a horizon above the list's own: its tail held more than fits, so only its newest
   *  whole seconds ship, and everything older is a "maybe" (its filter with it). */
  readonly horizon: number;
}

/** The tails under `maxEntries` together, whole seconds, newest first. Only a burst of more
 *  revocations in a second or two than the tails hold, right after the filters were rebuilt,
 *  leaves some out. `newestFirst` holds each list's tail rows (at most maxEntries + 1 read). */
export function fitTails<N extends string>(newestFirst: Record<N, readonly RevocationRow[]>, maxEntries: number): Record<N, FittedTail> {
  const names = Object.keys(newestFirst) as N[];
  const total = names.reduce((sum, name) => sum + newestFirst[name].length, 0);
  const fitted = {} as Record<N, FittedTail>;
  if (total <= maxEntries) {
    for (const name of names) fitted[name] = { rows: newestFirst[name], horizon: 0 };
    return fitted;
  }
  const taken = new Map<N, number>(names.map((name) => [name, 0]));
  let count = 0;
  let cut = -1;
  while (cut < 0) {
    let second = -1;
    for (const name of names) second = Math.max(second, newestFirst[name][taken.get(name)!]?.[1] ?? -1);
    if (second < 0) break;
    let inSecond = 0;
    for (const name of names) {
      const rows = newestFirst[name];
      for (let i = taken.get(name)!; i < rows.length && rows[i]![1] === second; i++) inSecond++;
    }
    if (count + inSecond > maxEntries) {
      cut = second;
      break;
    }
    count += inSecond;
    for (const name of names) {
      const rows = newestFirst[name];
      let i = taken.get(name)!;
      while (i < rows.length && rows[i]![1] === second) i++;
      taken.set(name, i);
    }
  }
  for (const name of names) {
    const rows = newestFirst[name];
    const kept = taken.get(name)!;
    fitted[name] = { rows: rows.slice(0, kept), horizon: kept < rows.length ? cut + 1 : 0 };
  }
  return fitted;
}

function pull(rows: Iterator<RevocationRow>): RevocationRow | undefined {
  const step = rows.next();
  return step.done === true ? undefined : step.value;
}
