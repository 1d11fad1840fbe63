// What one snapshot read costs with the lists at their cap: 1,000,000 revoked subjects, 1,000,000
// revoked sessions and 1,000,000 denied jtis, written straight into a real TenantState's tables
// with times spread over 30 days. The read must stay under 64 KiB; its time is printed, not
// asserted (the machine running the tests is shared). The answers stay exact (see
// revocation-exact.test.ts for the property test).
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { checkRevocation, settleRevocation } from '../../src/state/revocation';
import { SHIPPED_PER_LIST, type RevocationList } from '../../src/state/revocation-list';
import { MAX_LIST_ENTRIES, tenantStateStub, type ListName, type TenantState, type TenantStateSnapshot } from '../../src/state/tenant-state';
import { listValue, seedList } from '../support/revocations';
import { unique } from '../tenants/fixtures';

const DAY = 86_400;
/** Values 36 characters long, as a UUID is. */
const PAD = 25;

/** The bytes a read moves: each typed array's bytes, and the scalars and field names as JSON. */
function wireBytes(snapshot: TenantStateSnapshot): number {
  const lists = [snapshot.subjects, snapshot.sessions, snapshot.jtis];
  const skeleton = JSON.stringify({ ...snapshot, subjects: { entries: [], horizon: snapshot.subjects.horizon },
    sessions: { entries: [], horizon: snapshot.sessions.horizon }, jtis: { entries: [], horizon: snapshot.jtis.horizon } });
  return skeleton.length + lists.reduce((sum, list: RevocationList) => sum + list.entries.byteLength, 0);
}

it('reads a snapshot of at most 64 KiB in a few ms with 1,000,000 entries in each list, and answers exactly', async () => {
  let t = 1_900_000_000_000;
  const now = () => t;
  const s = Math.floor(t / 1000);
  const stub = tenantStateStub(env.TENANT_STATE, unique('scale').id);
  const spread = { count: MAX_LIST_ENTRIES, from: s - 30 * DAY + 3_600, to: s - 60, pad: PAD };
  const seeding = Date.now();
  for (const list of ['subjects', 'sessions', 'jtis'] as ListName[]) {
    await seedList(stub, list, { ...spread, ...(list === 'jtis' ? { exp: s + DAY } : {}) }, now);
  }
  const seededMs = Date.now() - seeding;
  expect(await stub.summary()).toMatchObject({ revokedSubjects: MAX_LIST_ENTRIES, revokedSessions: MAX_LIST_ENTRIES, deniedJtis: MAX_LIST_ENTRIES });

  // Cold: the object builds the snapshot from SQL. Warm: it serves the one it built.
  const cold = performance.now();
  const snapshot = await stub.snapshot();
  const coldMs = performance.now() - cold;
  const warmTimes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await stub.snapshot();
    warmTimes.push(performance.now() - start);
  }
  // The build alone, inside a restarted object.
  await evictDurableObject(stub);
  const buildMs = await runInDurableObject(stub, (instance: TenantState) => {
    instance.now = now;
    const start = performance.now();
    instance.snapshot();
    return performance.now() - start;
  });
  // A rebuild after a write, the pages in memory: what every change costs, once for all isolates.
  const rebuildMs = await runInDurableObject(stub, (instance: TenantState) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      instance.setStatus('active');
      const start = performance.now();
      instance.snapshot();
      runs.push(performance.now() - start);
    }
    return Math.min(...runs);
  });

  const bytes = wireBytes(snapshot);
  expect(bytes).toBeLessThanOrEqual(64 * 1024);
  for (const list of [snapshot.subjects, snapshot.sessions, snapshot.jtis]) {
    expect(list.entries.length / 2).toBeLessThanOrEqual(SHIPPED_PER_LIST);
    expect(list.entries.length / 2).toBeGreaterThan(SHIPPED_PER_LIST * 0.9);
    expect(list.horizon).toBeGreaterThan(s - 60 - DAY);
  }

  // Exact either way: a token issued after every revocation passes without asking; one issued
  // before an old revocation of its subject is asked about, and refused.
  const policy = { tenantId: 'scale', versionClaim: null, tenantClaim: null };
  const newest = SHIPPED_PER_LIST;
  const fresh = { subject: listValue('subjects', 1, PAD), issuedAt: s, claims: { sid: listValue('sessions', MAX_LIST_ENTRIES, PAD), jti: 'never-denied' } };
  expect(checkRevocation(fresh, snapshot, policy)).toEqual({ ok: true, value: undefined });
  const old = { subject: listValue('subjects', 1, PAD), issuedAt: spread.from - 10, claims: { jti: listValue('jtis', newest, PAD) } };
  const maybe = checkRevocation(old, snapshot, policy);
  expect(maybe).toEqual({ ok: 'ask', query: { sub: old.subject, jti: old.claims.jti } });
  const checkStart = performance.now();
  const times = await stub.check(maybe.ok === 'ask' ? maybe.query : {});
  const checkMs = performance.now() - checkStart;
  expect(times).toMatchObject({ sub: spread.from, sid: null });
  expect(settleRevocation(old, snapshot, times)).toMatchObject({ ok: false, denial: { reason: 'revoked' } });

  // The common case at the cap: 1,000 requests from 1,000 distinct subjects (250 of the oldest
  // revoked, never shipped; 250 of the newest, shipped; 500 never revoked), tokens issued in the
  // last minute, after every revocation: each is cleared in the isolate, so no object call.
  const subjects = [
    ...Array.from({ length: 250 }, (_, i) => listValue('subjects', i + 1, PAD)),
    ...Array.from({ length: 250 }, (_, i) => listValue('subjects', MAX_LIST_ENTRIES - i, PAD)),
    ...Array.from({ length: 500 }, (_, i) => `fresh-${i}`),
  ];
  const asked = subjects.filter((subject) => checkRevocation({ subject, issuedAt: s - 30, claims: {} }, snapshot, policy).ok !== true).length;
  expect(asked).toBe(0);

  // At the cap: a new value is refused, a listed one is not a new entry.
  t += 1_000;
  expect(await stub.revokeSubject('one-more')).toEqual({ ok: false, full: 'subjects' });
  expect(await stub.revokeSubject(listValue('subjects', 7, PAD))).toMatchObject({ ok: true });

  console.info(JSON.stringify({
    event: 'snapshot_at_scale', entriesPerList: MAX_LIST_ENTRIES, valueLength: listValue('subjects', 1, PAD).length,
    seedMs: seededMs, bytes, shippedPerList: [snapshot.subjects, snapshot.sessions, snapshot.jtis].map((l) => l.entries.length / 2),
    coldReadMs: Math.round(coldMs * 10) / 10, buildAfterRestartMs: Math.round(buildMs * 10) / 10, rebuildAfterWriteMs: rebuildMs,
    warmReadMs: { min: Math.round(Math.min(...warmTimes) * 10) / 10, max: Math.round(Math.max(...warmTimes) * 10) / 10 },
    checkMs: Math.round(checkMs * 10) / 10, horizonAgeSeconds: s - snapshot.subjects.horizon, objectCallsFor1000Subjects: asked,
  }));
}, 120_000);
