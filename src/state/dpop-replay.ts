// The DpopReplay Durable Object: the authority on which DPoP proofs were already used (RFC 9449
// §11.1, docs/dpop.md), so a proof is accepted once in every isolate and
// location. A tenant's proofs spread over DPOP_REPLAY_SHARDS objects by their key's thumbprint.
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
// Why sharded by the key. Every proof of one key lands on one object, so the check is exact
// with no cross-object coordination; the tenant's traffic spreads over the shards by the key's
// RFC 7638 thumbprint (a SHA-256, hashed again here so any string spreads). One object handles
// about 1,000 requests a second; 16 shards carry a tenant's 10,000 DPoP requests a second with
// room for uneven keys (one client key stays on one object: a single key above ~1,000 requests a
// second is the one load this cannot spread). The tenant id is in every row anyway, so a shard
// name that collided across tenants could never mix them.
//
// Exact under concurrency: claim() reads and writes with synchronous SQL and no await between,
// so two requests with one proof cannot both see it unused. Bounded: at most maxRows rows per
// object. Full (after dropping expired rows), it refuses to record, and the caller fails closed
// (503): a proof it cannot remember is a proof it could not refuse the second time. Expired rows
// go by an alarm every SWEEP_SECONDS while any are stored, and at once when the table is full.
// Tests replace `now` and `maxRows` on the instance (runInDurableObject).
import { DurableObject } from 'cloudflare:workers';
import { systemClock, type Clock } from '../clock';
import type { Env } from '../env';

/** Objects per tenant; changing it moves keys to other objects (see the note in proof-replays.ts). */
export const DPOP_REPLAY_SHARDS = 16;
/** Rows one object keeps: a default 330 s window at 1,000 proofs a second is 330,000 rows. */
export const MAX_REPLAY_ROWS = 1_000_000;
/** How often expired rows are dropped while any are stored. */
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

/** The object for a proof key of a tenant: the one place its name is derived. */
export function dpopReplayName(target: { tenantId: string; jkt: string }): string {
  return `${target.tenantId}/dpop/${fnv1a(target.jkt) % DPOP_REPLAY_SHARDS}`;
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

export class DpopReplay extends DurableObject<Env> {
  now: Clock = systemClock;
  maxRows = MAX_REPLAY_ROWS;
  /** Rows stored, expired ones included until a sweep: counted once, then kept in step. */
  #rows: number;
  #alarmSet: boolean | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
    this.#rows = this.#one<{ n: number }>('SELECT COUNT(*) AS n FROM proofs')?.n ?? 0;
  }

  /** Records the proof and answers fresh, or answers replayed while an earlier use still counts. */
  async claim(proof: ProofClaim): Promise<ClaimAnswer> {
    checkClaim(proof);
    const now = this.#seconds();
    // From here to the INSERT nothing awaits: no other request runs in between.
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
    this.#sweep(this.#seconds());
    await this.#scheduleSweep();
  }

  #sweep(now: number): void {
    this.ctx.storage.sql.exec('DELETE FROM proofs WHERE expires_at <= ?', now);
    this.#rows -= this.#one<{ n: number }>('SELECT changes() AS n')?.n ?? 0;
  }

  async #scheduleSweep(): Promise<void> {
    if (this.#rows === 0) return;
    this.#alarmSet ??= (await this.ctx.storage.getAlarm()) !== null;
    if (this.#alarmSet) return;
    this.#alarmSet = true;
    await this.ctx.storage.setAlarm(this.now() + SWEEP_SECONDS * 1000);
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

/** 32-bit FNV-1a: a fixed, cheap spread of any string over the shards. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
