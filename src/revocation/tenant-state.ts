// The TenantState Durable Object, one per tenant (docs/revocation.md):
// status, tokenVersion, revokedBefore, revoked subjects, sessions and claim values (claim-values.ts)
// and the jti denylist, in SQLite, with an alarm that drops entries once they can no longer matter. A list at its
// capacity forgets its oldest entries and raises its floor, revoking as a group what they could
// have matched: a revocation is never refused.
//
//   const state = tenantStateStub(env.TENANT_STATE, 'acme');
//   await state.snapshot(86_400)               // what isolates cache: scalars and compact lists (≤ 64 KiB);
//                                              // the argument is the tenant's revocation.retainSeconds
//   await state.check({ sub, sid, jti, claims })   // exact times (and asOf), when a snapshot says "maybe"
//   await state.revokeAll()                    // tokenVersion + 1, revokedBefore = now; the new summary
//   await state.revokeSubject('user-1'); await state.revokeSession('s-1'); await state.revokeJti('j-1', exp);
//   await state.setStatus('hold')              // a move into or out of active revokes everything
//   await state.recordDnsCheck('mismatch', { failuresBeforeHold: 3, mode: 'enforce' })
//   await state.retire()                       // tenant deleted: hold, every token revoked
//   await state.reset()                        // tenant created: active, tokenVersion 1, nothing revoked
//
// Tests replace `now` on the instance (runInDurableObject), and may shrink `maxListEntries` (the
// capacity) or `snapshotBudget`, or weaken `hash` (before any write: each entry keeps the hash it
// was written with), to reach the floor, the horizon and hash collisions with a few entries.
import { DurableObject } from 'cloudflare:workers';
import { applyEventBatch, forgetEventJtis, nextEventJtiExpiry, type BatchResult, type EventBatch } from './event-ledger';
import { systemClock, type Clock } from '../base/clock';
import { DEFAULTS, RETAIN_SECONDS } from '../config/schema';
import { fuseFilterBytes } from './binary-fuse';
import { composeLists, FILTER_BYTES, planFilters, TAIL_ENTRIES, TAIL_ONLY, type FilterPlan, type ListMarks } from './compact-lists';
import { hash32, listBytes, type RevocationList, type RevocationRow } from './revocation-list';
import { migrate } from './tenant-state-schema';

export type TenantStatus = 'active' | 'hold';
export type ListName = 'subjects' | 'sessions' | 'jtis' | 'claimValues';

/** What the Worker caches per isolate and checks tokens against. Its size does not grow with
 *  the lists: all of them together ship at most SNAPSHOT_BYTES (compact-lists.ts). */
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
  /** claimValueKey(format, claim, value) -> when it was revoked. */
  readonly claimValues: RevocationList;
  /** The object's clock when this copy was made (epoch seconds): how an exact answer got later
   *  is weighed against it (rules.ts answerStillHolds). */
  readonly asOf: number;
  /** The key of the tenant's stateless DPoP nonces (possession/dpop-nonce.ts): random, made on first
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
  readonly revokedClaimValues: number;
  readonly deniedJtis: number;
  /** Each list's forgetting floor, for the lists that have one (a list that reached its capacity). */
  readonly floors?: Readonly<Partial<Record<ListName, number>>>;
}

/** The values a snapshot could not clear. */
export interface RevocationQuery {
  readonly sub?: string;
  readonly sid?: string;
  readonly jti?: string;
  /** Claim value keys (claim-values.ts), at most MAX_CLAIM_QUERY. */
  readonly claims?: readonly string[];
}

/** For each value asked: the time its live entry holds (as the snapshot ships it), or null; and
 *  the object's clock when it answered, epoch seconds. */
export interface RevocationTimes {
  readonly sub: number | null;
  readonly sid: number | null;
  readonly jti: number | null;
  /** One time (or null) per claim key asked, in its order; absent when none was asked. */
  readonly claims?: readonly (number | null)[];
  readonly asOf: number;
}

/** The most claim keys one check answers: a tenant's transmitters name at most 2 claims each. */
export const MAX_CLAIM_QUERY = 64;

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

/** The largest clockToleranceSeconds the tenant schema allows. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** A denied jti outlives its token's exp by the largest clock tolerance, since verification
 *  still accepts a token that long past its exp. */
export const JTI_KEPT_PAST_EXP_SECONDS = MAX_CLOCK_TOLERANCE_SECONDS;
/** How far past its denial a jti entry reaches. A jti names a token that exists, so the token
 *  was issued at or before the denial; by its issuer's clock, which verification allows to run
 *  ahead of ours by the clock tolerance. Only a list too long to ship whole relies on this
 *  (rules.ts): a whole list is checked by membership alone. */
export const JTI_REACH_SECONDS = MAX_CLOCK_TOLERANCE_SECONDS;
/** Each list holds at most this many live entries; past it the oldest are forgotten and the
 *  list's floor rises to the newest of them. */
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
  const lists = listBytes(snapshot.subjects) + listBytes(snapshot.sessions) + listBytes(snapshot.jtis) + listBytes(snapshot.claimValues);
  return lists + 32 + 240;
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

/** Where each list lives. An entry counts while `expiry` > now - its list's kept time; the
 *  snapshot reads (hash, time) pairs from the `newest` covering index. `byAge`: kept for the
 *  tenant's retainSeconds (subjects, sessions), else until the token's exp (jtis). Names are
 *  constants, never input. */
const LISTS: Record<ListName, { table: string; key: string; at: string; expiry: string; newest: string; byAge: boolean }> = {
  subjects: {
    table: 'revoked_subjects', key: 'sub', at: 'revoked_at', expiry: 'revoked_at', newest: 'revoked_subjects_by_time', byAge: true,
  },
  sessions: {
    table: 'revoked_sessions', key: 'sid', at: 'revoked_at', expiry: 'revoked_at', newest: 'revoked_sessions_by_time', byAge: true,
  },
  jtis: { table: 'denied_jtis', key: 'jti', at: 'denied_at', expiry: 'exp', newest: 'denied_jtis_by_denial', byAge: false },
  claimValues: {
    table: 'revoked_claim_values', key: 'value', at: 'revoked_at', expiry: 'revoked_at', newest: 'revoked_claim_values_by_time',
    byAge: true,
  },
};
const LIST_NAMES = Object.keys(LISTS) as ListName[];

/** No filters: each list ships whole in its tail. */
const EVERY_LIST_WHOLE: Record<ListName, FilterPlan> = {
  subjects: TAIL_ONLY, sessions: TAIL_ONLY, jtis: TAIL_ONLY, claimValues: TAIL_ONLY,
};

/** The list each kind of event effect writes to. */
const EFFECT_LISTS = { subject: 'subjects', session: 'sessions', claim: 'claimValues' } as const satisfies Record<string, ListName>;

/** Rows the alarm deletes per list and run; the next run follows at once while more are due. */
const PRUNE_BATCH = 50_000;

export class TenantState extends DurableObject {
  now: Clock = systemClock;
  hash: (value: string) => number = hash32;
  /** A list's capacity: past it, the oldest entries are forgotten behind the floor. */
  maxListEntries = MAX_LIST_ENTRIES;
  /** What the filters may take, and how many entries the tails hold before they are rebuilt. */
  snapshotBudget = { filterBytes: FILTER_BYTES, tailEntries: TAIL_ENTRIES };

  /** The last snapshot built, until a write or until its first tail entry stops counting:
   *  many isolates reading cost one build per change. */
  #built: { snapshot: TenantStateSnapshot; until: number } | null = null;
  /** The filters and where the tails start, kept across writes: planned only when the tails
   *  outgrow their share (compact-lists.ts). null: no filters, each tail the whole list. */
  #plan: { lists: Record<ListName, FilterPlan>; builtAt: number } | null = null;
  /** The tenant's retainSeconds as the last reader told it (table retention), cached. */
  #retain: number | null = null;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    migrate(ctx.storage, { jtiDeniedAt: this.#seconds() + JTI_REACH_SECONDS, hash: this.hash });
  }

  /** The compact state. `retainSeconds` is the tenant's revocation.retainSeconds, as the reading
   *  isolate's config has it: the object keeps subjects, sessions and claim values that long (plus the largest
   *  clock tolerance). Anything else is ignored (it comes over RPC). */
  async snapshot(retainSeconds?: number): Promise<TenantStateSnapshot> {
    if (isRetainSeconds(retainSeconds) && retainSeconds !== this.#retainSeconds()) await this.#setRetain(retainSeconds);
    const now = this.#seconds();
    if (this.#built !== null && now < this.#built.until) return this.#built.snapshot;
    const row = this.#status();
    const { lists, until } = this.#compactLists(now);
    const snapshot: TenantStateSnapshot = {
      status: row.status, tokenVersion: row.tokenVersion, revokedBefore: row.revokedBefore,
      subjects: lists.subjects, sessions: lists.sessions, jtis: lists.jtis, claimValues: lists.claimValues, asOf: now,
      dpopNonceSecret: this.#secret('dpop-nonce'),
    };
    this.#built = { snapshot, until };
    return snapshot;
  }

  summary(): TenantStateSummary {
    const row = this.#status();
    const marks = this.#marks();
    const floors = Object.fromEntries(LIST_NAMES.filter((name) => marks[name].floor > 0).map((name) => [name, marks[name].floor]));
    return {
      status: row.status,
      tokenVersion: row.tokenVersion,
      revokedBefore: row.revokedBefore,
      revokedSubjects: this.#liveSize('subjects'),
      revokedSessions: this.#liveSize('sessions'),
      revokedClaimValues: this.#liveSize('claimValues'),
      deniedJtis: this.#liveSize('jtis'),
      ...(Object.keys(floors).length > 0 ? { floors } : {}),
    };
  }

  /** The exact answer behind a snapshot's "maybe": each value's live entry time, or null, as of
   *  now. Arguments come over RPC: anything but a string is asked about nothing. */
  check(query: RevocationQuery): RevocationTimes {
    const now = this.#seconds();
    const timeOf = (name: ListName, value: unknown): number | null => {
      if (typeof value !== 'string') return null;
      const { table, key, at, expiry } = LISTS[name];
      const query = `SELECT ${at} AS at FROM ${table} WHERE ${key} = ? AND ${expiry} > ?`;
      return this.#sql<{ at: number }>(query, value, now - this.#kept(name))[0]?.at ?? null;
    };
    const asked: RevocationQuery = typeof query === 'object' && query !== null ? query : {};
    const times = { sub: timeOf('subjects', asked.sub), sid: timeOf('sessions', asked.sid), jti: timeOf('jtis', asked.jti), asOf: now };
    if (!Array.isArray(asked.claims)) return times;
    return { ...times, claims: asked.claims.slice(0, MAX_CLAIM_QUERY).map((key: unknown) => timeOf('claimValues', key)) };
  }

  /** Every token issued at or before now is dead, from any issuer, with or without a version
   *  claim. The lists forget what this covers (entries older than revokedBefore can only match
   *  tokens it kills). A token carrying the new tokenVersion is fresh by construction (minted
   *  after this), so nothing comes back. */
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
      // The filters hold what was just dropped: the next read builds smaller ones.
      this.#plan = null;
    });
    return this.summary();
  }

  /** Tokens of `sub` issued at or before now are dead; a later revocation of the same sub moves the time on. */
  revokeSubject(sub: string): Promise<TenantStateSummary> {
    return this.#revoke('subjects', sub, this.#seconds());
  }

  /** Tokens of session `sid` issued at or before now are dead. */
  revokeSession(sid: string): Promise<TenantStateSummary> {
    return this.#revoke('sessions', sid, this.#seconds());
  }

  /** One token, denied until its exp has passed (plus the clock tolerance verification allows).
   *  A token already past that is not written down. */
  revokeJti(jti: string, exp: number): Promise<TenantStateSummary> {
    if (exp <= this.#seconds() - JTI_KEPT_PAST_EXP_SECONDS) return Promise.resolve(this.summary());
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
    this.#plan = null;
    this.#retain = null;
    return true;
  }

  /** A revocation event's effects (OIDC back-channel logout, Shared Signals) and its jti, in one
   *  transaction: all of them and the jti remembered, or (a jti processed before) nothing
   *  (event-ledger.ts). */
  async applyEvents(batch: EventBatch): Promise<BatchResult> {
    this.#built = null;
    const result = applyEventBatch(this.ctx.storage, batch, this.#seconds(),
      (effect, at) => this.#writeEntry(EFFECT_LISTS[effect.kind], effect.value, at));
    if (result.outcome === 'applied') await this.#scheduleExpiry();
    return result;
  }

  /** Drops what can no longer match a live token, a batch at a time, then waits for the next expiry. */
  override async alarm(): Promise<void> {
    const now = this.#seconds();
    this.#write(() => {
      for (const name of LIST_NAMES) this.#pruneExpired(name, now, PRUNE_BATCH);
      forgetEventJtis(this.ctx.storage.sql, now);
    });
    await this.#scheduleExpiry();
  }

  /** The compact lists as of `now`: the filters (planned again only when the tails have
   *  outgrown their share, at most once a second), each list's tail, and its marks; and when
   *  the first tail entry stops counting. */
  #compactLists(now: number): { lists: Record<ListName, RevocationList>; until: number } {
    const { tailEntries, filterBytes } = this.snapshotBudget;
    const plan = this.#plan ?? { lists: EVERY_LIST_WHOLE, builtAt: -1 };
    let tails = this.#readTails(plan.lists, now, tailEntries);
    if (LIST_NAMES.reduce((sum, name) => sum + tails.rows[name].length, 0) > tailEntries && plan.builtAt < now) {
      this.#plan = this.#planFilters(now, filterBytes);
      tails = this.#readTails(this.#plan.lists, now, tailEntries);
    }
    return { lists: composeLists(this.#plan?.lists ?? plan.lists, tails.rows, tailEntries, this.#marks()), until: tails.until };
  }

  /** The filters of each list's live rows revoked before this second (the tails take this
   *  second on, and every later write), from the covering index (hashes and times, never a
   *  value), newest first, read only as far as the filters' budget reaches. */
  #planFilters(now: number, budgetBytes: number): { lists: Record<ListName, FilterPlan>; builtAt: number } {
    const rows = {} as Record<ListName, Iterator<RevocationRow>>;
    const tailFrom = {} as Record<ListName, number>;
    // No list can put more rows in the filters than fit the budget alone, so a read cut by the
    // limit is always cut by the budget first (planFilters never takes it for a list's end).
    const limit = maxFilterKeys(budgetBytes) + 1;
    for (const name of LIST_NAMES) {
      const { table, at, expiry, newest } = LISTS[name];
      // A jti written now is shipped at now + JTI_REACH_SECONDS.
      tailFrom[name] = name === 'jtis' ? now + JTI_REACH_SECONDS : now;
      // `+expiry` keeps the planner on the time index walk rather than the expiry index and a sort.
      rows[name] = this.ctx.storage.sql.exec(
        `SELECT hash, ${at} FROM ${table} INDEXED BY ${newest} WHERE ${at} < ? AND +${expiry} > ? ORDER BY ${at} DESC LIMIT ?`,
        tailFrom[name], now - this.#kept(name), limit).raw() as Iterator<RevocationRow>;
    }
    return { lists: planFilters(rows, tailFrom, budgetBytes), builtAt: now };
  }

  /** Each list's tail (live rows at or after its tailFrom, newest first, at most `limit` + 1),
   *  and when its first row stops counting. */
  #readTails(plan: Record<ListName, FilterPlan>, now: number, limit: number): { rows: Record<ListName, RevocationRow[]>; until: number } {
    const rows = {} as Record<ListName, RevocationRow[]>;
    let until = Number.POSITIVE_INFINITY;
    for (const name of LIST_NAMES) {
      const { table, at, expiry, newest } = LISTS[name];
      const kept = this.#kept(name);
      const tail: RevocationRow[] = [];
      for (const [hash, time, ends] of this.ctx.storage.sql.exec(
        `SELECT hash, ${at}, ${expiry} FROM ${table} INDEXED BY ${newest} WHERE ${at} >= ? AND +${expiry} > ? ORDER BY ${at} DESC LIMIT ?`,
        plan[name].tailFrom, now - kept, limit + 1).raw()) {
        tail.push([hash as number, time as number]);
        until = Math.min(until, (ends as number) + kept);
      }
      rows[name] = tail;
    }
    return { rows, until };
  }

  /** One value into a list: a new entry (making room first when the list is at its capacity),
   *  or an existing one moved on to the later time. Any admin write means the tenant exists:
   *  the retired mark goes. */
  async #revoke(name: ListName, value: string, at: number, exp?: number): Promise<TenantStateSummary> {
    this.#write(() => {
      this.#writeEntry(name, value, at, exp);
      const row = this.#status();
      if (row.retired) this.#writeStatus({ ...row, retired: false });
    });
    await this.#scheduleExpiry();
    return this.summary();
  }

  /** Within a transaction: the entry written (a later time wins). A new entry in a list at its
   *  capacity first makes room (#makeRoom). */
  #writeEntry(name: ListName, value: string, at: number, exp?: number): void {
    const { table, key } = LISTS[name];
    const existing = this.#sql(`SELECT 1 AS found FROM ${table} WHERE ${key} = ?`, value).length > 0;
    if (!existing) {
      if (this.#liveSize(name) >= this.maxListEntries) this.#makeRoom(name);
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
    // The tails start at tailFrom because later writes come later; a clock that went back
    // breaks that, so the filters are planned again.
    if (this.#plan !== null && at < this.#plan.lists[name].tailFrom) this.#plan = null;
  }

  /** Within a transaction, for a list at its capacity: entries past their time go first (they
   *  cost no token anything); then the oldest live ones, and the floor rises to the newest of
   *  them. Every token the list could have matched issued at or before the floor is revoked,
   *  so forgetting never lets a revoked token through. */
  #makeRoom(name: ListName): void {
    const now = this.#seconds();
    this.#pruneExpired(name, now, PRUNE_BATCH);
    const over = this.#liveSize(name) - this.maxListEntries + 1;
    if (over <= 0) return;
    const { table, at, expiry, newest } = LISTS[name];
    const oldest = `SELECT rowid FROM ${table} INDEXED BY ${newest} WHERE +${expiry} > ? ORDER BY ${at} ASC LIMIT ?`;
    const cutoff = now - this.#kept(name);
    const forgotten = this.#sql<{ newest: number | null }>(
      `SELECT MAX(${at}) AS newest FROM ${table} WHERE rowid IN (${oldest})`, cutoff, over)[0]?.newest ?? null;
    if (forgotten === null) return;
    this.ctx.storage.sql.exec(`DELETE FROM ${table} WHERE rowid IN (${oldest})`, cutoff, over);
    this.ctx.storage.sql.exec('UPDATE list_sizes SET entries = MAX(0, entries - ?), floor = MAX(floor, ?) WHERE list = ?',
      over, forgotten, name);
  }

  /** Within a transaction: drops up to `limit` entries past their time. A subject or session
   *  dropped with age raises agedThrough, so a token it could have matched stays refused even
   *  if retainSeconds grows later. */
  #pruneExpired(name: ListName, now: number, limit: number): void {
    const { table, at, expiry, byAge } = LISTS[name];
    const due = `SELECT rowid FROM ${table} WHERE ${expiry} <= ? ORDER BY ${expiry} LIMIT ?`;
    const cutoff = now - this.#kept(name);
    const found = this.#sql<{ n: number; newest: number | null }>(
      `SELECT COUNT(*) AS n, MAX(${at}) AS newest FROM ${table} WHERE rowid IN (${due})`, cutoff, limit)[0];
    if (found === undefined || found.n === 0) return;
    this.ctx.storage.sql.exec(`DELETE FROM ${table} WHERE rowid IN (${due})`, cutoff, limit);
    this.ctx.storage.sql.exec('UPDATE list_sizes SET entries = MAX(0, entries - ?), aged_through = MAX(aged_through, ?) WHERE list = ?',
      found.n, byAge ? found.newest ?? 0 : 0, name);
  }

  /** How long an entry of the list counts. A subject or session: the tenant's retainSeconds
   *  plus the largest clock tolerance, so every token verification still accepts (iat within
   *  retainSeconds and the tolerance) meets it; a jti: until its exp plus that tolerance. */
  #kept(name: ListName): number {
    return LISTS[name].byAge ? this.#retainSeconds() + MAX_CLOCK_TOLERANCE_SECONDS + 1 : JTI_KEPT_PAST_EXP_SECONDS;
  }

  #retainSeconds(): number {
    return this.#retain ??= this.#sql<{ seconds: number }>('SELECT retain_seconds AS seconds FROM retention WHERE id = 1')[0]?.seconds
      ?? DEFAULTS.retainSeconds;
  }

  /** A new retainSeconds from a reader: kept, and the alarm moved to the next expiry under it. */
  async #setRetain(seconds: number): Promise<void> {
    this.ctx.storage.sql.exec('INSERT OR REPLACE INTO retention (id, retain_seconds) VALUES (1, ?)', seconds);
    this.#retain = seconds;
    this.#built = null;
    await this.#scheduleExpiry();
  }

  #marks(): Record<ListName, ListMarks> {
    const marks = Object.fromEntries(LIST_NAMES.map((name) => [name, { floor: 0, agedThrough: 0 }])) as Record<ListName, ListMarks>;
    const rows = this.#sql<{ list: ListName; floor: number; aged_through: number }>('SELECT list, floor, aged_through FROM list_sizes');
    for (const row of rows) {
      if (Object.hasOwn(marks, row.list)) marks[row.list] = { floor: row.floor, agedThrough: row.aged_through };
    }
    return marks;
  }

  /** A named random secret of 32 bytes, made the first time it is asked for. */
  #secret(name: string): Uint8Array {
    const fresh = crypto.getRandomValues(new Uint8Array(32));
    this.ctx.storage.sql.exec('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)', name, fresh);
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
    const { table, expiry } = LISTS[name];
    const entries = this.#sql<{ entries: number }>('SELECT entries FROM list_sizes WHERE list = ?', name)[0]?.entries ?? 0;
    const since = this.#seconds() - this.#kept(name);
    const dead = this.#sql<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${expiry} <= ?`, since)[0]?.n ?? 0;
    return Math.max(0, entries - dead);
  }

  async #scheduleExpiry(): Promise<void> {
    const due = LIST_NAMES.map((name) => {
      const { table, expiry } = LISTS[name];
      const first = this.#sql<{ t: number | null }>(`SELECT MIN(${expiry}) AS t FROM ${table}`)[0]?.t ?? null;
      return first === null ? null : first + this.#kept(name);
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

/** A retainSeconds the tenant schema allows. */
function isRetainSeconds(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= RETAIN_SECONDS.min && (value as number) <= RETAIN_SECONDS.max;
}

const maxKeysByBudget = new Map<number, number>();

/** The most keys whose filter fits `budgetBytes` (filter sizes grow with the key count). */
function maxFilterKeys(budgetBytes: number): number {
  let known = maxKeysByBudget.get(budgetBytes);
  if (known === undefined) {
    let low = 0;
    let high = Math.max(1, budgetBytes);
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (fuseFilterBytes(mid) <= budgetBytes) low = mid;
      else high = mid - 1;
    }
    known = low;
    maxKeysByBudget.set(budgetBytes, known);
  }
  return known;
}
