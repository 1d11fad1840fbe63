// Exactness, as a property: for random revocations written through a real TenantState object
// (lists longer than its tails hold, so filters and the horizon apply; lists past a small
// capacity, so they forget behind their floors; hashes weak enough to collide), and random
// tokens, the isolate's check plus the object's answer on "maybe" equals a plain reading of the
// rules. Never a false accept, never a false refusal. And the same for an isolate deciding tokens
// between revocations, reusing the exact answers it was given for as long as it judges they hold.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { checkRevocation, settleRevocation, type RevocationSubject } from '../../src/revocation/rules';
import { hash32 } from '../../src/revocation/revocation-list';
import { JTI_REACH_SECONDS, tenantStateStub, type ListName, type TenantState } from '../../src/revocation/tenant-state';
import { createTenantStates, type StateIo } from '../../src/revocation/tenant-states';
import { compileClaimName } from '../../src/config/claim-names';
import { claimValueKey } from '../../src/revocation/claim-values';
import { unique } from '../tenants/fixtures';

const T0 = 1_900_000_000;
const VALUES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
/** Ten values over three hashes: shipped entries collide, and so do tokens with them. */
const weakHash = (value: string) => value.charCodeAt(0) % 3;

type Op = { kind: 'all' } | { kind: ListName; value: string };
interface Token { sub: string | null; sid: unknown; jti: unknown; email: unknown; iat: number | null; tv: unknown }

/** A claim value as an event revokes it (the domain cased one way) and as a token carries it (another). */
const revokedEmail = (value: string) => claimValueKey('email', 'email', `${value}@Example.TEST`);
const tokenEmail = (value: string) => `${value}@example.test`;
const CLAIM_SUBJECTS = [{ format: 'email' as const, claim: compileClaimName('email') }];

const opArb: fc.Arbitrary<{ op: Op; at: number; ms: number }> = fc.record({
  op: fc.oneof(
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'all' }) },
    { weight: 29, arbitrary: fc.record({ kind: fc.constantFrom<ListName>('subjects', 'sessions', 'jtis', 'claimValues'), value: fc.constantFrom(...VALUES) }) },
  ),
  at: fc.integer({ min: T0, max: T0 + 20 }),
  ms: fc.integer({ min: 0, max: 999 }),
});

const tokenArb: fc.Arbitrary<Token> = fc.record({
  sub: fc.option(fc.constantFrom(...VALUES, 'zz'), { nil: null }),
  sid: fc.oneof(fc.constant(undefined), fc.constantFrom(...VALUES, 'zz'), fc.constant(7)),
  jti: fc.oneof(fc.constant(undefined), fc.constantFrom(...VALUES, 'zz'), fc.constant(['a'])),
  email: fc.oneof(fc.constant(undefined), fc.constantFrom(...VALUES, 'zz'), fc.constant(3)),
  iat: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: T0 - 2, max: T0 + 23 }) },
    { weight: 2, arbitrary: fc.integer({ min: T0 + JTI_REACH_SECONDS - 3, max: T0 + JTI_REACH_SECONDS + 23 }) },
    { weight: 1, arbitrary: fc.double({ min: T0 - 2, max: T0 + 23, noNaN: true }) },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  tv: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 4 }), fc.constantFrom('1', '2', '3')),
});

/** The rules as the contract states them, over the full lists (a revoke-all forgets what it
 *  covers; a list at its capacity forgets its oldest, behind its floor). `jtisWhole`: the jti
 *  list ships whole, so it matches by value alone. */
function reference(token: Token, model: Model, versionClaim: boolean, jtisWhole: boolean): boolean {
  const iat = token.iat === null ? null : Math.floor(token.iat);
  let current = false;
  if (versionClaim && token.tv !== undefined) {
    if (token.tv !== model.tokenVersion && token.tv !== String(model.tokenVersion)) return false;
    current = true;
  }
  if (model.revokedBefore > 0 && !current && (iat === null || iat <= model.revokedBefore)) return false;
  const covers = (at: number | undefined) => at !== undefined && (iat === null || at >= iat);
  const forgotten = (list: ListName) => model.floors[list] > 0 && (iat === null || iat <= model.floors[list]);
  if (token.sub !== null && (forgotten('subjects') || covers(model.subjects.get(token.sub)?.at))) return false;
  if (typeof token.sid === 'string' && (forgotten('sessions') || covers(model.sessions.get(token.sid)?.at))) return false;
  // A jti list shipped whole is membership alone; a longer one reaches JTI_REACH_SECONDS past each denial.
  if (typeof token.jti === 'string' && forgotten('jtis')) return false;
  if (typeof token.jti === 'string' && model.jtis.has(token.jti) && (jtisWhole || covers(model.jtis.get(token.jti)?.at))) return false;
  if (typeof token.email === 'string' && (forgotten('claimValues') || covers(model.claimValues.get(token.email)?.at))) return false;
  return true;
}

/** An entry of the model: its time, and when it was inserted (the object's rowid order). */
interface Entry { at: number; seq: number }
interface Model {
  tokenVersion: number; revokedBefore: number; seq: number;
  subjects: Map<string, Entry>; sessions: Map<string, Entry>; jtis: Map<string, Entry>; claimValues: Map<string, Entry>;
  floors: Record<ListName, number>;
}

/** A revocation into the model list, as the contract says: a later time wins; a new value past
 *  the capacity forgets the oldest (ties as the object's time index orders them: hash, then
 *  insertion) and the floor rises to its time. */
function write(model: Model, list: ListName, value: string, time: number, capacity: number, hash: (value: string) => number): void {
  const entries = model[list];
  const entry = entries.get(value);
  if (entry !== undefined) {
    entry.at = Math.max(entry.at, time);
    return;
  }
  if (entries.size >= capacity) {
    // The object orders by the hash of what it stores: a claim value's key.
    const stored = (value: string) => hash(list === 'claimValues' ? revokedEmail(value) : value) >>> 0;
    const [victim] = [...entries].sort(([va, a], [vb, b]) => a.at - b.at || stored(va) - stored(vb) || a.seq - b.seq)[0]!;
    model.floors[list] = Math.max(model.floors[list], entries.get(victim)!.at);
    entries.delete(victim);
  }
  entries.set(value, { at: time, seq: ++model.seq });
}

/** A model as a failing run prints it. */
const modelView = (model: Model) => ({
  ...model, subjects: [...model.subjects], sessions: [...model.sessions], jtis: [...model.jtis], claimValues: [...model.claimValues],
});

let events = 0;
/** A claim value revoked as a Shared Signals event revokes it: the only way into that list. */
const revokeValue = (state: Pick<TenantState, 'applyEvents'>, value: string, now: number) => state.applyEvents({
  issuer: 'https://tr.example', jti: `e-${++events}`, rememberUntil: now + 3_600, effects: [{ kind: 'claim', value: revokedEmail(value) }],
});

/** The snapshot's room: tails of 1 to 3 entries; filters of none, a few entries, or all. */
const budgetArb = fc.record({
  tailEntries: fc.integer({ min: 1, max: 3 }),
  filterBytes: fc.constantFrom(0, 12, 16, 40, 200, 100_000),
});

it('equals the plain rules for every token: the snapshot, and the object on "maybe"', async () => {
  const seen = { runs: 0, horizons: 0, filters: 0, floors: 0, asked: 0, clearedWithoutAsking: 0, refused: 0 };
  await fc.assert(fc.asyncProperty(
    fc.array(opArb, { minLength: 3, maxLength: 30 }), fc.array(tokenArb, { minLength: 1, maxLength: 40 }),
    budgetArb, fc.constantFrom(2, 3, 1_000_000), fc.boolean(), fc.boolean(),
    async (ops, tokens, budget, capacity, weak, versionClaim) => {
      const hash = weak ? weakHash : hash32;
      const stub = tenantStateStub(env.TENANT_STATE, unique('exact').id);
      const model: Model = {
        tokenVersion: 1, revokedBefore: 0, seq: 0, subjects: new Map(), sessions: new Map(), jtis: new Map(), claimValues: new Map(),
        floors: { subjects: 0, sessions: 0, jtis: 0, claimValues: 0 },
      };
      await runInDurableObject(stub, async (instance: TenantState) => {
        instance.snapshotBudget = budget;
        instance.maxListEntries = capacity;
        instance.hash = hash;
        // Clocks move forward; several revocations may share a second.
        for (const { op, at, ms } of [...ops].sort((x, y) => x.at - y.at || x.ms - y.ms)) {
          instance.now = () => at * 1000 + ms;
          if (op.kind === 'all') {
            instance.revokeAll();
            model.tokenVersion++;
            model.revokedBefore = at;
            // A revoke-all forgets the entries it covers (revoked before it).
            for (const list of [model.subjects, model.sessions, model.jtis, model.claimValues]) {
              for (const [value, entry] of list) if (entry.at < at) list.delete(value);
            }
            continue;
          }
          write(model, op.kind, op.value, op.kind === 'jtis' ? at + JTI_REACH_SECONDS : at, capacity, hash);
          if (op.kind === 'subjects') await instance.revokeSubject(op.value);
          else if (op.kind === 'sessions') await instance.revokeSession(op.value);
          else if (op.kind === 'claimValues') await revokeValue(instance, op.value, at);
          else await instance.revokeJti(op.value, T0 + 86_400);
          // Reads between writes, as isolates make them: the filters are planned as the tails grow.
          if (ms % 3 === 0) await instance.snapshot();
        }
        instance.now = () => (T0 + 25) * 1000;
        const snapshot = await instance.snapshot();
        const lists = [snapshot.subjects, snapshot.sessions, snapshot.jtis, snapshot.claimValues];
        seen.runs++;
        if (lists.some((list) => list.horizon > 0)) seen.horizons++;
        if (lists.some((list) => list.filter !== null)) seen.filters++;
        if (lists.some((list) => list.floor > 0)) seen.floors++;
        expect(lists.map((list) => list.floor)).toEqual([model.floors.subjects, model.floors.sessions, model.floors.jtis, model.floors.claimValues]);
        const jtisWhole = snapshot.jtis.horizon === 0 && snapshot.jtis.floor === 0;
        const policy = { tenantId: 'acme', versionClaim: versionClaim ? compileClaimName('tv') : null, tenantClaim: null, claimSubjects: CLAIM_SUBJECTS };
        for (const token of tokens) {
          const claims: Record<string, unknown> = {};
          if (token.sid !== undefined) claims.sid = token.sid;
          if (token.jti !== undefined) claims.jti = token.jti;
          if (token.tv !== undefined) claims.tv = token.tv;
          if (token.email !== undefined) claims.email = typeof token.email === 'string' ? tokenEmail(token.email) : token.email;
          const subject: RevocationSubject = { subject: token.sub, issuedAt: token.iat, claims };
          const checked = checkRevocation(subject, snapshot, policy, hash);
          if (checked.ok === 'ask') seen.asked++;
          else if (checked.ok) seen.clearedWithoutAsking++;
          const decided = checked.ok === 'ask' ? settleRevocation(subject, snapshot, instance.check(checked.query)) : checked;
          if (!decided.ok) seen.refused++;
          expect(decided.ok, JSON.stringify({ token, budget, capacity, weak, versionClaim, model: modelView(model) }))
            .toBe(reference(token, model, versionClaim, jtisWhole));
        }
      });
    },
  ), { numRuns: 150 });
  // The runs reached what they were meant to: horizons, filters, floors, asks, and answers both ways.
  expect(seen.horizons).toBeGreaterThan(seen.runs / 5);
  expect(seen.filters).toBeGreaterThan(seen.runs / 5);
  expect(seen.floors).toBeGreaterThan(seen.runs / 6);
  expect(seen.asked).toBeGreaterThan(100);
  expect(seen.clearedWithoutAsking).toBeGreaterThan(100);
  expect(seen.refused).toBeGreaterThan(100);
  console.info(JSON.stringify({ event: 'revocation_exactness', ...seen }));
}, 120_000);

type Step = { kind: 'revoke'; op: Op } | { kind: 'request'; token: Token; age: number | null };
const stepArb: fc.Arbitrary<{ step: Step; seconds: number; ms: number }> = fc.record({
  step: fc.oneof(
    { weight: 1, arbitrary: opArb.map(({ op }): Step => ({ kind: 'revoke', op })) },
    { weight: 6, arbitrary: fc.record({ token: tokenArb, age: fc.option(fc.integer({ min: -1, max: 25 }), { nil: null, freq: 8 }) })
      .map(({ token, age }): Step => ({ kind: 'request', token, age })) },
  ),
  seconds: fc.constantFrom(0, 0, 1, 2),
  ms: fc.integer({ min: 0, max: 400 }),
});

it('equals the plain rules for tokens decided between revocations, reusing exact answers only while they hold', async () => {
  const seen = { runs: 0, requests: 0, checks: 0, reused: 0 };
  await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 20, maxLength: 80 }), budgetArb, fc.constantFrom(2, 3, 1_000_000),
    async (steps, budget, capacity) => {
      let t = T0 * 1000;
      const id = unique('reuse').id;
      const stub = tenantStateStub(env.TENANT_STATE, id);
      await runInDurableObject(stub, (instance: TenantState) => {
        instance.now = () => t;
        instance.snapshotBudget = budget;
        instance.maxListEntries = capacity;
      });
      // maxStalenessSeconds 0: every request reads the state, so the plain rules apply as of now.
      const states = createTenantStates({ now: () => t });
      const io: StateIo = { tenantState: env.TENANT_STATE, waitUntil: () => {} };
      const policy = { tenantId: id, versionClaim: null, tenantClaim: null, maxStalenessSeconds: 0, claimSubjects: CLAIM_SUBJECTS };
      const model: Model = {
        tokenVersion: 1, revokedBefore: 0, seq: 0, subjects: new Map(), sessions: new Map(), jtis: new Map(), claimValues: new Map(),
        floors: { subjects: 0, sessions: 0, jtis: 0, claimValues: 0 },
      };
      for (const { step, seconds, ms } of steps) {
        // Clocks move forward, often within the same second.
        t += seconds * 1000 + ms;
        const now = Math.floor(t / 1000);
        if (step.kind === 'revoke') {
          const { op } = step;
          if (op.kind === 'all') {
            await stub.revokeAll();
            model.revokedBefore = now;
            for (const list of [model.subjects, model.sessions, model.jtis, model.claimValues]) {
              for (const [value, entry] of list) if (entry.at < now) list.delete(value);
            }
            continue;
          }
          write(model, op.kind, op.value, op.kind === 'jtis' ? now + JTI_REACH_SECONDS : now, capacity, hash32);
          if (op.kind === 'subjects') await stub.revokeSubject(op.value);
          else if (op.kind === 'sessions') await stub.revokeSession(op.value);
          else if (op.kind === 'claimValues') await revokeValue(stub, op.value, now);
          else await stub.revokeJti(op.value, now + 86_400);
          continue;
        }
        const { token, age } = step;
        const claims: Record<string, unknown> = {};
        if (token.sid !== undefined) claims.sid = token.sid;
        if (token.jti !== undefined) claims.jti = token.jti;
        if (token.email !== undefined) claims.email = typeof token.email === 'string' ? tokenEmail(token.email) : token.email;
        const subject: RevocationSubject = { subject: token.sub, issuedAt: age === null ? null : now - age, claims };
        const read = await states.read(id, 0, io);
        if (!read.ok) throw new Error(read.note);
        const before = states.counters.checks;
        const decided = await states.revocation(subject, read, policy, env.TENANT_STATE);
        seen.requests++;
        if (states.counters.checks > before) seen.checks++;
        else if (checkRevocation(subject, read.snapshot, policy).ok === 'ask') seen.reused++;
        const jtisWhole = read.snapshot.jtis.horizon === 0 && read.snapshot.jtis.floor === 0;
        expect(decided.ok, JSON.stringify({ step, now, budget, capacity, model: modelView(model) }))
          .toBe(reference({ ...token, iat: subject.issuedAt, tv: undefined }, model, false, jtisWhole));
      }
      seen.runs++;
    }), { numRuns: 100 });
  // Answers were asked for, and reused where they held.
  expect(seen.checks).toBeGreaterThan(100);
  expect(seen.reused).toBeGreaterThan(10);
  console.info(JSON.stringify({ event: 'revocation_answer_reuse', ...seen }));
}, 180_000);
