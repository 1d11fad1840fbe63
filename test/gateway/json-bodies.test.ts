// Every JSON body the edge and the admin API write is one JSON text and a final newline, as
// `curl` users and line-based tools expect: refusals of every door, the protected resource
// metadata, the revocation event receivers' answers, and each admin answer, success or error.
// And the refusals that must explain themselves do: unknown_host names the host it got.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dohStandIn } from '../cron/doh';
import { ADMIN, tenantConfig, testEdge, uniqueTenant } from '../support/gateway';
import { TestIssuer } from '../support/issuer';

let edge: ReturnType<typeof testEdge>;
let issuer: TestIssuer;
let id: string;
let host: string;
const doh = dohStandIn();

beforeAll(async () => {
  edge = testEdge({ env: { DOH_URL: doh.url } });
  issuer = await TestIssuer.create();
  const tenant = uniqueTenant('json');
  id = tenant.id;
  host = `api.${tenant.domain}`;
  await doh.cname(host, 'edge.saas.test');
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer, events: { backchannelLogout: { audiences: ['web-client'] } },
    dnsCheck: { type: 'CNAME', target: 'edge.saas.test', mode: 'report' },
  }));
});

afterAll(() => edge?.restoreLog());

/** The body: one JSON text, then exactly one newline. */
async function expectJsonLine(response: Response): Promise<unknown> {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const text = await response.text();
  expect(text.endsWith('\n'), JSON.stringify(text.slice(-20))).toBe(true);
  expect(text.slice(0, -1)).not.toMatch(/\n$/);
  return JSON.parse(text);
}

const admin = (path: string, init: RequestInit = {}) =>
  edge.fetch(new Request(`http://admin.localhost${path}`, { ...init, headers: { ...ADMIN, ...init.headers } }));

describe('JSON bodies end with a newline', () => {
  it('refusals at a tenant host and at an unknown one', async () => {
    await expectJsonLine(await edge.request(`https://${host}/orders`));
    await expectJsonLine(await edge.request(`https://${host}/orders`, { token: 'not.a.jwt' }));
    await expectJsonLine(await edge.request('https://nobody.example.test/orders'));
  });

  it('the protected resource metadata', async () => {
    const response = await edge.request(`https://${host}/.well-known/oauth-protected-resource`);
    expect(response.status).toBe(200);
    expect(await expectJsonLine(response)).toMatchObject({ resource: `https://${host}` });
  });

  it('the back-channel logout receiver\'s refusal', async () => {
    const response = await edge.request(`https://${host}/_edge/backchannel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=x',
    });
    expect(response.status).toBe(400);
    await expectJsonLine(response);
  });

  it('every admin answer: tenant, list, state, revoke, status, DNS check, and errors', async () => {
    const config = tenantConfig({ id, hosts: [host], issuer, events: { backchannelLogout: { audiences: ['web-client'] } },
      dnsCheck: { type: 'CNAME', target: 'edge.saas.test', mode: 'report' } });
    const put = await admin(`/tenants/${id}`, { method: 'PUT', body: JSON.stringify(config) });
    expect(put.status).toBe(200);
    await expectJsonLine(put);
    for (const path of [`/tenants/${id}`, '/tenants?limit=1', `/tenants/${id}/state`]) {
      const response = await admin(path);
      expect(response.status, path).toBe(200);
      await expectJsonLine(response);
    }
    for (const [path, body] of [[`/tenants/${id}/revoke`, { sub: 'user-1' }], [`/tenants/${id}/status`, { status: 'active' }], [`/tenants/${id}/dns-check`, {}]] as const) {
      const response = await admin(path, { method: 'POST', body: JSON.stringify(body) });
      expect(response.status, path).toBe(200);
      await expectJsonLine(response);
    }
    await expectJsonLine(await admin('/tenants', { headers: { authorization: 'Bearer wrong' } }));
    await expectJsonLine(await admin('/nothing-here'));
    await expectJsonLine(await admin(`/tenants/${id}`, { method: 'PUT', body: '{' }));
  });
});

describe('unknown_host says what it got', () => {
  it('names the host no API is configured for', async () => {
    const response = await edge.request('https://nobody.example.test/orders');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: 'unknown_host',
      error_description: 'No API is configured for the host "nobody.example.test" (the request\'s Host header).',
    });
  });
});
