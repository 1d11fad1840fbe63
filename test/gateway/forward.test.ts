// Claim headers on the forwarded request, read through compiled claim names.
import { describe, expect, it } from 'vitest';
import { requestUrl } from '../../src/http/request-url';
import { originRequest } from '../../src/gateway/forward';
import type { Identity } from '../../src/pipeline/identity';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant } from '../../src/tenants/tenant';

describe('originRequest: configured claim headers', () => {
  const parsed = parseTenantConfig({
    id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: 'https://acme.eu.auth0.com/', audiences: ['https://api.acme.com'] }],
    forward: { claimHeaders: {
      'https://acme.com/roles': 'x-auth-roles', '/realm_access/roles': 'x-auth-realm-roles', '/org/name': 'x-auth-org',
      '/org': 'x-auth-org-object', '/constructor': 'x-auth-constructor',
    } },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const tenant = compileTenant(parsed.config);
  const identity = (claims: Record<string, unknown>): Identity => ({
    tenant: 'acme', issuer: 'https://acme.eu.auth0.com/', subject: 'u1', clientId: null, scopes: new Set(), claims, pop: null,
  });
  const forwarded = (claims: Record<string, unknown>) => {
    const url = requestUrl('https://api.acme.com/orders');
    return originRequest(new Request(url.href, { headers: { 'x-auth-roles': 'spoofed' } }), url, tenant, identity(claims), { requestId: 'req-1', preflight: false }).headers;
  };

  it('reads namespaced top-level names and JSON Pointers', () => {
    const headers = forwarded({ 'https://acme.com/roles': ['admin', 'billing'], realm_access: { roles: ['reader'] }, org: { name: 'Acme Ünited' } });
    expect(headers.get('x-auth-roles')).toBe('admin billing');
    expect(headers.get('x-auth-realm-roles')).toBe('reader');
    expect(headers.get('x-auth-org')).toBe('Acme%20%C3%9Cnited');
    expect(headers.has('x-auth-org-object')).toBe(false);
  });

  it('sends nothing for a missing claim, and never an inherited member', () => {
    const headers = forwarded({});
    expect(headers.has('x-auth-roles')).toBe(false);
    expect(headers.has('x-auth-constructor')).toBe(false);
    expect(forwarded({ constructor: 'own' }).get('x-auth-constructor')).toBe('own');
  });
});
