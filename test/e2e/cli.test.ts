// The tenants CLI against a real `wrangler dev`: exit codes, output streams and the admin API
// round trips (put, get, list, export/import, revoke, status, state, dns-check); then a tenant
// host through real HTTP (challenges, metadata, and request bodies written on a raw socket).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTenants, ROOT } from './support/cli';
import { fetchAdmin, fetchAs, startEdge, type Edge } from './support/edge';

let edge: Edge;
let dns: Server;
let scratch: string;

/** Answers every DNS-over-HTTPS JSON query with a CNAME to edge.saas.example (dns-check's expectation). */
function startDoh(): Promise<Server> {
  const server = createServer((request, response) => {
    const name = new URL(request.url ?? '/', 'http://doh').searchParams.get('name') ?? '';
    response.setHeader('content-type', 'application/dns-json');
    response.end(JSON.stringify({ Status: 0, Answer: [{ name: `${name}.`, type: 5, TTL: 60, data: 'edge.saas.example.' }] }));
  });
  return new Promise((ready) => server.listen(0, '127.0.0.1', () => ready(server)));
}

beforeAll(async () => {
  dns = await startDoh();
  const address = dns.address();
  const dohPort = typeof address === 'object' && address !== null ? address.port : 0;
  scratch = await mkdtemp(join(tmpdir(), 'tenants-cli-'));
  edge = await startEdge({ vars: { DOH_URL: `http://127.0.0.1:${dohPort}/dns-query` }, secrets: { SECRETS_KEY: randomBytes(32).toString('base64url') } });
});

afterAll(async () => {
  await edge?.stop();
  dns?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function tenant(id: string, hosts: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, hosts, issuers: [{ issuer: 'https://issuer.example/', audiences: ['https://api.example'] }], ...extra };
}

async function file(name: string, content: unknown): Promise<string> {
  const path = join(scratch, name);
  await writeFile(path, JSON.stringify(content));
  return path;
}

const etagIn = (stderr: string) => /ETag: ("[^"]*")/.exec(stderr)?.[1];

describe('put and get', () => {
  it('creates (201) then replaces (200), printing the stored config and its ETag', async () => {
    const path = await file('acme.json', tenant('acme', ['api.acme.test']));
    const created = await runTenants(edge, ['put', path]);
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ id: 'acme', hosts: ['api.acme.test'] });
    expect(created.stderr).toMatch(/created acme \(201\)/);

    const replaced = await runTenants(edge, ['put', path]);
    expect(replaced.code).toBe(0);
    expect(replaced.stderr).toMatch(/replaced acme \(200\)/);

    const got = await runTenants(edge, ['get', 'acme']);
    expect(got.code).toBe(0);
    expect(got.json()).toEqual(created.json());
    expect(etagIn(got.stderr)).toBeDefined();
    expect(etagIn(got.stderr)).toBe(etagIn(replaced.stderr));
  });

  it('replaces with a current --if-match, quoted or not, and refuses a stale one with exit 1', async () => {
    const path = await file('if-match.json', tenant('if-match', ['api.if-match.test']));
    const first = await runTenants(edge, ['put', path]);
    const etag = etagIn(first.stderr)!;

    const bare = await runTenants(edge, ['put', path, '--if-match', etag.slice(1, -1)]);
    expect(bare.code).toBe(0);

    await writeFile(path, JSON.stringify(tenant('if-match', ['api.if-match.test', 'www.if-match.test'])));
    const changed = await runTenants(edge, ['put', path, '--if-match', etag]);
    expect(changed.code).toBe(0);

    const stale = await runTenants(edge, ['put', path, '--if-match', etag]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toBe('');
    expect(stale.stderr).toMatch(/412 precondition_failed/);
  });

  it('prints each issue of an invalid config by its JSON Pointer and exits 1', async () => {
    const path = await file('invalid.json', {
      id: 'invalid', hosts: ['*.com'], issuers: [{ issuer: 'http://issuer.example/', audiences: ['https://api.example'] }],
    });
    const result = await runTenants(edge, ['put', path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/400 invalid_config/);
    expect(result.stderr).toMatch(/^ {2}\/issuers\/0\/issuer: .*https/m);
    expect(result.stderr).toMatch(/^ {2}\/hosts\/0: /m);
  });

  it('answers 404 unknown_tenant with exit 1 for get and delete of an unknown tenant', async () => {
    const got = await runTenants(edge, ['get', 'nobody']);
    expect(got.code).toBe(1);
    expect(got.stderr).toMatch(/404 unknown_tenant/);
    const deleted = await runTenants(edge, ['delete', 'nobody']);
    expect(deleted.code).toBe(1);
  });
});

describe('list, export and import', () => {
  it('lists one page, and every page with --all following the cursor', async () => {
    for (const id of ['list-a', 'list-b', 'list-c']) await runTenants(edge, ['put', await file(`${id}.json`, tenant(id, [`api.${id}.test`]))]);

    const page = await runTenants(edge, ['list', '--limit', '2']);
    expect(page.code).toBe(0);
    expect(page.json().tenants).toHaveLength(2);
    expect(typeof page.json().cursor).toBe('string');

    const all = await runTenants(edge, ['list', '--limit', '2', '--all']);
    expect(all.code).toBe(0);
    const listed = all.json() as { tenants: { id: string; hosts: string[] }[]; cursor: null };
    expect(listed.cursor).toBeNull();
    expect(listed.tenants).toContainEqual({ id: 'list-b', hosts: ['api.list-b.test'] });
    expect(new Set(listed.tenants.map((t) => t.id)).size).toBe(listed.tenants.length);
    expect(listed.tenants.map((t) => t.id)).toEqual(expect.arrayContaining(['acme', 'list-a', 'list-b', 'list-c']));
  });

  it('restores every tenant from an export after they were all deleted', async () => {
    const out = join(scratch, 'export.json');
    const exported = await runTenants(edge, ['export', '--out', out]);
    expect(exported.code).toBe(0);
    const configs = JSON.parse(await readFile(out, 'utf8')) as { id: string }[];
    expect(configs.length).toBeGreaterThanOrEqual(4);
    expect(exported.stderr).toMatch(new RegExp(`exported ${configs.length} tenants`));

    for (const { id } of configs) expect((await runTenants(edge, ['delete', id])).code).toBe(0);
    expect((await runTenants(edge, ['list', '--all'])).json().tenants).toEqual([]);

    const imported = await runTenants(edge, ['import', out]);
    expect(imported.code).toBe(0);
    expect(imported.stdout.trim().split('\n').sort()).toEqual(configs.map(({ id }) => `ok 201 ${id}`).sort());

    const again = await runTenants(edge, ['export']);
    expect(again.code).toBe(0);
    expect(again.json()).toEqual(configs);
  });

  it('reports each tenant of an import, continues past a host conflict and exits 1', async () => {
    const path = await file('conflict.json', [
      tenant('gamma', ['api.gamma.test']),
      tenant('beta', ['api.beta.test', 'api.acme.test']),
      tenant('delta', ['api.delta.test']),
    ]);
    const result = await runTenants(edge, ['import', path]);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      'ok 201 gamma',
      expect.stringMatching(/^failed 409 host_conflict beta: .*api\.acme\.test/),
      'ok 201 delta',
    ]);
    expect(result.stderr).toMatch(/imported 2 of 3 tenants/);
    expect((await runTenants(edge, ['get', 'beta'])).code).toBe(1);
  });
});

describe('revocation, status, state and dns-check', () => {
  beforeAll(async () => {
    const config = tenant('ops', ['api.ops.test'], { dnsCheck: { type: 'CNAME', target: 'edge.saas.example', mode: 'report' } });
    expect((await runTenants(edge, ['put', await file('ops.json', config)])).code).toBe(0);
  });

  it('starts active with tokenVersion 1 and nothing revoked', async () => {
    const state = await runTenants(edge, ['state', 'ops']);
    expect(state.code).toBe(0);
    expect(state.json()).toEqual({ status: 'active', tokenVersion: 1, revokedBefore: 0, revokedSubjects: 0, revokedSessions: 0, revokedClaimValues: 0, deniedJtis: 0 });
  });

  it('revokes one subject, one session, one token, then every token', async () => {
    const subject = await runTenants(edge, ['revoke', 'ops', '--sub', 'user-1']);
    expect(subject.code).toBe(0);
    expect(subject.json()).toMatchObject({ revokedSubjects: 1 });

    const session = await runTenants(edge, ['revoke', 'ops', '--sid', 'session-1']);
    expect(session.code).toBe(0);
    expect(session.json()).toMatchObject({ revokedSubjects: 1, revokedSessions: 1 });
    expect(session.stderr).toMatch(/revoked session session-1's tokens for ops/);
    expect((await runTenants(edge, ['state', 'ops'])).json()).toMatchObject({ revokedSessions: 1 });

    const exp = Math.floor(Date.now() / 1000) + 3600;
    const token = await runTenants(edge, ['revoke', 'ops', '--jti', 'token-1', '--exp', String(exp)]);
    expect(token.code).toBe(0);
    expect(token.json()).toMatchObject({ deniedJtis: 1 });

    const every = await runTenants(edge, ['revoke', 'ops']);
    expect(every.code).toBe(0);
    expect(every.json().tokenVersion).toBe(2);
    expect(every.json().revokedBefore).toBeGreaterThan(0);
  });

  it('puts the tenant on hold and back, each move bumping tokenVersion', async () => {
    const before = (await runTenants(edge, ['state', 'ops'])).json().tokenVersion as number;
    const hold = await runTenants(edge, ['status', 'ops', 'hold']);
    expect(hold.code).toBe(0);
    expect(hold.json()).toMatchObject({ status: 'hold', tokenVersion: before + 1 });
    const active = await runTenants(edge, ['status', 'ops', 'active']);
    expect(active.code).toBe(0);
    expect(active.json()).toMatchObject({ status: 'active', tokenVersion: before + 2 });
  });

  it('runs the DNS check now and prints one result per host', async () => {
    const result = await runTenants(edge, ['dns-check', 'ops']);
    expect(result.code).toBe(0);
    expect(result.json().results).toEqual([expect.objectContaining({ host: 'api.ops.test', verdict: 'ok' })]);
  });

  it('refuses a revoke or status of an unknown tenant with exit 1', async () => {
    expect((await runTenants(edge, ['status', 'nobody', 'hold'])).code).toBe(1);
    expect((await runTenants(edge, ['state', 'nobody'])).code).toBe(1);
  });
});

describe('exit codes', () => {
  it.each([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['a missing argument', ['get']],
    ['an extra argument', ['get', 'acme', 'beta']],
    ['an unknown option', ['get', 'acme', '--bogus']],
    ['an option of another command', ['get', 'acme', '--sub', 'x']],
    ['a status other than hold or active', ['status', 'acme', 'paused']],
    ['--jti without --exp', ['revoke', 'acme', '--jti', 'j']],
    ['--sub with --jti', ['revoke', 'acme', '--sub', 's', '--jti', 'j', '--exp', '1']],
    ['--sub with --sid', ['revoke', 'acme', '--sub', 's', '--sid', 'x']],
    ['a limit out of range', ['list', '--limit', '0']],
    ['a missing file', ['put', '/nonexistent/tenant.json']],
  ])('exits 2 for %s', async (_, args) => {
    const result = await runTenants(edge, args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/usage error/);
  });

  it('exits 2 without an admin URL or token', async () => {
    expect((await runTenants(edge, ['list'], { EDGE_ADMIN_URL: undefined })).code).toBe(2);
    expect((await runTenants(edge, ['list'], { EDGE_ADMIN_TOKEN: undefined })).code).toBe(2);
  });

  it('exits 2 naming EDGE_ADMIN_HOST when the edge does not take the request for its admin host', async () => {
    const unset = await runTenants(edge, ['list'], { EDGE_ADMIN_HOST: undefined });
    expect(unset.code).toBe(2);
    expect(unset.stdout).toBe('');
    expect(unset.stderr).toMatch(/404 unknown_host for the host 127\.0\.0\.1/);
    expect(unset.stderr).toMatch(/EDGE_ADMIN_HOST is not set: set it \(or pass --admin-host\) to the edge's ADMIN_HOST/);
    const wrong = await runTenants(edge, ['list'], { EDGE_ADMIN_HOST: 'api.nobody.test' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/EDGE_ADMIN_HOST=api\.nobody\.test is not the edge's ADMIN_HOST/);
    const flag = await runTenants(edge, ['list', '--admin-host', 'api.nobody.test'], { EDGE_ADMIN_HOST: undefined });
    expect(flag.stderr).toMatch(/--admin-host api\.nobody\.test is not the edge's ADMIN_HOST/);
  });

  it('exits 0 with the usage for --help, overall and per command', async () => {
    const overall = await runTenants(null, ['--help']);
    expect(overall.code).toBe(0);
    expect(overall.stdout).toMatch(/--admin-host/);
    const put = await runTenants(null, ['put', '--help']);
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/--if-match/);
  });

  it('exits 3 when nothing listens at the admin URL', async () => {
    const closed = createServer();
    await new Promise<void>((ready) => closed.listen(0, '127.0.0.1', () => ready()));
    const address = closed.address();
    await new Promise((done) => closed.close(done));
    const port = typeof address === 'object' && address !== null ? address.port : 1;
    const result = await runTenants(edge, ['get', 'acme'], { EDGE_ADMIN_URL: `http://127.0.0.1:${port}` });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/could not connect to http:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED/);
  });

  it('exits 1 with 401 for a wrong token, printing neither token', async () => {
    const wrong = 'wrong-token-0123456789';
    for (const how of [{ EDGE_ADMIN_TOKEN: wrong }, {}]) {
      const args = 'EDGE_ADMIN_TOKEN' in how ? ['get', 'acme'] : ['get', 'acme', '--token', wrong];
      const result = await runTenants(edge, args, how);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/401 invalid_token/);
      expect(`${result.stdout}${result.stderr}`).not.toContain(wrong);
      expect(`${result.stdout}${result.stderr}`).not.toContain(edge.adminToken);
    }
  });

  it('runs as `npm run tenants`', async () => {
    const result = await new Promise<{ code: number; stdout: string }>((done) => {
      execFile('npm', ['run', '-s', 'tenants', '--', '--help'], { cwd: ROOT }, (error, stdout) =>
        done({ code: error === null ? 0 : Number(error.code), stdout }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run -s tenants/);
  });

  it('keeps the admin token out of everything wrangler dev printed', () => {
    expect(edge.output()).not.toContain(edge.adminToken);
  });
});

describe('a tenant host through real HTTP', () => {
  it('answers 401 missing_token with the RFC 6750/9728 challenge, and serves the metadata document', async () => {
    const put = await fetchAdmin(edge, '/tenants/http-check', {
      method: 'PUT',
      body: JSON.stringify(tenant('http-check', ['api.http-check.test'], { routes: [{ path: '/health', auth: 'none' }, { path: '/*' }] })),
    });
    expect(put.status).toBe(201);

    const orders = await fetchAs(edge, 'api.http-check.test', '/orders');
    expect(orders.status).toBe(401);
    // The edge names https (test/http/respond.test.ts); wrangler dev's proxy rewrites a URL
    // of the request's own host in any response header to the scheme it was reached by, http.
    expect(orders.headers.get('www-authenticate')).toBe(
      'Bearer realm="api.http-check.test", resource_metadata="http://api.http-check.test/.well-known/oauth-protected-resource", '
      + 'DPoP algs="RS256 PS256 ES256 EdDSA"',
    );
    expect(await orders.json()).toEqual({ error: 'missing_token', error_description: expect.any(String) });
    expect(orders.headers.get('x-request-id')).toBeTruthy();

    const metadata = await fetchAs(edge, 'api.http-check.test', '/.well-known/oauth-protected-resource');
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({
      resource: 'https://api.http-check.test',
      authorization_servers: ['https://issuer.example/'],
      bearer_methods_supported: ['header'],
      dpop_bound_access_tokens_required: false,
    });

    const unknown = await fetchAs(edge, 'nobody.test', '/');
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe(
      `${JSON.stringify({ error: 'unknown_host', error_description: 'No API is configured for the host "nobody.test" (the request\'s Host header).' })}\n`);
    // curl without -H 'Host: …': the edge says which host it got.
    const bare = await fetch(`${edge.url}/orders`);
    expect(((await bare.json()) as { error_description: string }).error_description).toContain('"127.0.0.1"');
  });
});

describe('request bodies through real HTTP', () => {
  /** What the origin received, request by request. */
  const received: { method: string; path: string; body: string }[] = [];
  let origin: Server;
  beforeAll(async () => {
    origin = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ method: request.method ?? '', path: request.url ?? '', body: Buffer.concat(chunks).toString() });
        response.end('ok');
      });
    });
    await new Promise<void>((ready) => origin.listen(0, '127.0.0.1', ready));
    const address = origin.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const put = await fetchAdmin(edge, '/tenants/bodies', {
      method: 'PUT',
      body: JSON.stringify(tenant('bodies', ['api.bodies.test'], { upstream: `http://127.0.0.1:${port}`, routes: [{ path: '/*', auth: 'none' }] })),
    });
    expect(put.status).toBe(201);
  });
  afterAll(() => origin?.close());

  /** One request written on the socket as given (Node's clients will not frame a GET body every way). */
  function raw(head: string, body: string): Promise<string> {
    const url = new URL(edge.url);
    return new Promise((answered, failed) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.end(`${head}\r\nHost: api.bodies.test\r\nConnection: close\r\n${body}`));
      let answer = '';
      socket.on('data', (chunk: Buffer) => { answer += chunk.toString(); });
      socket.on('end', () => answered(answer));
      socket.on('error', failed);
    });
  }

  it('forwards a GET or HEAD body as received (Elasticsearch takes GET with a body), never a 500', async () => {
    const query = '{"query":{"match":{"title":"edge"}}}';
    const cases: [method: string, framing: string, expected: string][] = [
      ['GET', `Content-Length: ${query.length}\r\nContent-Type: application/json\r\n\r\n${query}`, query],
      ['GET', 'Content-Length: 1\r\n\r\nx', 'x'],
      // wrangler dev's own proxy (4.164) drops a chunked GET body before the Worker sees it; sent
      // straight to its workerd socket the same bytes arrive, and the Worker forwards them. What is
      // checked here is that the Worker answers and forwards what reached it, never a 500.
      ['GET', 'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', ''],
      ['GET', 'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', ''],
      ['HEAD', 'Content-Length: 1\r\n\r\nx', 'x'],
      ['HEAD', 'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', ''],
    ];
    for (const [method, framing, expected] of cases) {
      received.length = 0;
      const answer = await raw(`${method} /_search HTTP/1.1`, framing);
      expect(answer.split('\r\n')[0], `${method} ${JSON.stringify(framing)}`).toBe('HTTP/1.1 200 OK');
      expect(received, `${method} ${JSON.stringify(framing)}`).toEqual([{ method, path: '/_search', body: expected }]);
    }
  });
});

describe('write-only secrets and the edge key', () => {
  const SECRET = 'Zq9-cli-introspection-secret';
  const withSecret = (id: string) => tenant(id, [`api.${id}.test`], {
    issuers: [{ issuer: 'https://issuer.example/', audiences: ['https://api.example'], introspection: { clientId: 'edge', clientSecret: SECRET } }],
  });

  it('prints {"set": true} in place of a secret on put and get, never the secret', async () => {
    const put = await runTenants(edge, ['put', await file('secret.json', withSecret('secret'))]);
    expect(put.code).toBe(0);
    expect(put.json().issuers[0].introspection.clientSecret).toEqual({ set: true });
    const got = await runTenants(edge, ['get', 'secret']);
    expect(got.json()).toEqual(put.json());
    for (const text of [put.stdout, put.stderr, got.stdout, got.stderr]) expect(text).not.toContain(SECRET);
  });

  it('prints the edge public key set, the same the tenant host serves', async () => {
    const result = await runTenants(edge, ['jwks', 'secret']);
    expect(result.code).toBe(0);
    const keys = result.json().keys as Record<string, string>[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    const served = await fetchAs(edge, 'api.secret.test', '/_edge/jwks');
    expect(served.status).toBe(200);
    expect(await served.json()).toEqual({ keys });
  });

  it('reseals every tenant (GET then PUT with If-Match): nothing to do with one key, and the secret kept', async () => {
    const before = etagIn((await runTenants(edge, ['get', 'secret'])).stderr);
    const one = await runTenants(edge, ['reseal', 'secret']);
    expect(one.code).toBe(0);
    expect(one.stdout.trim()).toBe('current secret');
    const all = await runTenants(edge, ['reseal']);
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split('\n')).toContain('current secret');
    expect(all.stdout.trim().split('\n').every((line) => line.startsWith('current '))).toBe(true);
    const missing = await runTenants(edge, ['reseal', 'nobody']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^failed 404 unknown_tenant nobody/);
    // The same secret written again leaves the record as it was: it is still the one kept.
    const rewritten = await runTenants(edge, ['put', await file('secret.json', withSecret('secret'))]);
    expect(etagIn(rewritten.stderr)).toBe(before);
  });

  it('keeps the secret out of everything wrangler dev printed', () => {
    expect(edge.output()).not.toContain(SECRET);
  });
});
