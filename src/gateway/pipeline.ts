// The ordered pipeline for one request on a tenant host (SPEC.md "Request outcomes"):
// tenant, status, CORS preflight, perIp limit, route, credentials, verification, revocation,
// scopes, perSubject limit, forward. Each step is one line and an early return; every end
// goes through Decision, which answers, logs once, and adds the CORS headers.
//
//   const gateway = createGateway({ now: () => t });      // once per isolate: caches live here
//   const response = await gateway.fetch(request, env, ctx, new URL(request.url));
import { systemClock, type Clock } from '../clock';
import type { Denial } from '../denial';
import type { Env } from '../env';
import { createKeyTiers } from '../keys/tiers';
import { missingScopes } from '../policy/scopes';
import { hasEncodedSeparator } from '../policy/routes';
import { normalizeRequestHost } from '../tenants/hosts';
import { createTenantStore } from '../tenants/store';
import type { Tenant } from '../tenants/tenant';
import { extractBearer } from '../verify/extract';
import { verifyToken } from '../verify/token';
import { corsHeaders, isPreflight, preflightResponse } from './cors';
import { originRequest, type Identity } from './forward';
import { logDecision, sampleRateOf, type DecisionRecord } from './log';
import { isMetadataPath, metadataResponse } from './metadata';
import { denialResponse, statusOf } from './respond';

export interface GatewayOptions {
  now?: Clock;
  /** For log sampling. */
  random?: () => number;
}

export interface Gateway {
  fetch(request: Request, env: Env, ctx: ExecutionContext, url: URL): Promise<Response>;
}

export function createGateway(options: GatewayOptions = {}): Gateway {
  const now = options.now ?? systemClock;
  const random = options.random ?? Math.random;
  const tenants = createTenantStore({ now });
  const keyTiers = createKeyTiers({ now });

  async function decide(request: Request, env: Env, ctx: ExecutionContext, d: Decision): Promise<Response> {
    const resolved = await d.timed('tenant', tenants.resolve(d.host, { kv: env.TENANTS, cacheSeconds: Number(env.TENANT_CACHE_SECONDS) || 30 }));
    if (!resolved.ok) return d.deny(resolved.denial);
    const { tenant } = resolved.value;
    d.record.tenant = tenant.id;
    d.record.tiers.tenant = resolved.value.cached ? 'memory' : 'kv';
    const resource = tenant.resource ?? `https://${d.host}`;
    if (isMetadataPath(d.url.pathname) && (request.method === 'GET' || request.method === 'HEAD')) {
      return d.answer('metadata', metadataResponse(tenant, resource, d.requestId));
    }

    const origin = request.headers.get('origin');
    d.cors = corsHeaders(tenant.cors, origin);
    if (isPreflight(request)) {
      if (tenant.cors === null) return forward(request, env, tenant, null, 'preflight', d);
      const answer = preflightResponse(tenant.cors, origin, d.requestId);
      return answer ? d.answer('preflight', answer) : d.deny({ error: 'origin_not_allowed' });
    }

    if (hasEncodedSeparator(d.url.pathname)) {
      return d.deny({ error: 'invalid_request', description: 'The path holds an encoded slash, backslash or NUL.' });
    }
    const route = tenant.routes.match(request.method, d.url.pathname);
    d.record.route = route.path;
    if (route.auth === 'none') return forward(request, env, tenant, null, 'public', d);

    const credentials = extractBearer(request, d.url);
    if (!credentials.ok) return d.deny(credentials.denial);
    if (credentials.value === null) return d.deny({ error: 'missing_token' });

    const keys = keyTiers.source({
      issuerKeys: env.ISSUER_KEYS,
      cache: caches.default,
      waitUntil: (promise) => ctx.waitUntil(promise),
      allowInsecure: env.ALLOW_INSECURE_ISSUERS === 'true',
    });
    const verified = await d.timed('verify', verifyToken(credentials.value, { id: tenant.id, issuers: tenant.issuers, resource }, { now, keys }));
    if (!verified.ok) return d.deny(verified.denial);
    const token = verified.value;
    d.record.issuer = token.issuer.issuer;
    d.record.kid = token.kid;
    d.record.tiers.keys = token.keyTier;

    if (missingScopes(route, token.scopes).length > 0) return d.deny({ error: 'insufficient_scope', needed: route.scopes });

    const identity: Identity = {
      tenant: tenant.id, issuer: token.issuer.issuer, subject: token.subject, clientId: token.clientId,
      scopes: token.scopes, claims: token.claims,
    };
    return forward(request, env, tenant, identity, 'allowed', d);
  }

  async function forward(request: Request, env: Env, tenant: Tenant, identity: Identity | null,
    outcome: 'allowed' | 'public' | 'preflight', d: Decision): Promise<Response> {
    let response: Response;
    try {
      response = await d.timed('origin', fetch(originRequest(request, d.url, tenant, identity, d.requestId)));
    } catch (error) {
      return d.deny({ error: 'upstream_unavailable', note: noteOf(error) });
    }
    return d.answer(outcome, response, env.DEBUG_TIMING === 'true');
  }

  return {
    async fetch(request, env, ctx, url) {
      const d = new Decision(request, url, now);
      try {
        const response = await decide(request, env, ctx, d);
        d.log(sampleRateOf(env.LOG_SAMPLE_RATE), random);
        return response;
      } catch (error) {
        // Thrown only by bugs and broken bindings (a KV or object call that fails outright).
        const response = d.deny({ error: 'internal_error', note: noteOf(error) });
        d.log(1, random);
        return response;
      }
    },
  };
}

/** One request's decision: its identifiers, its log record, and the two ways it ends. */
class Decision {
  readonly url: URL;
  readonly host: string;
  readonly requestId: string;
  readonly record: DecisionRecord;
  cors: Headers | null = null;
  readonly #now: Clock;
  readonly #started: number;

  constructor(request: Request, url: URL, now: Clock) {
    this.url = url;
    this.host = normalizeRequestHost(url);
    this.requestId = request.headers.get('cf-ray') ?? crypto.randomUUID();
    this.record = { requestId: this.requestId, host: this.host, outcome: 'denied', tiers: {}, ms: {} };
    this.#now = now;
    this.#started = now();
  }

  async timed<T>(step: string, work: Promise<T>): Promise<T> {
    const start = this.#now();
    try {
      return await work;
    } finally {
      this.record.ms[step] = this.#now() - start;
    }
  }

  deny(denial: Denial): Response {
    this.record.outcome = 'denied';
    this.record.status = statusOf(denial);
    this.record.error = denial.error;
    if (denial.error === 'invalid_token') this.record.reason = denial.reason;
    if ('note' in denial && denial.note !== undefined) this.record.note = denial.note;
    return denialResponse(denial, { host: this.host, requestId: this.requestId, headers: this.cors });
  }

  /** Passes a response through, adding only CORS for an allowed origin and, when asked, Server-Timing. */
  answer(outcome: DecisionRecord['outcome'], response: Response, serverTiming = false): Response {
    this.record.outcome = outcome;
    this.record.status = response.status;
    if ((this.cors === null && !serverTiming) || response.webSocket) return response;
    const headers = new Headers(response.headers);
    if (this.cors !== null) {
      headers.set('access-control-allow-origin', this.cors.get('access-control-allow-origin')!);
      headers.append('vary', 'Origin');
    }
    if (serverTiming) {
      headers.append('server-timing', Object.entries(this.record.ms).map(([step, ms]) => `${step};dur=${ms}`).join(', '));
    }
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }

  log(sampleRate: number, random: () => number): void {
    this.record.ms.total = this.#now() - this.#started;
    logDecision(this.record, { sampleRate, random });
  }
}

/** A token-free description of a thrown error, for the log only. */
function noteOf(error: unknown): string {
  return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 200);
}
