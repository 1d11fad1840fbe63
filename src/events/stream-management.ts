// The edge's stream at one transmitter, managed (docs/events.md "Streams", SSF 1.0 §8): create it
// (push to the tenant's first exact host with an authorization_header secret the edge then
// requires, or poll at the endpoint the transmitter names), describe it (the transmitter's
// configuration and status now, and what the stream said since), ask for a verification event,
// delete it; and admit a push (its Authorization header against the secret, constant-time) and
// note what a SET says about the stream. Module functions over the stream object's I/O (StreamIo):
// the object (ssf-stream.ts) holds state, these hold the steps.
//
//   const created = await createManagedStream(io, tenant, transmitter);   // { ok, value: configuration } | { ok: false, refusal }
//   await describeStream(io, tenant, transmitter);                        // the GET view
//   admitPush(io, 'Bearer …', { jti, issuedAt, signals });                // 'authorized' | 'refused' | 'no_stream'
import { base64url } from 'jose';
import type { Clock } from '../base/clock';
import type { SecretsKeyring } from '../secrets/keyring';
import { secretAad } from '../tenants/secrets';
import type { Tenant, TransmitterPolicy } from '../tenants/tenant';
import { EVENTS_REQUESTED, type SetObservation } from './event-types';
import {
  createStream, deleteStream, managementAuthorization, readStatus, readStream, requestVerification,
  type CallFailure, type ClientResult, type TokenStore, type TransmitterMetadata,
} from './stream-client';
import { NO_PENDING, type StreamNotes, type StreamRow, type StreamStore } from './stream-record';
import { SSF_PATH } from './ssf';
import type { TransmitterRules } from './transmitter-http';
import { issuerUrl } from '../keys/issuer-fetch';

/** What the steps need of the stream object. */
export interface StreamIo {
  readonly now: Clock;
  readonly rules: TransmitterRules;
  readonly store: StreamStore;
  readonly tokens: TokenStore;
  readonly keyring: SecretsKeyring;
  /** The transmitter's metadata (SSF §7.1), cached by the object. */
  metadata(issuer: string): Promise<ClientResult<TransmitterMetadata>>;
  /** The push secret, opened (cached by the object); null when the row has none or it does not open. */
  pushSecret(row: StreamRow): Promise<string | null>;
  /** The poller's alarm: at `at` (epoch ms), or none. */
  schedule(at: number | null): Promise<void>;
}

/** What the admin API answers when a step is refused. */
export type StreamRefusal =
  | { readonly error: 'stream_exists' | 'unknown_stream' | 'invalid_request'; readonly description: string }
  | { readonly error: 'stream_error'; readonly description: string; readonly transmitter: Omit<CallFailure, 'note'> };

export type StreamOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly refusal: StreamRefusal };

/** The GET view of one transmitter's stream. Times are epoch seconds. */
export interface StreamView {
  readonly issuer: string;
  readonly streamId: string | null;
  readonly delivery: 'push' | 'poll';
  readonly endpoint?: string | null;
  readonly createdAt?: number;
  /** As the transmitter answers them now (its status_endpoint); null when it could not be read. */
  readonly configuration?: Record<string, unknown> | null;
  readonly status?: Record<string, unknown> | null;
  readonly transmitterError?: Omit<CallFailure, 'note'> & { readonly note: string };
  readonly lastEvent?: { readonly at: number; readonly jti: string } | null;
  readonly lastVerification?: { readonly requestedAt: number; readonly receivedAt: number | null } | null;
  readonly statusUpdate?: { readonly status: string; readonly reason: string | null; readonly at: number } | null;
  readonly lastPollError?: { readonly at: number; readonly note: string } | null;
  readonly lastPolledAt?: number | null;
}

/** RFC 8935 push and RFC 8936 poll, as SSF 1.0 §8.1.1 names the delivery methods. */
export const PUSH = 'urn:ietf:rfc:8935';
export const POLL = 'urn:ietf:rfc:8936';

/** A create that was interrupted (the object reset mid-call) stops blocking after this long. */
const CREATING_EXPIRES_SECONDS = 60;

const refusal = (error: 'stream_exists' | 'unknown_stream' | 'invalid_request', description: string) =>
  ({ ok: false as const, refusal: { error, description } });
const streamError = (failure: CallFailure) => {
  const { note, ...transmitter } = failure;
  return { ok: false as const, refusal: { error: 'stream_error' as const, description: `the transmitter refused: ${note}`, transmitter } };
};

/** POST /tenants/:id/streams. Nothing is kept unless the transmitter created the stream. */
export async function createManagedStream(io: StreamIo, tenant: Tenant, transmitter: TransmitterPolicy):
  Promise<StreamOutcome<Record<string, unknown>>> {
  const seconds = Math.floor(io.now() / 1000);
  const existing = io.store.read();
  if (existing !== null && (existing.phase === 'ready' || existing.createdAt + CREATING_EXPIRES_SECONDS > seconds)) {
    return refusal('stream_exists', `the edge has a stream at ${transmitter.issuer}: delete it first`);
  }
  if (io.keyring.problem !== null) {
    return refusal('invalid_request', `a stream's secrets are sealed with SECRETS_KEY: ${io.keyring.problem}`);
  }
  const push = transmitter.delivery === 'push';
  const host = tenant.hosts.find((pattern) => !pattern.startsWith('*.'));
  if (push && host === undefined) return refusal('invalid_request', 'a push stream needs an exact host of the tenant for its endpoint_url');
  const endpoint = push ? `https://${host}${SSF_PATH}` : null;
  // Taken before the transmitter is asked: a second create meanwhile is refused.
  io.store.write({
    tenant: tenant.id, issuer: transmitter.issuer, phase: 'creating', streamId: null, delivery: transmitter.delivery,
    endpoint: null, pushSecret: null, createdAt: seconds, notes: {},
  });
  const created = await createAtTransmitter(io, tenant, transmitter, endpoint);
  if (!created.ok) io.store.remove();
  return created;
}

async function createAtTransmitter(io: StreamIo, tenant: Tenant, transmitter: TransmitterPolicy, endpoint: string | null):
  Promise<StreamOutcome<Record<string, unknown>>> {
  const metadata = await io.metadata(transmitter.issuer);
  if (!metadata.ok) return streamError(metadata.failure);
  const authorization = await managementAuthorization(transmitter, io.tokens, io.rules, io.now);
  if (!authorization.ok) return streamError(authorization.failure);
  const secret = endpoint === null ? null : base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  const delivery = secret === null ? { method: POLL }
    : { method: PUSH, endpoint_url: endpoint, authorization_header: `Bearer ${secret}` };
  const configuration = { events_requested: EVENTS_REQUESTED, delivery, description: `edge-token-verifier, tenant ${tenant.id}` };
  const created = await createStream(metadata.value, authorization.value, configuration, io.rules);
  if (!created.ok) return streamError(created.failure);
  const streamId = created.value.stream_id as string;
  const pollEndpoint = secret === null ? pollEndpointOf(created.value, io.rules) : null;
  if (secret === null && pollEndpoint === null) {
    // Unusable: undone at the transmitter, best effort, so nothing is left half made.
    await deleteStream(metadata.value, authorization.value, streamId, io.rules);
    return streamError({ status: null, note: 'create: the answer names no poll endpoint_url the URL rules allow' });
  }
  const sealed = secret === null ? null : await io.keyring.seal(secret, pushSecretAad(tenant.id, transmitter.issuer, endpoint!));
  const now = io.now();
  io.store.write({
    tenant: tenant.id, issuer: transmitter.issuer, phase: 'ready', streamId, delivery: transmitter.delivery,
    endpoint: endpoint ?? pollEndpoint, pushSecret: sealed, createdAt: Math.floor(now / 1000),
    notes: secret === null ? { poll: { failures: 0, polls: 0, lastPolledAt: null, lastError: null, pending: NO_PENDING } } : {},
  });
  // The first poll at once; then every pollSeconds.
  if (secret === null) await io.schedule(now);
  return { ok: true, value: redacted(created.value, secret) };
}

/** GET /tenants/:id/streams: one transmitter's entry. */
export async function describeStream(io: StreamIo, transmitter: TransmitterPolicy): Promise<StreamView> {
  const row = io.store.read();
  if (row === null || row.phase !== 'ready' || row.streamId === null) {
    return { issuer: transmitter.issuer, streamId: null, delivery: transmitter.delivery };
  }
  // Opened first, whatever the transmitter answers: a secret sealed with SECRETS_KEY_PREVIOUS is
  // sealed again with SECRETS_KEY by the opening (a list during a rotation reseals every stream).
  const secret = await io.pushSecret(row);
  const notes = row.notes;
  const view = {
    issuer: row.issuer, streamId: row.streamId, delivery: row.delivery, endpoint: row.endpoint, createdAt: row.createdAt,
    lastEvent: notes.lastEvent ?? null,
    lastVerification: notes.verification === undefined ? null
      : { requestedAt: notes.verification.requestedAt, receivedAt: notes.verification.receivedAt },
    statusUpdate: notes.statusUpdate === undefined ? null
      : { status: notes.statusUpdate.status, reason: notes.statusUpdate.reason, at: notes.statusUpdate.at },
    ...(row.delivery === 'poll' ? { lastPollError: notes.poll?.lastError ?? null, lastPolledAt: notes.poll?.lastPolledAt ?? null } : {}),
  };
  const live = await transmitterView(io, row, transmitter, secret);
  return { ...view, ...live };
}

/** The configuration and status as the transmitter answers them now, secrets redacted. */
async function transmitterView(io: StreamIo, row: StreamRow, transmitter: TransmitterPolicy, secret: string | null):
  Promise<Pick<StreamView, 'configuration' | 'status' | 'transmitterError'>> {
  const failed = (failure: CallFailure) => ({ configuration: null, status: null, transmitterError: failure });
  const metadata = await io.metadata(transmitter.issuer);
  if (!metadata.ok) return failed(metadata.failure);
  const authorization = await managementAuthorization(transmitter, io.tokens, io.rules, io.now);
  if (!authorization.ok) return failed(authorization.failure);
  const configuration = await readStream(metadata.value, authorization.value, row.streamId!, io.rules);
  if (!configuration.ok) return failed(configuration.failure);
  const status = await readStatus(metadata.value, authorization.value, row.streamId!, io.rules);
  return {
    configuration: redacted(configuration.value, secret),
    status: status.ok ? status.value : null,
    ...(status.ok ? {} : { transmitterError: status.failure }),
  };
}

/** POST /tenants/:id/streams/verify: a random state, kept, and sent; GET shows when its SET came. */
export async function verifyManagedStream(io: StreamIo, transmitter: TransmitterPolicy): Promise<StreamOutcome<{ requestedAt: number }>> {
  const row = io.store.read();
  if (row === null || row.phase !== 'ready' || row.streamId === null) {
    return refusal('unknown_stream', `no stream at ${transmitter.issuer}`);
  }
  const state = base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
  const requestedAt = Math.floor(io.now() / 1000);
  // Kept before the request: a push of the verification SET may arrive before its answer.
  io.store.write({ ...row, notes: { ...row.notes, verification: { state, requestedAt, receivedAt: null } } });
  const metadata = await io.metadata(transmitter.issuer);
  const authorization = metadata.ok ? await managementAuthorization(transmitter, io.tokens, io.rules, io.now) : metadata;
  const asked = metadata.ok && authorization.ok
    ? await requestVerification(metadata.value, authorization.value, row.streamId, state, io.rules) : authorization;
  if (asked.ok) return { ok: true, value: { requestedAt } };
  const now = io.store.read();
  // Failed: the verification asked before stands again (unless another was asked meanwhile).
  if (now !== null && now.notes.verification?.state === state) {
    io.store.write({ ...now, notes: withVerification(now.notes, row.notes.verification) });
  }
  return streamError(asked.failure);
}

/** DELETE /tenants/:id/streams: at the transmitter, then here. `force` (the tenant is being
 *  deleted): here whatever the transmitter answers. */
export async function removeManagedStream(io: StreamIo, transmitter: TransmitterPolicy | null, options: { force: boolean }):
  Promise<StreamOutcome<{ atTransmitter: CallFailure | null }>> {
  const row = io.store.read();
  if (row === null) return refusal('unknown_stream', 'no stream to delete');
  let failure: CallFailure | null = null;
  if (row.phase === 'ready' && row.streamId !== null) {
    failure = transmitter === null ? { status: null, note: 'the tenant no longer names this transmitter' }
      : await deleteAtTransmitter(io, transmitter, row.streamId);
  }
  if (failure !== null && !options.force) return streamError(failure);
  io.store.remove();
  await io.schedule(null);
  return { ok: true, value: { atTransmitter: failure } };
}

async function deleteAtTransmitter(io: StreamIo, transmitter: TransmitterPolicy, streamId: string): Promise<CallFailure | null> {
  const metadata = await io.metadata(transmitter.issuer);
  if (!metadata.ok) return metadata.failure;
  const authorization = await managementAuthorization(transmitter, io.tokens, io.rules, io.now);
  if (!authorization.ok) return authorization.failure;
  const deleted = await deleteStream(metadata.value, authorization.value, streamId, io.rules);
  return deleted.ok ? null : deleted.failure;
}

/** A push from this transmitter: with a push stream of the edge's, its Authorization header must
 *  be the one the edge gave the transmitter (compared in constant time); then what the SET says
 *  is noted. Without one, nothing is required (a stream made by hand, or none). */
export async function admitPush(io: StreamIo, authorization: string | null, observation: SetObservation):
  Promise<'authorized' | 'refused' | 'no_stream'> {
  const row = io.store.read();
  if (row === null || row.phase !== 'ready' || row.delivery !== 'push') return 'no_stream';
  const secret = await io.pushSecret(row);
  // A secret that no longer opens (SECRETS_KEY lost) admits nothing: fail closed.
  if (secret === null || !(await sameText(authorization ?? '', `Bearer ${secret}`))) return 'refused';
  noteSet(io, observation);
  return 'authorized';
}

/** The stream's record after a SET arrived on it (pushed or polled): the last event, a
 *  verification with the state asked for, a newer stream-updated status. Synchronous: read and
 *  written with nothing in between. */
export function noteSet(io: StreamIo, observation: SetObservation): void {
  const row = io.store.read();
  if (row === null) return;
  const at = Math.floor(io.now() / 1000);
  let notes: StreamNotes = { ...row.notes, lastEvent: { at, jti: observation.jti } };
  for (const signal of observation.signals) {
    if (signal.kind === 'verification') {
      const asked = notes.verification;
      if (asked !== undefined && asked.receivedAt === null && signal.state === asked.state) {
        notes = withVerification(notes, { ...asked, receivedAt: at });
      }
      continue;
    }
    // A stream-updated about this stream, no older than the one noted (a replay changes nothing).
    const ours = signal.streamId === null || signal.streamId === row.streamId;
    if (ours && (notes.statusUpdate?.iat ?? -Infinity) <= observation.issuedAt) {
      notes = { ...notes, statusUpdate: { status: signal.status, reason: signal.reason, at, iat: observation.issuedAt } };
    }
  }
  io.store.write({ ...row, notes });
}

function withVerification(notes: StreamNotes, verification: StreamNotes['verification']): StreamNotes {
  const { verification: _, ...rest } = notes;
  return verification === undefined ? rest : { ...rest, verification };
}

/** The poll endpoint_url of a created stream, when the URL rules allow it (it receives the
 *  management credential). */
function pollEndpointOf(configuration: Record<string, unknown>, rules: TransmitterRules): string | null {
  const delivery = configuration.delivery;
  if (typeof delivery !== 'object' || delivery === null) return null;
  const url = (delivery as Record<string, unknown>).endpoint_url;
  return typeof url === 'string' && issuerUrl(url, rules.allowInsecure) !== null ? url : null;
}

/** A configuration as the admin API shows it: the authorization_header as {"set": true}, and any
 *  other string holding the secret replaced (a transmitter may echo it anywhere). */
function redacted(configuration: Record<string, unknown>, secret: string | null): Record<string, unknown> {
  const walk = (value: unknown, key: string | null): unknown => {
    if (key === 'authorization_header') return { set: true };
    if (typeof value === 'string') return secret !== null && value.includes(secret) ? '[redacted]' : value;
    if (Array.isArray(value)) return value.map((item) => walk(item, null));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, walk(item, name)]));
    }
    return value;
  };
  return walk(configuration, null) as Record<string, unknown>;
}

/** Where a push stream's secret opens: this tenant, this transmitter, this endpoint. */
export const pushSecretAad = (tenantId: string, issuer: string, endpoint: string): string =>
  secretAad(tenantId, {
    pointer: '#ssf-stream/authorization_header', owner: `transmitter ${issuer} push authorization`, destination: endpoint,
  });

/** Where a management access token opens: this tenant, this transmitter, this client. */
export const tokenAad = (tenantId: string, issuer: string, key: string): string =>
  secretAad(tenantId, { pointer: '#ssf-stream/access_token', owner: `transmitter ${issuer} management token`, destination: key });

/** Equal texts, compared in constant time (their hashes, so the length leaks nothing either). */
async function sameText(given: string, expected: string): Promise<boolean> {
  const digest = (text: string) => crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}
