// The DpopReplay Durable Object: the authority on which DPoP proofs were already used (RFC 9449
// §11.1, docs/dpop.md), so a proof is accepted once in every isolate and location. One object
// per (tenant, key thumbprint).
//
//   const replay = dpopReplayStub(env.DPOP_REPLAY, { tenantId: 'acme', jkt });
//   await replay.claim({ tenantId: 'acme', jkt, jti, expiresAt });   // { verdict: 'fresh' | 'replayed' | 'full', retryAfterSeconds }
//
// What is unique. A replay is the same proof sent again, so the same key and the same jti: a
// row is (tenant, jkt, jti), and a jti is accepted once per tenant and key for as long as any
// isolate could still accept the proof (expiresAt = iat + dpop.maxAgeSeconds + the clock
// tolerance; the tolerance also covers an object clock a little ahead of an isolate's). Two
// keys that happen to pick one jti are two proofs, and one client cannot use up another's jtis.
//
// Why one object per key. Every proof of a key meets that one object, so the check is exact with
// no coordination. An object lives where it was first used, and a key is one client's: its object
// is created near that client, not near whoever first used a shared shard (16 shards per tenant
// made a client in Sydney pay a round trip to Frankfurt on every request). Its row bound is that
// key's own quota: a key that fills it gets 503 alone, every other key goes on. The costs
// (docs/dpop.md "Replay detection"): each new key's first request meets a cold object; one key
// above ~1,000 requests a second is the one load this cannot spread, as before; each object with
// rows holds a small SQLite database, deleted when its last row expires. A row still names its
// tenant and key, so objects of the old mapping and of this one read the same table in a deploy.
//
// Exact under concurrency: claim() reads and writes with synchronous SQL and no await between,
// so two requests with one proof cannot both see it unused. Bounded: at most maxRows rows. Full
// (after dropping expired rows), it refuses to record, and the caller fails closed (503): a proof
// it cannot remember is a proof it could not refuse the second time. Expired rows go by an alarm
// at the oldest row's expiry (at most once every SWEEP_SECONDS), and at once when the table is
// full; once none is left the object deletes its storage (an empty SQLite database still costs
// about 12 KB a key). Tests replace `now` and `maxRows` on the instance (runInDurableObject).
import { DurableObject } from 'cloudflare:workers';
import { systemClock, type Clock } from '../base/clock';

/** Rows one key's object keeps, its quota: a key at the object's ~1,000 proofs a second with the
 *  default 330 s window needs 330,000. */
export const MAX_REPLAY_ROWS = 1_000_000;
/** Sweeps come at most this often while rows are stored. */
export const SWEEP_SECONDS = 60;
/** A row is never kept longer than the longest window the schema allows: maxAgeSeconds 3600, a
 *  future iat and the clock tolerance of up to 300 s each. A caller asking for more is capped. */
export const MAX_KEPT_SECONDS = 3600 + 300 + 300;

export interface ProofClaim {
  readonly tenantId: string;
  /** RFC 7638 thumbprint of the proof's key. */
  readonly jkt: string;
  readonly jti: string;
  /** Epoch seconds after which no isolate accepts the proof (VerifiedProof.expiresAt). */
  readonly expiresAt: number;
}

/** One shape, not a union: RPC types a union return badly. */
export interface ClaimAnswer {
  /** full: the object holds maxRows live rows and recorded nothing. */
  readonly verdict: 'fresh' | 'replayed' | 'full';
  /** full: seconds until a row expires; else 0. */
  readonly retryAfterSeconds: number;
}
const FRESH: ClaimAnswer = { verdict: 'fresh', retryAfterSeconds: 0 };
const REPLAYED: ClaimAnswer = { verdict: 'replayed', retryAfterSeconds: 0 };

/** The object for a proof key of a tenant: the one place its name is derived. Tenant ids hold no
 *  `/`, so no other (tenant, key) spells the same name. Changing it moves every key to a new object
 *  (docs/dpop.md: a proof recorded on the old one could be used once more on the new one). */
export function dpopReplayName(target: { tenantId: string; jkt: string }): string {
  return `${target.tenantId}/dpop/${target.jkt}`;
}

export function dpopReplayStub(
  namespace: DurableObjectNamespace<DpopReplay>, target: { tenantId: string; jkt: string },
): DurableObjectStub<DpopReplay> {
  return namespace.get(namespace.idFromName(dpopReplayName(target)));
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS proofs (
    tenant TEXT NOT NULL, jkt TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, jkt, jti)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS proofs_by_expiry ON proofs (expires_at);
`;

export class DpopReplay extends DurableObject {
  now: Clock = systemClock;
  maxRows = MAX_REPLAY_ROWS;
  /** Rows stored, expired ones included until a sweep: counted once, then kept in step. */
  #rows: number;
  #alarmSet: boolean | null = null;
  /** Whether the table exists: not after the storage was deleted, until the next claim. */
  #ready = false;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.#ready = this.#one<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'proofs'")?.n === 1;
    this.#rows = this.#ready ? this.#one<{ n: number }>('SELECT COUNT(*) AS n FROM proofs')?.n ?? 0 : 0;
  }

  /** Records the proof and answers fresh, or answers replayed while an earlier use still counts. */
  async claim(proof: ProofClaim): Promise<ClaimAnswer> {
    checkClaim(proof);
    const now = this.#seconds();
    // From here to the INSERT nothing awaits: no other request runs in between.
    if (!this.#ready) {
      this.ctx.storage.sql.exec(SCHEMA);
      this.#ready = true;
    }
    const held = this.#one<{ expires_at: number }>(
      'SELECT expires_at FROM proofs WHERE tenant = ? AND jkt = ? AND jti = ?', proof.tenantId, proof.jkt, proof.jti);
    if (held !== undefined && held.expires_at > now) return REPLAYED;
    if (held === undefined && this.#rows >= this.maxRows) {
      this.#sweep(now);
      if (this.#rows >= this.maxRows) {
        const soonest = this.#one<{ t: number | null }>('SELECT MIN(expires_at) AS t FROM proofs')?.t ?? now + 1;
        return { verdict: 'full', retryAfterSeconds: Math.max(1, soonest - now) };
      }
    }
    // At least a second from now (an isolate whose clock is behind may still accept the proof),
    // at most the longest window there is.
    const expiresAt = Math.min(Math.max(Math.ceil(proof.expiresAt), now + 1), now + MAX_KEPT_SECONDS);
    this.ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO proofs (tenant, jkt, jti, expires_at) VALUES (?, ?, ?, ?)',
      proof.tenantId, proof.jkt, proof.jti, expiresAt);
    if (held === undefined) this.#rows++;
    await this.#scheduleSweep();
    return FRESH;
  }

  /** Rows stored (expired ones count until swept): for tests and logs. */
  size(): number {
    return this.#rows;
  }

  override async alarm(): Promise<void> {
    this.#alarmSet = false;
    if (!this.#ready) return;
    this.#sweep(this.#seconds());
    if (this.#rows > 0) return this.#scheduleSweep();
    // Nothing left to remember: no database, no alarm, until the key's next proof. Storage calls
    // close the input gate, so no claim runs between the count above and the deletion.
    this.#ready = false;
    await this.ctx.storage.deleteAll();
  }

  #sweep(now: number): void {
    this.ctx.storage.sql.exec('DELETE FROM proofs WHERE expires_at <= ?', now);
    this.#rows -= this.#one<{ n: number }>('SELECT changes() AS n')?.n ?? 0;
  }

  /** An alarm when the oldest row expires, and no sooner than SWEEP_SECONDS from now: a key that
   *  sent one proof costs one alarm, a busy key one a minute. */
  async #scheduleSweep(): Promise<void> {
    if (this.#rows === 0) return;
    this.#alarmSet ??= (await this.ctx.storage.getAlarm()) !== null;
    if (this.#alarmSet) return;
    this.#alarmSet = true;
    const oldest = this.#one<{ t: number | null }>('SELECT MIN(expires_at) AS t FROM proofs')?.t ?? 0;
    await this.ctx.storage.setAlarm(Math.max(oldest * 1000, this.now() + SWEEP_SECONDS * 1000));
  }

  #seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  #one<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): T | undefined {
    return this.ctx.storage.sql.exec<T>(query, ...bindings).toArray()[0];
  }
}

/** The caller verified the proof; anything else here is a bug, not input. */
function checkClaim(proof: ProofClaim): void {
  const text = (value: unknown, max: number) => typeof value === 'string' && value.length > 0 && value.length <= max;
  if (!text(proof.tenantId, 63) || !text(proof.jkt, 128) || !text(proof.jti, 256) || !Number.isFinite(proof.expiresAt)) {
    throw new TypeError('DpopReplay.claim: tenantId, jkt, jti or expiresAt out of range');
  }
}
