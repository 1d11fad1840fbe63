// The Directory Durable Object (docs/configuration.md): the one global registry of host claims, and
// where every tenant write and delete runs, so two concurrent writers can never both win a host
// and a host's KV copy is only ever written by the tenant holding its claim. Its `tenants` table
// is also what admin listing and the scheduled run page through (with the run's stored cursor).
//
//   const directory = directoryStub(env.DIRECTORY);
//   await directory.put(config, { etags: ['"3f2a…"'] }, basis)  // { ok: true, created, before, after } or a refusal
//   await directory.remove('acme', null)                  // { ok: true, before } or unknown_tenant
//   await directory.hostsOf('acme')                       // ['api.acme.com', '*.acme.dev']
//   await directory.listTenants(null, 100)                // [{ id, hosts }] ordered by id; pass the last id on
//   await directory.scheduledPage(50)                     // the cron's next page, from its stored cursor
//   await directory.repairPending()                       // finish writes KV failed half way (the cron does)
import { DurableObject } from 'cloudflare:workers';
import { DIRECTORY_NAME, hostKey, tenantKey } from './kv-keys';
import { storedRecord, type StoredRecord } from './record';
import type { TenantConfig } from '../config/schema';

/** A write's condition on the current record: If-Match (tags or `*`), If-None-Match `*`, or none. */
export type Precondition = null | 'exists' | 'absent' | { readonly etags: readonly string[] };

export interface HostConflict { host: string; tenant: string }

export type WriteRefusal =
  | { error: 'host_conflict'; conflicts: HostConflict[] }
  | { error: 'precondition_failed' }
  | { error: 'unknown_tenant' }
  /** The record is no longer the one the write was made from (its `basis`): make it again. */
  | { error: 'changed' }
  /** KV failed part way: the write stays pending and is finished later (repairPending). */
  | { error: 'incomplete'; note: string };

export type TenantWrite =
  | { ok: true; created: boolean; before: TenantConfig | null; after: TenantConfig; etag: string }
  | { ok: false; refusal: WriteRefusal };

export type TenantRemoval =
  | { ok: true; before: TenantConfig | null }
  | { ok: false; refusal: WriteRefusal };

/** A row of GET /tenants. */
export interface TenantListing { readonly id: string; readonly hosts: readonly string[] }

/** What the scheduled run needs of a tenant (not its whole config: a page may hold a thousand). */
export interface ScheduledTenant {
  readonly id: string;
  readonly hosts: readonly string[];
  readonly dnsCheck: TenantConfig['dnsCheck'];
  readonly issuers: readonly { readonly issuer: string; readonly jwksUri: string | null }[];
}

/** `after` is the cursor the page started from (null: the start of a cycle). */
export interface ScheduledPage { readonly after: string | null; readonly tenants: readonly ScheduledTenant[] }

/** A page row: JSON texts as SQLite extracts them (dnsCheck is NULL when the config has none). */
type PageRow = { id: string; hosts: string; dnsCheck: string | null; issuers: string };

/** The one cursor row: where the cron's walk over the tenants resumes. */
const SCHEDULED_CURSOR = 'scheduled';

type Claim = { ok: true; previous: string[] } | { ok: false; conflicts: HostConflict[] };

/** A write started and not yet committed: a PUT with its config, or a DELETE. */
type PendingRow = { id: string; op: 'put' | 'remove'; config: string | null; since: number };

/** What repairPending did with one pending write. */
export interface PendingRepair {
  readonly id: string;
  readonly op: 'put' | 'remove';
  /** finished: replayed to the end; settled: a later write had already finished it. */
  readonly result: 'finished' | 'settled' | 'failed';
  readonly note?: string;
}

interface CurrentRecord { config: TenantConfig; etag: string }

/** The one global Directory: the one place its stub is made. */
export function directoryStub(namespace: DurableObjectNamespace<Directory>): DurableObjectStub<Directory> {
  return namespace.get(namespace.idFromName(DIRECTORY_NAME));
}

/** The one binding the Directory uses: the KV namespace it writes tenant records to. */
export interface DirectoryBindings {
  readonly TENANTS: KVNamespace;
}

export class Directory extends DurableObject<DirectoryBindings> {
  // Writes of one tenant run one after another; writes of different tenants interleave freely,
  // since claims (synchronous SQL, no await between check and write) keep them apart.
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(ctx: DurableObjectState, env: DirectoryBindings) {
    super(ctx, env);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS claims (host TEXT PRIMARY KEY, tenant TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS claims_by_tenant ON claims (tenant);
      CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, config TEXT NOT NULL, etag TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, after TEXT);
      CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY, op TEXT NOT NULL, config TEXT, since INTEGER NOT NULL);
    `);
  }

  /** The hosts and wildcards the tenant holds claims on. */
  hostsOf(tenantId: string): string[] {
    return this.ctx.storage.sql.exec<{ host: string }>('SELECT host FROM claims WHERE tenant = ? ORDER BY host', tenantId)
      .toArray().map((row) => row.host);
  }

  /** Whether the tenant has a record: strongly consistent, unlike its KV copy. */
  exists(tenantId: string): boolean {
    return this.ctx.storage.sql.exec('SELECT 1 FROM tenants WHERE id = ?', tenantId).toArray().length > 0;
  }

  /** The stored config: strongly consistent, unlike its KV copy. */
  /** The stored record as JSON with its ETag: the strongly consistent read the admin API
   *  answers GET with, so an ETag it hands out is never older than the last write. */
  recordOf(tenantId: string): { json: string; etag: string } | null {
    const row = this.ctx.storage.sql.exec<{ config: string; etag: string }>('SELECT config, etag FROM tenants WHERE id = ?', tenantId)
      .toArray()[0];
    return row === undefined ? null : { json: row.config, etag: row.etag };
  }

  configOf(tenantId: string): TenantConfig | null {
    return this.#current(tenantId)?.config ?? null;
  }

  /** Up to `limit` tenants with ids after `after` (null: from the start), ordered by id: keyset
   *  paging, so a page costs the same at tenant 50,000 as at tenant 1. */
  listTenants(after: string | null, limit: number): TenantListing[] {
    return this.#page(after, limit).map((row) => ({ id: row.id, hosts: JSON.parse(row.hosts) as string[] }));
  }

  /** The scheduled work's next page: tenants after `after`, or after the stored cursor when
   *  `after` is undefined, with what the run needs of each (hosts, dnsCheck, issuers). */
  scheduledPage(limit: number, after?: string | null): ScheduledPage {
    const from = after === undefined ? this.#scheduledCursor() : after;
    const tenants = this.#page(from, limit).map((row) => ({
      id: row.id,
      hosts: JSON.parse(row.hosts) as string[],
      dnsCheck: row.dnsCheck === null ? null : JSON.parse(row.dnsCheck) as TenantConfig['dnsCheck'],
      issuers: (JSON.parse(row.issuers) as TenantConfig['issuers']).map((i) => ({ issuer: i.issuer, jwksUri: i.jwksUri })),
    }));
    return { after: from, tenants };
  }

  /** Where the next scheduled run starts: after this id, or from the start (a new cycle) when null. */
  saveScheduledCursor(after: string | null): void {
    this.ctx.storage.sql.exec('INSERT OR REPLACE INTO cursors (name, after) VALUES (?, ?)', SCHEDULED_CURSOR, after);
  }

  #scheduledCursor(): string | null {
    return this.ctx.storage.sql.exec<{ after: string | null }>('SELECT after FROM cursors WHERE name = ?', SCHEDULED_CURSOR)
      .toArray()[0]?.after ?? null;
  }

  /** Only the fields a page needs, extracted by SQLite: a full config (routes and all) can be
   *  tens of KiB, and a page may hold a thousand. */
  #page(after: string | null, limit: number): PageRow[] {
    // '' sorts before every id, so it stands for "from the start".
    return this.ctx.storage.sql.exec<PageRow>(
      `SELECT id, json_extract(config, '$.hosts') AS hosts, json_extract(config, '$.dnsCheck') AS dnsCheck,
         json_extract(config, '$.issuers') AS issuers
       FROM tenants WHERE id > ? ORDER BY id LIMIT ?`, after ?? '', Math.max(0, Math.floor(limit)),
    ).toArray();
  }

  /** Creates or replaces a validated config. The order below means a failure half way never
   *  leaves a host pointing at a missing tenant or at another tenant's config:
   *   1. claim the new hosts, keeping the old claims (409 if another tenant holds one);
   *   2. delete the `host/` copies of hosts no longer listed (still claimed, so no one else
   *      can have written them);
   *   3. write `tenant/<id>`, then 4. a `host/` copy for every listed host;
   *   5. release the dropped hosts (only now may another tenant claim them) and record the etag.
   *  A failure between steps leaves the claims in place and the write marked pending: the next
   *  write of the tenant, or repairPending() from the cron run, finishes it. */
  async put(config: TenantConfig, precondition: Precondition, basis?: string | null): Promise<TenantWrite> {
    const record = await storedRecord(config);
    return this.#serially(config.id, () => this.#write(config, record, precondition, basis));
  }

  /** Deletes a tenant: its `host/` copies first, then `tenant/<id>`, then its claims, so a
   *  failure half way leaves claims (and a pending mark) that finish it later. */
  async remove(tenantId: string, precondition: Precondition): Promise<TenantRemoval> {
    return this.#serially(tenantId, () => this.#delete(tenantId, precondition));
  }

  /** KV has no transactions: a write that failed half way stays marked pending. This finishes
   *  each one older than `olderThanMs` (so writes still under way are left alone), replaying it
   *  in the tenant's queue unless a later write settled the tenant meanwhile. The cron run calls
   *  it first thing. */
  async repairPending(olderThanMs = 60_000): Promise<PendingRepair[]> {
    const rows = this.ctx.storage.sql.exec<PendingRow>('SELECT id, op, config, since FROM pending WHERE since <= ? ORDER BY since',
      Date.now() - olderThanMs).toArray();
    const repairs: PendingRepair[] = [];
    for (const row of rows) {
      repairs.push(await this.#serially(row.id, async (): Promise<PendingRepair> => {
        const still = this.#pendingOf(row.id);
        if (still === null || still.op !== row.op || still.config !== row.config) return { id: row.id, op: row.op, result: 'settled' };
        const config = row.config === null ? null : JSON.parse(row.config) as TenantConfig;
        const done = config === null ? await this.#delete(row.id, null) : await this.#write(config, await storedRecord(config), null);
        if (done.ok) return { id: row.id, op: row.op, result: 'finished' };
        return { id: row.id, op: row.op, result: 'failed', note: 'note' in done.refusal ? done.refusal.note : done.refusal.error };
      }));
    }
    return repairs;
  }

  /** `basis`: the ETag of the record the config was made from (null: none), when it carries
   *  something of it (kept secrets, the edge key): a write in between makes it stale. */
  async #write(config: TenantConfig, record: StoredRecord, precondition: Precondition, basis?: string | null): Promise<TenantWrite> {
    const current = this.#current(config.id);
    if (!satisfies(precondition, current)) return { ok: false, refusal: { error: 'precondition_failed' } };
    if (basis !== undefined && (current?.etag ?? null) !== basis) return { ok: false, refusal: { error: 'changed' } };
    const claim = this.#claim(config.id, config.hosts);
    if (!claim.ok) return { ok: false, refusal: { error: 'host_conflict', conflicts: claim.conflicts } };
    this.#markPending(config.id, 'put', record.json);
    const dropped = claim.previous.filter((host) => !config.hosts.includes(host));
    try {
      await Promise.all(dropped.map((host) => this.env.TENANTS.delete(hostKey(host))));
      await this.env.TENANTS.put(tenantKey(config.id), record.json);
      await Promise.all(config.hosts.map((host) => this.env.TENANTS.put(hostKey(host), record.json)));
    } catch (error) {
      return { ok: false, refusal: incomplete(error) };
    }
    this.#commit(config.id, dropped, record);
    return { ok: true, created: current === null, before: current?.config ?? null, after: config, etag: record.etag };
  }

  async #delete(tenantId: string, precondition: Precondition): Promise<TenantRemoval> {
    const current = this.#current(tenantId);
    const hosts = this.hostsOf(tenantId);
    if (current === null && hosts.length === 0) return { ok: false, refusal: { error: 'unknown_tenant' } };
    if (!satisfies(precondition, current)) return { ok: false, refusal: { error: 'precondition_failed' } };
    this.#markPending(tenantId, 'remove', null);
    try {
      await Promise.all(hosts.map((host) => this.env.TENANTS.delete(hostKey(host))));
      await this.env.TENANTS.delete(tenantKey(tenantId));
    } catch (error) {
      return { ok: false, refusal: incomplete(error) };
    }
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec('DELETE FROM claims WHERE tenant = ?', tenantId);
      this.ctx.storage.sql.exec('DELETE FROM tenants WHERE id = ?', tenantId);
      this.ctx.storage.sql.exec('DELETE FROM pending WHERE id = ?', tenantId);
    });
    return { ok: true, before: current?.config ?? null };
  }

  #markPending(tenantId: string, op: PendingRow['op'], config: string | null): void {
    this.ctx.storage.sql.exec('INSERT OR REPLACE INTO pending (id, op, config, since) VALUES (?, ?, ?, ?)',
      tenantId, op, config, Date.now());
  }

  #pendingOf(tenantId: string): PendingRow | null {
    return this.ctx.storage.sql.exec<PendingRow>('SELECT id, op, config, since FROM pending WHERE id = ?', tenantId).toArray()[0] ?? null;
  }

  /** Check and write in one synchronous transaction: nothing else runs in between. The same
   *  exact host or the same wildcard string held by another tenant is a conflict; an exact host
   *  under another tenant's wildcard is not (exact beats wildcard). */
  #claim(tenantId: string, hosts: readonly string[]): Claim {
    return this.ctx.storage.transactionSync((): Claim => {
      const conflicts: HostConflict[] = [];
      for (const host of hosts) {
        const holder = this.ctx.storage.sql.exec<{ tenant: string }>('SELECT tenant FROM claims WHERE host = ?', host).toArray()[0];
        if (holder !== undefined && holder.tenant !== tenantId) conflicts.push({ host, tenant: holder.tenant });
      }
      if (conflicts.length > 0) return { ok: false, conflicts };
      const previous = this.hostsOf(tenantId);
      for (const host of hosts) {
        this.ctx.storage.sql.exec('INSERT OR IGNORE INTO claims (host, tenant) VALUES (?, ?)', host, tenantId);
      }
      return { ok: true, previous };
    });
  }

  #commit(tenantId: string, dropped: readonly string[], record: StoredRecord): void {
    this.ctx.storage.transactionSync(() => {
      for (const host of dropped) {
        this.ctx.storage.sql.exec('DELETE FROM claims WHERE host = ? AND tenant = ?', host, tenantId);
      }
      this.ctx.storage.sql.exec('INSERT OR REPLACE INTO tenants (id, config, etag) VALUES (?, ?, ?)', tenantId, record.json, record.etag);
      this.ctx.storage.sql.exec('DELETE FROM pending WHERE id = ?', tenantId);
    });
  }

  #current(tenantId: string): CurrentRecord | null {
    const record = this.recordOf(tenantId);
    return record === null ? null : { config: JSON.parse(record.json) as TenantConfig, etag: record.etag };
  }

  #serially<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#queues.get(tenantId) ?? Promise.resolve()).then(work);
    const settled = run.then(() => undefined, () => undefined);
    this.#queues.set(tenantId, settled);
    void settled.then(() => { if (this.#queues.get(tenantId) === settled) this.#queues.delete(tenantId); });
    return run;
  }
}

function satisfies(precondition: Precondition, current: CurrentRecord | null): boolean {
  if (precondition === null) return true;
  if (precondition === 'exists') return current !== null;
  if (precondition === 'absent') return current === null;
  return current !== null && precondition.etags.includes(current.etag);
}

function incomplete(error: unknown): WriteRefusal {
  return { error: 'incomplete', note: (error instanceof Error ? error.message : String(error)).slice(0, 200) };
}
