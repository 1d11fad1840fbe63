// @ts-check
// A stream's configuration (SSF 1.0 §8.1.1): the receiver-supplied part read from a create
// (POST), update (PATCH) or replace (PUT) request, and the whole configuration as the
// transmitter answers it. Pure functions: the transmitter keeps the streams (dev/ssf/transmitter.mjs).
//
//   const read = readConfiguration(body, { mode: 'create' });      // { ok, value: ReceiverPart } | { ok, problem }
//   const next = readConfiguration(body, { mode: 'patch', current: stream.part, answered: configurationOf(stream, setup) });
//   return json(201, configurationOf(stream, setup));
//
// Choices where SSF leaves room: a create request naming a transmitter-supplied member is 400
// (the OpenID conformance suite flags it); PATCH and PUT may name them, and each must equal what
// the transmitter would answer (§8.1.1.3-4); `events_requested` absent means every supported
// event; a poll delivery's `endpoint_url` is the transmitter's, whatever the receiver sent; a
// PUT without `delivery` is poll, as a create without it is (§8.1.1.1).

import { EVENTS_SUPPORTED } from './events.mjs';
import { canonicalJson, has, isObject } from './responses.mjs';

export const PUSH = 'urn:ietf:rfc:8935';
export const POLL = 'urn:ietf:rfc:8936';

const TRANSMITTER_SUPPLIED = ['stream_id', 'iss', 'aud', 'events_supported', 'events_delivered', 'min_verification_interval', 'inactivity_timeout'];
const MAX_EVENTS_REQUESTED = 100;
const MAX_EVENT_TYPE_LENGTH = 512;
const MAX_URL_LENGTH = 2048;
const MAX_AUTHORIZATION_HEADER = 4096;
/** SSF lets a transmitter truncate the description; it does past this. */
export const MAX_DESCRIPTION = 1024;

/**
 * What the receiver supplies (SSF §8.1.1: `events_requested`, `delivery`, `description`).
 * @typedef {object} ReceiverPart
 * @property {string[] | undefined} eventsRequested
 * @property {{ method: typeof PUSH, endpointUrl: string, authorizationHeader: string | undefined } | { method: typeof POLL }} delivery
 * @property {string | undefined} description
 */

/**
 * A stream's configuration as answered (SSF §8.1.1), built by configurationOf.
 * @typedef {Record<string, unknown> & { stream_id: string, events_delivered: string[] }} Configuration
 */

/**
 * The receiver-supplied part a request asks for, or what is wrong with it. `answered` (PATCH and
 * PUT) is the configuration as it is now: transmitter-supplied members in the request must equal it.
 * @param {Record<string, unknown>} body
 * @param {{ mode: 'create' } | { mode: 'patch' | 'put', current: ReceiverPart, answered: Configuration }} how
 * @returns {{ ok: true, value: ReceiverPart } | { ok: false, problem: string }}
 */
export function readConfiguration(body, how) {
  if (how.mode === 'create') {
    const named = TRANSMITTER_SUPPLIED.filter((name) => has(body, name));
    if (named.length > 0) return { ok: false, problem: `a create request may not set ${named.join(', ')}: the transmitter supplies them` };
  } else {
    for (const name of TRANSMITTER_SUPPLIED) {
      if (name === 'stream_id' || !has(body, name)) continue;
      if (canonicalJson(body[name]) !== canonicalJson(how.answered[name])) {
        return { ok: false, problem: `${name} is supplied by the transmitter and must equal its value` };
      }
    }
  }
  const keep = how.mode === 'patch' ? how.current : undefined;

  let eventsRequested = keep?.eventsRequested;
  if (has(body, 'events_requested') || how.mode !== 'patch') {
    const read = readEventsRequested(body.events_requested);
    if (!read.ok) return read;
    eventsRequested = read.value;
  }
  let delivery = keep?.delivery ?? { method: POLL };
  if (has(body, 'delivery') || how.mode !== 'patch') {
    const read = readDelivery(body.delivery);
    if (!read.ok) return read;
    delivery = read.value;
  }
  let description = keep?.description;
  if (has(body, 'description') || how.mode !== 'patch') {
    if (body.description !== undefined && body.description !== null && typeof body.description !== 'string') {
      return { ok: false, problem: 'description must be a string' };
    }
    description = typeof body.description === 'string' ? body.description.slice(0, MAX_DESCRIPTION) : undefined;
  }
  return { ok: true, value: { eventsRequested, delivery, description } };
}

/** @param {unknown} value @returns {{ ok: true, value: string[] | undefined } | { ok: false, problem: string }} */
function readEventsRequested(value) {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  if (!Array.isArray(value)) return { ok: false, problem: 'events_requested must be an array of event type URIs' };
  if (value.length > MAX_EVENTS_REQUESTED) return { ok: false, problem: `events_requested may hold at most ${MAX_EVENTS_REQUESTED} types` };
  for (const type of value) {
    if (typeof type !== 'string' || type.length > MAX_EVENT_TYPE_LENGTH) return { ok: false, problem: 'events_requested must hold strings of at most 512 characters' };
  }
  return { ok: true, value: [...new Set(/** @type {string[]} */ (value))] };
}

/** @param {unknown} value @returns {{ ok: true, value: ReceiverPart['delivery'] } | { ok: false, problem: string }} */
function readDelivery(value) {
  // SSF §8.1.1.1: no delivery means poll.
  if (value === undefined || value === null) return { ok: true, value: { method: POLL } };
  if (!isObject(value)) return { ok: false, problem: 'delivery must be an object' };
  if (value.method === POLL) return { ok: true, value: { method: POLL } };
  if (value.method !== PUSH) return { ok: false, problem: `delivery.method must be ${PUSH} (push) or ${POLL} (poll)` };
  const endpoint = value.endpoint_url;
  if (typeof endpoint !== 'string' || endpoint.length > MAX_URL_LENGTH || !isHttpUrl(endpoint)) {
    return { ok: false, problem: 'a push delivery needs endpoint_url, an absolute http(s) URL' };
  }
  const header = value.authorization_header;
  if (header !== undefined && header !== null) {
    // A header value with a line break would let a receiver inject headers into our pushes.
    if (typeof header !== 'string' || header === '' || header.length > MAX_AUTHORIZATION_HEADER || /[\r\n\0]/.test(header)) {
      return { ok: false, problem: 'authorization_header must be a header value (one line, at most 4096 characters)' };
    }
  }
  return { ok: true, value: { method: PUSH, endpointUrl: endpoint, authorizationHeader: typeof header === 'string' ? header : undefined } };
}

/** @param {string} text */
function isHttpUrl(text) {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/**
 * `events_delivered` (SSF §8.1.1): the supported events the receiver requested, in the
 * transmitter's order; every supported event when it requested none.
 * @param {string[] | undefined} requested @param {readonly string[]} supported
 */
export function eventsDelivered(requested, supported = EVENTS_SUPPORTED) {
  return requested === undefined ? [...supported] : supported.filter((type) => requested.includes(type));
}

/**
 * The configuration as SSF §8.1.1 answers it. The push `authorization_header` is the receiver's
 * own value, answered to that receiver alone (a read-modify-write PUT then keeps it); a receiver
 * that shows configurations to others must leave it out itself.
 * @param {{ id: string, audience: string | string[], part: ReceiverPart }} stream
 * @param {{ issuer: string, pollUrl: (streamId: string) => string, minVerificationInterval: number | undefined }} setup
 * @returns {Configuration}
 */
export function configurationOf(stream, setup) {
  const { part } = stream;
  const delivery = part.delivery.method === PUSH
    ? { method: PUSH, endpoint_url: part.delivery.endpointUrl, ...(part.delivery.authorizationHeader === undefined ? {} : { authorization_header: part.delivery.authorizationHeader }) }
    : { method: POLL, endpoint_url: setup.pollUrl(stream.id) };
  return {
    stream_id: stream.id,
    iss: setup.issuer,
    aud: stream.audience,
    delivery,
    events_supported: [...EVENTS_SUPPORTED],
    ...(part.eventsRequested === undefined ? {} : { events_requested: part.eventsRequested }),
    events_delivered: eventsDelivered(part.eventsRequested),
    ...(part.description === undefined ? {} : { description: part.description }),
    ...(setup.minVerificationInterval === undefined ? {} : { min_verification_interval: setup.minVerificationInterval }),
  };
}
