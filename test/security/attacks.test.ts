// The attack corpus (RFC 8725 and the known JWT library bugs) against the whole Worker: each case
// is named after the attack and asserts the exact status and reason (or error code), and that
// neither the log nor the answer carries the credential.
import { base64url } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { TestIssuer, hitsOn, makeKey, register, type TestKey } from '../support/issuer';
import { type Echo, gatewayTest, tenantConfig, type TestEdge, uniqueTenant } from '../support/gateway';
import { b64, derOfRaw, expectDenial, forge, forgeHmac, signatureOf } from './forge';

let edge: TestEdge;
let issuer: TestIssuer;
let rsa: TestKey;
let ec: TestKey;
let host: string;
let id: string;
let audience: string;

gatewayTest('atk', { issuer: { algs: ['RS256', 'ES256'] } }, async (made) => {
  ({ edge, issuer, id, host } = made);
  [rsa, ec] = issuer.keys as [TestKey, TestKey];
  audience = `https://${host}`;
  await put();
});

async function put(extra: Record<string, unknown> = {}, options: { issuerExtra?: Record<string, unknown> } = {}) {
  const config = tenantConfig({
    id, hosts: [host], issuer,
    routes: [
      { path: '/health', auth: 'none' },
      { path: '/admin/*', scopes: ['admin'] },
      { path: '/*', auth: 'required' },
    ],
    ...extra,
  });
  if (options.issuerExtra) config.issuers = [{ ...config.issuers[0]!, ...options.issuerExtra }];
  await edge.putTenant(config);
}

const nowSeconds = () => Math.floor(edge.now / 1000);
const claims = (extra: Record<string, unknown> = {}) =>
  ({ iss: issuer.issuer, sub: 'user-1', aud: audience, iat: nowSeconds(), exp: nowSeconds() + 3600, scope: 'read', ...extra });
const claimsJson = (extra: Record<string, unknown> = {}) => JSON.stringify(claims(extra));
const good = (extra: Record<string, unknown> = {}, options: Parameters<TestIssuer['sign']>[1] = {}) =>
  issuer.sign({ sub: 'user-1', aud: audience, scope: 'read', ...extra }, { now: edge.now, ...options });

const call = (token: string, path = '/orders', init: RequestInit = {}) => edge.request(`https://${host}${path}`, { ...init, token });
/** Sends a token and asserts the refusal, with the log and description checks. */
async function refused(token: string, expected: { status: number; reason?: string; error?: string }, path = '/orders') {
  return expectDenial(await call(token, path), expected, { token, logs: edge.logs });
}
/** A control: the same shape of request, honestly made, is admitted. */
async function admitted(token: string, path = '/orders'): Promise<Echo> {
  const response = await call(token, path);
  expect(response.status, await response.clone().text()).toBe(200);
  return response.json() as Promise<Echo>;
}
const header = (extra: Record<string, unknown>, key: TestKey = rsa) => JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'JWT', ...extra });

describe('algorithm confusion (RFC 8725 §2.1, §3.1)', () => {
  it('HS256 signed with the RS256 public key bytes as the HMAC secret', async () => {
    await admitted(await good());
    const n = base64url.decode(rsa.publicJwk.n!);
    const pem = new TextEncoder().encode(JSON.stringify(rsa.publicJwk));
    for (const secret of [n, pem]) {
      await refused(await forgeHmac(header({ alg: 'HS256' }), claimsJson(), secret), { status: 401, reason: 'alg_not_allowed' });
    }
  });

  it('HS256 even when the tenant config lists it', async () => {
    // The schema refuses HMAC in the allowlist outright; the token is refused either way.
    const response = await edge.fetch(new Request(`http://admin.localhost/tenants/${id}`, {
      method: 'PUT', headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ id, hosts: [host], issuers: [{ issuer: issuer.issuer, audiences: [audience], algorithms: ['HS256'] }] }),
    }));
    expect(response.status).toBe(400);
    await refused(await forgeHmac(header({ alg: 'HS256' }), claimsJson(), new Uint8Array(32)), { status: 401, reason: 'alg_not_allowed' });
  });

  for (const none of ['none', 'None', 'NONE', 'nOnE']) {
    it(`alg "${none}" with an empty signature`, async () => {
      await refused(`${b64(header({ alg: none }))}.${b64(claimsJson())}.`, { status: 401, reason: 'alg_not_allowed' });
      await refused(`${b64(JSON.stringify({ alg: none }))}.${b64(claimsJson())}.`, { status: 401, reason: 'alg_not_allowed' });
    });
  }

  it('an allowed-everywhere alg the issuer does not allow (ES256 for an RS256-only issuer)', async () => {
    await put({}, { issuerExtra: { algorithms: ['RS256'] } });
    await refused(await good({}, { key: ec }), { status: 401, reason: 'alg_not_allowed' });
  });

  it('the RSA key used under PS256 (a key whose alg differs from the token is ignored)', async () => {
    const jwk = await crypto.subtle.exportKey('jwk', rsa.privateKey) as JsonWebKey;
    delete jwk.alg;
    const pss = await crypto.subtle.importKey('jwk', jwk, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
    await refused(await forge(header({ alg: 'PS256' }), claimsJson(), { ...rsa, alg: 'PS256', privateKey: pss }), { status: 401, reason: 'unknown_kid' });
  });

  it('alg missing or not a string', async () => {
    await refused(await forge(JSON.stringify({ kid: rsa.kid }), claimsJson(), rsa), { status: 401, reason: 'malformed' });
    await refused(await forge(JSON.stringify({ alg: ['RS256'], kid: rsa.kid }), claimsJson(), rsa), { status: 401, reason: 'malformed' });
  });
});

describe('keys supplied by the token header (RFC 8725 §3.10): never used, never fetched', () => {
  let attacker: TestKey;
  let attackerUrl: string;

  beforeEach(async () => {
    attacker = await makeKey('RS256', 'attacker-key');
    attackerUrl = `https://evil-${id}.attacker.test/jwks.json`;
    await register(attackerUrl, { body: { keys: [attacker.publicJwk] } });
  });

  it('jwk: an embedded public key with its own kid', async () => {
    const token = await forge(header({ kid: attacker.kid, jwk: attacker.publicJwk }, attacker), claimsJson(), attacker);
    await refused(token, { status: 401, reason: 'unknown_kid' });
  });

  it('jwk: an embedded public key claiming the issuer\'s kid', async () => {
    const token = await forge(header({ kid: rsa.kid, jwk: { ...attacker.publicJwk, kid: rsa.kid } }), claimsJson(), attacker);
    await refused(token, { status: 401, reason: 'bad_signature' });
  });

  for (const name of ['jku', 'x5u'] as const) {
    it(`${name}: a URL to the attacker's key set is never fetched`, async () => {
      const withKid = await forge(header({ kid: attacker.kid, [name]: attackerUrl }, attacker), claimsJson(), attacker);
      await refused(withKid, { status: 401, reason: 'unknown_kid' });
      const issuerKid = await forge(header({ kid: rsa.kid, [name]: attackerUrl }), claimsJson(), attacker);
      await refused(issuerKid, { status: 401, reason: 'bad_signature' });
      expect(await hitsOn({ url: attackerUrl })).toBe(0);
    });
  }

  it('x5c: an embedded certificate chain is ignored', async () => {
    const chain = [base64url.decode(attacker.publicJwk.n!)].map((bytes) => btoa(String.fromCharCode(...bytes)));
    await refused(await forge(header({ kid: rsa.kid, x5c: chain }), claimsJson(), attacker), { status: 401, reason: 'bad_signature' });
    await refused(await forge(header({ kid: undefined, x5c: chain }), claimsJson(), attacker), { status: 401, reason: 'bad_signature' });
  });

  it('a kid-less token signed by another key is tried against the issuer\'s keys only', async () => {
    await refused(await forge(JSON.stringify({ alg: 'RS256' }), claimsJson(), attacker), { status: 401, reason: 'bad_signature' });
    await admitted(await forge(JSON.stringify({ alg: 'RS256' }), claimsJson(), rsa));
  });
});

describe('kid abuse', () => {
  const hostile = {
    'path traversal': '../../../../../etc/passwd',
    'path traversal, encoded': '..%2F..%2Fjwks%00',
    'SQL-ish': "' OR '1'='1'; DROP TABLE keys; --",
    'very long': 'k'.repeat(8_000),
    'a URL': 'https://attacker.test/jwks.json',
    'control characters': 'k\u0000\n\r"\\',
  };
  for (const [name, kid] of Object.entries(hostile)) {
    it(`kid: ${name}`, async () => {
      const before = await issuer.hits();
      await refused(await forge(header({ kid }), claimsJson(), rsa), { status: 401, reason: 'unknown_kid' });
      // At most the one kid-miss refetch of the configured documents; the kid names no URL.
      const after = await issuer.hits();
      expect(after - before).toBeLessThanOrEqual(2);
      expect(after).toBe(await issuer.hits('/jwks') + await hitsOn({ url: issuer.discoveryUrl }));
    });
  }

  for (const [name, kid] of Object.entries({ number: 1, null: null, object: { $ne: '' }, array: ['k1'], boolean: true })) {
    it(`kid: not a string (${name})`, async () => {
      await refused(await forge(header({ kid }), claimsJson(), rsa), { status: 401, reason: 'malformed' });
    });
  }
});

describe('cross-JWT confusion (RFC 8725 §2.8, §3.11)', () => {
  it('an ID token (aud = the client id) presented to the API', async () => {
    await refused(await good({ aud: 'spa-client-id', azp: 'spa-client-id', nonce: 'n-0S6_WzA2Mj' }), { status: 401, reason: 'wrong_audience' });
  });

  it('an ID token without any audience claim', async () => {
    await refused(await good({ aud: undefined }), { status: 401, reason: 'wrong_audience' });
  });

  describe('requiredType at+jwt (RFC 9068)', () => {
    beforeEach(() => put({}, { issuerExtra: { requiredType: 'at+jwt' } }));

    it('an ID token (typ JWT) is refused', async () => {
      await refused(await good(), { status: 401, reason: 'wrong_type' });
    });
    it('a token without typ is refused', async () => {
      await refused(await forge(JSON.stringify({ alg: 'RS256', kid: rsa.kid }), claimsJson(), rsa), { status: 401, reason: 'wrong_type' });
    });
    it('a look-alike typ is refused', async () => {
      for (const typ of ['at+jwt2', 'at+JWT ', 'application/jwt', 'xapplication/at+jwt', 'at jwt']) {
        await refused(await good({}, { header: { typ } }), { status: 401, reason: 'wrong_type' });
      }
    });
    // typ is a header parameter, not a claim: jose reports it as a failed typ check.
    it('a typ that is not a string is the wrong type', async () => {
      for (const typ of [['at+jwt'], 1, null, { at: 'jwt' }]) {
        await refused(await forge(header({ typ }), claimsJson(), rsa), { status: 401, reason: 'wrong_type' });
      }
    });
    it('at+jwt in any case and with the application/ prefix is admitted', async () => {
      for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt']) await admitted(await good({}, { header: { typ } }));
    });
  });
});

describe('cross-tenant replay', () => {
  let other: { id: string; host: string };

  beforeEach(async () => {
    const t = uniqueTenant('atk-b');
    other = { id: t.id, host: `api.${t.domain}` };
  });

  it("tenant A's token on tenant B's host, same issuer, each with its own audience", async () => {
    await edge.putTenant(tenantConfig({ id: other.id, hosts: [other.host], issuer }));
    const token = await good();
    await admitted(token);
    await expectDenial(await edge.request(`https://${other.host}/orders`, { token }), { status: 401, reason: 'wrong_audience' },
      { token, logs: edge.logs });
  });

  it('a shared audience bound to the tenant by tenantClaim', async () => {
    await put({ revocation: { tenantClaim: 'tid' } });
    await edge.putTenant(tenantConfig({ id: other.id, hosts: [other.host], issuer, audience, revocation: { tenantClaim: 'tid' } }));
    const token = await good({ tid: id });
    await admitted(token);
    await expectDenial(await edge.request(`https://${other.host}/orders`, { token }), { status: 401, reason: 'wrong_tenant' },
      { token, logs: edge.logs });
    await expectDenial(await edge.request(`https://${other.host}/orders`, { token: await good() }), { status: 401, reason: 'wrong_tenant' });
  });

  it('a shared audience bound to the tenant by an RFC 8707 resource claim', async () => {
    await edge.putTenant(tenantConfig({ id: other.id, hosts: [other.host], issuer, audience }));
    const token = await good({ resource: audience });
    await admitted(token);
    await expectDenial(await edge.request(`https://${other.host}/orders`, { token }), { status: 401, reason: 'wrong_resource' },
      { token, logs: edge.logs });
  });
});

describe('signature validation bugs', () => {
  const esToken = () => good({}, { key: ec });
  const withSignature = (token: string, signature: Uint8Array | string) =>
    `${token.slice(0, token.lastIndexOf('.'))}.${typeof signature === 'string' ? signature : b64(signature)}`;

  it('CVE-2022-21449 "psychic signature": ES256 with r = s = 0', async () => {
    await admitted(await esToken());
    await refused(withSignature(await esToken(), new Uint8Array(64)), { status: 401, reason: 'bad_signature' });
  });

  it('ES256 with r = s = n (the curve order)', async () => {
    const order = Uint8Array.from(atob('/////wAAAAD//////////7zm+q2nF56E87nKwvxjJVE='), (c) => c.charCodeAt(0));
    const sig = new Uint8Array(64);
    sig.set(order, 0);
    sig.set(order, 32);
    await refused(withSignature(await esToken(), sig), { status: 401, reason: 'bad_signature' });
  });

  it('ES256 with a DER-encoded instead of raw r||s signature', async () => {
    const token = await esToken();
    const der = derOfRaw(base64url.decode(signatureOf(token)));
    await refused(withSignature(token, der), { status: 401, reason: 'bad_signature' });
  });

  it('truncated signatures', async () => {
    for (const token of [await esToken(), await good()]) {
      const sig = base64url.decode(signatureOf(token));
      await refused(withSignature(token, sig.slice(0, sig.length - 1)), { status: 401, reason: 'bad_signature' });
      await refused(withSignature(token, sig.slice(0, sig.length / 2)), { status: 401, reason: 'bad_signature' });
      await refused(withSignature(token, ''), { status: 401, reason: 'bad_signature' });
    }
  });

  it('padded signatures (extra bytes after a valid one)', async () => {
    for (const token of [await esToken(), await good()]) {
      const sig = base64url.decode(signatureOf(token));
      await refused(withSignature(token, new Uint8Array([...sig, 0])), { status: 401, reason: 'bad_signature' });
      await refused(withSignature(token, new Uint8Array([0, ...sig])), { status: 401, reason: 'bad_signature' });
    }
  });

  it('a signature from another key with the same kid', async () => {
    const impostor = await makeKey('RS256', rsa.kid);
    await refused(await good({}, { key: impostor }), { status: 401, reason: 'bad_signature' });
    const ecImpostor = await makeKey('ES256', ec.kid);
    await refused(await good({}, { key: ecImpostor }), { status: 401, reason: 'bad_signature' });
  });

  it('a valid signature over another payload (claims swapped after signing)', async () => {
    const token = await good({ scope: 'read' });
    const [h, , s] = token.split('.');
    await refused(`${h}.${b64(claimsJson({ scope: 'admin' }))}.${s}`, { status: 401, reason: 'bad_signature' }, '/admin/users');
  });
});

describe('malformed encodings', () => {
  it('standard base64 characters "+" and "/" in a segment', async () => {
    const token = await good();
    const [h, p, s] = token.split('.') as [string, string, string];
    await refused(`${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+/`, { status: 401, reason: 'malformed' });
    await refused(`${h}+.${p}.${s}`, { status: 401, reason: 'malformed' });
    await refused(`${h}.${p}/.${s}`, { status: 401, reason: 'malformed' });
  });

  it('"=" padding', async () => {
    const token = await good();
    const [h, p, s] = token.split('.') as [string, string, string];
    // '=' inside the credential is not a b64token at all (RFC 6750 §2.1 allows it only at the end).
    await expectDenial(await call(`${h}=.${p}.${s}`), { status: 400, error: 'invalid_request' });
    await expectDenial(await call(`${h}.${p}=.${s}`), { status: 400, error: 'invalid_request' });
    // A padded signature segment would give one token a second spelling (jose's decoder takes it).
    await refused(`${token}==`, { status: 401, reason: 'malformed' });
  });

  it('whitespace inside the token', async () => {
    const token = await good();
    const [h, p, s] = token.split('.') as [string, string, string];
    for (const broken of [`${h}. ${p}.${s}`, `${h}.${p}\t.${s}`, `${h.slice(0, 5)} ${h.slice(5)}.${p}.${s}`]) {
      await expectDenial(await call(broken), { status: 400, error: 'invalid_request' }, { token: broken, logs: edge.logs });
    }
  });

  it('not three segments', async () => {
    const token = await good();
    await refused(token.split('.').slice(0, 2).join('.'), { status: 401, reason: 'malformed' });
    await refused(`${token}.${signatureOf(token)}`, { status: 401, reason: 'malformed' });
    await refused('..', { status: 401, reason: 'malformed' });
  });

  it('a header or payload that is not JSON, or not an object', async () => {
    for (const [h, p] of [
      ['not json', claimsJson()], [header({}), 'not json'], ['[]', claimsJson()], [header({}), '[1,2]'],
      ['"RS256"', claimsJson()], [header({}), 'null'], [header({}), '1e9'], [header({}) + 'x', claimsJson()],
    ] as const) {
      await refused(await forge(h, p, rsa), { status: 401, reason: 'malformed' });
    }
  });

  it('a header that is not UTF-8', async () => {
    const input = `${b64(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))}.${b64(claimsJson())}`;
    await refused(`${input}.c2lnbmF0dXJl`, { status: 401, reason: 'malformed' });
  });

  // JSON.parse (ours and jose's) keeps the last of duplicate members. What matters is that the
  // issuer chosen for the keys is the one jose then checks `iss` against, under the signature.
  it('duplicate "iss": the last one wins, and it is the one jose verifies', async () => {
    const base = claimsJson().slice(1);
    const lastIsReal = await forge(header({}), `{"iss":"https://evil.attacker.test/",${base}`, rsa);
    const echo = await admitted(lastIsReal);
    expect(echo.headers['x-auth-issuer']).toBe(issuer.issuer);
    const lastIsEvil = await forge(header({}), `{${base.slice(0, -1)},"iss":"https://evil.attacker.test/"}`, rsa);
    await refused(lastIsEvil, { status: 401, reason: 'unknown_issuer' });
  });

  it('duplicate "alg": the last one wins in the allowlist check and in jose alike', async () => {
    await admitted(await forge(`{"alg":"none","kid":"${rsa.kid}","alg":"RS256"}`, claimsJson(), rsa));
    await refused(await forge(`{"alg":"RS256","kid":"${rsa.kid}","alg":"none"}`, claimsJson(), rsa), { status: 401, reason: 'alg_not_allowed' });
  });

  it('duplicate "sub" and "scope": the identity is the last value', async () => {
    const base = claimsJson({ sub: undefined, scope: undefined }).slice(1);
    const token = await forge(header({}), `{"sub":"admin","scope":"admin",${base.slice(0, -1)},"sub":"user-9","scope":"read"}`, rsa);
    const echo = await admitted(token);
    expect(echo.headers['x-auth-subject']).toBe('user-9');
    expect(echo.headers['x-auth-scopes']).toBe('read');
    await refused(token, { status: 403, error: 'insufficient_scope' }, '/admin/users');
  });
});

describe('hostile numbers and claim types', () => {
  const signed = (payload: string) => forge(header({}), payload, rsa);
  const withExp = (exp: string) => signed(`${claimsJson({ exp: undefined }).slice(0, -1)},"exp":${exp}}`);

  it('exp beyond a double (1e309 parses as Infinity: a token that never expires)', async () => {
    await refused(await withExp('1e309'), { status: 401, reason: 'malformed' });
  });
  it('exp as a string', async () => {
    await refused(await withExp(`"${nowSeconds() + 3600}"`), { status: 401, reason: 'malformed' });
  });
  it('exp negative', async () => {
    await refused(await withExp('-1'), { status: 401, reason: 'expired' });
    // -1e309 parses as -Infinity: a non-finite number is malformed, whichever way it points.
    await refused(await withExp('-1e309'), { status: 401, reason: 'malformed' });
  });
  it('exp missing, null, boolean, array, object', async () => {
    await refused(await signed(claimsJson({ exp: undefined })), { status: 401, reason: 'malformed' });
    for (const exp of ['null', 'true', '[9999999999]', '{"$gt":0}']) await refused(await withExp(exp), { status: 401, reason: 'malformed' });
  });
  it('exp non-integer (a NumericDate may have a fraction)', async () => {
    await admitted(await withExp(`${nowSeconds() + 3600}.5`));
    await refused(await withExp(`${nowSeconds() - 3600}.5`), { status: 401, reason: 'expired' });
  });
  it('iat and nbf far in the future, or beyond a double', async () => {
    await refused(await signed(claimsJson({ iat: nowSeconds() + 3600 })), { status: 401, reason: 'not_yet_valid' });
    await refused(await signed(claimsJson({ nbf: nowSeconds() + 3600 })), { status: 401, reason: 'not_yet_valid' });
    // 1e309 parses as Infinity: a non-finite number is malformed.
    await refused(await signed(`${claimsJson({ iat: undefined }).slice(0, -1)},"iat":1e309}`), { status: 401, reason: 'malformed' });
    await refused(await signed(`${claimsJson().slice(0, -1)},"nbf":1e309}`), { status: 401, reason: 'malformed' });
  });
  it('iat or nbf as strings', async () => {
    await refused(await signed(claimsJson({ iat: String(nowSeconds()) })), { status: 401, reason: 'malformed' });
    await refused(await signed(claimsJson({ nbf: String(nowSeconds()) })), { status: 401, reason: 'malformed' });
  });

  const wrongTypes: Record<string, unknown[]> = {
    iss: [1, null, [{}], ['x']],
    sub: [1, null, ['user-1'], { id: 1 }],
    scope: [1, { admin: true }, ['read', 1], [null]],
    aud: [1, null, [1], ['https://other.test', 2], { 0: 'x' }],
    azp: [1, ['spa']],
  };
  for (const [claim, values] of Object.entries(wrongTypes)) {
    it(`${claim} of the wrong JSON type`, async () => {
      for (const value of values) {
        // JSON null and an absent iss are both "no issuer we know" for lookup; null is a wrong type.
        await refused(await signed(claimsJson({ [claim]: value })), { status: 401, reason: 'malformed' });
      }
    });
  }

  it('aud as an array holding the audience among others', async () => {
    await admitted(await signed(claimsJson({ aud: ['https://other.test', audience] })));
  });
});

describe('oversized credentials', () => {
  it('a token over 16 KiB is malformed without being parsed', async () => {
    const token = await good({ pad: 'x'.repeat(16 * 1024) });
    await refused(token, { status: 401, reason: 'malformed' });
    expect(edge.decisions().at(-1)).toMatchObject({ reason: 'malformed', note: 'credentials over 16 KiB' });
  });

  it('an Authorization header over 16 KiB of anything is malformed', async () => {
    for (const junk of ['a'.repeat(17_000), `${'a,'.repeat(9_000)}`, `${'~'.repeat(17_000)}`]) {
      const response = await edge.fetch(new Request(`https://${host}/orders`, { headers: { authorization: `Bearer ${junk}` } }));
      await expectDenial(response, { status: 401, reason: 'malformed' }, { logs: edge.logs, input: [junk.slice(0, 64)] });
    }
  });

  it('a token just under the limit that is valid is admitted', async () => {
    const token = await good({ pad: 'x'.repeat(11 * 1024) });
    expect(token.length).toBeLessThan(16 * 1024);
    await admitted(token);
  });

  it('a huge header elsewhere does not change the decision', async () => {
    const token = await good();
    const response = await edge.request(`https://${host}/orders`, { token, headers: { 'x-filler': 'y'.repeat(64 * 1024) } });
    expect(response.status).toBe(200);
  });
});

describe('credentials in two places at once (RFC 6750 §2: one method per request; the contract: header only)', () => {
  it('Authorization twice', async () => {
    const token = await good();
    const headers = new Headers();
    headers.append('authorization', `Bearer ${token}`);
    headers.append('authorization', `Bearer ${await good({ sub: 'user-2' })}`);
    await expectDenial(await edge.fetch(new Request(`https://${host}/orders`, { headers })), { status: 400, error: 'invalid_request' },
      { token, logs: edge.logs });
  });

  it('Authorization twice, the same token', async () => {
    const token = await good();
    const headers = new Headers();
    headers.append('authorization', `Bearer ${token}`);
    headers.append('authorization', `Bearer ${token}`);
    await expectDenial(await edge.fetch(new Request(`https://${host}/orders`, { headers })), { status: 400, error: 'invalid_request' });
  });

  it('two tokens in one Authorization header', async () => {
    const token = await good();
    for (const value of [`Bearer ${token} ${token}`, `Bearer ${token},${token}`, `Bearer ${token} Bearer ${token}`]) {
      await expectDenial(await edge.fetch(new Request(`https://${host}/orders`, { headers: { authorization: value } })),
        { status: 400, error: 'invalid_request' }, { token, logs: edge.logs });
    }
  });

  it('the header and the access_token query parameter', async () => {
    const token = await good();
    const response = await edge.request(`https://${host}/orders?access_token=${token}`, { token });
    await expectDenial(response, { status: 400, error: 'invalid_request' }, { token, logs: edge.logs });
  });

  it('the access_token query parameter alone is ignored', async () => {
    const token = await good();
    await expectDenial(await edge.request(`https://${host}/orders?access_token=${token}`), { status: 401, error: 'missing_token' },
      { token, logs: edge.logs });
  });

  it('a body access_token form field is never read: alone it is no token, with a bad header it does not rescue it', async () => {
    const token = await good();
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `access_token=${token}` };
    await expectDenial(await edge.request(`https://${host}/orders`, form), { status: 401, error: 'missing_token' }, { token, logs: edge.logs });
    const forged = await forge(header({}), claimsJson(), await makeKey('RS256', rsa.kid));
    await expectDenial(await edge.request(`https://${host}/orders`, { ...form, token: forged }), { status: 401, reason: 'bad_signature' });
    // With a good header token the body passes through to the origin untouched.
    const echo = await (await edge.request(`https://${host}/orders`, { ...form, token: await good({ sub: 'user-3' }) })).json() as Echo;
    expect(echo.headers['x-auth-subject']).toBe('user-3');
  });
});

describe('scheme and header syntax', () => {
  it('a scheme other than Bearer or DPoP, or no token', async () => {
    const token = await good();
    for (const value of [`Basic ${btoa('a:b')}`, `Token ${token}`, 'Bearer', 'Bearer ', `Bearer${token}`, `DPoPx ${token}`, 'DPoP ']) {
      await expectDenial(await edge.fetch(new Request(`https://${host}/orders`, { headers: { authorization: value } })),
        { status: 400, error: 'invalid_request' }, { token, logs: edge.logs });
    }
  });

  it('a bearer token sent with the DPoP scheme is not DPoP-bound (RFC 9449 §7.1)', async () => {
    const token = await good();
    for (const scheme of ['DPoP', 'dpop', 'DPOP']) {
      await expectDenial(await edge.fetch(new Request(`https://${host}/orders`, { headers: { authorization: `${scheme} ${token}` } })),
        { status: 401, reason: 'pop_required' }, { token, logs: edge.logs });
    }
  });

  it('the scheme in any case is Bearer', async () => {
    const token = await good();
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const response = await edge.fetch(new Request(`https://${host}/orders`, { headers: { authorization: `${scheme} ${token}` } }));
      expect(response.status).toBe(200);
    }
  });

  it('a crit header this verifier does not understand', async () => {
    await refused(await forge(header({ crit: ['exp'], exp: 1 }), claimsJson(), rsa), { status: 401, reason: 'malformed' });
    await refused(await forge(header({ b64: false, crit: ['b64'] }), claimsJson(), rsa), { status: 401, reason: 'malformed' });
  });

  it('spoofed identity headers from the client never reach the origin', async () => {
    const echo = await (await edge.request(`https://${host}/orders`, {
      token: await good(), headers: { 'x-auth-subject': 'root', 'X-Auth-Tenant': 'other', 'x-auth-scopes': 'admin' },
    })).json() as Echo;
    expect(echo.headers['x-auth-subject']).toBe('user-1');
    expect(echo.headers['x-auth-tenant']).toBe(id);
    expect(echo.headers['x-auth-scopes']).toBe('read');
    const open = await (await edge.request(`https://${host}/health`, { headers: { 'x-auth-subject': 'root' } })).json() as Echo;
    expect(open.headers['x-auth-subject']).toBeUndefined();
  });
});

describe('paths that try to escape a route', () => {
  it('case, encoding and slash variants of /admin still need the admin scope', async () => {
    const token = await good();
    for (const path of ['/ADMIN/users', '/Admin/users', '/%61dmin/users', '/%41DMIN/users', '//admin/users', '/admin/./users',
      '/x/../admin/users', '/admin', '/%2e%2e/admin/users']) {
      await expectDenial(await call(token, path), { status: 403, error: 'insufficient_scope' }, { token, logs: edge.logs });
    }
  });
  it('encoded slash, backslash and NUL', async () => {
    const token = await good({ scope: 'admin' });
    for (const path of ['/admin%2Fusers', '/health%2f..%2fadmin', '/admin%5cusers', '/health%00']) {
      await expectDenial(await call(token, path), { status: 400, error: 'invalid_request' });
    }
  });
  it('auth:none only on its exact path', async () => {
    for (const path of ['/HEALTH', '/Health', '/%68ealth', '/health/', '/health/x']) {
      await expectDenial(await edge.request(`https://${host}${path}`), { status: 401, error: 'missing_token' });
    }
    expect((await edge.request(`https://${host}/health`)).status).toBe(200);
  });
});
