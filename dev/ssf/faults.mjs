// @ts-check
// The dev SSF transmitter misbehaving on purpose, so receivers can be tested against what a
// broken or hostile transmitter does. Each fault is set through POST /dev/faults and lasts
// `seconds`, a number of `times`, or until DELETE /dev/faults:
//
//   { "mode": "down", "seconds": 600 }          every non-/dev request is 503 (Retry-After); no pushes
//   { "mode": "huge", "bytes": 10485760 }        the next poll answer is a JSON body of that size
//   { "mode": "many", "count": 10000 }           the next poll first queues that many real SETs, then
//                                                answers every one of them, whatever maxEvents says
//   { "mode": "foreign-key", "times": 3 }        the next 3 SETs signed are signed by a key no JWKS
//                                                lists (`"sameKid": true`: under our kid)
//   { "mode": "endless", "seconds": 60 }         every poll answer says moreAvailable: true
//
// Poll faults take `stream_id` to hit one stream (default: any). Defaults: times 1 for huge and
// many, unlimited otherwise; `seconds` bounds any of them.
//
//   const faults = createFaults();
//   faults.add(body);                 // { ok: true, value: fault } | { ok: false, problem }
//   faults.downFor();                 // ms left of an outage (Infinity until cleared), 0 when up
//   faults.takePoll(streamId);        // the poll fault to apply to this answer, used up by one
//   faults.takeSigning();             // the foreign-key fault for this SET, used up by one

import { has } from './responses.mjs';

const MODES = ['down', 'huge', 'many', 'foreign-key', 'endless'];
export const DEFAULT_HUGE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_MANY_COUNT = 10_000;
const MAX_FAULTS = 100;
const LIMITS = { seconds: 86_400, times: 100_000, bytes: 256 * 1024 * 1024, count: 20_000 };

/**
 * @typedef {object} Fault
 * @property {'down' | 'huge' | 'many' | 'foreign-key' | 'endless'} mode
 * @property {string | null} streamId poll faults: the stream they hit (null: any)
 * @property {number} until when it ends (ms since the epoch, Date.now's clock); Infinity: when cleared
 * @property {number} times how many more answers (or SETs) it changes; Infinity: any number
 * @property {number} bytes huge: the body's size
 * @property {number} count many: how many SETs
 * @property {boolean} sameKid foreign-key: sign under our current kid
 */

export function createFaults() {
  /** @type {Fault[]} */
  let faults = [];
  const live = () => {
    const now = Date.now();
    faults = faults.filter((fault) => fault.until > now && fault.times > 0);
    return faults;
  };
  /** @param {(fault: Fault) => boolean} test */
  const take = (test) => {
    const fault = live().find(test);
    if (fault !== undefined) fault.times -= 1;
    return fault ?? null;
  };

  return {
    /** @param {Record<string, unknown>} body @returns {{ ok: true, value: Fault } | { ok: false, problem: string }} */
    add(body) {
      const read = readFault(body);
      if (!read.ok) return read;
      if (live().length >= MAX_FAULTS) return { ok: false, problem: `at most ${MAX_FAULTS} faults at once` };
      faults.push(read.value);
      return read;
    },
    clear() {
      faults = [];
    },
    list() {
      return live().map((fault) => ({ ...fault, until: Number.isFinite(fault.until) ? new Date(fault.until).toISOString() : null, times: Number.isFinite(fault.times) ? fault.times : null }));
    },
    /** Milliseconds until the transmitter is up again: 0 when it is up, Infinity until cleared. */
    downFor() {
      const down = live().filter((fault) => fault.mode === 'down');
      return down.length === 0 ? 0 : Math.max(...down.map((fault) => fault.until - Date.now()));
    },
    /** @param {string} streamId */
    takePoll(streamId) {
      return take((fault) => ['huge', 'many', 'endless'].includes(fault.mode) && (fault.streamId === null || fault.streamId === streamId));
    },
    takeSigning() {
      return take((fault) => fault.mode === 'foreign-key');
    },
  };
}

/** @param {Record<string, unknown>} body @returns {{ ok: true, value: Fault } | { ok: false, problem: string }} */
function readFault(body) {
  const mode = body.mode;
  if (typeof mode !== 'string' || !MODES.includes(mode)) return { ok: false, problem: `mode must be one of ${MODES.join(', ')}` };
  /** @type {Record<string, number>} */
  const numbers = {};
  for (const name of /** @type {(keyof typeof LIMITS)[]} */ (Object.keys(LIMITS))) {
    if (!has(body, name)) continue;
    const value = body[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > LIMITS[name]) {
      return { ok: false, problem: `${name} must be an integer from 1 to ${LIMITS[name]}` };
    }
    numbers[name] = value;
  }
  const streamId = body.stream_id;
  if (streamId !== undefined && (typeof streamId !== 'string' || streamId === '')) return { ok: false, problem: 'stream_id must be a string' };
  if (body.sameKid !== undefined && typeof body.sameKid !== 'boolean') return { ok: false, problem: 'sameKid must be a boolean' };
  const oneShot = mode === 'huge' || mode === 'many';
  return {
    ok: true,
    value: /** @type {Fault} */ ({
      mode,
      streamId: streamId ?? null,
      until: numbers.seconds === undefined ? Infinity : Date.now() + numbers.seconds * 1000,
      times: numbers.times ?? (oneShot ? 1 : Infinity),
      bytes: numbers.bytes ?? DEFAULT_HUGE_BYTES,
      count: numbers.count ?? DEFAULT_MANY_COUNT,
      sameKid: body.sameKid === true,
    }),
  };
}

/**
 * A poll answer of `bytes` bytes that is valid JSON (`{"sets":{},"moreAvailable":false,"padding":"xxx…"}`),
 * produced as it is read, so the transmitter never holds it.
 * @param {number} bytes
 */
export function hugeBody(bytes) {
  const head = '{"sets":{},"moreAvailable":false,"padding":"';
  const tail = '"}';
  let left = Math.max(0, bytes - head.length - tail.length);
  const encoder = new TextEncoder();
  const block = encoder.encode('x'.repeat(64 * 1024));
  let stage = 0;
  return new ReadableStream({
    pull(controller) {
      if (stage === 0) {
        controller.enqueue(encoder.encode(head));
        stage = 1;
      } else if (stage === 1 && left > 0) {
        const size = Math.min(left, block.length);
        controller.enqueue(size === block.length ? block : block.subarray(0, size));
        left -= size;
      } else if (stage === 1) {
        controller.enqueue(encoder.encode(tail));
        stage = 2;
      } else {
        controller.close();
      }
    },
  });
}
