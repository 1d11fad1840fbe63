// The reason codes in code and in the product contract are the same closed set.
/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import spec from '../../../shared/SPEC.md?raw';
import { REASONS } from '../../src/denial';

describe('reason codes', () => {
  it('REASONS lists exactly the reason codes of SPEC.md', () => {
    const start = spec.indexOf('Reason codes for `invalid_token`:');
    expect(start).toBeGreaterThanOrEqual(0);
    const end = spec.indexOf('Where two could apply', start);
    const listed = [...spec.slice(start, end).matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).filter((code) => code !== 'invalid_token');
    expect(listed.sort()).toEqual([...REASONS].sort());
  });
});
