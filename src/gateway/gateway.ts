// The gateway door: a request on a tenant host is resolved to its tenant through KV, decided by
// the HTTP pipeline, and forwarded to the tenant's origin with the verified identity.
//
//   const gateway = createGateway(createPipeline({ now }), { random: Math.random });
//   const response = await gateway.fetch(request, env, ctx, new URL(request.url));
import type { Env } from '../env';
import { normalizeRequestHost } from '../tenants/hosts';
import { tenantCacheSecondsOf } from '../tenants/store';
import type { Tenant } from '../tenants/tenant';
import { noteOf } from '../denial';
import { Decision } from './decision';
import { originRequest, type Identity } from './forward';
import { decideHttp } from './http';
import { sampleRateOf } from './log';
import { ioOf, type Pipeline } from './pipeline';

export interface Gateway {
  fetch(request: Request, env: Env, ctx: ExecutionContext, url: URL): Promise<Response>;
}

export function createGateway(pipeline: Pipeline, options: { random: () => number }): Gateway {
  async function decide(request: Request, env: Env, ctx: ExecutionContext, url: URL, d: Decision): Promise<Response> {
    const resolving = pipeline.resolveTenant(d.host, env.TENANTS, tenantCacheSecondsOf(env.TENANT_CACHE_SECONDS), d);
    const resolved = resolving instanceof Promise ? await resolving : resolving;
    if (!resolved.ok) return d.deny(resolved.denial);
    const { tenant } = resolved.value;
    const decided = await decideHttp(pipeline, tenant, request, url, ioOf(env, (promise) => ctx.waitUntil(promise)), d);
    if (decided.kind === 'answer') return decided.response;
    return forward(request, url, env, tenant, decided.identity, decided.outcome, d);
  }

  async function forward(request: Request, url: URL, env: Env, tenant: Tenant, identity: Identity | null,
    outcome: 'allowed' | 'public' | 'preflight', d: Decision): Promise<Response> {
    let response: Response;
    try {
      response = await d.timed('origin', fetch(originRequest(request, url, tenant, identity, d.requestId)));
    } catch (error) {
      return d.deny({ error: 'upstream_unavailable', note: noteOf(error) });
    }
    return d.answer(outcome, response, env.DEBUG_TIMING === 'true');
  }

  return {
    async fetch(request, env, ctx, url) {
      const d = new Decision({ host: normalizeRequestHost(url), requestId: request.headers.get('cf-ray') ?? crypto.randomUUID(), now: pipeline.now });
      try {
        const response = await decide(request, env, ctx, url, d);
        d.log(sampleRateOf(env.LOG_SAMPLE_RATE), options.random);
        return response;
      } catch (error) {
        // Thrown only by bugs and broken bindings (a KV or object call that fails outright).
        const response = d.deny({ error: 'internal_error', note: noteOf(error) });
        d.log(1, options.random);
        return response;
      }
    },
  };
}
