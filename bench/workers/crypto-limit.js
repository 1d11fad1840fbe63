// Baseline: the crypto limit. One crypto.subtle.verify of the token's signature per request (key
// imported once per isolate), no claim checks, a bare fetch handler answering 200.
import { verifyOnce } from './verify-once.js';

export default {
  async fetch(request, env) {
    return (await verifyOnce(request, env.JWKS)) ? new Response('ok') : new Response('bad signature', { status: 401 });
  },
};
