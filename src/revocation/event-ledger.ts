// The storage side of revocation events inside the TenantState object (docs/events.md): what one
// logout token or SET asks the state to do (a batch), which (issuer, jti) pairs were processed
// and until when they are remembered, and one storage transaction that either applies all of an
// event's revocations and remembers its jti, or (a replay) does nothing. Free of the Durable
// Object class: TenantState passes its storage and its own writers for revoked subjects, sessions and
// claim values (which own their tables and capacities), so the same code is tested against a real
// object's SQLite. A pair is remembered only while
// its event could be accepted again (its iat window, events/sink.ts rememberUntil); a memory at
// its capacity forgets the pairs closest to their time rather than refuse an event.
//
//   // TenantState
//   constructor: ctx.storage.sql.exec(SCHEMA + EVENT_LEDGER_SCHEMA);
//   async applyEvents(batch: EventBatch): Promise<BatchResult> {
//     const result = applyEventBatch(this.ctx.storage, batch, this.#seconds(), (effect, at) =>
//       effect.kind === 'subject' ? this.#writeSubject(effect.value, at) : this.#writeSession(effect.value, at));
//     if (result.outcome === 'applied') await this.#scheduleExpiry();   // nextEventJtiExpiry() is one of the dues
//     return result;
//   }
//   alarm(): forgetEventJtis(this.ctx.storage.sql, now) in its transaction.
import { MAX_CLAIM_KEY_LENGTH } from './claim-values';

/** One revocation an event asks for: a `sub` (every token of the subject issued up to now), a
 *  `sid` (every token of the session issued up to now), or a claim value (every token whose
 *  named claim holds it, issued up to now: claim-values.ts claimValueKey). */
export interface RevocationEffect {
  readonly kind: 'subject' | 'session' | 'claim';
  /** 1 to MAX_EVENT_VALUE_LENGTH characters (a claim value's key: MAX_CLAIM_KEY_LENGTH). */
  readonly value: string;
}

export interface EventBatch {
  /** The `iss` of the logout token or SET: a jti is unique per issuer (RFC 7519 §4.1.7). */
  readonly issuer: string;
  /** 1 to MAX_EVENT_VALUE_LENGTH characters. */
  readonly jti: string;
  /** Epoch seconds: the (issuer, jti) pair is remembered until then, so a replay changes nothing. */
  readonly rememberUntil: number;
  /** Distinct, at most MAX_EVENTS_PER_SET; may be empty (the jti is still remembered). */
  readonly effects: readonly RevocationEffect[];
}

/** A full list never refuses: it makes room (docs/revocation.md, "Retention is exact"). */
export type BatchResult = { readonly outcome: 'applied' | 'replayed' };

/** The longest `sub`, `sid` or `jti` an event may carry, as for the admin API
 *  (docs/revocation.md): longer values are refused with the whole event (400). */
export const MAX_EVENT_VALUE_LENGTH = 256;
/** The most events one SET may carry; more is refused (400 invalid_request) before any is read. */
export const MAX_EVENTS_PER_SET = 100;

/** Executed with the object's own schema: idempotent. */
export const EVENT_LEDGER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS event_jtis (
    iss TEXT NOT NULL, jti TEXT NOT NULL, remember_until INTEGER NOT NULL, PRIMARY KEY (iss, jti)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS event_jtis_by_expiry ON event_jtis (remember_until);
  CREATE TABLE IF NOT EXISTS event_jtis_count (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
`;

/** Like every revocation list (the contract, docs/): at most this many remembered jtis per
 *  tenant. Past it the pairs closest to their time are forgotten: a replay of one of those would
 *  be applied again (a revocation repeated, never one lost). */
export const MAX_EVENT_JTIS = 1_000_000;
/** The longest issuer stored; a tenant's issuers and transmitters are URLs far below it. */
const MAX_ISSUER_LENGTH = 2048;

/** Writes one revocation at `at` (epoch seconds) inside the caller's transaction, as the admin
 *  API's revokeSubject / revokeSession do (a later time wins; a list at its capacity makes room,
 *  never refuses). */
export type EffectWriter = (effect: RevocationEffect, at: number) => void;

/** What the ledger needs of DurableObjectStorage. */
export type LedgerStorage = Pick<DurableObjectStorage, 'sql' | 'transactionSync'>;

/** One transaction: a replay (the pair is remembered and not past its time) changes nothing;
 *  otherwise every effect is written at `nowSeconds` and the pair remembered until
 *  `batch.rememberUntil`, making room first when `capacity` pairs are held. A batch that breaks
 *  the EventBatch contract is a bug: thrown. */
export function applyEventBatch(storage: LedgerStorage, batch: EventBatch, nowSeconds: number, write: EffectWriter,
  capacity: number = MAX_EVENT_JTIS): BatchResult {
  assertBatch(batch, nowSeconds);
  const { sql } = storage;
  return storage.transactionSync((): BatchResult => {
    const held = sql.exec<{ remember_until: number }>(
      'SELECT remember_until FROM event_jtis WHERE iss = ? AND jti = ?', batch.issuer, batch.jti).toArray()[0];
    if (held !== undefined && held.remember_until > nowSeconds) return { outcome: 'replayed' };
    if (held === undefined && eventJtiCount(sql) >= capacity) makeRoom(sql, nowSeconds, capacity);
    for (const effect of batch.effects) write(effect, nowSeconds);
    sql.exec(
      `INSERT INTO event_jtis (iss, jti, remember_until) VALUES (?, ?, ?)
       ON CONFLICT (iss, jti) DO UPDATE SET remember_until = excluded.remember_until`, batch.issuer, batch.jti, batch.rememberUntil);
    if (held === undefined) addToCount(sql, 1);
    return { outcome: 'applied' };
  });
}

/** Room for one more pair: those past their time go first, then those closest to it (the
 *  events least likely to come again, and soonest unable to). */
function makeRoom(sql: SqlStorage, nowSeconds: number, capacity: number): void {
  forgetEventJtis(sql, nowSeconds);
  const over = eventJtiCount(sql) - capacity + 1;
  if (over <= 0) return;
  sql.exec('DELETE FROM event_jtis WHERE (iss, jti) IN (SELECT iss, jti FROM event_jtis ORDER BY remember_until LIMIT ?)', over);
  addToCount(sql, -over);
}

/** Drops the pairs no longer remembered (at or past their time); the number dropped. Run it in
 *  the alarm's transaction. */
export function forgetEventJtis(sql: SqlStorage, nowSeconds: number): number {
  const due = sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM event_jtis WHERE remember_until <= ?', nowSeconds).toArray()[0]?.n ?? 0;
  if (due === 0) return 0;
  sql.exec('DELETE FROM event_jtis WHERE remember_until <= ?', nowSeconds);
  addToCount(sql, -due);
  return due;
}

/** When the alarm should next drop a pair (epoch seconds), or null when none is held. */
export function nextEventJtiExpiry(sql: SqlStorage): number | null {
  return sql.exec<{ t: number | null }>('SELECT MIN(remember_until) AS t FROM event_jtis').toArray()[0]?.t ?? null;
}

/** Remembered pairs, expired ones not yet dropped included (a counter: no scan). */
export function eventJtiCount(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT n FROM event_jtis_count WHERE id = 1').toArray()[0]?.n ?? 0;
}

function addToCount(sql: SqlStorage, delta: number): void {
  sql.exec('INSERT OR IGNORE INTO event_jtis_count (id, n) VALUES (1, 0)');
  sql.exec('UPDATE event_jtis_count SET n = MAX(0, n + ?) WHERE id = 1', delta);
}

function assertBatch(batch: EventBatch, nowSeconds: number): void {
  const text = (value: unknown, max: number) => typeof value === 'string' && value.length > 0 && value.length <= max;
  if (!text(batch.issuer, MAX_ISSUER_LENGTH)) throw new RangeError('event batch: issuer');
  if (!text(batch.jti, MAX_EVENT_VALUE_LENGTH)) throw new RangeError('event batch: jti');
  if (!Number.isSafeInteger(batch.rememberUntil) || batch.rememberUntil <= nowSeconds) throw new RangeError('event batch: rememberUntil');
  if (!Array.isArray(batch.effects) || batch.effects.length > MAX_EVENTS_PER_SET) throw new RangeError('event batch: effects');
  for (const effect of batch.effects) {
    const max = effect.kind === 'claim' ? MAX_CLAIM_KEY_LENGTH : MAX_EVENT_VALUE_LENGTH;
    if ((effect.kind !== 'subject' && effect.kind !== 'session' && effect.kind !== 'claim') || !text(effect.value, max)) {
      throw new RangeError('event batch: effect');
    }
  }
}
