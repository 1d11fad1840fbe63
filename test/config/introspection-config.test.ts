// The issuer's `introspection` block (docs/configuration.md "Introspection"): fields, defaults,
// bounds and the cross-field rules, reported at exact JSON Pointers; compiled once into the
// Tenant so later code never re-validates; and write-only values never echoed in an issue.
import { describe, expect, it } from 'vitest';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant } from '../../src/tenants/tenant';

const ISSUER = 'https://acme.okta.com/oauth2/default';
const base = { id: 'acme', hosts: ['api.acme.com'], issuers: [{ issuer: ISSUER, audiences: ['api://default'] }] };
const withIntrospection = (introspection: unknown, extra: Record<string, unknown> = {}) =>
  ({ ...base, issuers: [{ ...base.issuers[0], introspection, ...extra }] });
const issuesOf = (input: unknown) => { const r = parseTenantConfig(input, 'written'); return r.ok ? [] : r.issues; };
/** 'written' (an admin PUT): private_key_jwt needs a stored tenant's edge key. */
function parsed(input: unknown) {
  const result = parseTenantConfig(input, 'written');
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.config;
}

describe('the introspection block', () => {
  it('is null by default', () => {
    expect(parsed(base).issuers[0]!.introspection).toBeNull();
    expect(compileTenant(parsed(base)).issuers.get(ISSUER)!.introspection).toBeNull();
    expect(compileTenant(parsed(base)).introspection).toBeNull();
  });

  it('applies its defaults: client_secret_basic, opaque tokens, 60 s and 5 s, the endpoint from discovery', () => {
    expect(parsed(withIntrospection({ clientId: 'edge-rs', clientSecret: 's3cret' })).issuers[0]!.introspection).toEqual({
      endpoint: null, clientId: 'edge-rs', clientAuth: 'client_secret_basic', clientSecret: 's3cret',
      tokens: 'opaque', cacheSeconds: 60, inactiveCacheSeconds: 5,
    });
  });

  it('keeps every value as written, and reads back equal', () => {
    const block = {
      endpoint: 'https://acme.okta.com/oauth2/default/v1/introspect', clientId: 'edge-rs', clientAuth: 'client_secret_post',
      clientSecret: 'a b~!', tokens: 'all', cacheSeconds: 300, inactiveCacheSeconds: 0,
    };
    const config = parsed(withIntrospection(block));
    expect(config.issuers[0]!.introspection).toEqual(block);
    expect(parsed(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it('takes private_key_jwt without a client secret', () => {
    expect(parsed(withIntrospection({ clientId: 'edge-rs', clientAuth: 'private_key_jwt' })).issuers[0]!.introspection)
      .toEqual({ endpoint: null, clientId: 'edge-rs', clientAuth: 'private_key_jwt', tokens: 'opaque', cacheSeconds: 60, inactiveCacheSeconds: 5 });
  });

  it('accepts the bounds: cacheSeconds 0..300, inactiveCacheSeconds 0..60, secrets up to 4096 characters', () => {
    for (const [cacheSeconds, inactiveCacheSeconds] of [[0, 0], [300, 60]]) {
      expect(issuesOf(withIntrospection({ clientId: 'c', clientSecret: 's', cacheSeconds, inactiveCacheSeconds }))).toEqual([]);
    }
    expect(issuesOf(withIntrospection({ clientId: 'c', clientSecret: '~'.repeat(4096) }))).toEqual([]);
  });

  it('takes an http endpoint only on loopback, as for other issuer URLs', () => {
    expect(issuesOf(withIntrospection({ clientId: 'c', clientSecret: 's', endpoint: 'http://127.0.0.1:9000/introspect' }))).toEqual([]);
    expect(issuesOf(withIntrospection({ clientId: 'c', clientSecret: 's', endpoint: 'http://localhost/introspect' }))).toEqual([]);
  });

  const at = '/issuers/0/introspection';
  it.each([
    [{ clientId: 'c', clientSecret: 's', endpoint: 'http://idp.example/introspect' }, `${at}/endpoint`, 'must be https (http only for localhost or 127.0.0.1)'],
    [{ clientId: 'c', clientSecret: 's', endpoint: 'not a url' }, `${at}/endpoint`, 'must be an absolute URL'],
    [{ clientId: 'c', clientSecret: 's', endpoint: 'http://[' }, `${at}/endpoint`, 'must be an absolute URL'],
    [{ clientSecret: 's' }, `${at}/clientId`, 'Invalid key: Expected "clientId" but received undefined'],
    [{ clientId: '', clientSecret: 's' }, `${at}/clientId`, 'a client id is 1-256 printable ASCII characters (RFC 6749 §2.2)'],
    [{ clientId: 'ünï', clientSecret: 's' }, `${at}/clientId`, 'a client id is 1-256 printable ASCII characters (RFC 6749 §2.2)'],
    [{ clientId: 'c', clientSecret: 's', clientAuth: 'client_secret_jwt' }, `${at}/clientAuth`, 'one of "client_secret_basic", "client_secret_post", "private_key_jwt"'],
    [{ clientId: 'c', clientSecret: 's', tokens: 'jwt' }, `${at}/tokens`, 'one of "opaque", "all"'],
    [{ clientId: 'c', clientSecret: 's', cacheSeconds: 301 }, `${at}/cacheSeconds`, 'Invalid value: Expected <=300 but received 301'],
    [{ clientId: 'c', clientSecret: 's', cacheSeconds: -1 }, `${at}/cacheSeconds`, 'Invalid value: Expected >=0 but received -1'],
    [{ clientId: 'c', clientSecret: 's', cacheSeconds: 1.5 }, `${at}/cacheSeconds`, 'must be a whole number'],
    [{ clientId: 'c', clientSecret: 's', inactiveCacheSeconds: 61 }, `${at}/inactiveCacheSeconds`, 'Invalid value: Expected <=60 but received 61'],
    [{ clientId: 'c' }, `${at}/clientSecret`, 'required with clientAuth "client_secret_basic"'],
    [{ clientId: 'c', clientAuth: 'client_secret_post' }, `${at}/clientSecret`, 'required with clientAuth "client_secret_post"'],
    [{ clientId: 'c', clientAuth: 'private_key_jwt', clientSecret: 's' }, `${at}/clientSecret`,
      'not used with clientAuth "private_key_jwt" (the tenant\'s edge key signs its client assertion)'],
    [{ clientId: 'c', clientSecret: '' }, `${at}/clientSecret`, 'a client secret is 1-4096 printable ASCII characters (RFC 6749 §2.3.1)'],
    [{ clientId: 'c', clientSecret: 'tab\tinside' }, `${at}/clientSecret`, 'a client secret is 1-4096 printable ASCII characters (RFC 6749 §2.3.1)'],
    [{ clientId: 'c', clientSecret: 12345 }, `${at}/clientSecret`, 'a secret is a string, or {"set": true} to keep the stored one'],
    [{ clientId: 'c', clientSecret: { set: false } }, `${at}/clientSecret`, 'a secret is a string, or {"set": true} to keep the stored one'],
    [{ clientId: 'c', clientSecret: { set: true, value: 'x' } }, `${at}/clientSecret`, 'a secret is a string, or {"set": true} to keep the stored one'],
    [{ clientId: 'c', clientSecret: 's', extra: 1 }, `${at}/extra`, 'Invalid key: Expected never but received "extra"'],
    ['yes', at, 'Invalid type: Expected Object but received "yes"'],
  ])('refuses %o at %s', (block, path, message) => {
    expect(issuesOf(withIntrospection(block))).toContainEqual({ path, message });
  });

  it('allows one issuer to take opaque tokens: a second introspection block is refused at its own path', () => {
    const second = { issuer: 'https://other.example/', audiences: ['x'] };
    for (const tokens of ['opaque', 'all']) {
      const input = { ...base, issuers: [
        { ...base.issuers[0], introspection: { clientId: 'a', clientSecret: 's' } },
        second,
        { ...second, issuer: 'https://third.example/', introspection: { clientId: 'b', clientSecret: 't', tokens } },
      ] };
      expect(issuesOf(input)).toEqual([{
        path: '/issuers/2/introspection',
        message: `only one issuer of a tenant may introspect: opaque tokens go to /issuers/0 (${ISSUER})`,
      }]);
    }
    expect(issuesOf({ ...base, issuers: [{ ...base.issuers[0], introspection: { clientId: 'a', clientSecret: 's' } }, second] })).toEqual([]);
  });

  it('refuses private_key_jwt in a config given in code (edgeAuth): only stored tenants have an edge key', () => {
    expect(parseTenantConfig(withIntrospection({ clientId: 'c', clientAuth: 'private_key_jwt' }))).toEqual({ ok: false, issues: [{
      path: '/issuers/0/introspection/clientAuth', message: 'private_key_jwt signs with the edge key of a tenant stored through the admin API',
    }] });
  });

  it('never echoes a secret in an issue, whatever else is wrong', () => {
    const secrets = ['Zq9-very-secret-value', `${'S'.repeat(5000)}-oversized`, 'sécret-with-non-ascii', 'tab\tsecret'];
    for (const secret of secrets) {
      const issues = issuesOf({
        ...withIntrospection({ clientId: 'c', clientSecret: secret, cacheSeconds: 'x' }),
        hosts: ['*.com'], routes: [{ path: 'nope' }],
      });
      expect(issues.length).toBeGreaterThan(0);
      const text = JSON.stringify(issues);
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(0, 12));
    }
  });
});

describe('compiled introspection', () => {
  it('is typed and defaulted on the issuer, with the secret behind reveal() and never in JSON', () => {
    const tenant = compileTenant(parsed(withIntrospection({ clientId: 'edge-rs', clientSecret: 'Zq9-secret' })));
    const issuer = tenant.issuers.get(ISSUER)!;
    expect(tenant.introspection).toBe(issuer);
    const policy = issuer.introspection!;
    expect(policy).toMatchObject({
      endpoint: null, clientId: 'edge-rs', clientAuth: 'client_secret_basic', tokens: 'opaque', cacheSeconds: 60, inactiveCacheSeconds: 5,
    });
    expect(policy.clientSecret!.reveal()).toBe('Zq9-secret');
    expect(JSON.stringify(policy)).not.toContain('Zq9-secret');
    expect(JSON.stringify(policy.clientSecret)).toBe('{"set":true}');
    expect(String(policy.clientSecret)).not.toContain('Zq9-secret');
  });

  it('has no secret for private_key_jwt, and names the one issuer taking opaque tokens', () => {
    const tenant = compileTenant(parsed({ ...base, issuers: [
      { issuer: 'https://first.example/', audiences: ['x'] },
      { ...base.issuers[0], introspection: { clientId: 'edge-rs', clientAuth: 'private_key_jwt', tokens: 'all' } },
    ] }));
    expect(tenant.introspection?.issuer).toBe(ISSUER);
    expect(tenant.introspection?.introspection).toMatchObject({ clientAuth: 'private_key_jwt', clientSecret: null, tokens: 'all' });
    expect(tenant.issuers.get('https://first.example/')!.introspection).toBeNull();
  });
});

describe('docs/configuration.md', () => {
  it('states the defaults and bounds the schema applies to the new fields', async () => {
    const { default: configuration } = await import('../../docs/configuration.md?raw');
    const { DEFAULTS } = await import('../../src/config/schema');
    const row = (field: string) => configuration.split('\n').find((line: string) => line.startsWith(`| \`${field}\` |`)) ?? '';
    expect(row('clientAuth')).toContain(`| \`${DEFAULTS.introspection.clientAuth}\` |`);
    expect(row('tokens')).toContain(`| \`${DEFAULTS.introspection.tokens}\` |`);
    expect(row('cacheSeconds')).toMatch(new RegExp(`^\\| \`cacheSeconds\` \\| ${DEFAULTS.introspection.cacheSeconds} \\| 0–300`));
    expect(row('inactiveCacheSeconds')).toMatch(new RegExp(`^\\| \`inactiveCacheSeconds\` \\| ${DEFAULTS.introspection.inactiveCacheSeconds} \\| 0–60`));
    expect(row('delivery')).toContain(`| \`${DEFAULTS.ssf.delivery}\` |`);
    expect(row('pollSeconds')).toMatch(new RegExp(`^\\| \`pollSeconds\` \\| ${DEFAULTS.ssf.pollSeconds} with \`poll\` \\| 10–300`));
    expect(row('management.scope')).toContain(`| \`${DEFAULTS.ssf.managementScope}\` |`);
    expect(row('subjectClaims')).toContain(JSON.stringify(DEFAULTS.ssf.subjectClaims).replaceAll(':', ': ').replaceAll(',', ', ').replace('{', '{ ').replace('}', ' }'));
  });
});
