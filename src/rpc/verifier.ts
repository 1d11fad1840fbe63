// The RPC door (SPEC.md "Other ways in"): other Workers call the same pipeline through a service
// binding, without forwarding: `verify` decides, `tenantState` tells first-party issuers the
// tokenVersion to mint.
//
//   # consumer wrangler.toml
//   services = [{ binding = "VERIFIER", service = "edge-token-verifier", entrypoint = "Verifier" }]
//   const result = await env.VERIFIER.verify({ host: 'api.acme.com', token, method: 'GET', path: '/orders' });
//   if (!result.ok) return new Response(result.error, { status: result.status });
import { WorkerEntrypoint } from 'cloudflare:workers';
import { deny, ok, type Denial, type Reason } from '../denial';
import type { Env } from '../env';
import { finishDecision, type DecisionEnd } from '../gateway/log';
import { ioOf, type Pipeline, type TenantLookup } from '../gateway/pipeline';
import { statusOf } from '../gateway/respond';
import { settingsOf } from '../settings';
import { isolatePipeline } from '../isolate';
import { tenantStateStub, type TenantStateSummary } from '../state/tenant-state';
import { DIRECTORY_NAME } from '../tenants/kv-keys';
import { normalizeRequestHost } from '../tenants/hosts';

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
  | {
    ok: false; status: number; error: Denial['error']; reason?: Reason; retryAfterSeconds?: number;
    /** insufficient_user_authentication (RFC 9470): the acr values (space-separated) and max age to ask the provider for. */
    acr_values?: string; max_age?: number;
  };

/** One verification through the pipeline: tenant, status, perIp, route, credentials, verify,
 *  revocation, scopes, perSubject. Never throws on hostile input. */
export async function verifyThroughPipeline(pipeline: Pipeline, input: VerifyRequest, env: Env, ctx: ExecutionContext,
  options: { random?: () => number } = {}): Promise<VerifyResult> {
  const settings = settingsOf(env);
  const parsed = parseRequest(input);
  const decided = await pipeline.decide({
    host: parsed?.host ?? '',
    requestId: crypto.randomUUID(),
    method: parsed?.method ?? 'GET',
    pathname: parsed?.pathname ?? null,
    credentials: ok(parsed === null || parsed.token === '' ? null : parsed.token),
    clientIp: parsed?.clientIp ?? null,
    http: null,
    // Off-shape arguments are refused at the first step, before anything is read.
    tenants: parsed === null ? MALFORMED : { kv: env.TENANTS, cacheSeconds: settings.tenantCacheSeconds },
  }, ioOf(env, settings, (promise) => ctx.waitUntil(promise)));
  const { verdict } = decided;
  const finish = (end: DecisionEnd) => finishDecision(decided.log, end, { sampleRate: settings.logSampleRate, random: options.random ?? Math.random, now: pipeline.now() });

  if (verdict.kind === 'refused') {
    const { denial } = verdict;
    finish({ outcome: 'denied', status: statusOf(denial), denial });
    return {
      ok: false, status: statusOf(denial), error: denial.error,
      ...(denial.error === 'invalid_token' ? { reason: denial.reason } : {}),
      ...('retryAfterSeconds' in denial ? { retryAfterSeconds: denial.retryAfterSeconds } : {}),
      // RFC 9470: what the caller sends the user back to the provider with.
      ...(denial.error === 'insufficient_user_authentication' && denial.acrValues !== null ? { acr_values: denial.acrValues.join(' ') } : {}),
      ...(denial.error === 'insufficient_user_authentication' && denial.maxAge !== null ? { max_age: denial.maxAge } : {}),
    };
  }
  // RPC has no metadata or preflight: what passes is a decision on the token.
  const identity = verdict.kind === 'passed' ? verdict.identity : null;
  finish({ outcome: identity === null ? 'public' : 'allowed', status: 200 });
  if (identity === null) return { ok: true, tenant: decided.log.tenant ?? '', subject: null, clientId: null, scopes: [], claims: {} };
  return {
    ok: true, tenant: identity.tenant, subject: identity.subject, clientId: identity.clientId,
    scopes: [...identity.scopes], claims: { ...identity.claims } as { [claim: string]: ClaimValue },
  };
}

const MALFORMED: TenantLookup = {
  find: async () => deny({ error: 'invalid_request', description: 'host and token must be strings; path must start with "/".' }),
};

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
