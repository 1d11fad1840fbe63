// Fault injection through the whole Worker: a failing issuer (errors, hangs, garbage, huge
// bodies, redirects), a KV namespace that throws, Durable Objects that throw or are slow. Each
// ends in the status the contract (docs/) defines, nothing crashes, and no log line carries the token.
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app';
import type { Env } from '../../src/env';
import { issuerKeysStub, type IssuerKeys } from '../../src/keys/issuer-keys';
import { TestIssuer, makeKey } from '../support/issuer';
import { tenantConfig, testEdge, uniqueTenant } from '../support/gateway';
import { expectDenial, signatureOf } from './forge';

let edges: ReturnType<typeof testEdge>[] = [];
let issuer: TestIssuer;
let host: string;
let id: string;

function edgeWith(envOverrides: Partial<Env> = {}) {
  const edge = testEdge({ env: envOverrides });
  edges.push(edge);
  return edge;
}

beforeEach(async () => {
  edges = [];
  const t = uniqueTenant('flt');
  id = t.id;
  host = `api.${t.domain}`;
});
afterEach(() => {
  for (const edge of edges) edge.restoreLog();
});

async function setUp(options: { publish?: boolean; cacheControl?: string; extra?: Record<string, unknown> } = {}) {
  issuer = await TestIssuer.create({ publish: options.publish, cacheControl: options.cacheControl });
  const edge = edgeWith();
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer,
    routes: [{ path: '/health', auth: 'none' }, { path: '/*', auth: 'required' }],
    ...options.extra,
  }));
  return edge;
}

const token = (edge: ReturnType<typeof testEdge>, claims: Record<string, unknown> = {}) =>
  issuer.sign({ sub: 'user-1', aud: `https://${host}`, ...claims }, { now: edge.now });

/** The issuer's IssuerKeys object runs on the edge's clock, with an optional short fetch timeout. */
async function objectOnClock(edge: ReturnType<typeof testEdge>, fetchTimeoutMs?: number) {
  await runInDurableObject(issuerKeysStub(env.ISSUER_KEYS, issuer.issuer), (instance: IssuerKeys) => {
    instance.now = () => edge.now;
    if (fetchTimeoutMs !== undefined) instance.fetchTimeoutMs = fetchTimeoutMs;
  });
}

/** Every captured log line is JSON and none holds the token's signature. */
function expectCleanLogs(edge: ReturnType<typeof testEdge>, tokens: string[]) {
  for (const line of edge.logs) {
    expect(() => JSON.parse(line)).not.toThrow();
    for (const t of tokens) expect(line).not.toContain(signatureOf(t));
  }
}

describe('issuer failures with nothing cached: 503 issuer_unavailable', () => {
  const failures: Record<string, (i: TestIssuer) => Promise<void>> = {
    'discovery answers 500': (i) => i.serve('/.well-known/openid-configuration', { status: 500, body: 'boom' }),
    'JWKS answers 500': (i) => i.serve('/jwks', { status: 500, body: 'boom' }),
    'JWKS answers 404': (i) => i.serve('/jwks', { status: 404, body: 'gone' }),
    'JWKS is not JSON': (i) => i.serve('/jwks', { body: '<html>maintenance</html>', headers: { 'content-type': 'text/html' } }),
    'JWKS is JSON without keys': (i) => i.serve('/jwks', { body: { keys: 'none' } }),
    'discovery is not JSON': (i) => i.serve('/.well-known/openid-configuration', { body: 'not json {' }),
    'discovery names no jwks_uri': (i) => i.serve('/.well-known/openid-configuration', { body: { issuer: i.issuer } }),
    'discovery names another issuer': (i) => i.publish({ documentIssuer: 'https://evil.issuer.test/' }),
    'discovery points the JWKS at plain http': (i) => i.serve('/.well-known/openid-configuration', { body: { issuer: i.issuer, jwks_uri: `http://${i.host}/jwks` } }),
    'JWKS body is huge': (i) => i.serve('/jwks', { behaviour: 'huge' }),
    'JWKS redirects': (i) => i.serve('/jwks', { status: 302, headers: { location: 'https://elsewhere.issuer.test/jwks' } }),
    'discovery redirects': (i) => i.serve('/.well-known/openid-configuration', { status: 301, headers: { location: 'https://elsewhere.issuer.test/' } }),
  };

  for (const [name, fail] of Object.entries(failures)) {
    it(name, async () => {
      const edge = await setUp();
      await fail(issuer);
      const t = await token(edge);
      const response = await edge.request(`https://${host}/orders`, { token: t });
      await expectDenial(response, { status: 503, error: 'issuer_unavailable' }, { token: t, logs: edge.logs });
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await edge.request(`https://${host}/health`)).status).toBe(200);
      expectCleanLogs(edge, [t]);
    });
  }

  it('redirects are never followed', async () => {
    const edge = await setUp();
    const elsewhere = await TestIssuer.create();
    await issuer.serve('/jwks', { status: 307, headers: { location: elsewhere.jwksUri } });
    await expectDenial(await edge.request(`https://${host}/orders`, { token: await token(edge) }), { status: 503, error: 'issuer_unavailable' });
    expect(await elsewhere.hits()).toBe(0);
  });

  it('a hanging issuer times out (short object timeout) and the next 30 s are answered without asking again', async () => {
    const edge = await setUp();
    await issuer.serve('/jwks', { behaviour: 'hang' });
    await objectOnClock(edge, 200);
    const t = await token(edge);
    const started = Date.now();
    await expectDenial(await edge.request(`https://${host}/orders`, { token: t }), { status: 503, error: 'issuer_unavailable' });
    expect(Date.now() - started).toBeLessThan(3_000);
    const hits = await issuer.hits('/jwks');
    edge.advance(10_000);
    const again = await edge.request(`https://${host}/orders`, { token: t });
    await expectDenial(again, { status: 503, error: 'issuer_unavailable' });
    expect(Number(again.headers.get('retry-after'))).toBeLessThanOrEqual(20);
    // A cold isolate asks the object, which holds the failure too: still no new fetch.
    const cold = edgeWith();
    cold.advance(edge.now - cold.now);
    await expectDenial(await cold.request(`https://${host}/orders`, { token: t }), { status: 503, error: 'issuer_unavailable' });
    expect(await issuer.hits('/jwks')).toBe(hits);
    expectCleanLogs(edge, [t]);
  });
});

describe('issuer failures with keys cached: stale keys keep working', () => {
  it('an issuer that fails after its keys expired: known keys verify, unknown kids are unknown_kid', async () => {
    const edge = await setUp({ cacheControl: 'max-age=60' });
    await objectOnClock(edge);
    const first = await token(edge);
    expect((await edge.request(`https://${host}/orders`, { token: first })).status).toBe(200);
    await issuer.serve('/jwks', { status: 500 });
    await issuer.serve('/.well-known/openid-configuration', { status: 500 });
    edge.advance(10 * 60_000);
    const later = await token(edge);
    expect((await edge.request(`https://${host}/orders`, { token: later })).status).toBe(200);
    // A fresh isolate (no memory tier) is served the object's last good set.
    const cold = edgeWith();
    cold.advance(edge.now - cold.now);
    expect((await cold.request(`https://${host}/orders`, { token: later })).status).toBe(200);
    const stranger = await issuer.sign({ sub: 'user-1', aud: `https://${host}` }, { key: await makeKey('RS256', 'rotated-in'), now: edge.now });
    edge.advance(31_000);
    await expectDenial(await edge.request(`https://${host}/orders`, { token: stranger }), { status: 401, reason: 'unknown_kid' });
    expect(await issuer.hits('/jwks')).toBeGreaterThan(1);
    expectCleanLogs(edge, [first, later, stranger]);
  });

  it('past 24 h of failures the stale keys stop serving', async () => {
    const edge = await setUp({ cacheControl: 'max-age=60' });
    await objectOnClock(edge);
    expect((await edge.request(`https://${host}/orders`, { token: await token(edge) })).status).toBe(200);
    await issuer.serve('/jwks', { status: 500 });
    edge.advance(25 * 3600_000);
    await expectDenial(await edge.request(`https://${host}/orders`, { token: await token(edge) }), { status: 503, error: 'issuer_unavailable' });
  });
});

describe('broken bindings', () => {
  const throwing = (what: string) => () => { throw new Error(`${what} exploded`); };

  it('a KV read that throws is 500 internal_error, logged, and not a crash', async () => {
    for (const get of [throwing('KV'), () => Promise.reject(new Error('KV unavailable'))]) {
      const edge = edgeWith({ TENANTS: { get } as unknown as KVNamespace });
      const response = await edge.request(`https://${host}/orders`, { token: 'eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJlLXNpZ25hdHVyZQ' });
      const body = await expectDenial(response, { status: 500, error: 'internal_error' }, { logs: edge.logs, input: ['c2lnbmF0dXJlLXNpZ25hdHVyZQ'] });
      expect(body.error_description).toBe('Internal error.');
      expect(edge.decisions().at(-1)).toMatchObject({ error: 'internal_error', status: 500 });
    }
  });

  it('an IssuerKeys object that throws is 503 issuer_unavailable', async () => {
    await setUp();
    const broken = { idFromName: (n: string) => env.ISSUER_KEYS.idFromName(n), get: () => ({ keySet: () => Promise.reject(new Error('object down')) }) };
    const edge = edgeWith({ ISSUER_KEYS: broken as unknown as Env['ISSUER_KEYS'] });
    const t = await token(edge);
    await expectDenial(await edge.request(`https://${host}/orders`, { token: t }), { status: 503, error: 'issuer_unavailable' }, { token: t, logs: edge.logs });
    expect((await edge.request(`https://${host}/health`)).status).toBe(200);
  });

  it('a binding that throws as the door reads it is 500 internal_error with a request id, logged with that id', async () => {
    await setUp();
    const bindings = { ...env } as Env;
    Object.defineProperty(bindings, 'DPOP_REPLAY', { get() { throw new Error('binding broken'); } });
    const app = createApp({ random: () => 0.5 });
    const logs: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { logs.push(args.map(String).join(' ')); });
    try {
      const ctx = createExecutionContext();
      const response = await app.fetch(new Request(`https://${host}/orders`), bindings, ctx);
      await waitOnExecutionContext(ctx);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: 'internal_error', error_description: 'Internal error.' });
      const requestId = response.headers.get('x-request-id');
      expect(requestId).toMatch(/^[0-9a-f-]+-[0-9a-z]+$/);
      expect(logs.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({
        event: 'decision', requestId, host, outcome: 'denied', status: 500, error: 'internal_error', note: 'Error: binding broken',
      }));
    } finally {
      spy.mockRestore();
    }
  });

  describe('TenantState', () => {
    it('a revocation event whose object binding throws is 500 internal_error with the request id, logged as such', async () => {
      await setUp({ extra: { events: { backchannelLogout: { audiences: ['web-client'] } } } });
      const real = env.TENANT_STATE;
      const broken = {
        idFromName: (name: string) => real.idFromName(name),
        get: () => { throw new Error('binding broken'); },
      } as unknown as Env['TENANT_STATE'];
      const edge = edgeWith({ TENANT_STATE: broken });
      const response = await edge.fetch(new Request(`https://${host}/_edge/backchannel-logout`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=x.y.z',
      }));
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: 'internal_error', error_description: 'Internal error.' });
      const requestId = response.headers.get('x-request-id');
      expect(requestId).toBeTruthy();
      expect(requestId).not.toBe('unknown');
      expect(edge.decisions().at(-1)).toMatchObject({
        requestId, tenant: id, outcome: 'denied', status: 500, error: 'internal_error', note: 'Error: binding broken',
      });
    });

    function stateBinding(behaviour: () => 'ok' | 'throw' | 'slow') {
      const real = env.TENANT_STATE;
      return {
        idFromName: (name: string) => real.idFromName(name),
        get: (objectId: DurableObjectId) => {
          const mode = behaviour();
          if (mode === 'ok') return real.get(objectId);
          if (mode === 'throw') return { snapshot: () => Promise.reject(new Error('state unreachable')) };
          return { snapshot: () => new Promise((resolve) => setTimeout(() => resolve(real.get(objectId).snapshot()), 300)) };
        },
      } as unknown as Env['TENANT_STATE'];
    }

    it('unreachable with no copy: token routes 503 revocation_unavailable, auth:none still served', async () => {
      await setUp();
      const edge = edgeWith({ TENANT_STATE: stateBinding(() => 'throw') });
      const t = await token(edge);
      const response = await edge.request(`https://${host}/orders`, { token: t });
      await expectDenial(response, { status: 503, error: 'revocation_unavailable' }, { token: t, logs: edge.logs });
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await edge.request(`https://${host}/health`)).status).toBe(200);
      // An invalid token is still refused for what it is: revocation is checked after verification.
      const forged = `${t.slice(0, t.lastIndexOf('.'))}.AAAA`;
      await expectDenial(await edge.request(`https://${host}/orders`, { token: forged }), { status: 401, reason: 'bad_signature' });
      expectCleanLogs(edge, [t]);
      expect(edge.logs.some((l) => l.includes('tenant_state_unavailable'))).toBe(true);
    });

    it('unreachable after a read: the grace period, then 503 on token routes only', async () => {
      await setUp({ extra: { revocation: { maxStalenessSeconds: 5 } } });
      let mode: 'ok' | 'throw' = 'ok';
      const edge = edgeWith({ TENANT_STATE: stateBinding(() => mode) });
      const t = await token(edge);
      expect((await edge.request(`https://${host}/orders`, { token: t })).status).toBe(200);
      mode = 'throw';
      edge.advance(30_000);
      expect((await edge.request(`https://${host}/orders`, { token: t })).status).toBe(200);
      edge.advance(40_000);
      await expectDenial(await edge.request(`https://${host}/orders`, { token: t }), { status: 503, error: 'revocation_unavailable' });
      expect((await edge.request(`https://${host}/health`)).status).toBe(200);
      mode = 'ok';
      expect((await edge.request(`https://${host}/orders`, { token: t })).status).toBe(200);
      expectCleanLogs(edge, [t]);
    });

    it('slow (300 ms) but answering: the decision waits and is right', async () => {
      await setUp({ extra: { revocation: { maxStalenessSeconds: 0 } } });
      const edge = edgeWith({ TENANT_STATE: stateBinding(() => 'slow') });
      const started = Date.now();
      expect((await edge.request(`https://${host}/orders`, { token: await token(edge) })).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });
  });

  describe('RateLimiter', () => {
    const limits = { rateLimit: { perIp: { limit: 2, windowSeconds: 60 }, perSubject: { limit: 2, windowSeconds: 60 } } };

    function limiterBinding(mode: () => 'throw' | 'slow' | 'ok') {
      const real = env.RATE_LIMITER;
      return {
        idFromName: (name: string) => real.idFromName(name),
        get: (objectId: DurableObjectId) => {
          const m = mode();
          if (m === 'ok') return real.get(objectId);
          if (m === 'throw') return { acquire: () => Promise.reject(new Error('limiter unreachable')) };
          return { acquire: (a: unknown) => new Promise((resolve) => setTimeout(() => resolve(real.get(objectId).acquire(a as never)), 300)) };
        },
      } as unknown as Env['RATE_LIMITER'];
    }

    it('unreachable: requests are admitted, and the failure is logged without the token', async () => {
      await setUp({ extra: limits });
      const edge = edgeWith({ RATE_LIMITER: limiterBinding(() => 'throw') });
      const tokens: string[] = [];
      for (let i = 0; i < 5; i++) {
        const t = await token(edge, { jti: `j${i}` });
        tokens.push(t);
        const response = await edge.request(`https://${host}/orders`, { token: t, headers: { 'cf-connecting-ip': '203.0.113.7' } });
        expect(response.status).toBe(200);
      }
      expect(edge.logs.filter((l) => l.includes('rate_limiter_unavailable')).length).toBeGreaterThanOrEqual(5);
      expectCleanLogs(edge, tokens);
    });

    it('slow but answering: the limit still holds', async () => {
      await setUp({ extra: limits });
      const edge = edgeWith({ RATE_LIMITER: limiterBinding(() => 'slow') });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await edge.request(`https://${host}/orders`, { token: await token(edge), headers: { 'cf-connecting-ip': '203.0.113.8' } });
        statuses.push(response.status);
        await response.body?.cancel();
      }
      expect(statuses).toEqual([200, 200, 429, 429]);
    });
  });
});
