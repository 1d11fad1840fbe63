// Request bodies reach the origin as received, for every method: a GET with a body (as
// Elasticsearch's search API takes) and a HEAD with one are forwarded with it, on public and token
// routes, never answered 500. A test cannot build such a request (the Request constructor refuses a
// GET or HEAD body), so it is sent the way a client's arrives: through a Worker that receives it
// over a service binding and hands it on as received (test/fixtures/relay-worker.js), to this
// Worker's own fetch handler, which forwards it to the echo origin (test/fixtures/issuer-worker.js).
// A non-empty GET body over raw HTTP: test/e2e/cli.test.ts.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { type Echo, gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';
import { TestIssuer } from '../support/issuer';

const relay = (env as unknown as { RELAY: Fetcher }).RELAY;

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;

gatewayTest('body', {}, async (made) => {
  ({ edge, issuer, host } = made);
  await edge.putTenant(tenantConfig({ id: made.id, hosts: [host], issuer, routes: [{ path: '/public/*', auth: 'none' }, { path: '/*' }] }));
});

/** A request naming a body, as a client sends it (the relay's fetch handler receives it with one). */
const send = (method: string, path: string, headers: Record<string, string>) =>
  relay.fetch(`https://${host}${path}`, { method, headers });

describe('a GET or HEAD that names a body', () => {
  // The relay runs this Worker's own handler on the real clock.
  const token = () => issuer.sign({ sub: 'user-1', aud: `https://${host}`, scope: 'read' });
  const framings: Record<string, string>[] = [{ 'transfer-encoding': 'chunked' }, { 'content-length': '0' }];

  for (const method of ['GET', 'HEAD']) {
    it(`${method}: forwarded with its body, on a public route and on a token route`, async () => {
      for (const framing of framings) {
        for (const [path, auth] of [['/public/search', {}], ['/orders/_search', { authorization: `Bearer ${await token()}` }]] as const) {
          const response = await send(method, path, { ...framing, ...auth });
          const label = `${method} ${path} ${JSON.stringify(framing)}`;
          expect(response.status, `${label}: ${await response.clone().text()}`).toBe(200);
          expect(response.headers.get('x-echo-method'), label).toBe(method);
          // The origin received a body (empty here: the framing named one).
          expect(response.headers.get('x-echo-body'), label).toBe('0');
          if (method === 'GET') {
            const echo = await response.json() as Echo;
            expect(echo.hasBody, label).toBe(true);
            expect(echo.headers['x-auth-subject'], label).toBe('authorization' in auth ? 'user-1' : undefined);
          }
        }
      }
    });

    it(`${method}: refused as any other request when the token is missing, never a 500`, async () => {
      for (const framing of framings) {
        const response = await send(method, '/orders/_search', framing);
        expect(response.status).toBe(401);
      }
    });
  }
});

describe('what else the forwarded request keeps', () => {
  it('a POST body arrives as sent, and the origin\'s redirect goes back to the client, not followed', async () => {
    const token = await issuer.sign({ sub: 'user-1', aud: `https://${host}` }, { now: edge.now });
    const posted = await edge.request(`https://${host}/orders`, { method: 'POST', token, body: '{"query":{"match_all":{}}}' });
    expect(((await posted.json()) as Echo).body).toBe('{"query":{"match_all":{}}}');
    await fetch('https://control.test/routes', {
      method: 'PUT', body: JSON.stringify({ url: `https://${host}/moved`, status: 302, headers: { location: `https://${host}/elsewhere` } }),
    });
    try {
      const moved = await edge.request(`https://${host}/moved`, { token });
      expect([moved.status, moved.headers.get('location')]).toEqual([302, `https://${host}/elsewhere`]);
    } finally {
      await fetch(`https://control.test/reset?host=${host}`, { method: 'POST' });
    }
  });
});
