// @ts-check
// The dev SSF transmitter (dev/ssf/transmitter.mjs) as a Worker, for tests that run inside workerd
// (an auxiliary Worker of @cloudflare/vitest-plugin, or Miniflare). It imports no npm package,
// so it can be declared by scriptPath alone:
//
//   { name: 'transmitter', modules: true, scriptPath: './dev/ssf-transmitter-worker.mjs',
//     compatibilityDate: '2026-04-01',
//     bindings: { ISSUER: 'https://ssf.transmitter.test', RECEIVERS: JSON.stringify([{ id: 'edge',
//       audience: 'https://api.acme.test/ssf', bearerToken: 't' }]) },
//     serviceBindings: { PUSH: 'vitest-plugin-runner-workers' } }   // pushes go to the Worker under test
//
// Env: ISSUER (default: the origin of the first request), RECEIVERS (JSON, as startTransmitter's
// `receivers`), OPTIONS (JSON, any other option of createTransmitter), and PUSH, a service binding
// that pushes are sent through (default: the global fetch). State lives as long as the isolate.
import { createTransmitter } from './ssf/transmitter.mjs';

/** @typedef {{ ISSUER?: string, RECEIVERS?: string, OPTIONS?: string, PUSH?: { fetch: typeof fetch } }} Env */

/** @type {ReturnType<typeof createTransmitter> | null} */
let transmitter = null;

export default {
  /** @param {Request} request @param {Env} env @param {{ waitUntil(promise: Promise<unknown>): void }} ctx */
  async fetch(request, env, ctx) {
    // Keys are made on the first request: workerd allows no randomness at global scope.
    transmitter ??= createTransmitter({
      ...(env.OPTIONS ? JSON.parse(env.OPTIONS) : {}),
      issuer: env.ISSUER ?? new URL(request.url).origin,
      receivers: JSON.parse(env.RECEIVERS ?? '[]'),
      ...(env.PUSH ? { fetch: /** @type {typeof fetch} */ ((url, init) => /** @type {NonNullable<Env['PUSH']>} */ (env.PUSH).fetch(url, init)) } : {}),
    });
    return (await transmitter).fetch(request, { waitUntil: (promise) => ctx.waitUntil(promise) });
  },
};
