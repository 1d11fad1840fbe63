// Rotating SECRETS_KEY (docs/configuration.md "Rotating SECRETS_KEY"): with the old key as
// SECRETS_KEY_PREVIOUS, records sealed with it still open (logged once per record), and a
// GET-then-PUT of each tenant (what `npm run tenants -- reseal` does) seals everything again
// with the new key, secrets and edge key unchanged; then the old key can go.
import { env } from 'cloudflare:workers';
import { base64url } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app';
import type { Env } from '../../src/env';
import { settingsOf } from '../../src/config/settings';
import { sealedKeyId } from '../../src/secrets/sealed';
import { tenantKey } from '../../src/tenants/kv-keys';
import { createTenantStore } from '../../src/tenants/store';
import { unique } from '../tenants/fixtures';
import { adminCaller, json } from './caller';

const OLD = base64url.encode(new Uint8Array(32).fill(11));
const NEW = base64url.encode(new Uint8Array(32).fill(12));
const before: Env = { ...env, SECRETS_KEY: OLD };
const during: Env = { ...env, SECRETS_KEY: NEW, SECRETS_KEY_PREVIOUS: OLD };
const after: Env = { ...env, SECRETS_KEY: NEW };

let log: ReturnType<typeof vi.spyOn>;
beforeEach(() => { log = vi.spyOn(console, 'log').mockImplementation(() => {}); });
afterEach(() => log.mockRestore());

const call = adminCaller(createAdminApp({ now: () => 1_800_000_000_000 }));
const resolve = (host: string, vars: Env) =>
  createTenantStore({ now: () => 0 }).resolve(host, { kv: env.TENANTS, cacheSeconds: 30, secrets: settingsOf(vars).secrets });

function tenant(id: string, host: string) {
  return {
    id, hosts: [host],
    issuers: [{ issuer: 'https://idp.example/', audiences: ['x'], introspection: { clientId: 'edge', clientAuth: 'private_key_jwt' } }],
    events: { ssf: [{ issuer: 'https://tr.example', audience: 'a', management: { clientId: 'edge', clientSecret: 'Zq9-stream-secret' } }] },
  };
}

/** The key ids of every sealed text in the raw KV record. */
async function keyIdsInRecord(id: string): Promise<string[]> {
  const text = (await env.TENANTS.get(tenantKey(id), 'text'))!;
  return [...text.matchAll(/"sealed":"(v1\.[^"]+)"/g)].map((m) => sealedKeyId(m[1]!));
}

describe('rotating SECRETS_KEY', () => {
  it('opens old records with SECRETS_KEY_PREVIOUS, and GET-then-PUT seals them again with the new key', async () => {
    const { id, domain } = unique('rot');
    const host = `api.${domain}`;
    expect((await call('PUT', `/tenants/${id}`, { body: tenant(id, host), env: before })).status).toBe(201);
    const oldId = await settingsOf(before).secrets.currentKeyId();
    const newId = await settingsOf(after).secrets.currentKeyId();
    expect(await keyIdsInRecord(id)).toEqual([oldId, oldId]);
    const kid = (await json(await call('GET', `/tenants/${id}/jwks`))).keys[0].kid;

    // Deployed with the new key, the old one as previous: the tenant keeps working.
    const during1 = await resolve(host, during);
    if (!during1.ok) throw new Error(JSON.stringify(during1));
    const management = during1.value.tenant.events!.transmitters.get('https://tr.example')!.management;
    expect(management?.kind === 'client_credentials' && management.clientSecret.reveal()).toBe('Zq9-stream-secret');
    expect(during1.value.tenant.edgeKey?.signingKey).toBeTruthy();
    const lines = log.mock.calls.map((c: unknown[]) => String(c[0])).filter((l: string) => l.includes('tenant_secrets_previous_key'));
    expect(lines.map((l: string) => JSON.parse(l))).toEqual([{ event: 'tenant_secrets_previous_key', tenant: id }]);

    // The reseal: GET, then PUT the same body back with its ETag.
    const read = await call('GET', `/tenants/${id}`, { env: during });
    const view = await json(read);
    const rewritten = await call('PUT', `/tenants/${id}`, { body: view, headers: { 'if-match': read.headers.get('etag')! }, env: during });
    expect(rewritten.status).toBe(200);
    expect(rewritten.headers.get('etag')).not.toBe(read.headers.get('etag'));
    expect(await json(rewritten)).toEqual(view);
    expect(await keyIdsInRecord(id)).toEqual([newId, newId]);
    expect((await json(await call('GET', `/tenants/${id}/jwks`))).keys[0].kid).toBe(kid);

    // Once every record is rewritten, the old key can go.
    const after1 = await resolve(host, after);
    if (!after1.ok) throw new Error(JSON.stringify(after1));
    const again = after1.value.tenant.events!.transmitters.get('https://tr.example')!.management;
    expect(again?.kind === 'client_credentials' && again.clientSecret.reveal()).toBe('Zq9-stream-secret');

    // A second reseal changes nothing.
    const second = await call('GET', `/tenants/${id}`, { env: after });
    const unchanged = await call('PUT', `/tenants/${id}`, { body: await json(second), headers: { 'if-match': second.headers.get('etag')! }, env: after });
    expect(unchanged.headers.get('etag')).toBe(second.headers.get('etag'));
  });

  it('leaves a record not yet rewritten unreadable once SECRETS_KEY_PREVIOUS is gone: that tenant only', async () => {
    const { id, domain } = unique('rot');
    await call('PUT', `/tenants/${id}`, { body: tenant(id, `api.${domain}`), env: before });
    expect(await resolve(`api.${domain}`, after)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
  });

  it('refuses nothing during the rotation: new secrets are sealed with the new key', async () => {
    const { id, domain } = unique('rot');
    await call('PUT', `/tenants/${id}`, { body: tenant(id, `api.${domain}`), env: during });
    expect(await keyIdsInRecord(id)).toEqual(Array(2).fill(await settingsOf(after).secrets.currentKeyId()));
  });
});
