// The local stack of `npm start` (dev/) end to end: real `oidc-provider` tokens through a real
// `wrangler dev` to the echo origin. The demo tenants are seeded as `npm start` seeds them; three
// more tenants each own what their test changes (an issuer that rotates, one that goes down,
// a revocation), so the tests do not disturb each other.
//
// Key rotation and the 30 s refetch cooldown (README.md "Keys"): the rotating issuer's keys are
// fetched once in beforeAll and it rotates at once, so its first kid miss falls inside the
// cooldown (401 unknown_kid); the last test waits out the rest of the 30 s, which the other
// tests mostly fill (`npm start` itself, started twice, among them), and then the new key is
// found without restarting the Worker.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundIssuerOf, requestToken, startIssuer, type Issuer } from '../../dev/issuer.mjs';
import { startOrigin, type Origin } from '../../dev/origin.mjs';
import { login, logout } from '../../dev/session.mjs';
import {
  DEMO_CLIENTS, DEMO_DPOP_CLIENTS, DEMO_INTROSPECTION_CACHE_SECONDS, DEMO_INTROSPECTION_CLIENTS, demoBoundResources, demoResources,
  demoTenants, demoWebClients,
} from '../../dev/tenants.mjs';
import { hostRequest } from '../../scripts/host-request.mjs';
import { freePort, groupAlive, signalGroup } from '../../scripts/processes.mjs';
import { ROOT } from './support/cli';
import { fetchAdmin, fetchAs, startEdge, type Edge } from './support/edge';

/** One extra tenant on the demo issuer, or on an issuer of its own. */
interface TestTenant {
  id: string;
  host: string;
  resource: string;
  client: { clientId: string; clientSecret: string };
}

function testTenant(id: string): TestTenant {
  return {
    id, host: `api.${id}.test`, resource: `https://api.${id}.test`,
    client: { clientId: `${id}-service`, clientSecret: `${id}-test-secret` },
  };
}

const rotating = testTenant('rotating');
const fragile = testTenant('fragile');
const revocable = testTenant('revocable');

/** What the echo origin answers. */
interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
}

let edge: Edge;
let origin: Origin;
let issuer: Issuer;
let rotatingIssuer: Issuer;
let fragileIssuer: Issuer;
/** When the rotating issuer's new key first missed (the cooldown runs from here). */
let rotationMissAt = 0;
let rotationMiss: Response;
let tokenBeforeRotation: string;

const resourceOf = (tenant: TestTenant, alg: 'RS256' | 'ES256' = 'RS256') => ({
  resource: tenant.resource, scopes: ['read', 'admin'], alg, clients: [tenant.client],
});

function tenantConfig(tenant: TestTenant, issuerUrl: string, extra: Record<string, unknown> = {}) {
  return {
    id: tenant.id, hosts: [tenant.host],
    issuers: [{ issuer: issuerUrl, audiences: [tenant.resource] }],
    resource: tenant.resource, upstream: origin.url, ...extra,
  };
}

function tokenFor(from: Issuer, tenant: TestTenant, scope = 'read'): Promise<string> {
  return from.token({ ...tenant.client, resource: tenant.resource, scope });
}

function demoToken(tenant: 'acme' | 'globex', scope: string): Promise<string> {
  const client = DEMO_CLIENTS[tenant];
  return issuer.token({ clientId: client.clientId, clientSecret: client.clientSecret, resource: client.resource, scope });
}

function call(host: string, path: string, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetchAs(edge, host, path, { headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
}

async function put(config: { id: string }): Promise<void> {
  const response = await fetchAdmin(edge, `/tenants/${config.id}`, { method: 'PUT', body: JSON.stringify(config) });
  expect([200, 201], await response.clone().text()).toContain(response.status);
}

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));
const execFileAsync = promisify(execFile);

beforeAll(async () => {
  [origin, rotatingIssuer, fragileIssuer, edge] = await Promise.all([
    startOrigin(),
    startIssuer({ resources: [resourceOf(rotating)] }),
    startIssuer({ resources: [resourceOf(fragile, 'ES256')] }),
    // SECRETS_KEY, as npm start has it (dev/.dev.vars): acme's seed holds a write-only secret.
    startEdge({ vars: { ALLOW_INSECURE_ISSUERS: 'true' }, secrets: { SECRETS_KEY: randomBytes(32).toString('base64url') } }),
  ]);
  // As npm start runs it: the DPoP-only issuer beside it, and acme's web app, whose logouts the
  // provider posts to this edge (its port is known now), as it fetches the tenants' edge key sets.
  const edgePort = Number(new URL(edge.url).port);
  issuer = await startIssuer({
    resources: [...demoResources(), resourceOf(revocable)], boundResources: demoBoundResources(),
    webClients: demoWebClients({ edgePort }), edgePort,
  });
  for (const config of demoTenants({ issuer: issuer.url, upstream: origin.url })) await put(config);
  await put(tenantConfig(rotating, rotatingIssuer.url));
  await put(tenantConfig(fragile, fragileIssuer.url));
  // 0: every request asks the TenantState object, so a revocation shows on the next request.
  await put(tenantConfig(revocable, issuer.url, { revocation: { maxStalenessSeconds: 0 } }));

  // The rotating issuer's keys are fetched now (30 s cooldown from here), then it rotates.
  tokenBeforeRotation = await tokenFor(rotatingIssuer, rotating);
  const warm = await call(rotating.host, '/orders', tokenBeforeRotation);
  expect(warm.status, await warm.clone().text()).toBe(200);
  await rotatingIssuer.rotate('RS256');
  rotationMiss = await call(rotating.host, '/orders', await tokenFor(rotatingIssuer, rotating));
  rotationMissAt = Date.now();
});

afterAll(async () => {
  await Promise.allSettled([edge?.stop(), origin?.stop(), issuer?.stop(), rotatingIssuer?.stop(), fragileIssuer?.stop()]);
});

describe('the demo tenants, as npm start seeds them', () => {
  it('forwards a provider token to the origin with the verified identity in x-auth-* headers', async () => {
    const token = await demoToken('acme', 'read admin');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const response = await call('api.acme.test', '/orders?page=2', token, { 'x-auth-subject': 'spoofed' });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as Echo;
    expect(echo).toMatchObject({ method: 'GET', path: '/orders?page=2' });
    expect(echo.headers).toMatchObject({
      'x-auth-tenant': 'acme',
      'x-auth-subject': 'acme-service',
      'x-auth-client-id': 'acme-service',
      'x-auth-scopes': 'read admin',
      'x-auth-issuer': issuer.url,
      'x-forwarded-host': 'api.acme.test',
    });
    expect(JSON.parse(Buffer.from(echo.headers['x-auth-claims']!, 'base64url').toString())).toMatchObject({
      aud: 'https://api.acme.test', client_id: 'acme-service', iss: issuer.url,
    });
    expect(echo.headers.authorization).toBeUndefined(); // forward.stripAuthorization
  });

  it('verifies globex ES256 tokens from the same provider', async () => {
    const token = await demoToken('globex', 'read');
    expect(decodeProtectedHeader(token).alg).toBe('ES256');
    const response = await call('api.globex.test', '/orders', token);
    expect(response.status).toBe(200);
    expect(((await response.json()) as Echo).headers).toMatchObject({ 'x-auth-tenant': 'globex', 'x-auth-subject': 'globex-service' });
  });

  it('answers the printed curls: public /health, 401 without a token, 403 without the admin scope, 200 with it', async () => {
    expect((await call('api.acme.test', '/health')).status).toBe(200);

    const missing = await call('api.acme.test', '/orders');
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: 'missing_token' });

    const readOnly = await call('api.acme.test', '/admin/users', await demoToken('acme', 'read'));
    expect(readOnly.status).toBe(403);
    expect(await readOnly.json()).toMatchObject({ error: 'insufficient_scope' });
    expect(readOnly.headers.get('www-authenticate')).toContain('scope="admin"');

    expect((await call('api.acme.test', '/admin/users', await demoToken('acme', 'read admin'))).status).toBe(200);
  });

  it('refuses an acme token replayed at globex (wrong_audience), though globex trusts the same provider', async () => {
    const response = await call('api.globex.test', '/orders', await demoToken('acme', 'read admin'));
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_token', reason: 'wrong_audience' });
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('stores acme\'s introspection block (for the opaque-token client\'s tokens) with its secret write-only', async () => {
    const response = await fetchAdmin(edge, '/tenants/acme');
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain(DEMO_INTROSPECTION_CLIENTS.acme!.basic.clientSecret);
    const stored = JSON.parse(text) as { issuers: { introspection?: unknown }[] };
    expect(stored.issuers[0]!.introspection).toMatchObject({
      endpoint: null, clientId: DEMO_INTROSPECTION_CLIENTS.acme!.basic.clientId, clientAuth: 'client_secret_basic',
      clientSecret: { set: true }, tokens: 'opaque',
    });
  });

  it('rate limits globex per subject: 429 with Retry-After once 5 in 10 s are used', async () => {
    const token = await demoToken('globex', 'read');
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 7 && limited === undefined; i++) {
      const response = await call('api.globex.test', '/orders', token);
      statuses.push(response.status);
      if (response.status === 429) limited = response;
      else await response.arrayBuffer();
    }
    // Earlier tests may have used some of this window: some 200s, then the 429.
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(5);
    expect(limited?.status).toBe(429);
    expect(await limited!.json()).toMatchObject({ error: 'rate_limited' });
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(limited!.headers.get('ratelimit-policy')).toBe('"sub";q=5;w=10');
  });
});

describe('the provider going down', () => {
  it('does not break valid requests once its keys are held (stale keys), for old and new tokens', async () => {
    const seen = await tokenFor(fragileIssuer, fragile);
    const unseen = await tokenFor(fragileIssuer, fragile, 'read admin');
    expect((await call(fragile.host, '/orders', seen)).status).toBe(200);

    await fragileIssuer.stop();
    await expect(fetch(`${fragileIssuer.url}/jwks`)).rejects.toThrow();

    expect((await call(fragile.host, '/orders', seen)).status).toBe(200);
    // Never verified before: its signature is checked with the held keys, not a cached verdict.
    expect((await call(fragile.host, '/admin', unseen)).status).toBe(200);
  });
});

describe('admin revocation', () => {
  it('POST /tenants/:id/revoke {} refuses tokens issued before (revoked) and accepts new ones', async () => {
    const old = await tokenFor(issuer, revocable);
    expect((await call(revocable.host, '/orders', old)).status).toBe(200);

    const revoked = await fetchAdmin(edge, `/tenants/${revocable.id}/revoke`, { method: 'POST', body: '{}' });
    expect(revoked.status).toBe(200);
    const { revokedBefore } = await revoked.json() as { revokedBefore: number };
    expect(decodeJwt(old).iat!).toBeLessThanOrEqual(revokedBefore);

    const refused = await call(revocable.host, '/orders', old);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token', reason: 'revoked' });
    // revokedBefore is in whole seconds and at-or-before: a token issued in its second is revoked
    // too, so the new one comes from the next second.
    await sleep(Math.max(0, (revokedBefore + 1) * 1000 - Date.now() + 50));
    expect((await call(revocable.host, '/orders', await tokenFor(issuer, revocable))).status).toBe(200);
  });
});

/** A client's DPoP key and proofs, made with jose (RFC 9449 §4.2), as a client library would. */
async function dpopClient() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const jwk = { kty, crv, x, y };
  const proof = (htm: string, htu: string, accessToken?: string) => new SignJWT({
    jti: randomUUID(), htm, htu, ...(accessToken === undefined ? {} : { ath: createHash('sha256').update(accessToken).digest('base64url') }),
  }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).setIssuedAt().sign(privateKey);
  return { jwk, proof, jkt: await calculateJwkThumbprint(jwk) };
}

describe('DPoP-bound tokens from the real provider (RFC 9449)', () => {
  it('a bound token with a proof signed by jose is accepted once; its replay is refused; as Bearer it is pop_required', async () => {
    const client = await dpopClient();
    const payments = DEMO_DPOP_CLIENTS.acme!;
    const token = await requestToken(boundIssuerOf(issuer.url), {
      clientId: payments.clientId, clientSecret: payments.clientSecret, resource: payments.resource, scope: 'read payments',
      dpop: (htm: string, htu: string) => client.proof(htm, htu),
    });
    expect(decodeJwt(token).cnf).toEqual({ jkt: client.jkt });
    const proof = await client.proof('GET', 'http://api.acme.test/payments/1', token);
    const first = await fetchAs(edge, 'api.acme.test', '/payments/1', { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(first.status, await first.clone().text()).toBe(200);
    expect(((await first.json()) as Echo).headers['x-auth-pop']).toBe('dpop');
    const replay = await fetchAs(edge, 'api.acme.test', '/payments/1', { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop_replayed' });
    expect(replay.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof", algs="ES256"$/);
    const asBearer = await call('api.acme.test', '/payments/1', token);
    expect(await asBearer.json()).toMatchObject({ error: 'invalid_token', reason: 'pop_required' });
  });

  it('npm run call -- --dpop --replay prints 200, then 401 dpop_replayed', async () => {
    const { stdout } = await execFileAsync(process.execPath, [join(ROOT, 'dev/call.mjs'), '--tenant', 'acme', '--dpop', '--replay',
      '--issuer', issuer.url, '--edge', edge.url, 'GET', '/payments']);
    const statuses = [...stdout.matchAll(/^HTTP (\d{3})/gm)].map((m) => Number(m[1]));
    expect(statuses, stdout).toEqual([200, 401]);
    expect(stdout).toMatch(/"x-auth-pop":\s*"dpop"/);
    expect(stdout).toContain('dpop_replayed');
  });
});

describe('step-up at the demo tenant (RFC 9470)', () => {
  it('a client credentials token has no acr or auth_time: /account answers the challenge', async () => {
    const response = await call('api.acme.test', '/account/profile', await demoToken('acme', 'read'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication", error_description=');
    expect(response.headers.get('www-authenticate')).toContain('acr_values="urn:acme:mfa", max_age=600');
  });
});

describe('back-channel logout from the real provider (OIDC Back-Channel Logout 1.0)', () => {
  it('ending the session at the provider revokes its access tokens at the edge within maxStalenessSeconds', async () => {
    const session = await login({ issuer: issuer.url, user: 'alice' });
    expect(decodeJwt(session.accessToken).sid).toBe(session.sid);
    expect((await call('api.acme.test', '/orders', session.accessToken)).status).toBe(200);
    const other = await login({ issuer: issuer.url, user: 'alice' });
    const deliveries = await logout({ issuer: issuer.url, session });
    const loggedOutAt = Date.now();
    expect(deliveries).toEqual([expect.objectContaining({ ok: true, sid: session.sid })]);
    // acme keeps maxStalenessSeconds 5: an isolate may answer from its copy until then.
    let refusedAfterMs = -1;
    while (Date.now() - loggedOutAt < 8_000) {
      const response = await call('api.acme.test', '/orders', session.accessToken);
      if (response.status === 401) {
        expect(await response.json()).toMatchObject({ error: 'invalid_token', reason: 'revoked' });
        refusedAfterMs = Date.now() - loggedOutAt;
        break;
      }
      await sleep(100);
    }
    console.info(JSON.stringify({ event: 'backchannel_logout_to_refusal', maxStalenessSeconds: 5, ms: refusedAfterMs }));
    expect(refusedAfterMs).toBeGreaterThanOrEqual(0);
    expect(refusedAfterMs).toBeLessThanOrEqual(5_500);
    // Only that session: the user's other session goes on.
    expect((await call('api.acme.test', '/orders', other.accessToken)).status).toBe(200);
  });
});

describe('npm run token', () => {
  const runToken = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, ['dev/token.mjs', ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });

  it('prints only the access token, which the edge accepts', async () => {
    const result = await runToken(['--tenant', 'acme', '--scope', 'read admin', '--issuer', issuer.url]);
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    expect(result.stdout).toBe(`${token}\n`);
    expect(decodeJwt(token)).toMatchObject({ aud: 'https://api.acme.test', scope: 'read admin' });
    expect((await call('api.acme.test', '/admin/x', token)).status).toBe(200);
  });

  it('exits 2 for an unknown tenant and 1 when the issuer is unreachable', async () => {
    expect((await runToken(['--tenant', 'initech', '--issuer', issuer.url])).code).toBe(2);
    const down = await runToken(['--tenant', 'acme', '--issuer', `http://127.0.0.1:${await freePort()}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/npm start/);
  });
});

describe('npm start', () => {
  let scratch: string;
  let ports: { edge: number; issuer: number; origin: number; ssf: number };
  const running: ChildProcess[] = [];
  /** A token from the first run: the issuer keys file must carry it into the second. */
  let firstRunToken = '';
  /** What the first run printed, up to the end of its banner. */
  let firstBanner = '';
  /** npm as the user runs it: the npm that runs this test when there is one, else the one on PATH. */
  const npm = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
  /** Starts its arguments as a child and stays, as a shell or a supervisor would: the parent that dies. */
  const PARENT = "require('node:child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' }); setInterval(() => {}, 60_000);";

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'npm-start-'));
    ports = { edge: await freePort(), issuer: await freePort(), origin: await freePort(), ssf: await freePort() };
  });

  afterAll(async () => {
    // A failed test may leave one running: its own group (npm, start.mjs), then wrangler's.
    for (const group of stackGroups()) signalGroup(group, 'SIGKILL');
    for (const child of running) if (child.exitCode === null && child.pid) signalGroup(child.pid, 'SIGKILL');
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  interface Stack {
    /** The npm process. */
    npm: number;
    output: () => string;
    /** What this test spawned: npm itself, or the parent that started npm. */
    child: ChildProcess;
    exited: Promise<number | null>;
  }

  /** `npm start` on this test's ports and state, straight or under a parent; once its banner is out.
   *  A port another process took between being found free and being bound (this machine may run
   *  other tests beside this one) is the one failure tried again, on fresh ports. */
  async function start(under: 'test' | 'parent' = 'test'): Promise<Stack> {
    try {
      return await startOnce(under);
    } catch (error) {
      if (!/port \d+ is in use/.test(String(error))) throw error;
      ports = { edge: await freePort(), issuer: await freePort(), origin: await freePort(), ssf: await freePort() };
      return startOnce(under);
    }
  }

  async function startOnce(under: 'test' | 'parent'): Promise<Stack> {
    const args = [...npm.slice(1), 'start', '--', '--edge-port', String(ports.edge), '--issuer-port', String(ports.issuer),
      '--origin-port', String(ports.origin), '--ssf-port', String(ports.ssf), '--state-dir', scratch];
    const [command, argv] = under === 'test' ? [npm[0]!, args] : [process.execPath, ['-e', PARENT, npm[0]!, ...args]];
    // Its own process group, so afterAll can end whatever a failed test leaves.
    const child = spawn(command, argv, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    running.push(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const deadline = Date.now() + 60_000;
    while (!/Local edge ready/.test(output)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not get ready:\n${output}`);
      await sleep(100);
    }
    const npmPid = under === 'test' ? child.pid! : childrenOf(child.pid!)[0]!;
    expect(readFileSync(`/proc/${npmPid}/cmdline`, 'utf8')).toContain('start');
    return { npm: npmPid, output: () => output, child, exited };
  }

  /** The processes running for this test's stack (npm, start.mjs, wrangler's guard and wrangler, by
   *  the state directory in their arguments) and their process groups (workerd is in wrangler's). */
  function stackProcesses(): { pids: number[]; groups: number[] } {
    const pids: number[] = [];
    const groups = new Set<number>();
    for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(scratch)) continue;
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (state === 'Z') continue; // ended, not yet reaped by its parent
        pids.push(pid);
        groups.add(Number(group));
      } catch {
        // gone meanwhile
      }
    }
    return { pids, groups: [...groups] };
  }
  const stackGroups = () => (scratch ? stackProcesses().groups : []);

  const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);

  /** Whether something still listens on a port (a new listener there fails). */
  const portTaken = (port: number) => new Promise<boolean>((answer) => {
    const probe = createNetServer();
    probe.once('error', () => answer(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => answer(false)));
  });

  /** Every process of the stack ends (within 15 s of the stop), and the three ports are free. */
  async function expectAllGone(before: { pids: number[]; groups: number[] }) {
    expect(before.pids.length, 'npm, start.mjs, the guard and wrangler').toBeGreaterThanOrEqual(4);
    expect(before.groups.length, 'npm\'s group and wrangler\'s').toBeGreaterThanOrEqual(2);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (stackProcesses().pids.length > 0 || before.groups.some(groupAlive))) await sleep(200);
    expect(stackProcesses().pids, 'processes left running').toEqual([]);
    for (const group of before.groups) expect(groupAlive(group), `process group ${group}`).toBe(false);
    for (const [name, port] of Object.entries(ports)) expect(await portTaken(port), `the ${name} port ${port}`).toBe(false);
  }

  it('starts the stack, prints commands that work, and stops every process when the npm process gets SIGTERM', async () => {
    const stack = await start();
    const edgeUrl = `http://127.0.0.1:${ports.edge}`;
    const banner = stack.output();
    firstBanner = banner;
    expect(banner).toContain(`npm run -s token -- --tenant acme --scope "read admin" --issuer http://127.0.0.1:${ports.issuer}`);
    expect(banner).toContain(`curl -i -H 'Host: api.acme.test' -H "Authorization: Bearer $TOKEN" ${edgeUrl}/orders`);
    expect(banner).toMatch(/401 missing_token/);
    expect(banner).toMatch(/403 insufficient_scope/);
    expect(banner).toMatch(/wrong_audience/);

    const token = await requestDemoToken(`http://127.0.0.1:${ports.issuer}`);
    const answer = await hostRequest(`${edgeUrl}/orders`, { host: 'api.acme.test', headers: { authorization: `Bearer ${token}` } });
    expect(answer.status).toBe(200);
    const echoed = (await answer.json()) as Echo;
    expect(echoed.headers['x-auth-tenant']).toBe('acme');
    firstRunToken = token;
    // npm start logs every decision (dev/.dev.vars LOG_SAMPLE_RATE=1.0; production samples 0.01).
    const requestId = echoed.headers['x-request-id'];
    expect(requestId).toBeTruthy();
    const logged = () => stack.output().split('\n').some((line) => line.includes('"outcome":"allowed"') && line.includes(`"requestId":"${requestId}"`));
    for (const deadline = Date.now() + 5_000; !logged() && Date.now() < deadline;) await sleep(100);
    expect(logged(), 'the allowed decision in the log').toBe(true);

    // The printed DPoP, step-up and session commands, run as printed (with this run's ports).
    const issuerUrl = `http://127.0.0.1:${ports.issuer}`;
    expect(banner).toContain(`npm run -s call -- --tenant acme --dpop --replay GET /payments --issuer ${issuerUrl} --edge ${edgeUrl}`);
    expect(banner).toMatch(/acr_values="urn:acme:mfa", max_age=600/);
    const call = await execFileAsync(process.execPath, [join(ROOT, 'dev/call.mjs'), '--tenant', 'acme', '--dpop', '--replay', '--issuer', issuerUrl, '--edge', edgeUrl, 'GET', '/payments']);
    expect([...call.stdout.matchAll(/^HTTP (\d{3})/gm)].map((m) => m[1]), call.stdout).toEqual(['200', '401']);
    const stepUp = await hostRequest(`${edgeUrl}/account/profile`, { host: 'api.acme.test', headers: { authorization: `Bearer ${token}` } });
    expect(stepUp.status).toBe(401);
    const sessionFile = join(scratch, 'session.json');
    const session = ['dev/session.mjs', '--issuer', issuerUrl, '--state-file', sessionFile];
    const { stdout: userToken } = await execFileAsync(process.execPath, [session[0]!, 'login', '--user', 'alice', ...session.slice(1)], { cwd: ROOT });
    const asUser = () => hostRequest(`${edgeUrl}/orders`, { host: 'api.acme.test', headers: { authorization: `Bearer ${userToken.trim()}` } });
    expect((await asUser()).status).toBe(200);
    // As the banner prints it: --wait returns once the edge refuses the session, so the next
    // command, pasted in the same go, gets its 401.
    expect(banner).toContain(`npm run -s session -- logout --wait --issuer ${issuerUrl} --edge ${edgeUrl}`);
    const waited = await execFileAsync(process.execPath, [session[0]!, 'logout', '--wait', '--edge', edgeUrl, ...session.slice(1)], { cwd: ROOT });
    expect(waited.stdout).toMatch(/the edge refuses the session's tokens now \(401 revoked, after \d+\.\d s\)/);
    const loggedOut = await asUser();
    expect(loggedOut.status).toBe(401);
    expect(await loggedOut.json()).toMatchObject({ error: 'invalid_token', reason: 'revoked' });

    // The printed opaque-token demo, as printed: accepted by introspection, revoked at the
    // provider, refused once acme's window (cacheSeconds) has passed.
    expect(banner).toContain(`npm run -s token -- --revoke "$OPAQUE" --issuer ${issuerUrl}`);
    expect(banner).toContain(`sleep ${DEMO_INTROSPECTION_CACHE_SECONDS}; curl -i -H 'Host: api.acme.test' -H "Authorization: Bearer $OPAQUE" ${edgeUrl}/orders`);
    const tokenCli = (...args: string[]) => execFileAsync(process.execPath, [join(ROOT, 'dev/token.mjs'), ...args, '--issuer', issuerUrl], { cwd: ROOT });
    const opaque = (await tokenCli('--tenant', 'acme', '--opaque', '--scope', 'read')).stdout.trim();
    const asOpaque = () => hostRequest(`${edgeUrl}/orders`, { host: 'api.acme.test', headers: { authorization: `Bearer ${opaque}` } });
    expect((await asOpaque()).status).toBe(200);
    await tokenCli('--revoke', opaque);
    await sleep(DEMO_INTROSPECTION_CACHE_SECONDS * 1000);
    const inactive = await asOpaque();
    expect(inactive.status).toBe(401);
    expect(await inactive.json()).toMatchObject({ error: 'invalid_token', reason: 'inactive' });

    // Shared Signals, as printed: the admin settings exported, the stream created and verified
    // with the tenants CLI, a user's password change at the transmitter, the user's token refused.
    const transmitterUrl = `http://127.0.0.1:${ports.ssf}`;
    const exported = /^ {2}export (EDGE_ADMIN_URL=\S+ EDGE_ADMIN_HOST=\S+ EDGE_ADMIN_TOKEN=\S+)$/m.exec(banner)?.[1];
    expect(exported, banner).toBeDefined();
    const adminEnv = { ...process.env, ...Object.fromEntries(exported!.split(' ').map((pair) => pair.split('=') as [string, string])) };
    const tenantsCli = (args: string[]) => execFileAsync(process.execPath, [join(ROOT, 'scripts/tenants.mjs'), ...args], { cwd: ROOT, env: adminEnv });
    for (const command of ['create', 'verify']) {
      expect(banner).toContain(`npm run -s tenants -- streams ${command} acme --issuer ${transmitterUrl}`);
    }
    const created = JSON.parse((await tenantsCli(['streams', 'create', 'acme', '--issuer', transmitterUrl])).stdout);
    expect(created.delivery).toEqual({ method: 'urn:ietf:rfc:8935', endpoint_url: 'https://api.acme.test/_edge/ssf', authorization_header: { set: true } });
    await tenantsCli(['streams', 'verify', 'acme', '--issuer', transmitterUrl]);
    expect(banner).toContain('npm run -s tenants -- streams list acme');
    let listed: any;
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; await sleep(200)) {
      listed = JSON.parse((await tenantsCli(['streams', 'list', 'acme'])).stdout);
      if (listed.streams[0]?.lastVerification?.receivedAt) break;
    }
    expect(listed.streams[0]).toMatchObject({ streamId: created.stream_id, lastVerification: { receivedAt: expect.any(Number) }, status: { status: 'enabled' } });
    expect(banner).toContain(`BOB=$(npm run -s session -- login --user bob --issuer ${issuerUrl})`);
    const { stdout: bob } = await execFileAsync(process.execPath, [session[0]!, 'login', '--user', 'bob', ...session.slice(1)], { cwd: ROOT });
    const asBob = () => hostRequest(`${edgeUrl}/orders`, { host: 'api.acme.test', headers: { authorization: `Bearer ${bob.trim()}` } });
    expect((await asBob()).status).toBe(200);
    const emit = /curl -s -X POST (\S+\/dev\/events) -d '([^']+)'/.exec(banner);
    expect(emit?.[1]).toBe(`${transmitterUrl}/dev/events`);
    const emitted = await fetch(emit![1]!, { method: 'POST', body: emit![2] });
    expect(emitted.status).toBe(202);
    // As printed: `sleep 5`, acme's maxStalenessSeconds, then the 401.
    expect(banner).toMatch(/sleep 5; curl -i -H 'Host: api\.acme\.test' -H "Authorization: Bearer \$BOB"/);
    await sleep(5_000);
    const revoked = await asBob();
    expect(revoked.status).toBe(401);
    expect(await revoked.json()).toMatchObject({ error: 'invalid_token', reason: 'revoked' });
    expect(JSON.parse((await tenantsCli(['streams', 'list', 'acme'])).stdout).streams[0].lastEvent).toMatchObject({ at: expect.any(Number) });

    const before = stackProcesses();
    process.kill(stack.npm, 'SIGTERM');
    expect(await stack.exited).toBe(0);
    await expectAllGone(before);
    await expect(fetch(edgeUrl)).rejects.toThrow();
  });

  it('lists its flags with --help; an unknown flag or a bad port is a usage error (exit 2) with that list, not a stack trace', async () => {
    const run = (args: string[]) => execFileAsync(process.execPath, [join(ROOT, 'dev/start.mjs'), ...args], { cwd: ROOT })
      .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (error: { code: number; stdout: string; stderr: string }) => error);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--edge-port', '--issuer-port', '--origin-port', '--ssf-port', '--state-dir']) expect(help.stdout).toContain(flag);
    for (const args of [['--edge_port', '8788'], ['--edge-port', 'x']]) {
      const refused = await run(args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toContain('Usage: npm start -- [--edge-port N]');
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('prints what the README shows, in the same order: pasted in one go, the key rotation comes last', () => {
    expect(firstBanner).toMatch(/Tenant CLI:/);
    // At this run's ports the banner adds --issuer and --edge and names its own URLs.
    const atDefaultPorts = firstBanner
      .replaceAll(` --issuer http://127.0.0.1:${ports.issuer}`, '').replaceAll(` --edge http://127.0.0.1:${ports.edge}`, '')
      .replaceAll(`127.0.0.1:${ports.edge}`, '127.0.0.1:8787').replaceAll(`127.0.0.1:${ports.issuer}`, '127.0.0.1:9400')
      .replaceAll(`127.0.0.1:${ports.ssf}`, '127.0.0.1:9402');
    const printed = commandsOf(atDefaultPorts.slice(atDefaultPorts.indexOf('Try it'), atDefaultPorts.indexOf('Tenant CLI:')));
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const shown = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((block) => block[1]!).filter((block) => block.includes('api.acme.test'));
    expect(commandsOf(shown.join('\n'))).toEqual(printed);
    // A token the provider signs after the rotation is unknown_kid until the edge may refetch
    // (30 s): nothing after it but its own token, used once the 30 s have passed.
    const rotation = printed.findIndex((command) => command.includes('/dev/rotate'));
    expect(printed.slice(rotation + 1)).toEqual([
      expect.stringMatching(/^ROTATED=\$\(npm run -s token -- /), expect.stringMatching(/^sleep 30; curl .*"Authorization: Bearer \$ROTATED"/),
    ]);
  });

  it('starts again on the same state without cleanup (idempotent seeding, same issuer keys) and stops on Ctrl-C', async () => {
    expect(firstRunToken).not.toBe('');
    const stack = await start();
    const edgeUrl = `http://127.0.0.1:${ports.edge}`;
    const answer = await hostRequest(`${edgeUrl}/orders`, { host: 'api.acme.test', headers: { authorization: `Bearer ${firstRunToken}` } });
    expect(answer.status).toBe(200);

    const before = stackProcesses();
    // A terminal's Ctrl-C: SIGINT to the foreground process group, npm and what it runs.
    signalGroup(stack.npm, 'SIGINT');
    expect(await stack.exited).toBe(0);
    await expectAllGone(before);
  });

  it('stops every process when the npm process gets SIGHUP, which npm does not pass on', async () => {
    const stack = await start();
    const before = stackProcesses();
    process.kill(stack.npm, 'SIGHUP');
    await stack.exited;
    await expectAllGone(before);
  });

  it('stops every process when the process that started npm dies', async () => {
    const stack = await start('parent');
    const before = stackProcesses();
    process.kill(stack.child.pid!, 'SIGKILL');
    await stack.exited;
    await expectAllGone(before);
  });
});

/** The commands of a shell text or of the banner, one a line: comments, the banner's headings
 *  and indentation left out, continuation lines joined. */
function commandsOf(text: string): string[] {
  return text.replaceAll(/\\\n\s*/g, '').split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').replaceAll(/\s+/g, ' ').trim())
    .filter((line) => line !== '' && !/^(Try it|Shared Signals|Key rotation)\b.*:$/.test(line));
}

function requestDemoToken(issuerUrl: string): Promise<string> {
  const client = DEMO_CLIENTS.acme;
  return requestToken(issuerUrl, { clientId: client.clientId, clientSecret: client.clientSecret, resource: client.resource, scope: 'read' });
}



describe('key rotation at the provider', () => {
  it('a new kid inside the 30 s refetch cooldown is unknown_kid', async () => {
    expect(rotationMiss.status).toBe(401);
    expect(await rotationMiss.json()).toMatchObject({ error: 'invalid_token', reason: 'unknown_kid' });
  });

  it('after the cooldown, a kid miss refetches the JWKS and the new key verifies, without a restart', async () => {
    await sleep(Math.max(0, rotationMissAt + 31_000 - Date.now()));
    const fresh = await tokenFor(rotatingIssuer, rotating);
    expect(decodeProtectedHeader(fresh).kid).not.toBe(decodeProtectedHeader(tokenBeforeRotation).kid);
    const response = await call(rotating.host, '/orders', fresh);
    expect(response.status, await response.clone().text()).toBe(200);
    // The old key is still published: tokens it signed keep working until they expire.
    expect((await call(rotating.host, '/orders', tokenBeforeRotation)).status).toBe(200);
  });
});

describe('the provider\'s control API', () => {
  it('answers POST /dev/rotate with the new kid as JSON ending in a newline, as the edge\'s answers end', async () => {
    const own = await startIssuer({ resources: [resourceOf(testTenant('control'))] });
    try {
      const response = await fetch(`${own.url}/dev/rotate?alg=ES256`, { method: 'POST' });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toMatch(/\}\n$/);
      expect(JSON.parse(text)).toEqual({ kid: expect.any(String), alg: 'ES256' });
    } finally {
      await own.stop();
    }
  });
});
