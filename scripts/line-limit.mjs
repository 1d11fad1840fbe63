#!/usr/bin/env node
// @ts-check
// The line limit of the sources (`npm test` runs it first): no line of src/ over 140 characters,
// so every file reads without scrolling sideways. There is no formatter; long lines are wrapped
// by hand where they read best. Characters are counted as code points ("§" is one).
//
//   node scripts/line-limit.mjs          # exit 1 and the offending lines, file:line (length)
//   import { longLines } from './line-limit.mjs'; longLines('src', 140);
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MAX_LINE = 140;

/** Every line over `max` characters in the TypeScript and JavaScript files under `dir`. */
export function longLines(dir = join(ROOT, 'src'), max = MAX_LINE) {
  /** @type {{ file: string; line: number; length: number }[]} */
  const found = [];
  for (const file of filesUnder(dir).filter((name) => /\.(ts|m?js)$/.test(name))) {
    readFileSync(file, 'utf8').split('\n').forEach((text, index) => {
      const length = [...text].length;
      if (length > max) found.push({ file: relative(ROOT, file), line: index + 1, length });
    });
  }
  return found;
}

/** @param {string} dir @returns {string[]} */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const found = longLines();
  for (const { file, line, length } of found) console.error(`${file}:${line} (${length} characters)`);
  if (found.length > 0) {
    console.error(`${found.length} line(s) of src/ over ${MAX_LINE} characters: wrap them.`);
    process.exit(1);
  }
}
