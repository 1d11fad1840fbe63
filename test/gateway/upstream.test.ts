// An origin that cannot be reached (docs/errors.md, upstream_unavailable): the gateway answers
// 502 through the one response funnel, with the request id and the decision's headers, and logs
// the decision as denied with a note. Every outbound fetch of the Worker under test goes to the
// auxiliary Worker (vitest.config.ts), which always answers: a fetch that fails outright (the
// origin refuses the connection) cannot happen here, so the origin's fetch is made to reject.
// An origin's answer the edge cannot rebuild with the decision's headers is the contract's 500,
// through the same funnel and logged, never a throw out of the Worker.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testEdge, uniqueTenant } from '../support/gateway';

let edge: ReturnType<typeof testEdge>;
afterEach(() => {
  vi.restoreAllMocks();
  edge?.restoreLog();
});

/** A tenant with a public route, CORS for one browser origin and an origin of its own, whose
 *  fetches `origin` answers (every other fetch goes where it went). */
async function tenantWithOrigin(origin: () => Promise<Response>) {
  edge = testEdge({ env: { LOG_SAMPLE_RATE: '1' } });
  const { id, domain } = uniqueTenant('up');
  const host = `api.${domain}`;
  const upstream = `https://origin-${id}.test`;
  const browser = `https://app-${id}.test`;
  await edge.putTenant({
    id, hosts: [host], upstream, issuers: [{ issuer: 'https://idp.example/', audiences: ['x'] }],
    routes: [{ path: '/public/*', auth: 'none' }], cors: { allowOrigins: [browser] },
  });
  const real = globalThis.fetch;
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    return url.startsWith(`${upstream}/`) ? origin() : real(input, init);
  });
  return { id, host, browser };
}

describe('an origin that cannot be reached', () => {
  it('is 502 upstream_unavailable with the request id and CORS, logged as denied with a note', async () => {
    const { id, host, browser } = await tenantWithOrigin(() => Promise.reject(new TypeError('Network connection lost.')));

    const response = await edge.request(`https://${host}/public/orders`, { headers: { origin: browser } });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: 'upstream_unavailable', error_description: 'The origin cannot be reached.' });
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('access-control-allow-origin')).toBe(browser);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(edge.decisions().at(-1)).toMatchObject({
      tenant: id, outcome: 'denied', status: 502, error: 'upstream_unavailable', note: 'TypeError: Network connection lost.',
      requestId: response.headers.get('x-request-id'),
    });
  });
});

describe('an origin answer the edge cannot rebuild with its headers', () => {
  // fetch hands over an origin's status outside 200-599 as it is (LinkedIn's bot wall answers 999),
  // but no Response can be constructed with one, so adding CORS to it throws. The test runtime
  // cannot make such an answer either: the origin's fetch answers a Response whose status reads 999.
  it('is 500 internal_error through the one funnel with the request id and CORS, logged once', async () => {
    const { id, host, browser } = await tenantWithOrigin(async () => {
      const answer = new Response('request blocked');
      Object.defineProperty(answer, 'status', { value: 999 });
      return answer;
    });

    const response = await edge.request(`https://${host}/public/orders`, { headers: { origin: browser } });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'internal_error', error_description: 'Internal error.' });
    expect(response.headers.get('access-control-allow-origin')).toBe(browser);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    expect(edge.decisions()).toHaveLength(1);
    expect(edge.decisions()[0]).toMatchObject({
      tenant: id, requestId, outcome: 'denied', status: 500, error: 'internal_error', note: expect.stringMatching(/^RangeError/),
    });
  });
});
