// @ts-check
// The local stack's Shared Signals transmitter in Node: dev/ssf/transmitter.mjs (one Web-standard
// handler: SSF 1.0 §7-8 metadata and streams, signed SETs pushed per RFC 8935 or polled per RFC
// 8936, a /dev/ control API and fault modes) behind a small node:http server on loopback.
// dev/ssf-transmitter-worker.mjs runs the same handler as a Worker.
//
//   const transmitter = await startTransmitter({ port: 0, receivers: [{ id: 'acme-edge',
//     audience: 'https://api.acme.test/ssf', bearerToken: 'dev-ssf-token',
//     clientId: 'acme-edge', clientSecret: 'dev-ssf-secret' }] });
//   transmitter.url;       // http://127.0.0.1:<port>, also the issuer (with `path`, url + path)
//   transmitter.issuer;    // its ssf-configuration: GET /.well-known/ssf-configuration{path}
//   await fetch(`${transmitter.url}/dev/events`, { method: 'POST', body: JSON.stringify({
//     type: 'session-revoked', subject: { format: 'iss_sub', iss, sub: 'alice' } }) });
//   await transmitter.stop();
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createServer } from 'node:http';
import { createTransmitter } from './ssf/transmitter.mjs';

export { createTransmitter } from './ssf/transmitter.mjs';

/**
 * @typedef {Omit<import('./ssf/transmitter.mjs').TransmitterOptions, 'issuer'> & {
 *   port?: number, hostname?: '127.0.0.1' | 'localhost', path?: string, issuer?: string }} StartOptions
 *   port: 0 (default) picks a free one; the issuer is http://<hostname>:<port><path> unless `issuer` names it
 */

/**
 * @typedef {object} RunningTransmitter
 * @property {string} url where it listens, http://<hostname>:<port>
 * @property {number} port
 * @property {string} issuer its issuer identifier (`iss` of its SETs)
 * @property {() => Promise<void>} stop ends its pushes, long polls and connections
 */

/** @param {StartOptions} options @returns {Promise<RunningTransmitter>} */
export async function startTransmitter(options) {
  /** @type {Awaited<ReturnType<typeof createTransmitter>> | null} */
  let transmitter = null;
  /** @type {(value: unknown) => void} */
  let markReady = () => {};
  const ready = new Promise((resolve) => { markReady = resolve; });
  const server = createServer((request, response) => {
    void ready.then(() => serve(/** @type {NonNullable<typeof transmitter>} */ (transmitter), request, response));
  });
  // Keep-alive sockets would hold stop() open until they idle out.
  server.keepAliveTimeout = 1_000;
  await new Promise((listening, failed) => {
    server.once('error', failed);
    server.listen(options.port ?? 0, '127.0.0.1', () => listening(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const url = `http://${options.hostname ?? '127.0.0.1'}:${port}`;
  const { port: _port, hostname: _hostname, path = '', ...rest } = options;
  try {
    transmitter = await createTransmitter({ ...rest, issuer: options.issuer ?? `${url}${path}` });
  } catch (error) {
    server.close();
    throw error;
  }
  markReady(undefined);
  return {
    url,
    port,
    issuer: transmitter.issuer,
    stop: async () => {
      await transmitter?.close();
      await new Promise((stopped) => {
        server.close(() => stopped(undefined));
        server.closeAllConnections();
      });
    },
  };
}

/**
 * One request through the Web-standard handler: the body streamed in, the answer streamed out
 * (a 10 MiB fault body is never held), and a client that hangs up ends a long poll.
 * @param {{ fetch: (request: Request) => Promise<Response> }} transmitter
 * @param {import('node:http').IncomingMessage} incoming @param {import('node:http').ServerResponse} outgoing
 */
async function serve(transmitter, incoming, outgoing) {
  const hangUp = new AbortController();
  outgoing.on('close', () => hangUp.abort());
  /** @type {Request} */
  let request;
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const method = incoming.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD';
    request = new Request(new URL(incoming.url ?? '/', 'http://127.0.0.1'), {
      method, headers, signal: hangUp.signal,
      ...(hasBody ? { body: /** @type {ReadableStream} */ (Readable.toWeb(incoming)), duplex: 'half' } : {}),
    });
  } catch {
    outgoing.writeHead(400, { 'content-type': 'application/json' });
    outgoing.end(`${JSON.stringify({ error: 'invalid_request', error_description: 'the request could not be read' })}\n`);
    return;
  }
  const response = await transmitter.fetch(request);
  outgoing.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body === null) {
    outgoing.end();
    return;
  }
  await pipeline(Readable.fromWeb(/** @type {import('node:stream/web').ReadableStream} */ (response.body)), outgoing).catch(() => {
    // The client went away mid-answer: nothing to tell it.
  });
}
