// @ts-check
// The echo origin of the local stack: answers every request with JSON naming the method, path
// and headers it received, so the x-auth-* identity headers the edge forwards can be seen.
//
//   const origin = await startOrigin({ port: 0 });
//   origin.url;          // http://127.0.0.1:<port>: a tenant's `upstream`
//   // GET /orders -> 200 { "method": "GET", "path": "/orders", "headers": { "x-auth-subject": ... } }
//   await origin.stop();
import { createServer } from 'node:http';

/**
 * @typedef {object} Origin
 * @property {string} url
 * @property {number} port
 * @property {() => Promise<void>} stop
 */

/** What the origin answers: the request as it arrived. @typedef {{ method: string, path: string, headers: Record<string, string>, bodyBytes: number }} Echo */

/** @param {{ port?: number }} [options] 0 (default) picks a free port @returns {Promise<Origin>} */
export async function startOrigin(options = {}) {
  const server = createServer((request, response) => {
    let bodyBytes = 0;
    request.on('data', (chunk) => { bodyBytes += chunk.length; });
    request.on('end', () => {
      /** @type {Record<string, string>} */
      const headers = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      /** @type {Echo} */
      const echo = { method: request.method ?? '', path: request.url ?? '', headers, bodyBytes };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify(echo, null, 2)}\n`);
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise((listening, failed) => {
    server.once('error', failed);
    server.listen(options.port ?? 0, '127.0.0.1', () => listening(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () => new Promise((stopped) => {
      server.close(() => stopped(undefined));
      server.closeAllConnections();
    }),
  };
}
