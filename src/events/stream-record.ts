// What an SsfStream object keeps about the edge's stream at one transmitter (docs/events.md
// "Streams"), in its SQLite storage: who it belongs to, the transmitter's stream id, how events
// arrive (push to the tenant's host, or poll at the transmitter's endpoint), the push
// authorization secret (sealed with SECRETS_KEY), what the stream has said since (the last
// event, the last verification, the last stream-updated status), the poller's state (failures,
// the last error, what it still has to acknowledge), and management access tokens, sealed.
//
//   const store = streamStore(ctx.storage.sql);         // the tables come with the first write
//   const row = store.read();                           // StreamRow | null
//   store.write({ ...row, notes: { ...row.notes, lastEvent: { at, jti } } });
//   store.remove();

import type { Sealed } from '../secrets/sealed';
import type { StreamStatus } from './event-types';

export type Delivery = 'push' | 'poll';

/** What the poller has yet to tell the transmitter: the jtis it processed (RFC 8936 `ack`) and
 *  those it refused (`setErrs`, RFC 8935 §2.3 codes). */
export interface PendingAcks {
  readonly ack: readonly string[];
  readonly setErrs: Readonly<Record<string, { readonly err: string; readonly description: string }>>;
}

export const NO_PENDING: PendingAcks = Object.freeze({ ack: [], setErrs: {} });

/** Times are epoch seconds. */
export interface StreamNotes {
  readonly lastEvent?: { readonly at: number; readonly jti: string };
  /** The last verification asked for (its random state), and when its SET arrived. */
  readonly verification?: { readonly state: string; readonly requestedAt: number; readonly receivedAt: number | null };
  /** The last stream-updated event (SSF §8.1.5); `iat` keeps an older one from overwriting it. */
  readonly statusUpdate?: { readonly status: StreamStatus; readonly reason: string | null; readonly at: number; readonly iat: number };
  readonly poll?: PollNotes;
}

export interface PollNotes {
  /** Consecutive failed alarms (the back-off counts them). */
  readonly failures: number;
  readonly polls: number;
  readonly lastPolledAt: number | null;
  readonly lastError: { readonly at: number; readonly note: string } | null;
  readonly pending: PendingAcks;
}

export interface StreamRow {
  readonly tenant: string;
  readonly issuer: string;
  /** 'creating' while the transmitter is asked (a second create waits out or is refused); 'ready'. */
  readonly phase: 'creating' | 'ready';
  readonly streamId: string | null;
  readonly delivery: Delivery;
  /** push: the tenant's endpoint_url; poll: the transmitter's endpoint_url. */
  readonly endpoint: string | null;
  /** push: the secret of the authorization_header, sealed. */
  readonly pushSecret: Sealed | null;
  /** Epoch seconds. */
  readonly createdAt: number;
  readonly notes: StreamNotes;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS stream (
    id INTEGER PRIMARY KEY CHECK (id = 1), tenant TEXT NOT NULL, issuer TEXT NOT NULL, phase TEXT NOT NULL,
    stream_id TEXT, delivery TEXT NOT NULL, endpoint TEXT, push_secret TEXT, created_at INTEGER NOT NULL, notes TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, sealed TEXT NOT NULL, until INTEGER NOT NULL);
`;

type Row = {
  tenant: string; issuer: string; phase: 'creating' | 'ready'; stream_id: string | null; delivery: Delivery; endpoint: string | null;
  push_secret: string | null; created_at: number; notes: string;
};

export interface StreamStore {
  read(): StreamRow | null;
  write(row: StreamRow): void;
  remove(): void;
  /** Management access tokens, sealed: by key, with the time (epoch ms) they are used until. */
  token(key: string): { sealed: Sealed; until: number } | null;
  keepToken(key: string, sealed: Sealed, until: number): void;
  dropToken(key: string): void;
}

export function streamStore(sql: SqlStorage): StreamStore {
  // The tables are made by the first write and dropped with the stream: an object asked about a
  // stream it never kept (a list, a DELETE naming any issuer) keeps no storage.
  let made = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stream'").toArray().length > 0;
  const make = () => {
    if (!made) sql.exec(SCHEMA);
    made = true;
  };
  return {
    read() {
      if (!made) return null;
      const row = sql.exec<Row>('SELECT * FROM stream WHERE id = 1').toArray()[0];
      if (row === undefined) return null;
      return {
        tenant: row.tenant, issuer: row.issuer, phase: row.phase, streamId: row.stream_id, delivery: row.delivery,
        endpoint: row.endpoint, pushSecret: row.push_secret === null ? null : { sealed: row.push_secret },
        createdAt: row.created_at, notes: JSON.parse(row.notes) as StreamNotes,
      };
    },
    write(row) {
      make();
      sql.exec(
        `INSERT OR REPLACE INTO stream (id, tenant, issuer, phase, stream_id, delivery, endpoint, push_secret, created_at, notes)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        row.tenant, row.issuer, row.phase, row.streamId, row.delivery, row.endpoint, row.pushSecret?.sealed ?? null, row.createdAt,
        JSON.stringify(row.notes));
    },
    remove() {
      sql.exec('DROP TABLE IF EXISTS stream; DROP TABLE IF EXISTS tokens;');
      made = false;
    },
    token(key) {
      if (!made) return null;
      const row = sql.exec<{ sealed: string; until: number }>('SELECT sealed, until FROM tokens WHERE key = ?', key).toArray()[0];
      return row === undefined ? null : { sealed: { sealed: row.sealed }, until: row.until };
    },
    keepToken(key, sealed, until) {
      // One client's token at a time: a changed client or scope leaves the old one behind.
      make();
      sql.exec('DELETE FROM tokens');
      sql.exec('INSERT INTO tokens (key, sealed, until) VALUES (?, ?, ?)', key, sealed.sealed, until);
    },
    dropToken(key) {
      if (made) sql.exec('DELETE FROM tokens WHERE key = ?', key);
    },
  };
}
