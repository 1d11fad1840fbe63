// The TenantState Durable Object, one per tenant (SPEC.md "Tenant status and revocation"):
// status, tokenVersion, revokedBefore, revoked subjects and the jti denylist, in SQLite, with
// an alarm that drops entries once they can no longer matter.
//
//   const state = tenantStateStub(env.TENANT_STATE, 'acme');
//   await state.snapshot()                     // what the isolate caches and checks tokens against
//   await state.revokeAll()                    // tokenVersion + 1, revokedBefore = now; the new summary
//   await state.revokeSubject('user-1'); await state.revokeJti('j-1', exp);
//   await state.setStatus('hold')              // a move into or out of active revokes everything
//   await state.recordDnsCheck('mismatch', { failuresBeforeHold: 3, mode: 'enforce' })
//   await state.wipe()                         // tenant deleted: a reused id starts clean
//
// Tests replace `now` on the instance (runInDurableObject).
import { DurableObject } from 'cloudflare:workers';
import { systemClock, type Clock } from '../clock';
import type { Env } from '../env';

export type TenantStatus = 'active' | 'hold';

/** What the Worker caches per isolate and checks tokens against. */
export interface TenantStateSnapshot {
  readonly status: TenantStatus;
  readonly tokenVersion: number;
  /** Epoch seconds; 0 = nothing revoked. */
  readonly revokedBefore: number;
  /** sub -> epoch seconds it was revoked at. */
  readonly revokedSubjects: Readonly<Record<string, number>>;
  /** jti -> the token's exp (epoch seconds); kept until then. */
  readonly deniedJtis: Readonly<Record<string, number>>;
}

/** The admin API's view (SPEC.md GET /tenants/:id/state). */
export interface TenantStateSummary {
  readonly status: TenantStatus;
  readonly tokenVersion: number;
  readonly revokedBefore: number;
  readonly revokedSubjects: number;
  readonly deniedJtis: number;
}

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

/** A revoked subject is forgotten this long after its revocation (SPEC.md). */
export const SUBJECT_KEPT_SECONDS = 30 * 24 * 60 * 60;
/** A denied jti outlives its token's exp by the largest clockToleranceSeconds the tenant schema
 *  allows, since verification still accepts a token that long past its exp. */
export const JTI_KEPT_PAST_EXP_SECONDS = 300;

/** The object for a tenant: the one place its name is derived. */
export function tenantStateStub(namespace: DurableObjectNamespace<TenantState>, tenantId: string): DurableObjectStub<TenantState> {
  return namespace.get(namespace.idFromName(tenantId));
}

interface StatusRow { status: TenantStatus; tokenVersion: number; revokedBefore: number; dnsFailures: number }

const INITIAL: StatusRow = { status: 'active', tokenVersion: 1, revokedBefore: 0, dnsFailures: 0 };

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS status (
    id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, token_version INTEGER NOT NULL,
    revoked_before INTEGER NOT NULL, dns_failures INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS revoked_subjects (sub TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS revoked_subjects_by_time ON revoked_subjects (revoked_at);
  CREATE TABLE IF NOT EXISTS denied_jtis (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS denied_jtis_by_exp ON denied_jtis (exp);
`;

export class TenantState extends DurableObject<Env> {
  now: Clock = systemClock;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  snapshot(): TenantStateSnapshot {
    const row = this.#status();
    const cutoffs = this.#cutoffs();
    // fromEntries defines own properties, so a sub such as "__proto__" stays plain data.
    const revokedSubjects = Object.fromEntries(this.#sql<{ sub: string; revoked_at: number }>(
      'SELECT sub, revoked_at FROM revoked_subjects WHERE revoked_at > ?', cutoffs.subjects).map((r) => [r.sub, r.revoked_at]));
    const deniedJtis = Object.fromEntries(this.#sql<{ jti: string; exp: number }>(
      'SELECT jti, exp FROM denied_jtis WHERE exp > ?', cutoffs.jtis).map((r) => [r.jti, r.exp]));
    return { status: row.status, tokenVersion: row.tokenVersion, revokedBefore: row.revokedBefore, revokedSubjects, deniedJtis };
  }

  summary(): TenantStateSummary {
    const row = this.#status();
    const cutoffs = this.#cutoffs();
    const count = (query: string, cutoff: number) => this.#sql<{ n: number }>(query, cutoff)[0]?.n ?? 0;
    return {
      status: row.status,
      tokenVersion: row.tokenVersion,
      revokedBefore: row.revokedBefore,
      revokedSubjects: count('SELECT COUNT(*) AS n FROM revoked_subjects WHERE revoked_at > ?', cutoffs.subjects),
      deniedJtis: count('SELECT COUNT(*) AS n FROM denied_jtis WHERE exp > ?', cutoffs.jtis),
    };
  }

  /** Every token issued before now is dead, from any issuer, with or without a version claim. */
  revokeAll(): TenantStateSummary {
    this.ctx.storage.transactionSync(() => {
      const row = this.#status();
      this.#writeStatus({ ...row, ...this.#revocation(row) });
    });
    return this.summary();
  }

  /** Tokens of `sub` issued before now are dead; a later revocation of the same sub moves the time on. */
  async revokeSubject(sub: string): Promise<TenantStateSummary> {
    this.ctx.storage.sql.exec(
      `INSERT INTO revoked_subjects (sub, revoked_at) VALUES (?, ?)
       ON CONFLICT (sub) DO UPDATE SET revoked_at = MAX(revoked_at, excluded.revoked_at)`, sub, this.#seconds());
    await this.#scheduleExpiry();
    return this.summary();
  }

  /** One token, denied until its exp has passed (plus the clock tolerance verification allows). */
  async revokeJti(jti: string, exp: number): Promise<TenantStateSummary> {
    if (exp > this.#cutoffs().jtis) {
      this.ctx.storage.sql.exec(
        `INSERT INTO denied_jtis (jti, exp) VALUES (?, ?)
         ON CONFLICT (jti) DO UPDATE SET exp = MAX(exp, excluded.exp)`, jti, exp);
      await this.#scheduleExpiry();
    }
    return this.summary();
  }

  /** Setting the current status again changes nothing; a real move revokes every token. */
  setStatus(status: TenantStatus): TenantStateSummary {
    this.ctx.storage.transactionSync(() => this.#move(this.#status(), status));
    return this.summary();
  }

  /** One DNS-check run's verdict for the tenant (SPEC.md "Scheduled work"). Only an admin
   *  takes a tenant off hold: an ok verdict resets the count and nothing else. */
  recordDnsCheck(verdict: DnsVerdict, policy: DnsPolicy): DnsRecord {
    return this.ctx.storage.transactionSync((): DnsRecord => {
      const row = this.#status();
      if (verdict === 'transient') return { failures: row.dnsFailures, held: false, status: row.status };
      const failures = verdict === 'ok' ? 0 : row.dnsFailures + 1;
      const hold = failures >= policy.failuresBeforeHold && policy.mode === 'enforce' && row.status === 'active';
      if (hold) this.#move({ ...row, dnsFailures: failures }, 'hold');
      else this.#writeStatus({ ...row, dnsFailures: failures });
      return { failures, held: hold, status: hold ? 'hold' : row.status };
    });
  }

  /** Everything gone, alarm included; the instance is usable again at once, as a new tenant. */
  async wipe(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.ctx.storage.sql.exec(SCHEMA);
  }

  /** Drops what can no longer match a live token, then waits for the next expiry. */
  override async alarm(): Promise<void> {
    const cutoffs = this.#cutoffs();
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec('DELETE FROM revoked_subjects WHERE revoked_at <= ?', cutoffs.subjects);
      this.ctx.storage.sql.exec('DELETE FROM denied_jtis WHERE exp <= ?', cutoffs.jtis);
    });
    await this.#scheduleExpiry();
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
    const row = this.#sql<{ status: TenantStatus; token_version: number; revoked_before: number; dns_failures: number }>(
      'SELECT status, token_version, revoked_before, dns_failures FROM status WHERE id = 1')[0];
    return row === undefined ? INITIAL
      : { status: row.status, tokenVersion: row.token_version, revokedBefore: row.revoked_before, dnsFailures: row.dns_failures };
  }

  #writeStatus(row: StatusRow): void {
    this.ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO status (id, status, token_version, revoked_before, dns_failures) VALUES (1, ?, ?, ?, ?)',
      row.status, row.tokenVersion, row.revokedBefore, row.dnsFailures);
  }

  /** Entries at or below these (epoch seconds) are dead, whether or not the alarm has run. */
  #cutoffs(): { subjects: number; jtis: number } {
    const now = this.#seconds();
    return { subjects: now - SUBJECT_KEPT_SECONDS, jtis: now - JTI_KEPT_PAST_EXP_SECONDS };
  }

  async #scheduleExpiry(): Promise<void> {
    const subject = this.#sql<{ t: number | null }>('SELECT MIN(revoked_at) AS t FROM revoked_subjects')[0]?.t ?? null;
    const jti = this.#sql<{ t: number | null }>('SELECT MIN(exp) AS t FROM denied_jtis')[0]?.t ?? null;
    const due = [subject === null ? null : subject + SUBJECT_KEPT_SECONDS, jti === null ? null : jti + JTI_KEPT_PAST_EXP_SECONDS]
      .filter((at): at is number => at !== null);
    if (due.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    // One second past the last moment the entry still counts, so the alarm finds it dead.
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
