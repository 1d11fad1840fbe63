#!/usr/bin/env node
// @ts-check
// `npm run build` (and `prepack`): the package as users install it. tsc (tsconfig.build.json)
// compiles the two entry points, `edge-token-verifier` (src/index.ts: the Worker, its Durable
// Object classes, the Verifier RPC entrypoint and its types) and `edge-token-verifier/hono`
// (src/hono.ts), with everything they import, to ESM JavaScript and declarations in
// lib/. The sources import each other without extensions (the bundler resolution wrangler
// uses); ESM itself, Node and `moduleResolution: "nodenext"` want the file named, so every
// relative specifier in lib/ gets its `.js` (or `/index.js`) here, and one that names no emitted
// file fails the build. `cloudflare:workers` stays an import: the user's wrangler (esbuild)
// treats `cloudflare:*` as external, and workerd provides it.
//
//   npm run build            # lib/index.js, lib/index.d.ts, lib/hono.js, ...
//   import { build } from './build.mjs'; await build();
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'lib');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** `from '…'`, `import '…'` and `import('…')` with a relative specifier, in JS and in declarations. */
const RELATIVE = /(\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.\.?\/[^'"]*)\2/g;

export async function build() {
  rmSync(LIB, { recursive: true, force: true });
  execFileSync(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  for (const file of filesUnder(LIB).filter((name) => name.endsWith('.js') || name.endsWith('.d.ts'))) {
    const text = readFileSync(file, 'utf8');
    const named = text.replace(RELATIVE, (_match, keyword, quote, specifier) => `${keyword}${quote}${withExtension(file, specifier)}${quote}`);
    if (named !== text) writeFileSync(file, named);
  }
}

/** @param {string} file the importing file in lib/ @param {string} specifier './x', '../y' */
function withExtension(file, specifier) {
  if (/\.(m?js|json)$/.test(specifier)) return specifier;
  const base = resolve(dirname(file), specifier);
  if (existsSync(`${base}.js`)) return `${specifier}.js`;
  if (existsSync(join(base, 'index.js'))) return `${specifier.replace(/\/$/, '')}/index.js`;
  throw new Error(`${relative(ROOT, file)} imports ${specifier}, which is no file in lib/`);
}

/** @param {string} dir @returns {string[]} */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await build();
