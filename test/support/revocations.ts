// Revocation lists written straight into a TenantState object's tables, for tests that need more
// entries than admin calls could write in time (up to a million per list in a few seconds).
//
//   await seedList(stub, 'subjects', { count: 100_000, from: s - DAY_S, to: s }, () => t);
//   listValue('subjects', 42)   // the 42nd value: "sub-0000042"
//   wireBytes(await stub.snapshot())   // what a read moves
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import type { Clock } from '../../src/base/clock';
import { hash32, type RevocationList } from '../../src/revocation/revocation-list';
import type { ListName, TenantState, TenantStateSnapshot } from '../../src/revocation/tenant-state';

const TABLES: Record<ListName, { insert: string; prefix: string }> = {
  subjects: { insert: 'INSERT INTO revoked_subjects (sub, revoked_at, hash)', prefix: 'sub-' },
  sessions: { insert: 'INSERT INTO revoked_sessions (sid, revoked_at, hash)', prefix: 'sid-' },
  jtis: { insert: 'INSERT INTO denied_jtis (jti, denied_at, hash, exp)', prefix: 'jti-' },
  claimValues: { insert: 'INSERT INTO revoked_claim_values (value, revoked_at, hash)', prefix: 'val-' },
};

/** Rows per INSERT: one JSON array each, unpacked by json_each (Durable Objects bind at most 100
 *  parameters a statement). */
const CHUNK = 50_000;

/** The x-th value (from 1) a seeded list holds; zero-padded so rows go in in key order, then
 *  `pad` characters more (values as long as real ones cost real reads). */
export const listValue = (list: ListName, x: number, pad = 0) => `${TABLES[list].prefix}${String(x).padStart(7, '0')}${'-'.repeat(pad)}`;

/** The time seedList gives the x-th of `count` values: spread evenly from `from` to `to`. */
export const seededAt = (x: number, options: { count: number; from: number; to: number }) =>
  options.from + Math.floor(((x - 1) * (options.to - options.from)) / Math.max(1, options.count - 1));

/** `count` entries with their hashes, as the object writes them (the list's kept size follows);
 *  jtis expire at `exp`. The object is evicted after, so no snapshot it built before survives,
 *  and gets `now` again. */
export async function seedList(stub: DurableObjectStub<TenantState>, list: ListName,
  options: { count: number; from: number; to: number; exp?: number; pad?: number }, now: Clock): Promise<void> {
  const jti = list === 'jtis';
  await runInDurableObject(stub, (_: TenantState, state) => {
    for (let first = 1; first <= options.count; first += CHUNK) {
      const rows: [string, number, number][] = [];
      for (let x = first; x < first + CHUNK && x <= options.count; x++) {
        const value = listValue(list, x, options.pad);
        rows.push([value, seededAt(x, options), hash32(value)]);
      }
      state.storage.sql.exec(
        `${TABLES[list].insert} SELECT value ->> 0, value ->> 1, value ->> 2${jti ? ', ?' : ''} FROM json_each(?)`,
        ...(jti ? [options.exp ?? options.to + 3_600] : []), JSON.stringify(rows));
    }
    state.storage.sql.exec('UPDATE list_sizes SET entries = entries + ? WHERE list = ?', options.count, list);
  });
  await evictDurableObject(stub);
  await runInDurableObject(stub, (instance: TenantState) => { instance.now = now; });
}

/** The bytes a read moves: each typed array's bytes, and the numbers and field names as JSON. */
export function wireBytes(snapshot: TenantStateSnapshot): number {
  const arrays = (list: RevocationList) => list.entries.byteLength + (list.filter?.fingerprints.byteLength ?? 0);
  const bare = (list: RevocationList) => ({ ...list, entries: [], filter: list.filter && { ...list.filter, fingerprints: [] } });
  const lists = [snapshot.subjects, snapshot.sessions, snapshot.jtis, snapshot.claimValues];
  const skeleton = JSON.stringify({
    ...snapshot, subjects: bare(snapshot.subjects), sessions: bare(snapshot.sessions), jtis: bare(snapshot.jtis), claimValues: bare(snapshot.claimValues),
  });
  return skeleton.length + lists.reduce((sum, list) => sum + arrays(list), 0);
}
