// The guarded fetch and discovery against the auxiliary issuer Worker.
import { describe, expect, it } from 'vitest';
import { discoverJwksUri, oauthMetadataUrl, oidcDiscoveryUrl, riscConfigurationUrl, ssfConfigurationUrl } from '../../src/keys/discovery';
import { fetchIssuerJson, issuerUrl } from '../../src/keys/issuer-fetch';
import { TestIssuer, hitsOn, register } from '../support/issuer';

const rules = { allowInsecure: false, timeoutMs: 5_000 };
const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

describe('issuerUrl', () => {
  it('allows https, and http only on loopback when insecure issuers are allowed', () => {
    expect(issuerUrl('https://a.test/x', false)?.href).toBe('https://a.test/x');
    for (const url of ['http://localhost:8787/', 'http://127.0.0.1/x', 'http://[::1]:9000/']) {
      expect(issuerUrl(url, false)).toBeNull();
      expect(issuerUrl(url, true)?.protocol).toBe('http:');
    }
    for (const url of ['http://a.test/', 'http://10.0.0.1/', 'ftp://a.test/', 'not a url', 'https://u:p@a.test/']) {
      expect(issuerUrl(url, true)).toBeNull();
    }
  });
});

describe('fetchIssuerJson', () => {
  it('answers the JSON body and headers of a 200', async () => {
    const issuer = await TestIssuer.create({ cacheControl: 'max-age=120' });
    const fetched = await fetchIssuerJson(issuer.jwksUri, rules);
    expect(fetched.ok).toBe(true);
    if (fetched.ok) expect(fetched.headers.get('cache-control')).toBe('max-age=120');
  });

  it('does not follow a redirect', async () => {
    const issuer = await TestIssuer.create();
    const target = await TestIssuer.create();
    await issuer.serve('/jwks', { status: 302, headers: { location: target.jwksUri } });
    expect(await fetchIssuerJson(issuer.jwksUri, rules)).toEqual({ ok: false, note: 'status 302', status: 302 });
    expect(await target.hits('/jwks')).toBe(0);
  });

  it('fails on anything but 200, and on a body that is not JSON', async () => {
    const issuer = await TestIssuer.create();
    await issuer.serve('/gone', { status: 404, body: '{}' });
    await issuer.serve('/html', { status: 200, body: '<html>', headers: { 'content-type': 'text/html' } });
    expect(await fetchIssuerJson(`${issuer.origin}/gone`, rules)).toMatchObject({ ok: false, status: 404 });
    expect(await fetchIssuerJson(`${issuer.origin}/html`, rules)).toMatchObject({ ok: false, note: 'body is not JSON' });
  });

  it('times out a hanging issuer', async () => {
    const issuer = await TestIssuer.create();
    await issuer.serve('/jwks', { behaviour: 'hang' });
    const started = Date.now();
    expect(await fetchIssuerJson(issuer.jwksUri, { ...rules, timeoutMs: 200 })).toEqual({ ok: false, note: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('times out a body that stops arriving: the deadline covers the body', async () => {
    const stalled = async () => new Response(new ReadableStream({
      start(controller) { controller.enqueue(new TextEncoder().encode('{"keys":')); },
    }), { status: 200 });
    const started = Date.now();
    expect(await fetchIssuerJson('https://stalled.issuer.test/jwks', { ...rules, timeoutMs: 200, fetch: stalled }))
      .toEqual({ ok: false, note: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('stops reading a body over 256 KiB, with or without content-length', async () => {
    const issuer = await TestIssuer.create();
    await issuer.serve('/streamed', { behaviour: 'huge' });
    await issuer.serve('/declared', { behaviour: 'huge', headers: { 'content-length': String(64 * 16 * 1024) } });
    expect(await fetchIssuerJson(`${issuer.origin}/streamed`, rules)).toEqual({ ok: false, note: 'body over 262144 bytes' });
    expect(await fetchIssuerJson(`${issuer.origin}/declared`, rules)).toEqual({ ok: false, note: 'body over 262144 bytes' });
  });

  it('refuses http unless allowed, and then only on loopback, before any request', async () => {
    const path = `/${unique()}/doc`;
    await register(`http://127.0.0.1${path}`, { body: { hello: 'loopback' } });
    await register(`http://plain.issuer.test${path}`, { body: { hello: 'plain' } });
    expect(await fetchIssuerJson(`http://127.0.0.1${path}`, rules)).toEqual({ ok: false, note: 'url not allowed' });
    expect(await hitsOn({ url: `http://127.0.0.1${path}` })).toBe(0);
    expect(await fetchIssuerJson(`http://127.0.0.1${path}`, { ...rules, allowInsecure: true })).toMatchObject({ ok: true, body: { hello: 'loopback' } });
    expect(await fetchIssuerJson(`http://plain.issuer.test${path}`, { ...rules, allowInsecure: true })).toEqual({ ok: false, note: 'url not allowed' });
    expect(await hitsOn({ url: `http://plain.issuer.test${path}` })).toBe(0);
  });
});

describe('discoverJwksUri', () => {
  it('builds the well-known URLs from the issuer (appended for OIDC, inserted before the path for RFC 8414, SSF and RISC)', () => {
    expect(oidcDiscoveryUrl('https://a.test/')).toBe('https://a.test/.well-known/openid-configuration');
    expect(oidcDiscoveryUrl('https://a.test/tenant/x')).toBe('https://a.test/tenant/x/.well-known/openid-configuration');
    expect(oauthMetadataUrl('https://a.test/')).toBe('https://a.test/.well-known/oauth-authorization-server');
    expect(oauthMetadataUrl('https://a.test/tenant/x/')).toBe('https://a.test/.well-known/oauth-authorization-server/tenant/x');
    expect(ssfConfigurationUrl('https://tr.example.com')).toBe('https://tr.example.com/.well-known/ssf-configuration');
    expect(ssfConfigurationUrl('https://tr.example.com/issuer1')).toBe('https://tr.example.com/.well-known/ssf-configuration/issuer1');
    expect(ssfConfigurationUrl('https://tr.example.com/issuer1/')).toBe('https://tr.example.com/.well-known/ssf-configuration/issuer1');
    expect(riscConfigurationUrl('https://accounts.google.com/')).toBe('https://accounts.google.com/.well-known/risc-configuration');
    expect(ssfConfigurationUrl('not a url')).toBeNull();
  });

  it('reads jwks_uri from OpenID Connect discovery', async () => {
    const issuer = await TestIssuer.create({ path: '/realms/acme' });
    expect(await discoverJwksUri(issuer.issuer, rules)).toEqual({ ok: true, jwksUri: issuer.jwksUri, introspectionEndpoint: null });
    expect(await issuer.hits('/realms/acme/.well-known/openid-configuration')).toBe(1);
  });

  it('falls back to RFC 8414 when the OpenID path answers 404', async () => {
    const issuer = await TestIssuer.create({ path: '/tenant-a', publish: false });
    await issuer.serve('/.well-known/oauth-authorization-server/tenant-a', { body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri } });
    expect(await discoverJwksUri(issuer.issuer, rules)).toEqual({ ok: true, jwksUri: issuer.jwksUri, introspectionEndpoint: null });
    expect(await issuer.hits('/tenant-a/.well-known/openid-configuration')).toBe(1);
    expect(await issuer.hits('/.well-known/oauth-authorization-server/tenant-a')).toBe(1);
  });

  it('refuses a document naming another issuer', async () => {
    const issuer = await TestIssuer.create({ publish: false });
    await issuer.publish({ documentIssuer: `${issuer.issuer}other` });
    expect(await discoverJwksUri(issuer.issuer, rules)).toEqual({ ok: false, note: 'discovery: issuer mismatch' });
    // The trailing slash is part of the issuer: exact equality, no normalisation.
    const bare = await TestIssuer.create({ publish: false });
    await bare.publish({ documentIssuer: bare.origin });
    expect((await discoverJwksUri(bare.issuer, rules)).ok).toBe(false);
  });

  it('keeps the introspection_endpoint an issuer document names, under the same URL rule, and none of an SSF document', async () => {
    const issuer = await TestIssuer.create({ publish: false });
    const endpoint = `${issuer.origin}/oauth/introspect`;
    await register(issuer.discoveryUrl, { body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, introspection_endpoint: endpoint } });
    expect(await discoverJwksUri(issuer.issuer, rules)).toEqual({ ok: true, jwksUri: issuer.jwksUri, introspectionEndpoint: endpoint });
    for (const refused of [`http://${issuer.host}/introspect`, 'https://user:pw@elsewhere.test/i', 'not a url', 42]) {
      await register(issuer.discoveryUrl, { body: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, introspection_endpoint: refused } });
      expect(await discoverJwksUri(issuer.issuer, rules), String(refused)).toEqual({ ok: true, jwksUri: issuer.jwksUri, introspectionEndpoint: null });
    }
    const transmitter = await TestIssuer.create({ publish: false });
    await register(transmitter.ssfConfigurationUrl, { body: { issuer: transmitter.issuer, jwks_uri: transmitter.jwksUri, introspection_endpoint: endpoint } });
    expect(await discoverJwksUri(transmitter.issuer, rules, 'ssf')).toMatchObject({ ok: true, introspectionEndpoint: null });
  });

  it('refuses a jwks_uri that breaks the URL rule, and a redirected discovery', async () => {
    const issuer = await TestIssuer.create({ publish: false });
    await register(issuer.discoveryUrl, { body: { issuer: issuer.issuer, jwks_uri: `http://${issuer.host}/jwks` } });
    expect((await discoverJwksUri(issuer.issuer, rules)).ok).toBe(false);

    const moved = await TestIssuer.create({ publish: false });
    await register(moved.discoveryUrl, { status: 301, headers: { location: 'https://elsewhere.issuer.test/' } });
    expect((await discoverJwksUri(moved.issuer, rules)).ok).toBe(false);
  });
});
