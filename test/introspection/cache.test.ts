// The introspection cache through the whole Worker (docs/introspection.md "Caching"), counting the
// calls the provider (the stand-in's endpoint) gets: one call for many concurrent cold requests,
// none within the window in this isolate or another isolate of the location (the Cache API: a
// second edge over the same caches.default), inactive answers for inactiveCacheSeconds, never past
// exp, never an error, and one entry per token. Time moves by assignment.
import { describe, expect, it } from 'vitest';
import { answerKey } from '../../src/introspection/cache';
import { gatewayTest, tenantConfig, testEdge, type TestEdge } from '../support/gateway';
import { active, introspectionEndpoint, opaqueToken, type TestIntrospectionEndpoint } from '../support/introspection';
import type { TestIssuer } from '../support/issuer';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;
let id: string;

gatewayTest('oc', { env: { LOG_SAMPLE_RATE: '1' } }, (made) => ({ edge, issuer, id, host } = made));

async function putIntrospecting(endpoint: TestIntrospectionEndpoint, block: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const config = tenantConfig({ id, hosts: [host], issuer, ...extra });
  (config.issuers as Record<string, unknown>[])[0]!.introspection = {
    endpoint: endpoint.url, clientId: 'edge', clientSecret: 'edge-secret', cacheSeconds: 60, inactiveCacheSeconds: 5, ...block,
  };
  await edge.putTenant(config);
}

const answer = (claims: Record<string, unknown> = {}) => active(issuer, host, claims, edge.now);
const callOn = (on: TestEdge, token: string) => on.request(`https://${host}/orders`, { token });
const tiers = (on: TestEdge) => on.decisions().map((d) => (d.tiers as { introspection?: string }).introspection);

describe('one call per token and window', () => {
  it('100 concurrent cold requests with one token make 1 call; all are answered', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint);
    const responses = await Promise.all(Array.from({ length: 100 }, () => callOn(edge, token)));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(await endpoint.calls()).toBe(1);
    const seen = tiers(edge);
    expect(seen.filter((t) => t === 'network')).toHaveLength(1);
    expect(seen.filter((t) => t === 'memory')).toHaveLength(99);
    expect(edge.app.isolate.introspections.flights.size).toBe(0);
  });

  it('the same token within cacheSeconds: 0 more calls in that isolate, and 0 in another isolate of the location', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { cacheSeconds: 60 });
    expect((await callOn(edge, token)).status).toBe(200);
    edge.advance(59_000);
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    expect(tiers(edge)).toEqual(['network', 'memory']);

    // Another isolate: its own memory, the same Cache API; its clock where the first one's was.
    const other = testEdge({ env: { LOG_SAMPLE_RATE: '1' }, start: edge.now });
    expect((await callOn(other, token)).status).toBe(200);
    expect((await callOn(other, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    expect(tiers(other)).toEqual(['cache', 'memory']);
    other.restoreLog();

    edge.advance(1_000);
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(2);
  });

  it('an inactive token costs 1 call per inactiveCacheSeconds, in this isolate and the location', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: { active: false } });
    await putIntrospecting(endpoint, { inactiveCacheSeconds: 5 });
    for (let second = 0; second < 5; second++) {
      expect(await (await callOn(edge, token)).json()).toMatchObject({ error: 'invalid_token', reason: 'inactive' });
      edge.advance(1_000);
    }
    expect(await endpoint.calls()).toBe(1);
    const other = testEdge({ start: edge.now - 1_000 });
    expect((await callOn(other, token)).status).toBe(401);
    expect(await endpoint.calls()).toBe(1);
    other.restoreLog();
    // 5 s after the answer: asked again, and so once per window after that.
    for (let second = 0; second < 10; second++) {
      expect((await callOn(edge, token)).status).toBe(401);
      edge.advance(1_000);
    }
    expect(await endpoint.calls()).toBe(3);
  });

  it('a token revoked at the provider is refused once the window passes, and not before', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { cacheSeconds: 10 });
    expect((await callOn(edge, token)).status).toBe(200);
    await endpoint.answer(token, { active: false });
    edge.advance(9_000);
    expect((await callOn(edge, token)).status).toBe(200);
    edge.advance(1_000);
    expect(await (await callOn(edge, token)).json()).toMatchObject({ reason: 'inactive' });
  });

  it('cacheSeconds 0 and inactiveCacheSeconds 0 keep nothing: every request asks', async () => {
    const token = opaqueToken();
    const inactive = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer(), [inactive]: { active: false } });
    await putIntrospecting(endpoint, { cacheSeconds: 0, inactiveCacheSeconds: 0 });
    for (let i = 0; i < 3; i++) {
      expect((await callOn(edge, token)).status).toBe(200);
      expect((await callOn(edge, inactive)).status).toBe(401);
    }
    expect(await endpoint.calls()).toBe(6);
    expect(edge.app.isolate.introspections.memory.size).toBe(0);
  });
});

describe('what is kept, and for how long', () => {
  it('never serves a kept answer past its exp, in memory or in the Cache API', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer({ exp: Math.floor(edge.now / 1000) + 10 }) });
    await putIntrospecting(endpoint, { cacheSeconds: 300 });
    expect((await callOn(edge, token)).status).toBe(200);
    edge.advance(9_000);
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    edge.advance(2_000);
    // Past exp: the provider is asked again (and says what it says now).
    await endpoint.answer(token, { active: false });
    expect(await (await callOn(edge, token)).json()).toMatchObject({ reason: 'inactive' });
    expect(await endpoint.calls()).toBe(2);
    const other = testEdge({ start: edge.now });
    expect((await callOn(other, token)).status).toBe(401);
    other.restoreLog();
  });

  it('a token that differs by one character shares no entry with it', async () => {
    const token = opaqueToken();
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    const near = `${token.slice(0, -1)}${last}`;
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer(), [near]: { active: false } });
    await putIntrospecting(endpoint);
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await (await callOn(edge, near)).json()).toMatchObject({ reason: 'inactive' });
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await (await callOn(edge, near)).json()).toMatchObject({ reason: 'inactive' });
    expect(await endpoint.calls()).toBe(2);
    const [a, b] = await Promise.all([answerKey(id, issuer.issuer, token), answerKey(id, issuer.issuer, near)]);
    expect(a.memory).not.toBe(b.memory);
    expect(a.url).not.toBe(b.url);
  });

  it('keys by tenant: the same token at another tenant with the same issuer is asked for again', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer({ aud: [`https://${host}`, 'https://api.other.test'] }) });
    await putIntrospecting(endpoint);
    expect((await callOn(edge, token)).status).toBe(200);
    const otherId = `${id}-b`;
    const config = tenantConfig({ id: otherId, hosts: [`b.${host}`], issuer, audience: 'https://api.other.test' });
    (config.issuers as Record<string, unknown>[])[0]!.introspection = { endpoint: endpoint.url, clientId: 'edge', clientSecret: 's' };
    await edge.putTenant(config);
    expect((await edge.request(`https://b.${host}/orders`, { token })).status).toBe(200);
    expect(await endpoint.calls()).toBe(2);
  });

  it('holds the hash, never the token: the memory key and the Cache API URL', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint);
    expect((await callOn(edge, token)).status).toBe(200);
    const key = await answerKey(id, issuer.issuer, token);
    expect(key.memory).not.toContain(token);
    expect(key.url).not.toContain(token);
    expect(edge.app.isolate.introspections.memory.peek(key.memory)?.answer.active).toBe(true);
    const kept = await caches.default.match(key.url);
    expect(kept?.status).toBe(200);
    expect(await kept!.text()).not.toContain(token);
  });

  // A tenant lowers its window (a provider incident: revocations at the provider must be seen within
  // the new one): answers kept before the change are judged by their age against the window the
  // config has now, in this isolate's memory and in the location's Cache API.
  it('a lowered cacheSeconds holds for an answer already in memory: used up to 39.999 s old, asked again at 40 s', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { cacheSeconds: 300 });
    expect((await callOn(edge, token)).status).toBe(200);
    await putIntrospecting(endpoint, { cacheSeconds: 40 });
    // Past TENANT_CACHE_SECONDS (30): this isolate reads the new config.
    edge.advance(39_999);
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    edge.advance(1);
    // Revoked at the provider meanwhile: the answer kept under the old window is not used.
    await endpoint.answer(token, { active: false });
    expect(await (await callOn(edge, token)).json()).toMatchObject({ error: 'invalid_token', reason: 'inactive' });
    expect(await endpoint.calls()).toBe(2);
  });

  it('a lowered cacheSeconds holds for an answer already in the Cache API (other isolates of the location)', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { cacheSeconds: 300 });
    expect((await callOn(edge, token)).status).toBe(200);
    await putIntrospecting(endpoint, { cacheSeconds: 10 });
    const before = testEdge({ env: { LOG_SAMPLE_RATE: '1' }, start: edge.now + 9_999 });
    expect((await callOn(before, token)).status).toBe(200);
    expect(tiers(before)).toEqual(['cache']);
    before.restoreLog();
    await endpoint.answer(token, { active: false });
    const after = testEdge({ env: { LOG_SAMPLE_RATE: '1' }, start: edge.now + 10_000 });
    expect(await (await callOn(after, token)).json()).toMatchObject({ reason: 'inactive' });
    after.restoreLog();
    expect(await endpoint.calls()).toBe(2);
    // The isolate that took it from the Cache API keeps its first age, not the time it read it: at
    // 10 s it drops it and finds the inactive answer the other isolate kept meanwhile.
    before.advance(1);
    expect((await callOn(before, token)).status).toBe(401);
    expect(await endpoint.calls()).toBe(2);
  });

  it('cacheSeconds 0 keeps nothing, whatever an earlier config kept: every request asks, in every isolate', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { cacheSeconds: 300 });
    expect((await callOn(edge, token)).status).toBe(200);
    await putIntrospecting(endpoint, { cacheSeconds: 0 });
    const other = testEdge({ env: { LOG_SAMPLE_RATE: '1' }, start: edge.now + 1 });
    expect((await callOn(other, token)).status).toBe(200);
    expect((await callOn(other, token)).status).toBe(200);
    expect(tiers(other)).toEqual(['network', 'network']);
    other.restoreLog();
    edge.advance(31_000);
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(4);
  });

  it('a lowered inactiveCacheSeconds holds for inactive answers already kept, 0 included', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: { active: false } });
    await putIntrospecting(endpoint, { inactiveCacheSeconds: 60 });
    expect((await callOn(edge, token)).status).toBe(401);
    await putIntrospecting(endpoint, { inactiveCacheSeconds: 40 });
    edge.advance(39_999);
    expect((await callOn(edge, token)).status).toBe(401);
    expect(await endpoint.calls()).toBe(1);
    edge.advance(1);
    // Active at the provider for the same value now (a provider that reuses handles): seen at 40 s.
    await endpoint.answer(token, answer());
    expect((await callOn(edge, token)).status).toBe(200);
    expect(await endpoint.calls()).toBe(2);

    const other = opaqueToken();
    await endpoint.answer(other, { active: false });
    await putIntrospecting(endpoint, { inactiveCacheSeconds: 60 });
    edge.advance(31_000);
    expect((await callOn(edge, other)).status).toBe(401);
    await putIntrospecting(endpoint, { inactiveCacheSeconds: 0 });
    edge.advance(31_000);
    expect((await callOn(edge, other)).status).toBe(401);
    expect(await endpoint.calls()).toBe(4);
  });

  it('a raised cacheSeconds does not lengthen an answer kept under the lower one', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer() });
    await putIntrospecting(endpoint, { cacheSeconds: 10 });
    expect((await callOn(edge, token)).status).toBe(200);
    await putIntrospecting(endpoint, { cacheSeconds: 300 });
    edge.advance(10_000);
    expect((await callOn(edge, token)).status).toBe(200);
    const other = testEdge({ start: edge.now });
    expect((await callOn(other, token)).status).toBe(200);
    other.restoreLog();
    expect(await endpoint.calls()).toBe(2);
  });

  it('re-judges a kept answer under a changed config (a recompiled tenant), without a call', async () => {
    const token = opaqueToken();
    const endpoint = await introspectionEndpoint(issuer, { [token]: answer({ scope: 'read' }) });
    await putIntrospecting(endpoint);
    expect((await callOn(edge, token)).status).toBe(200);
    await putIntrospecting(endpoint, {}, { audience: 'https://api.elsewhere.test' });
    edge.advance(31_000);
    expect(await (await callOn(edge, token)).json()).toMatchObject({ reason: 'wrong_audience' });
    expect(await endpoint.calls()).toBe(1);
  });

  it('with tokens "all", a repeated JWT costs one call per window too, and its signature is still checked', async () => {
    const endpoint = await introspectionEndpoint(issuer);
    await putIntrospecting(endpoint, { tokens: 'all' });
    const jwt = await issuer.sign({ sub: 'u', aud: `https://${host}` }, { now: edge.now });
    await endpoint.answer(jwt, answer({ sub: 'u' }));
    for (let i = 0; i < 3; i++) expect((await callOn(edge, jwt)).status).toBe(200);
    expect(await endpoint.calls()).toBe(1);
    expect(edge.decisions().map((d) => d.tiers)).toEqual([
      expect.objectContaining({ keys: 'network', introspection: 'network' }),
      expect.objectContaining({ keys: 'memory', introspection: 'memory' }),
      expect.objectContaining({ keys: 'memory', introspection: 'memory', token: 'hit' }),
    ]);
  });
});
