// The receiver's side of OpenID Shared Signals Framework 1.0 §7-8 (docs/events.md "Streams"): the
// transmitter's configuration metadata (§7.1, at /.well-known/ssf-configuration placed as RFC 8414
// places its suffix), how the edge authenticates to its management API (a bearer token, or an
// OAuth 2.0 client credentials token, RFC 6749 §4.4, from the configured token endpoint or the
// transmitter's RFC 8414 document, cached until shortly before it expires), and the calls on a
// stream: create, read, status, verification, delete. Every call is one callTransmitter
// (transmitter-http.ts); every failure is a value saying what the transmitter answered.
//
//   const metadata = await discoverTransmitter(transmitter.issuer, rules);
//   const authorization = await managementAuthorization(transmitter, tokens, rules, now);   // 'Bearer …'
//   const created = await createStream(metadata.value, authorization.value, { events_requested, delivery }, rules);
//   created.ok ? created.value.stream_id : created.failure;   // { status, error?, description?, note }
import type { Clock } from '../base/clock';
import { oauthMetadataUrl, oidcDiscoveryUrl, ssfConfigurationUrl } from '../keys/discovery';
import { issuerUrl } from '../keys/issuer-fetch';
import type { TransmitterPolicy } from '../tenants/tenant';
import { callTransmitter, transmitterError, type TransmitterRequest, type TransmitterRules } from './transmitter-http';

/** What the edge uses of a transmitter's configuration metadata (SSF §7.1). */
export interface TransmitterMetadata {
  readonly issuer: string;
  readonly configurationEndpoint: string;
  readonly statusEndpoint: string | null;
  readonly verificationEndpoint: string | null;
}

/** Why a call did not give what was asked: the transmitter's status and error when it answered
 *  (never a credential), and a short note for the log. */
export interface CallFailure {
  readonly status: number | null;
  readonly error?: string;
  readonly description?: string;
  readonly note: string;
}

export type ClientResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: CallFailure };

/** A cached management access token. */
export interface HeldToken {
  readonly accessToken: string;
  /** Epoch ms: used until then. */
  readonly until: number;
}

/** Where access tokens are kept between calls (the stream object: in memory, sealed at rest). */
export interface TokenStore {
  get(key: string): Promise<HeldToken | null>;
  set(key: string, token: HeldToken): Promise<void>;
  drop(key: string): Promise<void>;
}

/** An access token is used until this long before its expires_in runs out. */
export const TOKEN_MARGIN_MS = 60_000;
/** A token answer without expires_in is used this long. */
export const TOKEN_DEFAULT_MS = 5 * 60_000;
/** RFC 6750 §2.1 b64token: what may follow "Bearer " in a header. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_LENGTH = 8192;

const fail = (failure: CallFailure): { ok: false; failure: CallFailure } => ({ ok: false, failure });
const noAnswer = (what: string, note: string) => fail({ status: null, note: `${what}: ${note}` });
const refusedBy = (what: string, status: number, body: unknown) =>
  fail({ ...transmitterError(status, body), note: `${what}: status ${status}` });

/** SSF §7.2: the metadata at the issuer's ssf-configuration, naming the issuer exactly, with a
 *  configuration_endpoint the URL rules allow. Other endpoints are used when present and allowed. */
export async function discoverTransmitter(issuer: string, rules: TransmitterRules): Promise<ClientResult<TransmitterMetadata>> {
  const url = ssfConfigurationUrl(issuer);
  if (url === null) return noAnswer('discovery', 'issuer url not allowed');
  const answer = await callTransmitter({ method: 'GET', url }, rules);
  if (!answer.ok) return noAnswer('discovery', answer.note);
  if (answer.status !== 200) return refusedBy('discovery', answer.status, answer.body);
  const document = objectOf(answer.body);
  if (document === null) return noAnswer('discovery', 'not a JSON object');
  if (document.issuer !== issuer) return noAnswer('discovery', 'issuer mismatch');
  const endpoint = (name: string) => {
    const value = document[name];
    return typeof value === 'string' && issuerUrl(value, rules.allowInsecure) !== null ? value : null;
  };
  const configurationEndpoint = endpoint('configuration_endpoint');
  if (configurationEndpoint === null) return noAnswer('discovery', 'configuration_endpoint missing or not allowed');
  return {
    ok: true,
    value: {
      issuer, configurationEndpoint, statusEndpoint: endpoint('status_endpoint'), verificationEndpoint: endpoint('verification_endpoint'),
    },
  };
}

/** The Authorization header for the management API and the poll endpoint (SSF §7.1.1): the
 *  bearer token, or a client credentials access token (cached; `fresh` skips the cache, after
 *  the transmitter refused a cached one). */
export async function managementAuthorization(transmitter: TransmitterPolicy, tokens: TokenStore, rules: TransmitterRules, now: Clock,
  options: { fresh?: boolean } = {}): Promise<ClientResult<string>> {
  const management = transmitter.management;
  if (management === null) return noAnswer('authorization', 'the transmitter has no management block');
  if (management.kind === 'bearer') return { ok: true, value: `Bearer ${management.bearerToken.reveal()}` };
  // Keyed by what is configured: a cached token costs no discovery of the token endpoint.
  const key = JSON.stringify([management.tokenEndpoint ?? `discovered from ${transmitter.issuer}`, management.clientId, management.scope]);
  const held = options.fresh === true ? null : await tokens.get(key);
  if (held !== null && held.until > now()) return { ok: true, value: `Bearer ${held.accessToken}` };
  const endpoint = management.tokenEndpoint ?? await discoverTokenEndpoint(transmitter.issuer, rules);
  if (typeof endpoint !== 'string') return endpoint;
  const fetched = await requestToken(endpoint, management.clientId, management.clientSecret.reveal(), management.scope, rules, now);
  if (!fetched.ok) {
    await tokens.drop(key);
    return fetched;
  }
  await tokens.set(key, fetched.value);
  return { ok: true, value: `Bearer ${fetched.value.accessToken}` };
}

/** The token endpoint of the transmitter's RFC 8414 document (then its OpenID Connect discovery
 *  document, for providers that publish only that), naming the issuer exactly. */
async function discoverTokenEndpoint(issuer: string, rules: TransmitterRules): Promise<string | { ok: false; failure: CallFailure }> {
  let last: { ok: false; failure: CallFailure } = noAnswer('token endpoint discovery', 'issuer url not allowed');
  for (const url of [oauthMetadataUrl(issuer), oidcDiscoveryUrl(issuer)]) {
    if (url === null) continue;
    const answer = await callTransmitter({ method: 'GET', url }, rules);
    if (!answer.ok) return noAnswer('token endpoint discovery', answer.note);
    if (answer.status !== 200) {
      last = refusedBy('token endpoint discovery', answer.status, answer.body);
      continue;
    }
    const document = objectOf(answer.body);
    if (document === null || document.issuer !== issuer) {
      return noAnswer('token endpoint discovery', 'issuer mismatch or not a JSON object');
    }
    const endpoint = document.token_endpoint;
    if (typeof endpoint !== 'string' || issuerUrl(endpoint, rules.allowInsecure) === null) {
      return noAnswer('token endpoint discovery', 'token_endpoint missing or not allowed');
    }
    return endpoint;
  }
  return last;
}

/** RFC 6749 §4.4 with client_secret_basic (§2.3.1: both parts form-urlencoded first). */
async function requestToken(endpoint: string, clientId: string, secret: string, scope: string, rules: TransmitterRules, now: Clock):
  Promise<ClientResult<HeldToken>> {
  const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${formEncode(clientId)}:${formEncode(secret)}`)));
  const form = new URLSearchParams({ grant_type: 'client_credentials', scope });
  const answer = await callTransmitter({ method: 'POST', url: endpoint, authorization: `Basic ${basic}`, form }, rules);
  if (!answer.ok) return noAnswer('token', answer.note);
  if (answer.status !== 200) return refusedBy('token', answer.status, answer.body);
  const body = objectOf(answer.body);
  const accessToken = body?.access_token;
  if (typeof accessToken !== 'string' || accessToken.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(accessToken)) {
    return noAnswer('token', 'no usable access_token');
  }
  if (body!.token_type !== undefined && (typeof body!.token_type !== 'string' || body!.token_type.toLowerCase() !== 'bearer')) {
    return noAnswer('token', 'token_type is not Bearer');
  }
  const expiresIn = body!.expires_in;
  const lifetime = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
    ? expiresIn * 1000 : TOKEN_DEFAULT_MS + TOKEN_MARGIN_MS;
  return { ok: true, value: { accessToken, until: now() + Math.max(0, lifetime - TOKEN_MARGIN_MS) } };
}

const formEncode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');

/** One management call as the receiver: its answer when the status is one of `expected` and the
 *  body (when `object`) a JSON object, else what the transmitter said. */
async function managed(what: string, request: TransmitterRequest, expected: readonly number[], rules: TransmitterRules,
  object: boolean): Promise<ClientResult<Record<string, unknown> | null>> {
  const answer = await callTransmitter(request, rules);
  if (!answer.ok) return noAnswer(what, answer.note);
  if (!expected.includes(answer.status)) return refusedBy(what, answer.status, answer.body);
  const body = objectOf(answer.body);
  if (object && body === null) return noAnswer(what, 'the answer is not a JSON object');
  return { ok: true, value: body };
}

/** SSF §8.1.1.1: a new stream; its configuration as the transmitter answers it (with a stream_id). */
export async function createStream(metadata: TransmitterMetadata, authorization: string, configuration: Record<string, unknown>,
  rules: TransmitterRules): Promise<ClientResult<Record<string, unknown>>> {
  const created = await managed('create', { method: 'POST', url: metadata.configurationEndpoint, authorization, json: configuration },
    [200, 201], rules, true);
  if (!created.ok) return created;
  const streamId = created.value!.stream_id;
  if (typeof streamId !== 'string' || streamId === '' || streamId.length > 256) return noAnswer('create', 'no usable stream_id');
  return { ok: true, value: created.value! };
}

/** SSF §8.1.1.2: the stream's configuration now. */
export async function readStream(metadata: TransmitterMetadata, authorization: string, streamId: string, rules: TransmitterRules):
  Promise<ClientResult<Record<string, unknown>>> {
  const read = await managed('read', { method: 'GET', url: withStreamId(metadata.configurationEndpoint, streamId), authorization },
    [200], rules, true);
  return read.ok ? { ok: true, value: read.value! } : read;
}

/** SSF §8.1.2.1: the stream's status now (null: the transmitter has no status_endpoint). */
export async function readStatus(metadata: TransmitterMetadata, authorization: string, streamId: string, rules: TransmitterRules):
  Promise<ClientResult<Record<string, unknown> | null>> {
  if (metadata.statusEndpoint === null) return { ok: true, value: null };
  return managed('status', { method: 'GET', url: withStreamId(metadata.statusEndpoint, streamId), authorization }, [200], rules, true);
}

/** SSF §8.1.4.2: asks for a verification event carrying `state`. */
export async function requestVerification(metadata: TransmitterMetadata, authorization: string, streamId: string, state: string,
  rules: TransmitterRules): Promise<ClientResult<null>> {
  if (metadata.verificationEndpoint === null) return noAnswer('verify', 'the transmitter names no verification_endpoint');
  const asked = await managed('verify', {
    method: 'POST', url: metadata.verificationEndpoint, authorization, json: { stream_id: streamId, state },
  }, [200, 202, 204], rules, false);
  return asked.ok ? { ok: true, value: null } : asked;
}

/** SSF §8.1.1.5: deletes the stream; one the transmitter no longer knows (404) is deleted too. */
export async function deleteStream(metadata: TransmitterMetadata, authorization: string, streamId: string, rules: TransmitterRules):
  Promise<ClientResult<null>> {
  const deleted = await managed('delete', { method: 'DELETE', url: withStreamId(metadata.configurationEndpoint, streamId), authorization },
    [200, 202, 204, 404], rules, false);
  return deleted.ok ? { ok: true, value: null } : deleted;
}

function withStreamId(endpoint: string, streamId: string): string {
  const url = new URL(endpoint);
  url.searchParams.set('stream_id', streamId);
  return url.href;
}

function objectOf(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null;
}
