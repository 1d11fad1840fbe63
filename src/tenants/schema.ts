// The tenant configuration schema (docs/configuration.md): the single source of the
// config type and of every default. Validated on every admin write and on every KV read.
//
//   const parsed = parseTenantConfig(json);
//   if (!parsed.ok) return parsed.issues;   // [{ path: '/issuers/0/issuer', message }]
//   parsed.config.issuers[0].algorithms;    // defaults applied
import * as v from 'valibot';
import { isScopeToken } from '../policy/scopes';
import { isClaimName } from '../verify/claim-names';
import { normalizeHostPattern } from './hosts';

/** A tenant id: what names its Durable Objects and KV keys (and what the admin API's paths take). */
export const TENANT_ID = /^[a-z0-9-]{1,63}$/;
export const isTenantId = (value: unknown): value is string => typeof value === 'string' && TENANT_ID.test(value);

export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

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
} as const;

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
 *  tenant (verify/claim-names.ts). */
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

/** Revocation events (docs/events.md): who may send them, and to which audience. */
const EventsSchema = v.strictObject({
  backchannelLogout: v.optional(v.nullable(v.strictObject({
    audiences: v.pipe(v.array(NonEmpty), v.minLength(1, 'at least one audience is required'), v.maxLength(20)),
  })), null),
  ssf: v.optional(v.pipe(v.array(v.strictObject({
    issuer: TransmitterIssuer,
    audience: NonEmpty,
    jwksUri: v.optional(v.nullable(IssuerUrl), null),
  })), v.maxLength(20)), () => []),
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
        addIssue({ message: 'a route with auth "none" matches only the raw path, which never holds ";" or "%" for it', path: pathOf(config, 'routes', i) });
      }
    });
  }),
);

export type TenantConfig = v.InferOutput<typeof TenantConfigSchema>;
/** A config as written, before defaults (what the admin API and edgeAuth() accept). */
export type TenantConfigInput = v.InferInput<typeof TenantConfigSchema>;
export type IssuerConfig = TenantConfig['issuers'][number];
export type RouteConfig = TenantConfig['routes'][number];
export type CorsConfig = NonNullable<TenantConfig['cors']>;
export type EventsConfig = NonNullable<TenantConfig['events']>;

export interface ConfigIssue { path: string; message: string }
export type ParsedConfig = { ok: true; config: TenantConfig } | { ok: false; issues: ConfigIssue[] };

export function parseTenantConfig(input: unknown): ParsedConfig {
  const result = v.safeParse(TenantConfigSchema, input);
  if (result.success) return { ok: true, config: result.output };
  return { ok: false, issues: result.issues.map((issue) => ({ path: jsonPointer(issue.path), message: issue.message })) };
}

/** RFC 6901: "/issuers/0/issuer". */
function jsonPointer(path: readonly { key: unknown }[] | undefined): string {
  if (!path) return '';
  return path.map(({ key }) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** The issue path of `config[field][index]`, for cross-field checks on the whole record. */
function pathOf<F extends 'hosts' | 'issuers' | 'routes'>(config: TenantConfig, field: F, index: number): [v.ObjectPathItem, v.ArrayPathItem] {
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
