// Exact rate limits with leased permits, against real RateLimiter objects: the bound under
// concurrency and across isolates, the sliding window, leases and their expiry, Retry-After,
// persistence across eviction, and what leasing saves.
//
// Each `isolate()` is a fresh createRateLimits (a separate isolate's leases) bound to the real
// RATE_LIMITER namespace through a wrapper that counts object calls; the key's object gets the
// test clock through `useClock`. Time moves by assignment.
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/base/clock';
import { rateLimiterName, rateLimiterStub, type LimitPolicy, type RateLimiter } from '../../src/limits/rate-limiter';
import { LEASE_MS, createRateLimits, leaseMsFor, type LimitDecision, type LimitRequest } from '../../src/limits/rate-limits';

/** A request for a key no other test uses (objects persist across tests). */
function freshTarget(policy: LimitPolicy, limit: number, windowSeconds: number): LimitRequest {
  return { tenantId: `t-${crypto.randomUUID().slice(0, 8)}`, policy, key: policy === 'ip' ? '192.0.2.7' : 'user-1', limit, windowSeconds };
}

const objectOf = (target: LimitRequest) => rateLimiterStub(env.RATE_LIMITER, target);

async function useClock(target: LimitRequest, now: Clock): Promise<void> {
  await runInDurableObject(objectOf(target), (instance: RateLimiter) => { instance.now = now; });
}

function isolate(now: Clock) {
  let objectCalls = 0;
  const rateLimiter = {
    idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
    get: (id: DurableObjectId) => {
      objectCalls++;
      return env.RATE_LIMITER.get(id);
    },
  } as unknown as DurableObjectNamespace<RateLimiter>;
  const limits = createRateLimits({ now });
  return {
    admit: (request: LimitRequest) => limits.admit(request, { rateLimiter }),
    limits,
    get objectCalls() { return objectCalls; },
  };
}

async function setUp(policy: LimitPolicy, limit: number, windowSeconds: number) {
  const clock = { t: Date.now() };
  const now = () => clock.t;
  const target = freshTarget(policy, limit, windowSeconds);
  await useClock(target, now);
  return { clock, now, target };
}

const admittedOf = (decisions: LimitDecision[]) => decisions.filter((d) => d.admitted).length;

describe('rate limits: the bound under concurrency', () => {
  for (const policy of ['ip', 'sub'] as const) {
    it(`admits exactly 5 of 50 concurrent requests in one isolate (${policy})`, async () => {
      const { now, target } = await setUp(policy, 5, 60);
      const edge = isolate(now);
      const decisions = await Promise.all(Array.from({ length: 50 }, () => edge.admit(target)));
      expect(admittedOf(decisions)).toBe(5);
      expect(decisions.every((d) => d.policy === policy && !d.unavailable)).toBe(true);
      for (const refused of decisions.filter((d) => !d.admitted)) {
        expect(refused.retryAfterSeconds).toBe(60);
        expect(refused.remaining).toBe(0);
      }
    });

    it(`admits exactly 5 of 50 concurrent requests split across 3 isolates (${policy})`, async () => {
      const { now, target } = await setUp(policy, 5, 60);
      const edges = [isolate(now), isolate(now), isolate(now)];
      const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => edges[i % 3]!.admit(target)));
      expect(admittedOf(decisions)).toBe(5);
    });
  }

  it('admits exactly the limit when leases are in play (limit 200, 600 concurrent across 3 isolates)', async () => {
    const { now, target } = await setUp('sub', 200, 60);
    const edges = [isolate(now), isolate(now), isolate(now)];
    const admitted: number[] = [];
    for (let round = 0; round < 6; round++) {
      const decisions = await Promise.all(Array.from({ length: 100 }, (_, i) => edges[i % 3]!.admit(target)));
      admitted.push(admittedOf(decisions));
    }
    expect(admitted.reduce((a, b) => a + b)).toBe(200);
  });

  it('keeps one object per (tenant, policy, key)', async () => {
    const { now, target } = await setUp('ip', 1, 60);
    const other = { ...target, key: '192.0.2.8' };
    const sub = { ...target, policy: 'sub' as const };
    await useClock(other, now);
    await useClock(sub, now);
    const edge = isolate(now);
    expect((await edge.admit(target)).admitted).toBe(true);
    expect((await edge.admit(target)).admitted).toBe(false);
    expect((await edge.admit(other)).admitted).toBe(true);
    expect((await edge.admit(sub)).admitted).toBe(true);
    expect(rateLimiterName(target)).toBe(`${target.tenantId}/ip/192.0.2.7`);
  });
});

describe('rate limits: the sliding window', () => {
  it('frees a single-permit grant exactly one window after it, with Retry-After and reset counting down', async () => {
    const { clock, now, target } = await setUp('ip', 5, 60);
    const edge = isolate(now);
    const t0 = clock.t;
    const first = await edge.admit(target);
    expect(first).toEqual({
      policy: 'ip', limit: 5, windowSeconds: 60, admitted: true, remaining: 4, resetSeconds: 60,
      retryAfterSeconds: 0, unavailable: false,
    });
    clock.t = t0 + 10_000;
    for (let i = 0; i < 4; i++) expect((await edge.admit(target)).admitted).toBe(true);

    clock.t = t0 + 20_000;
    const refused = await edge.admit(target);
    expect(refused).toMatchObject({ admitted: false, remaining: 0, retryAfterSeconds: 40, resetSeconds: 40 });
    const calls = edge.objectCalls;
    clock.t = t0 + 59_500;
    expect(await edge.admit(target)).toMatchObject({ admitted: false, retryAfterSeconds: 1 });
    expect(edge.objectCalls).toBe(calls); // the refusal is remembered until the reset

    clock.t = t0 + 60_000; // the first permit frees; the four at t0 + 10 s do not yet
    expect(await edge.admit(target)).toMatchObject({ admitted: true, remaining: 0, resetSeconds: 10 });
    const again = await edge.admit(target);
    expect(again).toMatchObject({ admitted: false, retryAfterSeconds: 10 });
    clock.t = t0 + 70_000;
    expect(admittedOf(await Promise.all(Array.from({ length: 10 }, () => edge.admit(target))))).toBe(4);
  });

  it('counts leased permits one lease lifetime longer (window + ε)', async () => {
    const { clock, target } = await setUp('sub', 16, 60);
    const object = objectOf(target);
    const g = clock.t;
    const request = { limit: 16, windowSeconds: 60, leaseMs: 1000 };
    // 2 permits: the caller's own (frees at g + w) and one leased (frees at g + ε + w).
    expect(await object.acquire({ ...request, want: 2 })).toMatchObject({ granted: 2, remaining: 14, atMs: g });
    for (let i = 0; i < 14; i++) expect((await object.acquire({ ...request, want: 1 })).granted).toBe(1);
    expect(await object.acquire({ ...request, want: 1 })).toEqual({ granted: 0, remaining: 0, resetMs: g + 60_000, atMs: g });

    clock.t = g + 60_000;
    let granted = 0;
    for (let i = 0; i < 20; i++) granted += (await object.acquire({ ...request, want: 1 })).granted;
    expect(granted).toBe(15);
    expect((await object.acquire({ ...request, want: 1 })).resetMs).toBe(g + 61_000);
    clock.t = g + 60_999;
    expect((await object.acquire({ ...request, want: 1 })).granted).toBe(0);
    clock.t = g + 61_000;
    expect((await object.acquire({ ...request, want: 1 })).granted).toBe(1);
  });

  it('never admits more than the limit in any window over a long random schedule across 3 isolates', async () => {
    for (const [limit, windowSeconds, meanStepMs] of [[10, 10, 200], [200, 10, 40]] as const) {
      const { clock, now, target } = await setUp('sub', limit, windowSeconds);
      const edges = [isolate(now), isolate(now), isolate(now)];
      const admittedAt: number[] = [];
      const start = clock.t;
      let seed = limit;
      const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
      while (clock.t < start + 6 * windowSeconds * 1000) {
        clock.t += Math.floor(random() * 2 * meanStepMs);
        const burst = Array.from({ length: Math.floor(random() * 7) }, () => edges[Math.floor(random() * 3)]!.admit(target));
        for (const decision of await Promise.all(burst)) if (decision.admitted) admittedAt.push(clock.t);
      }
      const w = windowSeconds * 1000;
      let worst = 0;
      for (let i = 0; i < admittedAt.length; i++) {
        let j = i;
        while (j < admittedAt.length && admittedAt[j]! < admittedAt[i]! + w) j++;
        worst = Math.max(worst, j - i);
      }
      expect(worst).toBeLessThanOrEqual(limit);
      // Demand far above the limit: the limit is used, not starved by stranded leases.
      expect(worst).toBeGreaterThanOrEqual(Math.floor(limit * 0.8));
      expect(admittedAt.length).toBeGreaterThanOrEqual(Math.floor(limit * 0.8) * 5);
      const local = edges.reduce((sum, e) => sum + e.limits.counters.local, 0);
      const calls = edges.reduce((sum, e) => sum + e.objectCalls, 0);
      console.log(JSON.stringify({ event: 'rate_limit_schedule', limit, windowSeconds, admitted: admittedAt.length, worst, local, objectCalls: calls }));
    }
  });
});

describe('rate limits: leases', () => {
  it('serves most requests of a hot key from the isolate', async () => {
    const { clock, now, target } = await setUp('sub', 100_000, 60);
    const edge = isolate(now);
    for (let i = 0; i < 1000; i++) {
      expect((await edge.admit(target)).admitted).toBe(true);
      clock.t += 1; // 1000 requests a second
    }
    expect(edge.objectCalls).toBeLessThan(30);
    expect(edge.limits.counters.local).toBe(1000 - edge.objectCalls);
  });

  it('does not use an expired lease', async () => {
    const { clock, now, target } = await setUp('sub', 100_000, 60);
    const edge = isolate(now);
    for (let i = 0; i < 16; i++) await edge.admit(target); // demand grows: the last calls lease permits
    const calls = edge.objectCalls;
    await edge.admit(target);
    expect(edge.objectCalls).toBe(calls); // served from the lease
    clock.t += leaseMsFor(60);
    await edge.admit(target);
    expect(edge.objectCalls).toBe(calls + 1);
    expect(leaseMsFor(60)).toBe(LEASE_MS);
    expect(leaseMsFor(5)).toBe(500);
  });

  it('keeps the log across eviction: a restarted object still refuses', async () => {
    const { clock, now, target } = await setUp('ip', 3, 60);
    const edge = isolate(now);
    expect(admittedOf(await Promise.all(Array.from({ length: 5 }, () => edge.admit(target))))).toBe(3);
    await evictDurableObject(objectOf(target));
    await useClock(target, now);
    const cold = isolate(now);
    clock.t += 30_000;
    expect(await cold.admit(target)).toMatchObject({ admitted: false, retryAfterSeconds: 30 });
  });

  it('measures admit served locally vs through the object (logs only)', async () => {
    const { now, target } = await setUp('sub', 1_000_000, 60);
    const hot = isolate(now);
    const n = 20_000;
    await hot.admit(target);
    const localStart = Date.now();
    const localPerf = performance.now();
    for (let i = 0; i < n; i++) await hot.admit(target);
    const local = { ms: Date.now() - localStart, perfMs: performance.now() - localPerf, calls: hot.objectCalls };

    // Limit 15: every grant is one permit, so every admit asks the object; 100 keys, none refuses.
    const m = 1000;
    const targets = Array.from({ length: 100 }, () => freshTarget('sub', 15, 60));
    for (const t of targets) await useClock(t, now);
    const cold = isolate(now);
    const objectStart = Date.now();
    const objectPerf = performance.now();
    for (let i = 0; i < m; i++) await cold.admit(targets[i % targets.length]!);
    const viaObject = { ms: Date.now() - objectStart, perfMs: performance.now() - objectPerf, calls: cold.objectCalls };
    console.log(JSON.stringify({
      event: 'rate_limit_cost',
      local: { iterations: n, objectCalls: local.calls, meanUs: (local.ms * 1000) / n, meanUsPerf: (local.perfMs * 1000) / n },
      object: { iterations: m, objectCalls: viaObject.calls, meanUs: (viaObject.ms * 1000) / m, meanUsPerf: (viaObject.perfMs * 1000) / m },
    }));
    expect(local.calls).toBeLessThan(n / 100);
    expect(viaObject.calls).toBe(m);
  }, 30_000);
});
