// @ts-check
// The dev SSF transmitter as one Web-standard handler over in-memory state, so the same code
// serves Node (dev/ssf-transmitter.mjs) and workerd (dev/ssf-transmitter-worker.mjs). It speaks
// OpenID Shared Signals Framework 1.0 §7 (configuration metadata at
// /.well-known/ssf-configuration, placed as RFC 8414 places its suffix) and §8 (streams, status,
// subjects, verification, stream-updated), signs SETs (RFC 8417; CAEP 1.0, RISC 1.0 events;
// RFC 9493 subjects) and delivers them by push (RFC 8935) or poll (RFC 8936). Management calls
// authenticate with a receiver's static bearer token or an access token from the transmitter's
// own OAuth 2.0 client credentials endpoint (RFC 8414 metadata). Under /dev/ a control API
// emits events, lists what happened to each SET and sets faults (dev/ssf/faults.mjs).
//
//   const transmitter = await createTransmitter({ issuer: 'http://127.0.0.1:9400',
//     receivers: [{ id: 'edge', audience: 'https://api.acme.test/ssf', bearerToken: 't' }] });
//   const response = await transmitter.fetch(request, { waitUntil });   // waitUntil: workerd's, optional
//   await transmitter.close();
//
// Endpoints (P: the issuer's path, '' for an issuer without one):
//   GET  /.well-known/ssf-configuration{P}             SSF §7.1 metadata
//   GET  /.well-known/oauth-authorization-server{P}    RFC 8414 metadata (the token endpoint)
//   GET  {P}/jwks.json                                 the signing keys, newest first
//   POST {P}/token                                     client credentials -> access token (ssf.read, ssf.manage)
//   POST|GET|PATCH|PUT|DELETE {P}/ssf/stream           SSF §8.1.1 (GET and DELETE take ?stream_id=)
//   GET|POST {P}/ssf/status                            SSF §8.1.2 (a change sends stream-updated, §8.1.5)
//   POST {P}/ssf/subjects:add, {P}/ssf/subjects:remove SSF §8.1.3
//   POST {P}/ssf/verify                                SSF §8.1.4: a verification SET with the given state
//   POST {P}/ssf/poll/{stream_id}                      RFC 8936 (the poll stream's endpoint_url)
// Control API (no authentication: the transmitter listens on loopback, for the demo and tests):
//   POST /dev/events {type, subject, event?, stream_id?, jti?, txn?, placement?}   202 {issued, skipped}
//   GET  /dev/log?stream_id=&state=     what happened to each SET
//   GET  /dev/streams                   every stream, its status, queue, subjects and counters
//   POST /dev/status {stream_id, status, reason?}   the transmitter changes a stream's status
//   POST /dev/rotate                    a new signing key
//   GET|POST|DELETE /dev/faults         see dev/ssf/faults.mjs
//
// Choices where the standards leave room: a receiver holds at most `maxStreams` streams (default
// 1; a create past it is 409, as the OpenID conformance suite's transmitter does); a receiver's
// own status change sends stream-updated too, and only a change does; stream-updated SETs are
// sent whatever the status (SSF §8.1.5: before the stream stops), every other SET (verification
// included) is held while paused and dropped while disabled; disabled may be enabled again.

import { compileReceivers, createAuthority } from './authority.mjs';
import { createDeliveryLog, answerPoll, enqueue, pumpPush, settle } from './delivery.mjs';
import { STREAM_UPDATED, VERIFICATION, defaultEventClaims, eventTypeOf, readSubject, setClaims, subjectsMatch } from './events.mjs';
import { createFaults } from './faults.mjs';
import { createKeyRing, createSigningKey, isSigningAlg, randomId, signJws } from './keys.mjs';
import { canonicalJson, empty, has, isObject, json, methodNotAllowed, readJson, refusal } from './responses.mjs';
import { POLL, PUSH, configurationOf, eventsDelivered, readConfiguration } from './streams.mjs';

const MAX_MANAGEMENT_BYTES = 64 * 1024;
const MAX_SUBJECTS = 10_000;
const MAX_STATE_LENGTH = 1024;
const MAX_REASON_LENGTH = 256;
const STATUSES = ['enabled', 'paused', 'disabled'];

/**
 * @typedef {object} TransmitterOptions
 * @property {string} issuer its issuer identifier (`iss`), an http(s) URL, optionally with a path
 * @property {import('./authority.mjs').ReceiverOptions[]} receivers who may manage streams
 * @property {import('./keys.mjs').SigningAlg} [alg] default ES256
 * @property {'ALL' | 'NONE'} [defaultSubjects] SSF §7.1: default ALL (every subject but those removed)
 * @property {typeof fetch} [fetch] how pushes go out; default the global fetch
 * @property {() => number} [now] ms since the epoch for `iat`, `event_timestamp` and token expiry; default Date.now (retries and waits always use real time)
 * @property {number} [tokenTtlSeconds] access tokens of the token endpoint; default 3600
 * @property {{ baseMs?: number, maxMs?: number, maxAttempts?: number }} [retry] push back-off; default 1000, 60000, 8
 * @property {number} [pushTimeoutMs] default 10000
 * @property {number} [maxQueue] SETs waiting per stream (queued, and held, each); default 20000
 * @property {number} [longPollSeconds] how long a poll without returnImmediately waits; default 10, at most 60
 * @property {number} [maxPollBatch] SETs in one poll answer at most; default 1000
 * @property {number} [redeliverAfterSeconds] an unacknowledged polled SET is offered again after; default 0 (every poll)
 * @property {number} [minVerificationInterval] seconds between verification requests (429 inside it); default none
 * @property {number} [maxStreams] streams of all receivers together; default 100
 * @property {number} [logSize] delivery records kept; default 50000
 */

/** @typedef {{ waitUntil?: (promise: Promise<unknown>) => void }} RequestContext */

/**
 * A stream as the transmitter keeps it.
 * @typedef {import('./delivery.mjs').DeliveryStream & { receiver: import('./authority.mjs').Receiver, audience: string | string[],
 *   part: import('./streams.mjs').ReceiverPart, reason: string | undefined, subjects: Map<string, { subject: Record<string, unknown>, verified: boolean }>,
 *   removedSubjects: Map<string, Record<string, unknown>>, createdAt: string, lastVerification: { state: string | null, at: string } | null }} Stream
 */

/** @param {TransmitterOptions} options */
export async function createTransmitter(options) {
  const setup = compileOptions(options);
  const keys = await createKeyRing(setup.alg);
  let closed = false;
  /** @type {Set<() => void>} */
  const sleepers = new Set();
  /** @param {number} ms @returns {Promise<void>} */
  const sleep = (ms) => new Promise((wake) => {
    if (closed) return wake();
    const done = () => {
      clearTimeout(timer);
      sleepers.delete(done);
      wake();
    };
    const timer = setTimeout(done, ms);
    sleepers.add(done);
  });
  /** @type {Promise<import('./keys.mjs').SigningKey> | null} */
  let rogue = null;
  /** @type {State} */
  const state = {
    setup, keys,
    streams: new Map(),
    authority: createAuthority({ receivers: setup.receivers, now: setup.now, tokenTtlSeconds: setup.tokenTtlSeconds }),
    faults: createFaults(),
    rogueKey: () => (rogue ??= createSigningKey(setup.alg)),
    deliveryDeps: /** @type {import('./delivery.mjs').DeliveryDeps} */ ({}),
  };
  /** Pushes in flight, each with its own controller: workerd lets no request use another's. @type {Set<AbortController>} */
  const inFlight = new Set();
  Object.assign(state.deliveryDeps, {
    fetch: async (/** @type {Parameters<typeof fetch>[0]} */ url, /** @type {RequestInit} */ init) => {
      const abort = new AbortController();
      inFlight.add(abort);
      try {
        return await setup.fetch(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, abort.signal]) : abort.signal });
      } finally {
        inFlight.delete(abort);
      }
    },
    retry: setup.retry, pushTimeoutMs: setup.pushTimeoutMs, maxQueue: setup.maxQueue, longPollMs: setup.longPollMs,
    maxPollBatch: setup.maxPollBatch, redeliverAfterMs: setup.redeliverAfterMs, faults: state.faults,
    log: createDeliveryLog(setup.logSize), isClosed: () => closed, sleep,
    flood: (/** @type {import('./delivery.mjs').DeliveryStream} */ stream, /** @type {number} */ count) => flood(state, /** @type {Stream} */ (stream), count),
  });

  return {
    issuer: setup.issuer,
    /** @param {Request} request @param {RequestContext} [context] @returns {Promise<Response>} */
    async fetch(request, context = {}) {
      if (closed) return refusal(503, 'unavailable', 'the transmitter is shutting down');
      try {
        return await route(state, request, context);
      } catch (error) {
        // A bug, not a refusal: said as one line, never with the request's credentials.
        console.error('ssf transmitter:', error instanceof Error ? error.stack : error);
        return refusal(500, 'server_error', 'the transmitter failed to answer');
      }
    },
    async close() {
      closed = true;
      for (const abort of inFlight) abort.abort();
      for (const wake of [...sleepers]) wake();
    },
  };
}

/**
 * @typedef {object} State
 * @property {ReturnType<typeof compileOptions>} setup
 * @property {Awaited<ReturnType<typeof createKeyRing>>} keys
 * @property {Map<string, Stream>} streams
 * @property {ReturnType<typeof createAuthority>} authority
 * @property {ReturnType<typeof createFaults>} faults
 * @property {() => Promise<import('./keys.mjs').SigningKey>} rogueKey a key no JWKS of ours lists
 * @property {import('./delivery.mjs').DeliveryDeps} deliveryDeps
 */

/** Options checked and defaulted once. @param {TransmitterOptions} options */
function compileOptions(options) {
  const issuerUrl = new URL(options.issuer);
  if ((issuerUrl.protocol !== 'https:' && issuerUrl.protocol !== 'http:') || issuerUrl.search !== '' || issuerUrl.hash !== '') {
    throw new TypeError('issuer: an http(s) URL without query or fragment');
  }
  // RFC 8414 §3 (and SSF §7.2): a terminating "/" is not part of where the suffix goes.
  const path = issuerUrl.pathname.replace(/\/+$/, '');
  const issuer = `${issuerUrl.origin}${path}`;
  const alg = options.alg ?? 'ES256';
  if (!isSigningAlg(alg)) throw new TypeError('alg: ES256 or RS256');
  const defaultSubjects = options.defaultSubjects ?? 'ALL';
  if (defaultSubjects !== 'ALL' && defaultSubjects !== 'NONE') throw new TypeError('defaultSubjects: ALL or NONE');
  /** @param {number | undefined} value @param {number} fallback @param {number} min @param {number} max @param {string} name */
  const bounded = (value, fallback, min, max, name) => {
    const chosen = value ?? fallback;
    if (typeof chosen !== 'number' || !Number.isFinite(chosen) || chosen < min || chosen > max) throw new TypeError(`${name}: from ${min} to ${max}`);
    return chosen;
  };
  return {
    issuer, path, origin: issuerUrl.origin, alg, defaultSubjects,
    receivers: compileReceivers(options.receivers),
    fetch: options.fetch ?? ((/** @type {Parameters<typeof fetch>[0]} */ url, /** @type {RequestInit} */ init) => fetch(url, init)),
    now: options.now ?? Date.now,
    tokenTtlSeconds: bounded(options.tokenTtlSeconds, 3600, 1, 86_400, 'tokenTtlSeconds'),
    retry: {
      baseMs: bounded(options.retry?.baseMs, 1000, 1, 3_600_000, 'retry.baseMs'),
      maxMs: bounded(options.retry?.maxMs, 60_000, 1, 3_600_000, 'retry.maxMs'),
      maxAttempts: bounded(options.retry?.maxAttempts, 8, 1, 100, 'retry.maxAttempts'),
    },
    pushTimeoutMs: bounded(options.pushTimeoutMs, 10_000, 10, 120_000, 'pushTimeoutMs'),
    maxQueue: bounded(options.maxQueue, 20_000, 1, 100_000, 'maxQueue'),
    longPollMs: bounded(options.longPollSeconds, 10, 0, 60, 'longPollSeconds') * 1000,
    maxPollBatch: bounded(options.maxPollBatch, 1000, 1, 20_000, 'maxPollBatch'),
    redeliverAfterMs: bounded(options.redeliverAfterSeconds, 0, 0, 86_400, 'redeliverAfterSeconds') * 1000,
    minVerificationInterval: options.minVerificationInterval === undefined ? undefined
      : bounded(options.minVerificationInterval, 0, 1, 86_400, 'minVerificationInterval'),
    maxStreams: bounded(options.maxStreams, 100, 1, 10_000, 'maxStreams'),
    logSize: bounded(options.logSize, 50_000, 10, 1_000_000, 'logSize'),
  };
}

/** Where each endpoint lives, from the issuer's path. @param {State['setup']} setup */
function endpointsOf(setup) {
  const base = setup.path;
  return {
    configuration: `/.well-known/ssf-configuration${base}`,
    authorizationServer: `/.well-known/oauth-authorization-server${base}`,
    jwks: `${base}/jwks.json`,
    token: `${base}/token`,
    stream: `${base}/ssf/stream`,
    status: `${base}/ssf/status`,
    addSubject: `${base}/ssf/subjects:add`,
    removeSubject: `${base}/ssf/subjects:remove`,
    verify: `${base}/ssf/verify`,
    poll: `${base}/ssf/poll/`,
  };
}

/** @param {State} state @param {Request} request @param {RequestContext} context @returns {Promise<Response>} */
async function route(state, request, context) {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === '/dev' || path.startsWith('/dev/')) return control(state, request, url, context);
  const at = endpointsOf(state.setup);

  const down = state.faults.downFor();
  if (down > 0) {
    if (path.startsWith(at.poll)) {
      const stream = state.streams.get(path.slice(at.poll.length));
      if (stream !== undefined) stream.counters.pollsRefusedDown += 1;
    }
    const retryAfter = Number.isFinite(down) ? Math.ceil(down / 1000) : 60;
    return refusal(503, 'temporarily_unavailable', 'the transmitter is down', { 'retry-after': String(retryAfter) });
  }
  // Pushes that waited (an outage, a back-off outliving workerd's waitUntil) resume on any request.
  for (const stream of state.streams.values()) startPump(state, stream, context);

  switch (path) {
    case at.configuration:
      return request.method === 'GET' ? json(200, metadataOf(state)) : methodNotAllowed(['GET']);
    case at.authorizationServer:
      return request.method === 'GET' ? json(200, state.authority.metadata(state.setup.issuer, absolute(state, at.token))) : methodNotAllowed(['GET']);
    case at.jwks:
      return request.method === 'GET' ? json(200, state.keys.jwks()) : methodNotAllowed(['GET']);
    case at.token:
      return state.authority.token(request);
    case at.stream:
      return streamEndpoint(state, request, url, context);
    case at.status:
      return statusEndpoint(state, request, url, context);
    case at.addSubject:
    case at.removeSubject:
      return subjectEndpoint(state, request, path === at.addSubject ? 'add' : 'remove');
    case at.verify:
      return verifyEndpoint(state, request, context);
    default:
      if (path.startsWith(at.poll)) return pollEndpoint(state, request, path.slice(at.poll.length));
      return refusal(404, 'not_found', 'no such endpoint');
  }
}

/** @param {State} state @param {string} path */
function absolute(state, path) {
  return `${state.setup.origin}${path}`;
}

/** SSF §7.1 (with every member the CAEP interoperability profile requires). @param {State} state */
function metadataOf(state) {
  const at = endpointsOf(state.setup);
  return {
    spec_version: '1_0',
    issuer: state.setup.issuer,
    jwks_uri: absolute(state, at.jwks),
    delivery_methods_supported: [PUSH, POLL],
    configuration_endpoint: absolute(state, at.stream),
    status_endpoint: absolute(state, at.status),
    add_subject_endpoint: absolute(state, at.addSubject),
    remove_subject_endpoint: absolute(state, at.removeSubject),
    verification_endpoint: absolute(state, at.verify),
    // OAuth 2.0 client credentials at the token endpoint; a static bearer token (RFC 6750) too.
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }, { spec_urn: 'urn:ietf:rfc:6750' }],
    default_subjects: state.setup.defaultSubjects,
  };
}

/** @param {State} state @param {Stream} stream */
function configurationFor(state, stream) {
  return configurationOf(stream, {
    issuer: state.setup.issuer,
    pollUrl: (streamId) => absolute(state, `${endpointsOf(state.setup).poll}${streamId}`),
    minVerificationInterval: state.setup.minVerificationInterval,
  });
}

/**
 * The receiver's stream by id, as SSF's 404 wants it: another receiver's stream is not found.
 * @param {State} state @param {import('./authority.mjs').Receiver} receiver @param {unknown} streamId
 * @returns {{ ok: true, stream: Stream } | { ok: false, response: Response }}
 */
function ownStream(state, receiver, streamId) {
  if (typeof streamId !== 'string' || streamId === '') return { ok: false, response: refusal(400, 'invalid_request', 'stream_id is required') };
  const stream = state.streams.get(streamId);
  if (stream === undefined || stream.receiver !== receiver) return { ok: false, response: refusal(404, 'not_found', 'no stream with that stream_id for this receiver') };
  return { ok: true, stream };
}

/** SSF §8.1.1. @param {State} state @param {Request} request @param {URL} url @param {RequestContext} context */
async function streamEndpoint(state, request, url, context) {
  const method = request.method;
  if (!['GET', 'POST', 'PATCH', 'PUT', 'DELETE'].includes(method)) return methodNotAllowed(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']);
  const caller = await state.authority.authenticate(request, method === 'GET' ? 'read' : 'manage');
  if (!caller.ok) return caller.response;
  const receiver = caller.receiver;

  if (method === 'GET') {
    const streamId = url.searchParams.get('stream_id');
    if (streamId === null) return json(200, [...state.streams.values()].filter((s) => s.receiver === receiver).map((s) => configurationFor(state, s)));
    const own = ownStream(state, receiver, streamId);
    return own.ok ? json(200, configurationFor(state, own.stream)) : own.response;
  }
  if (method === 'DELETE') {
    const own = ownStream(state, receiver, url.searchParams.get('stream_id'));
    if (!own.ok) return own.response;
    deleteStream(state, own.stream);
    return empty(204);
  }

  const body = await readJson(request, MAX_MANAGEMENT_BYTES);
  if (!body.ok) return body.response;
  if (method === 'POST') {
    const read = readConfiguration(body.value, { mode: 'create' });
    if (!read.ok) return refusal(400, 'invalid_request', read.problem);
    const held = [...state.streams.values()].filter((s) => s.receiver === receiver).length;
    if (held >= receiver.maxStreams) return refusal(409, 'stream_exists', `this receiver may hold ${receiver.maxStreams} stream(s); read, update or delete the one it has`);
    if (state.streams.size >= state.setup.maxStreams) return refusal(403, 'forbidden', 'the transmitter holds all the streams it may');
    const stream = newStream(receiver, read.value);
    state.streams.set(stream.id, stream);
    return json(201, configurationFor(state, stream));
  }
  const own = ownStream(state, receiver, body.value.stream_id);
  if (!own.ok) return own.response;
  const read = readConfiguration(body.value, { mode: method === 'PATCH' ? 'patch' : 'put', current: own.stream.part, answered: configurationFor(state, own.stream) });
  if (!read.ok) return refusal(400, 'invalid_request', read.problem);
  own.stream.part = read.value;
  startPump(state, own.stream, context);
  return json(200, configurationFor(state, own.stream));
}

/** @param {import('./authority.mjs').Receiver} receiver @param {import('./streams.mjs').ReceiverPart} part @returns {Stream} */
function newStream(receiver, part) {
  return {
    id: randomId(), receiver, audience: receiver.audience, part, status: 'enabled', reason: undefined,
    pending: [], held: [], deleted: false, pumping: false,
    counters: { polls: 0, pollsRefusedDown: 0, pushAttempts: 0, unknownAcks: 0, unknownErrors: 0 },
    subjects: new Map(), removedSubjects: new Map(), createdAt: new Date().toISOString(), lastVerification: null,
  };
}

/** @param {State} state @param {Stream} stream */
function deleteStream(state, stream) {
  stream.deleted = true;
  state.streams.delete(stream.id);
  for (const item of [...stream.pending, ...stream.held]) settle(item.record, 'dropped', { reason: 'the stream was deleted' });
  stream.pending = [];
  stream.held = [];
}

/** SSF §8.1.2. @param {State} state @param {Request} request @param {URL} url @param {RequestContext} context */
async function statusEndpoint(state, request, url, context) {
  if (request.method !== 'GET' && request.method !== 'POST') return methodNotAllowed(['GET', 'POST']);
  const caller = await state.authority.authenticate(request, request.method === 'GET' ? 'read' : 'manage');
  if (!caller.ok) return caller.response;
  if (request.method === 'GET') {
    const own = ownStream(state, caller.receiver, url.searchParams.get('stream_id'));
    return own.ok ? json(200, statusOf(own.stream)) : own.response;
  }
  const body = await readJson(request, MAX_MANAGEMENT_BYTES);
  if (!body.ok) return body.response;
  const own = ownStream(state, caller.receiver, body.value.stream_id);
  if (!own.ok) return own.response;
  const change = readStatusChange(body.value);
  if (!change.ok) return refusal(400, 'invalid_request', change.problem);
  await changeStatus(state, own.stream, change.status, change.reason, context);
  return json(200, statusOf(own.stream));
}

/** @param {Stream} stream */
function statusOf(stream) {
  return { stream_id: stream.id, status: stream.status, ...(stream.reason === undefined ? {} : { reason: stream.reason }) };
}

/** @param {Record<string, unknown>} body @returns {{ ok: true, status: Stream['status'], reason: string | undefined } | { ok: false, problem: string }} */
function readStatusChange(body) {
  const status = body.status;
  if (typeof status !== 'string' || !STATUSES.includes(status)) return { ok: false, problem: `status must be one of ${STATUSES.join(', ')}` };
  const reason = body.reason;
  if (reason !== undefined && reason !== null && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) {
    return { ok: false, problem: `reason must be a string of at most ${MAX_REASON_LENGTH} characters` };
  }
  return { ok: true, status: /** @type {Stream['status']} */ (status), reason: typeof reason === 'string' ? reason : undefined };
}

/**
 * A status change, by the receiver or the transmitter: the stream-updated SET first (SSF
 * §8.1.5: before the stream stops, or as it starts again), then what waited moves: held SETs
 * are released on enable, queued ones held on pause, both dropped on disable.
 * @param {State} state @param {Stream} stream @param {Stream['status']} status @param {string | undefined} reason @param {RequestContext} context
 */
async function changeStatus(state, stream, status, reason, context) {
  const changed = stream.status !== status;
  stream.status = status;
  stream.reason = reason;
  if (!changed) return;
  await issue(state, stream, {
    type: STREAM_UPDATED, subject: { format: 'opaque', id: stream.id },
    event: { status, ...(reason === undefined ? {} : { reason }) }, control: true,
  });
  if (status === 'enabled') {
    for (const item of stream.held) settle(item.record, 'queued');
    stream.pending.push(...stream.held);
    stream.held = [];
  } else {
    const waiting = stream.pending.filter((item) => !item.control);
    stream.pending = stream.pending.filter((item) => item.control);
    stream.held.push(...waiting);
    if (status === 'paused') for (const item of waiting) settle(item.record, 'held');
    else {
      for (const item of stream.held) settle(item.record, 'dropped', { reason: 'the stream was disabled' });
      stream.held = [];
    }
  }
  startPump(state, stream, context);
}

/**
 * A management POST naming its stream in the body (SSF §8.1.3, §8.1.4): POST only, a caller
 * allowed to manage, a JSON body of bounded size, and a stream of that caller.
 * @param {State} state @param {Request} request
 * @returns {Promise<{ ok: true, stream: Stream, body: Record<string, unknown> } | { ok: false, response: Response }>}
 */
async function postToOwnStream(state, request) {
  if (request.method !== 'POST') return { ok: false, response: methodNotAllowed(['POST']) };
  const caller = await state.authority.authenticate(request, 'manage');
  if (!caller.ok) return caller;
  const body = await readJson(request, MAX_MANAGEMENT_BYTES);
  if (!body.ok) return body;
  const own = ownStream(state, caller.receiver, body.value.stream_id);
  return own.ok ? { ok: true, stream: own.stream, body: body.value } : own;
}

/** SSF §8.1.3.2-3. @param {State} state @param {Request} request @param {'add' | 'remove'} change */
async function subjectEndpoint(state, request, change) {
  const own = await postToOwnStream(state, request);
  if (!own.ok) return own.response;
  const { stream, body } = own;
  const subject = readSubject(body.subject);
  if (!subject.ok) return refusal(400, 'invalid_request', subject.problem);
  const verified = body.verified;
  if (verified !== undefined && typeof verified !== 'boolean') return refusal(400, 'invalid_request', 'verified must be a boolean');
  const key = canonicalJson(subject.value);
  if (change === 'add') {
    if (!stream.subjects.has(key) && stream.subjects.size >= MAX_SUBJECTS) return refusal(400, 'invalid_request', `a stream holds at most ${MAX_SUBJECTS} subjects`);
    stream.removedSubjects.delete(key);
    // SSF §8.1.3.2: an omitted `verified` is taken as verified.
    stream.subjects.set(key, { subject: subject.value, verified: verified ?? true });
    return empty(200);
  }
  if (!stream.removedSubjects.has(key) && stream.removedSubjects.size >= MAX_SUBJECTS) return refusal(400, 'invalid_request', `a stream holds at most ${MAX_SUBJECTS} removed subjects`);
  stream.subjects.delete(key);
  stream.removedSubjects.set(key, subject.value);
  return empty(204);
}

/** SSF §8.1.4.2. @param {State} state @param {Request} request @param {RequestContext} context */
async function verifyEndpoint(state, request, context) {
  const own = await postToOwnStream(state, request);
  if (!own.ok) return own.response;
  const { stream, body } = own;
  const verificationState = body.state;
  if (verificationState !== undefined && verificationState !== null && (typeof verificationState !== 'string' || verificationState.length > MAX_STATE_LENGTH)) {
    return refusal(400, 'invalid_request', `state must be a string of at most ${MAX_STATE_LENGTH} characters`);
  }
  const interval = state.setup.minVerificationInterval;
  if (interval !== undefined && stream.lastVerification !== null) {
    const wait = Date.parse(stream.lastVerification.at) + interval * 1000 - Date.now();
    if (wait > 0) return refusal(429, 'too_many_requests', `at most one verification every ${interval} s`, { 'retry-after': String(Math.ceil(wait / 1000)) });
  }
  const given = typeof verificationState === 'string' ? verificationState : null;
  stream.lastVerification = { state: given, at: new Date().toISOString() };
  await issue(state, stream, {
    type: VERIFICATION, subject: { format: 'opaque', id: stream.id }, event: given === null ? {} : { state: given }, control: false,
  });
  startPump(state, stream, context);
  return empty(204);
}

/** RFC 8936 at the poll stream's endpoint_url. @param {State} state @param {Request} request @param {string} streamId */
async function pollEndpoint(state, request, streamId) {
  if (request.method !== 'POST') return methodNotAllowed(['POST']);
  // SSF §7.1.1: the management API's authorization schemes protect the poll endpoint too.
  const caller = await state.authority.authenticate(request, 'read');
  if (!caller.ok) return caller.response;
  const own = ownStream(state, caller.receiver, streamId);
  if (!own.ok) return own.response;
  if (own.stream.part.delivery.method !== POLL) return refusal(400, 'invalid_request', 'this stream is delivered by push');
  return answerPoll(own.stream, request, state.deliveryDeps);
}

/**
 * Signs one SET for a stream and queues it. A pending foreign-key fault signs it with the rogue key.
 * @param {State} state @param {Stream} stream
 * @param {{ type: string, subject: Record<string, unknown>, event: Record<string, unknown>, control: boolean,
 *   jti?: string, txn?: string, placement?: 'sub_id' | 'event' }} what
 */
async function issue(state, stream, what) {
  const jti = what.jti ?? randomId();
  const nowMs = state.setup.now();
  const claims = setClaims({
    issuer: state.setup.issuer, audience: stream.audience, jti, nowSeconds: Math.floor(nowMs / 1000), txn: what.txn ?? randomId(),
    type: what.type, subject: what.subject, event: what.event, placement: what.placement,
  });
  const fault = state.faults.takeSigning();
  const key = fault === null ? state.keys.current() : await state.rogueKey();
  const header = { typ: 'secevent+jwt', ...(fault?.sameKid ? { kid: state.keys.current().kid } : {}) };
  const set = await signJws(key, header, claims);
  const at = new Date().toISOString();
  /** @type {import('./delivery.mjs').DeliveryRecord} */
  const record = {
    jti, stream_id: stream.id, receiver: stream.receiver.id, types: [what.type],
    delivery: stream.part.delivery.method === PUSH ? 'push' : 'poll', state: 'queued', attempts: 0,
    created_at: at, updated_at: at, ...(fault === null ? {} : { foreign_key: true }),
  };
  state.deliveryDeps.log.add(record);
  const item = { jti, set, control: what.control, record, attempts: 0, dueAt: Date.now(), handedOutAt: undefined };
  if (stream.deleted) settle(record, 'dropped', { reason: 'the stream was deleted' });
  else enqueue(stream, item, state.deliveryDeps);
  return item;
}

/** The `many` fault: `count` real SETs (CAEP session-revoked, opaque subjects) queued at once. @param {State} state @param {Stream} stream @param {number} count */
async function flood(state, stream, count) {
  const txn = randomId();
  for (let i = 0; i < count; i++) {
    await issue(state, stream, {
      type: /** @type {string} */ (eventTypeOf('session-revoked')), subject: { format: 'opaque', id: `flood-${i}` },
      event: defaultEventClaims(/** @type {string} */ (eventTypeOf('session-revoked')), Math.floor(state.setup.now() / 1000)), control: false, txn,
    });
  }
}

/** Starts (or leaves running) a push stream's delivery, kept alive by workerd's waitUntil. @param {State} state @param {Stream} stream @param {RequestContext} context */
function startPump(state, stream, context) {
  if (stream.pumping || stream.deleted || stream.part.delivery.method !== PUSH || stream.pending.length === 0) return;
  const pumping = pumpPush(stream, state.deliveryDeps).catch((error) => console.error('ssf transmitter push:', error instanceof Error ? error.stack : error));
  context.waitUntil?.(pumping);
}

/** Whether a stream takes events about `subject` (SSF §7.1 default_subjects, §8.1.3). @param {State} state @param {Stream} stream @param {Record<string, unknown>} subject */
function wantsSubject(state, stream, subject) {
  if ([...stream.removedSubjects.values()].some((removed) => subjectsMatch(removed, subject))) return false;
  if (state.setup.defaultSubjects === 'ALL') return true;
  return [...stream.subjects.values()].some((added) => subjectsMatch(added.subject, subject));
}

/** The control API under /dev/. @param {State} state @param {Request} request @param {URL} url @param {RequestContext} context */
async function control(state, request, url, context) {
  const path = url.pathname.replace(/\/+$/, '');
  const method = request.method;
  if (path === '/dev/events') return method === 'POST' ? emitEvent(state, request, context) : methodNotAllowed(['POST']);
  if (path === '/dev/log') {
    return method === 'GET' ? json(200, state.deliveryDeps.log.list({ streamId: url.searchParams.get('stream_id'), state: url.searchParams.get('state') })) : methodNotAllowed(['GET']);
  }
  if (path === '/dev/streams') return method === 'GET' ? json(200, { streams: [...state.streams.values()].map((s) => streamReport(state, s)) }) : methodNotAllowed(['GET']);
  if (path === '/dev/rotate') return method === 'POST' ? json(200, { kid: await state.keys.rotate() }) : methodNotAllowed(['POST']);
  if (path === '/dev/status') {
    if (method !== 'POST') return methodNotAllowed(['POST']);
    const body = await readJson(request, MAX_MANAGEMENT_BYTES);
    if (!body.ok) return body.response;
    const stream = state.streams.get(String(body.value.stream_id));
    if (stream === undefined) return refusal(404, 'not_found', 'no such stream');
    const change = readStatusChange(body.value);
    if (!change.ok) return refusal(400, 'invalid_request', change.problem);
    await changeStatus(state, stream, change.status, change.reason, context);
    return json(200, statusOf(stream));
  }
  if (path === '/dev/faults') {
    if (method === 'GET') return json(200, { faults: state.faults.list() });
    if (method === 'DELETE') {
      state.faults.clear();
      for (const stream of state.streams.values()) startPump(state, stream, context);
      return empty(204);
    }
    if (method !== 'POST') return methodNotAllowed(['GET', 'POST', 'DELETE']);
    const body = await readJson(request, MAX_MANAGEMENT_BYTES);
    if (!body.ok) return body.response;
    const added = state.faults.add(body.value);
    return added.ok ? json(201, { faults: state.faults.list() }) : refusal(400, 'invalid_request', added.problem);
  }
  if (path === '/dev') return json(200, { control: ['POST /dev/events', 'GET /dev/log', 'GET /dev/streams', 'POST /dev/status', 'POST /dev/rotate', 'GET|POST|DELETE /dev/faults'] });
  return refusal(404, 'not_found', 'no such control endpoint');
}

/** POST /dev/events. @param {State} state @param {Request} request @param {RequestContext} context */
async function emitEvent(state, request, context) {
  const body = await readJson(request, MAX_MANAGEMENT_BYTES);
  if (!body.ok) return body.response;
  const what = readEmit(body.value);
  if (!what.ok) return refusal(400, 'invalid_request', what.problem);
  const { type, subject, event, streamId, jti, txn, placement } = what.value;
  let targets = [...state.streams.values()];
  if (streamId !== undefined) {
    targets = targets.filter((stream) => stream.id === streamId);
    if (targets.length === 0) return refusal(404, 'not_found', 'no such stream');
  }
  if (jti !== undefined && state.deliveryDeps.log.has(jti)) {
    return refusal(409, 'jti_in_use', 'a SET with that jti exists already');
  }
  /** @type {{ stream_id: string, jti: string, state: string }[]} */
  const issued = [];
  /** @type {{ stream_id: string, reason: string }[]} */
  const skipped = [];
  const sharedTxn = txn ?? randomId();
  for (const stream of targets) {
    const verification = type === VERIFICATION;
    const reason = stream.status === 'disabled' ? 'the stream is disabled'
      : !verification && !eventsDelivered(stream.part.eventsRequested).includes(type) ? 'the stream did not request this event type'
        : !verification && subject !== null && !wantsSubject(state, stream, subject) ? 'the subject is not in the stream' : null;
    if (reason !== null) {
      skipped.push({ stream_id: stream.id, reason });
      continue;
    }
    const item = await issue(state, stream, {
      type, subject: verification ? { format: 'opaque', id: stream.id } : /** @type {Record<string, unknown>} */ (subject),
      event: { ...defaultEventClaims(type, Math.floor(state.setup.now() / 1000)), ...event }, control: false,
      txn: sharedTxn, placement, ...(jti === undefined ? {} : { jti }),
    });
    issued.push({ stream_id: stream.id, jti: item.jti, state: item.record.state });
    startPump(state, stream, context);
  }
  return json(202, { issued, skipped });
}

/**
 * @param {Record<string, unknown>} body
 * @returns {{ ok: true, value: { type: string, subject: Record<string, unknown> | null, event: Record<string, unknown>, streamId: string | undefined,
 *   jti: string | undefined, txn: string | undefined, placement: 'sub_id' | 'event' } } | { ok: false, problem: string }}
 */
function readEmit(body) {
  const type = eventTypeOf(body.type);
  if (type === null) return { ok: false, problem: 'type must be a supported event type (a CAEP or RISC name or URI, or verification)' };
  let subject = null;
  if (type !== VERIFICATION) {
    const read = readSubject(body.subject);
    if (!read.ok) return { ok: false, problem: read.problem };
    subject = read.value;
  }
  const event = body.event ?? {};
  if (!isObject(event) || canonicalJson(event).length > 8192) return { ok: false, problem: 'event must be an object of at most 8 KiB of JSON' };
  if (type === VERIFICATION && has(event, 'state')) return { ok: false, problem: 'a transmitter-initiated verification carries no state (SSF §8.1.4.2)' };
  /** @type {(name: string) => string | undefined | false} */
  const optionalString = (name) => {
    const value = body[name];
    if (value === undefined) return undefined;
    return typeof value === 'string' && value !== '' && value.length <= 256 ? value : false;
  };
  const streamId = optionalString('stream_id');
  const jti = optionalString('jti');
  const txn = optionalString('txn');
  if (streamId === false || jti === false || txn === false) return { ok: false, problem: 'stream_id, jti and txn must be strings of 1 to 256 characters' };
  if (jti !== undefined && streamId === undefined) return { ok: false, problem: 'a given jti needs a stream_id: one SET, one stream' };
  const placement = body.placement ?? 'sub_id';
  if (placement !== 'sub_id' && placement !== 'event') return { ok: false, problem: 'placement must be sub_id or event' };
  return { ok: true, value: { type, subject, event, streamId, jti, txn, placement } };
}

/** A stream as /dev/streams shows it: the push secret is said to be there, not shown. @param {State} state @param {Stream} stream */
function streamReport(state, stream) {
  const configuration = configurationFor(state, stream);
  const delivery = /** @type {Record<string, unknown>} */ (configuration.delivery);
  return {
    ...configuration,
    delivery: { ...delivery, ...(has(delivery, 'authorization_header') ? { authorization_header: '(set)' } : {}) },
    receiver: stream.receiver.id,
    status: stream.status,
    ...(stream.reason === undefined ? {} : { reason: stream.reason }),
    created_at: stream.createdAt,
    queued: stream.pending.length,
    held: stream.held.length,
    subjects: [...stream.subjects.values()],
    removed_subjects: [...stream.removedSubjects.values()],
    last_verification: stream.lastVerification,
    counters: { ...stream.counters },
  };
}
