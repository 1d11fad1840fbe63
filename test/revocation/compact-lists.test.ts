// How the object splits its lists into filters and tails (src/revocation/compact-lists.ts): one
// horizon for all lists, whole seconds only, within the byte budget; tails fitted under their
// share, a burst raising the horizon of the lists it cut. As a property: every row at or after
// the horizon is in the filter or the tail, and the filters fit the budget.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuseFilterBytes, mayContain } from '../../src/revocation/binary-fuse';
import { composeLists, fitTails, planFilters, TAIL_ONLY } from '../../src/revocation/compact-lists';
import { latestRevocation, type RevocationRow } from '../../src/revocation/revocation-list';

type Rows = Record<'a' | 'b', RevocationRow[]>;
/** Newest first, as the object's index walk reads them. */
const newestFirst = (rows: RevocationRow[]) => [...rows].sort((x, y) => y[1] - x[1]);
const iterators = (rows: Rows) => ({ a: newestFirst(rows.a)[Symbol.iterator](), b: newestFirst(rows.b)[Symbol.iterator]() });
const NO_MARKS = { floor: 0, agedThrough: 0 };

describe('planFilters', () => {
  it('puts every row in the filters while they fit, horizon 0', () => {
    const rows: Rows = { a: [[1, 100], [2, 101]], b: [[3, 100]] };
    const plan = planFilters(iterators(rows), { a: 200, b: 200 }, 1_000);
    expect(plan.a).toMatchObject({ horizon: 0, tailFrom: 200, filter: { through: 101 } });
    expect(plan.b).toMatchObject({ horizon: 0, tailFrom: 200, filter: { through: 100 } });
    for (const hash of [1, 2]) expect(mayContain(plan.a.filter!, hash)).toBe(true);
    expect(mayContain(plan.b.filter!, 3)).toBe(true);
  });

  it('cuts every list at one horizon, a whole second, when the filters would pass the budget', () => {
    // 40 rows a second for 10 seconds in a, 10 a second in b: the budget takes the newest seconds of both.
    const rows: Rows = { a: [], b: [] };
    for (let second = 100; second < 110; second++) {
      for (let i = 0; i < 40; i++) rows.a.push([second * 1_000 + i, second]);
      for (let i = 0; i < 10; i++) rows.b.push([500_000 + second * 1_000 + i, second]);
    }
    const budget = fuseFilterBytes(200) + fuseFilterBytes(50);
    const plan = planFilters(iterators(rows), { a: 110, b: 110 }, budget);
    expect(plan.a.horizon).toBe(plan.b.horizon);
    expect(plan.a.horizon).toBeGreaterThan(100);
    expect(plan.a.filter!.fingerprints.byteLength + plan.b.filter!.fingerprints.byteLength).toBeLessThanOrEqual(budget);
    for (const [hash, at] of rows.a) if (at >= plan.a.horizon) expect(mayContain(plan.a.filter!, hash)).toBe(true);
  });

  it('leaves a list with nothing in budget without a filter, its horizon above its newest entry', () => {
    const plan = planFilters(iterators({ a: [[1, 100], [2, 100]], b: [] }), { a: 200, b: 200 }, 0);
    expect(plan.a).toEqual({ filter: null, horizon: 101, tailFrom: 200 });
    expect(plan.b).toEqual({ filter: null, horizon: 0, tailFrom: 200 });
  });

  it('covers every row at or after its horizon, within the budget, for any rows and budget', () => {
    const row = fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 100, max: 140 }));
    fc.assert(fc.property(fc.array(row, { maxLength: 400 }), fc.array(row, { maxLength: 400 }), fc.integer({ min: 0, max: 2_000 }),
      (a, b, budget) => {
        const plan = planFilters(iterators({ a, b }), { a: 141, b: 141 }, budget);
        expect((plan.a.filter?.fingerprints.byteLength ?? 0) + (plan.b.filter?.fingerprints.byteLength ?? 0)).toBeLessThanOrEqual(budget);
        for (const [name, rows] of [['a', a], ['b', b]] as const) {
          for (const [hash, at] of rows) {
            if (at >= plan[name].horizon) expect(plan[name].filter !== null && mayContain(plan[name].filter!, hash)).toBe(true);
          }
        }
      }), { numRuns: 200 });
  });
});

describe('fitTails and composeLists', () => {
  it('ship the tails as they are while they fit', () => {
    const lists = composeLists({ a: TAIL_ONLY, b: TAIL_ONLY }, { a: [[7, 105], [8, 104]], b: [] }, 3, { a: { floor: 9, agedThrough: 3 }, b: NO_MARKS });
    expect(lists.a).toMatchObject({ horizon: 0, filter: null, floor: 9, agedThrough: 3 });
    expect(latestRevocation(lists.a, 7)).toBe(105);
    expect(lists.b.entries.length).toBe(0);
  });

  it('cut a burst too big for the tails at a whole second, and raise the horizon of the lists they cut', () => {
    const tails = { a: [[1, 105], [2, 104], [3, 104]] as RevocationRow[], b: [[4, 104]] as RevocationRow[] };
    expect(fitTails(tails, 2)).toEqual({ a: { rows: [[1, 105]], horizon: 105 }, b: { rows: [], horizon: 105 } });
    const plan = planFilters(iterators({ a: [[9, 100]], b: [[10, 100]] }), { a: 104, b: 104 }, 1_000);
    const lists = composeLists(plan, tails, 2, { a: NO_MARKS, b: NO_MARKS });
    // The filters hold only entries older than the raised horizon: they are dropped.
    expect(lists.a).toMatchObject({ horizon: 105, filter: null });
    expect(lists.b).toMatchObject({ horizon: 105, filter: null });
    expect(fitTails(tails, 4)).toEqual({ a: { rows: tails.a, horizon: 0 }, b: { rows: tails.b, horizon: 0 } });
  });
});
