// The package as users get it (README.md "In your own Worker"): `npm pack` holds the compiled ESM
// JavaScript and declarations of the two entry points and nothing else. A Worker project of its
// own, test/e2e/consumer/ (the README shows it file by file), installs the tarball with its own
// hono, wrangler and TypeScript (from the npm cache, else the registry), typechecks against the
// installed declarations, and under its own `wrangler dev` (workerd) answers through edgeAuth:
// 200 with a token from a local provider (dev/issuer.mjs), 401 missing_token without.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIssuer, type Issuer } from '../../dev/issuer.mjs';
import { hostRequest } from '../../scripts/host-request.mjs';
import { freePort } from '../../scripts/processes.mjs';
import { startWranglerDev, type WranglerDev } from '../../scripts/wrangler-dev.mjs';
import { ROOT } from './support/cli';

const run = promisify(execFile);
const CONSUMER = join(ROOT, 'test/e2e/consumer');
/** npm as the user runs it: the npm that runs this test when there is one, else the one on PATH. */
const NPM = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
const npm = (args: string[], cwd: string) => run(NPM[0]!, [...NPM.slice(1), ...args], { cwd, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

let scratch: string;
let project: string;
let packed: Packed;
let issuer: Issuer;
let worker: WranglerDev | undefined;

/** The consumer project's files, as paths under it. */
function projectFiles(dir = CONSUMER): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? projectFiles(join(dir, entry.name)) : [relative(CONSUMER, join(dir, entry.name))]);
}

/** Whether lib/ was there before the test built it: a build the test made is removed after it. */
const hadLib = existsSync(join(ROOT, 'lib'));

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edge-package-'));
  // prepack builds lib/ first, as it does before a publish.
  const { stdout } = await npm(['pack', '--json', '--pack-destination', scratch], ROOT);
  packed = (JSON.parse(stdout.slice(stdout.indexOf('['))) as [Packed])[0];
  project = join(scratch, 'my-worker');
  cpSync(CONSUMER, project, { recursive: true });
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(scratch, packed.filename)], project);
  issuer = await startIssuer({
    resources: [{ resource: 'https://api.acme.com', scopes: ['read', 'admin'], alg: 'ES256', clients: [{ clientId: 'acme-app', clientSecret: 'acme-app-secret' }] }],
  });
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await issuer?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  if (!hadLib) await rm(join(ROOT, 'lib'), { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds lib/ (JavaScript and declarations) and package.json, README.md: nothing of src, test, dev or bench', () => {
    const paths = packed.files.map((file) => file.path).sort();
    expect(paths.filter((path) => !/^lib\/[\w/-]+\.(js|d\.ts)$/.test(path))).toEqual(['README.md', 'package.json']);
    expect(paths).toEqual(expect.arrayContaining(['lib/index.js', 'lib/index.d.ts', 'lib/hono.js', 'lib/hono.d.ts']));
    // Every module has its declarations, and the other way round.
    const modules = (suffix: string) => paths.filter((path) => path.endsWith(suffix)).map((path) => path.slice(0, -suffix.length));
    expect(modules('.d.ts')).toEqual(modules('.js'));
  });

  it('installs as a package: no private flag, exports with types first, ESM with file extensions on every relative import', () => {
    const installed = join(project, 'node_modules/edge-token-verifier');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(manifest.private).toBeUndefined();
    expect(manifest.type).toBe('module');
    for (const entry of ['.', './hono']) expect(Object.keys(manifest.exports[entry])).toEqual(['types', 'default']);
    for (const file of ['lib/http/edge-auth.js', 'lib/http/door.js']) {
      const js = readFileSync(join(installed, file), 'utf8');
      expect(js).toMatch(/from '\.\.\/pipeline\/[a-z-]+\.js'/);
      expect(js).not.toMatch(/from '\.\.?\/[^']*[^s]'/);
    }
    expect(readFileSync(join(installed, 'lib/revocation/tenant-state.js'), 'utf8')).toContain("from 'cloudflare:workers'");
  });
});

describe('a Worker project of its own (README "In your own Worker")', () => {
  it('is what the README shows, file by file', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const file of projectFiles()) {
      expect(readme, `${file} as the README shows it`).toContain(`${readFileSync(join(CONSUMER, file), 'utf8').trimEnd()}\n\`\`\``);
    }
  });

  it('typechecks against the installed declarations, also with the RPC door\'s types and Node\'s own resolution', async () => {
    // Not part of the README's Worker: the RPC types, used as a Worker bound to the gateway would.
    writeFileSync(join(project, 'src/rpc-types.ts'), `import type { Verifier, VerifyRequest, VerifyResult } from 'edge-token-verifier';

export async function verifyOrders(verifier: Service<Verifier>, token: string): Promise<string> {
  const request: VerifyRequest = { host: 'api.acme.com', token, path: '/orders' };
  const result = await verifier.verify(request);
  const refused: Extract<VerifyResult, { ok: false }>['error'] | null = result.ok ? null : result.error;
  return result.ok ? \`\${result.tenant} \${result.subject} \${result.scopes.join(' ')}\` : \`\${result.status} \${refused}\`;
}
`);
    const tsc = join(project, 'node_modules/.bin/tsc');
    await expect(run(tsc, ['--noEmit', '--skipLibCheck', 'false'], { cwd: project })).resolves.toBeDefined();
    await expect(run(tsc, ['--noEmit', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext'], { cwd: project }))
      .resolves.toBeDefined();
  });

  it('serves through edgeAuth in its own wrangler dev: 200 with a token from the provider, 401 without', async () => {
    worker = startWranglerDev({
      cwd: project, port: await freePort(), inspectorPort: await freePort(), persistTo: join(scratch, 'state'),
      vars: { ISSUER: issuer.url, ALLOW_INSECURE_ISSUERS: 'true' }, removeOnExit: scratch,
    });
    await worker.ready;
    const token = await issuer.token({ clientId: 'acme-app', clientSecret: 'acme-app-secret', resource: 'https://api.acme.com', scope: 'read' });
    const accepted = await hostRequest(`${worker.url}/api/orders`, { host: 'api.acme.com', headers: { authorization: `Bearer ${token}` } });
    expect(accepted.status, worker.output()).toBe(200);
    expect(await accepted.json()).toEqual({ subject: 'acme-app', scopes: ['read'] });

    const refused = await hostRequest(`${worker.url}/api/orders`, { host: 'api.acme.com' });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'missing_token' });
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer realm="api\.acme\.com"/);
    const scoped = await hostRequest(`${worker.url}/api/admin/users`, { host: 'api.acme.com', headers: { authorization: `Bearer ${token}` } });
    expect(scoped.status).toBe(403);
  });
});
