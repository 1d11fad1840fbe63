// Baseline: the same hand-written jose check as jose.js, as a Hono middleware in front of the same
// handler the product's bench Worker has: what a team on Hono writes by hand. Against it the
// product's door (edgeAuth) is compared like for like; jose.js is the bare-Worker reference.
import { Hono } from 'hono';
import { createLocalJWKSet, jwtVerify } from 'jose';

/** @type {ReturnType<typeof createLocalJWKSet> | undefined} */
let jwks;
const app = new Hono();

app.use('*', async (c, next) => {
  jwks ??= createLocalJWKSet(JSON.parse(c.env.JWKS));
  const authorization = c.req.header('authorization');
  if (authorization === undefined || !authorization.startsWith('Bearer ')) return new Response('no token', { status: 401 });
  try {
    const { payload } = await jwtVerify(authorization.slice(7), jwks, {
      issuer: c.env.ISSUER, audience: c.env.AUDIENCE, algorithms: ['RS256', 'ES256'], requiredClaims: ['exp'],
    });
    c.set('auth', payload);
  } catch {
    return new Response('invalid token', { status: 401 });
  }
  await next();
});
app.all('*', () => new Response('ok'));

export default app;
