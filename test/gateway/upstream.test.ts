// An origin that cannot be reached (docs/errors.md, upstream_unavailable): the gateway answers
// 502 through the one response funnel, with the request id and the decision's headers, and logs
// the decision as denied with a note. Every outbound fetch of the Worker under test goes to the
// auxiliary Worker (vitest.config.ts), which always answers: a fetch that fails outright (the
// origin refuses the connection) cannot happen here, so the origin's fetch is made to reject.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testEdge, uniqueTenant } from '../support/gateway';

let edge: ReturnType<typeof testEdge>;
afterEach(() => {
  vi.restoreAllMocks();
  edge?.restoreLog();
});

describe('an origin that cannot be reached', () => {
  it('is 502 upstream_unavailable with the request id and CORS, logged as denied with a note', async () => {
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
      return url.startsWith(`${upstream}/`) ? Promise.reject(new TypeError('Network connection lost.')) : real(input, init);
    });

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
