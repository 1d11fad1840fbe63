// The admin API's Shared Signals streams (docs/admin-api.md "Streams", SSF 1.0 §8): the edge's
// stream at each transmitter of a tenant that has `management`, kept by one SsfStream object per
// (tenant, transmitter), which makes every call to the transmitter. The tenant's config comes from
// the Directory (strongly consistent), so a transmitter just added can be used at once.
//
//   admin.post('/tenants/:id/streams', ...)          // {"issuer": I} -> 201 the configuration (authorization_header {"set": true})
//   admin.get('/tenants/:id/streams', ...)           // 200 { streams: [{ issuer, streamId, configuration, status, lastEvent, ... }] }
//   admin.post('/tenants/:id/streams/verify', ...)   // {"issuer": I} -> 202 { requestedAt }
//   admin.delete('/tenants/:id/streams', ...)        // ?issuer=I -> 204
//   // 400 invalid_request, 404 unknown_tenant | unknown_stream, 409 stream_exists, 502 stream_error { transmitter }
import { noteOf } from '../base/denial';
import { isTenantId, type TenantConfig } from '../config/schema';
import type { Env } from '../env';
import { ssfStreamStub, type StreamCall } from '../events/ssf-stream';
import type { CallFailure } from '../events/stream-client';
import type { StreamOutcome, StreamView } from '../events/stream-management';
import { directoryStub } from '../tenants/directory';
import { adminError } from './answer';
import { readJsonBody } from './json-body';
import type { AdminCall } from './answer';

const JSON_HEADERS = { 'content-type': 'application/json' };
/** Longer than any issuer URL the schema takes. */
const MAX_ISSUER_LENGTH = 2048;

export async function createTenantStream(request: Request, id: string, call: AdminCall): Promise<Response> {
  const issuer = await issuerOfBody(request);
  if (typeof issuer !== 'string') return issuer;
  const stream = await streamCall(id, issuer, call);
  if (stream instanceof Response) return stream;
  // Cast: RPC types cannot express the configuration's JSON (unknown members), so they drop it.
  const created = await ssfStreamStub(call.env.SSF_STREAMS, id, issuer).create(stream) as StreamOutcome<Record<string, unknown>>;
  if (!created.ok) return refused(created);
  audit(call, { action: 'stream.create', tenant: id, issuer, streamId: created.value.stream_id });
  return json(201, created.value);
}

export async function listTenantStreams(id: string, call: AdminCall): Promise<Response> {
  const record = await recordOf(id, call);
  if (record === null) return adminError('unknown_tenant', `no tenant ${id}`);
  const managed = managedIssuers(record.config);
  const streams = await Promise.all(managed.map(async (issuer) => {
    const view = await ssfStreamStub(call.env.SSF_STREAMS, id, issuer).describe({ tenantId: id, issuer, record: record.json }) as
      StreamOutcome<StreamView>;
    return view.ok ? view.value : { issuer, error: view.refusal.error, error_description: view.refusal.description };
  }));
  return json(200, { streams });
}

export async function verifyTenantStream(request: Request, id: string, call: AdminCall): Promise<Response> {
  const issuer = await issuerOfBody(request);
  if (typeof issuer !== 'string') return issuer;
  const stream = await streamCall(id, issuer, call);
  if (stream instanceof Response) return stream;
  const asked = await ssfStreamStub(call.env.SSF_STREAMS, id, issuer).verify(stream);
  if (!asked.ok) return refused(asked);
  audit(call, { action: 'stream.verify', tenant: id, issuer });
  return json(202, asked.value);
}

export async function deleteTenantStream(request: Request, id: string, call: AdminCall): Promise<Response> {
  const issuers = new URL(request.url).searchParams.getAll('issuer');
  if (issuers.length !== 1 || issuers[0] === '' || issuers[0]!.length > MAX_ISSUER_LENGTH) {
    return adminError('invalid_request', 'name the transmitter once: ?issuer=<its issuer>');
  }
  const issuer = issuers[0]!;
  const stream = await streamCall(id, issuer, call, { transmitterMayBeGone: true });
  if (stream instanceof Response) return stream;
  const removed = await ssfStreamStub(call.env.SSF_STREAMS, id, issuer).remove({ ...stream, force: false });
  if (!removed.ok) return refused(removed);
  audit(call, { action: 'stream.delete', tenant: id, issuer });
  return new Response(null, { status: 204 });
}

/** A deleted tenant's streams, deleted at their transmitters and here: best effort, each
 *  logged, never failing the deletion. */
export async function deleteTenantStreams(env: Env, config: TenantConfig): Promise<void> {
  const record = JSON.stringify(config);
  await Promise.all(managedIssuers(config).map(async (issuer) => {
    try {
      const stub = ssfStreamStub(env.SSF_STREAMS, config.id, issuer);
      const removed = await stub.remove({ tenantId: config.id, issuer, record, force: true }) as
        StreamOutcome<{ atTransmitter: CallFailure | null }>;
      if (!removed.ok) return; // no stream there
      const failure = removed.value.atTransmitter;
      console.log(JSON.stringify({
        event: 'ssf_stream_deleted', tenant: config.id, issuer,
        atTransmitter: failure === null ? 'deleted' : `not deleted: ${failure.note}`,
      }));
    } catch (error) {
      console.log(JSON.stringify({ event: 'ssf_stream_delete_failed', tenant: config.id, issuer, note: noteOf(error) }));
    }
  }));
}

/** The transmitters the edge may manage a stream at. */
function managedIssuers(config: TenantConfig): string[] {
  return (config.events?.ssf ?? []).filter((transmitter) => transmitter.management !== null).map((transmitter) => transmitter.issuer);
}

async function recordOf(id: string, call: AdminCall): Promise<{ json: string; config: TenantConfig } | null> {
  const record = isTenantId(id) ? await directoryStub(call.env.DIRECTORY).recordOf(id) : null;
  return record === null ? null : { json: record.json, config: JSON.parse(record.json) as TenantConfig };
}

/** The call for the tenant's stream at `issuer`, or the refusal: no tenant, no such transmitter
 *  (unless it may be gone from the config: a stream can still be forgotten), no management. */
async function streamCall(id: string, issuer: string, call: AdminCall, options: { transmitterMayBeGone?: boolean } = {}):
  Promise<StreamCall | Response> {
  const record = await recordOf(id, call);
  if (record === null) return adminError('unknown_tenant', `no tenant ${id}`);
  const transmitter = record.config.events?.ssf.find((t) => t.issuer === issuer);
  if (transmitter === undefined && options.transmitterMayBeGone !== true) {
    return adminError('invalid_request', `the tenant has no SSF transmitter ${issuer}`);
  }
  if (transmitter !== undefined && transmitter.management === null) {
    return adminError('invalid_request', `the transmitter ${issuer} has no management block: the edge cannot manage its stream`);
  }
  return { tenantId: id, issuer, record: record.json };
}

/** `{"issuer": "<a transmitter's issuer>"}` and nothing else. */
async function issuerOfBody(request: Request): Promise<string | Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return adminError(body.error, body.description);
  const value = body.value;
  const shape = 'the body must be {"issuer": "<the transmitter\'s issuer>"}';
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).join() !== 'issuer') {
    return adminError('invalid_request', shape);
  }
  const { issuer } = value as { issuer: unknown };
  return typeof issuer === 'string' && issuer !== '' && issuer.length <= MAX_ISSUER_LENGTH ? issuer : adminError('invalid_request', shape);
}

function refused(outcome: Extract<StreamOutcome<unknown>, { ok: false }>): Response {
  const { refusal } = outcome;
  return refusal.error === 'stream_error'
    ? adminError('stream_error', refusal.description, { transmitter: refusal.transmitter })
    : adminError(refusal.error, refusal.description);
}

function json(status: number, body: unknown): Response {
  return new Response(`${JSON.stringify(body)}\n`, { status, headers: JSON_HEADERS });
}

function audit(call: AdminCall, what: Record<string, unknown>): void {
  console.log(JSON.stringify({ event: 'audit', at: new Date(call.now()).toISOString(), who: call.who, ...what }));
}
