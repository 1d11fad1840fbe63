import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { configDefaults, defineConfig } from 'vitest/config';

// Two projects: `workers` runs inside workerd (unit and integration tests), then `e2e` runs in
// Node against real `wrangler dev` processes. `vitest run --project e2e` runs one of them.
// The package's own name means the sources here, as tsconfig.json "paths" says: never lib/, which
// `npm pack` builds (stale or absent). Given to each project: a root `resolve` is not inherited.
const alias = [
  { find: /^edge-token-verifier$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
  { find: /^edge-token-verifier\/hono$/, replacement: fileURLToPath(new URL('./src/hono.ts', import.meta.url)) },
];

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              // Every outbound fetch of the Worker under test (issuers, origins) goes to the
              // auxiliary Worker below: test issuers keep their https:// URLs.
              outboundService: 'issuer',
              // Tests see production settings (wrangler.toml's), not dev/.dev.vars of `npm start`.
              bindings: { ADMIN_TOKEN: 'test-admin-token', ALLOW_INSECURE_ISSUERS: 'false', SECRETS_KEY: 'dGVzdC1zZWNyZXRzLWtleS0zMi1ieXRlcy1sb25nISE' },
              // The RPC door's consumer: another Worker bound to this one's `Verifier` entrypoint.
              // RELAY: a client whose GET or HEAD carries a body (test/fixtures/relay-worker.js).
              serviceBindings: { CONSUMER: 'consumer', RELAY: 'relay' },
              workers: [
                { name: 'issuer', modules: true, scriptPath: './test/fixtures/issuer-worker.js', compatibilityDate: '2026-04-01' },
                {
                  name: 'consumer', modules: true, scriptPath: './test/fixtures/rpc-consumer.js', compatibilityDate: '2026-04-01',
                  // The Worker under test runs as the plugin's runner, named after this project.
                  serviceBindings: { VERIFIER: { name: 'vitest-plugin-runner-workers', entrypoint: 'Verifier' } },
                },
                {
                  name: 'relay', modules: true, scriptPath: './test/fixtures/relay-worker.js', compatibilityDate: '2026-04-01',
                  serviceBindings: { GATEWAY: 'vitest-plugin-runner-workers' },
                },
              ],
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/**/*.test.ts'],
          // Some tests run thousands of decisions against real objects: on a busy two-core machine
          // they take longer than vitest's 5 s default, and a timeout there says nothing about the code.
          testTimeout: 30_000,
          exclude: [...configDefaults.exclude, 'test/e2e/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          // wrangler dev starts in seconds, but a cold build on a busy machine takes longer.
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One wrangler dev at a time, after the workers project: two cores do not fit more.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
