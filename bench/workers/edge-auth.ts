// The product through its library door, imported only through the package's exports as a user's
// Worker would ("edge-token-verifier/hono" and "edge-token-verifier"): a Hono app with edgeAuth
// in front of the same handler as the floor and jose-hono baselines, bound to the product's own
// Durable Object classes. Hosts pick a variant of the same tenant:
//
//   api.bench.test   TenantState bound (revocation), RateLimiter bound, no limits configured
//   off.bench.test   neither bound: no status, no revocation, no limits
//   on.bench.test    as api, plus a perSubject limit (high enough never to refuse)
//   opaque.bench.test   as api, its issuer introspecting opaque tokens (RFC 7662) at the stand-in
//
// GET /__stats (not part of the product): the token cache's counters, for the hit share of a run.
// POST /__dpop?mode=noop|claim|cold&n=N (not part of the product): N calls to DpopReplay objects
// made one after another from inside this Worker, for the DPoP split (bench/dpop.mjs): a no-op
// call (size()) to one warm object, a claim of a fresh jti on it, or a claim on N new objects.
import { Hono } from 'hono';
import type { DpopReplay } from 'edge-token-verifier';
import { createTokenCache, edgeAuth, type EdgeAuthBindings, type EdgeAuthVariables } from 'edge-token-verifier/hono';

export { DpopReplay, IssuerKeys, RateLimiter, TenantState } from 'edge-token-verifier';

interface BenchEnv extends EdgeAuthBindings {
  ISSUER: string;
  AUDIENCE: string;
}

const base = (env: BenchEnv) => ({
  id: 'bench', hosts: ['api.bench.test', 'on.bench.test', 'off.bench.test'],
  issuers: [{ issuer: env.ISSUER, audiences: [env.AUDIENCE], algorithms: ['RS256', 'ES256'] }],
  // Proofs are signed before the run: an hour's window keeps the last round's proofs fresh.
  dpop: { maxAgeSeconds: 3600, nonce: false },
});
// One object per host for the isolate's life: edgeAuth compiles a resolver's config once per object.
let configs: Record<string, object> | undefined;
const configsOf = (env: BenchEnv): Record<string, object> => configs ??= {
  'api.bench.test': base(env),
  'off.bench.test': base(env),
  'on.bench.test': { ...base(env), rateLimit: { perSubject: { limit: 1_000_000, windowSeconds: 60 } } },
  'opaque.bench.test': {
    ...base(env), id: 'bench-opaque', hosts: ['opaque.bench.test'],
    issuers: [{
      issuer: env.ISSUER, audiences: ['https://opaque.bench.test'], algorithms: ['RS256', 'ES256'],
      introspection: { endpoint: `${env.ISSUER.replace(/\/$/, '')}/introspect`, clientId: 'bench-edge', clientSecret: 'bench-edge-secret', cacheSeconds: 300 },
    }],
  },
};

const tokenCache = createTokenCache({ now: () => Date.now() });
const app = new Hono<{ Bindings: BenchEnv; Variables: EdgeAuthVariables }>();

app.get('/__stats', (c) => c.json({ tokenCache: { ...tokenCache.counters, size: tokenCache.size, bytes: tokenCache.bytes } }));

app.post('/__dpop', async (c) => {
  const replays = (c.env as BenchEnv & { DPOP_REPLAY: DurableObjectNamespace<DpopReplay> }).DPOP_REPLAY;
  const n = Number(c.req.query('n') ?? 0);
  const mode = c.req.query('mode');
  const run = crypto.randomUUID();
  const object = (jkt: string) => replays.get(replays.idFromName(`bench/dpop/${jkt}`));
  const claim = (jkt: string, i: number) =>
    ({ tenantId: 'bench', jkt, jti: `${run}-${i}`, expiresAt: Math.floor(Date.now() / 1000) + 600 });
  const warm = object('warm');
  for (let i = 0; i < n; i++) {
    if (mode === 'noop') await warm.size();
    else if (mode === 'claim') await warm.claim(claim('warm', i));
    else if (mode === 'cold') await object(`${run}-${i}`).claim(claim(`${run}-${i}`, i));
    else return c.text('mode: noop, claim or cold', 400);
  }
  return c.json({ n });
});

app.use('*', edgeAuth({
  // The Host header: what a multi-tenant user's resolver would read.
  tenant: (c) => configsOf(c.env as BenchEnv)[c.req.header('host') ?? ''] ?? null,
  bindings: (c) => {
    const env = c.env as BenchEnv;
    if (c.req.header('host') !== 'off.bench.test') return env;
    return { ISSUER_KEYS: env.ISSUER_KEYS, LOG_SAMPLE_RATE: env.LOG_SAMPLE_RATE };
  },
  tokenCache,
}));
// The same handler as the floor and jose-hono baselines: the comparison is of the middlewares.
app.all('*', () => new Response('ok'));

export default app;
