// POST /_edge/ssf (RFC 8935 push delivery of a Security Event Token, RFC 8417, as profiled by
// OpenID Shared Signals 1.0, CAEP 1.0 and RISC 1.0; docs/events.md): the body is
// the SET, `Content-Type: application/secevent+jwt`, at most 64 KiB (checked before parsing). The
// SET is verified with its transmitter's keys (verify/jws.ts: the transmitter by `iss`, an
// asymmetric alg, keys through the key tiers, found by the transmitter's ssf-configuration unless
// `jwksUri` is set); then `aud` must hold the transmitter's `audience`, `iat` must be present
// and at most the tenant's revocation.retainSeconds old (an older SET can only concern tokens
// refused as too old; its jti is remembered that long, and no longer), `exp` when present not passed,
// `jti` present, `events` an object of 1 to 100 events. Each event's effect comes from
// event-types.ts; all of a SET's revocations are one sink call (one state transaction). 202
// Accepted; a refused SET 400 {"err", "description"} (RFC 8935 §2.3), nothing changed; a
// replayed jti 202 again, nothing changed again.
//
// RFC 8935 §2.4 codes: invalid_request (not a SET this edge can read: body, content type, claim
// types, times, jti, events, typ, values over 256 characters), invalid_issuer (iss names no
// transmitter of the tenant), invalid_audience (aud lacks the transmitter's audience),
// invalid_key (alg not asymmetric, or no key of the transmitter fits the kid),
// authentication_failed (the signature does not verify).
//
//   if (tenant.events !== null && url.pathname === SSF_PATH)
//     return handleSsfPush(request, tenant, { now, keys, sink, audit });
import { readBody, utf8 } from '../base/body';
import { noteOf } from '../base/denial';
import type { Tenant, TransmitterPolicy } from '../tenants/tenant';
import { verifyJws } from '../verify/jws';
import { readEventTimes, secondsOf } from '../verify/times';
import { METHOD_NOT_ALLOWED, ssfResponse, type EventAnswer } from './answer';
import { applyEvents, refuseRequest, type EventDeps, type ProcessedEvent } from './apply';
import { readEvent, type EventReading, type SetObservation } from './event-types';
import { MAX_CLAIM_VALUE_LENGTH } from '../revocation/claim-values';
import type { EventSubject } from './audit';
import { MAX_EVENTS_PER_SET, MAX_EVENT_VALUE_LENGTH } from '../revocation/event-ledger';
import { rememberUntil } from './sink';
import { audienceHolds, isObject, mediaTypeOf, own, readJti, refuse, refusalOfDenial, typeRefusal, type EventOutcome } from './token-rules';

export const SSF_PATH = '/_edge/ssf';
/** The SET body cap (and so the SET's), checked before anything is parsed. */
export const MAX_SET_BYTES = 64 * 1024;
const SET_LIMIT = { maxBytes: MAX_SET_BYTES };
const NO_TRANSMITTERS: ReadonlyMap<string, TransmitterPolicy> = new Map();

/** What the endpoint needs of a tenant. */
export type SetTenant = Pick<Tenant, 'id' | 'issuers' | 'events' | 'revocation'>;

/** A verified SET and what each of its events does. */
export interface VerifiedSet {
  readonly transmitter: TransmitterPolicy;
  readonly jti: string;
  readonly issuedAt: number;
  readonly events: readonly ProcessedEvent[];
}

/** The edge's stream records (events/ssf-stream.ts), where they are bound: a push from a
 *  transmitter the edge manages a push stream at must carry that stream's authorization_header. */
export interface StreamAdmission {
  admitPush(issuer: string, authorization: string | null, observation: SetObservation): Promise<'authorized' | 'refused' | 'no_stream'>;
}

export interface PushDeps extends EventDeps {
  /** null or absent: no SsfStream objects bound, so no stream of the edge's can exist here. */
  readonly streams?: StreamAdmission | null;
}

/** A stream record that cannot be reached is asked again soon. */
const STREAM_RETRY_SECONDS = 30;

export async function handleSsfPush(request: Request, tenant: SetTenant, deps: PushDeps): Promise<Response> {
  return ssfResponse(await receiveSet(request, tenant, deps));
}

async function receiveSet(request: Request, tenant: SetTenant, deps: PushDeps): Promise<EventAnswer> {
  if (request.method !== 'POST') return refuseRequest(tenant, 'ssf', { answer: METHOD_NOT_ALLOWED }, deps);
  const token = await readSet(request);
  if (!token.ok) return refuseRequest(tenant, 'ssf', token.refusal, deps);
  const verified = await verifySet(token.value, tenant, deps);
  if (!verified.ok) return refuseRequest(tenant, 'ssf', verified.refusal, deps);
  const admitted = await admit(verified.value, request.headers.get('authorization'), tenant, deps);
  return admitted ?? applySet(verified.value, tenant, deps);
}

/** The push's Authorization header, when the edge manages a stream at the SET's transmitter;
 *  null when the SET may be applied. */
async function admit(set: VerifiedSet, authorization: string | null, tenant: SetTenant, deps: PushDeps): Promise<EventAnswer | null> {
  if (set.transmitter.management === null || deps.streams == null) return null;
  let admitted: 'authorized' | 'refused' | 'no_stream';
  try {
    admitted = await deps.streams.admitPush(set.transmitter.issuer, authorization, observationOf(set));
  } catch (error) {
    return refuseRequest(tenant, 'ssf', { answer: {
      kind: 'unavailable', error: 'revocation_unavailable', description: 'the stream record cannot be reached now',
      retryAfterSeconds: STREAM_RETRY_SECONDS,
    }, note: noteOf(error) }, deps);
  }
  if (admitted !== 'refused') return null;
  return refuseRequest(tenant, 'ssf', {
    answer: { kind: 'unauthorized', description: "the push does not carry the authorization_header of the edge's stream" },
  }, deps);
}

/** What a verified SET says about the stream it came on. */
export function observationOf(set: VerifiedSet): SetObservation {
  return { jti: set.jti, issuedAt: set.issuedAt, signals: set.events.flatMap((event) => event.stream ?? []) };
}

/** A verified SET's revocations, once per jti (the tenant state's event ledger), and its audit
 *  lines: what a push and a poll (events/poll.ts) both do with a SET that passed verifySet. */
export function applySet(set: VerifiedSet, tenant: SetTenant, deps: EventDeps): Promise<EventAnswer> {
  return applyEvents(tenant, 'ssf', {
    issuer: set.transmitter.issuer,
    jti: set.jti,
    rememberUntil: rememberUntil(set.issuedAt, tenant.revocation.retainSeconds, set.transmitter.clockToleranceSeconds),
  }, set.events, deps);
}

/** The SET of an application/secevent+jwt body (RFC 8935 §2), read under the cap. */
export async function readSet(request: Request): Promise<EventOutcome<string>> {
  if (mediaTypeOf(request.headers.get('content-type')) !== 'application/secevent+jwt') {
    return refuse('invalid_request', 'the body must be application/secevent+jwt');
  }
  const read = await readBody(request, { maxBytes: MAX_SET_BYTES });
  if (!read.ok) {
    const why = read.failure === 'too_large' ? `the body is over ${MAX_SET_BYTES} bytes` : 'the body could not be read';
    return refuse('invalid_request', why);
  }
  const text = utf8(read.bytes);
  if (text === null) return refuse('invalid_request', 'the body is not UTF-8');
  // A trailing newline (curl --data-binary @file) is not part of the SET.
  const set = text.trim();
  if (set === '') return refuse('invalid_request', 'the body is empty');
  return { ok: true, value: set };
}

/** RFC 8417 / SSF validation and the event table, in this order: the JWS (verify/jws.ts), typ,
 *  aud, iat / nbf / exp, jti, events (1 to 100 objects), each event's effect (values over 256
 *  characters refuse the whole SET). */
export async function verifySet(
  token: string, tenant: SetTenant, deps: Pick<EventDeps, 'now' | 'keys'>,
): Promise<EventOutcome<VerifiedSet>> {
  const signed = await verifyJws(token, tenant.events?.transmitters ?? NO_TRANSMITTERS, deps, SET_LIMIT);
  if (!signed.ok) return { ok: false, refusal: refusalOfDenial(signed.denial, 'iss names no SSF transmitter of this tenant') };
  const { signer: transmitter, header, payload } = signed.value;

  // SSF 1.0 §4.1.1 requires explicit typing; a SET without typ is still read (RFC 8417 §2.3 only recommends it).
  const typ = typeRefusal(header, 'secevent+jwt');
  if (typ !== null) return refuse('invalid_request', typ, 'wrong_type');
  const audience = audienceHolds(own(payload, 'aud'), (aud) => aud === transmitter.audience);
  if (audience === null) return refuse('invalid_audience', 'aud is missing or not a string or array of strings', 'wrong_audience');
  if (!audience) return refuse('invalid_audience', "aud does not hold this receiver's audience", 'wrong_audience');
  // The oldest SET accepted: one older than the tenant's memory of revocations can only concern
  // tokens refused as too old, and a replay of it could not be told from a first delivery.
  const times = readEventTimes(payload, {
    nowSeconds: secondsOf(deps.now()), toleranceSeconds: transmitter.clockToleranceSeconds, maxAgeSeconds: tenant.revocation.retainSeconds,
  });
  if (!times.ok) return refuse('invalid_request', times.description, times.reason);
  const jti = readJti(payload);
  if (!jti.ok) return jti;

  const events = own(payload, 'events');
  if (!isObject(events)) return refuse('invalid_request', 'events is missing or not an object', 'malformed');
  const types = Object.keys(events);
  if (types.length === 0) return refuse('invalid_request', 'events is empty', 'malformed');
  if (types.length > MAX_EVENTS_PER_SET) return refuse('invalid_request', `more than ${MAX_EVENTS_PER_SET} events in one SET`, 'malformed');
  const setSubject = own(payload, 'sub_id');
  const context = { issuers: tenant.issuers, subjectClaims: transmitter.subjectClaims };
  const processed: ProcessedEvent[] = [];
  for (const type of types) {
    const event = events[type];
    if (!isObject(event)) return refuse('invalid_request', 'an event payload is not an object', 'malformed');
    const reading = readEvent(type, event, setSubject, context);
    if (tooLong(reading)) {
      return refuse('invalid_request', `a subject identifier is longer than ${MAX_EVENT_VALUE_LENGTH} characters`, 'malformed');
    }
    processed.push({
      eventType: type,
      subject: subjectNamed(reading),
      subjectFormat: reading.subject.format,
      effect: reading.effect,
      ...(reading.stream === null ? {} : { stream: reading.stream }),
      ...(reading.note === undefined ? {} : { note: reading.note }),
    });
  }
  return { ok: true, value: { transmitter, jti: jti.value, issuedAt: times.value, events: processed } };
}

/** A value an event would revoke that no list takes (as the admin API refuses it): the whole SET
 *  is refused rather than half applied. */
function tooLong(reading: EventReading): boolean {
  if (reading.effect === null) return false;
  const named = reading.effect.kind === 'claim' ? reading.subject.claim!.value : reading.effect.value;
  return named.length > (reading.effect.kind === 'claim' ? MAX_CLAIM_VALUE_LENGTH : MAX_EVENT_VALUE_LENGTH);
}

/** What the audit line says the subject named. */
function subjectNamed({ subject }: EventReading): EventSubject {
  return subject.session !== null ? 'sid' : subject.user !== null ? 'sub' : subject.claim?.format ?? 'none';
}
