// compileTenant: claim names (top-level or JSON Pointer) become readers once per tenant load.
import { describe, expect, it } from 'vitest';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant } from '../../src/tenants/tenant';

const base = { id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: 'https://acme.eu.auth0.com/', audiences: ['https://api.acme.com'] }] };
function compiled(extra: Record<string, unknown>) {
  const parsed = parseTenantConfig({ ...base, ...extra });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileTenant(parsed.config);
}

describe('compileTenant: claim names', () => {
  const payload = {
    tv: 3, tid: 'acme', org: { tenant: 'acme', version: '4' }, 'https://acme.com/roles': ['admin'], 'a/b': 'slash',
  };

  it('compiles the revocation claims into readers, null when not configured', () => {
    const tenant = compiled({ revocation: { versionClaim: '/org/version', tenantClaim: 'tid' } });
    expect(tenant.revocation.versionClaim?.name).toBe('/org/version');
    expect(tenant.revocation.versionClaim?.read(payload)).toBe('4');
    expect(tenant.revocation.tenantClaim?.read(payload)).toBe('acme');
    expect(compiled({}).revocation).toEqual({
      versionClaim: null, tenantClaim: null, maxStalenessSeconds: 5, retainSeconds: 86_400, claimSubjects: [],
    });
    // The memory of revocations bounds every issuer's tokens' age (verify/times.ts).
    const week = compiled({ revocation: { retainSeconds: 604_800 } });
    expect([week.revocation.retainSeconds, [...week.issuers.values()].map((i) => i.retainSeconds)]).toEqual([604_800, [604_800]]);
  });

  it('compiles claim header keys: pointers, and namespaced names as top-level claims', () => {
    const tenant = compiled({ forward: { claimHeaders: { 'https://acme.com/roles': 'x-auth-roles', '/org/tenant': 'x-auth-org', '/a~1b': 'x-auth-ab' } } });
    expect(tenant.claimHeaders.map(([claim, header]) => [claim.name, header, claim.read(payload)])).toEqual([
      ['https://acme.com/roles', 'x-auth-roles', ['admin']],
      ['/org/tenant', 'x-auth-org', 'acme'],
      ['/a~1b', 'x-auth-ab', 'slash'],
    ]);
  });

  it('compiles scopeClaims in order, defaults included', () => {
    expect(compiled({}).issuers.get('https://acme.eu.auth0.com/')!.scopeClaims.map((c) => c.name)).toEqual(['scope', 'scp', 'permissions']);
  });

  it('compiles the claims its transmitters name for email and phone_number subjects, each (format, claim) once', () => {
    const tenant = compiled({ events: { ssf: [
      { issuer: 'https://a.example', audience: 'x' },
      { issuer: 'https://b.example', audience: 'x', subjectClaims: { email: '/ext/upn' } },
      { issuer: 'https://c.example', audience: 'x', subjectClaims: { email: 'email', phone_number: null } },
      { issuer: 'https://d.example', audience: 'x', subjectClaims: {} },
    ] } });
    expect(tenant.revocation.claimSubjects.map(({ format, claim }) => [format, claim.name]))
      .toEqual([['email', 'email'], ['phone_number', 'phone_number'], ['email', '/ext/upn']]);
    expect(tenant.revocation.claimSubjects[2]!.claim.read({ ext: { upn: 'a@b' } })).toBe('a@b');
  });
});
