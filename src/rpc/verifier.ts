// The RPC door (README.md "Other ways in"): other Workers call the same pipeline through a service
// binding, without forwarding: `verify` decides, `tenantState` tells first-party issuers the
// tokenVersion to mint.
//
//   # consumer wrangler.toml
//   services = [{ binding = "VERIFIER", service = "edge-token-verifier", entrypoint = "Verifier" }]
//   const result = await env.VERIFIER.verify({ host: 'api.acme.com', token, method: 'GET', path: '/orders' });
//   if (!result.ok) return new Response(result.error, { status: result.status });
import { WorkerEntrypoint } from 'cloudflare:workers';
import { deny, ok, type Denial, type DpopReason, type Reason } from '../base/denial';
import { normalizeRequestHost } from '../config/hosts';
import { isTenantId } from '../config/schema';
import { settingsOf } from '../config/settings';
import type { Env } from '../env';
import { statusOf } from '../http/respond';
import { decide } from '../pipeline/decide';
import { ioOf } from '../pipeline/io';
import { workerIsolate, type Isolate } from '../pipeline/isolate';
import { finishDecision } from '../pipeline/record';
import type { TenantLookup } from '../pipeline/request';
import { certificateOfRpc } from '../possession/certificate';
import { tenantStateStub, type TenantStateSummary } from '../revocation/tenant-state';
import { directoryStub } from '../tenants/directory';
import { credentialsOfCaller, schemeOf, type Scheme } from '../verify/extract';

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
  /** "Bearer" (default) or "DPoP" (case-insensitive): the scheme the token came with. */
  readonly scheme?: string;
  /** The DPoP proof (RFC 9449), for scheme "DPoP". */
  readonly dpop?: string;
  /** The URL the client addressed, which the proof's htu names; default https://<host><path>. */
  readonly url?: string;
  /** The SHA-256 fingerprint of the client certificate the caller verified (64 hex digits, or
   *  43 base64url characters), for certificate-bound tokens (RFC 8705). */
  readonly clientCertSha256?: string;
}

/** A verified claim's value as RPC types can carry it: workers-types drops a result member
 *  holding `unknown`, and a recursive JSON type makes its mapping too deep; nested values are
 *  plain objects and arrays. */
export type ClaimValue = string | number | boolean | null | object;

export type VerifyResult =
  | {
    ok: true; tenant: string; subject: string | null; clientId: string | null; scopes: string[]; claims: { [claim: string]: ClaimValue };
    /** How the token was sender-constrained (x-auth-pop at the gateway); null for a bearer token. */
    pop: 'dpop' | 'mtls' | null;
    /** On a tenant with dpop.nonce: the nonce the client's next proof carries (its DPoP-Nonce). */
    dpop_nonce?: string;
  }
  | {
    ok: false; status: number; error: Denial['error']; reason?: Reason | DpopReason; retryAfterSeconds?: number;
    /** use_dpop_nonce and every DPoP refusal on a tenant with nonces: the nonce to put in the next proof. */
    dpop_nonce?: string;
    /** insufficient_user_authentication (RFC 9470): the acr values (space-separated) and max age to ask the provider for. */
    acr_values?: string; max_age?: number;
  };

/** One verification through the pipeline: tenant, status, perIp, route, credentials, verify,
 *  revocation, scopes, perSubject. Never throws on hostile input. */
export async function verifyThroughPipeline(isolate: Isolate, input: VerifyRequest, env: Env, ctx: ExecutionContext,
  options: { random?: () => number } = {}): Promise<VerifyResult> {
  const settings = settingsOf(env);
  const parsed = parseRequest(input);
  const decided = await decide(isolate, {
    host: parsed?.host ?? '',
    requestId: crypto.randomUUID(),
    method: parsed?.method ?? 'GET',
    // A caller names the one method it will run the request as.
    methodOverrides: [],
    pathname: parsed?.pathname ?? null,
    credentials: parsed === null ? ok(null) : credentialsOfCaller(parsed.scheme, parsed.token),
    proof: parsed?.dpop ?? null,
    url: parsed?.url ?? null,
    certificate: parsed?.certificate ?? null,
    clientIp: parsed?.clientIp ?? null,
    http: null,
    // Off-shape arguments are refused at the first step, before anything is read.
    tenants: parsed === null ? MALFORMED : { kv: env.TENANTS, cacheSeconds: settings.tenantCacheSeconds, secrets: settings.secrets },
  }, ioOf(env, settings, (promise) => ctx.waitUntil(promise)));
  const { verdict } = decided;
  const logged = { sampleRate: settings.logSampleRate, random: options.random ?? Math.random, startedAt: decided.startedAt };

  if (verdict.kind === 'refused') {
    const { denial } = verdict;
    finishDecision(decided.record, { outcome: 'denied', status: statusOf(denial), denial }, { ...logged, now: isolate.now() });
    return {
      ok: false, status: statusOf(denial), error: denial.error,
      ...(denial.error === 'invalid_token' || denial.error === 'invalid_dpop_proof' ? { reason: denial.reason } : {}),
      ...(decided.dpopNonce !== null ? { dpop_nonce: decided.dpopNonce } : {}),
      ...('retryAfterSeconds' in denial ? { retryAfterSeconds: denial.retryAfterSeconds } : {}),
      // RFC 9470: what the caller sends the user back to the provider with.
      ...(denial.error === 'insufficient_user_authentication' && denial.acrValues !== null
        ? { acr_values: denial.acrValues.join(' ') } : {}),
      ...(denial.error === 'insufficient_user_authentication' && denial.maxAge !== null ? { max_age: denial.maxAge } : {}),
    };
  }
  // RPC has no metadata or preflight: what passes is a decision on the token.
  const identity = verdict.kind === 'passed' ? verdict.identity : null;
  finishDecision(decided.record, { outcome: identity === null ? 'public' : 'allowed', status: 200 }, { ...logged, now: isolate.now() });
  if (identity === null) {
    return { ok: true, tenant: decided.record.tenant ?? '', subject: null, clientId: null, scopes: [], claims: {}, pop: null };
  }
  return {
    ok: true, tenant: identity.tenant, subject: identity.subject, clientId: identity.clientId,
    scopes: [...identity.scopes], claims: { ...identity.claims } as { [claim: string]: ClaimValue }, pop: identity.pop,
    ...(decided.dpopNonce !== null ? { dpop_nonce: decided.dpopNonce } : {}),
  };
}

const MALFORMED: TenantLookup = {
  find: async () => deny({
    error: 'invalid_request',
    description: 'host and token must be strings; path must start with "/"; scheme is Bearer or DPoP; '
      + 'clientCertSha256 is a SHA-256 fingerprint.',
  }),
};

interface ParsedRequest {
  host: string; token: string; method: string; pathname: string | null; clientIp: string | null;
  scheme: Scheme; dpop: string | null; url: string; certificate: string | null;
}

/** RPC arguments are untrusted data: anything off-shape is refused, never thrown on. */
function parseRequest(input: VerifyRequest): ParsedRequest | null {
  if (typeof input !== 'object' || input === null) return null;
  const { host, token, method, path, clientIp, dpop, url: addressed, clientCertSha256 } = input;
  if (typeof host !== 'string' || typeof token !== 'string') return null;
  const scheme = input.scheme === undefined ? 'bearer' : typeof input.scheme === 'string' ? schemeOf(input.scheme) : null;
  if (scheme === null) return null;
  if (dpop !== undefined && typeof dpop !== 'string') return null;
  if (addressed !== undefined && typeof addressed !== 'string') return null;
  const certificate = clientCertSha256 === undefined ? null : certificateOfRpc(clientCertSha256);
  if (clientCertSha256 !== undefined && certificate === null) return null;
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
      scheme, dpop: dpop ?? null, url: addressed ?? url.href, certificate,
    };
  } catch {
    return null;
  }
}

export class Verifier extends WorkerEntrypoint<Env> {
  verify(input: VerifyRequest): Promise<VerifyResult> {
    return verifyThroughPipeline(workerIsolate(), input, this.env, this.ctx);
  }

  /** The tenant's status and tokenVersion (for first-party issuers that mint versionClaim),
   *  or null for a tenant that does not exist. */
  async tenantState(tenantId: string): Promise<TenantStateSummary | null> {
    if (!isTenantId(tenantId)) return null;
    const directory = directoryStub(this.env.DIRECTORY);
    if (!(await directory.exists(tenantId))) return null;
    return tenantStateStub(this.env.TENANT_STATE, tenantId).summary();
  }
}
