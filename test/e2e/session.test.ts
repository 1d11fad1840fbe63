// The local stack's session script (dev/session.mjs) against the real demo provider, without
// wrangler: a user logs in to acme's web app (authorization code flow with PKCE through the demo
// provider's login page), the access token is a JWT for acme's API carrying the session's sid, and ending
// the session makes the provider post a logout token, to a stand-in for the edge reached as
// api.acme.test (the provider resolves *.test to loopback), shaped as the edge's back-channel
// logout endpoint requires (src/events/backchannel-logout.ts).
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startIssuer, type Issuer } from '../../dev/issuer.mjs';
import { login, logout } from '../../dev/session.mjs';
import { DEMO_WEB_CLIENT, demoResources, demoWebClients } from '../../dev/tenants.mjs';
import { ROOT } from './support/cli';

interface Received { host: string | undefined; contentType: string | undefined; path: string | undefined; body: string }

let issuer: Issuer;
let edgeStandIn: Server;
let received: Received[] = [];
let stateDir: string;

beforeAll(async () => {
  edgeStandIn = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      received.push({ host: request.headers.host, contentType: request.headers['content-type'], path: request.url, body });
      response.writeHead(200, { 'cache-control': 'no-store' });
      response.end();
    });
  });
  await new Promise<void>((listening) => edgeStandIn.listen(0, '127.0.0.1', listening));
  const address = edgeStandIn.address();
  const edgePort = typeof address === 'object' && address !== null ? address.port : 0;
  issuer = await startIssuer({ resources: demoResources(), webClients: demoWebClients({ edgePort }) });
  stateDir = await mkdtemp(join(tmpdir(), 'edge-session-'));
});

afterAll(async () => {
  await issuer?.stop();
  edgeStandIn?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const keys = () => createLocalJWKSet(issuer.publicJwks() as never);

describe('a web session at the demo provider', () => {
  it('the provider starts and rotates keys without a warning: its own login page, not the development interactions', async () => {
    const warn = vi.spyOn(console, 'warn');
    const info = vi.spyOn(console, 'info');
    try {
      const quiet = await startIssuer({ resources: demoResources(), webClients: demoWebClients({ edgePort: 8787 }) });
      await quiet.rotate('ES256');
      await quiet.stop();
      expect([...warn.mock.calls, ...info.mock.calls]).toEqual([]);
    } finally {
      warn.mockRestore();
      info.mockRestore();
    }
  });

  it('logs in: an RFC 9068 access token for acme\'s API, carrying the session\'s sid', async () => {
    const session = await login({ issuer: issuer.url, user: 'alice' });
    expect(decodeProtectedHeader(session.accessToken)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    const { payload } = await jwtVerify(session.accessToken, keys(), { issuer: issuer.url, audience: DEMO_WEB_CLIENT.resource });
    expect(payload).toMatchObject({ sub: 'alice', client_id: DEMO_WEB_CLIENT.clientId, scope: 'read write', sid: session.sid });
    expect(session.sid).toMatch(/^[\w-]{10,}$/);
  });

  it('logs out: the provider posts a logout token the edge would accept, for that session', async () => {
    received = [];
    const session = await login({ issuer: issuer.url, user: 'bob', scope: 'read' });
    const deliveries = await logout({ issuer: issuer.url, session });
    expect(deliveries).toEqual([expect.objectContaining({ ok: true, sid: session.sid, clientId: DEMO_WEB_CLIENT.clientId })]);
    expect(received).toHaveLength(1);
    const [post] = received;
    expect(post!.host).toMatch(/^api\.acme\.test:\d+$/);
    expect(post!.path).toBe('/_edge/backchannel-logout');
    expect(post!.contentType).toBe('application/x-www-form-urlencoded');
    const token = new URLSearchParams(post!.body).get('logout_token')!;
    // What the edge checks (OIDC Back-Channel Logout 1.0 §2.4, §2.6): typ, aud, iat, jti, events, sid, no nonce.
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'logout+jwt', alg: 'RS256' });
    const { payload } = await jwtVerify(token, keys(), { issuer: issuer.url, audience: DEMO_WEB_CLIENT.clientId, typ: 'logout+jwt' });
    expect(payload).toMatchObject({ sub: 'bob', sid: session.sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(typeof payload.jti).toBe('string');
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(30);
    expect(payload).not.toHaveProperty('nonce');
  });

  it('npm run session: login prints only the token and keeps the session; logout reports the delivery', async () => {
    const stateFile = join(stateDir, 'session.json');
    const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, ['dev/session.mjs', ...args, '--issuer', issuer.url, '--state-file', stateFile], { cwd: ROOT, timeout: 30_000 },
        (error, stdout, stderr) => done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }));
    });
    const loggedIn = await run(['login', '--user', 'carol']);
    expect(loggedIn.code, loggedIn.stderr).toBe(0);
    const token = loggedIn.stdout.trim();
    expect(loggedIn.stdout).toBe(`${token}\n`);
    const { payload } = await jwtVerify(token, keys());
    expect(loggedIn.stderr).toContain(`sid ${payload.sid}`);
    const loggedOut = await run(['logout']);
    expect(loggedOut.code, loggedOut.stderr).toBe(0);
    expect(loggedOut.stdout).toMatch(/logout token delivered to http:\/\/api\.acme\.test:\d+\/_edge\/backchannel-logout: accepted/);
    expect((await run(['whoami'])).code).toBe(2);
  });
});
