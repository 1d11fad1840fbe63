// What reaches the origin cannot be spoofed by another spelling: headers the edge owns in every
// form a CGI-style server reads as the same variable, identity values an origin may always
// percent-decode, and scope values that are not RFC 6749 scope tokens.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headerValue, isEdgeOwned } from '../../src/gateway/forward';
import { isScopeToken } from '../../src/config/scope-token';
import { TestIssuer } from '../support/issuer';
import { type Echo, gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';
import { expectDenial } from './forge';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;
let id: string;

gatewayTest('spoof', {}, (made) => ({ edge, issuer, id, host } = made));

async function put(extra: Record<string, unknown> = {}) {
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer,
    routes: [{ path: '/health', auth: 'none' }, { path: '/admin/*', scopes: ['admin'] }, { path: '/*' }],
    ...extra,
  }));
}
const token = (claims: Record<string, unknown> = {}) =>
  issuer.sign({ sub: 'user-1', aud: `https://${host}`, scope: 'read', ...claims }, { now: edge.now });
async function echoOf(path: string, init: RequestInit & { token?: string }): Promise<Echo> {
  const response = await edge.request(`https://${host}${path}`, init);
  expect(response.status, await response.clone().text()).toBe(200);
  return response.json() as Promise<Echo>;
}

/** Every spelling of an edge-owned name a client might send: case, and `_` for `-` anywhere. */
function spellings(name: string): string[] {
  const underscored = name.replaceAll('-', '_');
  const mixed = name.split('-').map((part, i) => (i % 2 === 0 ? part : part.toUpperCase())).join('_');
  const oneUnderscore = name.replace('-', '_');
  return [name, name.toUpperCase(), underscored, underscored.toUpperCase(), mixed, oneUnderscore];
}

describe('edge-owned request headers in any spelling', () => {
  const owned = ['x-auth-subject', 'x-auth-tenant', 'x-auth-scopes', 'x-auth-role', 'x-auth-claims', 'x-auth-pop'];

  for (const upstream of [null, 'https://origin.internal.test']) {
    it(`never reach the origin, on a token route and a public one (upstream ${upstream ?? 'none'})`, async () => {
      await put({ upstream });
      const headers = new Headers();
      for (const name of owned) for (const spelling of spellings(name)) headers.append(spelling, 'root');
      for (const name of ['x-request-id', 'x-forwarded-host', 'x-forwarded-proto']) {
        for (const spelling of spellings(name)) headers.append(spelling, 'evil');
      }
      for (const path of ['/orders', '/health']) {
        const echo = await echoOf(path, { token: path === '/orders' ? await token() : undefined, headers });
        const seen = Object.keys(echo.headers);
        // Only the edge's own headers remain, each with the edge's value, in its canonical name.
        expect(seen.filter((name) => isEdgeOwned(name) && name.includes('_'))).toEqual([]);
        expect(seen.filter((name) => /^x[-_]auth[-_]/i.test(name)).every((name) => name === name.toLowerCase())).toBe(true);
        expect(echo.headers['x-auth-role']).toBeUndefined();
        expect(echo.headers['x-auth-pop']).toBeUndefined();
        expect(echo.headers['x-auth-subject']).toBe(path === '/orders' ? 'user-1' : undefined);
        expect(echo.headers['x-forwarded-host']).toBe(host);
        expect(echo.headers['x-forwarded-proto']).toBe('https');
        expect(echo.headers['x-request-id']).not.toBe('evil');
        for (const value of Object.values(echo.headers)) expect(value).not.toContain('root');
      }
    });
  }

  it('never let a client say what host, scheme, port, prefix or URL it addressed: Forwarded, x-forwarded-ssl and the rest are removed', async () => {
    await put();
    const headers = new Headers();
    const proxyNames = ['forwarded', 'x-forwarded-ssl', 'x-forwarded-scheme', 'x-forwarded-port', 'x-forwarded-prefix', 'x-original-url', 'x-original-uri', 'x-rewrite-url'];
    for (const name of proxyNames) for (const spelling of spellings(name)) headers.append(spelling, 'host=evil.example;proto=http');
    for (const path of ['/orders', '/health']) {
      const echo = await echoOf(path, { token: path === '/orders' ? await token() : undefined, headers });
      for (const name of Object.keys(echo.headers)) expect(proxyNames, name).not.toContain(name.toLowerCase().replaceAll('_', '-'));
      for (const value of Object.values(echo.headers)) expect(value).not.toContain('evil.example');
      expect(echo.headers['x-forwarded-host']).toBe(host);
    }
  });

  it('x-forwarded-host and -proto are set without upstream too', async () => {
    await put();
    const echo = await echoOf('/orders', { token: await token() });
    expect(echo.url).toBe(`https://${host}/orders`);
    expect(echo.headers['x-forwarded-host']).toBe(host);
    expect(echo.headers['x-forwarded-proto']).toBe('https');
  });

  it('isEdgeOwned: exactly the names a CGI server maps onto an edge header', () => {
    for (const name of ['x-auth-subject', 'X_AUTH_SUBJECT', 'x_auth-x', 'X-Auth_Email', 'x_request_id', 'X-Forwarded_Host', 'x_forwarded_proto',
      'forwarded', 'Forwarded', 'x-forwarded-ssl', 'X_Forwarded_Scheme', 'x-forwarded-port', 'x-forwarded-prefix', 'X-Original-URL',
      'x_original_uri', 'x-rewrite-url', 'X_HTTP_METHOD_OVERRIDE', 'x_http-method', 'x-method_override']) {
      expect(isEdgeOwned(name), name).toBe(true);
    }
    for (const name of ['x-authorization', 'authorization', 'x-auth', 'x-request-ids', 'x-forwarded-for', 'x-forwarded-hosts', 'xauth-subject',
      'forwarded-for', 'fforwarded', 'x-http-method-override', 'X-HTTP-Method', 'x-method-override', 'x-original', 'from']) {
      expect(isEdgeOwned(name), name).toBe(false);
    }
    fc.assert(fc.property(fc.stringMatching(/^[a-z0-9-]{1,20}$/), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (rest, flips) => {
      const canonical = `x-auth-${rest}`;
      let i = 0;
      const variant = [...canonical].map((c) => (c === '-' && flips[i++] ? '_' : flips[i++] ? c.toUpperCase() : c)).join('');
      expect(isEdgeOwned(variant)).toBe(true);
    }), { numRuns: 300 });
  });
});

describe('identity header values', () => {
  it('leading and trailing spaces survive as percent-encoding; a plain value is sent as is', async () => {
    await put({ forward: { claimHeaders: { nick: 'x-auth-nick', plain: 'x-auth-plain' } } });
    const echo = await echoOf('/orders', { token: await token({ sub: ' root ', nick: '  admin', plain: 'a b c' }) });
    expect(echo.headers['x-auth-subject']).toBe('%20root%20');
    expect(decodeURIComponent(echo.headers['x-auth-nick']!)).toBe('  admin');
    expect(echo.headers['x-auth-plain']).toBe('a b c');
  });

  it('a lone surrogate in a claim is encoded, never a crash', async () => {
    await put({ forward: { claimHeaders: { nick: 'x-auth-nick' } } });
    const echo = await echoOf('/orders', { token: await token({ nick: 'a\ud800b' }) });
    expect(decodeURIComponent(echo.headers['x-auth-nick']!)).toBe('a\ufffdb');
  });

  it('property: an origin that percent-decodes always gets the exact (well-formed) value back', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (value) => {
      const sent = headerValue(value);
      expect(sent).toMatch(/^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/);
      expect(decodeURIComponent(sent)).toBe(value);
    }), { numRuns: 1000 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (value) => {
      expect(() => headerValue(value)).not.toThrow();
    }), { numRuns: 500 });
  });
});

describe('scope values that are not RFC 6749 scope tokens', () => {
  it('are never granted and never forwarded', async () => {
    await put();
    const cases: [Record<string, unknown>, string][] = [
      [{ scope: undefined, scp: ['read admin'] }, ''],
      [{ scope: 'read\tadmin' }, ''],
      [{ scope: 'read admin\u00a0x' }, 'read'],
      [{ scope: undefined, scp: ['read', 'a"b', 'c\\d', '', 'zoë', 'ok'] }, 'read ok'],
      [{ scope: undefined, permissions: ['admin\n', ' admin'] }, ''],
    ];
    for (const [claims, forwarded] of cases) {
      const t = await token(claims);
      expect((await echoOf('/orders', { token: t })).headers['x-auth-scopes'], JSON.stringify(claims)).toBe(forwarded);
      await expectDenial(await edge.request(`https://${host}/admin/x`, { token: t }), { status: 403, error: 'insufficient_scope' });
    }
  });

  it('property: what is granted is always a scope token, and every scope token in the claim is granted', () => {
    fc.assert(fc.property(fc.array(fc.string({ unit: 'binary-ascii', maxLength: 8 }), { maxLength: 8 }), (values) => {
      const granted = values.filter(isScopeToken);
      for (const scope of granted) expect(scope).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/);
      expect(values.filter((v) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(v))).toEqual(granted);
    }), { numRuns: 500 });
  });
});

describe('claims revocation keys on', () => {
  it('jti and sid that are not strings are malformed', async () => {
    await put();
    for (const claims of [{ jti: 1 }, { jti: null }, { jti: ['a'] }, { jti: { a: 1 } }, { sid: 7 }, { sid: true }, { sid: ['s'] }]) {
      const t = await token(claims);
      await expectDenial(await edge.request(`https://${host}/orders`, { token: t }), { status: 401, reason: 'malformed' }, { token: t, logs: edge.logs });
    }
    expect((await edge.request(`https://${host}/orders`, { token: await token({ jti: 'j-1', sid: 's-1' }) })).status).toBe(200);
  });
});
