// CORS at the edge: listed origins reflected, "*" answered as `*` with credentials taken off the
// origin's answer, and preflights of tenants without `cors` forwarded after perIp, bodiless.
import { describe, expect, it } from 'vitest';
import { TestIssuer, register } from '../support/issuer';
import { type Echo, gatewayTest, tenantConfig, type TestEdge } from '../support/gateway';

let edge: TestEdge;
let issuer: TestIssuer;
let host: string;
let id: string;
let origin: string;

gatewayTest('cors', {}, async (made) => {
  ({ edge, issuer, id, host } = made);
  origin = `https://origin-${id}.test`;
  // An origin that answers as if it allowed credentials for anyone.
  for (const path of ['/orders', '/health']) {
    await register(`${origin}${path}`, {
      body: { ok: true },
      headers: { 'content-type': 'application/json', 'access-control-allow-origin': 'https://evil.test', 'access-control-allow-credentials': 'true' },
    });
  }
});

async function put(extra: Record<string, unknown>) {
  await edge.putTenant(tenantConfig({
    id, hosts: [host], issuer, upstream: origin, routes: [{ path: '/health', auth: 'none' }, { path: '/*' }], ...extra,
  }));
}
const token = () => issuer.sign({ sub: 'u', aud: `https://${host}` }, { now: edge.now });
const preflight = (from: string) => ({ method: 'OPTIONS', headers: { origin: from, 'access-control-request-method': 'GET' } });

describe('allowOrigins ["*"]', () => {
  it('answers `*`, never the reflected origin, on preflights, errors and forwarded responses', async () => {
    await put({ cors: { allowOrigins: ['*'] } });
    for (const from of ['https://app.acme.com', 'https://evil.test', 'null']) {
      const answered = await edge.request(`https://${host}/orders`, preflight(from));
      expect(answered.status).toBe(204);
      expect(answered.headers.get('access-control-allow-origin')).toBe('*');
      const error = await edge.request(`https://${host}/orders`, { headers: { origin: from } });
      expect(error.status).toBe(401);
      expect(error.headers.get('access-control-allow-origin')).toBe('*');
      for (const response of [
        await edge.request(`https://${host}/orders`, { token: await token(), headers: { origin: from } }),
        await edge.request(`https://${host}/health`, { headers: { origin: from } }),
      ]) {
        expect(response.status).toBe(200);
        expect(response.headers.get('access-control-allow-origin')).toBe('*');
        expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      }
    }
  });

  it('a request without Origin gets nothing added and the origin answer untouched', async () => {
    await put({ cors: { allowOrigins: ['*'] } });
    const response = await edge.request(`https://${host}/health`);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://evil.test');
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('beside "*", a listed origin is reflected and keeps the origin credentials', async () => {
    await put({ cors: { allowOrigins: ['*', 'https://app.acme.com'] } });
    const listed = await edge.request(`https://${host}/health`, { headers: { origin: 'https://app.acme.com' } });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.acme.com');
    expect(listed.headers.get('access-control-allow-credentials')).toBe('true');
    const other = await edge.request(`https://${host}/health`, { headers: { origin: 'https://other.test' } });
    expect(other.headers.get('access-control-allow-origin')).toBe('*');
    expect(other.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('a listed origin only', () => {
  it('is reflected; an unlisted one gets no CORS header and its preflight is refused', async () => {
    await put({ cors: { allowOrigins: ['https://app.acme.com'] } });
    const listed = await edge.request(`https://${host}/health`, { headers: { origin: 'https://app.acme.com' } });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.acme.com');
    expect(listed.headers.get('vary')).toContain('Origin');
    const unlisted = await edge.request(`https://${host}/health`, { headers: { origin: 'https://app.acme.com.evil.test' } });
    expect(unlisted.headers.get('access-control-allow-origin')).toBe('https://evil.test'); // the origin's own answer, untouched
    const refused = await edge.request(`https://${host}/orders`, preflight('https://APP.acme.com'));
    expect(refused.status).toBe(403);
  });
});

describe('a browser client following a challenge (DPoP, step-up)', () => {
  /** A changed config, past the isolate's tenant cache (TENANT_CACHE_SECONDS). */
  const change = async (extra: Record<string, unknown>) => {
    await put(extra);
    edge.advance(31_000);
  };
  const exposed = (response: Response) => (response.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());

  it('reads WWW-Authenticate and DPoP-Nonce: listed in Access-Control-Expose-Headers for allowed origins, listed or "*"', async () => {
    for (const [allowOrigins, from] of [[['https://app.acme.com'], 'https://app.acme.com'], [['*'], 'https://any.test']] as const) {
      await change({ cors: { allowOrigins } });
      for (const response of [
        await edge.request(`https://${host}/orders`, { headers: { origin: from } }),
        await edge.request(`https://${host}/orders`, { headers: { origin: from }, token: 'not.a.token' }),
        await edge.request(`https://${host}/orders`, { headers: { origin: from }, token: await token() }),
        await edge.request(`https://${host}/health`, { headers: { origin: from } }),
      ]) {
        expect(exposed(response), `${from} ${response.status}`).toEqual(expect.arrayContaining(['www-authenticate', 'dpop-nonce']));
      }
    }
    // Not for an origin that is not allowed, nor without Origin.
    await change({ cors: { allowOrigins: ['https://app.acme.com'] } });
    expect((await edge.request(`https://${host}/orders`, { headers: { origin: 'https://other.test' } })).headers.get('access-control-expose-headers')).toBeNull();
    expect((await edge.request(`https://${host}/orders`)).headers.get('access-control-expose-headers')).toBeNull();
  });

  it('keeps what the origin exposes itself beside them', async () => {
    await register(`${origin}/listing`, { body: [], headers: { 'content-type': 'application/json', 'access-control-expose-headers': 'X-Total-Count' } });
    await put({ cors: { allowOrigins: ['https://app.acme.com'] } });
    const response = await edge.request(`https://${host}/listing`, { headers: { origin: 'https://app.acme.com' }, token: await token() });
    expect(response.status).toBe(200);
    expect(exposed(response)).toEqual(expect.arrayContaining(['x-total-count', 'www-authenticate', 'dpop-nonce']));
  });

  it('an edge-answered preflight allows Authorization and DPoP besides the configured request headers', async () => {
    await put({ cors: { allowOrigins: ['https://app.acme.com'] } });
    const allowed = (response: Response) => (response.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    const defaults = await edge.request(`https://${host}/orders`, preflight('https://app.acme.com'));
    expect(defaults.status).toBe(204);
    expect(allowed(defaults)).toEqual(['authorization', 'content-type', 'dpop']);
    await change({ cors: { allowOrigins: ['https://app.acme.com'], allowHeaders: ['X-Api-Key'] } });
    expect(allowed(await edge.request(`https://${host}/orders`, preflight('https://app.acme.com')))).toEqual(['x-api-key', 'authorization', 'dpop']);
    await change({ cors: { allowOrigins: ['https://app.acme.com'], allowHeaders: ['DPoP', 'Authorization', 'X-Api-Key'] } });
    expect(allowed(await edge.request(`https://${host}/orders`, preflight('https://app.acme.com')))).toEqual(['dpop', 'authorization', 'x-api-key']);
  });
});

describe('a tenant without cors', () => {
  it('forwards a preflight without a token, after perIp, and without its body', async () => {
    await put({ upstream: null, rateLimit: { perIp: { limit: 2, windowSeconds: 60 } } });
    const send = () => edge.fetch(new Request(`https://${host}/orders`, {
      method: 'OPTIONS', body: 'smuggled', headers: { ...preflight('https://app.test').headers, 'cf-connecting-ip': '198.51.100.7' },
    }));
    const first = await send();
    expect(first.status).toBe(200);
    const echo = await first.json() as Echo;
    expect(echo.method).toBe('OPTIONS');
    expect(echo.body).toBe('');
    expect((await send()).status).toBe(200);
    const limited = await send();
    expect(limited.status).toBe(429);
    expect((await limited.json() as { error: string }).error).toBe('rate_limited');
  });

  it('a preflight of a tenant with cors is also counted by perIp', async () => {
    await put({ cors: { allowOrigins: ['https://app.test'] }, rateLimit: { perIp: { limit: 1, windowSeconds: 60 } } });
    const send = () => edge.request(`https://${host}/orders`, { ...preflight('https://app.test'), headers: { ...preflight('https://app.test').headers, 'cf-connecting-ip': '198.51.100.8' } });
    expect((await send()).status).toBe(204);
    expect((await send()).status).toBe(429);
  });
});
