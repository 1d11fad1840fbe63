// checkRevocation: each rule of SPEC.md "Tenant status and revocation", for tokens issued
// before and after, and the tenant claim.
import { describe, expect, it } from 'vitest';
import { checkRevocation } from '../../src/state/revocation';
import type { TenantStateSnapshot } from '../../src/state/tenant-state';

const NOW = 1_900_000_000;
const clean: TenantStateSnapshot = { status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: {}, deniedJtis: {} };
const none = { tenantId: 'acme', versionClaim: null, tenantClaim: null };
const token = (over: { subject?: string | null; issuedAt?: number | null; claims?: Record<string, unknown> } = {}) =>
  ({ subject: 'user-1', issuedAt: NOW, claims: {}, ...over });
const reasonOf = (outcome: ReturnType<typeof checkRevocation>) =>
  outcome.ok ? 'ok' : outcome.denial.error === 'invalid_token' ? outcome.denial.reason : outcome.denial.error;

describe('checkRevocation', () => {
  it('passes any token against a clean state', () => {
    expect(checkRevocation(token(), clean, none)).toEqual({ ok: true, value: undefined });
    expect(checkRevocation(token({ subject: null, issuedAt: null }), clean, none).ok).toBe(true);
  });

  it('revokes tokens issued before revokedBefore, and without iat once it is set', () => {
    const state = { ...clean, revokedBefore: NOW };
    expect(reasonOf(checkRevocation(token({ issuedAt: NOW - 1 }), state, none))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ issuedAt: null }), state, none))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ issuedAt: NOW }), state, none))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ issuedAt: NOW + 10 }), state, none))).toBe('ok');
  });

  it('revokes a subject\'s tokens issued before its revocation only', () => {
    const state = { ...clean, revokedSubjects: { 'user-1': NOW } };
    expect(reasonOf(checkRevocation(token({ issuedAt: NOW - 1 }), state, none))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ issuedAt: null }), state, none))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ issuedAt: NOW }), state, none))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ subject: 'user-2', issuedAt: NOW - 1 }), state, none))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ subject: null, issuedAt: NOW - 1 }), state, none))).toBe('ok');
  });

  it('ignores subjects named like Object.prototype members unless revoked', () => {
    expect(reasonOf(checkRevocation(token({ subject: 'constructor', issuedAt: null }), clean, none))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ subject: 'toString' }), clean, none))).toBe('ok');
  });

  it('revokes a denied jti whenever it was issued', () => {
    const state = { ...clean, deniedJtis: { 'j-1': NOW + 600 } };
    expect(reasonOf(checkRevocation(token({ claims: { jti: 'j-1' } }), state, none))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ issuedAt: NOW + 100, claims: { jti: 'j-1' } }), state, none))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ claims: { jti: 'j-2' } }), state, none))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ claims: { jti: 'constructor' } }), state, none))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ claims: { jti: 1 } }), state, none))).toBe('ok');
  });

  it('revokes a token whose version claim differs from tokenVersion, and ignores one without it', () => {
    const state = { ...clean, tokenVersion: 3 };
    const policy = { ...none, versionClaim: 'tv' };
    expect(reasonOf(checkRevocation(token({ claims: { tv: 3 } }), state, policy))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ claims: { tv: '3' } }), state, policy))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ claims: { tv: 2 } }), state, policy))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ claims: { tv: '03' } }), state, policy))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ claims: { tv: null } }), state, policy))).toBe('revoked');
    expect(reasonOf(checkRevocation(token({ claims: {} }), state, policy))).toBe('ok');
    // Without a configured versionClaim the claim means nothing.
    expect(reasonOf(checkRevocation(token({ claims: { tv: 2 } }), state, none))).toBe('ok');
  });

  it('requires the tenant claim to name the tenant when configured (absent is wrong_tenant)', () => {
    const policy = { ...none, tenantClaim: 'tid' };
    expect(reasonOf(checkRevocation(token({ claims: { tid: 'acme' } }), clean, policy))).toBe('ok');
    expect(reasonOf(checkRevocation(token({ claims: { tid: 'other' } }), clean, policy))).toBe('wrong_tenant');
    expect(reasonOf(checkRevocation(token({ claims: {} }), clean, policy))).toBe('wrong_tenant');
    expect(reasonOf(checkRevocation(token({ claims: { tid: ['acme'] } }), clean, policy))).toBe('wrong_tenant');
    expect(reasonOf(checkRevocation(token({ claims: {} }), clean, { ...policy, tenantClaim: 'constructor' }))).toBe('wrong_tenant');
    expect(reasonOf(checkRevocation(token({ claims: { tid: 'other' } }), clean, none))).toBe('ok');
  });

  it('gives notes that never hold a claim value', () => {
    const secretish = 'value-that-must-not-be-logged';
    const state = { ...clean, tokenVersion: 2, deniedJtis: { [secretish]: NOW } };
    const outcomes = [
      checkRevocation(token({ claims: { tid: secretish } }), state, { ...none, tenantClaim: 'tid' }),
      checkRevocation(token({ claims: { jti: secretish } }), state, none),
      checkRevocation(token({ claims: { tv: secretish } }), state, { ...none, versionClaim: 'tv' }),
    ];
    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(false);
      expect(JSON.stringify(outcome)).not.toContain(secretish);
    }
  });
});
