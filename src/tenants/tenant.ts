// A tenant as the request path uses it: the stored config compiled once per load (routes,
// issuer allowlists, audience sets, CORS), so nothing re-validates config per request.
//
//   const tenant = compileTenant(parsed.config);
//   tenant.issuers.get(payload.iss)    // IssuerPolicy or undefined (never chosen by anything else)
//   tenant.routes.match('GET', path)   // the routes that apply, or the default policy
//   tenant.revocation.versionClaim?.read(payload)   // claim names compiled once (top-level or JSON Pointer)
import type { KeyDiscovery, KeySetPolicy } from '../keys/key-source';
import { compileRoutes, type RouteTable } from '../policy/routes';
import { compileClaimName, type ClaimReader } from '../verify/claim-names';
import { ALGORITHMS, DEFAULTS, type Algorithm, type CorsConfig, type EventsConfig, type ProofOfPossession, type TenantConfig } from './schema';

export interface IssuerPolicy extends KeySetPolicy {
  readonly issuer: string;
  readonly jwksUri: string | null;
  readonly discovery: 'oidc';
  readonly audiences: ReadonlySet<string>;
  readonly audienceClaim: string;
  readonly algorithms: ReadonlySet<Algorithm>;
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number | null;
  /** The tenant's revocation.retainSeconds: no token older than the memory of revocations
   *  (verify/times.ts). */
  readonly retainSeconds: number;
  readonly requiredType: string | null;
  /** Read in order, their scopes united (verify/claims.ts). */
  readonly scopeClaims: readonly ClaimReader[];
  readonly clientIdClaims: readonly string[];
  /** The binding this issuer's tokens must carry; bound tokens are held to theirs whatever it says. */
  readonly proofOfPossession: ProofOfPossession;
  /** Names this issuer's key set in every key tier (memory, Cache API, IssuerKeys object). */
  readonly keySetId: string;
}

/** An SSF transmitter (docs/events.md): its SETs are verified with its own key set,
 *  found through its ssf-configuration unless jwksUri is set, under the same key tiers as issuers. */
export interface TransmitterPolicy extends KeySetPolicy {
  readonly issuer: string;
  readonly jwksUri: string | null;
  readonly discovery: 'ssf';
  readonly keySetId: string;
  /** The `aud` a SET must contain. */
  readonly audience: string;
  /** Every asymmetric algorithm (never none or HMAC). */
  readonly algorithms: ReadonlySet<Algorithm>;
  readonly clockToleranceSeconds: number;
}

/** The tenant's `events` block, compiled: null parts accept nothing. */
export interface CompiledEvents {
  /** The `aud` values a logout token may carry (one must be present); null: none accepted. */
  readonly backchannelLogout: { readonly audiences: ReadonlySet<string> } | null;
  /** By issuer (`iss` chooses the transmitter, nothing else does). */
  readonly transmitters: ReadonlyMap<string, TransmitterPolicy>;
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
    /** How long revocations are remembered; tokens older than that are too_old. */
    readonly retainSeconds: number;
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
  /** null: no `events` block, so the event paths are ordinary routes. */
  readonly events: CompiledEvents | null;
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

/** The key-set name: one per (issuer, explicit JWKS URI) pair; a transmitter that discovers its
 *  keys gets a name of its own ("ssf " cannot start a URL), since its discovery document may name
 *  another JWKS than the same URL's OpenID configuration does. */
export const keySetIdOf = (issuer: string, jwksUri: string | null, discovery: KeyDiscovery = 'oidc'): string =>
  jwksUri !== null ? `${issuer} ${jwksUri}` : discovery === 'ssf' ? `ssf ${issuer}` : issuer;

const TRANSMITTER_ALGORITHMS: ReadonlySet<Algorithm> = new Set(ALGORITHMS);

export function compileTenant(config: TenantConfig): Tenant {
  return {
    id: config.id,
    config,
    issuers: new Map(config.issuers.map((i) => [i.issuer, {
      issuer: i.issuer,
      jwksUri: i.jwksUri,
      discovery: 'oidc' as const,
      audiences: new Set(i.audiences),
      audienceClaim: i.audienceClaim,
      algorithms: new Set(i.algorithms),
      clockToleranceSeconds: i.clockToleranceSeconds,
      maxTokenAgeSeconds: i.maxTokenAgeSeconds,
      retainSeconds: config.revocation.retainSeconds,
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
      retainSeconds: config.revocation.retainSeconds,
    },
    dpop: config.dpop ?? DEFAULTS.dpop,
    challengesDpop: config.dpop !== null || config.issuers.some((i) => i.proofOfPossession !== 'optional'),
    dpopAlgorithms: ALGORITHMS.filter((alg) => config.issuers.some((i) => i.algorithms.includes(alg))),
    events: config.events && compileEvents(config.events),
  };
}

function compileEvents(events: EventsConfig): CompiledEvents {
  return {
    backchannelLogout: events.backchannelLogout && { audiences: new Set(events.backchannelLogout.audiences) },
    transmitters: new Map(events.ssf.map((t) => [t.issuer, {
      issuer: t.issuer,
      jwksUri: t.jwksUri,
      discovery: 'ssf' as const,
      keySetId: keySetIdOf(t.issuer, t.jwksUri, 'ssf'),
      audience: t.audience,
      algorithms: TRANSMITTER_ALGORITHMS,
      clockToleranceSeconds: DEFAULTS.clockToleranceSeconds,
    }])),
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
