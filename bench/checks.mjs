// @ts-check
// The full run's checks beside the rows: keys under load (a cold tenant's burst, a random-kid
// flood), counted at the stand-in issuer, and the size of the deploy bundle.
//
//   const cold = await coldTenant(urls, outside, keys, jwks);   // { statuses, discovery, jwks }
//   const flood = await kidFlood(urls, outside, keys);     // { statuses, refetches, seconds }
//   const size = bundleSize();                             // { raw, gzip, parts } in bytes
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { expectStatus, request } from './load.mjs';
import { ISSUER, signToken } from './traffic.mjs';
import { build, root } from './workerd.mjs';

const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`);

/** @typedef {import('./workerd.mjs').Urls} Urls */
/** @typedef {ReturnType<typeof import('../test/fixtures/issuer-worker.js').control>} Outside */
/** @typedef {Record<import('./traffic.mjs').Alg, import('./traffic.mjs').SigningKey>} Keys */

/** A tenant nobody has asked about, hit by 100 concurrent requests through the gateway. */
export async function coldTenant(/** @type {Urls} */ urls, /** @type {Outside} */ outside, /** @type {Keys} */ keys, /** @type {{ keys: object[] }} */ jwks) {
  const issuerHost = `cold-${Date.now().toString(36)}.issuer.bench.test`;
  const host = `cold-${Date.now().toString(36)}.bench.test`;
  const issuer = `https://${issuerHost}/`;
  await outside.publishIssuer(issuer, jwks, { cacheControl: 'public, max-age=3600' });
  await expectStatus(urls.gateway, {
    host: 'admin.localhost', method: 'PUT', path: '/tenants/cold',
    headers: { authorization: 'Bearer bench-admin-token', 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'cold', hosts: [host], upstream: 'https://origin.bench.test', issuers: [{ issuer, audiences: [`https://${host}`] }] }),
  }, 201, 'PUT cold tenant');
  const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => signToken(keys.RS256, 'RS256', i, { issuer, audience: `https://${host}` })));
  const answers = await Promise.all(tokens.map((token) => request(urls.gateway, { host, token })));
  const statuses = countBy(answers.map((a) => a.status));
  const hits = {
    discovery: await outside.hits({ url: `https://${issuerHost}/.well-known/openid-configuration` }),
    jwks: await outside.hits({ url: `https://${issuerHost}/jwks` }),
  };
  log(`cold tenant, 100 concurrent: answers ${JSON.stringify(statuses)}, discovery fetches ${hits.discovery}, JWKS fetches ${hits.jwks}`);
  return { statuses, ...hits };
}

/** 1000 tokens with random kids at the warm edgeAuth Worker: how often does the issuer see a refetch? */
export async function kidFlood(/** @type {Urls} */ urls, /** @type {Outside} */ outside, /** @type {Keys} */ keys) {
  const jwksUrl = `${new URL(ISSUER).origin}/jwks`;
  const before = await outside.hits({ url: jwksUrl });
  const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => signToken(keys.ES256, 'ES256', i, { kid: crypto.randomUUID() })));
  const started = Date.now();
  /** @type {number[]} */
  const statuses = [];
  for (let i = 0; i < tokens.length; i += 50) {
    statuses.push(...(await Promise.all(tokens.slice(i, i + 50).map((token) => request(urls['edge-auth'], { token })))).map((a) => a.status));
  }
  const seconds = (Date.now() - started) / 1000;
  const refetches = (await outside.hits({ url: jwksUrl })) - before;
  log(`random-kid flood, 1000 tokens in ${seconds.toFixed(1)} s: answers ${JSON.stringify(countBy(statuses))}, JWKS refetches ${refetches}`);
  return { statuses: countBy(statuses), refetches, seconds };
}

/** What `wrangler deploy` would upload, raw and gzipped, and where its bytes come from: each
 *  part's bytes in the bundle (esbuild's metafile), src/ by folder and node_modules by package. */
export function bundleSize() {
  const outdir = path.join(build, 'deploy');
  const metafile = path.join(build, 'deploy-meta.json');
  execFileSync(path.join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir, '--metafile', metafile], { cwd: root, stdio: 'ignore' });
  const file = path.join(outdir, 'index.js');
  const raw = statSync(file).size;
  const gzip = gzipSync(readFileSync(file), { level: 9 }).length;
  log(`bundle (wrangler deploy --dry-run): ${(raw / 1024).toFixed(1)} KiB, ${(gzip / 1024).toFixed(1)} KiB gzipped`);
  /** @type {{ outputs: Record<string, { inputs?: Record<string, { bytesInOutput: number }> }> }} */
  const meta = JSON.parse(readFileSync(metafile, 'utf8'));
  const inputs = Object.values(meta.outputs).find((output) => output.inputs && Object.keys(output.inputs).length > 1)?.inputs ?? {};
  /** @type {Record<string, number>} */
  const parts = {};
  for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
    const at = input.replace(/^.*?(node_modules\/|src\/)/, '$1').split('/');
    const part = at[0] === 'node_modules' ? at.slice(0, at[1]?.startsWith('@') ? 3 : 2).join('/') : at.slice(0, at.length > 2 ? 2 : 1).join('/');
    parts[part] = (parts[part] ?? 0) + bytesInOutput;
  }
  return { raw, gzip, parts: Object.entries(parts).sort((a, b) => b[1] - a[1]) };
}

function countBy(/** @type {number[]} */ values) {
  /** @type {Record<string, number>} */
  const counts = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
