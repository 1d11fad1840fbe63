// GET https://<tenant host>/_edge/jwks: the tenant's edge public key set, public and cacheable
// (a provider fetches it to check private_key_jwt assertions), answered right after the tenant
// step like the metadata document: no token, no route, no perIp, also while on hold.
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN, testEdge, uniqueTenant } from '../support/gateway';

let edge: ReturnType<typeof testEdge>;
afterEach(() => edge?.restoreLog());

function tenant(id: string, host: string, extra: Record<string, unknown> = {}) {
  return { id, hosts: [host], issuers: [{ issuer: 'https://idp.example/', audiences: ['x'] }], ...extra };
}
const adminJwks = async (id: string) =>
  (await (await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/jwks`, { headers: ADMIN }))).json()) as { keys: unknown[] };

describe('GET /_edge/jwks on a tenant host', () => {
  it('answers the edge public key set, public and cacheable, with a request id', async () => {
    edge = testEdge({ env: { LOG_SAMPLE_RATE: '1' } }); // the answer's decision line, which production samples
    const { id, domain } = uniqueTenant('jwks');
    const host = `api.${domain}`;
    await edge.putTenant(tenant(id, host, { routes: [{ path: '/*', scopes: ['admin'] }] }));
    const response = await edge.request(`https://${host}/_edge/jwks`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('x-request-id')).toBeTruthy();
    const body = await response.json() as { keys: Record<string, unknown>[] };
    expect(body).toEqual(await adminJwks(id));
    expect(body.keys).toHaveLength(1);
    expect(body.keys[0]).not.toHaveProperty('d');
    expect(edge.decisions().at(-1)).toMatchObject({ tenant: id, outcome: 'metadata', status: 200 });
  });

  it('answers HEAD too, and also while the tenant is on hold (as the metadata document)', async () => {
    edge = testEdge();
    const { id, domain } = uniqueTenant('jwks');
    const host = `api.${domain}`;
    await edge.putTenant(tenant(id, host, { rateLimit: { perIp: { limit: 1, windowSeconds: 60 } } }));
    await edge.fetch(new Request(`http://admin.localhost/tenants/${id}/status`, { method: 'POST', headers: ADMIN, body: '{"status":"hold"}' }));
    expect((await edge.request(`https://${host}/other`)).status).toBe(403);
    for (let i = 0; i < 3; i++) expect((await edge.request(`https://${host}/_edge/jwks`)).status).toBe(200);
    const head = await edge.request(`https://${host}/_edge/jwks`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    // The GET's headers without its body (RFC 9110 §9.3.2).
    expect(head.headers.get('content-type')).toMatch(/json/);
    expect(await head.text()).toBe('');
  });

  it('is an empty key set for a tenant created without SECRETS_KEY', async () => {
    edge = testEdge({ env: { SECRETS_KEY: undefined } });
    const { id, domain } = uniqueTenant('jwks');
    await edge.putTenant(tenant(id, `api.${domain}`));
    expect(await (await edge.request(`https://api.${domain}/_edge/jwks`)).json()).toEqual({ keys: [] });
  });

  it('is the exact path for GET and HEAD only: other methods and spellings are ordinary routes', async () => {
    edge = testEdge();
    const { id, domain } = uniqueTenant('jwks');
    const host = `api.${domain}`;
    await edge.putTenant(tenant(id, host));
    for (const [method, path] of [['POST', '/_edge/jwks'], ['GET', '/_edge/jwks/'], ['GET', '/_EDGE/jwks'], ['GET', '/_edge/jwks.json']]) {
      const response = await edge.request(`https://${host}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(401);
    }
  });
});
