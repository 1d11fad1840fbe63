// Revocation lists written straight into a TenantState object's tables, for tests that need more
// entries than admin calls could write in time (up to a million per list, in about a second).
//
//   await seedList(stub, 'subjects', { count: 100_000, from: s - 30 * DAY_S, to: s }, () => t);
//   listValue('sub-', 42)   // the 42nd value: "sub-0000042"
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import type { Clock } from '../../src/clock';
import type { ListName, TenantState } from '../../src/state/tenant-state';

const TABLES: Record<ListName, { insert: string; prefix: string }> = {
  subjects: { insert: 'INSERT INTO revoked_subjects (sub, revoked_at)', prefix: 'sub-' },
  sessions: { insert: 'INSERT INTO revoked_sessions (sid, revoked_at)', prefix: 'sid-' },
  jtis: { insert: 'INSERT INTO denied_jtis (jti, denied_at, exp)', prefix: 'jti-' },
};

/** The x-th value (from 1) a seeded list holds; zero-padded so rows go in in key order, then
 *  `pad` characters more (values as long as real ones cost real reads). */
export const listValue = (list: ListName, x: number, pad = 0) => `${TABLES[list].prefix}${String(x).padStart(7, '0')}${'-'.repeat(pad)}`;

/** The time seedList gives the x-th value of `count`: spread evenly from `from` to `to`. */
export const seededAt = (x: number, options: { count: number; from: number; to: number }) =>
  options.from + Math.floor(((x - 1) * (options.to - options.from)) / Math.max(1, options.count - 1));

/** `count` entries in one SQL statement (the list's kept size follows); jtis expire at `exp`.
 *  The object is evicted after, so no snapshot it built before survives, and gets `now` again. */
export async function seedList(stub: DurableObjectStub<TenantState>, list: ListName,
  options: { count: number; from: number; to: number; exp?: number; pad?: number }, now: Clock): Promise<void> {
  const { count, from, to } = options;
  const jti = list === 'jtis';
  await runInDurableObject(stub, (_: TenantState, state) => {
    state.storage.sql.exec(
      `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
       ${TABLES[list].insert} SELECT ? || printf('%07d', x) || ?, ? + ((x - 1) * ?) / ?${jti ? ', ?' : ''} FROM c`,
      count, TABLES[list].prefix, '-'.repeat(options.pad ?? 0), from, to - from, Math.max(1, count - 1),
      ...(jti ? [options.exp ?? to + 3_600] : []));
    state.storage.sql.exec('UPDATE list_sizes SET entries = entries + ? WHERE list = ?', count, list);
  });
  await evictDurableObject(stub);
  await runInDurableObject(stub, (instance: TenantState) => { instance.now = now; });
}
