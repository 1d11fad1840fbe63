// The product through its library door: a Hono app with edgeAuth (decision only, answering 200),
// bound to the product's own Durable Object classes. Hosts pick a variant of the same tenant:
//
//   api.bench.test   TenantState bound (revocation, maxStalenessSeconds 5), RateLimiter bound, no limits configured
//   off.bench.test   neither bound: no status, no revocation, no limits
//   on.bench.test    as api, plus a perSubject limit (high enough never to refuse)
//
// Bench endpoints (not part of the product): GET /__stats (token cache counters) and
// POST /__micro?what=product|product-cached|jose|crypto&n=N with a JSON array of tokens: N decisions in a loop
// inside the isolate, timed across an awaited loopback I/O before and after (workerd's clock
// stands still between I/O), answering µs per decision.
import { Hono } from 'hono';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { systemClock } from '../../src/clock';
import { Decision } from '../../src/gateway/decision';
import { decideHttp } from '../../src/gateway/http';
import { sampleRateOf } from '../../src/gateway/log';
import { createPipeline, type PipelineIo } from '../../src/gateway/pipeline';
import { createTokenCache, edgeAuth, type EdgeAuthBindings, type EdgeAuthVariables } from '../../src/hono/edge-auth';
import { normalizeRequestHost } from '../../src/tenants/hosts';
import { parseTenantConfig } from '../../src/tenants/schema';
import { compileTenant } from '../../src/tenants/tenant';

export { IssuerKeys } from '../../src/keys/issuer-keys';
export { RateLimiter } from '../../src/state/rate-limiter';
export { TenantState } from '../../src/state/tenant-state';

interface BenchEnv extends EdgeAuthBindings {
  ISSUER: string;
  AUDIENCE: string;
  JWKS: string;
  AUX: Fetcher;
}

const base = (env: BenchEnv) => ({
  id: 'bench', hosts: ['api.bench.test', 'on.bench.test', 'off.bench.test'],
  issuers: [{ issuer: env.ISSUER, audiences: [env.AUDIENCE], algorithms: ['RS256', 'ES256'] }],
});
let configs: Record<string, object> | undefined;
const configsOf = (env: BenchEnv): Record<string, object> => configs ??= {
  'api.bench.test': base(env),
  'off.bench.test': base(env),
  'on.bench.test': { ...base(env), rateLimit: { perSubject: { limit: 1_000_000, windowSeconds: 60 } } },
};

const tokenCache = createTokenCache({ now: systemClock });
const app = new Hono<{ Bindings: BenchEnv; Variables: EdgeAuthVariables }>();

app.get('/__stats', (c) => c.json({ tokenCache: { ...tokenCache.counters, size: tokenCache.size, bytes: tokenCache.bytes } }));
app.post('/__micro', async (c) => micro(c.req.raw, c.env));

app.use('*', edgeAuth({
  // The Host header: what a multi-tenant user's resolver would read (no second URL parse).
  tenant: (c) => configsOf(c.env as BenchEnv)[c.req.header('host') ?? ''] ?? null,
  bindings: (c) => {
    const env = c.env as BenchEnv;
    if (c.req.header('host') !== 'off.bench.test') return env;
    return { ISSUER_KEYS: env.ISSUER_KEYS, LOG_SAMPLE_RATE: env.LOG_SAMPLE_RATE };
  },
  tokenCache,
}));
// The same handler as the jose-hono baseline: the comparison is of the middlewares.
app.all('*', () => new Response('ok'));

export default app;

// --- the in-isolate micro-benchmark -------------------------------------------------------

const microPipeline = createPipeline({ now: systemClock, tokenCache: false });
/** product-cached: the same decision with the token cache on (after the warm-up, every token hits). */
const cachedPipeline = createPipeline({ now: systemClock });
const encoder = new TextEncoder();

async function micro(request: Request, env: BenchEnv): Promise<Response> {
  const url = new URL(request.url);
  const what = url.searchParams.get('what') ?? '';
  const n = Number(url.searchParams.get('n') ?? 1000);
  const tokens = (await request.json()) as string[];
  const one = await decider(what, env, tokens);
  if (one === null) return new Response('unknown what', { status: 400 });
  for (let i = 0; i < Math.min(n, 200); i++) if (!(await one(i))) return new Response(`${what} refused token ${i}`, { status: 500 });
  const start = await tick(env);
  for (let i = 0; i < n; i++) await one(i);
  const end = await tick(env);
  return Response.json({ what, n, usPerDecision: ((end - start) * 1000) / n });
}

/** The time after an awaited loopback I/O: workerd's clock moves only across I/O. */
async function tick(env: BenchEnv): Promise<number> {
  await (await env.AUX.fetch('http://aux/__tick')).arrayBuffer();
  return Date.now();
}

type One = (i: number) => Promise<boolean>;

async function decider(what: string, env: BenchEnv, tokens: string[]): Promise<One | null> {
  if (what === 'product' || what === 'product-cached') {
    // The gateway's and edgeAuth's whole decision for one request, token cache off: the URL, the
    // Decision, metadata/status/preflight/perIp/route/credentials/verify/revocation/scopes/
    // perSubject, the sampled log. Not Hono's routing nor the Response.
    const parsed = parseTenantConfig(configsOf(env)['api.bench.test']);
    if (!parsed.ok) throw new Error('bench tenant config invalid');
    const tenant = compileTenant(parsed.config);
    const io: PipelineIo = {
      issuerKeys: env.ISSUER_KEYS, tenantState: env.TENANT_STATE ?? null, rateLimiter: env.RATE_LIMITER ?? null,
      cache: caches.default, allowInsecure: false, waitUntil: (p) => { void p.catch(() => undefined); },
    };
    const requests = tokens.map((t) => new Request('https://api.bench.test/orders', { headers: { authorization: `Bearer ${t}` } }));
    const sampleRate = sampleRateOf(env.LOG_SAMPLE_RATE);
    const answered = new Response('ok');
    return async (i) => {
      const req = requests[i % requests.length]!;
      const reqUrl = new URL(req.url);
      const d = new Decision({ host: normalizeRequestHost(reqUrl), requestId: req.headers.get('cf-ray') ?? crypto.randomUUID(), now: systemClock });
      const decided = await decideHttp(what === 'product' ? microPipeline : cachedPipeline, tenant, req, reqUrl, io, d);
      if (decided.kind !== 'pass') return false;
      d.answer(decided.outcome, answered);
      d.log(sampleRate, Math.random);
      return true;
    };
  }
  if (what === 'jose') {
    const jwks = createLocalJWKSet(JSON.parse(env.JWKS));
    const options = { issuer: env.ISSUER, audience: env.AUDIENCE, algorithms: ['RS256', 'ES256'], requiredClaims: ['exp'] };
    return async (i) => { await jwtVerify(tokens[i % tokens.length]!, jwks, options); return true; };
  }
  if (what === 'crypto') {
    const jwks = (JSON.parse(env.JWKS) as { keys: (JsonWebKey & { kid: string; alg: string })[] }).keys;
    const keys = new Map<string, CryptoKey>();
    for (const jwk of jwks) {
      const params = jwk.alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
      keys.set(jwk.kid, await crypto.subtle.importKey('jwk', jwk, params, false, ['verify']));
    }
    return async (i) => {
      const token = tokens[i % tokens.length]!;
      const dot1 = token.indexOf('.');
      const dot2 = token.lastIndexOf('.');
      const header = JSON.parse(atob(token.slice(0, dot1).replace(/-/g, '+').replace(/_/g, '/'))) as { alg: string; kid: string };
      const params = header.alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: 'SHA-256' };
      const signature = Uint8Array.from(atob(token.slice(dot2 + 1).replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0));
      return crypto.subtle.verify(params, keys.get(header.kid)!, signature, encoder.encode(token.slice(0, dot2)));
    };
  }
  return null;
}
