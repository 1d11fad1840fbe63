// POST /_edge/backchannel-logout (OpenID Connect Back-Channel Logout 1.0 §2.5-2.8; the contract (docs/)
// "Revocation events"): a form body `logout_token=<JWT>` from one of the tenant's issuers. The
// logout token is verified like an access token (verify/jws.ts: the issuer by `iss`, its alg
// allowlist, its keys through the key tiers), then held to §2.4 and §2.6: `aud` holds one of
// `events.backchannelLogout.audiences`; `iat` present and at most 5 minutes old (the issuer's
// clock tolerance); `exp`, when present, not passed; `jti`; `events` holding the back-channel
// logout member (an object); `sub` or `sid`; no `nonce`; `typ`, when present, `logout+jwt`.
// With `sid` that session is revoked, else the subject. 200 with Cache-Control: no-store; any
// invalid body or token 400 invalid_request (no-store), nothing changed; a replayed jti 200 again,
// nothing changed again.
//
//   if (tenant.events !== null && url.pathname === BACKCHANNEL_LOGOUT_PATH)
//     return handleBackchannelLogout(request, tenant, { now, keys, sink, audit });
import { readBody, utf8 } from '../base/body';
import type { Tenant } from '../tenants/tenant';
import { verifyJws } from '../verify/jws';
import { readEventTimes, secondsOf } from '../verify/times';
import { MAX_CREDENTIAL_BYTES } from '../verify/token';
import { METHOD_NOT_ALLOWED, backchannelLogoutResponse, type EventAnswer } from './answer';
import { applyEvents, refuseRequest, type EventDeps } from './apply';
import { BACKCHANNEL_LOGOUT_EVENT } from './event-types';
import { MAX_EVENT_VALUE_LENGTH, type RevocationEffect } from '../revocation/event-ledger';
import { rememberUntil } from './sink';
import {
  audienceHolds, isObject, mediaTypeOf, own, readJti, refuse, refusalOfDenial, typeRefusal, type EventOutcome,
} from './token-rules';

export const BACKCHANNEL_LOGOUT_PATH = '/_edge/backchannel-logout';
/** A logout token is at most 16 KiB like any credential; its form body a little more. */
export const MAX_LOGOUT_BODY_BYTES = 20 * 1024;
/** OIDC Back-Channel Logout leaves the window to the receiver; the contract says 5 minutes. */
export const MAX_LOGOUT_TOKEN_AGE_SECONDS = 300;
const LOGOUT_TOKEN_LIMIT = { maxBytes: MAX_CREDENTIAL_BYTES };

/** What the endpoint needs of a tenant. */
export type LogoutTenant = Pick<Tenant, 'id' | 'issuers' | 'events'>;

/** A verified logout token. */
export interface LogoutEvent {
  readonly issuer: string;
  readonly jti: string;
  readonly issuedAt: number;
  readonly toleranceSeconds: number;
  /** The session when the token names one, else the subject. */
  readonly effect: RevocationEffect;
}

export async function handleBackchannelLogout(request: Request, tenant: LogoutTenant, deps: EventDeps): Promise<Response> {
  return backchannelLogoutResponse(await receiveLogout(request, tenant, deps));
}

async function receiveLogout(request: Request, tenant: LogoutTenant, deps: EventDeps): Promise<EventAnswer> {
  if (request.method !== 'POST') return refuseRequest(tenant, 'backchannel_logout', { answer: METHOD_NOT_ALLOWED }, deps);
  const token = await readLogoutToken(request);
  if (!token.ok) return refuseRequest(tenant, 'backchannel_logout', token.refusal, deps);
  const verified = await verifyLogoutToken(token.value, tenant, deps);
  if (!verified.ok) return refuseRequest(tenant, 'backchannel_logout', verified.refusal, deps);
  const event = verified.value;
  return applyEvents(tenant, 'backchannel_logout', {
    issuer: event.issuer,
    jti: event.jti,
    rememberUntil: rememberUntil(event.issuedAt, MAX_LOGOUT_TOKEN_AGE_SECONDS, event.toleranceSeconds),
  }, [{ eventType: BACKCHANNEL_LOGOUT_EVENT, subject: event.effect.kind === 'session' ? 'sid' : 'sub', effect: event.effect }], deps);
}

/** The `logout_token` of an application/x-www-form-urlencoded body (§2.5), read under a cap. */
export async function readLogoutToken(request: Request): Promise<EventOutcome<string>> {
  if (mediaTypeOf(request.headers.get('content-type')) !== 'application/x-www-form-urlencoded') {
    return refuse('invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  const read = await readBody(request, { maxBytes: MAX_LOGOUT_BODY_BYTES });
  if (!read.ok) {
    const why = read.failure === 'too_large' ? `the body is over ${MAX_LOGOUT_BODY_BYTES} bytes` : 'the body could not be read';
    return refuse('invalid_request', why);
  }
  const text = utf8(read.bytes);
  if (text === null) return refuse('invalid_request', 'the body is not UTF-8');
  const tokens = new URLSearchParams(text).getAll('logout_token');
  if (tokens.length === 0 || tokens[0] === '') return refuse('invalid_request', 'logout_token is required');
  if (tokens.length > 1) return refuse('invalid_request', 'logout_token is given more than once');
  return { ok: true, value: tokens[0]! };
}

/** §2.6 validation, every refusal a 400 invalid_request (or 503 when the issuer's keys cannot be
 *  had), in this order: the JWS (verify/jws.ts), typ, aud, iat / nbf / exp, jti, events, nonce,
 *  sub and sid. */
export async function verifyLogoutToken(
  token: string, tenant: LogoutTenant, deps: Pick<EventDeps, 'now' | 'keys'>,
): Promise<EventOutcome<LogoutEvent>> {
  const audiences = tenant.events?.backchannelLogout?.audiences;
  if (audiences === undefined) return refuse('invalid_request', 'back-channel logout is not configured for this tenant');
  const signed = await verifyJws(token, tenant.issuers, deps, LOGOUT_TOKEN_LIMIT);
  if (!signed.ok) return { ok: false, refusal: refusalOfDenial(signed.denial, "iss names none of the tenant's issuers") };
  const { signer: issuer, header, payload } = signed.value;

  const typ = typeRefusal(header, 'logout+jwt');
  if (typ !== null) return refuse('invalid_request', typ, 'wrong_type');
  const audience = audienceHolds(own(payload, 'aud'), (aud) => audiences.has(aud));
  if (audience === null) return refuse('invalid_request', 'aud is missing or not a string or array of strings', 'wrong_audience');
  if (!audience) {
    return refuse('invalid_request', 'aud names none of the audiences this tenant accepts logout tokens for', 'wrong_audience');
  }
  const times = readEventTimes(payload, {
    nowSeconds: secondsOf(deps.now()), toleranceSeconds: issuer.clockToleranceSeconds, maxAgeSeconds: MAX_LOGOUT_TOKEN_AGE_SECONDS,
  });
  if (!times.ok) return refuse('invalid_request', times.description, times.reason);
  const jti = readJti(payload);
  if (!jti.ok) return jti;
  const events = own(payload, 'events');
  if (!isObject(events)) return refuse('invalid_request', 'events is missing or not an object', 'malformed');
  if (!isObject(own(events, BACKCHANNEL_LOGOUT_EVENT))) {
    return refuse('invalid_request', `events has no ${BACKCHANNEL_LOGOUT_EVENT} member that is an object`, 'malformed');
  }
  // §2.4: a nonce marks an ID token; an ID token is never a logout token.
  if (Object.hasOwn(payload, 'nonce')) return refuse('invalid_request', 'a logout token carries no nonce', 'malformed');

  const sub = readIdentifier(payload, 'sub');
  if (!sub.ok) return sub;
  const sid = readIdentifier(payload, 'sid');
  if (!sid.ok) return sid;
  const effect: RevocationEffect | null = sid.value !== null ? { kind: 'session', value: sid.value }
    : sub.value !== null ? { kind: 'subject', value: sub.value } : null;
  if (effect === null) return refuse('invalid_request', 'a logout token names a sub or a sid', 'malformed');
  return {
    ok: true,
    value: { issuer: issuer.issuer, jti: jti.value, issuedAt: times.value, toleranceSeconds: issuer.clockToleranceSeconds, effect },
  };
}

/** `sub` or `sid`: absent, or a string of 1 to 256 characters (longer cannot be revoked, as in
 *  the admin API: the token is refused rather than half applied). */
function readIdentifier(payload: Readonly<Record<string, unknown>>, name: 'sub' | 'sid'): EventOutcome<string | null> {
  const value = own(payload, name);
  if (value === undefined) return { ok: true, value: null };
  if (typeof value !== 'string' || value.length === 0) return refuse('invalid_request', `${name} is not a non-empty string`, 'malformed');
  if (value.length > MAX_EVENT_VALUE_LENGTH) {
    return refuse('invalid_request', `${name} is longer than ${MAX_EVENT_VALUE_LENGTH} characters`, 'malformed');
  }
  return { ok: true, value };
}
