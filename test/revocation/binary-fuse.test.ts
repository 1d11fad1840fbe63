// The binary fuse filter the compact revocation lists carry: no false negative for any set and
// any query (a property over sets of every size, duplicates and all), a false-positive rate near
// 1 in 256, and the size it promises before it is built.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFuseFilter, fuseFilterBytes, mayContain } from '../../src/revocation/binary-fuse';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

describe('buildFuseFilter', () => {
  it('finds every key it was built with, whatever the set, and answers any other key without throwing', () => {
    fc.assert(fc.property(fc.array(u32, { maxLength: 3_000 }), fc.array(u32, { maxLength: 50 }), (keys, others) => {
      const filter = buildFuseFilter(Uint32Array.from(keys));
      for (const key of keys) expect(mayContain(filter, key)).toBe(true);
      for (const key of others) expect(typeof mayContain(filter, key)).toBe('boolean');
    }), { numRuns: 300 });
  });

  it('finds every key of sets full of repeats and of neighbouring values (what 32-bit hashes of values give)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff_f000 }), fc.integer({ min: 1, max: 4_000 }), fc.integer({ min: 1, max: 4 }),
      (start, count, repeat) => {
        const keys = Array.from({ length: count * repeat }, (_, i) => start + (i % count));
        const filter = buildFuseFilter(Uint32Array.from(keys));
        for (const key of keys) expect(mayContain(filter, key)).toBe(true);
      }), { numRuns: 100 });
  });

  it('is empty for no keys: nothing may be in it', () => {
    const filter = buildFuseFilter(new Uint32Array(0));
    expect(filter.fingerprints.byteLength).toBe(0);
    fc.assert(fc.property(u32, (key) => !mayContain(filter, key)));
  });

  it('says "maybe" for about 1 in 256 keys it does not hold, and takes the bytes fuseFilterBytes promised', () => {
    const rows: Record<string, number>[] = [];
    for (const size of [100, 5_000, 50_000]) {
      const keys = new Uint32Array(size);
      for (let i = 0; i < size; i++) keys[i] = (Math.imul(i, 0x9e37_79b1) ^ 0x5bd1_e995) >>> 0;
      const start = performance.now();
      const filter = buildFuseFilter(keys);
      const buildMs = performance.now() - start;
      expect(filter.fingerprints.byteLength).toBe(fuseFilterBytes(size));
      const held = new Set(keys);
      let tried = 0, maybe = 0;
      for (let x = 1; tried < 200_000; x++) {
        const key = Math.imul(x, 0x85eb_ca6b) >>> 0;
        if (held.has(key)) continue;
        tried++;
        if (mayContain(filter, key)) maybe++;
      }
      const rate = maybe / tried;
      expect(rate).toBeLessThan(1.5 / 256);
      expect(rate).toBeGreaterThan(0.5 / 256);
      rows.push({ keys: size, bytes: filter.fingerprints.byteLength, bitsPerKey: Math.round((8 * filter.fingerprints.byteLength / size) * 100) / 100,
        falsePositivesPer256: Math.round(rate * 256 * 100) / 100, buildMs: Math.round(buildMs * 10) / 10 });
    }
    console.info(JSON.stringify({ event: 'fuse_filter', rows }));
  });
});
