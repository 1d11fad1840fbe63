// The reason codes in code and in the project's own reference (docs/errors.md) are the same
// closed set (only files of this repository are read). What a signature check answers is
// test/verify/compact.test.ts's.
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import errors from '../../docs/errors.md?raw';
import { DPOP_REASONS, REASONS } from '../../src/base/denial';

/** The first column of the table under a heading, backticks removed. */
function tableCodes(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
}

describe('reason codes', () => {
  it('REASONS lists exactly the reason codes of docs/errors.md', () => {
    expect(tableCodes(errors, 'Reason codes').sort()).toEqual([...REASONS].sort());
  });
  it('DPOP_REASONS lists exactly the DPoP proof reasons of docs/errors.md', () => {
    expect(tableCodes(errors, 'DPoP proof reasons').sort()).toEqual([...DPOP_REASONS].sort());
  });
});
