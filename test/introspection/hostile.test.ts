// A hostile or broken introspection endpoint through the whole Worker: slow past the 2 s deadline,
// 10 MiB of body, not JSON, `active: "true"`, a redirect, a refused connection, a hang. Each is
// 503 issuer_unavailable within the deadline, nothing is kept (no memory entry, no call under
// way, no Cache API entry: the next request asks again and is answered), and nothing of the
// token reaches a log line, a response or a header. Elapsed times are wall time (workerd's clock
// moves with I/O and timers).
import { describe, expect, it } from 'vitest';
import { answerKey } from '../../src/introspection/cache';
import { gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';
import { active, introspectionEndpoint, opaqueToken, type TestIntrospectionEndpoint } from '../support/introspection';
import { register, type RouteSpec, type TestIssuer } from '../support/issuer';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;
let id: string;

gatewayTest('oh', { env: { LOG_SAMPLE_RATE: '1' } }, (made) => ({ edge, issuer, id, host } = made));

const DEADLINE_MS = 2_000;
/** What a refusal at the deadline may take beyond it here (timers, a busy machine). */
const SLACK_MS = 1_500;

async function putIntrospecting(endpoint: TestIntrospectionEndpoint) {
  const config = tenantConfig({ id, hosts: [host], issuer });
  (config.issuers as Record<string, unknown>[])[0]!.introspection = { endpoint: endpoint.url, clientId: 'edge', clientSecret: 'edge-secret' };
  await edge.putTenant(config);
}

/** Refused as 503 issuer_unavailable within `withinMs`, then nothing kept: a healthy answer is asked for and accepted. */
async function refusedThenRecovered(spec: RouteSpec, options: { withinMs?: number; atLeastMs?: number; concurrent?: number } = {}) {
  const token = opaqueToken();
  const endpoint = await introspectionEndpoint(issuer);
  await putIntrospecting(endpoint);
  await endpoint.serve(spec);
  const started = Date.now();
  const responses = await Promise.all(Array.from({ length: options.concurrent ?? 1 },
    () => edge.request(`https://${host}/orders`, { token })));
  const elapsed = Date.now() - started;
  for (const response of responses) {
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: 'issuer_unavailable', error_description: expect.any(String) });
    expect(response.headers.get('retry-after')).toBe('5');
    expect(text).not.toContain(token);
    expect([...response.headers].join('\n')).not.toContain(token);
  }
  expect(elapsed).toBeLessThan(options.withinMs ?? DEADLINE_MS + SLACK_MS);
  if (options.atLeastMs !== undefined) expect(elapsed).toBeGreaterThanOrEqual(options.atLeastMs);
  const calls = await endpoint.calls();
  expect(calls).toBe(1);

  // Nothing held past the request.
  const { introspections } = edge.app.isolate;
  expect(introspections.memory.size).toBe(0);
  expect(introspections.flights.size).toBe(0);
  expect(await caches.default.match((await answerKey(id, issuer.issuer, token)).url)).toBeUndefined();
  await endpoint.serve({ behaviour: 'introspect', answers: { [token]: active(issuer, host, {}, edge.now) } });
  expect((await edge.request(`https://${host}/orders`, { token })).status).toBe(200);
  expect(await endpoint.calls()).toBe(calls + 1);
  expect(edge.logs.join('\n')).not.toContain(token);
  return { elapsed, notes: edge.decisions().map((d) => d.note) };
}

describe('a hostile introspection endpoint: 503 issuer_unavailable within the deadline, nothing kept', () => {
  it('answers after 3 s: refused at the 2 s deadline', async () => {
    const { elapsed, notes } = await refusedThenRecovered({ delayMs: 3_000, body: { active: true } }, { atLeastMs: DEADLINE_MS - 100 });
    expect(elapsed).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(notes[0]).toBe('introspection: timeout');
  });

  it('never answers (a hang): refused at the deadline; 20 concurrent requests make one call and are all refused', async () => {
    // One call (counted in refusedThenRecovered): the 19 that joined it share its outcome.
    const { notes } = await refusedThenRecovered({ behaviour: 'hang' }, { atLeastMs: DEADLINE_MS - 100, concurrent: 20 });
    expect(notes.slice(0, 20)).toEqual(Array(20).fill('introspection: timeout'));
  });

  it('sends 10 MiB: refused at the body cap, without reading it all', async () => {
    const { notes } = await refusedThenRecovered({ behaviour: 'huge', bytes: 10 * 1024 * 1024, headers: { 'content-type': 'application/json' } });
    expect(notes[0]).toBe('introspection: body over 65536 bytes');
  });

  it('declares 10 MiB in Content-Length: refused before reading', async () => {
    const { notes } = await refusedThenRecovered({
      behaviour: 'huge', bytes: 10 * 1024 * 1024, headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) },
    });
    expect(notes[0]).toBe('introspection: body over 65536 bytes');
  });

  it('answers something that is not JSON', async () => {
    const { notes } = await refusedThenRecovered({ body: '<html>login</html>', headers: { 'content-type': 'text/html' } });
    expect(notes[0]).toBe('introspection: body is not JSON');
  });

  it('answers active: "true" (a string)', async () => {
    const { notes } = await refusedThenRecovered({ body: { active: 'true', sub: 'user-1' } });
    expect(notes[0]).toBe('introspection: not a JSON object with a boolean active');
  });

  it('answers JSON nesting deeper than 32 levels', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = [deep];
    await refusedThenRecovered({ body: { active: true, exp: 9_999_999_999, deep } });
  });

  it('redirects: not followed, and the target never hears of the token', async () => {
    const target = `${issuer.origin}/elsewhere`;
    await register(target, { behaviour: 'introspect', body: { active: true } });
    const { notes } = await refusedThenRecovered({ status: 302, headers: { location: target } });
    expect(notes[0]).toBe('introspection: status 302');
    expect(await issuer.hits('/elsewhere')).toBe(0);
  });

  it.each([401, 500])('answers %i', async (status) => {
    const { notes } = await refusedThenRecovered({ status, body: { error: 'invalid_client' } });
    expect(notes[0]).toBe(`introspection: status ${status}`);
  });

  it('refuses the connection (the fetch throws)', async () => {
    const { notes } = await refusedThenRecovered({ behaviour: 'refuse' }, { withinMs: 1_000 });
    expect(notes[0]).toBe('introspection: network error');
  });
});
