// The TenantState Durable Object, one per tenant (docs/revocation.md):
// status, tokenVersion, revokedBefore, revoked subjects and sessions and the jti denylist, in
// SQLite, with an alarm that drops entries once they can no longer matter.
//
//   const state = tenantStateStub(env.TENANT_STATE, 'acme');
//   await state.snapshot()                     // what isolates cache: scalars and compact lists (≤ 64 KiB)
//   await state.check({ sub, sid, jti })       // exact times, when a snapshot says "maybe"
//   await state.revokeAll()                    // tokenVersion + 1, revokedBefore = now; the new summary
//   await state.revokeSubject('user-1'); await state.revokeSession('s-1'); await state.revokeJti('j-1', exp);
//   await state.setStatus('hold')              // a move into or out of active revokes everything
//   await state.recordDnsCheck('mismatch', { failuresBeforeHold: 3, mode: 'enforce' })
//   await state.retire()                       // tenant deleted: hold, every token revoked
//   await state.reset()                        // tenant created: active, tokenVersion 1, nothing revoked
//
// Tests replace `now` on the instance (runInDurableObject), and may shrink `shippedPerList` or
// weaken `hash` (before any write: each entry keeps the hash it was written with) to reach the
// horizon and hash collisions with a few entries.
import { DurableObject } from 'cloudflare:workers';
import type { BatchResult, EventBatch } from '../events/sink';
import { applyEventBatch, forgetEventJtis, nextEventJtiExpiry } from './event-ledger';
import { systemClock, type Clock } from '../clock';
import type { Env } from '../env';
import { encodeRevocationList, hash32, listBytes, SHIPPED_PER_LIST, type RevocationList } from './revocation-list';
import { migrate } from './tenant-state-schema';

export type TenantStatus = 'active' | 'hold';
export type ListName = 'subjects' | 'sessions' | 'jtis';

/** What the Worker caches per isolate and checks tokens against. Its size does not grow with
 *  the lists: each ships at most SHIPPED_PER_LIST entries (revocation-list.ts). */
export interface TenantStateSnapshot {
  readonly status: TenantStatus;
  readonly tokenVersion: number;
  /** Epoch seconds; 0 = nothing revoked. */
  readonly revokedBefore: number;
  /** sub -> when it was revoked. */
  readonly subjects: RevocationList;
  /** sid -> when it was revoked. */
  readonly sessions: RevocationList;
  /** jti -> when it was denied, plus MAX_CLOCK_TOLERANCE_SECONDS (see JTI_REACH_SECONDS). */
  readonly jtis: RevocationList;
  /** The key of the tenant's stateless DPoP nonces (verify/dpop-nonce.ts): random, made on first
   *  read, shipped with the state every isolate already caches, so checking a nonce reads nothing.
   *  A re-created tenant (reset) gets a new one. Null where no TenantState is bound. */
  readonly dpopNonceSecret: Uint8Array | null;
}

/** The admin API's view (the contract (docs/) GET /tenants/:id/state). */
export interface TenantStateSummary {
  readonly status: TenantStatus;
  readonly tokenVersion: number;
  readonly revokedBefore: number;
  readonly revokedSubjects: number;
  readonly revokedSessions: number;
  readonly deniedJtis: number;
}

/** The values a snapshot could not clear. */
export interface RevocationQuery {
  readonly sub?: string;
  readonly sid?: string;
  readonly jti?: string;
}

/** For each value asked: the time its live entry holds (as the snapshot ships it), or null. */
export interface RevocationTimes {
  readonly sub: number | null;
  readonly sid: number | null;
  readonly jti: number | null;
}

/** A revocation of one value: the new summary, or the list is at MAX_LIST_ENTRIES. */
export type Revoked = { ok: true; summary: TenantStateSummary } | { ok: false; full: ListName };

export type DnsVerdict = 'ok' | 'mismatch' | 'transient';

export interface DnsPolicy {
  readonly failuresBeforeHold: number;
  readonly mode: 'enforce' | 'report';
}

export interface DnsRecord {
  /** Consecutive conclusive failures, after this verdict. */
  readonly failures: number;
  /** True when this verdict moved the tenant to hold. */
  readonly held: boolean;
  readonly status: TenantStatus;
}

/** A revoked subject or session is forgotten this long after its revocation (the contract, docs/). */
export const SUBJECT_KEPT_SECONDS = 30 * 24 * 60 * 60;
export const SESSION_KEPT_SECONDS = SUBJECT_KEPT_SECONDS;
/** The largest clockToleranceSeconds the tenant schema allows. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** A denied jti outlives its token's exp by the largest clock tolerance, since verification
 *  still accepts a token that long past its exp. */
export const JTI_KEPT_PAST_EXP_SECONDS = MAX_CLOCK_TOLERANCE_SECONDS;
/** How far past its denial a jti entry reaches. A jti names a token that exists, so the token
 *  was issued at or before the denial; by its issuer's clock, which verification allows to run
 *  ahead of ours by the clock tolerance. Only a list too long to ship whole relies on this
 *  (revocation.ts): a whole list is checked by membership alone. */
export const JTI_REACH_SECONDS = MAX_CLOCK_TOLERANCE_SECONDS;
/** Each list holds at most this many live entries; past it the admin API answers 409. */
export const MAX_LIST_ENTRIES = 1_000_000;
/** Longest `sub`, `sid` or `jti` a list takes. */
export const MAX_REVOKED_VALUE_LENGTH = 256;

/** The object for a tenant: the one place its name is derived. */
export function tenantStateStub(namespace: DurableObjectNamespace<TenantState>, tenantId: string): DurableObjectStub<TenantState> {
  return namespace.get(namespace.idFromName(tenantId));
}

/** The encoded size of a snapshot, as an isolate's cache counts it: the lists' bytes and the
 *  scalars with their names. */
export function snapshotBytes(snapshot: TenantStateSnapshot): number {
  return listBytes(snapshot.subjects) + listBytes(snapshot.sessions) + listBytes(snapshot.jtis) + 32 + 160;
}

interface StatusRow {
  status: TenantStatus;
  tokenVersion: number;
  revokedBefore: number;
  dnsFailures: number;
  /** Set by retire(), cleared by any admin write: the state is still as a DELETE left it. */
  retired: boolean;
}

const INITIAL: StatusRow = { status: 'active', tokenVersion: 1, revokedBefore: 0, dnsFailures: 0, retired: false };

/** Where each list lives. An entry counts while `expiry` > now - `kept`; the snapshot ships the
 *  newest by `at`, read from the `newest` index. Names are constants, never input. */
const LISTS: Record<ListName, { table: string; key: string; at: string; expiry: string; kept: number; newest: string }> = {
  subjects: { table: 'revoked_subjects', key: 'sub', at: 'revoked_at', expiry: 'revoked_at', kept: SUBJECT_KEPT_SECONDS, newest: 'revoked_subjects_by_time' },
  sessions: { table: 'revoked_sessions', key: 'sid', at: 'revoked_at', expiry: 'revoked_at', kept: SESSION_KEPT_SECONDS, newest: 'revoked_sessions_by_time' },
  jtis: { table: 'denied_jtis', key: 'jti', at: 'denied_at', expiry: 'exp', kept: JTI_KEPT_PAST_EXP_SECONDS, newest: 'denied_jtis_by_denial' },
};
const LIST_NAMES = Object.keys(LISTS) as ListName[];

/** Rows the alarm deletes per list and run; the next run follows at once while more are due. */
const PRUNE_BATCH = 50_000;

export class TenantState extends DurableObject<Env> {
  now: Clock = systemClock;
  shippedPerList = SHIPPED_PER_LIST;
  hash: (value: string) => number = hash32;

  /** The last snapshot built, until a write or until its first shipped entry stops counting:
   *  many isolates reading cost one build per change. */
  #built: { snapshot: TenantStateSnapshot; until: number } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, { jtiDeniedAt: this.#seconds() + JTI_REACH_SECONDS, hash: this.hash });
  }

  snapshot(): TenantStateSnapshot {
    const now = this.#seconds();
    if (this.#built !== null && now < this.#built.until) return this.#built.snapshot;
    const row = this.#status();
    let until = Number.POSITIVE_INFINITY;
    const encode = (name: ListName): RevocationList => {
      const { table, at, expiry, kept, newest } = LISTS[name];
      // From the covering index alone, newest first: times and hashes, never a value. `+expiry`
      // keeps the planner on that walk rather than the expiry index and a sort.
      const rows: [hash: number, at: number][] = [];
      for (const [hash, time, ends] of this.ctx.storage.sql.exec(
        `SELECT hash, ${at}, ${expiry} FROM ${table} INDEXED BY ${newest} WHERE +${expiry} > ? ORDER BY ${at} DESC LIMIT ?`,
        now - kept, this.shippedPerList + 1).raw()) {
        rows.push([hash as number, time as number]);
        until = Math.min(until, (ends as number) + kept);
      }
      return encodeRevocationList(rows, this.shippedPerList);
    };
    const snapshot: TenantStateSnapshot = {
      status: row.status, tokenVersion: row.tokenVersion, revokedBefore: row.revokedBefore,
      subjects: encode('subjects'), sessions: encode('sessions'), jtis: encode('jtis'),
      dpopNonceSecret: this.#secret('dpop-nonce'),
    };
    this.#built = { snapshot, until };
    return snapshot;
  }

  summary(): TenantStateSummary {
    const row = this.#status();
    return {
      status: row.status,
      tokenVersion: row.tokenVersion,
      revokedBefore: row.revokedBefore,
      revokedSubjects: this.#liveSize('subjects'),
      revokedSessions: this.#liveSize('sessions'),
      deniedJtis: this.#liveSize('jtis'),
    };
  }

  /** The exact answer behind a snapshot's "maybe": each value's live entry time, or null.
   *  Arguments come over RPC: anything but a string is asked about nothing. */
  check(query: RevocationQuery): RevocationTimes {
    const now = this.#seconds();
    const timeOf = (name: ListName, value: unknown): number | null => {
      if (typeof value !== 'string') return null;
      const { table, key, at, expiry, kept } = LISTS[name];
      return this.#sql<{ at: number }>(`SELECT ${at} AS at FROM ${table} WHERE ${key} = ? AND ${expiry} > ?`, value, now - kept)[0]?.at ?? null;
    };
    const asked: RevocationQuery = typeof query === 'object' && query !== null ? query : {};
    return { sub: timeOf('subjects', asked.sub), sid: timeOf('sessions', asked.sid), jti: timeOf('jtis', asked.jti) };
  }

  /** Every token issued at or before now is dead, from any issuer, with or without a version
   *  claim. The lists forget what this covers (entries older than revokedBefore can only match
   *  tokens it kills), so a full list has room again: the 409's advice works. A token carrying
   *  the new tokenVersion is fresh by construction (minted after this), so nothing comes back. */
  revokeAll(): TenantStateSummary {
    this.#write(() => {
      const row = this.#status();
      const revocation = this.#revocation(row);
      this.#writeStatus({ ...row, ...revocation, retired: false });
      for (const name of LIST_NAMES) {
        const { table, at } = LISTS[name];
        const gone = this.#sql<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${at} < ?`, revocation.revokedBefore)[0]?.n ?? 0;
        if (gone === 0) continue;
        this.ctx.storage.sql.exec(`DELETE FROM ${table} WHERE ${at} < ?`, revocation.revokedBefore);
        this.ctx.storage.sql.exec('UPDATE list_sizes SET entries = MAX(0, entries - ?) WHERE list = ?', gone, name);
      }
    });
    return this.summary();
  }

  /** Tokens of `sub` issued at or before now are dead; a later revocation of the same sub moves the time on. */
  revokeSubject(sub: string): Promise<Revoked> {
    return this.#revoke('subjects', sub, this.#seconds());
  }

  /** Tokens of session `sid` issued at or before now are dead. */
  revokeSession(sid: string): Promise<Revoked> {
    return this.#revoke('sessions', sid, this.#seconds());
  }

  /** One token, denied until its exp has passed (plus the clock tolerance verification allows).
   *  A token already past that is not written down. */
  revokeJti(jti: string, exp: number): Promise<Revoked> {
    if (exp <= this.#seconds() - JTI_KEPT_PAST_EXP_SECONDS) return Promise.resolve({ ok: true, summary: this.summary() });
    return this.#revoke('jtis', jti, this.#seconds() + JTI_REACH_SECONDS, exp);
  }

  /** Setting the current status again changes nothing; a real move revokes every token. */
  setStatus(status: TenantStatus): TenantStateSummary {
    this.#write(() => {
      const row = { ...this.#status(), retired: false };
      if (row.status === status) this.#writeStatus(row);
      else this.#move(row, status);
    });
    return this.summary();
  }

  /** One DNS-check run's verdict for the tenant (README.md "Scheduled work"). Only an admin
   *  takes a tenant off hold: an ok verdict resets the count and nothing else. */
  recordDnsCheck(verdict: DnsVerdict, policy: DnsPolicy): DnsRecord {
    return this.#write((): DnsRecord => {
      const row = this.#status();
      if (verdict === 'transient') return { failures: row.dnsFailures, held: false, status: row.status };
      const failures = verdict === 'ok' ? 0 : row.dnsFailures + 1;
      const hold = failures >= policy.failuresBeforeHold && policy.mode === 'enforce' && row.status === 'active';
      if (hold) this.#move({ ...row, dnsFailures: failures }, 'hold');
      else this.#writeStatus({ ...row, dnsFailures: failures });
      return { failures, held: hold, status: hold ? 'hold' : row.status };
    });
  }

  /** The tenant was deleted. Isolates may still serve it from their caches (and KV's copies)
   *  for a while, so nothing is forgotten: hold, and every token issued so far revoked, in one
   *  transaction. The lists stay (hold refuses everything anyway); reset() drops them. */
  retire(): TenantStateSummary {
    this.#write(() => {
      const row = this.#status();
      this.#writeStatus({ ...row, status: 'hold', ...this.#revocation(row), dnsFailures: 0, retired: true });
    });
    return this.summary();
  }

  /** The tenant was created: active, tokenVersion 1, nothing revoked, no alarm. With
   *  `ifRetired`, only a state still as retire() left it (a create whose reset failed, repeated
   *  as a replace); a state an admin has written since belongs to the tenant that exists. */
  async reset(options: { ifRetired?: boolean } = {}): Promise<boolean> {
    if (options.ifRetired === true && !this.#status().retired) return false;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    migrate(this.ctx.storage, { jtiDeniedAt: this.#seconds() + JTI_REACH_SECONDS, hash: this.hash });
    this.#built = null;
    return true;
  }

  /** A revocation event's effects (OIDC back-channel logout, Shared Signals) and its jti, in one
   *  transaction: all of them and the jti remembered, or (a jti processed before) nothing, or
   *  (a list at its cap) nothing and 'list_full' (state/event-ledger.ts). */
  async applyEvents(batch: EventBatch): Promise<BatchResult> {
    this.#built = null;
    const result = applyEventBatch(this.ctx.storage, batch, this.#seconds(),
      (effect, at) => this.#writeEntry(effect.kind === 'subject' ? 'subjects' : 'sessions', effect.value, at));
    if (result.outcome === 'applied') await this.#scheduleExpiry();
    return result;
  }

  /** Drops what can no longer match a live token, a batch at a time, then waits for the next expiry. */
  override async alarm(): Promise<void> {
    const now = this.#seconds();
    this.#write(() => {
      for (const name of LIST_NAMES) {
        const { table, expiry, kept } = LISTS[name];
        const due = this.#sql<{ n: number }>(
          `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${table} WHERE ${expiry} <= ? LIMIT ?)`, now - kept, PRUNE_BATCH)[0]?.n ?? 0;
        if (due === 0) continue;
        this.ctx.storage.sql.exec(
          `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${expiry} <= ? LIMIT ?)`, now - kept, PRUNE_BATCH);
        this.ctx.storage.sql.exec('UPDATE list_sizes SET entries = entries - ? WHERE list = ?', due, name);
      }
      forgetEventJtis(this.ctx.storage.sql, now);
    });
    await this.#scheduleExpiry();
  }

  /** One value into a list: a new entry only if the list has room, an existing one moved on to
   *  the later time. Any admin write means the tenant exists: the retired mark goes. */
  async #revoke(name: ListName, value: string, at: number, exp?: number): Promise<Revoked> {
    const full = this.#write(() => {
      if (this.#writeEntry(name, value, at, exp) === 'list_full') return true;
      const row = this.#status();
      if (row.retired) this.#writeStatus({ ...row, retired: false });
      return false;
    });
    if (full) return { ok: false, full: name };
    await this.#scheduleExpiry();
    return { ok: true, summary: this.summary() };
  }

  /** Within a transaction: the entry written (a later time wins), or 'list_full' when it would
   *  be new and its list is at the cap. */
  #writeEntry(name: ListName, value: string, at: number, exp?: number): 'written' | 'list_full' {
    const { table, key } = LISTS[name];
    const existing = this.#sql(`SELECT 1 AS found FROM ${table} WHERE ${key} = ?`, value).length > 0;
    if (!existing) {
      if (this.#liveSize(name) >= MAX_LIST_ENTRIES) return 'list_full';
      this.ctx.storage.sql.exec('UPDATE list_sizes SET entries = entries + 1 WHERE list = ?', name);
    }
    if (name === 'jtis') {
      this.ctx.storage.sql.exec(
        `INSERT INTO denied_jtis (jti, exp, denied_at, hash) VALUES (?, ?, ?, ?)
         ON CONFLICT (jti) DO UPDATE SET exp = MAX(exp, excluded.exp), denied_at = MAX(denied_at, excluded.denied_at)`,
        value, exp, at, this.hash(value) >>> 0);
    } else {
      this.ctx.storage.sql.exec(
        `INSERT INTO ${table} (${key}, revoked_at, hash) VALUES (?, ?, ?)
         ON CONFLICT (${key}) DO UPDATE SET revoked_at = MAX(revoked_at, excluded.revoked_at)`, value, at, this.hash(value) >>> 0);
    }
    return 'written';
  }

  /** A named random secret of 32 bytes, made the first time it is asked for. */
  #secret(name: string): Uint8Array {
    this.ctx.storage.sql.exec('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)', name, crypto.getRandomValues(new Uint8Array(32)));
    const value = this.ctx.storage.sql.exec<{ value: ArrayBuffer }>('SELECT value FROM secrets WHERE name = ?', name).one().value;
    return new Uint8Array(value);
  }

  /** A write, in one transaction, after which the built snapshot is stale. */
  #write<T>(change: () => T): T {
    this.#built = null;
    return this.ctx.storage.transactionSync(change);
  }

  /** Within a transaction. An admin's move to active also resets the DNS failure count, so a
   *  tenant brought back gets failuresBeforeHold fresh runs before the check may hold it again. */
  #move(row: StatusRow, status: TenantStatus): void {
    if (row.status === status) return;
    this.#writeStatus({ ...row, status, ...this.#revocation(row), dnsFailures: status === 'active' ? 0 : row.dnsFailures });
  }

  #revocation(row: StatusRow): Pick<StatusRow, 'tokenVersion' | 'revokedBefore'> {
    return { tokenVersion: row.tokenVersion + 1, revokedBefore: this.#seconds() };
  }

  #status(): StatusRow {
    const row = this.#sql<{ status: TenantStatus; token_version: number; revoked_before: number; dns_failures: number; retired: number }>(
      'SELECT status, token_version, revoked_before, dns_failures, retired FROM status WHERE id = 1')[0];
    return row === undefined ? INITIAL : {
      status: row.status, tokenVersion: row.token_version, revokedBefore: row.revoked_before,
      dnsFailures: row.dns_failures, retired: row.retired === 1,
    };
  }

  #writeStatus(row: StatusRow): void {
    this.ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO status (id, status, token_version, revoked_before, dns_failures, retired) VALUES (1, ?, ?, ?, ?, ?)',
      row.status, row.tokenVersion, row.revokedBefore, row.dnsFailures, row.retired ? 1 : 0);
  }

  /** Entries that still count: the kept size less those past their time the alarm has not
   *  dropped yet (an index range, small while the alarm keeps up). */
  #liveSize(name: ListName): number {
    const { table, expiry, kept } = LISTS[name];
    const entries = this.#sql<{ entries: number }>('SELECT entries FROM list_sizes WHERE list = ?', name)[0]?.entries ?? 0;
    const dead = this.#sql<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${expiry} <= ?`, this.#seconds() - kept)[0]?.n ?? 0;
    return Math.max(0, entries - dead);
  }

  async #scheduleExpiry(): Promise<void> {
    const due = LIST_NAMES.map((name) => {
      const { table, expiry, kept } = LISTS[name];
      const first = this.#sql<{ t: number | null }>(`SELECT MIN(${expiry}) AS t FROM ${table}`)[0]?.t ?? null;
      return first === null ? null : first + kept;
    }).filter((at): at is number => at !== null);
    // An event's jti is dropped at its remember_until: the alarm one second after the last it counts.
    const forget = nextEventJtiExpiry(this.ctx.storage.sql);
    if (forget !== null) due.push(forget - 1);
    if (due.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    // One second past the last moment the entry still counts, so the alarm finds it dead; a
    // time already past (a batch left more) runs at once.
    const at = (Math.min(...due) + 1) * 1000;
    if ((await this.ctx.storage.getAlarm()) !== at) await this.ctx.storage.setAlarm(at);
  }

  #seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  #sql<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): T[] {
    return this.ctx.storage.sql.exec<T>(query, ...bindings).toArray();
  }
}
