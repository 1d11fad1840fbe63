import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        // Every outbound fetch of the Worker under test (issuers, origins) goes to the
        // auxiliary Worker below: test issuers keep their https:// URLs.
        outboundService: 'issuer',
        // Tests see production settings, not the .dev.vars of `npm start`.
        bindings: { ADMIN_TOKEN: 'test-admin-token', ALLOW_INSECURE_ISSUERS: 'false' },
        workers: [{ name: 'issuer', modules: true, scriptPath: './test/fixtures/issuer-worker.js', compatibilityDate: '2026-04-01' }],
      },
    }),
  ],
  test: { include: ['test/**/*.test.ts'] },
});
