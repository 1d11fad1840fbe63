// The HTTP doors' part of the pipeline, shared by the gateway and the Hono middleware: metadata
// right after the tenant, then status, the CORS preflight, and the shared authorization steps.
// What is left to the door is what to do with a request that passes: forward it, or run the
// user's handler.
//
//   const decided = await decideHttp(pipeline, tenant, request, url, io, d);
//   if (decided.kind === 'answer') return decided.response;   // metadata, preflight, or an error
//   forward(decided.identity) / await next()
import type { Tenant } from '../tenants/tenant';
import { extractBearer } from '../verify/extract';
import { corsFor, isPreflight, preflightResponse } from './cors';
import type { Decision } from './decision';
import type { Identity } from './forward';
import { isMetadataPath, metadataResponse } from './metadata';
import type { Pipeline, PipelineIo } from './pipeline';

export type HttpDecision =
  | { kind: 'answer'; response: Response }
  /** identity null: an auth:none route, or a preflight the origin answers. */
  | { kind: 'pass'; identity: Identity | null; outcome: 'allowed' | 'public' | 'preflight' };

export async function decideHttp(
  pipeline: Pipeline, tenant: Tenant, request: Request, url: URL, io: PipelineIo, d: Decision,
): Promise<HttpDecision> {
  const resource = tenant.resource ?? `https://${d.host}`;
  if (isMetadataPath(url.pathname) && (request.method === 'GET' || request.method === 'HEAD')) {
    return { kind: 'answer', response: d.answer('metadata', metadataResponse(tenant, resource, d.requestId)) };
  }

  const admission = pipeline.admit(tenant, io, d);
  const admitted = admission instanceof Promise ? await admission : admission;
  if (!admitted.ok) return { kind: 'answer', response: d.deny(admitted.denial) };

  const origin = request.headers.get('origin');
  d.cors = corsFor(tenant.cors, origin);
  const ip = await pipeline.limitIp(tenant, request.headers.get('cf-connecting-ip'), io, d);
  if (!ip.ok) return { kind: 'answer', response: d.deny(ip.denial) };
  if (isPreflight(request)) {
    if (tenant.cors === null) return { kind: 'pass', identity: null, outcome: 'preflight' };
    const answer = preflightResponse(tenant.cors, origin, d.requestId);
    return { kind: 'answer', response: answer ? d.answer('preflight', answer) : d.deny({ error: 'origin_not_allowed' }) };
  }

  const authorized = await pipeline.authorize(tenant, {
    method: request.method,
    pathname: url.pathname,
    credentials: extractBearer(request, url),
    resource,
  }, admitted.value, io, d);
  if (!authorized.ok) return { kind: 'answer', response: d.deny(authorized.denial) };
  const { identity } = authorized.value;
  return { kind: 'pass', identity, outcome: identity === null ? 'public' : 'allowed' };
}
