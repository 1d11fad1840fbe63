// Scopes read through compiled claim names: top-level names (dots and slashes inside included)
// and JSON Pointers, with the rules of every scope claim (string or array of strings, values
// that are not scope tokens dropped, any other type malformed, own members only).
import { describe, expect, it } from 'vitest';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant, type IssuerPolicy } from '../../src/tenants/tenant';
import { readClaims } from '../../src/verify/claims';

const ISSUER = 'https://sso.acme.com/realms/acme';
function issuerWith(scopeClaims: string[]): IssuerPolicy {
  const parsed = parseTenantConfig({ id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: ISSUER, audiences: ['acme-api'], scopeClaims }] });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return compileTenant(parsed.config).issuers.get(ISSUER)!;
}
const scopesOf = (scopeClaims: string[], payload: Record<string, unknown>) => {
  const read = readClaims({ aud: 'acme-api', ...payload }, issuerWith(scopeClaims), 'https://api.acme.com');
  return read.ok ? [...read.value.scopes].sort() : read.denial;
};

describe('scopeClaims as claim names', () => {
  const keycloak = {
    scope: 'openid profile',
    realm_access: { roles: ['offline_access', 'orders:read'] },
    resource_access: { 'acme-api': { roles: ['admin'] } },
  };

  it('a JSON Pointer reads Keycloak realm and client roles, united with the top-level scope', () => {
    expect(scopesOf(['scope', '/realm_access/roles'], keycloak)).toEqual(['offline_access', 'openid', 'orders:read', 'profile']);
    expect(scopesOf(['/resource_access/acme-api/roles'], keycloak)).toEqual(['admin']);
  });

  it('a pointer that reaches nothing adds nothing', () => {
    expect(scopesOf(['scope', '/realm_access/groups', '/missing/roles'], keycloak)).toEqual(['openid', 'profile']);
    expect(scopesOf(['/scope/0'], keycloak)).toEqual([]);
  });

  it('a name with dots or slashes inside is a top-level claim', () => {
    const auth0 = { 'https://acme.com/roles': ['admin', 'billing'], realm_access: { roles: ['x'] } };
    expect(scopesOf(['https://acme.com/roles'], auth0)).toEqual(['admin', 'billing']);
    expect(scopesOf(['realm_access.roles'], auth0)).toEqual([]);
  });

  it('pointer escapes: ~1 is "/" and ~0 is "~" inside a member name', () => {
    expect(scopesOf(['/a~1b/c~0d'], { 'a/b': { 'c~d': 'x y' } })).toEqual(['x', 'y']);
    expect(scopesOf(['/a~1b/c~0d'], { a: { b: { 'c~d': 'x' } } })).toEqual([]);
  });

  it('keeps the rules: a string is space-separated, array items must be strings, non-scope-tokens are dropped', () => {
    expect(scopesOf(['/r/roles'], { r: { roles: ['ok', 'has space', 'quo"te', 'back\\slash', 'zoë', ''] } })).toEqual(['ok']);
    expect(scopesOf(['/r/roles'], { r: { roles: 'a  b' } })).toEqual(['a', 'b']);
    expect(scopesOf(['/r/roles'], { r: { roles: { admin: true } } })).toMatchObject({ error: 'invalid_token', reason: 'malformed' });
    expect(scopesOf(['/r/roles'], { r: { roles: ['a', 1] } })).toMatchObject({ error: 'invalid_token', reason: 'malformed' });
    expect(scopesOf(['/r/roles'], { r: { roles: 7 } })).toMatchObject({ reason: 'malformed', note: '/r/roles is not a string or array of strings' });
  });

  it('reads own members only: a claim named like an Object.prototype member is absent unless present', () => {
    expect(scopesOf(['constructor', '/constructor', '/r/toString', '/__proto__'], { r: {} })).toEqual([]);
    expect(scopesOf(['/constructor'], { constructor: 'own' })).toEqual(['own']);
  });
});
