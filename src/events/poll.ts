// RFC 8936 poll delivery, one alarm's work for one stream (docs/events.md "Poll delivery"): ask
// the stream's endpoint with `{"maxEvents": 100, "returnImmediately": true, "ack": [...],
// "setErrs": {...}}`, process each SET it answers exactly as a pushed one (ssf.ts verifySet and
// applySet: the same checks, the same once-per-jti ledger in the tenant state, the same audit
// lines), and ask again at once while `moreAvailable` says so, at most MAX_ROUNDS times.
//
// A SET is acknowledged only once applied (or found already applied: a replay), refused in
// `setErrs` with its RFC 8935 code when it fails the checks, and neither when it cannot be
// processed now (its transmitter's keys or the tenant state unreachable): the transmitter offers
// it again. Bounded work: an answer over MAX_ANSWER_BYTES is not read, at most MAX_EVENTS SETs of
// an answer are processed (more are left for the next poll), and the rounds stop at MAX_ROUNDS or
// at an answer with no SET, whatever `moreAvailable` says.
//
//   const run = await pollStream({ tenant, transmitter, endpoint }, row.notes.poll.pending, deps);
//   run.failure;   // null, or why the endpoint failed (the alarm backs off)
//   run.pending;   // the acks and setErrs to send with the next poll
import type { TransmitterPolicy } from '../tenants/tenant';
import type { EventAnswer } from './answer';
import { refuseRequest, type EventDeps } from './apply';
import { MAX_SET_BYTES, applySet, verifySet, type SetTenant, type VerifiedSet } from './ssf';
import type { ClientResult } from './stream-client';
import type { PendingAcks } from './stream-record';
import { callTransmitter, type TransmitterRules } from './transmitter-http';

/** RFC 8936 §2.1 maxEvents: the most SETs asked for, and processed, per round. */
export const MAX_EVENTS = 100;
/** Rounds per alarm while moreAvailable is true. */
export const MAX_ROUNDS = 10;
/** A poll answer larger than this is not read (100 SETs of a few KiB each fit many times over). */
export const MAX_ANSWER_BYTES = 1024 * 1024;
/** The longest jti (as the event ledger keeps them): a longer key names no SET the edge can ack. */
const MAX_JTI_LENGTH = 256;

export interface PollSetup {
  readonly tenant: SetTenant;
  /** The stream's transmitter: a SET of another (even one the tenant trusts) is refused. */
  readonly transmitter: TransmitterPolicy;
  /** The stream's endpoint_url (RFC 8936 §2.1). */
  readonly endpoint: string;
}

export interface PollDeps extends EventDeps {
  readonly rules: TransmitterRules;
  /** The management Authorization header; `fresh` after the endpoint refused a cached token. */
  authorization(fresh: boolean): Promise<ClientResult<string>>;
  /** What an applied SET says about the stream (verification, stream-updated), for its record. */
  observe(set: VerifiedSet): void;
}

export interface PollRun {
  readonly rounds: number;
  /** SETs answered, processed (acknowledged or refused), and left for a later poll. */
  readonly received: number;
  readonly acknowledged: number;
  readonly refused: number;
  /** What to send with the next poll. */
  readonly pending: PendingAcks;
  /** Why the endpoint failed, or null: the alarm backs off on a failure. */
  readonly failure: string | null;
  /** Why a SET could not be processed now (its keys or the tenant state unreachable), or null. */
  readonly stalled: string | null;
}

type Outcome = { kind: 'ack' } | { kind: 'refuse'; err: string; description: string } | { kind: 'later'; note: string } | { kind: 'skip' };

export async function pollStream(setup: PollSetup, pending: PendingAcks, deps: PollDeps): Promise<PollRun> {
  let ack = [...pending.ack];
  let setErrs = new Map(Object.entries(pending.setErrs));
  let rounds = 0;
  const counts = { received: 0, acknowledged: 0, refused: 0 };
  const run = (failure: string | null, stalled: string | null): PollRun =>
    ({ rounds, ...counts, pending: { ack, setErrs: Object.fromEntries(setErrs) }, failure, stalled });

  while (rounds < MAX_ROUNDS) {
    rounds++;
    const answer = await ask(setup.endpoint, { ack, setErrs: Object.fromEntries(setErrs) }, deps);
    if (!answer.ok) return run(answer.note, null);
    // The transmitter has what this poll acknowledged and refused.
    ack = [];
    setErrs = new Map();
    const entries = Object.entries(answer.sets);
    counts.received += entries.length;
    for (const [key, value] of entries.slice(0, MAX_EVENTS)) {
      const outcome = await processPolled(key, value, setup, deps);
      if (outcome.kind === 'later') return run(null, outcome.note);
      if (outcome.kind === 'ack') {
        ack.push(key);
        counts.acknowledged++;
      } else if (outcome.kind === 'refuse') {
        setErrs.set(key, { err: outcome.err, description: outcome.description });
        counts.refused++;
      }
    }
    // An answer with nothing in it ends the alarm, whatever moreAvailable claims.
    if (!answer.moreAvailable || entries.length === 0) break;
  }
  return run(null, null);
}

type PollAnswer = { ok: true; sets: Record<string, unknown>; moreAvailable: boolean } | { ok: false; note: string };

/** One RFC 8936 §2.2 request, authenticated as the management API is (SSF §7.1.1); a cached
 *  token the endpoint refuses is replaced once. */
async function ask(endpoint: string, pending: PendingAcks, deps: PollDeps): Promise<PollAnswer> {
  const body = { maxEvents: MAX_EVENTS, returnImmediately: true, ack: pending.ack, setErrs: pending.setErrs };
  for (const fresh of [false, true]) {
    const authorization = await deps.authorization(fresh);
    if (!authorization.ok) return { ok: false, note: authorization.failure.note };
    const answer = await callTransmitter({
      method: 'POST', url: endpoint, authorization: authorization.value, json: body, maxBytes: MAX_ANSWER_BYTES,
    }, deps.rules);
    if (!answer.ok) return { ok: false, note: `poll: ${answer.note}` };
    if (answer.status === 401 && !fresh) continue;
    if (answer.status !== 200) return { ok: false, note: `poll: status ${answer.status}` };
    const parsed = answer.body;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { ok: false, note: 'poll: the answer is not a JSON object' };
    }
    const { sets, moreAvailable } = parsed as Record<string, unknown>;
    if (typeof sets !== 'object' || sets === null || Array.isArray(sets)) return { ok: false, note: 'poll: the answer has no sets object' };
    if (moreAvailable !== undefined && typeof moreAvailable !== 'boolean') {
      return { ok: false, note: 'poll: moreAvailable is not a boolean' };
    }
    return { ok: true, sets: sets as Record<string, unknown>, moreAvailable: moreAvailable === true };
  }
  return { ok: false, note: 'poll: status 401' };
}

/** One SET of an answer, as a push of it would be processed. */
async function processPolled(key: string, value: unknown, setup: PollSetup, deps: PollDeps): Promise<Outcome> {
  // A key that is no jti cannot be acknowledged or reported: it is left, and never applied.
  if (key.length === 0 || key.length > MAX_JTI_LENGTH) return { kind: 'skip' };
  if (typeof value !== 'string' || new TextEncoder().encode(value).byteLength > MAX_SET_BYTES) {
    return refused(setup, deps, 'invalid_request', `a SET is a string of at most ${MAX_SET_BYTES} bytes`);
  }
  const verified = await verifySet(value.trim(), setup.tenant, deps);
  if (!verified.ok) {
    const answer = refuseRequest(setup.tenant, 'ssf', verified.refusal, deps);
    return outcomeOf(answer);
  }
  const set = verified.value;
  if (set.transmitter.issuer !== setup.transmitter.issuer) {
    return refused(setup, deps, 'invalid_issuer', "the SET is not from this stream's transmitter");
  }
  if (set.jti !== key) return refused(setup, deps, 'invalid_request', 'the SET is not under its own jti');
  const applied = await applySet(set, setup.tenant, deps);
  if (applied.kind !== 'accepted') return outcomeOf(applied);
  deps.observe(set);
  return { kind: 'ack' };
}

function refused(setup: PollSetup, deps: PollDeps, err: 'invalid_request' | 'invalid_issuer', description: string): Outcome {
  return outcomeOf(refuseRequest(setup.tenant, 'ssf', { answer: { kind: 'refused', err, description } }, deps));
}

function outcomeOf(answer: EventAnswer): Outcome {
  switch (answer.kind) {
    case 'accepted': return { kind: 'ack' };
    case 'refused': return { kind: 'refuse', err: answer.err, description: answer.description };
    case 'unavailable': return { kind: 'later', note: answer.description };
    // Neither comes of a verification or an application; should one, the SET is offered again.
    default: return { kind: 'later', note: answer.kind };
  }
}
