// The TenantState object's SQLite tables and the steps that bring an existing object's tables
// up to date. Each step runs once per object, in order, in one transaction with the version it
// reaches (SQLite's user_version pragma is not available to Durable Objects, so a table holds it).
//
//   migrate(ctx.storage, { jtiDeniedAt: nowSeconds + JTI_REACH_SECONDS, hash: hash32 });   // in the constructor

import { EVENT_LEDGER_SCHEMA } from './event-ledger';

/** Step 1 is the first layout; objects created before versions were tracked already have it,
 *  so it only creates what is missing. */
const FIRST = `
  CREATE TABLE IF NOT EXISTS status (
    id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, token_version INTEGER NOT NULL,
    revoked_before INTEGER NOT NULL, dns_failures INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS revoked_subjects (sub TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS revoked_subjects_by_time ON revoked_subjects (revoked_at);
  CREATE TABLE IF NOT EXISTS denied_jtis (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS denied_jtis_by_exp ON denied_jtis (exp);
`;

/** Step 2: sessions; the time a jti was denied (the snapshot ships the newest denials); each
 *  value's hash32, written with it, so the snapshot reads (time, hash) pairs from one covering
 *  index newest first, no value and no hashing; the size of each list, kept with every insert
 *  and delete so the cap costs no COUNT(*); and the retired mark a deleted tenant's state
 *  carries until the id is created again. */
const SECOND = `
  ALTER TABLE status ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE revoked_subjects ADD COLUMN hash INTEGER NOT NULL DEFAULT 0;
  DROP INDEX revoked_subjects_by_time;
  CREATE INDEX revoked_subjects_by_time ON revoked_subjects (revoked_at, hash);
  CREATE TABLE revoked_sessions (sid TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, hash INTEGER NOT NULL);
  CREATE INDEX revoked_sessions_by_time ON revoked_sessions (revoked_at, hash);
  ALTER TABLE denied_jtis ADD COLUMN denied_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE denied_jtis ADD COLUMN hash INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX denied_jtis_by_denial ON denied_jtis (denied_at, hash, exp);
  CREATE TABLE list_sizes (list TEXT PRIMARY KEY, entries INTEGER NOT NULL);
  INSERT INTO list_sizes (list, entries) SELECT 'subjects', COUNT(*) FROM revoked_subjects;
  INSERT INTO list_sizes (list, entries) VALUES ('sessions', 0);
  INSERT INTO list_sizes (list, entries) SELECT 'jtis', COUNT(*) FROM denied_jtis;
`;

/** Step 3: the tenant's secrets (the DPoP nonce key), created when first asked for. */
const THIRD = `
  CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
`;

/** Step 4: the jtis of processed revocation events (event-ledger.ts). */
const FOURTH = EVENT_LEDGER_SCHEMA;

/** Step 5: what a list has forgotten (its capacity floor, and what age took from it), and the
 *  tenant's retainSeconds as the last reader told it (absent: the default). An object that held
 *  subjects and sessions for 30 days keeps them until its alarm finds them past retainSeconds. */
const FIFTH = `
  ALTER TABLE list_sizes ADD COLUMN floor INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE list_sizes ADD COLUMN aged_through INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE IF NOT EXISTS retention (id INTEGER PRIMARY KEY CHECK (id = 1), retain_seconds INTEGER NOT NULL);
`;

/** Step 6: revoked claim values (claim-values.ts): an `email` or `phone_number` subject of a
 *  Shared Signals event, under the claim a transmitter names for it; kept like subjects. */
const SIXTH = `
  CREATE TABLE IF NOT EXISTS revoked_claim_values (value TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, hash INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS revoked_claim_values_by_time ON revoked_claim_values (revoked_at, hash);
  INSERT OR IGNORE INTO list_sizes (list, entries) VALUES ('claimValues', 0);
`;

const LATEST = 6;

export function migrate(storage: DurableObjectStorage, options: { jtiDeniedAt: number; hash: (value: string) => number }): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec('CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)');
    const version = sql.exec<{ version: number }>('SELECT version FROM schema_version WHERE id = 1').toArray()[0]?.version ?? 0;
    if (version >= LATEST) return;
    if (version < 1) sql.exec(FIRST);
    if (version < 2) second(sql, options);
    if (version < 3) sql.exec(THIRD);
    if (version < 4) sql.exec(FOURTH);
    if (version < 5) sql.exec(FIFTH);
    if (version < 6) sql.exec(SIXTH);
    sql.exec('INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, ?)', LATEST);
  });
}

/** Step 2's data: denial times and hashes for entries written before they were kept. */
function second(sql: SqlStorage, options: { jtiDeniedAt: number; hash: (value: string) => number }): void {
  sql.exec(SECOND);
  // A jti denied before denial times were kept: as if denied now, which covers every token
  // that existed when it was denied.
  sql.exec('UPDATE denied_jtis SET denied_at = ?', options.jtiDeniedAt);
  // Entries written before hashes were kept (lists the first layout could still serve: small).
  for (const [table, key] of [['revoked_subjects', 'sub'], ['denied_jtis', 'jti']] as const) {
    for (const [rowid, value] of [...sql.exec(`SELECT rowid, ${key} FROM ${table}`).raw()]) {
      sql.exec(`UPDATE ${table} SET hash = ? WHERE rowid = ?`, options.hash(value as string) >>> 0, rowid);
    }
  }
}
