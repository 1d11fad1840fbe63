// Opaque access tokens end to end (docs/introspection.md): the real `oidc-provider` of the local
// stack (dev/issuer.mjs) issues them and introspects them, a real `wrangler dev` asks it, the echo
// origin shows what the edge forwarded. acme is seeded as `npm start` seeds it (client_secret_basic,
// the endpoint from discovery, answers reused for 5 s), then given private_key_jwt (the edge signs
// its client assertion with acme's edge key, which the provider fetches from acme's /_edge/jwks
// on this edge). Each way: a token accepted, revoked at the provider (RFC 7009), refused as
// inactive once the window has passed, in real time.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestToken, revokeToken, startIssuer, type Issuer } from '../../dev/issuer.mjs';
import { startOrigin, type Origin } from '../../dev/origin.mjs';
import {
  DEMO_INTROSPECTION_CACHE_SECONDS, DEMO_INTROSPECTION_CLIENTS, DEMO_OPAQUE_CLIENTS, demoBoundResources, demoResources, demoTenants,
} from '../../dev/tenants.mjs';
import { fetchAdmin, fetchAs, startEdge, type Edge } from './support/edge';

const opaque = DEMO_OPAQUE_CLIENTS.acme!;
const { privateKeyJwt } = DEMO_INTROSPECTION_CLIENTS.acme!;

let edge: Edge;
let origin: Origin;
let issuer: Issuer;

interface Echo { headers: Record<string, string> }

beforeAll(async () => {
  [origin, edge] = await Promise.all([
    startOrigin(),
    // TENANT_CACHE_SECONDS 0: a replaced config applies to the next request.
    startEdge({
      vars: { ALLOW_INSECURE_ISSUERS: 'true', LOG_SAMPLE_RATE: '1.0', TENANT_CACHE_SECONDS: '0' },
      secrets: { SECRETS_KEY: randomBytes(32).toString('base64url') },
    }),
  ]);
  // As npm start runs it: the provider reaches the tenants' hosts (acme's /_edge/jwks) on this edge.
  issuer = await startIssuer({ resources: demoResources(), boundResources: demoBoundResources(), edgePort: Number(new URL(edge.url).port) });
  for (const config of demoTenants({ issuer: issuer.url, upstream: origin.url })) await put(config);
});

afterAll(async () => {
  await Promise.all([edge?.stop(), origin?.stop(), issuer?.stop()]);
});

async function put(config: { id: string }): Promise<void> {
  const response = await fetchAdmin(edge, `/tenants/${config.id}`, { method: 'PUT', body: JSON.stringify(config) });
  expect([200, 201], await response.clone().text()).toContain(response.status);
}

const opaqueToken = () => requestToken(issuer.url, { clientId: opaque.clientId, clientSecret: opaque.clientSecret, scope: 'read admin' });
const call = (token: string, path = '/orders') => fetchAs(edge, opaque.host, path, { headers: { authorization: `Bearer ${token}` } });
const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/** Accepted with the provider's answer as its identity; after a revocation at the provider, refused
 *  once the window has passed (not before it started), within a second of its end. */
async function acceptedThenRevoked(windowSeconds: number): Promise<void> {
  const token = await opaqueToken();
  expect(token.split('.')).toHaveLength(1);
  const accepted = await call(token);
  expect(accepted.status, await accepted.clone().text()).toBe(200);
  const echo = await accepted.json() as Echo;
  expect(echo.headers['x-auth-subject']).toBe(opaque.clientId);
  expect(echo.headers['x-auth-client-id']).toBe(opaque.clientId);
  expect(echo.headers['x-auth-scopes']).toBe('read admin');
  expect((await call(token, '/admin/users')).status).toBe(200);

  await revokeToken(issuer.url, { clientId: opaque.clientId, clientSecret: opaque.clientSecret, token });
  const revokedAt = Date.now();
  let refusedAt: number | null = null;
  while (refusedAt === null && Date.now() - revokedAt < (windowSeconds + 5) * 1000) {
    const response = await call(token);
    if (response.status === 401) {
      expect(await response.json()).toMatchObject({ error: 'invalid_token', reason: 'inactive' });
      refusedAt = Date.now();
    } else {
      expect(response.status).toBe(200);
      await sleep(250);
    }
  }
  expect(refusedAt, 'refused once the window passed').not.toBeNull();
  expect(refusedAt! - revokedAt).toBeLessThan((windowSeconds + 1.5) * 1000);
  expect(edge.output()).not.toContain(token);
}

describe('an opaque token through wrangler dev and the real provider', () => {
  it('client_secret_basic (acme as npm start seeds it): accepted, revoked at the provider, refused within cacheSeconds', async () => {
    await acceptedThenRevoked(DEMO_INTROSPECTION_CACHE_SECONDS);
  });

  it('private_key_jwt (the edge key of acme, fetched by the provider from /_edge/jwks): the same', async () => {
    const [acme] = demoTenants({ issuer: issuer.url, upstream: origin.url }).filter((config) => config.id === 'acme');
    const issuers = acme!.issuers as Record<string, unknown>[];
    issuers[0] = { ...issuers[0], introspection: { endpoint: null, clientId: privateKeyJwt.clientId, clientAuth: 'private_key_jwt', cacheSeconds: 2 } };
    // The next request reads it (TENANT_CACHE_SECONDS 0). acme-edge-jwt has no secret: only a
    // client assertion the provider verifies with acme's published key gets an answer.
    await put(acme!);
    await acceptedThenRevoked(2);
  });
});
