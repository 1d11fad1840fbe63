// Exactness, as a property: for random revocations written through a real TenantState object
// (lists longer than it ships, so the horizon applies; hashes weak enough to collide), and random
// tokens, the isolate's check plus the object's answer on "maybe" equals a plain reading of the
// rules. Never a false accept, never a false refusal.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { checkRevocation, settleRevocation, type RevocationSubject } from '../../src/state/revocation';
import { hash32 } from '../../src/state/revocation-list';
import { JTI_REACH_SECONDS, tenantStateStub, type ListName, type TenantState } from '../../src/state/tenant-state';
import { compileClaimName } from '../../src/verify/claim-names';
import { unique } from '../tenants/fixtures';

const T0 = 1_900_000_000;
const VALUES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
/** Ten values over three hashes: shipped entries collide, and so do tokens with them. */
const weakHash = (value: string) => value.charCodeAt(0) % 3;

type Op = { kind: 'all' } | { kind: ListName; value: string };
interface Token { sub: string | null; sid: unknown; jti: unknown; iat: number | null; tv: unknown }

const opArb: fc.Arbitrary<{ op: Op; at: number; ms: number }> = fc.record({
  op: fc.oneof(
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'all' }) },
    { weight: 29, arbitrary: fc.record({ kind: fc.constantFrom<ListName>('subjects', 'sessions', 'jtis'), value: fc.constantFrom(...VALUES) }) },
  ),
  at: fc.integer({ min: T0, max: T0 + 20 }),
  ms: fc.integer({ min: 0, max: 999 }),
});

const tokenArb: fc.Arbitrary<Token> = fc.record({
  sub: fc.option(fc.constantFrom(...VALUES, 'zz'), { nil: null }),
  sid: fc.oneof(fc.constant(undefined), fc.constantFrom(...VALUES, 'zz'), fc.constant(7)),
  jti: fc.oneof(fc.constant(undefined), fc.constantFrom(...VALUES, 'zz'), fc.constant(['a'])),
  iat: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: T0 - 2, max: T0 + 23 }) },
    { weight: 2, arbitrary: fc.integer({ min: T0 + JTI_REACH_SECONDS - 3, max: T0 + JTI_REACH_SECONDS + 23 }) },
    { weight: 1, arbitrary: fc.double({ min: T0 - 2, max: T0 + 23, noNaN: true }) },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  tv: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 4 }), fc.constantFrom('1', '2', '3')),
});

/** The rules as the contract states them, over the full lists (a revoke-all forgets what it covers). */
function reference(token: Token, model: Model, versionClaim: boolean, shipped: number): boolean {
  const iat = token.iat === null ? null : Math.floor(token.iat);
  let current = false;
  if (versionClaim && token.tv !== undefined) {
    if (token.tv !== model.tokenVersion && token.tv !== String(model.tokenVersion)) return false;
    current = true;
  }
  if (model.revokedBefore > 0 && !current && (iat === null || iat <= model.revokedBefore)) return false;
  const covers = (at: number | undefined) => at !== undefined && (iat === null || at >= iat);
  if (token.sub !== null && covers(model.subjects.get(token.sub))) return false;
  if (typeof token.sid === 'string' && covers(model.sessions.get(token.sid))) return false;
  // A jti list short enough to ship whole is membership alone; a longer one reaches JTI_REACH_SECONDS past each denial.
  if (typeof token.jti === 'string' && model.jtis.has(token.jti) && (model.jtis.size <= shipped || covers(model.jtis.get(token.jti)))) return false;
  return true;
}

interface Model { tokenVersion: number; revokedBefore: number; subjects: Map<string, number>; sessions: Map<string, number>; jtis: Map<string, number> }

it('equals the plain rules for every token: the snapshot, and the object on "maybe"', async () => {
  const seen = { runs: 0, horizons: 0, asked: 0, clearedWithoutAsking: 0, refused: 0 };
  await fc.assert(fc.asyncProperty(
    fc.array(opArb, { minLength: 3, maxLength: 30 }), fc.array(tokenArb, { minLength: 1, maxLength: 40 }),
    fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.boolean(),
    async (ops, tokens, shipped, weak, versionClaim) => {
      const hash = weak ? weakHash : hash32;
      const stub = tenantStateStub(env.TENANT_STATE, unique('exact').id);
      const model: Model = { tokenVersion: 1, revokedBefore: 0, subjects: new Map(), sessions: new Map(), jtis: new Map() };
      await runInDurableObject(stub, async (instance: TenantState) => {
        instance.shippedPerList = shipped;
        instance.hash = hash;
        // Clocks move forward; several revocations may share a second.
        for (const { op, at, ms } of [...ops].sort((x, y) => x.at - y.at || x.ms - y.ms)) {
          instance.now = () => at * 1000 + ms;
          if (op.kind === 'all') {
            instance.revokeAll();
            model.tokenVersion++;
            model.revokedBefore = at;
            // A revoke-all forgets the entries it covers (revoked before it).
            for (const list of [model.subjects, model.sessions, model.jtis]) {
              for (const [value, time] of list) if (time < at) list.delete(value);
            }
            continue;
          }
          const time = op.kind === 'jtis' ? at + JTI_REACH_SECONDS : at;
          const list = model[op.kind];
          list.set(op.value, Math.max(list.get(op.value) ?? 0, time));
          if (op.kind === 'subjects') await instance.revokeSubject(op.value);
          else if (op.kind === 'sessions') await instance.revokeSession(op.value);
          else await instance.revokeJti(op.value, T0 + 86_400);
        }
        instance.now = () => (T0 + 25) * 1000;
        const snapshot = instance.snapshot();
        seen.runs++;
        if (snapshot.subjects.horizon + snapshot.sessions.horizon + snapshot.jtis.horizon > 0) seen.horizons++;
        const policy = { tenantId: 'acme', versionClaim: versionClaim ? compileClaimName('tv') : null, tenantClaim: null };
        for (const token of tokens) {
          const claims: Record<string, unknown> = {};
          if (token.sid !== undefined) claims.sid = token.sid;
          if (token.jti !== undefined) claims.jti = token.jti;
          if (token.tv !== undefined) claims.tv = token.tv;
          const subject: RevocationSubject = { subject: token.sub, issuedAt: token.iat, claims };
          const checked = checkRevocation(subject, snapshot, policy, hash);
          if (checked.ok === 'ask') seen.asked++;
          else if (checked.ok) seen.clearedWithoutAsking++;
          const decided = checked.ok === 'ask' ? settleRevocation(subject, snapshot, instance.check(checked.query)) : checked;
          if (!decided.ok) seen.refused++;
          expect(decided.ok, JSON.stringify({ token, shipped, weak, versionClaim, model: { ...model, subjects: [...model.subjects], sessions: [...model.sessions], jtis: [...model.jtis] } }))
            .toBe(reference(token, model, versionClaim, shipped));
        }
      });
    },
  ), { numRuns: 150 });
  // The runs reached what they were meant to: horizons, asks, and answers both ways.
  expect(seen.horizons).toBeGreaterThan(seen.runs / 4);
  expect(seen.asked).toBeGreaterThan(100);
  expect(seen.clearedWithoutAsking).toBeGreaterThan(100);
  expect(seen.refused).toBeGreaterThan(100);
  console.info(JSON.stringify({ event: 'revocation_exactness', ...seen }));
}, 120_000);
