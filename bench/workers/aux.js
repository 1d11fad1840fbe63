// The benchmark's outbound world (every fetch the Workers under test make lands here through
// Miniflare's outboundService): an OpenID issuer on any *.issuer.bench.test host (discovery and
// JWKS, counted per host and path) and an origin that answers 200 on any other host.
//
//   GET /__hits?host=H     -> { discovery, jwks }   (on the direct socket, any host)
const hits = new Map(); // `${host}${path}` -> count

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/__tick') return new Response(null, { status: 204 });
    if (url.pathname === '/__hits') {
      const host = url.searchParams.get('host');
      return Response.json({
        discovery: hits.get(`${host}/.well-known/openid-configuration`) ?? 0,
        jwks: hits.get(`${host}/jwks`) ?? 0,
      });
    }
    if (url.hostname.endsWith('issuer.bench.test')) {
      const key = `${url.host}${url.pathname}`;
      hits.set(key, (hits.get(key) ?? 0) + 1);
      const headers = { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' };
      if (url.pathname === '/.well-known/openid-configuration') {
        return new Response(JSON.stringify({ issuer: `https://${url.host}/`, jwks_uri: `https://${url.host}/jwks` }), { headers });
      }
      if (url.pathname === '/jwks') return new Response(env.JWKS, { headers });
      return new Response('not found', { status: 404 });
    }
    return new Response('ok');
  },
};
