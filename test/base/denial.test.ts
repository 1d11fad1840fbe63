// The error codes in code and in the project's own reference (docs/errors.md) are the same closed
// set (only files of this repository are read).
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import errors from '../../docs/errors.md?raw';
import { DENIAL_ERRORS } from '../../src/base/denial';

/** The `error` column of the table under a heading, backticks removed. */
function errorColumn(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = markdown.indexOf('\n## ', start + 1);
  const rows = markdown.slice(start, next < 0 ? undefined : next).split('\n').filter((line) => line.startsWith('|'));
  const column = rows[0]!.split('|').map((cell) => cell.trim()).indexOf('error');
  expect(column).toBeGreaterThan(0);
  return rows.slice(2).map((row) => row.split('|')[column]!.trim().replace(/^`|`$/g, ''));
}

describe('error codes', () => {
  it('DENIAL_ERRORS lists exactly the error codes of docs/errors.md, each once', () => {
    const documented = errorColumn(errors, 'Error codes');
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...DENIAL_ERRORS].sort());
  });
});
