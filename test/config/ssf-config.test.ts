// An `events.ssf` entry's delivery, pollSeconds, subjectClaims and management
// (docs/configuration.md "Revocation events"): defaults, bounds, exact issue paths, and the
// compiled, typed values later code reads.
import { describe, expect, it } from 'vitest';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant } from '../../src/tenants/tenant';

const TRANSMITTER = 'https://acme.okta.com';
const base = { id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: 'https://acme.okta.com/oauth2/default', audiences: ['api://default'] }] };
const withEntry = (entry: Record<string, unknown>) =>
  ({ ...base, events: { ssf: [{ issuer: TRANSMITTER, audience: 'https://api.acme.com/ssf', ...entry }] } });
const issuesOf = (input: unknown) => { const r = parseTenantConfig(input); return r.ok ? [] : r.issues; };
function entryOf(entry: Record<string, unknown>) {
  const result = parseTenantConfig(withEntry(entry));
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config.events!.ssf[0]!;
}
const transmitterOf = (entry: Record<string, unknown>) => {
  const result = parseTenantConfig(withEntry(entry));
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return compileTenant(result.config).events!.transmitters.get(TRANSMITTER)!;
};

describe('an ssf entry', () => {
  it('defaults to push, no poll interval, email and phone_number subjects by the claims of those names, no management', () => {
    expect(entryOf({})).toEqual({
      issuer: TRANSMITTER, audience: 'https://api.acme.com/ssf', jwksUri: null, delivery: 'push', pollSeconds: null,
      subjectClaims: { email: 'email', phone_number: 'phone_number' }, management: null,
    });
  });

  it('polls every 30 s by default, 10..300', () => {
    expect(entryOf({ delivery: 'poll' }).pollSeconds).toBe(30);
    expect(entryOf({ delivery: 'poll', pollSeconds: 10 }).pollSeconds).toBe(10);
    expect(entryOf({ delivery: 'poll', pollSeconds: 300 }).pollSeconds).toBe(300);
  });

  it('keeps subjectClaims as written: a member left out (or null) is a format with no claim', () => {
    expect(entryOf({ subjectClaims: { email: '/contact/email' } }).subjectClaims).toEqual({ email: '/contact/email', phone_number: null });
    expect(entryOf({ subjectClaims: {} }).subjectClaims).toEqual({ email: null, phone_number: null });
    expect(entryOf({ subjectClaims: { email: 'https://acme.com/email', phone_number: null } }).subjectClaims)
      .toEqual({ email: 'https://acme.com/email', phone_number: null });
  });

  it('takes management by a bearer token, or by client credentials with its defaults', () => {
    expect(entryOf({ management: { bearerToken: 'eyJ0.abc-_~+/=' } }).management).toEqual({ bearerToken: 'eyJ0.abc-_~+/=' });
    expect(entryOf({ management: { clientId: 'edge', clientSecret: 's3cret' } }).management).toEqual({
      tokenEndpoint: null, clientId: 'edge', clientSecret: 's3cret', scope: 'ssf.manage ssf.read',
    });
    const written = { tokenEndpoint: 'https://acme.okta.com/oauth2/v1/token', clientId: 'edge', clientSecret: 's', scope: 'okta.ssf.manage' };
    expect(entryOf({ management: written }).management).toEqual(written);
  });

  it('reads back equal once stored', () => {
    const input = withEntry({ delivery: 'poll', subjectClaims: { email: 'mail' }, management: { clientId: 'edge', clientSecret: 's' } });
    const first = parseTenantConfig(input);
    expect(first.ok && parseTenantConfig(JSON.parse(JSON.stringify(first.config)))).toEqual(first);
  });

  const at = '/events/ssf/0';
  it.each([
    [{ delivery: 'webhook' }, `${at}/delivery`, 'one of "push", "poll"'],
    [{ pollSeconds: 30 }, `${at}/pollSeconds`, 'only with delivery "poll"'],
    [{ delivery: 'push', pollSeconds: 30 }, `${at}/pollSeconds`, 'only with delivery "poll"'],
    [{ delivery: 'poll', pollSeconds: 9 }, `${at}/pollSeconds`, 'Invalid value: Expected >=10 but received 9'],
    [{ delivery: 'poll', pollSeconds: 301 }, `${at}/pollSeconds`, 'Invalid value: Expected <=300 but received 301'],
    [{ delivery: 'poll', pollSeconds: 12.5 }, `${at}/pollSeconds`, 'must be a whole number'],
    [{ subjectClaims: { email: '/a~2' } }, `${at}/subjectClaims/email`, 'a claim name, or a JSON Pointer starting with "/" (RFC 6901: "~" only as "~0" or "~1")'],
    [{ subjectClaims: { email: '' } }, `${at}/subjectClaims/email`, 'a claim name, or a JSON Pointer starting with "/" (RFC 6901: "~" only as "~0" or "~1")'],
    [{ subjectClaims: { account: 'acct' } }, `${at}/subjectClaims/account`, 'Invalid key: Expected never but received "account"'],
    [{ subjectClaims: 'email' }, `${at}/subjectClaims`, 'Invalid type: Expected Object but received "email"'],
    [{ management: {} }, `${at}/management/clientId`, 'Invalid key: Expected "clientId" but received undefined'],
    [{ management: { clientId: 'edge' } }, `${at}/management/clientSecret`, 'Invalid key: Expected "clientSecret" but received undefined'],
    [{ management: { bearerToken: 'a b' } }, `${at}/management/bearerToken`, 'a bearer token is 1-4096 characters of RFC 6750 b64token (letters, digits, "-._~+/", then "=")'],
    [{ management: { bearerToken: '' } }, `${at}/management/bearerToken`, 'a bearer token is 1-4096 characters of RFC 6750 b64token (letters, digits, "-._~+/", then "=")'],
    [{ management: { bearerToken: 't', clientId: 'edge' } }, `${at}/management/clientId`, 'Invalid key: Expected never but received "clientId"'],
    [{ management: { bearerToken: 1 } }, `${at}/management/bearerToken`, 'a secret is a string, or {"set": true} to keep the stored one'],
    [{ management: { clientId: 'edge', clientSecret: 's', tokenEndpoint: 'http://idp.example/token' } }, `${at}/management/tokenEndpoint`,
      'must be https (http only for localhost or 127.0.0.1)'],
    [{ management: { clientId: 'edge', clientSecret: 's', scope: '' } }, `${at}/management/scope`, 'one or more scope tokens separated by single spaces (RFC 6749 §3.3)'],
    [{ management: { clientId: 'edge', clientSecret: 's', scope: 'a  b' } }, `${at}/management/scope`, 'one or more scope tokens separated by single spaces (RFC 6749 §3.3)'],
    [{ management: 'token' }, `${at}/management`, 'management is {"bearerToken"} or {"tokenEndpoint", "clientId", "clientSecret", "scope"}'],
  ])('refuses %o at %s', (entry, path, message) => {
    expect(issuesOf(withEntry(entry))).toContainEqual({ path, message });
  });

  it('never echoes a management secret in an issue', () => {
    for (const management of [{ bearerToken: 'Zq9 secret with a space' }, { clientId: 'edge', clientSecret: 'Zq9\u0000secret' }]) {
      const issues = issuesOf({ ...withEntry({ management, pollSeconds: 'x' }), hosts: ['*.com'] });
      expect(issues.length).toBeGreaterThan(1);
      expect(JSON.stringify(issues)).not.toContain('Zq9');
    }
  });
});

describe('a compiled transmitter', () => {
  it('holds delivery, the poll interval, subject claim readers and the management secret', () => {
    const pushed = transmitterOf({});
    expect(pushed).toMatchObject({ delivery: 'push', pollSeconds: null, management: null });
    expect(pushed.subjectClaims.email?.read({ email: 'a@b.example' })).toBe('a@b.example');
    expect(pushed.subjectClaims.phone_number?.name).toBe('phone_number');

    const polled = transmitterOf({ delivery: 'poll', pollSeconds: 15, subjectClaims: { email: '/contact/mail' },
      management: { clientId: 'edge', clientSecret: 'Zq9-secret' } });
    expect(polled).toMatchObject({ delivery: 'poll', pollSeconds: 15 });
    expect(polled.subjectClaims.email?.read({ contact: { mail: 'x@y.example' } })).toBe('x@y.example');
    expect(polled.subjectClaims.phone_number).toBeNull();
    expect(polled.management).toMatchObject({ kind: 'client_credentials', tokenEndpoint: null, clientId: 'edge', scope: 'ssf.manage ssf.read' });
    expect(polled.management?.kind === 'client_credentials' && polled.management.clientSecret.reveal()).toBe('Zq9-secret');
    expect(JSON.stringify(polled.management)).not.toContain('Zq9');

    const bearer = transmitterOf({ management: { bearerToken: 'Zq9token' } }).management;
    expect(bearer?.kind === 'bearer' && bearer.bearerToken.reveal()).toBe('Zq9token');
  });
});
