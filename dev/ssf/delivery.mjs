// @ts-check
// How the dev SSF transmitter's SETs reach a stream's receiver, and the record of each one.
// Push (RFC 8935): one SET at a time per stream, in order, POSTed as application/secevent+jwt to
// the stream's endpoint_url with its authorization_header; 2xx acknowledges it, 400 refuses it
// with the receiver's {err, description}, 408, 429, 5xx and network errors are retried with
// exponential back-off (Retry-After honoured, bounded) until the attempts run out; any other
// status refuses it. Poll (RFC 8936): the stream's endpoint answers {maxEvents,
// returnImmediately, ack, setErrs} with {sets: {jti: SET}, moreAvailable}; acknowledged SETs
// and those reported in setErrs leave the queue (recorded), the rest are offered again on every
// poll (after `redeliverAfterMs`), and a poll with returnImmediately false waits, bounded, for one.
//
//   enqueue(stream, item, deps);           // queued (held while paused, dropped while disabled)
//   void pumpPush(stream, deps);           // delivers a push stream's queue; returns when it is empty
//   return answerPoll(stream, request, deps);
//   deps.log.list({ streamId });           // what happened to each SET, oldest first

import { hugeBody } from './faults.mjs';
import { PUSH } from './streams.mjs';
import { has, isObject, json, readJson, refusal } from './responses.mjs';

const MAX_POLL_BYTES = 2 * 1024 * 1024;
const MAX_ACKS = 20_000;
const MAX_JTI_LENGTH = 256;
const MAX_ERR_LENGTH = 256;
const MAX_DESCRIPTION_LENGTH = 1024;
const MAX_ERROR_BODY = 16 * 1024;

/**
 * What happened to one SET. States: queued, held (stream paused), delivered (handed out by a
 * poll, not yet acknowledged), acknowledged (202 to a push, or acked by a poll), refused (400 or
 * another final status to a push, or reported in setErrs), failed (a push out of attempts),
 * dropped (queue full, stream disabled or deleted).
 * @typedef {{ jti: string, stream_id: string, receiver: string, types: string[], delivery: 'push' | 'poll',
 *   state: 'queued' | 'held' | 'delivered' | 'acknowledged' | 'refused' | 'failed' | 'dropped',
 *   attempts: number, created_at: string, updated_at: string, foreign_key?: boolean,
 *   status?: number, err?: string, description?: string, language?: string, reason?: string }} DeliveryRecord
 */

/**
 * One SET on its way: `control` SETs (stream-updated) are sent whatever the stream's status.
 * @typedef {{ jti: string, set: string, control: boolean, record: DeliveryRecord, attempts: number, dueAt: number, handedOutAt: number | undefined }} Pending
 */

/**
 * The part of a stream delivery reads and changes (dev/ssf/transmitter.mjs owns the rest).
 * @typedef {object} DeliveryStream
 * @property {string} id
 * @property {'enabled' | 'paused' | 'disabled'} status
 * @property {{ delivery: import('./streams.mjs').ReceiverPart['delivery'] }} part
 * @property {Pending[]} pending what is to be sent (push) or offered (poll), in order
 * @property {Pending[]} held what waits for the stream to be enabled
 * @property {boolean} deleted
 * @property {boolean} pumping
 * @property {{ polls: number, pollsRefusedDown: number, pushAttempts: number, unknownAcks: number, unknownErrors: number }} counters
 */

/**
 * @typedef {object} DeliveryDeps
 * @property {typeof fetch} fetch how pushes go out
 * @property {{ baseMs: number, maxMs: number, maxAttempts: number }} retry
 * @property {number} pushTimeoutMs
 * @property {number} maxQueue per stream, pending and held each
 * @property {number} longPollMs
 * @property {number} maxPollBatch SETs in one poll answer at most (the `many` fault aside)
 * @property {number} redeliverAfterMs an unacknowledged SET is offered again this long after it was
 * @property {ReturnType<typeof import('./faults.mjs').createFaults>} faults
 * @property {ReturnType<typeof createDeliveryLog>} log
 * @property {() => boolean} isClosed
 * @property {(ms: number) => Promise<void>} sleep ends early when the transmitter closes
 * @property {(stream: DeliveryStream, count: number) => Promise<void>} flood queues `count` fresh SETs (the `many` fault)
 */

/** The delivery records, newest kept: at most `max`. @param {number} max */
export function createDeliveryLog(max) {
  /** @type {Map<string, DeliveryRecord>} */
  const records = new Map();
  let forgotten = 0;
  return {
    /** @param {DeliveryRecord} record */
    add(record) {
      records.set(record.jti, record);
      while (records.size > max) {
        records.delete(/** @type {string} */ (records.keys().next().value));
        forgotten += 1;
      }
    },
    /** @param {string} jti */
    has: (jti) => records.has(jti),
    /** @param {{ streamId?: string | null, state?: string | null }} filter */
    list(filter) {
      const list = [...records.values()].filter((r) => (!filter.streamId || r.stream_id === filter.streamId) && (!filter.state || r.state === filter.state));
      return { records: list.map((r) => ({ ...r })), forgotten };
    },
  };
}

/**
 * @param {DeliveryRecord} record @param {DeliveryRecord['state']} state @param {Partial<DeliveryRecord>} [details]
 */
export function settle(record, state, details = {}) {
  Object.assign(record, details, { state, updated_at: new Date().toISOString() });
}

/**
 * Queues a SET for its stream: held while the stream is paused, dropped while it is disabled
 * (stream-updated SETs excepted), the oldest dropped when the queue is full.
 * @param {DeliveryStream} stream @param {Pending} item @param {Pick<DeliveryDeps, 'maxQueue'>} deps
 */
export function enqueue(stream, item, deps) {
  if (!item.control && stream.status === 'disabled') return settle(item.record, 'dropped', { reason: 'the stream is disabled' });
  const queue = !item.control && stream.status === 'paused' ? stream.held : stream.pending;
  queue.push(item);
  settle(item.record, queue === stream.held ? 'held' : 'queued');
  while (queue.length > deps.maxQueue) {
    const oldest = /** @type {Pending} */ (queue.shift());
    settle(oldest.record, 'dropped', { reason: 'the queue is full' });
  }
}

/**
 * Delivers a push stream's queue, one SET at a time, until it is empty, the stream stops being
 * push, or the transmitter closes. One pump per stream: a second call returns at once.
 * @param {DeliveryStream} stream @param {DeliveryDeps} deps
 */
export async function pumpPush(stream, deps) {
  if (stream.pumping) return;
  stream.pumping = true;
  try {
    while (!deps.isClosed() && !stream.deleted && stream.part.delivery.method === PUSH && stream.pending.length > 0) {
      // A transmitter that is down sends nothing; its queue waits.
      const down = deps.faults.downFor();
      if (down > 0) {
        await deps.sleep(Math.min(down, 250));
        continue;
      }
      const item = /** @type {Pending} */ (stream.pending[0]);
      const wait = item.dueAt - Date.now();
      if (wait > 0) {
        await deps.sleep(Math.min(wait, 250));
        continue;
      }
      const outcome = await pushOnce(stream, item, deps);
      // The stream may have been deleted, paused or disabled while the push was out.
      if (stream.pending[0] !== item) continue;
      if (outcome.retry && item.attempts < deps.retry.maxAttempts) {
        const backOff = Math.min(deps.retry.maxMs, deps.retry.baseMs * 2 ** (item.attempts - 1));
        item.dueAt = Date.now() + Math.max(backOff, Math.min(deps.retry.maxMs, outcome.retryAfterMs ?? 0));
        settle(item.record, 'queued', outcome.details);
        continue;
      }
      stream.pending.shift();
      settle(item.record, outcome.retry ? 'failed' : outcome.state, outcome.details);
    }
  } finally {
    stream.pumping = false;
  }
}

/**
 * One RFC 8935 §2.1 transmission request and what its answer means.
 * @param {DeliveryStream} stream @param {Pending} item @param {DeliveryDeps} deps
 * @returns {Promise<{ retry: true, retryAfterMs?: number, details: Partial<DeliveryRecord> } | { retry: false, state: 'acknowledged' | 'refused', details: Partial<DeliveryRecord> }>}
 */
async function pushOnce(stream, item, deps) {
  const delivery = stream.part.delivery;
  if (delivery.method !== PUSH) return { retry: true, details: {} };
  item.attempts += 1;
  stream.counters.pushAttempts += 1;
  Object.assign(item.record, { attempts: item.attempts, delivery: 'push' });
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/secevent+jwt', accept: 'application/json', 'accept-language': 'en' };
  if (delivery.authorizationHeader !== undefined) headers.authorization = delivery.authorizationHeader;
  /** @type {Response} */
  let response;
  try {
    response = await deps.fetch(delivery.endpointUrl, {
      method: 'POST', headers, body: item.set, redirect: 'manual', signal: AbortSignal.timeout(deps.pushTimeoutMs),
    });
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    const why = name === 'TimeoutError' ? 'the push timed out' : `the push failed to connect (${error instanceof Error ? error.message.slice(0, 200) : name})`;
    return { retry: true, details: { status: undefined, reason: why } };
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    await response.body?.cancel().catch(() => {});
    return { retry: false, state: 'acknowledged', details: { status } };
  }
  if (status === 400) return { retry: false, state: 'refused', details: { status, ...(await readSetError(response)) } };
  if (status === 408 || status === 429 || status >= 500) {
    await response.body?.cancel().catch(() => {});
    const retryAfter = Number(response.headers.get('retry-after'));
    return { retry: true, ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}), details: { status, reason: `the receiver answered ${status}` } };
  }
  await response.body?.cancel().catch(() => {});
  return { retry: false, state: 'refused', details: { status, reason: `the receiver answered ${status}` } };
}

/**
 * RFC 8935 §2.3's error body, as far as it is one: `err` and `description` kept when they are
 * strings, bounded; a body past 16 KiB or not JSON leaves only the status.
 * @param {Response} response @returns {Promise<Partial<DeliveryRecord>>}
 */
async function readSetError(response) {
  const read = await readJson(response, MAX_ERROR_BODY).catch(() => null);
  if (read === null || !read.ok) return { reason: 'the receiver answered 400 without an RFC 8935 error body' };
  const { err, description } = read.value;
  const language = response.headers.get('content-language');
  return {
    ...(typeof err === 'string' ? { err: err.slice(0, MAX_ERR_LENGTH) } : { reason: 'the receiver answered 400 without an err' }),
    ...(typeof description === 'string' ? { description: description.slice(0, MAX_DESCRIPTION_LENGTH) } : {}),
    ...(language === null ? {} : { language: language.slice(0, 64) }),
  };
}

/**
 * A poll request (RFC 8936 §2.2) read and checked as a whole before anything is applied.
 * @typedef {{ maxEvents: number | undefined, returnImmediately: boolean, ack: string[], setErrs: [string, { err: string, description: string | undefined }][] }} PollRequest
 * @param {Record<string, unknown>} body @returns {{ ok: true, value: PollRequest } | { ok: false, problem: string }}
 */
export function readPollRequest(body) {
  const { maxEvents, returnImmediately, ack, setErrs } = body;
  if (maxEvents !== undefined && (typeof maxEvents !== 'number' || !Number.isInteger(maxEvents) || maxEvents < 0)) {
    return { ok: false, problem: 'maxEvents must be a non-negative integer' };
  }
  if (returnImmediately !== undefined && typeof returnImmediately !== 'boolean') return { ok: false, problem: 'returnImmediately must be a boolean' };
  /** @type {string[]} */
  let acks = [];
  if (ack !== undefined) {
    if (!Array.isArray(ack) || ack.length > MAX_ACKS || !ack.every((jti) => typeof jti === 'string' && jti.length <= MAX_JTI_LENGTH)) {
      return { ok: false, problem: `ack must be an array of at most ${MAX_ACKS} jti strings` };
    }
    acks = ack;
  }
  /** @type {PollRequest['setErrs']} */
  const errors = [];
  if (setErrs !== undefined) {
    if (!isObject(setErrs)) return { ok: false, problem: 'setErrs must be an object of jti to {err, description}' };
    const entries = Object.entries(setErrs);
    if (entries.length > MAX_ACKS) return { ok: false, problem: `setErrs may hold at most ${MAX_ACKS} entries` };
    for (const [jti, value] of entries) {
      if (jti.length > MAX_JTI_LENGTH || !isObject(value) || typeof value.err !== 'string' || value.err === '' || value.err.length > MAX_ERR_LENGTH) {
        return { ok: false, problem: 'each setErrs entry needs err, a string (RFC 8936 §2.6)' };
      }
      if (has(value, 'description') && typeof value.description !== 'string') return { ok: false, problem: 'a setErrs description must be a string' };
      errors.push([jti, { err: value.err, description: typeof value.description === 'string' ? value.description.slice(0, MAX_DESCRIPTION_LENGTH) : undefined }]);
    }
  }
  const acked = new Set(acks);
  if (errors.some(([jti]) => acked.has(jti))) return { ok: false, problem: 'a jti cannot be both acknowledged and reported in setErrs' };
  return { ok: true, value: { maxEvents, returnImmediately: returnImmediately === true, ack: acks, setErrs: errors } };
}

/**
 * Answers one poll of a poll stream's receiver: acks and setErrs settle their SETs, then the
 * oldest SETs not handed out lately (at most maxEvents, and the batch bound) are answered;
 * faults may change the answer.
 * @param {DeliveryStream} stream @param {Request} request @param {DeliveryDeps} deps
 */
export async function answerPoll(stream, request, deps) {
  stream.counters.polls += 1;
  const body = await readJson(request, MAX_POLL_BYTES);
  if (!body.ok) return body.response;
  const read = readPollRequest(body.value);
  if (!read.ok) return refusal(400, 'invalid_request', read.problem);
  const poll = read.value;

  const language = request.headers.get('content-language')?.slice(0, 64);
  /** @type {Map<string, [DeliveryRecord['state'], Partial<DeliveryRecord>]>} */
  const outcomes = new Map();
  for (const jti of poll.ack) outcomes.set(jti, ['acknowledged', {}]);
  for (const [jti, { err, description }] of poll.setErrs) {
    outcomes.set(jti, ['refused', { err, ...(description === undefined ? {} : { description }), ...(language ? { language } : {}) }]);
  }
  if (outcomes.size > 0) settleAll(stream, outcomes);

  const fault = deps.faults.takePoll(stream.id);
  if (fault?.mode === 'huge') {
    return new Response(hugeBody(fault.bytes), { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
  }
  if (fault?.mode === 'many') await deps.flood(stream, fault.count);

  const limit = fault?.mode === 'many' ? Infinity : Math.min(poll.maxEvents ?? Infinity, deps.maxPollBatch);
  // RFC 8936 §2.4.2: without returnImmediately even an acknowledge-only poll waits for an event.
  if (!poll.returnImmediately) {
    const deadline = Date.now() + deps.longPollMs;
    while (offerable(stream, deps).length === 0 && Date.now() < deadline && !deps.isClosed() && !stream.deleted && !request.signal.aborted) {
      await deps.sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
  }
  if (stream.deleted) return refusal(404, 'not_found', 'the stream was deleted');
  const offer = offerable(stream, deps);
  const batch = offer.slice(0, limit === Infinity ? offer.length : limit);
  /** @type {Record<string, string>} */
  const sets = {};
  const now = Date.now();
  for (const item of batch) {
    sets[item.jti] = item.set;
    item.handedOutAt = now;
    item.attempts += 1;
    settle(item.record, 'delivered', { attempts: item.attempts, delivery: 'poll' });
  }
  const moreAvailable = fault?.mode === 'endless' || offer.length > batch.length;
  return json(200, { sets, moreAvailable });
}

/** The SETs a poll may hand out now: pending, and not handed out within `redeliverAfterMs`. @param {DeliveryStream} stream @param {Pick<DeliveryDeps, 'redeliverAfterMs'>} deps */
function offerable(stream, deps) {
  const now = Date.now();
  return stream.pending.filter((item) => item.handedOutAt === undefined || now - item.handedOutAt >= deps.redeliverAfterMs);
}

/**
 * Settles the SETs a poll acknowledged or refused, wherever they wait (a paused stream holds
 * the ones it had handed out); jtis this stream does not know are counted, not recorded.
 * @param {DeliveryStream} stream @param {Map<string, [DeliveryRecord['state'], Partial<DeliveryRecord>]>} outcomes
 */
function settleAll(stream, outcomes) {
  const known = new Set();
  for (const queue of [stream.pending, stream.held]) {
    for (const item of queue) {
      const outcome = outcomes.get(item.jti);
      if (outcome === undefined) continue;
      known.add(item.jti);
      settle(item.record, outcome[0], outcome[1]);
    }
  }
  stream.pending = stream.pending.filter((item) => !known.has(item.jti));
  stream.held = stream.held.filter((item) => !known.has(item.jti));
  for (const [jti, [state]] of outcomes) {
    if (known.has(jti)) continue;
    if (state === 'acknowledged') stream.counters.unknownAcks += 1;
    else stream.counters.unknownErrors += 1;
  }
}
