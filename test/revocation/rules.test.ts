// checkRevocation and settleRevocation: each rule of docs/revocation.md, for
// tokens issued before, during and after the second of a revocation, the version exception, the
// tenant claim, and the compact lists' tail, filter, horizon and forgetting marks; and when an
// exact answer still holds. The object's part is played by a map here (tenant-state.test.ts and
// revocation-exact.test.ts use the real one).
import { compileClaimName } from '../../src/config/claim-names';
import { describe, expect, it } from 'vitest';
import { buildFuseFilter } from '../../src/revocation/binary-fuse';
import { checkRevocation, settleRevocation, type RevocationPolicy, type RevocationSubject } from '../../src/revocation/rules';
import {
  answerStillHolds, EMPTY_LIST, encodeTail, hash32, latestRevocation, type RevocationList,
} from '../../src/revocation/revocation-list';
import type { RevocationQuery, TenantStateSnapshot } from '../../src/revocation/tenant-state';

const NOW = 1_900_000_000;
const clean: TenantStateSnapshot = {
  status: 'active', tokenVersion: 1, revokedBefore: 0, subjects: EMPTY_LIST, sessions: EMPTY_LIST, jtis: EMPTY_LIST, claimValues: EMPTY_LIST,
  asOf: NOW, dpopNonceSecret: null,
};
const none: RevocationPolicy = { tenantId: 'acme', versionClaim: null, tenantClaim: null };
const token = (over: { subject?: string | null; issuedAt?: number | null; claims?: Record<string, unknown> } = {}): RevocationSubject =>
  ({ subject: 'user-1', issuedAt: NOW, claims: {}, ...over });

type ListName = 'subjects' | 'sessions' | 'jtis';
type Lists = Partial<Record<ListName, Record<string, number>>>;

/** How a list is shipped: entries revoked at or after tailFrom in the tail, those from horizon
 *  to tailFrom in the filter, older ones left out; and its marks. */
interface Shape { tailFrom?: number; horizon?: number; floor?: number; agedThrough?: number }

/** One list (value -> time) shipped in `shape`, as the object ships it (compact-lists.ts). */
function listOf(entries: Record<string, number> = {}, shape: Shape = {}, hash: (value: string) => number = hash32): RevocationList {
  const rows = Object.entries(entries).map(([value, at]): [number, number] => [hash(value) >>> 0, at]);
  const { tailFrom = 0, horizon = 0 } = shape;
  const older = rows.filter(([, at]) => at < tailFrom && at >= horizon);
  return {
    entries: encodeTail(rows.filter(([, at]) => at >= tailFrom)),
    filter: older.length === 0 ? null : {
      ...buildFuseFilter(Uint32Array.from(older.map(([hash]) => hash))), through: Math.max(...older.map(([, at]) => at)),
    },
    horizon, floor: shape.floor ?? 0, agedThrough: shape.agedThrough ?? 0,
  };
}

/** A state with lists (value -> time), shipped as `shapes` say (default: whole, in the tail), and the object's answers. */
function stateWith(lists: Lists, scalars: Partial<TenantStateSnapshot> = {}, shapes: Partial<Record<ListName, Shape>> = {},
  hash: (value: string) => number = hash32) {
  const snapshot: TenantStateSnapshot = {
    ...clean, ...scalars, subjects: listOf(lists.subjects, shapes.subjects, hash),
    sessions: listOf(lists.sessions, shapes.sessions, hash), jtis: listOf(lists.jtis, shapes.jtis, hash),
  };
  let asked = 0;
  const timeOf = (entries: Record<string, number> | undefined, value: string | undefined) =>
    value !== undefined && entries !== undefined && Object.hasOwn(entries, value) ? entries[value]! : null;
  const check = (query: RevocationQuery) => {
    asked++;
    return { sub: timeOf(lists.subjects, query.sub), sid: timeOf(lists.sessions, query.sid), jti: timeOf(lists.jtis, query.jti), asOf: NOW };
  };
  return { snapshot, check, get asked() { return asked; } };
}

/** The isolate's check, then the object's answer when it asks. */
function judge(subject: RevocationSubject, state: ReturnType<typeof stateWith> | TenantStateSnapshot, policy = none,
  hash: (value: string) => number = hash32) {
  const { snapshot, check } = 'snapshot' in state ? state : { snapshot: state, check: () => { throw new Error('asked a state without lists'); } };
  const checked = checkRevocation(subject, snapshot, policy, hash);
  return checked.ok === 'ask' ? settleRevocation(subject, snapshot, check(checked.query)) : checked;
}

const reasonOf = (outcome: ReturnType<typeof judge>) =>
  outcome.ok ? 'ok' : outcome.denial.error === 'invalid_token' ? outcome.denial.reason : outcome.denial.error;

describe('checkRevocation', () => {
  it('passes any token against a clean state, without asking', () => {
    expect(checkRevocation(token(), clean, none)).toEqual({ ok: true, value: undefined });
    expect(checkRevocation(token({ subject: null, issuedAt: null }), clean, none).ok).toBe(true);
    expect(checkRevocation(token({ issuedAt: null, claims: { sid: 's', jti: 'j' } }), clean, none).ok).toBe(true);
  });

  it('revokes tokens issued at or before revokedBefore (the same second included), and without iat once it is set', () => {
    const state = { ...clean, revokedBefore: NOW };
    expect(reasonOf(judge(token({ issuedAt: NOW - 1 }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: NOW }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: NOW + 0.9 }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: null }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: NOW + 1 }), state))).toBe('ok');
    expect(reasonOf(judge(token({ issuedAt: NOW + 10 }), state))).toBe('ok');
  });

  it('judges a token carrying versionClaim equal to tokenVersion by the version, not by revokedBefore', () => {
    const state = { ...clean, tokenVersion: 2, revokedBefore: NOW };
    const policy = { ...none, versionClaim: compileClaimName('tv') };
    // A first-party issuer mints right after a revoke-all, in the same second.
    expect(reasonOf(judge(token({ issuedAt: NOW, claims: { tv: 2 } }), state, policy))).toBe('ok');
    expect(reasonOf(judge(token({ issuedAt: NOW, claims: { tv: '2' } }), state, policy))).toBe('ok');
    expect(reasonOf(judge(token({ issuedAt: null, claims: { tv: 2 } }), state, policy))).toBe('ok');
    expect(reasonOf(judge(token({ issuedAt: NOW, claims: { tv: 1 } }), state, policy))).toBe('revoked');
    // Without the claim (or without versionClaim configured), revokedBefore rules.
    expect(reasonOf(judge(token({ issuedAt: NOW }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: NOW, claims: { tv: 2 } }), state, none))).toBe('revoked');
  });

  it('does not let the version exception lift a subject, session or jti revocation', () => {
    const state = stateWith({ subjects: { 'user-1': NOW }, sessions: { 's-1': NOW }, jtis: { 'j-1': NOW + 300 } }, { tokenVersion: 2, revokedBefore: NOW });
    const policy = { ...none, versionClaim: compileClaimName('tv') };
    expect(reasonOf(judge(token({ issuedAt: NOW, claims: { tv: 2 } }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ subject: 'u2', issuedAt: NOW, claims: { tv: 2, sid: 's-1' } }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ subject: 'u2', issuedAt: NOW, claims: { tv: 2, jti: 'j-1' } }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ subject: 'u2', issuedAt: NOW, claims: { tv: 2, sid: 's-2', jti: 'j-2' } }), state, policy))).toBe('ok');
  });

  for (const [list, place] of [['subjects', (v: string) => ({ subject: v })], ['sessions', (v: string) => ({ subject: 'other', claims: { sid: v } })]] as const) {
    it(`revokes a ${list.slice(0, -1)}'s tokens issued at or before its revocation only (the same second included)`, () => {
      const state = stateWith({ [list]: { 'v-1': NOW } });
      expect(reasonOf(judge(token({ ...place('v-1'), issuedAt: NOW - 1 }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('v-1'), issuedAt: NOW }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('v-1'), issuedAt: null }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('v-1'), issuedAt: NOW + 1 }), state))).toBe('ok');
      expect(reasonOf(judge(token({ ...place('v-2'), issuedAt: NOW - 1 }), state))).toBe('ok');
      // A value matched by neither hash nor horizon never asks the object.
      expect(state.asked).toBe(3);
    });
  }

  it('ignores a token without sub, or with a sid or jti that is not a string, rather than failing', () => {
    const state = stateWith({ subjects: { 'user-1': NOW }, sessions: { '1': NOW }, jtis: { '1': NOW } });
    expect(reasonOf(judge(token({ subject: null, issuedAt: NOW - 1 }), state))).toBe('ok');
    expect(reasonOf(judge(token({ subject: 'u', claims: { sid: 1, jti: 1 } }), state))).toBe('ok');
    expect(reasonOf(judge(token({ subject: 'u', claims: { sid: ['1'], jti: { a: 1 } } }), state))).toBe('ok');
  });

  it('ignores values named like Object.prototype members unless revoked', () => {
    const state = stateWith({ subjects: { 'user-1': NOW } });
    expect(reasonOf(judge(token({ subject: 'constructor', issuedAt: null }), state))).toBe('ok');
    expect(reasonOf(judge(token({ subject: 'toString' }), state))).toBe('ok');
    expect(reasonOf(judge(token({ claims: { jti: 'constructor', sid: '__proto__' } }), stateWith({ subjects: {} })))).toBe('ok');
    expect(reasonOf(judge(token({ subject: '__proto__', issuedAt: NOW - 1 }), stateWith({ subjects: { ['__proto__']: NOW } })))).toBe('revoked');
  });

  it('revokes a denied jti whenever it was issued, while the whole list ships', () => {
    const state = stateWith({ jtis: { 'j-1': NOW + 300 } });
    expect(reasonOf(judge(token({ claims: { jti: 'j-1' } }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: NOW + 1_000, claims: { jti: 'j-1' } }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: null, claims: { jti: 'j-1' } }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ claims: { jti: 'j-2' } }), state))).toBe('ok');
    expect(reasonOf(judge(token({ claims: { jti: 1 } }), state))).toBe('ok');
  });

  it('revokes a token whose version claim differs from tokenVersion, and ignores one without it', () => {
    const state = { ...clean, tokenVersion: 3 };
    const policy = { ...none, versionClaim: compileClaimName('tv') };
    expect(reasonOf(judge(token({ claims: { tv: 3 } }), state, policy))).toBe('ok');
    expect(reasonOf(judge(token({ claims: { tv: '3' } }), state, policy))).toBe('ok');
    expect(reasonOf(judge(token({ claims: { tv: 2 } }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ claims: { tv: '03' } }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ claims: { tv: null } }), state, policy))).toBe('revoked');
    expect(reasonOf(judge(token({ claims: {} }), state, policy))).toBe('ok');
    // Without a configured versionClaim the claim means nothing.
    expect(reasonOf(judge(token({ claims: { tv: 2 } }), state, none))).toBe('ok');
  });

  it('requires the tenant claim to name the tenant when configured (absent is wrong_tenant)', () => {
    const policy = { ...none, tenantClaim: compileClaimName('tid') };
    expect(reasonOf(judge(token({ claims: { tid: 'acme' } }), clean, policy))).toBe('ok');
    expect(reasonOf(judge(token({ claims: { tid: 'other' } }), clean, policy))).toBe('wrong_tenant');
    expect(reasonOf(judge(token({ claims: {} }), clean, policy))).toBe('wrong_tenant');
    expect(reasonOf(judge(token({ claims: { tid: ['acme'] } }), clean, policy))).toBe('wrong_tenant');
    expect(reasonOf(judge(token({ claims: {} }), clean, { ...policy, tenantClaim: compileClaimName('constructor') }))).toBe('wrong_tenant');
    expect(reasonOf(judge(token({ claims: { tid: 'other' } }), clean, none))).toBe('ok');
    // Checked before anything else: a revoked token of another tenant is wrong_tenant.
    expect(reasonOf(judge(token({ claims: { tid: 'other' } }), { ...clean, revokedBefore: NOW }, policy))).toBe('wrong_tenant');
  });

  it('gives notes that never hold a claim value', () => {
    const secretish = 'value-that-must-not-be-logged';
    const state = stateWith({ subjects: { [secretish]: NOW }, sessions: { [secretish]: NOW }, jtis: { [secretish]: NOW } }, { tokenVersion: 2 });
    const outcomes = [
      judge(token({ claims: { tid: secretish } }), state, { ...none, tenantClaim: compileClaimName('tid') }),
      judge(token({ subject: secretish }), state),
      judge(token({ claims: { sid: secretish } }), state),
      judge(token({ claims: { jti: secretish } }), state),
      judge(token({ claims: { tv: secretish } }), state, { ...none, versionClaim: compileClaimName('tv') }),
    ];
    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(false);
      expect(JSON.stringify(outcome)).not.toContain(secretish);
    }
  });
});

describe('the compact lists', () => {
  it('keep one tail pair per hash, with the newest time among the values that share it, sorted by hash', () => {
    // a and b share hash 1; c has 2.
    const list = { ...EMPTY_LIST, entries: encodeTail([[1, 40], [2, 30], [1, 50]]) };
    expect(list.entries).toEqual(new Uint32Array([1, 50, 2, 30]));
    expect(latestRevocation(list, 1)).toBe(50);
    expect(latestRevocation(list, 2)).toBe(30);
    expect(latestRevocation(list, 3)).toBe(-1);
  });

  it('clear a token issued at or after the horizon that matches no shipped entry, and ask about the rest', () => {
    // Entries 1..6 revoked at seconds 101..106; 104..106 in the tail, nothing older shipped.
    const subjects = Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`u-${i}`, 100 + i]));
    const state = stateWith({ subjects }, {}, { subjects: { tailFrom: 104, horizon: 104 } });
    const ask = (sub: string, issuedAt: number | null) => checkRevocation(token({ subject: sub, issuedAt }), state.snapshot, none).ok;
    expect(ask('u-9', 104)).toBe(true);      // at the horizon, in no shipped entry: clear, exactly
    expect(ask('u-2', 104)).toBe(true);      // revoked at 102 < 104: cannot matter
    expect(ask('u-5', 106)).toBe(true);      // shipped, revoked before the token
    expect(ask('u-5', 105)).toBe('ask');     // shipped, revoked in the token's second
    expect(ask('u-9', 103)).toBe('ask');     // before the horizon: an entry not shipped may be it
    expect(ask('u-9', null)).toBe('ask');
    expect(reasonOf(judge(token({ subject: 'u-9', issuedAt: 103 }), state))).toBe('ok');
    expect(reasonOf(judge(token({ subject: 'u-2', issuedAt: 102 }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ subject: 'u-2', issuedAt: 103 }), state))).toBe('ok');
  });

  it('look a value up in the filter only for a token issued at or before its newest entry, and ask on its "maybe"', () => {
    // 101..103 in the filter (through 103), 104..106 in the tail, 100 left out (horizon 101).
    const subjects = Object.fromEntries([0, 1, 2, 3, 4, 5, 6].map((i) => [`u-${i}`, 100 + i]));
    const state = stateWith({ subjects }, {}, { subjects: { tailFrom: 104, horizon: 101 } });
    expect(state.snapshot.subjects.filter?.through).toBe(103);
    const ask = (sub: string, issuedAt: number | null) => checkRevocation(token({ subject: sub, issuedAt }), state.snapshot, none).ok;
    expect(ask('u-2', 102)).toBe('ask');     // in the filter, revoked in the token's second
    expect(ask('u-2', 101)).toBe('ask');
    expect(ask('u-2', 104)).toBe(true);      // issued after everything the filter holds
    expect(ask('u-2', null)).toBe('ask');
    expect(ask('u-0', 100)).toBe('ask');     // before the horizon
    expect(reasonOf(judge(token({ subject: 'u-2', issuedAt: 102 }), state))).toBe('revoked');
    expect(reasonOf(judge(token({ subject: 'u-3', issuedAt: 101 }), state))).toBe('revoked');
    // A value the filter does not hold is cleared, but for its false positives (about 1 in 256), which the object clears.
    let asked = 0;
    for (let i = 0; i < 2_000; i++) {
      const fresh = token({ subject: `fresh-${i}`, issuedAt: 102 });
      if (checkRevocation(fresh, state.snapshot, none).ok === 'ask') asked++;
      expect(reasonOf(judge(fresh, state))).toBe('ok');
    }
    expect(asked).toBeLessThan(30);
  });

  it('never refuse on a hash collision: the object answers', () => {
    const collide = () => 7;
    for (const shape of [{}, { tailFrom: NOW + 1 }]) {
      const state = stateWith({ subjects: { alice: NOW } }, {}, { subjects: shape }, collide);
      const bob = token({ subject: 'bob', issuedAt: NOW - 5 });
      expect(checkRevocation(bob, state.snapshot, none, collide).ok).toBe('ask');
      expect(judge(bob, state, none, collide).ok).toBe(true);
      expect(judge(token({ subject: 'alice', issuedAt: NOW - 5 }), state, none, collide).ok).toBe(false);
    }
  });

  it('check a long jti list as "denied at or after iat", and a whole one by membership', () => {
    const jtis = Object.fromEntries([1, 2, 3, 4].map((i) => [`j-${i}`, 100 + i]));
    const long = stateWith({ jtis }, {}, { jtis: { tailFrom: 103, horizon: 103 } });
    expect(reasonOf(judge(token({ issuedAt: 101, claims: { jti: 'j-1' } }), long))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: 102, claims: { jti: 'j-1' } }), long))).toBe('ok');
    expect(reasonOf(judge(token({ issuedAt: 104, claims: { jti: 'j-4' } }), long))).toBe('revoked');
    expect(reasonOf(judge(token({ issuedAt: 105, claims: { jti: 'j-4' } }), long))).toBe('ok');
    for (const shape of [{}, { tailFrom: 103 }]) {
      const whole = stateWith({ jtis }, {}, { jtis: shape });
      expect(reasonOf(judge(token({ issuedAt: 500, claims: { jti: 'j-1' } }), whole))).toBe('revoked');
      expect(reasonOf(judge(token({ issuedAt: 500, claims: { jti: 'j-4' } }), whole))).toBe('revoked');
    }
    // A list that forgot entries at its capacity is not whole any more.
    const forgot = stateWith({ jtis }, {}, { jtis: { floor: 100 } });
    expect(reasonOf(judge(token({ issuedAt: 500, claims: { jti: 'j-1' } }), forgot))).toBe('ok');
  });
});

describe('the forgetting marks', () => {
  for (const [list, field, place] of [
    ['subjects', 'sub', (v: string) => ({ subject: v })],
    ['sessions', 'sid', (v: string) => ({ subject: 'u', claims: { sid: v } })],
    ['jtis', 'jti', (v: string) => ({ subject: 'u', claims: { jti: v } })],
  ] as const) {
    it(`refuse every token carrying a ${field} issued at or before the ${list} floor, or without iat, as revoked, without asking`, () => {
      const state = stateWith({ [list]: { kept: NOW + 10 } }, {}, { [list]: { floor: NOW } });
      expect(reasonOf(judge(token({ ...place('forgotten'), issuedAt: NOW - 100 }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('forgotten'), issuedAt: NOW }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('forgotten'), issuedAt: NOW + 0.5 }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('forgotten'), issuedAt: null }), state))).toBe('revoked');
      expect(reasonOf(judge(token({ ...place('never'), issuedAt: NOW + 1 }), state))).toBe('ok');
      expect(reasonOf(judge(token({ ...place('kept'), issuedAt: NOW + 1 }), state))).toBe('revoked');
      expect(state.asked).toBe(1);
      if (list !== 'subjects') {
        // A token without that claim cannot have been matched by the list.
        expect(reasonOf(judge(token({ subject: 'u', issuedAt: NOW - 100 }), state))).toBe('ok');
      }
      const refused = judge(token({ ...place('forgotten'), issuedAt: NOW }), state);
      expect(!refused.ok && refused.denial).toMatchObject({ error: 'invalid_token', reason: 'revoked', note: expect.stringMatching(/forgetting floor/) });
    });
  }

  it('refuse a token carrying a value, issued at or before what age took from its list, as too_old; not one without iat', () => {
    const state = stateWith({}, {}, { sessions: { agedThrough: NOW } });
    expect(reasonOf(judge(token({ claims: { sid: 's' }, issuedAt: NOW }), state))).toBe('too_old');
    expect(reasonOf(judge(token({ claims: { sid: 's' }, issuedAt: NOW + 1 }), state))).toBe('ok');
    expect(reasonOf(judge(token({ claims: { sid: 's' }, issuedAt: null }), state))).toBe('ok');
    expect(reasonOf(judge(token({ issuedAt: NOW - 10 }), state))).toBe('ok');
  });
});

describe('answerStillHolds', () => {
  const answer = { at: null, asOf: 200 };
  const list = (lists: Record<string, number>, shape: Shape = {}) => listOf(lists, shape);

  it('holds against an older copy, and against a newer one that ships everything since and shows nothing new for the value', () => {
    expect(answerStillHolds(list({ v: 300 }), 199, 'v', answer)).toBe(true);
    expect(answerStillHolds(list({ other: 250 }), 260, 'v', answer)).toBe(true);
    expect(answerStillHolds(list({ v: 150 }), 260, 'v', answer)).toBe(true);
    // Everything the filter holds was revoked before the answer: the object knew it.
    expect(answerStillHolds(list({ v: 150, w: 199 }, { tailFrom: 200 }), 260, 'v', answer)).toBe(true);
  });

  it('does not hold once the value may have been revoked since, or the copy no longer ships everything since', () => {
    expect(answerStillHolds(list({ v: 200 }), 260, 'v', answer)).toBe(false);
    expect(answerStillHolds(list({ v: 250 }), 260, 'v', answer)).toBe(false);
    // The filter holds entries revoked since the answer, and may hold the value among them.
    expect(answerStillHolds(list({ v: 200, w: 250 }, { tailFrom: 255 }), 260, 'v', answer)).toBe(false);
    expect(answerStillHolds(list({ w: 250 }, { tailFrom: 250, horizon: 201 }), 260, 'v', answer)).toBe(false);
    expect(answerStillHolds(list({ w: 250 }, { tailFrom: 250, horizon: 200 }), 260, 'v', answer)).toBe(true);
  });
});
