// What a route decision costs in the isolate: a plain path (the hot path: one pass, nothing
// built), decorated paths (several readings), and hostile ones (16 KiB of dots or slashes).
// Printed as ns per match for a look at the numbers; timings are never asserted.
import { describe, expect, it } from 'vitest';
import { compileRoutes, pathRefusal } from '../../src/policy/routes';
import type { RouteConfig } from '../../src/config/schema';

const table = compileRoutes([
  { path: '/health', auth: 'none', scopes: [] },
  { path: '/public/*', auth: 'none', scopes: [] },
  { path: '/admin/*', methods: ['POST', 'DELETE'], auth: 'required', scopes: ['admin'] },
  { path: '/admin/*', methods: ['GET'], auth: 'required', scopes: ['admin:read'] },
  { path: '/api/orders.json', auth: 'required', scopes: ['export'] },
  { path: '/api/orders', auth: 'required', scopes: ['orders'] },
  { path: '/api/*', auth: 'required', scopes: ['api'] },
  { path: '/*', auth: 'required', scopes: [] },
] as RouteConfig[]);

/** ns per call of `pathRefusal` and `match`, as the pipeline makes them, over n calls. */
function cost(method: string, path: string, n: number): number {
  let sink = 0;
  for (let i = 0; i < 1_000; i++) sink += table.match(method, path).scopes.length + (pathRefusal(path) === null ? 0 : 1);
  const started = performance.now();
  for (let i = 0; i < n; i++) sink += table.match(method, path).scopes.length + (pathRefusal(path) === null ? 0 : 1);
  const elapsed = performance.now() - started;
  expect(sink).toBeGreaterThanOrEqual(0);
  return (elapsed * 1e6) / n;
}

describe('route decision cost', () => {
  const cases: [label: string, path: string, n: number, scopes: string[]][] = [
    ['plain /api/orders/123', '/api/orders/123', 1_000_000, ['api']],
    ['plain public /health', '/health', 1_000_000, []],
    ['plain /api/orders', '/api/orders', 1_000_000, ['orders']],
    ['trailing slash /api/orders/', '/api/orders/', 200_000, ['orders', 'api']],
    ['suffix /api/orders.json', '/api/orders.json', 200_000, ['export', 'orders']],
    ['decorated /API;v=1/Orders%2Ejson/', '/API;v=1/Orders%2Ejson/', 200_000, ['export', 'orders', 'api']],
    ['decorated /Admin;jsessionid=1/%75sers.xml', '/Admin;jsessionid=1/%75sers.xml', 200_000, ['admin:read']],
    ['16 KiB of dots', `/${'.'.repeat(16_384)}`, 2_000, []],
    ['16 KiB of ".b" after /api/orders', `/api/orders${'.b'.repeat(8_192)}`, 2_000, ['orders', 'api']],
    ['16 KiB of "/a"', '/a'.repeat(8_192), 2_000, []],
    ['16 KiB of "A;"', `/${'A;'.repeat(8_192)}`, 2_000, []],
    ['15 KiB of "%20" at a segment edge', `/admin${'%20'.repeat(5_000)}/x`, 2_000, ['admin:read']],
    ['15 KiB of "%0b" inside and at the edges', `/${'%0ba'.repeat(3_500)}/x`, 2_000, []],
    ['15 KiB of "%61"', `/${'%61'.repeat(5_000)}/x`, 2_000, []],
  ];

  it('prints ns per match (pathRefusal included)', () => {
    const lines: string[] = [];
    for (const [label, path, n, scopes] of cases) {
      expect(table.match('GET', path).scopes, label).toEqual(scopes);
      lines.push(`${label.padEnd(44)} ${cost('GET', path, n).toFixed(0).padStart(8)} ns/op`);
    }
    console.log(`route decision cost (workerd, this machine):\n${lines.join('\n')}`);
  }, 60_000);
});
