// The tenant configuration schema (docs/configuration.md): the single source of the
// config type and of every default. Validated on every admin write and on every KV read.
//
//   const parsed = parseTenantConfig(json);
//   if (!parsed.ok) return parsed.issues;   // [{ path: '/issuers/0/issuer', message }]
//   parsed.config.issuers[0].algorithms;    // defaults applied
import * as v from 'valibot';
import { isSealed, type Sealed } from '../secrets/sealed';
import { ALGORITHMS, type Algorithm } from './algorithms';
import { isClaimName } from './claim-names';
import { normalizeHostPattern } from './hosts';
import { isScopeToken } from './scope-token';
import { isStoredEdgeKey, type StoredEdgeKey } from './stored-edge-key';

/** A tenant id: what names its Durable Objects and KV keys (and what the admin API's paths take). */
export const TENANT_ID = /^[a-z0-9-]{1,63}$/;
export const isTenantId = (value: unknown): value is string => typeof value === 'string' && TENANT_ID.test(value);

/** What an issuer's tokens must be bound to (docs/dpop.md): "optional"
 *  accepts bearer tokens and holds bound ones to their binding. */
export const PROOFS_OF_POSSESSION = ['optional', 'dpop', 'mtls', 'dpop-or-mtls'] as const;
export type ProofOfPossession = (typeof PROOFS_OF_POSSESSION)[number];

export const DEFAULTS = {
  algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'] as Algorithm[],
  audienceClaim: 'aud',
  clockToleranceSeconds: 30,
  scopeClaims: ['scope', 'scp', 'permissions'],
  clientIdClaims: ['azp', 'client_id', 'cid', 'appid'],
  corsMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  corsHeaders: ['authorization', 'content-type'],
  corsMaxAgeSeconds: 600,
  maxStalenessSeconds: 5,
  /** How long revocations are remembered, and so the oldest token a tenant accepts. */
  retainSeconds: 86_400,
  failuresBeforeHold: 3,
  proofOfPossession: 'optional',
  /** RFC 9449 proofs: how old a proof's iat may be, and whether the edge issues nonces. */
  dpop: { maxAgeSeconds: 300, nonce: false },
  /** RFC 7662 introspection of opaque tokens (docs/configuration.md "Introspection"). */
  introspection: { clientAuth: 'client_secret_basic', tokens: 'opaque', cacheSeconds: 60, inactiveCacheSeconds: 5 },
  /** An SSF transmitter (docs/configuration.md "Revocation events"). */
  ssf: {
    delivery: 'push', pollSeconds: 30, managementScope: 'ssf.manage ssf.read',
    subjectClaims: { email: 'email', phone_number: 'phone_number' },
  },
} as const;

/** How the edge authenticates to an introspection endpoint (RFC 7662 §2.1, RFC 7523). */
export const CLIENT_AUTHS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ClientAuth = (typeof CLIENT_AUTHS)[number];

/** The range of revocation.retainSeconds: five minutes to 30 days. */
export const RETAIN_SECONDS = { min: 300, max: 2_592_000 } as const;

/** The reserved identity headers; configured claim headers may not reuse them. */
export const IDENTITY_HEADERS = [
  'x-auth-tenant', 'x-auth-subject', 'x-auth-issuer', 'x-auth-scopes', 'x-auth-client-id',
  'x-auth-claims', 'x-auth-claims-omitted', 'x-auth-pop',
] as const;

// Every check below is total: valibot runs a pipe's later checks after an earlier one failed,
// so a check that parses must never throw on what the earlier one refused.
/** The URL, or null for anything the WHATWG parser refuses. */
const urlOf = (s: string, base?: string): URL | null => { try { return new URL(s, base); } catch { return null; } };

const isLoopbackHttp = (url: URL) =>
  url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);

/** https, or http on loopback (only usable when ALLOW_INSECURE_ISSUERS is "true"). */
const IssuerUrl = v.pipe(
  v.string(),
  v.url('must be an absolute URL'),
  v.check((s) => { const u = urlOf(s); return u === null || u.protocol === 'https:' || isLoopbackHttp(u); },
    'must be https (http only for localhost or 127.0.0.1)'),
);
const originOf = (s: string) => urlOf(s)?.origin ?? null;
const isOrigin = (s: string) => {
  const u = urlOf(s);
  return u === null || ((u.protocol === 'https:' || u.protocol === 'http:') && u.pathname === '/' && !u.search && !u.hash);
};
const NonEmpty = v.pipe(v.string(), v.minLength(1, 'must not be empty'));
/** A top-level claim name only (audienceClaim, clientIdClaims). */
const ClaimName = v.pipe(v.string(), v.minLength(1), v.maxLength(256));
/** A top-level claim name, or, starting with "/", an RFC 6901 JSON Pointer into the payload
 *  (`/realm_access/roles`); `https://acme.com/roles` is a top-level name. Compiled once per
 *  tenant (claim-names.ts). */
const ClaimPath = v.pipe(v.string(), v.maxLength(256),
  v.check(isClaimName, 'a claim name, or a JSON Pointer starting with "/" (RFC 6901: "~" only as "~0" or "~1")'));
/** valibot's record() drops the keys "__proto__", "prototype" and "constructor" without an
 *  issue; a dropped claim condition would open a route, so they are refused instead (a claim of
 *  that name is still reachable as the pointer "/constructor", read as an own member). */
const RESERVED_KEYS = ['__proto__', 'prototype', 'constructor'] as const;
const isObjectLike = (input: unknown) => typeof input === 'object' && input !== null && !Array.isArray(input);
function claimKeyed<T extends v.GenericSchema>(value: T) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isObjectLike, 'must be an object'),
    v.rawCheck(({ dataset, addIssue }) => {
      const input = dataset.value;
      if (!isObjectLike(input)) return;
      for (const key of RESERVED_KEYS) {
        if (Object.hasOwn(input as object, key)) addIssue({ message: `"${key}" is written as the JSON Pointer "/${key}"` });
      }
    }),
    v.record(ClaimPath, value),
  );
}
/** -0 becomes 0, as JSON writes it: a stored config reads back equal. */
const notNegativeZero = v.transform((n: number) => (n === 0 ? 0 : n));
const Seconds = (min: number, max: number) =>
  v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(min), v.maxValue(max), notNegativeZero);
const Token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token

/** A write-only value (docs/configuration.md "Write-only secrets"): the secret itself as written,
 *  `{"set": true}` to keep the stored one (what GET shows), or sealed by SECRETS_KEY (only ever
 *  in a stored record). Which forms a config may hold depends on where it comes from
 *  (parseTenantConfig's `form`). */
export type SecretValue = string | KeepSecret | Sealed;
export interface KeepSecret { readonly set: true }
export const isKeepSecret = (value: unknown): value is KeepSecret =>
  isObjectLike(value) && Object.keys(value as object).length === 1 && (value as KeepSecret).set === true;
/** No message here ever quotes the value: issues are answered and logged. */
const SECRET_SHAPE = 'a secret is a string, or {"set": true} to keep the stored one';
const writeOnly = (pattern: RegExp, message: string) => v.pipe(
  v.custom<SecretValue>((input) => typeof input === 'string' || isKeepSecret(input) || isSealed(input), SECRET_SHAPE),
  v.check((value) => typeof value !== 'string' || pattern.test(value), message),
);
/** RFC 6749 §2.3.1 and Appendix A: a client secret is VSCHARs. */
const ClientSecret = writeOnly(/^[\x20-\x7e]{1,4096}$/, 'a client secret is 1-4096 printable ASCII characters (RFC 6749 §2.3.1)');
/** RFC 6750 §2.1 b64token. */
const BearerToken = writeOnly(/^(?=.{1,4096}$)[A-Za-z0-9\-._~+/]+=*$/,
  'a bearer token is 1-4096 characters of RFC 6750 b64token (letters, digits, "-._~+/", then "=")');
/** RFC 6749 §2.2 and Appendix A: VSCHARs. */
const ClientId = v.pipe(v.string(), v.regex(/^[\x20-\x7e]{1,256}$/, 'a client id is 1-256 printable ASCII characters (RFC 6749 §2.2)'));

/** RFC 7662: how this issuer's opaque tokens (and, with tokens "all", its JWTs) are checked. */
const IntrospectionSchema = v.strictObject({
  endpoint: v.optional(v.nullable(IssuerUrl), null),
  clientId: ClientId,
  clientAuth: v.optional(v.picklist(CLIENT_AUTHS, 'one of "client_secret_basic", "client_secret_post", "private_key_jwt"'),
    DEFAULTS.introspection.clientAuth),
  clientSecret: v.optional(ClientSecret),
  tokens: v.optional(v.picklist(['opaque', 'all'], 'one of "opaque", "all"'), DEFAULTS.introspection.tokens),
  cacheSeconds: v.optional(Seconds(0, 300), DEFAULTS.introspection.cacheSeconds),
  inactiveCacheSeconds: v.optional(Seconds(0, 60), DEFAULTS.introspection.inactiveCacheSeconds),
});

const IssuerSchema = v.strictObject({
  issuer: IssuerUrl,
  jwksUri: v.optional(v.nullable(IssuerUrl), null),
  audiences: v.pipe(v.array(NonEmpty), v.minLength(1, 'at least one audience is required')),
  audienceClaim: v.optional(ClaimName, DEFAULTS.audienceClaim),
  algorithms: v.optional(v.pipe(v.array(v.picklist(ALGORITHMS, 'not an allowed algorithm (never none or HMAC)')), v.minLength(1)),
    () => [...DEFAULTS.algorithms]),
  clockToleranceSeconds: v.optional(Seconds(0, 300), DEFAULTS.clockToleranceSeconds),
  maxTokenAgeSeconds: v.optional(v.nullable(Seconds(1, 31_536_000)), null),
  requiredType: v.optional(v.nullable(NonEmpty), null),
  scopeClaims: v.optional(v.array(ClaimPath), () => [...DEFAULTS.scopeClaims]),
  clientIdClaims: v.optional(v.array(ClaimName), () => [...DEFAULTS.clientIdClaims]),
  proofOfPossession: v.optional(v.picklist(PROOFS_OF_POSSESSION, 'one of "optional", "dpop", "mtls", "dpop-or-mtls"'),
    DEFAULTS.proofOfPossession),
  introspection: v.optional(v.nullable(IntrospectionSchema), null),
});

/** Bounds of a route's conditions (docs/configuration.md). */
export const CONDITION_BOUNDS = {
  claims: 20, acceptedValues: 100, valueLength: 256, acrValues: 20, maxAuthAgeSeconds: 31_536_000,
} as const;
/** An accepted claim value: a JSON string, number or boolean. */
const ClaimValue = v.union([
  v.pipe(v.string(), v.maxLength(CONDITION_BOUNDS.valueLength, `at most ${CONDITION_BOUNDS.valueLength} characters`)),
  v.pipe(v.number(), v.finite(), notNegativeZero),
  v.boolean(),
], `a string (up to ${CONDITION_BOUNDS.valueLength} characters), number or boolean`);
/** An acr value travels in the RFC 9470 challenge's space-separated `acr_values` quoted string:
 *  printable ASCII without spaces (`"` and `\` are escaped there). */
const AcrValue = v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,256}$/, 'an acr value is 1-256 printable ASCII characters without spaces'));

const RouteSchema = v.strictObject({
  path: v.pipe(v.string(), v.regex(/^\/(?:\*|[^?#*]*(?:\/\*)?)$/, 'a path starts with "/" and may end in "/*"'),
    v.check((p) => !/%(?:2f|5c|00)/i.test(p), 'a path may not hold an encoded slash, backslash or NUL')),
  methods: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(Token, 'not an HTTP method'), v.toUpperCase())), v.minLength(1))),
  auth: v.optional(v.picklist(['none', 'required']), 'required'),
  scopes: v.optional(v.array(v.pipe(v.string(), v.check(isScopeToken, 'not a scope token (RFC 6749 §3.3)'))), () => []),
  // Conditions after scopes (policy/conditions.ts): absent when not configured.
  claims: v.optional(v.pipe(
    claimKeyed(v.pipe(v.array(ClaimValue), v.minLength(1, 'at least one accepted value'),
      v.maxLength(CONDITION_BOUNDS.acceptedValues, `at most ${CONDITION_BOUNDS.acceptedValues} accepted values`))),
    v.check((claims) => Object.keys(claims).length <= CONDITION_BOUNDS.claims, `at most ${CONDITION_BOUNDS.claims} claims`),
  )),
  acr: v.optional(v.pipe(v.array(AcrValue), v.minLength(1, 'at least one acr value'),
    v.maxLength(CONDITION_BOUNDS.acrValues, `at most ${CONDITION_BOUNDS.acrValues} acr values`))),
  maxAuthAgeSeconds: v.optional(Seconds(0, CONDITION_BOUNDS.maxAuthAgeSeconds)),
});

const Origin = v.pipe(v.string(), v.check((s) => s === '*' || originOf(s) === s,
  'an origin such as https://app.example.com, or "*"'));

const CorsSchema = v.strictObject({
  allowOrigins: v.pipe(v.array(Origin), v.minLength(1)),
  allowMethods: v.optional(v.array(v.pipe(v.string(), v.regex(Token), v.toUpperCase())), () => [...DEFAULTS.corsMethods]),
  allowHeaders: v.optional(v.array(v.pipe(v.string(), v.regex(Token), v.toLowerCase())), () => [...DEFAULTS.corsHeaders]),
  maxAgeSeconds: v.optional(Seconds(0, 86_400), DEFAULTS.corsMaxAgeSeconds),
});

/** An SSF transmitter's issuer: an issuer URL without query or fragment (SSF 1.0 §7.1). */
const TransmitterIssuer = v.pipe(
  IssuerUrl,
  v.check((s) => { const u = urlOf(s); return u === null || (u.search === '' && u.hash === ''); },
    'a transmitter issuer has no query or fragment'),
);

/** Space-separated scope tokens (RFC 6749 §3.3). */
const ScopeList = v.pipe(v.string(), v.check((s) => s.split(' ').every(isScopeToken),
  'one or more scope tokens separated by single spaces (RFC 6749 §3.3)'));

/** How the edge authenticates to a transmitter's stream management API (SSF 1.0 §8). */
const BearerManagement = v.strictObject({ bearerToken: BearerToken });
const ClientManagement = v.strictObject({
  tokenEndpoint: v.optional(v.nullable(IssuerUrl), null),
  clientId: ClientId,
  clientSecret: ClientSecret,
  scope: v.optional(ScopeList, DEFAULTS.ssf.managementScope),
});
const Management = v.pipe(
  v.custom<Record<string, unknown>>(isObjectLike,
    'management is {"bearerToken"} or {"tokenEndpoint", "clientId", "clientSecret", "scope"}'),
  v.lazy((input) => (isObjectLike(input) && Object.hasOwn(input as object, 'bearerToken') ? BearerManagement : ClientManagement)),
);

const TransmitterSchema = v.pipe(
  v.strictObject({
    issuer: TransmitterIssuer,
    audience: NonEmpty,
    jwksUri: v.optional(v.nullable(IssuerUrl), null),
    delivery: v.optional(v.picklist(['push', 'poll'], 'one of "push", "poll"'), DEFAULTS.ssf.delivery),
    pollSeconds: v.optional(v.nullable(Seconds(10, 300)), null),
    // A format left out (or null) has no claim: such subjects change nothing.
    subjectClaims: v.optional(v.strictObject({
      email: v.optional(v.nullable(ClaimPath), null),
      phone_number: v.optional(v.nullable(ClaimPath), null),
    }), () => ({ ...DEFAULTS.ssf.subjectClaims })),
    management: v.optional(v.nullable(Management), null),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (dataset.typed && dataset.value.delivery === 'push' && dataset.value.pollSeconds !== null) {
      addIssue({ message: 'only with delivery "poll"', path: pathTo(dataset.value, ['pollSeconds']) });
    }
  }),
  // Stored with its interval, so a stored entry reads back equal.
  v.transform((t) => (t.delivery === 'poll' && t.pollSeconds === null ? { ...t, pollSeconds: DEFAULTS.ssf.pollSeconds as number } : t)),
);

/** Revocation events (docs/events.md): who may send them, and to which audience. */
const EventsSchema = v.strictObject({
  backchannelLogout: v.optional(v.nullable(v.strictObject({
    audiences: v.pipe(v.array(NonEmpty), v.minLength(1, 'at least one audience is required'), v.maxLength(20)),
  })), null),
  ssf: v.optional(v.pipe(v.array(TransmitterSchema), v.maxLength(20)), () => []),
});

const Limit = v.strictObject({ limit: Seconds(1, 1_000_000), windowSeconds: Seconds(1, 86_400) });

const HostSchema = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const pattern = normalizeHostPattern(dataset.value);
    if (pattern.ok) return pattern.host;
    addIssue({ message: pattern.message });
    return NEVER;
  }),
);

export const TenantConfigSchema = v.pipe(
  v.strictObject({
    id: v.pipe(v.string(), v.regex(TENANT_ID, 'an id is 1-63 characters of a-z, 0-9 and "-"')),
    hosts: v.pipe(v.array(HostSchema), v.minLength(1, 'at least one host'), v.maxLength(100)),
    issuers: v.pipe(v.array(IssuerSchema), v.minLength(1, 'at least one issuer'), v.maxLength(20)),
    resource: v.optional(v.nullable(v.pipe(v.string(), v.url())), null),
    routes: v.optional(v.pipe(v.array(RouteSchema), v.maxLength(200)),
      () => [{ path: '/*', auth: 'required' as const, scopes: [] as string[] }]),
    cors: v.optional(v.nullable(CorsSchema), null),
    upstream: v.optional(v.nullable(v.pipe(v.string(), v.url(), v.check(isOrigin, 'an http(s) origin without path or query'))), null),
    forward: v.optional(v.strictObject({
      claimHeaders: v.optional(claimKeyed(v.pipe(v.string(), v.toLowerCase(),
        // No "_": CGI-style servers read it as "-", so x-auth-client_id would be x-auth-client-id.
        v.regex(/^x-auth-[!#$%&'*+.^`|~0-9a-z-]+$/, 'a claim header name starts with x-auth- and holds no "_"'),
        v.check((h) => !(IDENTITY_HEADERS as readonly string[]).includes(h), 'reserved identity header'))), () => ({})),
      stripAuthorization: v.optional(v.boolean(), false),
    }), () => ({ claimHeaders: {}, stripAuthorization: false })),
    rateLimit: v.optional(v.nullable(v.strictObject({
      perIp: v.optional(v.nullable(Limit), null),
      perSubject: v.optional(v.nullable(Limit), null),
    })), null),
    revocation: v.optional(v.strictObject({
      versionClaim: v.optional(v.nullable(ClaimPath), null),
      tenantClaim: v.optional(v.nullable(ClaimPath), null),
      maxStalenessSeconds: v.optional(Seconds(0, 300), DEFAULTS.maxStalenessSeconds),
      retainSeconds: v.optional(Seconds(RETAIN_SECONDS.min, RETAIN_SECONDS.max), DEFAULTS.retainSeconds),
    }), () => ({
      versionClaim: null, tenantClaim: null, maxStalenessSeconds: DEFAULTS.maxStalenessSeconds, retainSeconds: DEFAULTS.retainSeconds,
    })),
    dpop: v.optional(v.nullable(v.strictObject({
      maxAgeSeconds: v.optional(Seconds(10, 3600), DEFAULTS.dpop.maxAgeSeconds),
      nonce: v.optional(v.boolean(), DEFAULTS.dpop.nonce),
    })), null),
    events: v.optional(v.nullable(EventsSchema), null),
    dnsCheck: v.optional(v.nullable(v.strictObject({
      type: v.picklist(['CNAME', 'A', 'AAAA']),
      target: NonEmpty,
      failuresBeforeHold: v.optional(Seconds(1, 100), DEFAULTS.failuresBeforeHold),
      mode: v.optional(v.picklist(['enforce', 'report']), 'enforce'),
    })), null),
    // Made by the edge, never written: only a stored record holds one (checked by source below).
    edgeKey: v.optional(v.custom<StoredEdgeKey>(() => true)),
  }),
  // Cross-field rules the field schemas cannot express, each reported at its own path.
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const config = dataset.value;
    const seenHosts = new Set<string>();
    config.hosts.forEach((host, i) => {
      if (seenHosts.has(host)) addIssue({ message: 'listed twice', path: pathOf(config, 'hosts', i) });
      seenHosts.add(host);
    });
    const seenIssuers = new Set<string>();
    config.issuers.forEach((issuer, i) => {
      if (seenIssuers.has(issuer.issuer)) addIssue({ message: 'issuer listed twice', path: pathOf(config, 'issuers', i) });
      seenIssuers.add(issuer.issuer);
    });
    for (const { message, path } of introspectionIssues(config)) addIssue({ message, path: pathTo(config, path) });
    const seenTransmitters = new Set<string>();
    config.events?.ssf.forEach((transmitter, i) => {
      if (seenTransmitters.has(transmitter.issuer)) addIssue({ message: 'transmitter listed twice', path: transmitterPath(config, i) });
      seenTransmitters.add(transmitter.issuer);
    });
    config.routes.forEach((route, i) => {
      if (route.auth === 'none' && route.scopes.length > 0) {
        addIssue({ message: 'a route with auth "none" cannot require scopes', path: pathOf(config, 'routes', i) });
      }
      for (const field of ['claims', 'acr', 'maxAuthAgeSeconds'] as const) {
        if (route.auth === 'none' && route[field] !== undefined) {
          addIssue({ message: `a route with auth "none" cannot require ${field}`, path: pathOf(config, 'routes', i) });
        }
      }
      const base = route.path.endsWith('/*') ? route.path.slice(0, -2) || '/' : route.path;
      if (urlOf(base, 'http://h')?.pathname !== base) {
        addIssue({ message: 'a path must be normalized (no dot segments)', path: pathOf(config, 'routes', i) });
      }
      // A public route matches only the raw path, and a raw path holding ";" or "%" never
      // matches one (docs/configuration.md): such a route could never apply.
      if (route.auth === 'none' && /[;%]/.test(route.path)) {
        addIssue({
          message: 'a route with auth "none" matches only the raw path, which never holds ";" or "%" for it',
          path: pathOf(config, 'routes', i),
        });
      }
    });
  }),
);

export type TenantConfig = v.InferOutput<typeof TenantConfigSchema>;
/** A config as written, before defaults (what the admin API and edgeAuth() accept). */
export type TenantConfigInput = Omit<v.InferInput<typeof TenantConfigSchema>, 'edgeKey'>;
export type IssuerConfig = TenantConfig['issuers'][number];
export type RouteConfig = TenantConfig['routes'][number];
export type CorsConfig = NonNullable<TenantConfig['cors']>;
export type EventsConfig = NonNullable<TenantConfig['events']>;

export type IntrospectionConfig = NonNullable<IssuerConfig['introspection']>;
export type TransmitterConfig = EventsConfig['ssf'][number];

export interface ConfigIssue { path: string; message: string }
export type ParsedConfig = { ok: true; config: TenantConfig } | { ok: false; issues: ConfigIssue[] };

/** Where a config comes from, which says the form its write-only values take:
 *  - `plain`: given in code (edgeAuth): each secret is itself;
 *  - `written`: an admin PUT body: the secret itself, or `{"set": true}` to keep the stored one;
 *  - `stored`: a record read from KV or the Directory: every secret sealed by SECRETS_KEY. */
export type ConfigSource = 'plain' | 'written' | 'stored';

export function parseTenantConfig(input: unknown, source: ConfigSource = 'plain'): ParsedConfig {
  const result = v.safeParse(TenantConfigSchema, input);
  if (!result.success) {
    return { ok: false, issues: result.issues.map((issue) => ({ path: jsonPointer(issue.path), message: issue.message })) };
  }
  const issues = secretFormIssues(result.output, source);
  return issues.length === 0 ? { ok: true, config: result.output } : { ok: false, issues };
}

/** A write-only value of a config, wherever the schema allows one. */
export interface SecretSlot {
  /** The keys leading to it, and the same as an RFC 6901 pointer (`/issuers/0/introspection/clientSecret`). */
  readonly path: readonly (string | number)[];
  readonly pointer: string;
  /** Whose secret it is, stable when issuers or transmitters are reordered. */
  readonly owner: string;
  /** Where it is sent (null: an endpoint found by discovery of the owner's issuer). A kept
   *  secret must still go to the same place, and a sealed one opens only for it. */
  readonly destination: string | null;
  readonly value: SecretValue;
}

/** Every write-only value in the config, in document order. */
export function secretSlots(config: TenantConfig): SecretSlot[] {
  const slots: SecretSlot[] = [];
  const add = (path: (string | number)[], owner: string, destination: string | null, value: SecretValue | undefined) => {
    if (value !== undefined) slots.push({ path, pointer: pointerOf(path), owner, destination, value });
  };
  config.issuers.forEach((issuer, i) => {
    const introspection = issuer.introspection;
    if (introspection === null) return;
    add(['issuers', i, 'introspection', 'clientSecret'], `issuer ${issuer.issuer} introspection clientSecret`,
      introspection.endpoint, introspection.clientSecret);
  });
  config.events?.ssf.forEach((transmitter, i) => {
    const management = transmitter.management;
    if (management === null) return;
    if ('bearerToken' in management) {
      add(['events', 'ssf', i, 'management', 'bearerToken'], `transmitter ${transmitter.issuer} management bearerToken`, null,
        management.bearerToken);
    } else {
      add(['events', 'ssf', i, 'management', 'clientSecret'], `transmitter ${transmitter.issuer} management clientSecret`,
        management.tokenEndpoint, management.clientSecret);
    }
  });
  return slots;
}

function secretFormIssues(config: TenantConfig, source: ConfigSource): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const slot of secretSlots(config)) {
    const form = typeof slot.value === 'string' ? 'plain' : isKeepSecret(slot.value) ? 'keep' : 'sealed';
    const message = SECRET_FORM_REFUSALS[source][form];
    if (message !== null) issues.push({ path: slot.pointer, message });
  }
  if (source === 'stored') {
    if (config.edgeKey !== undefined && !isStoredEdgeKey(config.edgeKey)) {
      issues.push({ path: '/edgeKey', message: 'not an edge key record ({kid, x, y, d} with d sealed)' });
    }
  } else if (Object.hasOwn(config, 'edgeKey')) {
    issues.push({ path: '/edgeKey', message: 'made by the edge when the tenant is created (GET /tenants/:id/jwks); it cannot be written' });
  }
  if (source === 'plain') {
    config.issuers.forEach((issuer, i) => {
      if (issuer.introspection?.clientAuth === 'private_key_jwt') {
        issues.push({
          path: `/issuers/${i}/introspection/clientAuth`,
          message: 'private_key_jwt signs with the edge key of a tenant stored through the admin API',
        });
      }
    });
  }
  return issues;
}

const SECRET_FORM_REFUSALS: Record<ConfigSource, Record<'plain' | 'keep' | 'sealed', string | null>> = {
  plain: {
    plain: null,
    keep: '{"set": true} keeps a secret stored by the admin API: a config given in code holds the secret itself',
    sealed: 'a sealed secret is read only from a stored record: a config given in code holds the secret itself',
  },
  written: { plain: null, keep: null, sealed: 'write the secret itself, or {"set": true} to keep the stored one' },
  stored: {
    plain: 'a stored record holds every secret sealed with SECRETS_KEY, never in plain text',
    keep: 'a stored record holds every secret sealed with SECRETS_KEY',
    sealed: null,
  },
};

/** RFC 6901: "/issuers/0/issuer". */
function jsonPointer(path: readonly { key: unknown }[] | undefined): string {
  return path ? pointerOf(path.map(({ key }) => key as string | number)) : '';
}

export const pointerOf = (keys: readonly (string | number)[]): string =>
  keys.map((key) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

/** The cross-field rules of introspection blocks: the secret its clientAuth needs (and no other),
 *  and one issuer at most taking opaque tokens, since an opaque token names no issuer. */
function introspectionIssues(config: TenantConfig): { message: string; path: (string | number)[] }[] {
  const issues: { message: string; path: (string | number)[] }[] = [];
  let takesOpaque: number | null = null;
  config.issuers.forEach((issuer, i) => {
    const introspection = issuer.introspection;
    if (introspection === null) return;
    const secretPath = ['issuers', i, 'introspection', 'clientSecret'];
    if (introspection.clientAuth === 'private_key_jwt') {
      if (introspection.clientSecret !== undefined) {
        issues.push({
          message: 'not used with clientAuth "private_key_jwt" (the tenant\'s edge key signs its client assertion)', path: secretPath,
        });
      }
    } else if (introspection.clientSecret === undefined) {
      issues.push({ message: `required with clientAuth "${introspection.clientAuth}"`, path: secretPath });
    }
    // "opaque" and "all" both take the tokens that are not JWTs.
    if (takesOpaque === null) {
      takesOpaque = i;
    } else {
      issues.push({
        message: 'only one issuer of a tenant may introspect: '
          + `opaque tokens go to /issuers/${takesOpaque} (${config.issuers[takesOpaque]!.issuer})`,
        path: ['issuers', i, 'introspection'],
      });
    }
  });
  return issues;
}

/** The issue path of the value at `keys` inside `root`, for checks on a whole object. */
function pathTo(root: unknown, keys: readonly (string | number)[]): [v.IssuePathItem, ...v.IssuePathItem[]] {
  const items: v.IssuePathItem[] = [];
  let input = root as Record<string | number, unknown>;
  for (const key of keys) {
    const value = input?.[key];
    items.push((typeof key === 'number'
      ? { type: 'array', origin: 'value', input, key, value }
      : { type: 'object', origin: 'value', input, key, value }) as v.IssuePathItem);
    input = value as Record<string | number, unknown>;
  }
  return items as [v.IssuePathItem, ...v.IssuePathItem[]];
}

/** The issue path of `config[field][index]`, for cross-field checks on the whole record. */
function pathOf<F extends 'hosts' | 'issuers' | 'routes'>(config: TenantConfig, field: F, index: number):
  [v.ObjectPathItem, v.ArrayPathItem] {
  const array: unknown[] = config[field];
  return [
    { type: 'object', origin: 'value', input: config, key: field, value: array },
    { type: 'array', origin: 'value', input: array, key: index, value: array[index] },
  ];
}

/** The issue path of `config.events.ssf[index]`. */
function transmitterPath(config: TenantConfig, index: number): [v.ObjectPathItem, v.ObjectPathItem, v.ArrayPathItem] {
  const events = config.events!;
  return [
    { type: 'object', origin: 'value', input: config, key: 'events', value: events },
    { type: 'object', origin: 'value', input: events, key: 'ssf', value: events.ssf },
    { type: 'array', origin: 'value', input: events.ssf, key: index, value: events.ssf[index] },
  ];
}
