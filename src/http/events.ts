// The revocation-event endpoints on the HTTP door (docs/events.md): when decide() answers
// { kind: 'event', tenant, channel } (after the tenant, status and perIp steps), the request goes
// to that channel's receiver (events/), verified with the tenant's issuers' or transmitters' keys
// through the isolate's key tiers and applied by the tenant's state object; a push from a
// transmitter the edge manages a stream at is admitted by that stream's object (SSF_STREAMS).
// The receiver's own answer (RFC 8935, OIDC Back-Channel Logout) goes back with the request id.
//
//   if (verdict.kind === 'event') return eventResponse(verdict, c.req.raw, requestId, isolate, io, env.SSF_STREAMS ?? null);
import { handleBackchannelLogout } from '../events/backchannel-logout';
import { revocationSinkOf } from '../events/sink';
import { handleSsfPush, type StreamAdmission } from '../events/ssf';
import { ssfStreamStub, type SsfStream } from '../events/ssf-stream';
import { OBJECT_DEADLINE_MS, withDeadline } from '../base/deadline';
import type { Verdict } from '../pipeline/verdict';
import type { PipelineIo } from '../pipeline/io';
import type { Isolate } from '../pipeline/isolate';
import { tenantStateStub } from '../revocation/tenant-state';

export async function eventResponse(verdict: Extract<Verdict, { kind: 'event' }>, request: Request, requestId: string,
  isolate: Isolate, io: PipelineIo, ssfStreams: DurableObjectNamespace<SsfStream> | null): Promise<Response> {
  const { tenant } = verdict;
  // decide() answers an event only where TenantState is bound: the events are applied there.
  if (io.tenantState === null) throw new Error('a revocation event without a TenantState binding');
  const deps = { now: isolate.now, keys: isolate.keyTiers.source(io), sink: revocationSinkOf(tenantStateStub(io.tenantState, tenant.id)) };
  const answer = verdict.channel === 'ssf' ? await handleSsfPush(request, tenant, { ...deps, streams: streamsOf(ssfStreams, tenant.id) })
    : await handleBackchannelLogout(request, tenant, deps);
  const response = new Response(answer.body, answer);
  response.headers.set('x-request-id', requestId);
  return response;
}

/** A tenant's stream objects, under the deadline of every object call on the request path. */
function streamsOf(namespace: DurableObjectNamespace<SsfStream> | null, tenantId: string): StreamAdmission | null {
  if (namespace === null) return null;
  return {
    admitPush: (issuer, authorization, observation) => {
      const call = ssfStreamStub(namespace, tenantId, issuer).admitPush({ tenantId, issuer, authorization, observation });
      return withDeadline(call, OBJECT_DEADLINE_MS, 'SsfStream');
    },
  };
}
