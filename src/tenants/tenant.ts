// A tenant as the request path uses it: the stored config compiled once per load (routes,
// issuer allowlists, audience sets, CORS), so nothing re-validates config per request.
//
//   const tenant = compileTenant(parsed.config);
//   tenant.issuers.get(payload.iss)    // IssuerPolicy or undefined (never chosen by anything else)
//   tenant.routes.match('GET', path)   // the routes that apply, or the default policy
//   tenant.revocation.versionClaim?.read(payload)   // claim names compiled once (top-level or JSON Pointer)
import { compileRoutes, type RouteTable } from '../policy/routes';
import { compileClaimName, type ClaimReader } from '../verify/claim-names';
import { ALGORITHMS, DEFAULTS, type Algorithm, type CorsConfig, type ProofOfPossession, type TenantConfig } from './schema';

export interface IssuerPolicy {
  readonly issuer: string;
  readonly jwksUri: string | null;
  readonly audiences: ReadonlySet<string>;
  readonly audienceClaim: string;
  readonly algorithms: ReadonlySet<Algorithm>;
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number | null;
  readonly requiredType: string | null;
  /** Read in order, their scopes united (verify/claims.ts). */
  readonly scopeClaims: readonly ClaimReader[];
  readonly clientIdClaims: readonly string[];
  /** The binding this issuer's tokens must carry; bound tokens are held to theirs whatever it says. */
  readonly proofOfPossession: ProofOfPossession;
  /** Names this issuer's key set in every key tier (memory, Cache API, IssuerKeys object). */
  readonly keySetId: string;
}

export interface Tenant {
  readonly id: string;
  /** The validated config with defaults applied, as stored (the admin API's and the cron's
   *  view; the request path reads only the compiled members below). */
  readonly config: TenantConfig;
  /** The hosts and wildcards it is stored under. */
  readonly hosts: readonly string[];
  readonly issuers: ReadonlyMap<string, IssuerPolicy>;
  readonly routes: RouteTable;
  /** RFC 8707 resource identifier; null means https://<request host>. */
  readonly resource: string | null;
  readonly cors: CompiledCors | null;
  /** The origin (scheme, host, port) requests are sent to; null: the request's own URL. */
  readonly upstream: string | null;
  readonly claimHeaders: readonly (readonly [claim: ClaimReader, header: string])[];
  readonly stripAuthorization: boolean;
  readonly rateLimit: { readonly perIp: LimitConfig | null; readonly perSubject: LimitConfig | null };
  /** The revocation settings, claim names compiled (null when not configured). */
  readonly revocation: {
    readonly versionClaim: ClaimReader | null;
    readonly tenantClaim: ClaimReader | null;
    readonly maxStalenessSeconds: number;
  };
  /** RFC 9449 proofs on this tenant, defaults applied: DPoP-bound tokens are honoured on every
   *  tenant, with or without a `dpop` block. */
  readonly dpop: DpopPolicy;
  /** Whether its 401s also challenge with DPoP (RFC 9449 §7.1): a `dpop` block, or an issuer
   *  whose proofOfPossession is not "optional". */
  readonly challengesDpop: boolean;
  /** Every issuer's algorithms, in ALGORITHMS order: `algs` of a DPoP challenge when no issuer is
   *  known yet, and the metadata's dpop_signing_alg_values_supported. */
  readonly dpopAlgorithms: readonly Algorithm[];
}

export interface DpopPolicy {
  readonly maxAgeSeconds: number;
  readonly nonce: boolean;
}

export interface LimitConfig { readonly limit: number; readonly windowSeconds: number }

export interface CompiledCors {
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly maxAgeSeconds: number;
}

/** The key-set name for an issuer: one per (issuer, explicit JWKS URI) pair. */
export const keySetIdOf = (issuer: string, jwksUri: string | null): string =>
  jwksUri === null ? issuer : `${issuer} ${jwksUri}`;

export function compileTenant(config: TenantConfig): Tenant {
  return {
    id: config.id,
    config,
    issuers: new Map(config.issuers.map((i) => [i.issuer, {
      issuer: i.issuer,
      jwksUri: i.jwksUri,
      audiences: new Set(i.audiences),
      audienceClaim: i.audienceClaim,
      algorithms: new Set(i.algorithms),
      clockToleranceSeconds: i.clockToleranceSeconds,
      maxTokenAgeSeconds: i.maxTokenAgeSeconds,
      requiredType: i.requiredType,
      scopeClaims: i.scopeClaims.map(compileClaimName),
      clientIdClaims: i.clientIdClaims,
      proofOfPossession: i.proofOfPossession,
      keySetId: keySetIdOf(i.issuer, i.jwksUri),
    }])),
    routes: compileRoutes(config.routes),
    hosts: config.hosts,
    resource: config.resource,
    cors: config.cors && compileCors(config.cors),
    upstream: config.upstream === null ? null : new URL(config.upstream).origin,
    rateLimit: { perIp: config.rateLimit?.perIp ?? null, perSubject: config.rateLimit?.perSubject ?? null },
    claimHeaders: Object.entries(config.forward.claimHeaders).map(([claim, header]) => [compileClaimName(claim), header] as const),
    stripAuthorization: config.forward.stripAuthorization,
    revocation: {
      versionClaim: readerOf(config.revocation.versionClaim),
      tenantClaim: readerOf(config.revocation.tenantClaim),
      maxStalenessSeconds: config.revocation.maxStalenessSeconds,
    },
    dpop: config.dpop ?? DEFAULTS.dpop,
    challengesDpop: config.dpop !== null || config.issuers.some((i) => i.proofOfPossession !== 'optional'),
    dpopAlgorithms: ALGORITHMS.filter((alg) => config.issuers.some((i) => i.algorithms.includes(alg))),
  };
}

const readerOf = (name: string | null): ClaimReader | null => (name === null ? null : compileClaimName(name));

function compileCors(cors: CorsConfig): CompiledCors {
  return {
    anyOrigin: cors.allowOrigins.includes('*'),
    origins: new Set(cors.allowOrigins.filter((origin) => origin !== '*')),
    allowMethods: cors.allowMethods.join(', '),
    allowHeaders: cors.allowHeaders.join(', '),
    maxAgeSeconds: cors.maxAgeSeconds,
  };
}
