// DPoP replay detection against real DpopReplay objects in workerd: exactly one of 20 concurrent
// uses of a proof passes, a replay is refused across isolates (two createProofReplays, sharing
// the objects), rows expire by time (the object's clock, replaced through runInDurableObject),
// each key's object is bounded by its own quota and fails closed when full while every other key
// goes on, an emptied object deletes its storage, and an unreachable object fails closed.
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/base/denial';
import { MAX_KEPT_SECONDS, dpopReplayName, dpopReplayStub, type DpopReplay, type ProofClaim } from '../../src/possession/dpop-replay';
import { createProofReplays, REPLAY_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../../src/possession/proof-replays';

// Ahead of the real clock, so an alarm scheduled from this clock never fires on its own.
let t: number;
const now = () => t;
const seconds = () => Math.floor(t / 1000);
const io = { dpopReplay: env.DPOP_REPLAY };

beforeEach(() => { t = 1_900_000_000_000; });

let counter = 0;
/** A proof claim of a tenant and key no other test uses (objects persist across tests). */
function freshClaim(over: Partial<ProofClaim> = {}): ProofClaim {
  counter++;
  return {
    tenantId: `t-${crypto.randomUUID().slice(0, 8)}`, jkt: `jkt-${counter}-${crypto.randomUUID()}`, jti: `jti-${counter}`,
    expiresAt: seconds() + 330, ...over,
  };
}

/** The claim's object, reading the test's clock (and a row cap, when given). */
async function objectOf(claim: ProofClaim, options: { maxRows?: number } = {}) {
  const stub = dpopReplayStub(env.DPOP_REPLAY, claim);
  await runInDurableObject(stub, (instance: DpopReplay) => {
    instance.now = now;
    if (options.maxRows !== undefined) instance.maxRows = options.maxRows;
  });
  return stub;
}

const verdictOf = (outcome: Outcome<void>) =>
  outcome.ok ? 'ok' : outcome.denial.error === 'invalid_dpop_proof' ? outcome.denial.reason : outcome.denial.error;

describe('DpopReplay', () => {
  it('accepts a jti once, and again for another key or another tenant', async () => {
    const claim = freshClaim();
    const replay = await objectOf(claim);
    expect(await replay.claim(claim)).toEqual({ verdict: 'fresh', retryAfterSeconds: 0 });
    expect(await replay.claim(claim)).toEqual({ verdict: 'replayed', retryAfterSeconds: 0 });
    // Same object, same jti, another key or tenant: another proof.
    expect((await replay.claim({ ...claim, jkt: `${claim.jkt}-b` })).verdict).toBe('fresh');
    expect((await replay.claim({ ...claim, tenantId: `${claim.tenantId}-b` })).verdict).toBe('fresh');
  });

  it('admits exactly one of 20 concurrent claims of one proof', async () => {
    const claim = freshClaim();
    const replay = await objectOf(claim);
    const answers = await Promise.all(Array.from({ length: 20 }, () => replay.claim(claim)));
    expect(answers.filter((a) => a.verdict === 'fresh')).toHaveLength(1);
    expect(answers.filter((a) => a.verdict === 'replayed')).toHaveLength(19);
  });

  it('forgets a jti once its proof has expired, by time and by its alarm', async () => {
    const claim = freshClaim({ expiresAt: seconds() + 10 });
    const replay = await objectOf(claim);
    expect((await replay.claim(claim)).verdict).toBe('fresh');
    t += 9_999;
    expect((await replay.claim(claim)).verdict).toBe('replayed');
    t += 1;
    // Expired but not swept: the row is there, and counts for nothing.
    expect(await replay.size()).toBe(1);
    expect((await replay.claim({ ...claim, expiresAt: seconds() + 10 })).verdict).toBe('fresh');
    t += 10_000;
    expect(await runDurableObjectAlarm(replay)).toBe(true);
    expect(await replay.size()).toBe(0);
    // Nothing stored: no alarm left behind.
    expect(await runDurableObjectAlarm(replay)).toBe(false);
  });

  it('keeps a row at most the longest window there is, and at least a second', async () => {
    const claim = freshClaim({ expiresAt: seconds() + 1_000_000 });
    const replay = await objectOf(claim);
    await replay.claim(claim);
    await replay.claim({ ...claim, jti: 'already-expired', expiresAt: seconds() - 100 });
    const rows = await runInDurableObject(replay, (_: DpopReplay, state) =>
      state.storage.sql.exec<{ jti: string; expires_at: number }>('SELECT jti, expires_at FROM proofs ORDER BY jti').toArray());
    expect(rows).toEqual([
      { jti: 'already-expired', expires_at: seconds() + 1 },
      { jti: claim.jti, expires_at: seconds() + MAX_KEPT_SECONDS },
    ]);
  });

  it('refuses to record when full (fail closed), after dropping expired rows, and says for how long', async () => {
    const claim = freshClaim({ expiresAt: seconds() + 100 });
    const replay = await objectOf(claim, { maxRows: 3 });
    for (const jti of ['a', 'b']) expect((await replay.claim({ ...claim, jti, expiresAt: seconds() + 10 })).verdict).toBe('fresh');
    expect((await replay.claim({ ...claim, jti: 'c' })).verdict).toBe('fresh');
    expect(await replay.claim({ ...claim, jti: 'd' })).toEqual({ verdict: 'full', retryAfterSeconds: 10 });
    // A replay of a recorded proof is still refused as such when full.
    expect((await replay.claim({ ...claim, jti: 'c' })).verdict).toBe('replayed');
    t += 10_000;
    // a and b expired: swept at once, room again.
    expect((await replay.claim({ ...claim, jti: 'd' })).verdict).toBe('fresh');
    expect(await replay.size()).toBe(2);
  });

  it('refuses a claim a caller could not have verified (a bug, thrown)', async () => {
    const claim = freshClaim();
    const replay = await objectOf(claim);
    // Called on the instance: a throw across RPC is reported by the test pool as unhandled.
    await runInDurableObject(replay, async (instance: DpopReplay) => {
      await expect(instance.claim({ ...claim, jti: 'j'.repeat(257) })).rejects.toThrow(/out of range/);
      await expect(instance.claim({ ...claim, jti: '' })).rejects.toThrow(/out of range/);
      await expect(instance.claim({ ...claim, expiresAt: Number.NaN })).rejects.toThrow(/out of range/);
    });
    expect(await replay.size()).toBe(0);
  });

  it('gives every key of a tenant its own object, and keeps a key on one', () => {
    const names = new Set<string>();
    for (let i = 0; i < 400; i++) names.add(dpopReplayName({ tenantId: 'acme', jkt: crypto.randomUUID() }));
    expect(names.size).toBe(400);
    expect(dpopReplayName({ tenantId: 'acme', jkt: 'k' })).toBe(dpopReplayName({ tenantId: 'acme', jkt: 'k' }));
    expect(dpopReplayName({ tenantId: 'globex', jkt: 'k' })).not.toBe(dpopReplayName({ tenantId: 'acme', jkt: 'k' }));
    // Tenant ids hold no "/": no tenant and key can spell another pair's name.
    expect(dpopReplayName({ tenantId: 'a', jkt: 'b/c' })).not.toBe(dpopReplayName({ tenantId: 'a-b', jkt: 'c' }));
  });

  it('one key that fills its quota is refused alone: 200 other keys of the tenant are untouched', async () => {
    const attacker = freshClaim();
    await objectOf(attacker, { maxRows: 3 });
    const isolate = createProofReplays({ now });
    for (const jti of ['a', 'b', 'c']) expect(verdictOf(await isolate.claim({ ...attacker, jti }, io))).toBe('ok');
    expect(verdictOf(await isolate.claim({ ...attacker, jti: 'd' }, io))).toBe('revocation_unavailable');
    // One after another: 200 objects created at once can outlast the 2 s deadline on a busy machine.
    const verdicts: string[] = [];
    for (let i = 0; i < 200; i++) verdicts.push(verdictOf(await isolate.claim({ ...attacker, jkt: `other-${i}-${crypto.randomUUID()}` }, io)));
    expect(verdicts.filter((v) => v !== 'ok')).toEqual([]);
  });

  it('sweeps when its oldest row expires (at most once a minute), and deletes its storage once empty', async () => {
    const claim = freshClaim({ expiresAt: seconds() + 330 });
    const replay = await objectOf(claim);
    expect((await replay.claim(claim)).verdict).toBe('fresh');
    const alarmAt = () => runInDurableObject(replay, (_: DpopReplay, state) => state.storage.getAlarm());
    expect(await alarmAt()).toBe((seconds() + 330) * 1000);
    t += 330_000;
    expect(await runDurableObjectAlarm(replay)).toBe(true);
    expect(await replay.size()).toBe(0);
    // Nothing left: no table, no alarm (an empty object costs no storage).
    const tables = () => runInDurableObject(replay, (_: DpopReplay, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'").toArray());
    expect(await tables()).toEqual([]);
    expect(await alarmAt()).toBeNull();
    // And it records again, exactly, with a sweep no sooner than a minute away.
    expect((await replay.claim({ ...claim, expiresAt: seconds() + 10 })).verdict).toBe('fresh');
    expect((await replay.claim({ ...claim, expiresAt: seconds() + 10 })).verdict).toBe('replayed');
    expect(await alarmAt()).toBe((seconds() + 60) * 1000);
  });

  it('an object of the old mapping (16 shards a tenant) still answers exactly, and deletes itself once its rows expire', async () => {
    const tenantId = `t-${crypto.randomUUID().slice(0, 8)}`;
    const shard = env.DPOP_REPLAY.get(env.DPOP_REPLAY.idFromName(`${tenantId}/dpop/7`));
    await runInDurableObject(shard, (instance: DpopReplay) => { instance.now = now; });
    const claims = ['k1', 'k2', 'k3'].map((jkt) => ({ tenantId, jkt, jti: 'same-jti', expiresAt: seconds() + 30 }));
    for (const claim of claims) expect((await shard.claim(claim)).verdict).toBe('fresh');
    for (const claim of claims) expect((await shard.claim(claim)).verdict).toBe('replayed');
    t += 60_000;
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.size()).toBe(0);
    expect(await runInDurableObject(shard, (_: DpopReplay, state) => state.storage.getAlarm())).toBeNull();
  });

  it('measures a cold object\'s first claim against a warm one (one call each; times logged only)', async () => {
    const n = 50;
    const claims = Array.from({ length: n }, () => freshClaim());
    const isolate = createProofReplays({ now });
    const coldStart = performance.now();
    for (const claim of claims) expect(verdictOf(await isolate.claim(claim, io))).toBe('ok');
    const coldMs = performance.now() - coldStart;
    const coldCalls = isolate.counters.objectCalls;
    const warmStart = performance.now();
    for (const claim of claims) expect(verdictOf(await isolate.claim({ ...claim, jti: `${claim.jti}-2` }, io))).toBe('ok');
    const warmMs = performance.now() - warmStart;
    expect([coldCalls, isolate.counters.objectCalls - coldCalls]).toEqual([n, n]);
    console.info(JSON.stringify({
      event: 'dpop_replay_cold_vs_warm', claims: n, callsPerClaim: { cold: coldCalls / n, warm: (isolate.counters.objectCalls - coldCalls) / n },
      meanMs: { cold: Math.round((coldMs / n) * 100) / 100, warm: Math.round((warmMs / n) * 100) / 100 },
    }));
  });

  it('measures what a key\'s rows cost in storage (bytes logged only)', async () => {
    // A realistic row: a 43-character thumbprint and a 36-character jti (a UUID, as most clients send).
    const claim = freshClaim({ jkt: 'x'.repeat(43) + crypto.randomUUID().slice(0, 4) });
    const replay = await objectOf(claim);
    const size = () => runInDurableObject(replay, (_: DpopReplay, state) => state.storage.sql.databaseSize);
    expect((await replay.claim({ ...claim, jti: crypto.randomUUID() })).verdict).toBe('fresh');
    const one = await size();
    const rows = 5_000;
    await runInDurableObject(replay, async (instance: DpopReplay) => {
      for (let i = 1; i < rows; i++) expect((await instance.claim({ ...claim, jti: crypto.randomUUID() })).verdict).toBe('fresh');
    });
    const many = await size();
    expect(await replay.size()).toBe(rows);
    t += 400_000;
    await runDurableObjectAlarm(replay);
    const emptied = await size();
    console.info(JSON.stringify({ event: 'dpop_replay_storage', bytesWithOneRow: one, bytesPerRow: Math.round((many - one) / (rows - 1)), bytesAfterDeleteAll: emptied }));
    expect(await replay.size()).toBe(0);
  });
});

describe('createProofReplays', () => {
  it('passes a fresh proof, refuses its replay, and refuses further replays in the same isolate without a call', async () => {
    const claim = freshClaim();
    await objectOf(claim);
    const isolate = createProofReplays({ now });
    expect(verdictOf(await isolate.claim(claim, io))).toBe('ok');
    expect(verdictOf(await isolate.claim(claim, io))).toBe('dpop_replayed');
    expect(verdictOf(await isolate.claim(claim, io))).toBe('dpop_replayed');
    expect(isolate.counters).toEqual({ local: 1, objectCalls: 2, replayed: 2, unavailable: 0 });
  });

  it('refuses a replay in another isolate: the object decides', async () => {
    const claim = freshClaim();
    await objectOf(claim);
    const first = createProofReplays({ now });
    const second = createProofReplays({ now });
    expect(verdictOf(await first.claim(claim, io))).toBe('ok');
    expect(verdictOf(await second.claim(claim, io))).toBe('dpop_replayed');
    expect(second.counters).toMatchObject({ local: 0, objectCalls: 1, replayed: 1 });
  });

  it('passes exactly one of 20 concurrent requests with one proof, across two isolates', async () => {
    const claim = freshClaim();
    await objectOf(claim);
    const isolates = [createProofReplays({ now }), createProofReplays({ now })];
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => isolates[i % 2]!.claim(claim, io)));
    expect(outcomes.map(verdictOf).filter((v) => v === 'ok')).toHaveLength(1);
    expect(outcomes.map(verdictOf).filter((v) => v === 'dpop_replayed')).toHaveLength(19);
  });

  it('forgets a proof in memory once it expired, and asks the object again', async () => {
    const claim = freshClaim({ expiresAt: seconds() + 10 });
    await objectOf(claim);
    const isolate = createProofReplays({ now });
    expect(verdictOf(await isolate.claim(claim, io))).toBe('ok');
    t += 10_000;
    // Expired everywhere: the verifier would have refused it as stale before asking; the
    // object records the new use, and a second one is a replay again.
    expect(verdictOf(await isolate.claim({ ...claim, expiresAt: seconds() + 10 }, io))).toBe('ok');
    expect(verdictOf(await isolate.claim({ ...claim, expiresAt: seconds() + 10 }, io))).toBe('dpop_replayed');
    expect(isolate.counters.objectCalls).toBe(3);
  });

  it('fails closed with 503 revocation_unavailable when the object cannot be reached or answers late', async () => {
    const claim = freshClaim();
    const broken = {
      idFromName: (name: string) => env.DPOP_REPLAY.idFromName(name),
      get: () => ({ claim: () => Promise.reject(new Error('network connection lost')) }),
    } as unknown as DurableObjectNamespace<DpopReplay>;
    const isolate = createProofReplays({ now });
    const outcome = await isolate.claim(claim, { dpopReplay: broken });
    expect(outcome).toMatchObject({ ok: false, denial: { error: 'revocation_unavailable', retryAfterSeconds: REPLAY_UNAVAILABLE_RETRY_AFTER_SECONDS } });
    expect(!outcome.ok && 'note' in outcome.denial && outcome.denial.note).toMatch(/^DPoP replay check: Error: network connection lost/);

    const hung = { ...broken, get: () => ({ claim: () => new Promise(() => {}) }) } as unknown as DurableObjectNamespace<DpopReplay>;
    const slow = createProofReplays({ now, objectDeadlineMs: 20 });
    expect(await slow.claim(claim, { dpopReplay: hung })).toMatchObject({ ok: false, denial: { error: 'revocation_unavailable' } });
    expect(slow.counters.unavailable).toBe(1);
    // Nothing was remembered: the real object still takes the proof once.
    await objectOf(claim);
    expect(verdictOf(await isolate.claim(claim, io))).toBe('ok');
  });

  it('fails closed when the object is full', async () => {
    const claim = freshClaim();
    await objectOf(claim, { maxRows: 1 });
    const isolate = createProofReplays({ now });
    expect(verdictOf(await isolate.claim(claim, io))).toBe('ok');
    const outcome = await isolate.claim({ ...claim, jti: 'another' }, io);
    expect(outcome).toMatchObject({ ok: false, denial: { error: 'revocation_unavailable', retryAfterSeconds: 330, note: 'DPoP replay check: object full' } });
  });
});
