// Revocation under churn (docs/revocation.md, "The bounded read"): one list taking a steady stream
// of revocations through the object's own write path, a day of them already held (at most a full
// list), while an isolate checks tokens of distinct, never-revoked subjects and sessions, issued
// up to an hour ago. Logs, per rate, the object calls per 1,000 requests and the bytes per read;
// asserts what the contract promises: at 12 a second (a million a day), at least 99% decided in
// the isolate, every read within 64 KiB, and no revocation refused at any rate.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { MAX_LIST_ENTRIES, tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import { createTenantStates, type StateIo } from '../../src/revocation/tenant-states';
import { seedList, wireBytes } from '../support/revocations';
import { unique } from '../tenants/fixtures';

const DAY = 86_400;
const PAD = 25;
/** Requests per rate; the simulated time is long enough for the object to rebuild its filters
 *  a few times at 12 a second (every 512 revocations). */
const REQUESTS = 6_000;
const TOKEN_AGE = 3_600;


/** mulberry32: the same tokens every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function churn(rate: number, seconds: number) {
  const perSecond = REQUESTS / seconds;
  let t = 1_900_000_000_000;
  const s0 = Math.floor(t / 1000);
  const id = unique('churn').id;
  const stub = tenantStateStub(env.TENANT_STATE, id);
  // A day of revocations at this rate (at most a full list), up to now.
  const history = Math.min(rate * DAY, MAX_LIST_ENTRIES);
  await seedList(stub, 'sessions', { count: history, from: s0 - Math.ceil(history / rate), to: s0 - 1, pad: PAD }, () => t);
  const states = createTenantStates({ now: () => t });
  const pending: Promise<unknown>[] = [];
  const io: StateIo = { tenantState: env.TENANT_STATE, waitUntil: (p) => { pending.push(p); } };
  const policy = { tenantId: id, versionClaim: null, tenantClaim: null, maxStalenessSeconds: 5 };
  const draw = random(rate);
  let requests = 0, refused = 0, maxBytes = 0, refusedWrites = 0;
  for (let k = 0; k < seconds; k++) {
    const second = t;
    // This second's revocations, through the object's own write path: each must be taken.
    refusedWrites += await runInDurableObject(stub, async (instance: TenantState) => {
      let failed = 0;
      for (let i = 0; i < rate; i++) {
        instance.now = () => second + Math.floor((i * 1000) / rate);
        const before = instance.check({ sid: `churn-${k}-${i}` }).sid;
        await instance.revokeSession(`churn-${k}-${i}`);
        if (before !== null || instance.check({ sid: `churn-${k}-${i}` }).sid === null) failed++;
      }
      instance.now = () => t;
      return failed;
    });
    for (let j = 0; j < perSecond; j++) {
      t = second + Math.floor((j * 1000) / perSecond);
      const now = Math.floor(t / 1000);
      const read = await states.read(id, policy.maxStalenessSeconds, io, DAY);
      if (read.ok) maxBytes = Math.max(maxBytes, wireBytes(read.snapshot));
      const token = { subject: `user-${k}-${j}`, issuedAt: now - Math.floor(draw() * TOKEN_AGE), claims: { sid: `session-${k}-${j}` } };
      const answer = await states.revocation(token, read, policy, env.TENANT_STATE);
      requests++;
      if (!answer.ok) refused++;
      await Promise.all(pending.splice(0));
    }
    t = second + 1000;
  }
  const { reads, checks } = states.counters;
  const line = {
    event: 'revocation_churn', revocationsPerSecond: rate, listEntries: history, simulatedSeconds: seconds, requests, refused, refusedWrites,
    checksPer1000: Math.round((checks * 1000 / requests) * 10) / 10, readsPer1000: Math.round((reads * 1000 / requests) * 10) / 10,
    decidedInIsolate: Math.round((1 - checks / requests) * 10_000) / 100, maxBytesPerRead: maxBytes,
  };
  console.info(JSON.stringify(line));
  return line;
}

it('clears tokens of never-revoked subjects and sessions in the isolate under steady revocation churn', async () => {
  const lines = [];
  for (const [rate, seconds] of [[1, 150], [12, 150], [100, 30], [1_000, 20]] as const) lines.push(await churn(rate, seconds));
  for (const line of lines) {
    expect(line.maxBytesPerRead).toBeLessThanOrEqual(64 * 1024);
    expect(line.refusedWrites).toBe(0);
  }
  const [one, twelve] = lines;
  for (const line of [one!, twelve!]) {
    expect(line.decidedInIsolate).toBeGreaterThanOrEqual(99);
    expect(line.refused).toBe(0);
  }
}, 900_000);
