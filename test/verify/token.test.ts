// verifyToken as a unit: local keys behind a fake KeySource, an injected clock, no network.
// Each denial test builds a token that triggers exactly one reason and asserts that code.
import { SignJWT, base64url, importJWK, type JWTPayload } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REASONS, invalidToken, ok, type Denial, type Outcome, type Reason } from '../../src/base/denial';
import type { KeyCandidate, KeySource } from '../../src/keys/key-source';
import { parseTenantConfig } from '../../src/config/schema';
import { compileTenant, type Tenant } from '../../src/tenants/tenant';
import { MAX_CREDENTIAL_BYTES, verifyToken, type VerifiedToken } from '../../src/verify/token';
import { makeKey, type TestKey } from '../support/issuer';

const API = 'https://api.acme.com';
const ISS_ES = 'https://es.issuer.test/';            // ES256 only
const ISS_AT = 'https://at.issuer.test/';            // RFC 9068: typ at+jwt, maxTokenAge 600
const ISS_COGNITO = 'https://cognito-idp.test/pool'; // audience in client_id
const ISS_MULTI = 'https://multi.issuer.test/';      // several keys, default algorithms

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const S0 = T0 / 1000;
let t = T0;
const now = () => t;

let tenant: Tenant;
let esKey: TestKey, atKey: TestKey, cognitoKey: TestKey, rsForEs: TestKey, edKey: TestKey, stranger: TestKey;
let multi: TestKey[];
const published = new Map<string, TestKey[]>();
const imported = new Map<TestKey, CryptoKey>();
let keyCalls = 0;
let keyDenial: Denial | null = null;

/** Like the key tiers: the kid's key, or up to 3 keys that fit the alg; unknown_kid otherwise. */
const keys: KeySource = {
  async candidates(issuer, header) {
    keyCalls++;
    if (keyDenial) return { ok: false, denial: keyDenial };
    const fitting = (published.get(issuer.issuer) ?? [])
      .filter((k) => k.alg === header.alg && (header.kid === undefined || k.kid === header.kid));
    if (fitting.length === 0) return invalidToken('unknown_kid');
    const found: KeyCandidate[] = fitting.slice(0, 3).map((k) => ({ key: imported.get(k)!, kid: k.kid }));
    return ok({ keys: found, tier: 'memory', version: 1 });
  },
};

beforeAll(async () => {
  [esKey, atKey, cognitoKey, rsForEs, edKey, stranger] = await Promise.all([
    makeKey('ES256', 'es-1'), makeKey('RS256', 'at-1'), makeKey('RS256', 'cog-1'),
    makeKey('RS256', 'es-1-rs'), makeKey('EdDSA', 'ed-1'), makeKey('ES256', 'm-4'),
  ]);
  multi = await Promise.all([makeKey('ES256', 'm-1'), makeKey('ES256', 'm-2'), makeKey('ES256', 'm-3')]);
  published.set(ISS_ES, [esKey, rsForEs]);
  published.set(ISS_AT, [atKey]);
  published.set(ISS_COGNITO, [cognitoKey]);
  published.set(ISS_MULTI, [...multi, edKey]);
  for (const key of [esKey, atKey, cognitoKey, rsForEs, edKey, stranger, ...multi]) {
    imported.set(key, await importJWK(key.publicJwk, key.alg) as CryptoKey);
  }
  const parsed = parseTenantConfig({
    id: 'acme',
    hosts: ['api.acme.com'],
    resource: API,
    routes: [{ path: '/api/*' }],
    issuers: [
      { issuer: ISS_ES, audiences: [API], algorithms: ['ES256'] },
      { issuer: ISS_AT, audiences: [API], requiredType: 'at+jwt', maxTokenAgeSeconds: 600 },
      { issuer: ISS_COGNITO, audiences: ['app-client-1'], audienceClaim: 'client_id', algorithms: ['RS256'] },
      { issuer: ISS_MULTI, audiences: [API, 'https://other.acme.com'] },
    ],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  tenant = compileTenant(parsed.config);
});

beforeEach(() => {
  t = T0;
  keyCalls = 0;
  keyDenial = null;
});

interface SignOptions { key?: TestKey; header?: Record<string, unknown>; crit?: Record<string, boolean> }

/** A token from ISS_ES by default: iat now, exp in an hour, aud API; `undefined` removes a claim. */
async function sign(claims: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
  const key = options.key ?? esKey;
  const payload: JWTPayload = { iss: ISS_ES, sub: 'user-1', aud: API, iat: S0, exp: S0 + 3600, ...claims };
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
  const header = { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header };
  for (const name of Object.keys(header)) if (header[name as keyof typeof header] === undefined) delete header[name as keyof typeof header];
  return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey, options.crit ? { crit: options.crit } : undefined);
}

const segment = (value: unknown) => base64url.encode(JSON.stringify(value));
/** A token assembled by hand (for what jose refuses to sign). */
const raw = (header: unknown, payload: unknown, signature = 'c2ln') => `${segment(header)}.${segment(payload)}.${signature}`;

const verify = (token: string) => verifyToken(token, { id: tenant.id, issuers: tenant.issuers, resource: API }, { now, keys });

const seen = new Set<Reason>();

async function expectReason(token: string, reason: Reason): Promise<void> {
  const outcome = await verify(token);
  expect(outcome.ok).toBe(false);
  if (outcome.ok) return;
  expect(outcome.denial).toMatchObject({ error: 'invalid_token', reason });
  // Notes go to the log: never the token or any of its segments.
  const text = JSON.stringify(outcome.denial);
  for (const part of token.split('.')) if (part.length > 8) expect(text).not.toContain(part);
  seen.add(reason);
}

async function expectVerified(token: string): Promise<VerifiedToken> {
  const outcome: Outcome<VerifiedToken> = await verify(token);
  if (!outcome.ok) expect.fail(`denied: ${JSON.stringify(outcome.denial)}`);
  return outcome.value;
}

describe('a good token', () => {
  it('verifies and exposes the identity', async () => {
    const verified = await expectVerified(await sign({ scope: 'read write', azp: 'spa' }));
    expect(verified.issuer.issuer).toBe(ISS_ES);
    expect(verified.subject).toBe('user-1');
    expect(verified.clientId).toBe('spa');
    expect([...verified.scopes]).toEqual(['read', 'write']);
    expect(verified.kid).toBe('es-1');
    expect(verified.alg).toBe('ES256');
    expect(verified.expiresAt).toBe(S0 + 3600);
    expect(verified.issuedAt).toBe(S0);
    expect(verified.keyTier).toBe('memory');
    expect(verified.claims.aud).toBe(API);
  });

  it('hands out its claims deep-frozen and its scopes read-only, from the first verification on', async () => {
    const verified = await expectVerified(await sign({ scope: 'read', realm_access: { roles: ['reader'] }, orgs: [{ id: 'o1' }] }));
    expect(Object.isFrozen(verified.claims)).toBe(true);
    expect(Object.isFrozen(verified.claims.realm_access)).toBe(true);
    expect(Object.isFrozen((verified.claims.realm_access as { roles: string[] }).roles)).toBe(true);
    expect(Object.isFrozen((verified.claims.orgs as object[])[0])).toBe(true);
    expect('add' in verified.scopes).toBe(false);
    expect(() => Set.prototype.add.call(verified.scopes, 'admin')).toThrow(TypeError);
    expect(verified.scopes.has('admin')).toBe(false);
    const seen: string[] = [];
    verified.scopes.forEach((scope) => seen.push(scope));
    expect([seen, [...verified.scopes.keys()], verified.scopes.size]).toEqual([['read'], ['read'], 1]);
  });

  it('has no subject, client id or scopes when the claims are absent', async () => {
    const verified = await expectVerified(await sign({ sub: undefined, iat: undefined }));
    expect(verified.subject).toBeNull();
    expect(verified.clientId).toBeNull();
    expect(verified.scopes.size).toBe(0);
    expect(verified.issuedAt).toBeNull();
  });

  it('verifies EdDSA from an issuer with the default algorithms', async () => {
    const verified = await expectVerified(await sign({ iss: ISS_MULTI }, { key: edKey }));
    expect(verified.alg).toBe('EdDSA');
  });
});

describe('malformed', () => {
  it('refuses credentials over 16 KiB without parsing them', async () => {
    await expectReason('a'.repeat(17 * 1024), 'malformed');
    const token = await sign({ pad: 'x'.repeat(MAX_CREDENTIAL_BYTES) });
    await expectReason(token, 'malformed');
    expect(keyCalls).toBe(0);
  });

  it('refuses what is not three base64url JSON objects', async () => {
    const good = await sign();
    const [h, p, s] = good.split('.');
    for (const token of [
      `${h}.${p}`, `${good}.${s}`, '..', `!!!.${p}.${s}`, `${h}.${p}=.${s}`,
      `${base64url.encode('not json')}.${p}.${s}`,
      `${segment(['alg', 'ES256'])}.${p}.${s}`,
      `${h}.${segment('a string')}.${s}`,
      `${h}.${base64url.encode(new Uint8Array([0xff, 0xfe]))}.${s}`,
    ]) await expectReason(token, 'malformed');
    expect(keyCalls).toBe(0);
  });

  it('refuses JSON nesting deeper than 32 levels, counting no bracket inside a string', async () => {
    const nested = (levels: number) => { let value: unknown = 1; for (let i = 0; i < levels; i++) value = [value]; return value; };
    // The payload object is the first level.
    await expectReason(await sign({ deep: nested(32) }), 'malformed');
    await expectVerified(await sign({ deep: nested(31) }));
    await expectVerified(await sign({ text: '[{'.repeat(500), quoted: '\\"[[[' }));
  });

  it('refuses a missing or non-string alg, a non-string kid, a non-string iss', async () => {
    const claims = { iss: ISS_ES, aud: API, exp: S0 + 60 };
    await expectReason(raw({ kid: 'es-1' }, claims), 'malformed');
    await expectReason(raw({ alg: 256 }, claims), 'malformed');
    await expectReason(await sign({}, { header: { kid: 7 } }), 'malformed');
    await expectReason(await sign({ iss: 42 as unknown as string }), 'malformed');
  });

  it('refuses a non-string sub', async () => {
    await expectReason(await sign({ sub: 12345 as unknown as string }), 'malformed');
  });

  it('requires exp, as a number', async () => {
    await expectReason(await sign({ exp: undefined }), 'malformed');
    await expectReason(await sign({ exp: String(S0 + 3600) as unknown as number }), 'malformed');
  });

  it('refuses nbf and iat that are not numbers', async () => {
    await expectReason(await sign({ nbf: 'yesterday' as unknown as number }), 'malformed');
    await expectReason(await sign({ iat: String(S0) as unknown as number }), 'malformed');
  });

  it('refuses a crit header it does not understand', async () => {
    await expectReason(await sign({}, { header: { crit: ['urn:example:ext'], 'urn:example:ext': 1 }, crit: { 'urn:example:ext': true } }), 'malformed');
    expect(keyCalls).toBe(0);
  });

  it('refuses scope, client id and audience claims of the wrong type', async () => {
    await expectReason(await sign({ scope: 7 }), 'malformed');
    await expectReason(await sign({ scp: ['read', 1] }), 'malformed');
    await expectReason(await sign({ cid: { id: 'x' } }), 'malformed');
    await expectReason(await sign({ aud: 3 as unknown as string }), 'malformed');
    await expectReason(await sign({ aud: [API, 3] as unknown as string[] }), 'malformed');
    await expectReason(await sign({ resource: { uri: API } }), 'malformed');
  });

  it('requires iat when the issuer caps token age', async () => {
    await expectReason(await sign({ iss: ISS_AT, iat: undefined }, { key: atKey, header: { typ: 'at+jwt' } }), 'malformed');
  });
});

describe('alg_not_allowed', () => {
  it('refuses alg none before looking at anything else', async () => {
    await expectReason(raw({ alg: 'none' }, { iss: ISS_ES, aud: API, exp: S0 + 60 }, ''), 'alg_not_allowed');
    await expectReason(`${segment({ alg: 'none' })}.%%%.`, 'alg_not_allowed');
    expect(keyCalls).toBe(0);
  });

  it('refuses HS256 even with a key the attacker knows', async () => {
    const secret = new TextEncoder().encode('a shared secret of 32 bytes!!!!!');
    const token = await new SignJWT({ iss: ISS_ES, aud: API, exp: S0 + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    await expectReason(token, 'alg_not_allowed');
    expect(keyCalls).toBe(0);
  });

  it("refuses RS256 for an issuer that allows ES256 only, whatever the key", async () => {
    await expectReason(await sign({}, { key: rsForEs }), 'alg_not_allowed');
    expect(keyCalls).toBe(0);
  });
});

describe('unknown_issuer', () => {
  it('refuses an iss the tenant does not list, or none', async () => {
    await expectReason(await sign({ iss: 'https://evil.test/' }), 'unknown_issuer');
    await expectReason(await sign({ iss: 'https://es.issuer.test' }), 'unknown_issuer'); // exact match only
    await expectReason(await sign({ iss: undefined }), 'unknown_issuer');
  });
});

describe('keys', () => {
  it('passes unknown_kid from the key source through', async () => {
    await expectReason(await sign({}, { header: { kid: 'rotated-away' } }), 'unknown_kid');
  });

  it('passes issuer_unavailable from the key source through', async () => {
    keyDenial = { error: 'issuer_unavailable', retryAfterSeconds: 30 };
    expect(await verify(await sign())).toEqual({ ok: false, denial: keyDenial });
  });

  it('tries a kid-less token against each of up to 3 keys', async () => {
    const verified = await expectVerified(await sign({ iss: ISS_MULTI }, { key: multi[2]!, header: { kid: undefined } }));
    expect(verified.kid).toBe('m-3');
    await expectReason(await sign({ iss: ISS_MULTI }, { key: stranger, header: { kid: undefined } }), 'bad_signature');
  });

  it('never takes a key from the jwk, jku, x5u or x5c headers', async () => {
    const header = { kid: 'es-1', jwk: stranger.publicJwk, jku: 'https://evil.test/jwks', x5u: 'https://evil.test/cert', x5c: ['AAAA'] };
    await expectReason(await sign({}, { key: stranger, header }), 'bad_signature');
  });
});

describe('bad_signature', () => {
  it('refuses a tampered payload', async () => {
    const [h, , s] = (await sign({ scope: 'read' })).split('.');
    await expectReason(`${h}.${segment({ iss: ISS_ES, sub: 'user-1', aud: API, iat: S0, exp: S0 + 3600, scope: 'admin' })}.${s}`, 'bad_signature');
  });

  it('refuses a signature of the wrong length', async () => {
    const [h, p] = (await sign()).split('.');
    await expectReason(`${h}.${p}.${base64url.encode(new Uint8Array(10))}`, 'bad_signature');
  });
});

describe('time', () => {
  it('accepts an expired token within the clock tolerance, not beyond', async () => {
    const token = await sign({ exp: S0 + 60 });
    t = T0 + 89_000;                                  // exp + 29 s
    await expectVerified(token);
    t = T0 + 91_000;                                  // exp + 31 s
    await expectReason(token, 'expired');
  });

  it('refuses nbf in the future beyond the tolerance', async () => {
    await expectVerified(await sign({ nbf: S0 + 29 }));
    await expectReason(await sign({ nbf: S0 + 31 }), 'not_yet_valid');
  });

  it('refuses iat in the future beyond the tolerance, with or without maxTokenAge', async () => {
    await expectVerified(await sign({ iat: S0 + 29 }));
    await expectReason(await sign({ iat: S0 + 31 }), 'not_yet_valid');
    await expectReason(await sign({ iss: ISS_AT, iat: S0 + 31 }, { key: atKey, header: { typ: 'at+jwt' } }), 'not_yet_valid');
  });

  it('refuses a token older than maxTokenAgeSeconds (plus tolerance)', async () => {
    const at = (iat: number) => sign({ iss: ISS_AT, iat }, { key: atKey, header: { typ: 'at+jwt' } });
    await expectVerified(await at(S0 - 629));
    await expectReason(await at(S0 - 631), 'too_old');
  });

  it('refuses a token older than the memory of revocations: iat more than revocation.retainSeconds ago (plus tolerance)', async () => {
    // A day by default; maxTokenAgeSeconds is not set for this issuer. A long-lived token is
    // refused once it is older than what the edge remembers of revocations.
    const long = (iat: number) => sign({ iat, exp: S0 + 365 * 86_400 });
    await expectVerified(await long(S0 - 86_400 - 30));
    await expectReason(await long(S0 - 86_400 - 31), 'too_old');
    await expectReason(await long(S0 - 30 * 86_400), 'too_old');
    // maxTokenAgeSeconds still applies when it is the smaller; retainSeconds when it is.
    const at = (iat: number) => sign({ iss: ISS_AT, iat }, { key: atKey, header: { typ: 'at+jwt' } });
    await expectReason(await at(S0 - 631), 'too_old');
    const short = await retaining(300);
    expect((await short(await sign({ iat: S0 - 330 }))).ok).toBe(true);
    expect(await short(await sign({ iat: S0 - 331 }))).toMatchObject({ ok: false, denial: { reason: 'too_old', note: expect.stringMatching(/retainSeconds/) } });
    expect(await short(await at(S0 - 331))).toMatchObject({ ok: false, denial: { reason: 'too_old', note: expect.stringMatching(/retainSeconds/) } });
  });

  it('refuses a token without iat whose exp is more than revocation.retainSeconds ahead (plus tolerance)', async () => {
    await expectVerified(await sign({ iat: undefined, exp: S0 + 86_400 + 30 }));
    await expectReason(await sign({ iat: undefined, exp: S0 + 86_400 + 31 }), 'too_old');
    await expectReason(await sign({ iat: undefined, exp: S0 + 365 * 86_400 }), 'too_old');
    // One that lives long: refused until its exp is within the memory, whatever its age.
    const lasting = await sign({ iat: undefined, exp: S0 + 2 * 86_400 });
    await expectReason(lasting, 'too_old');
    t = T0 + (86_400 - 30) * 1000;
    await expectVerified(lasting);
  });
});

/** verifyToken against the same tenant with another revocation.retainSeconds. */
async function retaining(retainSeconds: number) {
  const parsed = parseTenantConfig({ ...tenant.config, revocation: { ...tenant.config.revocation, retainSeconds } });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const short = compileTenant(parsed.config);
  return (token: string) => verifyToken(token, { id: short.id, issuers: short.issuers, resource: API }, { now, keys });
}

describe('audience and resource', () => {
  it('accepts the audience as a string or in an array', async () => {
    await expectVerified(await sign({ aud: API }));
    await expectVerified(await sign({ aud: ['https://elsewhere.test', API] }));
    await expectVerified(await sign({ iss: ISS_MULTI, aud: 'https://other.acme.com' }, { key: multi[0]! }));
  });

  it('refuses another, or no, audience', async () => {
    await expectReason(await sign({ aud: 'https://elsewhere.test' }), 'wrong_audience');
    await expectReason(await sign({ aud: ['https://elsewhere.test'] }), 'wrong_audience');
    await expectReason(await sign({ aud: [] }), 'wrong_audience');
    await expectReason(await sign({ aud: undefined }), 'wrong_audience');
  });

  it('reads the audience from the configured claim (Cognito client_id)', async () => {
    const cognito = (claims: JWTPayload) => sign({ iss: ISS_COGNITO, aud: undefined, ...claims }, { key: cognitoKey });
    const verified = await expectVerified(await cognito({ client_id: 'app-client-1', scope: 'aws.cognito.signin.user.admin' }));
    expect(verified.clientId).toBe('app-client-1');
    await expectReason(await cognito({ client_id: 'app-client-2' }), 'wrong_audience');
    await expectReason(await cognito({ aud: 'app-client-1' }), 'wrong_audience');
  });

  it('requires an RFC 8707 resource claim, when present, to include the resource', async () => {
    await expectVerified(await sign({ resource: API }));
    await expectVerified(await sign({ resource: ['https://elsewhere.test', API] }));
    await expectReason(await sign({ resource: 'https://elsewhere.test' }), 'wrong_resource');
    await expectReason(await sign({ resource: [] }), 'wrong_resource');
  });
});

describe('wrong_type', () => {
  const typed = (typ: string | undefined) => sign({ iss: ISS_AT }, { key: atKey, header: { typ } });

  it('accepts at+jwt in any case, with or without the application/ prefix', async () => {
    await expectVerified(await typed('at+jwt'));
    await expectVerified(await typed('application/at+jwt'));
    await expectVerified(await typed('AT+JWT'));
  });

  it('refuses another or no typ', async () => {
    await expectReason(await typed('JWT'), 'wrong_type');
    await expectReason(await typed(undefined), 'wrong_type');
  });
});

describe('scopes and client id', () => {
  it('unites scope (string), scp (array) and permissions', async () => {
    const verified = await expectVerified(await sign({ scope: 'read  write', scp: ['write', 'admin'], permissions: ['delete:all'] }));
    expect([...verified.scopes].sort()).toEqual(['admin', 'delete:all', 'read', 'write']);
  });

  it('takes the client id from cid (Okta) and appid (Entra v1), azp first', async () => {
    expect((await expectVerified(await sign({ cid: 'okta-client' }))).clientId).toBe('okta-client');
    expect((await expectVerified(await sign({ appid: 'entra-app' }))).clientId).toBe('entra-app');
    expect((await expectVerified(await sign({ appid: 'entra-app', azp: 'oidc-client' }))).clientId).toBe('oidc-client');
  });
});

// Last in the file (tests of a file run in order): every reason verification can give was
// produced above. wrong_tenant and revoked belong to the revocation step, pop_required and
// cert_mismatch to proof of possession (test/possession/decision.test.ts).
it('covers every reason code verification can give', () => {
  // Revocation, possession and introspection (test/introspection/) give the others.
  const elsewhere = new Set(['wrong_tenant', 'revoked', 'pop_required', 'cert_mismatch', 'inactive']);
  const expected = REASONS.filter((r) => !elsewhere.has(r));
  expect([...seen].sort()).toEqual([...expected].sort());
});
