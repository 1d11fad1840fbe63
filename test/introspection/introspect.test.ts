// The introspection step's parts on their own: how a waiter waits (plain data, bounded by the
// deadline, whatever happens to the leader), the leader's call anchored under waitUntil, and
// property tests of what parses or matches: the JWS shape, the answer, the judgement, the keys.
// The network here is an injected fetch that fails on anything unexpected.
import fc from 'fast-check';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { REASONS } from '../../src/base/denial';
import { judgeAnswer, readAnswer } from '../../src/introspection/answer';
import { answerKey, awaitFlight, createIntrospections, type Flight } from '../../src/introspection/cache';
import { checkToken, type IntrospectingIssuer, type IntrospectionDeps } from '../../src/introspection/introspect';
import { formEncoded } from '../../src/introspection/client-auth';
import { writeOnly } from '../../src/secrets/write-only';
import { isCompactJws } from '../../src/verify/compact';
import { policyFor } from '../keys/isolates';

const ISSUER = 'https://i.introspection.test/';
const ENDPOINT = 'https://i.introspection.test/introspect';
const issuer: IntrospectingIssuer = {
  ...policyFor(ISSUER),
  introspection: {
    endpoint: ENDPOINT, clientId: 'edge', clientAuth: 'client_secret_basic', clientSecret: writeOnly('s'),
    tokens: 'opaque', cacheSeconds: 60, inactiveCacheSeconds: 5,
  },
};
const tenant = { id: 'unit', introspection: issuer, edgeKey: null };
const RESOURCE = 'https://api.test';

function depsWith(network: typeof fetch, now = () => Date.now()) {
  const anchored: Promise<unknown>[] = [];
  const deps: IntrospectionDeps = {
    now, introspections: createIntrospections({ now }),
    keyTiers: { introspectionEndpoint: () => Promise.reject(new Error('no discovery in these tests')) },
    io: { issuerKeys: env.ISSUER_KEYS, cache: null, waitUntil: (promise) => { anchored.push(promise); }, allowInsecure: false },
    fetch: network,
  };
  return { deps, anchored };
}

const noJwt = () => Promise.reject(new Error('not a JWT in these tests'));
const activeAnswer = () => {
  const s = Math.floor(Date.now() / 1000);
  return { active: true, sub: 'u', aud: 'https://api.test', scope: 'read', iat: s, exp: s + 600 };
};

describe('a call under way, shared as plain data', () => {
  it('a waiter stops at the deadline when the leader never writes an outcome (a cancelled leader cannot hang it)', async () => {
    const flight: Flight = { deadline: Date.now() + 150, settled: null };
    const started = Date.now();
    expect(await awaitFlight(flight)).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a waiter takes the outcome the leader writes, soon after', async () => {
    const flight: Flight = { deadline: Date.now() + 5_000, settled: null };
    setTimeout(() => { flight.settled = { ok: false, denial: { error: 'issuer_unavailable', retryAfterSeconds: 5 } }; }, 30);
    const started = Date.now();
    expect(await awaitFlight(flight)).toMatchObject({ ok: false });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('concurrent requests with one token: one fetch, the leader anchored under waitUntil, every request answered', async () => {
    let release = () => {};
    const gate = new Promise<void>((open) => { release = open; });
    let calls = 0;
    const network = (async () => {
      calls++;
      await gate;
      return Response.json(activeAnswer());
    }) as unknown as typeof fetch;
    const { deps, anchored } = depsWith(network);
    const pending = Array.from({ length: 10 }, () => checkToken('opaque-token-1', tenant, RESOURCE, noJwt, deps));
    await new Promise((wake) => setTimeout(wake, 20));
    expect(calls).toBe(1);
    expect(anchored).toHaveLength(1);
    expect(deps.introspections.flights.size).toBe(1);
    release();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.ok)).toEqual(Array(10).fill(true));
    expect(results.map((r) => r.introspection).sort()).toEqual([...Array(9).fill('memory'), 'network'].sort());
    expect(deps.introspections.flights.size).toBe(0);
  });

  it('a leader whose fetch never settles (its signal ignored): its waiters are refused at the deadline all the same', async () => {
    const network = (() => new Promise(() => {})) as unknown as typeof fetch;
    const { deps } = depsWith(network);
    void checkToken('opaque-token-2', tenant, RESOURCE, noJwt, deps);
    const started = Date.now();
    const waiter = await checkToken('opaque-token-2', tenant, RESOURCE, noJwt, deps);
    expect(waiter).toMatchObject({ ok: false, denial: { error: 'issuer_unavailable' } });
    expect(Date.now() - started).toBeLessThan(3_500);
  });
});

describe('answers: property tests', () => {
  const json = fc.jsonValue({ maxDepth: 6 });

  it('readAnswer never throws; it is an answer exactly when the value is an object with a boolean active', () => {
    fc.assert(fc.property(fc.oneof(json, fc.record({ active: fc.boolean() }, { requiredKeys: [] }).chain((base) =>
      fc.dictionary(fc.string(), json).map((rest) => ({ ...rest, ...base })))), (value) => {
      const answer = readAnswer(value);
      const shaped = typeof value === 'object' && value !== null && !Array.isArray(value)
        && typeof (value as { active?: unknown }).active === 'boolean';
      expect(answer !== null).toBe(shaped);
      if (answer?.active) expect(Object.hasOwn(answer.claims, 'active')).toBe(false);
    }));
  });

  it('judgeAnswer never throws on any claims: a token, or an invalid_token reason', () => {
    const claims = fc.dictionary(fc.constantFrom('iss', 'aud', 'exp', 'iat', 'nbf', 'sub', 'scope', 'token_type', 'cnf', 'jti', 'sid',
      'client_id', 'x'), fc.oneof(json, fc.constant(ISSUER), fc.constant(RESOURCE), fc.integer()));
    fc.assert(fc.property(claims, (value) => {
      const judged = judgeAnswer(structuredClone(value), issuer, RESOURCE);
      if (!judged.ok) {
        expect(judged.denial.error).toBe('invalid_token');
        expect(REASONS).toContain((judged.denial as { reason: string }).reason);
      }
    }));
  });

  it('token_type: Bearer and DPoP in any case; nothing else', () => {
    const base = activeAnswer();
    delete (base as Partial<typeof base>).active;
    fc.assert(fc.property(fc.oneof(fc.constantFrom('bearer', 'dpop').chain((t) => fc.mixedCase(fc.constant(t))), fc.string()), (type) => {
      const judged = judgeAnswer({ ...base, token_type: type }, issuer, RESOURCE);
      const allowed = ['bearer', 'dpop'].includes(type.toLowerCase());
      expect(judged.ok ? 'ok' : (judged.denial as { reason: string }).reason).toBe(allowed ? 'ok' : 'wrong_type');
    }));
  });
});

describe('which credentials are a JWS: property tests', () => {
  const part = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
  const other = fc.constantFrom('+', '/', '~', '=', '.');

  it('three dot-separated base64url parts (header and payload not empty) are a JWS', () => {
    fc.assert(fc.property(part, part, fc.oneof(part, fc.constant('')), (h, p, s) => { expect(isCompactJws(`${h}.${p}.${s}`)).toBe(true); }));
  });

  it('any other b64token character in any part, or another number of dots, is not', () => {
    fc.assert(fc.property(part, part, part, fc.integer({ min: 0, max: 2 }), other, fc.nat(), (h, p, s, which, c, at) => {
      const parts = [h, p, s];
      const target = parts[which]!;
      parts[which] = `${target.slice(0, at % (target.length + 1))}${c}${target.slice(at % (target.length + 1))}`;
      expect(isCompactJws(parts.join('.'))).toBe(false);
    }));
    fc.assert(fc.property(fc.array(part, { minLength: 1, maxLength: 6 }).filter((a) => a.length !== 3), (parts) => {
      expect(isCompactJws(parts.join('.'))).toBe(false);
    }));
  });
});

describe('keys and encodings', () => {
  it('an answer key holds the hash of the token, never the token', async () => {
    const b64token = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{16,120}$/);
    await fc.assert(fc.asyncProperty(b64token, async (token) => {
      const key = await answerKey('t1', ISSUER, token);
      expect(key.memory).not.toContain(token);
      expect(key.url).not.toContain(token);
      expect(key).toEqual(await answerKey('t1', ISSUER, token));
      expect(key.memory).not.toBe((await answerKey('t2', ISSUER, token)).memory);
    }));
  });

  it('formEncoded is application/x-www-form-urlencoded: URLSearchParams reads back the value', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (value) => {
      expect(new URLSearchParams(`v=${formEncoded(value)}`).get('v')).toBe(value);
      expect(formEncoded(value)).not.toMatch(/[:\s]/);
    }));
  });
});
