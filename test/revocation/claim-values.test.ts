// Revoked claim values: the fourth list of TenantState (an `email` or `phone_number` subject of a
// Shared Signals event revokes every token whose configured claim holds the value), inside
// workerd against the real object: written by an event batch with its jti, shipped in the
// snapshot, checked exactly, kept retainSeconds, forgetting at its capacity behind a floor, and
// brought to an object of the previous schema. The rules' side with several transmitters naming
// different claims, and the key's normalization, property-tested.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { compileClaimName } from '../../src/config/claim-names';
import { claimKeysOf, claimValueKey, normalizeClaimValue, type ClaimSubject } from '../../src/revocation/claim-values';
import { checkRevocation, settleRevocation, type RevocationPolicy } from '../../src/revocation/rules';
import { EMPTY_LIST, encodeTail, hash32, latestRevocation } from '../../src/revocation/revocation-list';
import { tenantStateStub, type TenantState } from '../../src/revocation/tenant-state';
import { unique } from '../tenants/fixtures';

let t: number;
const seconds = () => Math.floor(t / 1000);
beforeEach(() => { t = 1_900_000_000_000; });

async function object(name = unique('claims').id) {
  const stub = tenantStateStub(env.TENANT_STATE, name);
  await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => t; });
  return stub;
}
type Stub = Awaited<ReturnType<typeof object>>;

const subjects = (pairs: [ClaimSubject['format'], string][]): ClaimSubject[] =>
  pairs.map(([format, name]) => ({ format, claim: compileClaimName(name) }));
/** A tenant with one transmitter naming `email` for emails and one naming `/ext/upn`. */
const POLICY: RevocationPolicy = {
  tenantId: 'acme', versionClaim: null, tenantClaim: null,
  claimSubjects: subjects([['email', 'email'], ['phone_number', 'phone_number'], ['email', '/ext/upn']]),
};

let jtis = 0;
/** An event batch revoking claim values, as the event endpoints send it. */
const revokeValues = (stub: Stub, ...keys: string[]) => stub.applyEvents({
  issuer: 'https://tr.example', jti: `j-${++jtis}`, rememberUntil: seconds() + 3_600,
  effects: keys.map((value) => ({ kind: 'claim' as const, value })),
});

async function judge(stub: Stub, token: { subject: string | null; issuedAt: number | null; claims: Record<string, unknown> }, policy = POLICY) {
  const snapshot = await stub.snapshot();
  const checked = checkRevocation(token, snapshot, policy);
  return checked.ok === 'ask' ? settleRevocation(token, snapshot, await stub.check(checked.query)) : checked;
}
const passes = async (stub: Stub, claims: Record<string, unknown>, issuedAt = seconds()) => (await judge(stub, { subject: 'u', issuedAt, claims })).ok;

describe('the revoked claim values list', () => {
  it('takes an event\'s claim value with its jti, ships it, and refuses tokens holding it issued at or before', async () => {
    const state = await object();
    const key = claimValueKey('email', 'email', 'ann@example.com');
    expect(await revokeValues(state, key)).toEqual({ outcome: 'applied' });
    expect(await state.summary()).toMatchObject({ revokedClaimValues: 1, revokedSubjects: 0 });
    expect(latestRevocation((await state.snapshot()).claimValues, hash32(key))).toBe(seconds());
    expect(await state.check({ claims: [key, 'other'] })).toMatchObject({ claims: [seconds(), null] });

    // The domain is compared in lowercase, the mailbox as sent.
    expect(await passes(state, { email: 'ann@EXAMPLE.com' })).toBe(false);
    expect(await passes(state, { email: 'ann@example.com' }, seconds() + 1)).toBe(true);
    expect(await passes(state, { email: 'Ann@example.com' })).toBe(true);
    expect(await passes(state, { email: 'bob@example.com' })).toBe(true);
    // Under another claim name the same value is another entry: another transmitter's.
    expect(await passes(state, { ext: { upn: 'ann@example.com' } })).toBe(true);
    expect(await passes(state, { phone_number: 'ann@example.com' })).toBe(true);
    // A tenant that names no claim for emails checks none.
    expect(await passes(state, { email: 'ann@example.com' }, seconds() - 5)).toBe(false);
    expect((await judge(state, { subject: 'u', issuedAt: seconds() - 5, claims: { email: 'ann@example.com' } },
      { ...POLICY, claimSubjects: [] })).ok).toBe(true);
    // A replay of the event changes nothing again.
    t += 10_000;
    expect(await state.applyEvents({ issuer: 'https://tr.example', jti: `j-${jtis}`, rememberUntil: seconds() + 3_600,
      effects: [{ kind: 'claim', value: key }] })).toEqual({ outcome: 'replayed' });
    expect(await passes(state, { email: 'ann@example.com' }, seconds() - 5)).toBe(true);
  });

  it('matches each transmitter\'s claim: a value under /ext/upn refuses tokens whose ext.upn holds it, not their email', async () => {
    const state = await object();
    await revokeValues(state, claimValueKey('email', '/ext/upn', 'Ann@Example.com'), claimValueKey('phone_number', 'phone_number', '+15551234'));
    expect(await passes(state, { ext: { upn: 'Ann@example.COM' } })).toBe(false);
    expect(await passes(state, { email: 'Ann@example.com' })).toBe(true);
    expect(await passes(state, { phone_number: '+15551234' })).toBe(false);
    expect(await passes(state, { phone_number: '+1 555 1234' })).toBe(true);
    // Non-strings and values no event could revoke are never keys.
    expect(await passes(state, { phone_number: 15551234, email: ['Ann@example.com'] })).toBe(true);
  });

  it('keeps values retainSeconds plus the largest clock tolerance, then its alarm drops them', async () => {
    const state = await object();
    await revokeValues(state, claimValueKey('email', 'email', 'a@b.c'));
    t += (86_400 + 300) * 1000;
    expect(await state.summary()).toMatchObject({ revokedClaimValues: 1 });
    t += 1000;
    expect(await state.summary()).toMatchObject({ revokedClaimValues: 0 });
    expect(await runDurableObjectAlarm(state)).toBe(true);
    expect(await runInDurableObject(state, (_: TenantState, s) => s.storage.sql.exec('SELECT COUNT(*) AS n FROM revoked_claim_values').one().n)).toBe(0);
  });

  it('at its capacity forgets its oldest value behind a floor that refuses every token carrying a checked claim issued before it', async () => {
    const state = await object();
    await runInDurableObject(state, (instance: TenantState) => { instance.maxListEntries = 1; });
    const first = seconds();
    await revokeValues(state, claimValueKey('email', 'email', 'a@b.c'));
    t += 1000;
    await revokeValues(state, claimValueKey('email', 'email', 'x@y.z'));
    expect(await state.summary()).toMatchObject({ revokedClaimValues: 1, floors: { claimValues: first } });
    expect((await state.snapshot()).claimValues.floor).toBe(first);
    expect(await passes(state, { email: 'other@b.c' }, first)).toBe(false);
    expect(await passes(state, { email: 'other@b.c' }, first + 1)).toBe(true);
    // A token carrying no claim the tenant checks is not the list's business.
    expect(await passes(state, { name: 'x' }, first)).toBe(true);
  });

  it('is emptied by a revoke-all like every list, and comes to an object of schema version 5 empty', async () => {
    const state = await object();
    await revokeValues(state, claimValueKey('email', 'email', 'a@b.c'));
    t += 1000;
    expect(await state.revokeAll()).toMatchObject({ revokedClaimValues: 0 });

    const name = unique('v5').id;
    const stub = tenantStateStub(env.TENANT_STATE, name);
    await runInDurableObject(stub, (_: TenantState, s) => {
      s.storage.sql.exec(`DROP TABLE revoked_claim_values; DELETE FROM list_sizes WHERE list = 'claimValues';
        UPDATE schema_version SET version = 5;`);
    });
    await evictDurableObject(stub);
    await runInDurableObject(stub, (instance: TenantState) => { instance.now = () => t; });
    expect(await stub.summary()).toMatchObject({ revokedClaimValues: 0 });
    expect(await revokeValues(stub, claimValueKey('email', 'email', 'a@b.c'))).toEqual({ outcome: 'applied' });
    expect(await stub.summary()).toMatchObject({ revokedClaimValues: 1 });
  });

  it('answers check() about at most the claim keys a token can carry, strings only', async () => {
    const state = await object();
    const hostile = { claims: [1, { a: 1 }, 'x'.repeat(5000), ...Array.from({ length: 100 }, (_, i) => `k${i}`)] } as unknown as { claims: string[] };
    const answer = await state.check(hostile);
    expect(answer.claims).toHaveLength(64);
    expect(answer.claims!.every((at) => at === null)).toBe(true);
  });
});

describe('claim subjects in the rules', () => {
  const snapshotWith = (keys: Record<string, number>) => ({
    status: 'active' as const, tokenVersion: 1, revokedBefore: 0, subjects: EMPTY_LIST, sessions: EMPTY_LIST, jtis: EMPTY_LIST,
    asOf: 1_900_000_000, dpopNonceSecret: null,
    claimValues: { ...EMPTY_LIST, entries: encodeTail(Object.entries(keys).map(([key, at]): [number, number] => [hash32(key), at])) },
  });

  it('reads no claim while the list is empty, and asks about each configured claim the token holds when it is not', () => {
    let reads = 0;
    const counting: ClaimSubject = { format: 'email', claim: { name: 'email', read: (c) => { reads++; return c.email; } } };
    const policy = { ...POLICY, claimSubjects: [counting] };
    const token = { subject: 'u', issuedAt: 1_900_000_000 - 10, claims: { email: 'a@b.c' } };
    expect(checkRevocation(token, snapshotWith({}), policy)).toEqual({ ok: true, value: undefined });
    expect(reads).toBe(0);
    const key = claimValueKey('email', 'email', 'a@b.c');
    expect(checkRevocation(token, snapshotWith({ [key]: 1_900_000_000 }), policy)).toEqual({ ok: 'ask', query: { claims: [key] } });
    expect(settleRevocation(token, snapshotWith({}), { sub: null, sid: null, jti: null, claims: [1_900_000_000] }))
      .toMatchObject({ ok: false, denial: { reason: 'revoked' } });
    expect(settleRevocation(token, snapshotWith({}), { sub: null, sid: null, jti: null, claims: [1_900_000_000 - 11] }).ok).toBe(true);
  });

  it('a token carries one key per configured claim holding a short string', () => {
    const keys = claimKeysOf({ email: 'A@B.C', ext: { upn: 'x@Y' }, phone_number: '+1' }, POLICY.claimSubjects!);
    expect(keys).toEqual([claimValueKey('email', 'email', 'A@b.c'), claimValueKey('phone_number', 'phone_number', '+1'),
      claimValueKey('email', '/ext/upn', 'x@y')]);
    expect(claimKeysOf({ email: 'x'.repeat(257), phone_number: '' }, POLICY.claimSubjects!)).toEqual([]);
  });

  it('normalizes an email\'s domain alone, and never makes two different triples one key', () => {
    expect(normalizeClaimValue('email', 'Ann.Lee@Mail.Example.COM')).toBe('Ann.Lee@mail.example.com');
    expect(normalizeClaimValue('email', 'a@b@C')).toBe('a@b@c');
    expect(normalizeClaimValue('phone_number', '+1 (555) ABC')).toBe('+1 (555) ABC');
    const format = fc.constantFrom('email' as const, 'phone_number' as const);
    fc.assert(fc.property(format, fc.string(), fc.string(), format, fc.string(), fc.string(), (f1, c1, v1, f2, c2, v2) => {
      const same = f1 === f2 && c1 === c2 && normalizeClaimValue(f1, v1) === normalizeClaimValue(f2, v2);
      return (claimValueKey(f1, c1, v1) === claimValueKey(f2, c2, v2)) === same;
    }));
    fc.assert(fc.property(fc.string(), fc.string().filter((d) => !d.includes('@')), (local, domain) =>
      normalizeClaimValue('email', `${local}@${domain.toUpperCase()}`) === normalizeClaimValue('email', `${local}@${domain.toLowerCase()}`)
      || domain.toUpperCase().toLowerCase() !== domain.toLowerCase()));
  });
});
