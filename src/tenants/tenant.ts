// A tenant as the request path uses it: the stored config compiled once per load (routes,
// issuer allowlists, audience sets, CORS), so nothing re-validates config per request.
//
//   const tenant = compileTenant(parsed.config);
//   tenant.issuers.get(payload.iss)    // IssuerPolicy or undefined (never chosen by anything else)
//   tenant.routes.match('GET', path)   // the routes that apply, or the default policy
import { compileRoutes, type RouteTable } from '../policy/routes';
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
  readonly scopeClaims: readonly string[];
  readonly clientIdClaims: readonly string[];
  /** The binding this issuer's tokens must carry; bound tokens are held to theirs whatever it says. */
  readonly proofOfPossession: ProofOfPossession;
  /** Names this issuer's key set in every key tier (memory, Cache API, IssuerKeys object). */
  readonly keySetId: string;
}

export interface Tenant {
  readonly id: string;
  /** The validated config with defaults applied, as stored. */
  readonly config: TenantConfig;
  readonly issuers: ReadonlyMap<string, IssuerPolicy>;
  readonly routes: RouteTable;
  /** RFC 8707 resource identifier; null means https://<request host>. */
  readonly resource: string | null;
  readonly cors: CompiledCors | null;
  readonly upstream: string | null;
  readonly claimHeaders: readonly (readonly [claim: string, header: string])[];
  readonly stripAuthorization: boolean;
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
      scopeClaims: i.scopeClaims,
      clientIdClaims: i.clientIdClaims,
      proofOfPossession: i.proofOfPossession,
      keySetId: keySetIdOf(i.issuer, i.jwksUri),
    }])),
    routes: compileRoutes(config.routes),
    resource: config.resource,
    cors: config.cors && compileCors(config.cors),
    upstream: config.upstream,
    claimHeaders: Object.entries(config.forward.claimHeaders),
    stripAuthorization: config.forward.stripAuthorization,
    dpop: config.dpop ?? DEFAULTS.dpop,
    challengesDpop: config.dpop !== null || config.issuers.some((i) => i.proofOfPossession !== 'optional'),
    dpopAlgorithms: ALGORITHMS.filter((alg) => config.issuers.some((i) => i.algorithms.includes(alg))),
  };
}

function compileCors(cors: CorsConfig): CompiledCors {
  return {
    anyOrigin: cors.allowOrigins.includes('*'),
    origins: new Set(cors.allowOrigins.filter((origin) => origin !== '*')),
    allowMethods: cors.allowMethods.join(', '),
    allowHeaders: cors.allowHeaders.join(', '),
    maxAgeSeconds: cors.maxAgeSeconds,
  };
}
