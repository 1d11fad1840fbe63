// @ts-check
// One HTTP(S) request that may name its own Host header. Node's fetch always sends the URL's
// host, and local `wrangler dev` tells the admin API and every tenant apart by Host alone.
//
//   const response = await hostRequest('http://127.0.0.1:8787/tenants/acme', { host: 'admin.localhost' });
//   response.status; response.headers.get('etag'); await response.json();   // a standard Response
//   // rejects with the socket's error (err.code ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ...)
import http from 'node:http';
import https from 'node:https';

/**
 * @typedef {object} HostRequestInit
 * @property {string} [method]
 * @property {string} [host] the Host header; default the URL's own host
 * @property {Record<string, string>} [headers]
 * @property {string} [body]
 * @property {number} [timeoutMs] for connecting and for each wait on the socket; default 30 s
 */

/** Statuses whose Response may not carry a body (the Response constructor refuses one). */
const NULL_BODY = new Set([204, 205, 304]);

/**
 * @param {string | URL} url
 * @param {HostRequestInit} [init]
 * @returns {Promise<Response>}
 */
export function hostRequest(url, init = {}) {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  /** @type {Record<string, string>} */
  const headers = { ...init.headers };
  // Node derives the TLS server name from the Host header, so https works with a custom host too.
  if (init.host !== undefined) headers.host = init.host;
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));

  return new Promise((resolve, reject) => {
    const request = client.request(target, { method: init.method ?? 'GET', headers }, (incoming) => {
      /** @type {Buffer[]} */
      const chunks = [];
      incoming.on('data', (chunk) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        const status = incoming.statusCode ?? 0;
        const responseHeaders = new Headers();
        // rawHeaders keeps repeated fields (Set-Cookie, WWW-Authenticate) as they came.
        for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2) {
          responseHeaders.append(/** @type {string} */ (incoming.rawHeaders[i]), /** @type {string} */ (incoming.rawHeaders[i + 1]));
        }
        const body = NULL_BODY.has(status) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, statusText: incoming.statusMessage ?? '', headers: responseHeaders }));
      });
    });
    request.setTimeout(init.timeoutMs ?? 30_000, () => {
      request.destroy(Object.assign(new Error(`no answer from ${target.origin} in time`), { code: 'ETIMEDOUT' }));
    });
    request.on('error', reject);
    request.end(init.body);
  });
}
