// The gateway with a budget door: the product's Worker (as gateway.ts) for every request, and on
// /__budget/<step>/<n> one step of its request path run n times in this isolate, over the
// isolate's own warm state (the tenant, keys, tenant state and token cache its traffic filled),
// answering 204. bench/budget.mjs reads the workerd process's CPU (schedstat, in ns) around each
// such request: a step's cost is its run's CPU less the empty step's, divided by n. The steps
// call the functions the gateway's request calls, with the bench request's own headers, so the
// table of bench/RESULTS.md names what one request of each row pays, step by step.
//
//   POST /__budget/tokens          a JSON list of distinct tokens, for the steps of a distinct token
//   GET  /__budget/<step>/<n>      with the bench's headers (Host, Authorization of the repeated token)
//   GET  /__budget/                the steps' names, in the table's order
//
// Not part of the product: it exists for the bench alone, and a step that leaves a step of the
// gateway out must say so in its `about`.
import { Hono } from 'hono';
import gateway from 'edge-token-verifier';
import { settingsOf } from '../../src/config/settings';
import type { Env } from '../../src/env';
import { originRequest, isEdgeOwned } from '../../src/gateway/forward';
import { Admitted, createDoor } from '../../src/http/door';
import { passThrough } from '../../src/http/answers';
import { pipelineRequestOf } from '../../src/http/request';
import { requestUrl } from '../../src/http/request-url';
import { decide } from '../../src/pipeline/decide';
import { ioOf } from '../../src/pipeline/io';
import { workerIsolate } from '../../src/pipeline/isolate';
import { corsFor } from '../../src/pipeline/cors';
import { finishDecision } from '../../src/pipeline/record';
import { routeOf, methodOverridesOf } from '../../src/policy/routes';
import { checkClaims, checkStepUp } from '../../src/policy/conditions';
import { missingScopes } from '../../src/policy/scopes';
import { mayBeBound } from '../../src/possession/decision';
import { decideRevocation, peekState, readState } from '../../src/revocation/tenant-states';
import { resolveTenant } from '../../src/tenants/store';
import { extractCredentials } from '../../src/verify/extract';
import { verifyToken } from '../../src/verify/token';
import { decodeSegment, splitCompact, verifySignature } from '../../src/verify/compact';
import { rateLimitHeaders } from '../../src/http/answers';

export { Directory, IssuerKeys, RateLimiter, TenantState, Verifier } from 'edge-token-verifier';

type Setup = Awaited<ReturnType<typeof setUp>>;
type Step = { about: string; run: (s: Setup, i: number) => unknown };

/** Distinct tokens (POST /__budget/tokens): the steps of verification take them in turn (and
 *  again: they never reach the token cache); the wholes take each once, from the other end, so
 *  the gateway sees each token once. */
let tokens: string[] = [];
let next = 0;
let unseen = 0;
const distinct = (): string => tokens[next++ % (tokens.length >> 1)]!;
const fresh = (): string => {
  if (unseen >= tokens.length >> 1) throw new Error('budget: out of unseen tokens (POST more)');
  return tokens[tokens.length - 1 - unseen++]!;
};

/** What every step reads, made once per budget request from the isolate's warm state. */
async function setUp(incoming: Request, env: Env, ctx: ExecutionContext) {
  const isolate = workerIsolate();
  // The bench's request as the gateway receives it: GET /orders with the bench's headers, and
  // manual redirects, as a received request has.
  const request = new Request(new Request(`http://${incoming.headers.get('host')}/orders`, incoming), { redirect: 'manual' });
  const settings = settingsOf(env);
  const target = requestUrl(request.url);
  const waitUntil = (promise: Promise<unknown>) => ctx.waitUntil(promise);
  const io = ioOf(env, settings, waitUntil);
  const source = { kv: env.TENANTS, cacheSeconds: settings.tenantCacheSeconds, secrets: settings.secrets };
  const found = await resolveTenant(isolate.tenants, target.host, source);
  if (!found.ok) throw new Error(`budget: no tenant at ${target.host}`);
  const tenant = found.value.tenant;
  const resource = tenant.resource ?? `https://${target.host}`;
  const stateIo = { tenantState: io.tenantState!, waitUntil };
  const state = await readState(isolate.states, tenant.id, tenant.revocation.maxStalenessSeconds, stateIo, tenant.revocation.retainSeconds);
  const credentials = extractCredentials(request.headers.get('authorization'), target.search);
  if (!credentials.ok || credentials.value === null) throw new Error('budget: no bearer token');
  const token = credentials.value.token;
  const hit = isolate.tokenCache?.get(token, tenant, resource, isolate.keyTiers);
  if (hit === undefined) throw new Error('budget: the repeated token is not in the token cache (warm the budget Worker first)');
  const alg = hit.alg;
  if (alg === null) throw new Error('budget: the repeated token was introspected, not verified');
  const route = routeOf(tenant.routes, 'GET', '/orders', []);
  if (typeof route === 'string') throw new Error(route);
  const r = pipelineRequestOf(request, target, source);
  const decided = await decide(isolate, r, io);
  if (decided.verdict.kind !== 'passed') throw new Error(`budget: the request is ${decided.verdict.kind}`);
  const identity = decided.verdict.identity!;
  const door = createDoor(isolate, { handlerStep: 'origin' });
  const admitted = new Admitted(door, decided, settings, tenant, target, false, identity);
  const answered = await fetch(originRequest(request, target, tenant, identity, admitted));
  await answered.arrayBuffer();
  // The origin's answer without its body, so that a pass-through that copies it can run again.
  const response = new Response(null, { status: answered.status, headers: answered.headers });
  const verifying = { id: tenant.id, issuers: tenant.issuers, resource };
  const keys = isolate.keyTiers.source(io);
  const signed = splitCompact(token)!;
  const key = (await keys.candidates(hit.issuer, { alg, kid: hit.kid }));
  if (!key.ok) throw new Error('budget: no key');
  // The Hono app's shape, handlers doing nothing: what dispatch costs the gateway before its steps.
  const shape = new Hono<{ Bindings: Env }>();
  const ok = new Response('ok');
  shape.use('*', async (_c, next) => next());
  shape.use('*', async (_c, next) => { await next(); });
  shape.all('*', () => ok);
  // The gateway's own handler's shape (app.ts): the admin check, then an awaited door and forwarder.
  const nothing = async (): Promise<Response> => ok;
  const serve = async (req: Request): Promise<Response> => {
    if (requestUrl(req.url).host === settings.adminHost) return ok;
    const opened = await nothing();
    try { return await nothing(); } catch { return opened; }
  };
  const dispatch = async (req: Request): Promise<Response> => {
    const response = await serve(req);
    return req.method === 'HEAD' && response.body !== null ? new Response(null, response) : response;
  };
  const floor = (req: Request) => {
    const url = new URL(req.url);
    return new Request(`https://origin.bench.test${url.pathname}${url.search}`, req);
  };
  return {
    isolate, request, env, ctx, settings, target, io, source, tenant, resource, state, token, hit, alg, route, r, decided,
    identity, door, admitted, verifying, keys, signed, key: key.value.keys[0]!.key, shape, dispatch, floor, ok,
    states: isolate.states, response,
    withToken: (token: string) => {
      const headers = new Headers(request.headers);
      headers.set('authorization', `Bearer ${token}`);
      return new Request(request, { headers });
    },
    subtleParams: hit.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' }, nonce: `${crypto.randomUUID()}.`,
  };
}

const RANDOM = Math.random;

/** The steps, in the table's order. A step's run is what one request does, once. */
const STEPS: Record<string, Step> = {
  none: { about: 'the loop alone', run: () => undefined },
  // --- wholes, to compare with the sum of the steps ---
  'whole: gateway, repeated token': {
    about: "the gateway app's fetch of the bench request, origin included",
    run: async (s) => { const res = await gateway.fetch(s.request, s.env, s.ctx); await res.arrayBuffer(); },
  },
  'whole: forward-only floor': {
    about: 'the forward-only floor: new URL, new Request, fetch, origin included',
    run: async (s) => { const res = await fetch(s.floor(s.request)); await res.arrayBuffer(); },
  },
  'whole: gateway, distinct token': {
    about: "the gateway app's fetch of a request with a token it never saw (the request built here: the floor's row builds one too)",
    run: async (s) => { const res = await gateway.fetch(s.withToken(fresh()), s.env, s.ctx); await res.arrayBuffer(); },
  },
  'whole: forward-only floor, distinct token': {
    about: 'the floor with a request built the same way',
    run: async (s) => { const res = await fetch(s.floor(s.withToken(fresh()))); await res.arrayBuffer(); },
  },
  'whole: forward after one verify, distinct token': {
    about: "the row's baseline: one crypto.subtle.verify of the token, then the floor",
    run: async (s) => {
      const request = s.withToken(fresh());
      const token = request.headers.get('authorization')!.slice(7);
      const dot = token.lastIndexOf('.');
      await crypto.subtle.verify(s.subtleParams, s.key, Uint8Array.fromBase64(token.slice(dot + 1), { alphabet: 'base64url' }),
        new TextEncoder().encode(token.slice(0, dot)));
      const res = await fetch(s.floor(request)); await res.arrayBuffer();
    },
  },
  // --- the steps ---
  dispatch: {
    about: "the gateway's own handler (app.ts) around a door and a forwarder that do nothing: its async frames, the HEAD check",
    run: (s) => s.dispatch(s.request),
  },
  'Hono dispatch (before)': {
    about: "for contrast: Hono's fetch over the three handlers the gateway was before (admin check, edgeAuth, forward), each doing nothing",
    run: (s) => s.shape.fetch(s.request, s.env, s.ctx),
  },
  'URL read': {
    about: 'requestUrl of request.url, once, and the admin host from the settings',
    run: (s) => requestUrl(s.request.url).host !== settingsOf(s.env).adminHost,
  },
  'door setup': {
    about: "the door's settings, I/O (ioOf) and waitUntil, and the KV lookup's source object (made once per env)",
    run: (s) => {
      const settings = settingsOf(s.env);
      const ctx = s.ctx;
      return [ioOf(s.env, settings, (p) => ctx.waitUntil(p)), s.source];
    },
  },
  'request reading': {
    about: 'pipelineRequestOf less its credentials: request id, method overrides, DPoP, cf, client IP, Origin, preflight, public document',
    run: (s) => pipelineRequestOf(s.request, s.target, s.source),
  },
  credentials: {
    about: 'the Authorization header and extractCredentials (counted inside request reading too: subtracted there)',
    run: (s) => extractCredentials(s.request.headers.get('authorization'), s.target.search),
  },
  tenant: {
    about: "resolveTenant from the isolate's cache, CORS (no Origin), the effective resource",
    run: async (s) => {
      const found = await resolveTenant(s.isolate.tenants, s.target.host, s.source);
      return [found, corsFor(s.tenant.cors, null), s.tenant.resource ?? `https://${s.target.host}`];
    },
  },
  state: {
    about: "the status check's peek and the state read from the isolate's copy",
    run: async (s) => {
      peekState(s.states, s.tenant.id, s.tenant.revocation.maxStalenessSeconds);
      return readState(s.states, s.tenant.id, s.tenant.revocation.maxStalenessSeconds,
        { tenantState: s.io.tenantState!, waitUntil: s.io.waitUntil }, s.tenant.revocation.retainSeconds);
    },
  },
  route: { about: 'routeOf (the default route)', run: (s) => routeOf(s.tenant.routes, 'GET', '/orders', []) },
  'token cache (hit)': {
    about: "the token cache's get of the repeated token: fingerprint, compare, key set version, times",
    run: (s) => s.isolate.tokenCache!.get(s.token, s.tenant, s.resource, s.isolate.keyTiers),
  },
  'token cache (distinct)': {
    about: "a miss and the doorkeeper's first sighting on set (of short made-up tokens, each seen once)",
    run: (s, i) => {
      const t = `${s.nonce}${i}`;
      s.isolate.tokenCache!.get(t, s.tenant, s.resource, s.isolate.keyTiers);
      s.isolate.tokenCache!.set(t, s.tenant, s.resource, s.hit);
    },
  },
  verification: {
    about: 'verifyToken of a distinct token: decoding, key lookup, signature, claims',
    run: (s) => verifyToken(distinct(), s.verifying, { now: s.isolate.now, keys: s.keys }),
  },
  'verification: our decoding': {
    about: 'part of verification: the segments, the header (cached) and the payload decoded once',
    run: () => { const [h, p] = splitCompact(distinct())!; return [decodeSegment(h), decodeSegment(p)]; },
  },
  'verification: signature': {
    about: 'part of verification: verifySignature (WebCrypto over the segments decoded once)',
    run: (s) => verifySignature(distinct(), s.key, s.alg),
  },
  'verification: signature (subtle alone)': {
    about: 'for contrast: crypto.subtle.verify of the same signing input',
    run: (s) => {
      const t = distinct();
      const dot = t.lastIndexOf('.');
      return crypto.subtle.verify(s.subtleParams, s.key,
        Uint8Array.fromBase64(t.slice(dot + 1), { alphabet: 'base64url' }), new TextEncoder().encode(t.slice(0, dot)));
    },
  },
  'verification: key lookup': {
    about: "part of verification: the key tiers' answer from memory",
    run: (s) => s.keys.candidates(s.hit.issuer, { alg: s.alg, kid: s.hit.kid }),
  },
  possession: { about: 'mayBeBound: a bearer token without cnf', run: (s) => mayBeBound(s.hit, 'bearer') },
  revocation: {
    about: "decideRevocation against the isolate's copy (empty lists), with its step object",
    run: (s) => decideRevocation(s.states, s.hit, s.state, { tenantId: s.tenant.id, ...s.tenant.revocation }, s.io.tenantState),
  },
  'scopes and conditions': {
    about: 'missingScopes, checkClaims, checkStepUp of the default route',
    run: (s) => [missingScopes(s.route, s.hit.scopes), checkClaims(s.route, s.hit.claims), checkStepUp(s.route, s.hit.claims, s.isolate.now())],
  },
  limits: {
    about: 'no limit configured: the two checks, and the RateLimit headers of no limit',
    run: (s) => [s.tenant.rateLimit.perIp === null, s.tenant.rateLimit.perSubject === null, rateLimitHeaders([])],
  },
  'decide()': {
    about: 'the whole of decide() on the repeated token (its steps are the rows tenant to limits; the rest is its own)',
    run: (s) => decide(s.isolate, s.r, s.io),
  },
  'admitted request': {
    about: 'edgeAuth after decide: the Admitted record the forwarder reads',
    run: (s) => new Admitted(s.door, s.decided, s.settings, s.tenant, s.target, false, s.identity),
  },
  'log record': {
    about: "finishDecision at the production LOG_SAMPLE_RATE (an allowed request: unlogged 99 times in 100), and edgeAuth's clock reads",
    run: (s) => {
      s.isolate.now();
      s.decided.record.ms.origin = s.isolate.now() - s.isolate.now();
      finishDecision(s.decided.record, { outcome: 'allowed', status: 200 },
        { sampleRate: s.settings.logSampleRate, random: RANDOM, startedAt: s.decided.startedAt, now: s.isolate.now() });
    },
  },
  'header hygiene': {
    about: 'the edge-owned names removed from the copy of the headers (a fresh Request each time: the copy is subtracted)',
    run: (s) => {
      const copy = new Request('https://origin.bench.test/orders', s.request);
      let spoofed: string[] | null = null;
      copy.headers.forEach((_value, name) => { if (isEdgeOwned(name)) (spoofed ??= []).push(name); });
      if (spoofed !== null) for (const name of spoofed as string[]) copy.headers.delete(name);
    },
  },
  'request copy': {
    about: 'new Request(target, incoming): what the floor does too (subtracted from header hygiene)',
    run: (s) => new Request('https://origin.bench.test/orders', s.request),
  },
  'origin request (no identity)': {
    about: 'originRequest without an identity: copy, hygiene, x-request-id, x-forwarded-*, the redirect check',
    run: (s) => originRequest(s.request, s.target, s.tenant, null, s.admitted),
  },
  'origin request': {
    about: 'originRequest with the identity (headers from the memo of the repeated token)',
    run: (s) => originRequest(s.request, s.target, s.tenant, s.identity, s.admitted),
  },
  'origin request (distinct token)': {
    about: 'originRequest with the identity of a token seen for the first time (its headers built: a fresh claims object each time)',
    run: (s) => originRequest(s.request, s.target, s.tenant, { ...s.identity, claims: { ...s.identity.claims } },
      { requestId: s.admitted.requestId, preflight: false, repeated: false }),
  },
  'identity headers: x-auth-claims': {
    about: "part of a distinct token's identity headers: the claims' JSON in base64url",
    run: (s) => new TextEncoder().encode(JSON.stringify(s.identity.claims)).toBase64({ alphabet: 'base64url', omitPadding: true }),
  },
  'clock read': { about: 'one isolate.now() (for contrast)', run: (s) => s.isolate.now() },
  'fresh claims object': {
    about: 'the copy the step above makes, subtracted from it',
    run: (s) => ({ ...s.identity, claims: { ...s.identity.claims } }),
  },
  'floor request': {
    about: "the floor's own: new URL and new Request (subtracted from building the origin request)",
    run: (s) => s.floor(s.request),
  },
  'fetch: gateway request': {
    about: "fetch of the gateway's origin request and the origin's answer",
    run: async (s) => { const res = await fetch(originRequest(s.request, s.target, s.tenant, s.identity, s.admitted)); await res.arrayBuffer(); },
  },
  'fetch: floor request': {
    about: "fetch of the floor's request and the origin's answer",
    run: async (s) => { const res = await fetch(s.floor(s.request)); await res.arrayBuffer(); },
  },
  'response pass-through': {
    about: 'passThrough: the decision adds no header (no CORS, no limits, no nonce)',
    run: (s) => passThrough(s.response, s.decided, false),
  },
  'Server-Timing (DEBUG_TIMING on)': {
    about: 'for contrast: passThrough with Server-Timing (a copy of the response headers)',
    run: (s) => passThrough(s.response, s.decided, true),
  },
};

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (!path.startsWith('/__budget/')) return gateway.fetch(request, env, ctx);
    const [, , name, count] = path.split('/');
    if (name === 'tokens' && request.method === 'POST') {
      tokens = await request.json();
      next = 0;
      unseen = 0;
      return new Response(null, { status: 204 });
    }
    if (!name) return Response.json(Object.entries(STEPS).map(([key, { about }]) => ({ key, about })));
    const step = STEPS[decodeURIComponent(name)];
    if (step === undefined) return new Response(`no step ${name}`, { status: 404 });
    const s = await setUp(request, env, ctx);
    const n = Number(count);
    for (let i = 0; i < n; i++) {
      const result = step.run(s, i);
      if (result instanceof Promise) await result;
    }
    return new Response(null, { status: 204 });
  },
} satisfies ExportedHandler<Env>;
