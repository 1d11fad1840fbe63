// A tenant as the request path uses it: the stored config compiled once per load (routes,
// issuer allowlists, audience sets, CORS), so nothing re-validates config per request.
//
//   const tenant = compileTenant(parsed.config);
//   tenant.issuers.get(payload.iss)    // IssuerPolicy or undefined (never chosen by anything else)
//   matchRoute(tenant.routes, 'GET', path)   // the routes that apply, or the default policy
//   tenant.revocation.versionClaim?.read(payload)   // claim names compiled once (top-level or JSON Pointer)
//   tenant.introspection?.introspection.clientSecret?.reveal()   // the one issuer taking opaque tokens
//   tenant.edgeKey?.signingKey                                    // private_key_jwt's key, imported once
//
// Write-only values arrive opened: a config given in code holds them as written; a stored
// record's are opened first (tenants/secrets.ts openSecrets) and passed in.
import { ALGORITHMS, type Algorithm } from '../config/algorithms';
import { compileClaimName, type ClaimReader } from '../config/claim-names';
import {
  DEFAULTS, pointerOf, secretSlots, type ClientAuth, type CorsConfig, type EventsConfig, type IntrospectionConfig,
  type ProofOfPossession, type TenantConfig, type TransmitterConfig,
} from '../config/schema';
import type { KeyDiscovery, KeySetPolicy } from '../keys/key-source';
import { compileRoutes, type RouteTable } from '../policy/routes';
import { writeOnly, type WriteOnly } from '../secrets/write-only';
import { edgeKeyJwks, type EdgeKey } from './edge-key';

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
  /** RFC 7662: how this issuer's opaque tokens are checked; null: its tokens are JWTs only. */
  readonly introspection: IntrospectionPolicy | null;
}

/** An issuer's `introspection` block, defaults applied. */
export interface IntrospectionPolicy {
  /** null: the introspection_endpoint of the issuer's discovery document. */
  readonly endpoint: string | null;
  readonly clientId: string;
  readonly clientAuth: ClientAuth;
  /** For client_secret_basic and client_secret_post; null with private_key_jwt (the tenant's
   *  edge key signs: Tenant.edgeKey). */
  readonly clientSecret: WriteOnly | null;
  /** "opaque": tokens that are not JWTs; "all": this issuer's JWTs too. */
  readonly tokens: 'opaque' | 'all';
  readonly cacheSeconds: number;
  readonly inactiveCacheSeconds: number;
}

/** How the edge authenticates to a transmitter's stream management API (SSF 1.0 §8). */
export type ManagementPolicy =
  | { readonly kind: 'bearer'; readonly bearerToken: WriteOnly }
  | {
    readonly kind: 'client_credentials';
    /** null: the token endpoint of the transmitter's discovery. */
    readonly tokenEndpoint: string | null;
    readonly clientId: string;
    readonly clientSecret: WriteOnly;
    readonly scope: string;
  };

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
  /** RFC 8935 push to /_edge/ssf, or RFC 8936 poll every pollSeconds (null for push). */
  readonly delivery: 'push' | 'poll';
  readonly pollSeconds: number | null;
  /** The claim an `email` or `phone_number` subject is matched against; null: such subjects
   *  change nothing. */
  readonly subjectClaims: { readonly email: ClaimReader | null; readonly phone_number: ClaimReader | null };
  /** null: the edge does not manage a stream at this transmitter. */
  readonly management: ManagementPolicy | null;
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
    /** Every (format, claim) the tenant's SSF transmitters name for `email` and `phone_number`
     *  subjects, once each: the claims checked against revoked claim values. */
    readonly claimSubjects: readonly { readonly format: 'email' | 'phone_number'; readonly claim: ClaimReader }[];
  };
  /** RFC 9449 proofs on this tenant, defaults applied: DPoP-bound tokens are honoured on every
   *  tenant, with or without a `dpop` block. */
  readonly dpop: DpopPolicy;
  /** Every issuer's algorithms, in ALGORITHMS order: `algs` of a DPoP challenge when no issuer is
   *  known yet, and the metadata's dpop_signing_alg_values_supported. */
  readonly dpopAlgorithms: readonly Algorithm[];
  /** null: no `events` block, so the event paths are ordinary routes. */
  readonly events: CompiledEvents | null;
  /** The one issuer whose introspection takes opaque tokens (the schema allows one), or null:
   *  an opaque token is then malformed. */
  readonly introspection: (IssuerPolicy & { readonly introspection: IntrospectionPolicy }) | null;
  /** The tenant's edge key (its public key set, and its private key when it signs); null for a
   *  tenant created without SECRETS_KEY, or given in code. */
  readonly edgeKey: EdgeKey | null;
}

/** A stored record's write-only values, opened (tenants/secrets.ts openSecrets): the plaintext by
 *  JSON Pointer, and the edge key's private key when an issuer signs with it. */
export interface OpenedSecrets {
  readonly values: ReadonlyMap<string, string>;
  readonly signingKey: CryptoKey | null;
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

/** `opened` holds a stored record's secrets; without it, each secret must be written as itself
 *  (a config given in code). A secret neither written nor opened is a bug: it throws. */
export function compileTenant(config: TenantConfig, opened?: OpenedSecrets): Tenant {
  const secrets = secretsOf(config, opened);
  const secretAt = (...path: (string | number)[]): WriteOnly | null => secrets.get(pointerOf(path)) ?? null;
  const issuers = new Map(config.issuers.map((i, index) => [i.issuer, {
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
      introspection: i.introspection && compileIntrospection(i.introspection, secretAt('issuers', index, 'introspection', 'clientSecret')),
    } satisfies IssuerPolicy]));
  const introspecting = [...issuers.values()].find((issuer) => issuer.introspection !== null);
  return {
    id: config.id,
    config,
    issuers,
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
      claimSubjects: claimSubjectsOf(config.events),
    },
    dpop: config.dpop ?? DEFAULTS.dpop,
    dpopAlgorithms: ALGORITHMS.filter((alg) => config.issuers.some((i) => i.algorithms.includes(alg))),
    events: config.events && compileEvents(config.events, secretAt),
    introspection: introspecting === undefined ? null : introspecting as IssuerPolicy & { introspection: IntrospectionPolicy },
    edgeKey: config.edgeKey === undefined ? null
      : { kid: config.edgeKey.kid, jwks: edgeKeyJwks(config.edgeKey), signingKey: opened?.signingKey ?? null },
  };
}

/** Every secret of the config by pointer: as written, or as opened. */
function secretsOf(config: TenantConfig, opened: OpenedSecrets | undefined): Map<string, WriteOnly> {
  const secrets = new Map<string, WriteOnly>();
  for (const slot of secretSlots(config)) {
    const value = typeof slot.value === 'string' ? slot.value : opened?.values.get(slot.pointer);
    if (value === undefined) throw new Error(`the secret at ${slot.pointer} was not opened`);
    secrets.set(slot.pointer, writeOnly(value));
  }
  return secrets;
}

function compileIntrospection(block: IntrospectionConfig, clientSecret: WriteOnly | null): IntrospectionPolicy {
  return {
    endpoint: block.endpoint,
    clientId: block.clientId,
    clientAuth: block.clientAuth,
    clientSecret: block.clientAuth === 'private_key_jwt' ? null : clientSecret,
    tokens: block.tokens,
    cacheSeconds: block.cacheSeconds,
    inactiveCacheSeconds: block.inactiveCacheSeconds,
  };
}

type SecretAt = (...path: (string | number)[]) => WriteOnly | null;

function compileEvents(events: EventsConfig, secretAt: SecretAt): CompiledEvents {
  return {
    backchannelLogout: events.backchannelLogout && { audiences: new Set(events.backchannelLogout.audiences) },
    transmitters: new Map(events.ssf.map((t, index) => [t.issuer, {
      issuer: t.issuer,
      jwksUri: t.jwksUri,
      discovery: 'ssf' as const,
      keySetId: keySetIdOf(t.issuer, t.jwksUri, 'ssf'),
      audience: t.audience,
      algorithms: TRANSMITTER_ALGORITHMS,
      clockToleranceSeconds: DEFAULTS.clockToleranceSeconds,
      delivery: t.delivery,
      pollSeconds: t.pollSeconds,
      subjectClaims: { email: readerOf(t.subjectClaims.email), phone_number: readerOf(t.subjectClaims.phone_number) },
      management: compileManagement(t.management, (field) => secretAt('events', 'ssf', index, 'management', field)),
    } satisfies TransmitterPolicy])),
  };
}

function compileManagement(management: TransmitterConfig['management'], secretAt: (field: string) => WriteOnly | null):
  ManagementPolicy | null {
  if (management === null) return null;
  if ('bearerToken' in management) return { kind: 'bearer', bearerToken: secretAt('bearerToken')! };
  return {
    kind: 'client_credentials', tokenEndpoint: management.tokenEndpoint, clientId: management.clientId,
    clientSecret: secretAt('clientSecret')!, scope: management.scope,
  };
}

const readerOf = (name: string | null): ClaimReader | null => (name === null ? null : compileClaimName(name));

/** The claims named for claim subjects by any transmitter, each (format, name) once: a tenant
 *  whose transmitters name different claims checks each, each against its own entries. */
function claimSubjectsOf(events: EventsConfig | null): Tenant['revocation']['claimSubjects'] {
  const seen = new Map<string, { format: 'email' | 'phone_number'; claim: ClaimReader }>();
  for (const transmitter of events?.ssf ?? []) {
    for (const format of ['email', 'phone_number'] as const) {
      const name = transmitter.subjectClaims[format];
      const key = JSON.stringify([format, name]);
      if (name !== null && !seen.has(key)) seen.set(key, { format, claim: compileClaimName(name) });
    }
  }
  return [...seen.values()];
}

const ALWAYS_ALLOWED_HEADERS = ['authorization', 'dpop'] as const;

function compileCors(cors: CorsConfig): CompiledCors {
  return {
    anyOrigin: cors.allowOrigins.includes('*'),
    origins: new Set(cors.allowOrigins.filter((origin) => origin !== '*')),
    allowMethods: cors.allowMethods.join(', '),
    // The request headers a token arrives in, whatever the list says (a preflight the edge
    // answers must not keep a browser from sending them).
    allowHeaders: [...new Set([...cors.allowHeaders, ...ALWAYS_ALLOWED_HEADERS])].join(', '),
    maxAgeSeconds: cors.maxAgeSeconds,
  };
}
