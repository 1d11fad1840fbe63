// Baseline: what a careful team writes by hand for one tenant. jose's jwtVerify with a local JWKS
// (keys imported once per isolate by createLocalJWKSet), checking iss, aud and exp.
import { createLocalJWKSet, jwtVerify } from 'jose';

/** @type {ReturnType<typeof createLocalJWKSet> | undefined} */
let jwks;

export default {
  async fetch(request, env) {
    jwks ??= createLocalJWKSet(JSON.parse(env.JWKS));
    const authorization = request.headers.get('authorization');
    if (authorization === null || !authorization.startsWith('Bearer ')) return new Response('no token', { status: 401 });
    try {
      await jwtVerify(authorization.slice(7), jwks, {
        issuer: env.ISSUER, audience: env.AUDIENCE, algorithms: ['RS256', 'ES256'], requiredClaims: ['exp'],
      });
    } catch {
      return new Response('invalid token', { status: 401 });
    }
    return new Response('ok');
  },
};
