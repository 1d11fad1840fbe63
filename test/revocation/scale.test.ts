// What one snapshot read costs with the lists at their capacity: 1,000,000 revoked subjects,
// 1,000,000 revoked sessions and 1,000,000 denied jtis, written straight into a real
// TenantState's tables with times spread over the day the object keeps them. The read must stay
// within 64 KiB; its time and the object's build times are printed, not asserted (the machine
// running the tests is shared). The answers stay exact (see revocation-exact.test.ts for the
// property tests), and a full list takes one more revocation by forgetting its oldest.
// revocation-churn.test.ts measures the object calls under a steady stream of revocations.
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { checkRevocation, settleRevocation } from '../../src/revocation/rules';
import { MAX_LIST_ENTRIES, tenantStateStub, type ListName, type TenantState } from '../../src/revocation/tenant-state';
import { listValue, seedList, wireBytes } from '../support/revocations';
import { unique } from '../tenants/fixtures';

const DAY = 86_400;
/** Values 36 characters long, as a UUID is. */
const PAD = 25;
const ms = (value: number) => Math.round(value * 10) / 10;

it('reads a snapshot of at most 64 KiB in a few ms with 1,000,000 entries in each list, answers exactly, and takes one more', async () => {
  let t = 1_900_000_000_000;
  const now = () => t;
  const s = Math.floor(t / 1000);
  const stub = tenantStateStub(env.TENANT_STATE, unique('scale').id);
  const spread = { count: MAX_LIST_ENTRIES, from: s - DAY + 3_600, to: s - 60, pad: PAD };
  const seeding = Date.now();
  for (const list of ['subjects', 'sessions', 'jtis'] as ListName[]) {
    await seedList(stub, list, { ...spread, ...(list === 'jtis' ? { exp: s + DAY } : {}) }, now);
  }
  const seededMs = Date.now() - seeding;
  expect(await stub.summary()).toMatchObject({ revokedSubjects: MAX_LIST_ENTRIES, revokedSessions: MAX_LIST_ENTRIES, deniedJtis: MAX_LIST_ENTRIES });

  // Cold: the object plans its filters and reads its tails from SQL. Warm: it serves the one it built.
  const cold = performance.now();
  const snapshot = await stub.snapshot(DAY);
  const coldMs = performance.now() - cold;
  const warmTimes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await stub.snapshot(DAY);
    warmTimes.push(performance.now() - start);
  }
  // The build alone, inside a restarted object: the filters planned, the tails read.
  await evictDurableObject(stub);
  const buildMs = await runInDurableObject(stub, async (instance: TenantState) => {
    instance.now = now;
    const start = performance.now();
    await instance.snapshot();
    return performance.now() - start;
  });
  // A rebuild after a write, the filters kept: what a change costs, once for all isolates.
  const rebuildMs = await runInDurableObject(stub, async (instance: TenantState) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      instance.setStatus('active');
      const start = performance.now();
      await instance.snapshot();
      runs.push(performance.now() - start);
    }
    return Math.min(...runs);
  });

  const bytes = wireBytes(snapshot);
  expect(bytes).toBeLessThanOrEqual(64 * 1024);
  for (const list of [snapshot.subjects, snapshot.sessions, snapshot.jtis]) {
    expect(list.horizon).toBeGreaterThan(s - DAY);
    expect(list.filter).not.toBeNull();
  }

  // Exact either way: a token issued after every revocation passes without asking; one issued
  // before an old revocation of its subject is asked about, and refused.
  const policy = { tenantId: 'scale', versionClaim: null, tenantClaim: null };
  const fresh = { subject: listValue('subjects', 1, PAD), issuedAt: s, claims: { sid: listValue('sessions', MAX_LIST_ENTRIES, PAD), jti: 'never-denied' } };
  expect(checkRevocation(fresh, snapshot, policy)).toEqual({ ok: true, value: undefined });
  const old = { subject: listValue('subjects', 1, PAD), issuedAt: spread.from - 10, claims: { jti: listValue('jtis', MAX_LIST_ENTRIES, PAD) } };
  const maybe = checkRevocation(old, snapshot, policy);
  expect(maybe).toEqual({ ok: 'ask', query: { sub: old.subject, jti: old.claims.jti } });
  const checkStart = performance.now();
  const times = await stub.check(maybe.ok === 'ask' ? maybe.query : {});
  const checkMs = performance.now() - checkStart;
  expect(times).toMatchObject({ sub: spread.from, sid: null });
  expect(settleRevocation(old, snapshot, times)).toMatchObject({ ok: false, denial: { reason: 'revoked' } });

  // The common case at the cap: 1,000 requests from 1,000 distinct subjects (250 of the oldest
  // revoked, 250 of the newest, 500 never revoked), tokens issued in the last minute, after every
  // revocation: each is cleared in the isolate, so no object call.
  const subjects = [
    ...Array.from({ length: 250 }, (_, i) => listValue('subjects', i + 1, PAD)),
    ...Array.from({ length: 250 }, (_, i) => listValue('subjects', MAX_LIST_ENTRIES - i, PAD)),
    ...Array.from({ length: 500 }, (_, i) => `fresh-${i}`),
  ];
  const asked = subjects.filter((subject) => checkRevocation({ subject, issuedAt: s - 30, claims: {} }, snapshot, policy).ok !== true).length;
  expect(asked).toBe(0);

  // At the cap: a new value is taken, the oldest entry is forgotten behind the floor; a listed
  // value is no new entry.
  t += 1_000;
  const capStart = performance.now();
  expect(await stub.revokeSubject('one-more')).toMatchObject({ revokedSubjects: MAX_LIST_ENTRIES, floors: { subjects: spread.from } });
  const writeAtCapMs = performance.now() - capStart;
  expect(await stub.revokeSubject(listValue('subjects', 7, PAD))).toMatchObject({ revokedSubjects: MAX_LIST_ENTRIES });

  console.info(JSON.stringify({
    event: 'snapshot_at_scale', entriesPerList: MAX_LIST_ENTRIES, valueLength: listValue('subjects', 1, PAD).length,
    seedMs: seededMs, bytes, shipped: [snapshot.subjects, snapshot.sessions, snapshot.jtis].map((l) => ({
      tail: l.entries.length / 2, filterBytes: l.filter?.fingerprints.byteLength ?? 0, horizonAgeSeconds: s - l.horizon,
    })),
    coldReadMs: ms(coldMs), buildAfterRestartMs: ms(buildMs), rebuildAfterWriteMs: ms(rebuildMs),
    warmReadMs: { min: ms(Math.min(...warmTimes)), max: ms(Math.max(...warmTimes)) },
    checkMs: ms(checkMs), writeAtCapacityMs: ms(writeAtCapMs), objectCallsFor1000Subjects: asked,
  }));
}, 180_000);
