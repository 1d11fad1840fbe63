// Worker entry: the fetch handler and the Durable Object classes wrangler.toml binds.
import { createApp } from './app';
import type { Env } from './env';

export { IssuerKeys } from './keys/issuer-keys';
export { Directory } from './tenants/directory';

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
