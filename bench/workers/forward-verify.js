// Baseline for the gateway on distinct tokens: forward after one crypto.subtle.verify. The
// token's signature checked once (key imported once per isolate, no claim checks), then the
// request forwarded exactly as forward-floor.js does. The origin runs in the same workerd
// process, so this is the least a verifying gateway can cost here.
import { verifyOnce } from './verify-once.js';

export default {
  async fetch(request, env) {
    if (!(await verifyOnce(request, env.JWKS))) return new Response('bad signature', { status: 401 });
    const url = new URL(request.url);
    return fetch(new Request(`https://origin.bench.test${url.pathname}${url.search}`, request));
  },
};
