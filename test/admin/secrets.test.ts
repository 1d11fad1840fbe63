// Write-only secrets through the admin API inside workerd, real KV and the real Directory
// object (docs/admin-api.md "Write-only secrets"): sealed before KV and the Directory, answered
// as {"set": true}, kept by the GET-edit-PUT cycle, never in an audit line or any log, the ETag
// moving with the secret, and a record whose secret does not open refused for that tenant only.
import { env } from 'cloudflare:workers';
import { base64url } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAdminApp } from '../../src/admin/app';
import type { Env } from '../../src/env';
import { settingsOf } from '../../src/config/settings';
import { directoryStub } from '../../src/tenants/directory';
import { hostKey, tenantKey } from '../../src/tenants/kv-keys';
import { createTenantStore } from '../../src/tenants/store';
import { unique } from '../tenants/fixtures';
import { adminCaller, auditLines as auditLinesOf, json } from './caller';

let t: number;
let log: ReturnType<typeof vi.spyOn>;
const app = createAdminApp({ now: () => t });
const call = adminCaller(app);
const put = (id: string, body: unknown, options: { headers?: Record<string, string>; env?: Env } = {}) =>
  call('PUT', `/tenants/${id}`, { body, ...options });
const get = (id: string) => call('GET', `/tenants/${id}`);

beforeEach(() => {
  t = 1_800_000_000_000;
  log = vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterEach(() => log.mockRestore());

const ISSUER = 'https://idp.example/';
const SECRET = 'Zq9-Introspection-Secret-4711';
const BEARER = 'Zq9BearerTokenForStreams0815';
const OTHER_KEY = base64url.encode(new Uint8Array(32).fill(9));

function tenant(id: string, host: string, introspection: Record<string, unknown> | null = { clientId: 'edge', clientSecret: SECRET },
  extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, hosts: [host],
    issuers: [{ issuer: ISSUER, audiences: ['https://api.example'], introspection }],
    events: { ssf: [{ issuer: 'https://tr.example', audience: 'a', management: { bearerToken: BEARER } }] },
    ...extra,
  };
}

/** The secret in every spelling a careless store or answer might hold it in. */
function spellings(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  return [
    secret, secret.toLowerCase(), secret.toUpperCase(), btoa(secret), base64url.encode(bytes),
    [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(''), encodeURIComponent(secret), JSON.stringify(secret),
    [...secret].reverse().join(''),
  ];
}
function expectNoSecret(text: string, secrets = [SECRET, BEARER]): void {
  for (const secret of secrets) {
    for (const form of spellings(secret)) {
      expect(text).not.toContain(form);
      expect(text.toLowerCase()).not.toContain(form.toLowerCase());
    }
  }
}

const resolve = (host: string, secretsEnv: Partial<Env> = {}) => createTenantStore({ now: () => t })
  .resolve(host, { kv: env.TENANTS, cacheSeconds: 30, secrets: settingsOf({ ...env, ...secretsEnv } as Env).secrets });

describe('PUT and GET of a config with secrets', () => {
  it('answers {"set": true} in place of each secret, on PUT and GET', async () => {
    const { id, domain } = unique('sec');
    const created = await put(id, tenant(id, `api.${domain}`));
    expect(created.status).toBe(201);
    const stored = await json(created);
    expect(stored.issuers[0].introspection.clientSecret).toEqual({ set: true });
    expect(stored.events.ssf[0].management).toEqual({ bearerToken: { set: true } });
    const read = await get(id);
    const text = await read.text();
    expect(JSON.parse(text)).toEqual(stored);
    expectNoSecret(text);
    expect(text).not.toContain('sealed');
    expect(text).not.toContain('edgeKey');
  });

  it('never puts a secret in KV (tenant and host copies) or the Directory: only sealed text', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const raw = await env.TENANTS.get(tenantKey(id), 'text');
    const hostCopy = await env.TENANTS.get(hostKey(host), 'text');
    const directoryCopy = (await directoryStub(env.DIRECTORY).recordOf(id))!.json;
    for (const text of [raw!, hostCopy!, directoryCopy]) {
      expectNoSecret(text);
      const record = JSON.parse(text);
      expect(record.issuers[0].introspection.clientSecret).toEqual({ sealed: expect.stringMatching(/^v1\./) });
      expect(record.events.ssf[0].management.bearerToken).toEqual({ sealed: expect.stringMatching(/^v1\./) });
    }
  });

  it('opens the secrets when the edge loads the record', async () => {
    const { id, domain } = unique('sec');
    await put(id, tenant(id, `api.${domain}`));
    const found = await resolve(`api.${domain}`);
    if (!found.ok) throw new Error(JSON.stringify(found));
    expect(found.value.tenant.introspection?.introspection.clientSecret?.reveal()).toBe(SECRET);
    const management = found.value.tenant.events!.transmitters.get('https://tr.example')!.management;
    expect(management?.kind === 'bearer' && management.bearerToken.reveal()).toBe(BEARER);
  });
});

describe('the GET-edit-PUT cycle', () => {
  it('keeps every secret sent back as {"set": true}, and If-Match with GET\'s ETag works', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const read = await get(id);
    const edited = { ...(await json(read)), upstream: 'https://origin.example' };
    const replaced = await put(id, edited, { headers: { 'if-match': read.headers.get('etag')! } });
    expect(replaced.status).toBe(200);
    expect((await json(replaced)).issues).toBeUndefined();
    const found = await resolve(host);
    expect(found.ok && found.value.tenant.upstream).toBe('https://origin.example');
    expect(found.ok && found.value.tenant.introspection?.introspection.clientSecret?.reveal()).toBe(SECRET);
  });

  it('keeps a secret whose issuer moved to another index (sealed again for its new place)', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const view = await json(await get(id));
    view.issuers = [{ issuer: 'https://first.example/', audiences: ['x'] }, ...view.issuers];
    expect((await put(id, view)).status).toBe(200);
    const found = await resolve(host);
    expect(found.ok && found.value.tenant.issuers.get(ISSUER)!.introspection?.clientSecret?.reveal()).toBe(SECRET);
  });

  it('refuses {"set": true} where nothing is stored: on create, and for an issuer that had no secret', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    const keep = tenant(id, host, { clientId: 'edge', clientSecret: { set: true } });
    const created = await put(id, keep);
    expect(created.status).toBe(400);
    expect(await json(created)).toMatchObject({
      error: 'invalid_config',
      issues: [{ path: '/issuers/0/introspection/clientSecret', message: 'nothing is stored to keep: write the secret itself' }],
    });
    expect(await env.TENANTS.get(tenantKey(id))).toBeNull();

    await put(id, tenant(id, host, null));
    const other = await put(id, keep);
    expect(other.status).toBe(400);
    expect((await json(other)).issues).toEqual([{ path: '/issuers/0/introspection/clientSecret', message: 'nothing is stored to keep: write the secret itself' }]);
  });

  it('refuses {"set": true} for another issuer\'s secret, and for a secret now sent to another endpoint', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const view = await json(await get(id));
    const renamed = structuredClone(view);
    renamed.issuers[0].issuer = 'https://attacker.example/';
    expect((await json(await put(id, renamed))).issues).toEqual([
      { path: '/issuers/0/introspection/clientSecret', message: 'nothing is stored to keep: write the secret itself' },
    ]);
    const redirected = structuredClone(view);
    redirected.issuers[0].introspection.endpoint = 'https://attacker.example/introspect';
    const response = await put(id, redirected);
    expect(response.status).toBe(400);
    expect((await json(response)).issues).toEqual([{
      path: '/issuers/0/introspection/clientSecret',
      message: 'the stored secret was written for another endpoint: write it again to send it to this one',
    }]);
    const found = await resolve(host);
    expect(found.ok && found.value.tenant.introspection?.introspection.endpoint).toBeNull();
  });

  it('refuses a sealed value in a PUT body (a ciphertext copied from a record)', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const sealed = JSON.parse((await env.TENANTS.get(tenantKey(id), 'text'))!).issuers[0].introspection.clientSecret;
    const b = unique('sec');
    const response = await put(b.id, tenant(b.id, `api.${b.domain}`, { clientId: 'edge', clientSecret: sealed }));
    expect(response.status).toBe(400);
    expect((await json(response)).issues).toEqual([
      { path: '/issuers/0/introspection/clientSecret', message: 'write the secret itself, or {"set": true} to keep the stored one' },
    ]);
  });
});

describe('the ETag', () => {
  it('changes when a secret changes though GET shows the same body, and stays when it is kept or sent again unchanged', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    const first = await put(id, tenant(id, host));
    const firstTag = first.headers.get('etag');
    const changed = await put(id, tenant(id, host, { clientId: 'edge', clientSecret: `${SECRET}-2` }));
    const changedTag = changed.headers.get('etag');
    expect(changedTag).not.toBe(firstTag);
    expect(await json(changed)).toEqual(await json(first));
    expect((await get(id)).headers.get('etag')).toBe(changedTag);

    const kept = await put(id, await json(await get(id)));
    expect(kept.headers.get('etag')).toBe(changedTag);
    const again = await put(id, tenant(id, host, { clientId: 'edge', clientSecret: `${SECRET}-2` }));
    expect(again.headers.get('etag')).toBe(changedTag);

    // A stale tag (from before the secret changed) no longer matches.
    expect((await put(id, tenant(id, host), { headers: { 'if-match': firstTag! } })).status).toBe(412);
    expect((await put(id, tenant(id, host), { headers: { 'if-match': changedTag! } })).status).toBe(200);
  });
});

describe('without a usable SECRETS_KEY', () => {
  it.each([
    ['unset', undefined, 'SECRETS_KEY is not set'],
    ['not 32 bytes of base64url', 'too-short', 'SECRETS_KEY is not 32 bytes of base64url'],
  ])('refuses a new secret with 400 invalid_config naming SECRETS_KEY when it is %s, and writes nothing', async (_, value, problem) => {
    const { id, domain } = unique('sec');
    const response = await put(id, tenant(id, `api.${domain}`), { env: { ...env, SECRETS_KEY: value } });
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body.error).toBe('invalid_config');
    expect(body.issues).toContainEqual({
      path: '/issuers/0/introspection/clientSecret',
      message: `cannot be stored: ${problem} (secrets are kept only sealed with it: npx wrangler secret put SECRETS_KEY)`,
    });
    expect(body.issues.map((i: { path: string }) => i.path)).toContain('/events/ssf/0/management/bearerToken');
    expectNoSecret(JSON.stringify(body));
    expect(await env.TENANTS.get(tenantKey(id))).toBeNull();
  });

  it('still takes a config without secrets', async () => {
    const { id, domain } = unique('sec');
    const response = await put(id, { id, hosts: [`api.${domain}`], issuers: [{ issuer: ISSUER, audiences: ['x'] }] }, { env: { ...env, SECRETS_KEY: undefined } });
    expect(response.status).toBe(201);
  });
});

describe('what the admin API never says', () => {
  it('keeps secrets out of audit lines and every log line, and out of issues when the rest is invalid', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    await put(id, tenant(id, host, { clientId: 'edge', clientSecret: `${SECRET}-2` }));
    await put(id, { ...tenant(id, host), hosts: ['*.com'], routes: [{ path: 'nope' }] });
    await put(id, tenant(id, host, { clientId: 'edge', clientSecret: `${SECRET}\u0000oversized${'x'.repeat(5000)}` }));
    await call('DELETE', `/tenants/${id}`);

    const audits = auditLinesOf(log);
    expect(audits.map((line) => line.action)).toEqual(['tenant.create', 'tenant.replace', 'tenant.delete']);
    expect(audits[1]).toMatchObject({
      before: { issuers: [{ introspection: { clientSecret: { set: true } } }] },
      after: { issuers: [{ introspection: { clientSecret: { set: true } } }] },
    });
    const everything = JSON.stringify(log.mock.calls);
    expectNoSecret(everything, [SECRET, `${SECRET}-2`, BEARER]);
    expect(everything).not.toContain('sealed');
  });

  it('answers an oversized secret with 400 at its path, without echoing it', async () => {
    const { id, domain } = unique('sec');
    const secret = `Zq9${'A'.repeat(4200)}`;
    const response = await put(id, tenant(id, `api.${domain}`, { clientId: 'edge', clientSecret: secret }));
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text).issues).toEqual([
      { path: '/issuers/0/introspection/clientSecret', message: 'a client secret is 1-4096 printable ASCII characters (RFC 6749 §2.3.1)' },
    ]);
    expect(text).not.toContain('AAAAAAAAAA');
  });
});

describe('a stored record whose secret does not open', () => {
  it('is that tenant\'s 500 tenant_config_invalid when its ciphertext was copied from another tenant, logged without the value', async () => {
    const a = unique('sec');
    const b = unique('sec');
    await put(a.id, tenant(a.id, `api.${a.domain}`));
    await put(b.id, tenant(b.id, `api.${b.domain}`, { clientId: 'edge', clientSecret: 'another-secret' }));
    const stolen = JSON.parse((await env.TENANTS.get(tenantKey(a.id), 'text'))!).issuers[0].introspection.clientSecret;
    const victim = JSON.parse((await env.TENANTS.get(hostKey(`api.${b.domain}`), 'text'))!);
    victim.issuers[0].introspection.clientSecret = stolen;
    await env.TENANTS.put(hostKey(`api.${b.domain}`), JSON.stringify(victim));

    expect(await resolve(`api.${b.domain}`)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    const found = await resolve(`api.${a.domain}`);
    expect(found.ok && found.value.tenant.introspection?.introspection.clientSecret?.reveal()).toBe(SECRET);
    const lines = log.mock.calls.map((c: unknown[]) => String(c[0])).filter((l: string) => l.includes('tenant_config_invalid'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      tenant: b.id,
      issues: [{ path: '/issuers/0/introspection/clientSecret', message: 'does not open here: changed, or sealed for another tenant or place' }],
    });
    expectNoSecret(lines[0]!);
  });

  it('is tenant_config_invalid under another SECRETS_KEY, or none', async () => {
    const { id, domain } = unique('sec');
    await put(id, tenant(id, `api.${domain}`));
    expect(await resolve(`api.${domain}`, { SECRETS_KEY: OTHER_KEY })).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expect(await resolve(`api.${domain}`, { SECRETS_KEY: undefined })).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    const messages = log.mock.calls.map((c: unknown[]) => String(c[0])).filter((l: string) => l.includes('tenant_config_invalid'))
      .map((l: string) => JSON.parse(l).issues[0].message);
    expect(messages).toEqual([
      'sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS',
      'sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS (SECRETS_KEY is not set)',
    ]);
  });

  it('is tenant_config_invalid when a record holds a secret in plain text', async () => {
    const { id, domain } = unique('sec');
    await env.TENANTS.put(hostKey(`api.${domain}`), JSON.stringify(tenant(id, `api.${domain}`)));
    expect(await resolve(`api.${domain}`)).toEqual({ ok: false, denial: { error: 'tenant_config_invalid' } });
    expectNoSecret(JSON.stringify(log.mock.calls));
  });
});

describe('opening once per compiled record', () => {
  it('opens a wildcard record\'s secrets once, whatever the subdomain', async () => {
    const { id, domain } = unique('sec');
    await put(id, { ...tenant(id, `*.${domain}`) });
    const real = settingsOf(env).secrets;
    let opens = 0;
    const counting = { ...real, open: (...args: Parameters<typeof real.open>) => { opens++; return real.open(...args); } };
    const store = createTenantStore({ now: () => t });
    for (let i = 0; i < 50; i++) {
      const found = await store.resolve(`s${i}.${domain}`, { kv: env.TENANTS, cacheSeconds: 30, secrets: counting });
      expect(found.ok).toBe(true);
    }
    expect(opens).toBe(2);
    expect(store.counters.compiles).toBe(1);
  });
});

describe('concurrent writes', () => {
  it('never bring back a replaced secret: a kept one is taken from the record the write lands on', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const view = await json(await get(id));
    // The keeping write reads the record, then waits at the Directory while a rotation lands.
    let reached!: () => void;
    const atDirectory = new Promise<void>((done) => { reached = done; });
    let release!: () => void;
    const gate = new Promise<void>((open) => { release = open; });
    const namespace = env.DIRECTORY;
    const gated = {
      idFromName: (name: string) => namespace.idFromName(name),
      get: (stubId: DurableObjectId) => {
        const stub = namespace.get(stubId);
        return new Proxy(stub, {
          get: (target, key) => (key === 'put'
            ? async (...args: unknown[]) => { reached(); await gate; return (target.put as (...a: unknown[]) => unknown)(...args); }
            : Reflect.get(target, key)),
        });
      },
    } as unknown as typeof namespace;
    const keeping = put(id, { ...view, upstream: 'https://origin.example' }, { env: { ...env, DIRECTORY: gated } });
    await atDirectory;
    expect((await put(id, tenant(id, host, { clientId: 'edge', clientSecret: `${SECRET}-rotated` }))).status).toBe(200);
    release();
    expect((await keeping).status).toBe(200);
    const found = await resolve(host);
    expect(found.ok && found.value.tenant.upstream).toBe('https://origin.example');
    expect(found.ok && found.value.tenant.introspection?.introspection.clientSecret?.reveal()).toBe(`${SECRET}-rotated`);
  });

  it('let every one of concurrent writes land, each keeping what the one before it stored', async () => {
    const { id, domain } = unique('sec');
    const host = `api.${domain}`;
    await put(id, tenant(id, host));
    const view = await json(await get(id));
    const responses = await Promise.all(Array.from({ length: 5 }, (_, i) => put(id, { ...view, upstream: `https://origin${i}.example` })));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const found = await resolve(host);
    expect(found.ok && found.value.tenant.introspection?.introspection.clientSecret?.reveal()).toBe(SECRET);
  });

  it('the Directory refuses a write made from a record that changed since', async () => {
    const { id, domain } = unique('sec');
    const first = await put(id, tenant(id, `api.${domain}`));
    const directory = directoryStub(env.DIRECTORY);
    const stored = JSON.parse((await directory.recordOf(id))!.json);
    expect(await directory.put(stored, null, '"stale"')).toEqual({ ok: false, refusal: { error: 'changed' } });
    expect(await directory.put(stored, null, null)).toEqual({ ok: false, refusal: { error: 'changed' } });
    expect((await directory.put(stored, null, first.headers.get('etag'))).ok).toBe(true);
  });
});
