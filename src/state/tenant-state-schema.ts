// The TenantState object's SQLite tables and the steps that bring an existing object's tables
// up to date. Each step runs once per object, in order, in one transaction with the version it
// reaches (SQLite's user_version pragma is not available to Durable Objects, so a table holds it).
//
//   migrate(ctx.storage, nowSeconds);       // in the constructor, before any read

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

/** Step 2: sessions; the time a jti was denied (the snapshot ships the newest denials); the
 *  size of each list, kept with every insert and delete so the cap costs no COUNT(*); and the
 *  retired mark a deleted tenant's state carries until the id is created again. */
const SECOND = `
  ALTER TABLE status ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE revoked_sessions (sid TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
  CREATE INDEX revoked_sessions_by_time ON revoked_sessions (revoked_at);
  ALTER TABLE denied_jtis ADD COLUMN denied_at INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX denied_jtis_by_denial ON denied_jtis (denied_at);
  CREATE TABLE list_sizes (list TEXT PRIMARY KEY, entries INTEGER NOT NULL);
  INSERT INTO list_sizes (list, entries) SELECT 'subjects', COUNT(*) FROM revoked_subjects;
  INSERT INTO list_sizes (list, entries) VALUES ('sessions', 0);
  INSERT INTO list_sizes (list, entries) SELECT 'jtis', COUNT(*) FROM denied_jtis;
`;

export function migrate(storage: DurableObjectStorage, jtiDeniedAt: number): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec('CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)');
    const version = sql.exec<{ version: number }>('SELECT version FROM schema_version WHERE id = 1').toArray()[0]?.version ?? 0;
    if (version >= 2) return;
    if (version < 1) sql.exec(FIRST);
    sql.exec(SECOND);
    // A jti denied before denial times were kept: as if denied now, which covers every token
    // that existed when it was denied.
    sql.exec('UPDATE denied_jtis SET denied_at = ?', jtiDeniedAt);
    sql.exec('INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, 2)');
  });
}
