// The tenant's edge key (docs/admin-api.md "GET /tenants/:id/jwks"): an ES256 key the edge
// makes when the tenant is created, kept across replaces, new after DELETE and create, its
// private part sealed like a write-only secret and never answered, its public part at
// GET /tenants/:id/jwks, and imported once (non-extractable) for tenants that sign with it.
import { env } from 'cloudflare:workers';
import { base64url, calculateJwkThumbprint, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app';
import type { Env } from '../../src/env';
import { settingsOf } from '../../src/config/settings';
import { directoryStub } from '../../src/tenants/directory';
import { hostKey, tenantKey } from '../../src/tenants/kv-keys';
import { edgeKeyPlace } from '../../src/tenants/edge-key';
import { secretAad } from '../../src/tenants/secrets';
import { createTenantStore } from '../../src/tenants/store';
import { config, unique } from '../tenants/fixtures';
import { adminCaller, json } from './caller';

let log: ReturnType<typeof vi.spyOn>;
const app = createAdminApp({ now: () => 1_800_000_000_000 });
const call = adminCaller(app);
const put = (id: string, body: unknown, options: { env?: Env } = {}) => call('PUT', `/tenants/${id}`, { body, ...options });
const jwks = async (id: string) => (await json(await call('GET', `/tenants/${id}/jwks`))).keys as JWK[];
const rawRecord = async (id: string) => JSON.parse((await env.TENANTS.get(tenantKey(id), 'text'))!);
const PREVIOUS_KEY = base64url.encode(new Uint8Array(32).fill(5));

beforeEach(() => { log = vi.spyOn(console, 'log').mockImplementation(() => {}); });
afterEach(() => log.mockRestore());

const resolve = (host: string, vars: Partial<Env> = {}) => createTenantStore({ now: () => 0 })
  .resolve(host, { kv: env.TENANTS, cacheSeconds: 30, secrets: settingsOf({ ...env, ...vars } as Env).secrets });
const signing = (id: string, host: string) => config(id, [host], {
  issuers: [{ issuer: 'https://idp.example/', audiences: ['x'], introspection: { clientId: 'edge-rs', clientAuth: 'private_key_jwt' } }],
});

describe('GET /tenants/:id/jwks', () => {
  it('answers the public ES256 key made at create: kid its RFC 7638 thumbprint, alg ES256, use sig, no private part', async () => {
    const { id, domain } = unique('jwk');
    expect((await put(id, config(id, [`api.${domain}`]))).status).toBe(201);
    const response = await call('GET', `/tenants/${id}/jwks`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const keys = (await json(response)).keys as JWK[];
    expect(keys).toHaveLength(1);
    const [key] = keys as [JWK];
    expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.x!, y: key.y! }, 'sha256'));
  });

  it('keeps the key across replaces, and makes a new one when the tenant is created again after DELETE', async () => {
    const { id, domain } = unique('jwk');
    await put(id, config(id, [`api.${domain}`]));
    const [first] = await jwks(id);
    await put(id, config(id, [`api.${domain}`], { upstream: 'https://origin.example' }));
    await put(id, await json(await call('GET', `/tenants/${id}`)));
    expect((await jwks(id))[0]).toEqual(first);
    expect((await call('DELETE', `/tenants/${id}`)).status).toBe(204);
    await put(id, config(id, [`api.${domain}`]));
    expect((await jwks(id))[0]!.kid).not.toBe(first!.kid);
  });

  it('stores the private part sealed, in KV and the Directory, and never shows it in the config', async () => {
    const { id, domain } = unique('jwk');
    await put(id, config(id, [`api.${domain}`]));
    const [key] = await jwks(id);
    for (const text of [await env.TENANTS.get(tenantKey(id), 'text'), await env.TENANTS.get(hostKey(`api.${domain}`), 'text'),
      (await directoryStub(env.DIRECTORY).recordOf(id))!.json]) {
      expect(JSON.parse(text!).edgeKey).toEqual({ kid: key!.kid, x: key!.x, y: key!.y, d: { sealed: expect.stringMatching(/^v1\./) } });
    }
    const view = await (await call('GET', `/tenants/${id}`)).text();
    expect(view).not.toContain('edgeKey');
    expect(view).not.toContain(key!.x);
  });

  it('refuses a PUT that sets the edge key itself, and keeps the one it has', async () => {
    const { id, domain } = unique('jwk');
    await put(id, config(id, [`api.${domain}`]));
    const before = (await rawRecord(id)).edgeKey;
    for (const edgeKey of [before, { kid: 'mine', x: 'a', y: 'b', d: 'c' }, null]) {
      const response = await put(id, config(id, [`api.${domain}`], { edgeKey }));
      expect(response.status).toBe(400);
      expect((await json(response)).issues).toContainEqual({
        path: '/edgeKey', message: 'made by the edge when the tenant is created (GET /tenants/:id/jwks); it cannot be written',
      });
    }
    expect((await rawRecord(id)).edgeKey).toEqual(before);
  });

  it('answers 404 for an unknown tenant, HEAD like GET, and 405 with Allow for other methods', async () => {
    expect((await json(await call('GET', '/tenants/nobody-here/jwks'))).error).toBe('unknown_tenant');
    const { id, domain } = unique('jwk');
    await put(id, config(id, [`api.${domain}`]));
    const head = await call('HEAD', `/tenants/${id}/jwks`);
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await call('POST', `/tenants/${id}/jwks`, { body: {} });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('without SECRETS_KEY at create', () => {
  const noKey = { env: { ...env, SECRETS_KEY: undefined } };

  it('creates the tenant without an edge key (an empty key set), and makes one at the first write with the key', async () => {
    const { id, domain } = unique('jwk');
    expect((await put(id, config(id, [`api.${domain}`]), noKey)).status).toBe(201);
    expect(await jwks(id)).toEqual([]);
    expect((await rawRecord(id)).edgeKey).toBeUndefined();
    expect((await put(id, config(id, [`api.${domain}`]))).status).toBe(200);
    expect(await jwks(id)).toHaveLength(1);
  });

  it('refuses private_key_jwt, naming SECRETS_KEY', async () => {
    const { id, domain } = unique('jwk');
    const response = await put(id, signing(id, `api.${domain}`), noKey);
    expect(response.status).toBe(400);
    expect((await json(response)).issues).toEqual([{
      path: '/issuers/0/introspection/clientAuth',
      message: 'private_key_jwt signs with the tenant\'s edge key, which needs SECRETS_KEY (SECRETS_KEY is not set)',
    }]);
    expect(await env.TENANTS.get(tenantKey(id))).toBeNull();
  });
});

describe('the private key for private_key_jwt', () => {
  it('is imported once when the record is loaded, non-extractable, and signs what the public key verifies', async () => {
    const { id, domain } = unique('jwk');
    expect((await put(id, signing(id, `api.${domain}`))).status).toBe(201);
    const found = await resolve(`api.${domain}`);
    if (!found.ok) throw new Error(JSON.stringify(found));
    const edgeKey = found.value.tenant.edgeKey!;
    const [publicKey] = await jwks(id);
    expect(edgeKey.kid).toBe(publicKey!.kid);
    expect(edgeKey.jwks).toEqual({ keys: [publicKey] });
    const key = edgeKey.signingKey!;
    expect(key.extractable).toBe(false);
    expect(key.type).toBe('private');
    expect(key.usages).toEqual(['sign']);
    expect(key.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    await expect(crypto.subtle.exportKey('jwk', key)).rejects.toThrow();
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: edgeKey.kid })
      .setIssuer('edge-rs').setSubject('edge-rs').setAudience('https://idp.example/').setExpirationTime('60s').sign(key);
    const verified = await jwtVerify(assertion, await importJWK(publicKey!, 'ES256'));
    expect(verified.payload.iss).toBe('edge-rs');
  });

  it('is not opened for a tenant that does not sign (its public key is still served)', async () => {
    const { id, domain } = unique('jwk');
    await put(id, config(id, [`api.${domain}`]));
    const found = await resolve(`api.${domain}`, { SECRETS_KEY: undefined });
    if (!found.ok) throw new Error(JSON.stringify(found));
    expect(found.value.tenant.edgeKey?.signingKey).toBeNull();
    expect(found.value.tenant.edgeKey?.jwks.keys).toHaveLength(1);
  });

  it('does not open in another tenant\'s record: that tenant is tenant_config_invalid', async () => {
    const a = unique('jwk');
    const b = unique('jwk');
    await put(a.id, signing(a.id, `api.${a.domain}`));
    await put(b.id, signing(b.id, `api.${b.domain}`));
    const victim = await rawRecord(b.id);
    victim.edgeKey = (await rawRecord(a.id)).edgeKey;
    await env.TENANTS.put(hostKey(`api.${b.domain}`), JSON.stringify(victim));
    expect(await resolve(`api.${b.domain}`)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expect((await resolve(`api.${a.domain}`)).ok).toBe(true);
  });

  it('makes a record whose sealed private part is no P-256 key, or which lost its edge key, tenant_config_invalid (not a 500)', async () => {
    const { id, domain } = unique('jwk');
    const host = `api.${domain}`;
    await put(id, signing(id, host));
    const record = await rawRecord(id);
    const keyring = settingsOf(env).secrets;
    for (const edgeKey of [{ ...record.edgeKey, d: await keyring.seal('AAAA', secretAad(id, edgeKeyPlace(record.edgeKey))) }, undefined]) {
      await env.TENANTS.put(hostKey(host), JSON.stringify({ ...record, edgeKey }));
      expect(await resolve(host)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    }
    const issues = log.mock.calls.map((c: unknown[]) => String(c[0])).filter((l: string) => l.includes('tenant_config_invalid'))
      .map((l: string) => JSON.parse(l).issues);
    expect(issues).toEqual([
      [{ path: '/edgeKey/d', message: 'does not import as the P-256 private key of its public key' }],
      [{ path: '/edgeKey', message: 'private_key_jwt needs the tenant\'s edge key, and the record has none' }],
    ]);
  });

  it('is sealed again with the current key at the next write when SECRETS_KEY rotated, the same key', async () => {
    const { id, domain } = unique('jwk');
    const rotating = { ...env, SECRETS_KEY: PREVIOUS_KEY };
    await put(id, signing(id, `api.${domain}`), { env: rotating });
    const before = (await rawRecord(id)).edgeKey;
    const view = await json(await call('GET', `/tenants/${id}`));
    expect((await put(id, view, { env: { ...env, SECRETS_KEY_PREVIOUS: PREVIOUS_KEY } })).status).toBe(200);
    const after = (await rawRecord(id)).edgeKey;
    expect(after.kid).toBe(before.kid);
    expect(after.d.sealed.slice(3, 11)).not.toBe(before.d.sealed.slice(3, 11));
    const found = await resolve(`api.${domain}`);
    expect(found.ok && found.value.tenant.edgeKey?.signingKey).toBeTruthy();
  });

  it('is replaced by a new one at the next write when no key opens it any more (logged)', async () => {
    const { id, domain } = unique('jwk');
    await put(id, config(id, [`api.${domain}`]), { env: { ...env, SECRETS_KEY: PREVIOUS_KEY } });
    const [lost] = await jwks(id);
    expect((await put(id, config(id, [`api.${domain}`]))).status).toBe(200);
    const [fresh] = await jwks(id);
    expect(fresh!.kid).not.toBe(lost!.kid);
    const lines = log.mock.calls.map((c: unknown[]) => String(c[0])).filter((l: string) => l.includes('edge_key_replaced'));
    expect(lines.map((l: string) => JSON.parse(l))).toEqual([{ event: 'edge_key_replaced', tenant: id, kid: lost!.kid, newKid: fresh!.kid, reason: 'unknown_key' }]);
  });
});
