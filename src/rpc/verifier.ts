// The RPC door (SPEC.md "Other ways in"): other Workers call the same pipeline through a service
// binding, without forwarding: `verify` decides, `tenantState` tells first-party issuers the
// tokenVersion to mint.
//
//   # consumer wrangler.toml
//   services = [{ binding = "VERIFIER", service = "edge-token-verifier", entrypoint = "Verifier" }]
//   const result = await env.VERIFIER.verify({ host: 'api.acme.com', token, method: 'GET', path: '/orders' });
//   if (!result.ok) return new Response(result.error, { status: result.status });
import { WorkerEntrypoint } from 'cloudflare:workers';
import { noteOf, ok, type Denial, type Reason } from '../denial';
import type { Env } from '../env';
import { Decision } from '../gateway/decision';
import { sampleRateOf } from '../gateway/log';
import { ioOf, type Pipeline } from '../gateway/pipeline';
import { statusOf } from '../gateway/respond';
import { isolatePipeline } from '../isolate';
import { tenantStateStub, type TenantStateSummary } from '../state/tenant-state';
import { DIRECTORY_NAME } from '../tenants/kv-keys';
import { normalizeRequestHost } from '../tenants/hosts';
import { tenantCacheSecondsOf } from '../tenants/store';

export interface VerifyRequest {
  /** The tenant host the token is presented for. */
  readonly host: string;
  /** The bearer token alone, without "Bearer ". */
  readonly token: string;
  readonly method?: string;
  /** Path (and query) of the protected request; without it the default policy applies. */
  readonly path?: string;
  /** The caller's address: the perIp limit applies only when given. */
  readonly clientIp?: string;
}

/** A verified claim's value as RPC types can carry it: workers-types drops a result member
 *  holding `unknown`, and a recursive JSON type makes its mapping too deep; nested values are
 *  plain objects and arrays. */
export type ClaimValue = string | number | boolean | null | object;

export type VerifyResult =
  | { ok: true; tenant: string; subject: string | null; clientId: string | null; scopes: string[]; claims: { [claim: string]: ClaimValue } }
  | { ok: false; status: number; error: Denial['error']; reason?: Reason; retryAfterSeconds?: number };

/** One verification through the pipeline: tenant, status, perIp, route, credentials, verify,
 *  revocation, scopes, perSubject. Never throws on hostile input. */
export async function verifyThroughPipeline(pipeline: Pipeline, input: VerifyRequest, env: Env, ctx: ExecutionContext): Promise<VerifyResult> {
  const parsed = parseRequest(input);
  const d = new Decision({ host: parsed?.host ?? '', requestId: crypto.randomUUID(), now: pipeline.now });
  const refuse = (denial: Denial): VerifyResult => {
    d.refuse(denial);
    return {
      ok: false, status: statusOf(denial), error: denial.error,
      ...(denial.error === 'invalid_token' ? { reason: denial.reason } : {}),
      ...('retryAfterSeconds' in denial ? { retryAfterSeconds: denial.retryAfterSeconds } : {}),
    };
  };
  let result: VerifyResult;
  try {
    result = parsed === null
      ? refuse({ error: 'invalid_request', description: 'host and token must be strings; path must start with "/".' })
      : await decide(pipeline, parsed, env, ctx, d, refuse);
  } catch (error) {
    result = refuse({ error: 'internal_error', note: noteOf(error) });
  }
  d.log(result.ok ? sampleRateOf(env.LOG_SAMPLE_RATE) : 1, Math.random);
  return result;
}

async function decide(pipeline: Pipeline, input: ParsedRequest, env: Env, ctx: ExecutionContext, d: Decision,
  refuse: (denial: Denial) => VerifyResult): Promise<VerifyResult> {
  const resolved = await pipeline.resolveTenant(input.host, env.TENANTS, tenantCacheSecondsOf(env.TENANT_CACHE_SECONDS), d);
  if (!resolved.ok) return refuse(resolved.denial);
  const { tenant } = resolved.value;
  const io = ioOf(env, (promise) => ctx.waitUntil(promise));
  const admitted = await pipeline.admit(tenant, io, d);
  if (!admitted.ok) return refuse(admitted.denial);
  const ip = await pipeline.limitIp(tenant, input.clientIp, io, d);
  if (!ip.ok) return refuse(ip.denial);
  const authorized = await pipeline.authorize(tenant, {
    method: input.method,
    pathname: input.pathname,
    credentials: ok(input.token === '' ? null : input.token),
    resource: tenant.resource ?? `https://${input.host}`,
  }, admitted.value, io, d);
  if (!authorized.ok) return refuse(authorized.denial);
  const identity = authorized.value.identity;
  d.record.outcome = identity === null ? 'public' : 'allowed';
  if (identity === null) return { ok: true, tenant: tenant.id, subject: null, clientId: null, scopes: [], claims: {} };
  return {
    ok: true, tenant: identity.tenant, subject: identity.subject, clientId: identity.clientId,
    scopes: [...identity.scopes], claims: { ...identity.claims } as { [claim: string]: ClaimValue },
  };
}

interface ParsedRequest { host: string; token: string; method: string; pathname: string | null; clientIp: string | null }

/** RPC arguments are untrusted data: anything off-shape is refused, never thrown on. */
function parseRequest(input: VerifyRequest): ParsedRequest | null {
  if (typeof input !== 'object' || input === null) return null;
  const { host, token, method, path, clientIp } = input;
  if (typeof host !== 'string' || typeof token !== 'string') return null;
  if (method !== undefined && (typeof method !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(method))) return null;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) return null;
  if (clientIp !== undefined && typeof clientIp !== 'string') return null;
  // A host is a name (and maybe a port), nothing that would move the URL elsewhere.
  if (host === '' || /[/?#@\\\s]/.test(host)) return null;
  try {
    // Parsed as the request URL the HTTP doors would see, so routes match the same way.
    const url = new URL(`https://${host}${path ?? '/'}`);
    return {
      host: normalizeRequestHost(url), token, method: (method ?? 'GET').toUpperCase(),
      pathname: path === undefined ? null : url.pathname, clientIp: clientIp ?? null,
    };
  } catch {
    return null;
  }
}

export class Verifier extends WorkerEntrypoint<Env> {
  verify(input: VerifyRequest): Promise<VerifyResult> {
    return verifyThroughPipeline(isolatePipeline, input, this.env, this.ctx);
  }

  /** The tenant's status and tokenVersion (for first-party issuers that mint versionClaim),
   *  or null for a tenant that does not exist. */
  async tenantState(tenantId: string): Promise<TenantStateSummary | null> {
    if (typeof tenantId !== 'string' || !/^[a-z0-9-]{1,63}$/.test(tenantId)) return null;
    const directory = this.env.DIRECTORY.get(this.env.DIRECTORY.idFromName(DIRECTORY_NAME));
    if (!(await directory.exists(tenantId))) return null;
    return tenantStateStub(this.env.TENANT_STATE, tenantId).summary();
  }
}
