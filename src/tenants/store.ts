// The request path's tenant lookup (docs/configuration.md): a request host to its
// compiled Tenant with one KV read per cold host; found, unknown and invalid answers are all
// cached per isolate for TENANT_CACHE_SECONDS.
//
// Memory is bounded whatever hosts clients invent. A host that cannot be a DNS name is refused
// before any read or cache entry. A record is compiled once per stored text and shared by every
// host it serves (a wildcard tenant's million subdomains share one compiled Tenant, and with it
// their verified tokens where the resource is the same); host entries are small and bounded in
// bytes, compiled records in bytes and entries. A record's write-only values are opened with
// SECRETS_KEY when it is compiled, so once per record, never per request; one that does not open
// is that tenant's tenant_config_invalid.
//
//   const tenants = createTenantStore({ now: systemClock });          // once per isolate
//   const found = await resolveTenant(tenants, normalizeRequestHost(url), {
//     kv: env.TENANTS, cacheSeconds: settings.tenantCacheSeconds, secrets: settings.secrets });
//   if (!found.ok) return found.denial;      // unknown_host | tenant_config_invalid
//   matchRoute(found.value.tenant.routes, method, path);
import { BoundedCache, type CacheCounters } from '../base/cache';
import type { Clock } from '../base/clock';
import { deny, ok, type Outcome } from '../base/denial';
import type { SecretsKeyring } from '../secrets/keyring';
import { hostLookupOrder, isDnsName } from '../config/hosts';
import { hostKey } from './kv-keys';
import { parseTenantConfig, type ConfigIssue, type TenantConfig } from '../config/schema';
import { needsOpening, openSecrets } from './secrets';
import { compileTenant, type OpenedSecrets, type Tenant } from './tenant';

export interface ResolvedTenant {
  readonly tenant: Tenant;
  /** The stored pattern the host was found under: the host itself, or its one-label wildcard. */
  readonly pattern: string;
  /** Answered from this isolate's cache (true) or read from KV (false), for the decision log. */
  readonly cached: boolean;
}

/** The part of the TENANTS binding the lookup uses (tests wrap it to count reads). */
export type TenantKv = Pick<KVNamespace, 'get'>;

export interface TenantSource {
  readonly kv: TenantKv;
  readonly cacheSeconds: number;
  /** Opens records' write-only values (settings.secrets); absent: a record holding one is invalid. */
  readonly secrets?: SecretsKeyring;
}

/** README.md "Observability": tenants 10,000 entries or 16 MiB. */
export const DEFAULT_MAX_TENANT_ENTRIES = 10_000;
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Host entries are a host name (at most 253 characters) and two references. */
export const DEFAULT_MAX_HOST_BYTES = 4 * 1024 * 1024;
const HOST_ENTRY_BYTES = 128;
/** A compiled record costs about its text again (sets, maps and route tables built from it):
 *  counted as three times the text's UTF-16 size, plus the text kept to recognise it. */
const recordBytes = (text: string): number => 8 * text.length + 1024;
/** A compiled record is recognised by its text on every KV read, so it may live long; the bound
 *  is bytes, not time. */
const RECORD_TTL_MS = 24 * 60 * 60 * 1000;

export interface TenantStoreOptions {
  now: Clock;
  maxEntries?: number;
  maxRecordBytes?: number;
  maxHostBytes?: number;
  /** Seam for tests; the request path always compiles with compileTenant. */
  compile?: (config: TenantConfig, opened?: OpenedSecrets) => Tenant;
}

/** The isolate's hosts and compiled records: plain state, made once per isolate, which
 *  resolveTenant reads and writes. `resolve` is the same call, for tests and the bench. */
export class TenantStore {
  readonly compile: Compile;
  /** Found hosts and refusals apart, so a flood of unknown hosts cannot evict real tenants. */
  readonly hosts: BoundedCache<string, Outcome<ResolvedTenant>>;
  readonly refusals: BoundedCache<string, Outcome<ResolvedTenant>>;
  /** Stored text -> its compiled tenant (or the refusal of an invalid record), and the keyring
   *  that opened its secrets (null: it has none, so any keyring reads it the same). */
  readonly records: BoundedCache<string, { compiled: Compiled; keyring: SecretsKeyring | null }>;
  compiles = 0;

  constructor(options: TenantStoreOptions) {
    const { now } = options;
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_TENANT_ENTRIES;
    const maxBytes = options.maxHostBytes ?? DEFAULT_MAX_HOST_BYTES;
    this.compile = options.compile ?? compileTenant;
    this.hosts = new BoundedCache({ now, maxEntries, maxBytes });
    this.refusals = new BoundedCache({ now, maxEntries, maxBytes });
    this.records = new BoundedCache({ now, maxEntries, maxBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES });
  }

  /** resolveTenant(this, …) */
  resolve(host: string, source: TenantSource): Promise<Outcome<ResolvedTenant>> {
    return resolveTenant(this, host, source);
  }

  /** Cache counters, and how many records were compiled (for the bounds' tests and the bench). */
  get counters(): { readonly hosts: Readonly<CacheCounters>; readonly records: Readonly<CacheCounters>; readonly compiles: number } {
    return { hosts: this.hosts.counters, records: this.records.counters, compiles: this.compiles };
  }

  /** Bytes held by host entries and by compiled records. */
  get bytes(): { readonly hosts: number; readonly records: number } {
    return { hosts: this.hosts.bytes + this.refusals.bytes, records: this.records.bytes };
  }
}

export const createTenantStore = (options: TenantStoreOptions): TenantStore => new TenantStore(options);

/** `host` is already normalized (normalizeRequestHost): lowercase ASCII, no port, no trailing
 *  dot. No I/O when this isolate's cache answers (the hot path). */
export async function resolveTenant(store: TenantStore, host: string, source: TenantSource): Promise<Outcome<ResolvedTenant>> {
  // Only names that passed the check below are ever cached, so the cache is asked first.
  const cached = store.hosts.get(host) ?? store.refusals.get(host);
  if (cached !== undefined) return cached;
  // No read, no entry: a name no DNS can hold is nobody's tenant (and no KV key either).
  if (!isDnsName(host)) return UNKNOWN_HOST;
  const patterns = hostLookupOrder(host);
  // Concurrent cold requests each read: sharing one request's KV promise with another is
  // cross-request I/O in workerd. A thrown read is not cached; the pipeline answers 500.
  return load(store, host, patterns, source);
}

/** One KV read for the host's patterns, most specific first; the answer cached either way. */
async function load(store: TenantStore, host: string, patterns: readonly string[], source: TenantSource): Promise<Outcome<ResolvedTenant>> {
  // Text, not 'json': a record that is not JSON must be this tenant's 500, not a thrown read.
  const texts = await source.kv.get(patterns.map(hostKey), 'text');
  const pattern = patterns.find((p) => typeof texts.get(hostKey(p)) === 'string');
  const outcome = pattern === undefined ? deny({ error: 'unknown_host' })
    : admit(host, pattern, await compiled(store, texts.get(hostKey(pattern))!, source.secrets ?? null));
  const entry = { ttlMs: source.cacheSeconds * 1000, bytes: HOST_ENTRY_BYTES + 2 * host.length };
  if (outcome.ok) {
    store.refusals.delete(host);
    store.hosts.set(host, ok({ ...outcome.value, cached: true }), entry);
  } else {
    store.hosts.delete(host);
    store.refusals.set(host, outcome, entry);
  }
  return outcome;
}

/** The record compiled once per text, whichever host or pattern it was read under. A record
 *  without sealed values compiles without a pause, so concurrent loads cannot both compile it. */
async function compiled(store: TenantStore, text: string, keyring: SecretsKeyring | null): Promise<Compiled> {
  const held = store.records.get(text);
  if (held !== undefined && (held.keyring === null || held.keyring === keyring)) return held.compiled;
  const parsed = parseRecord(text);
  const sealed = parsed.ok && needsOpening(parsed.config);
  const fresh = sealed ? await openAndCompile(parsed.config, keyring, store.compile) : compileParsed(parsed, store.compile);
  store.compiles++;
  store.records.set(text, { compiled: fresh, keyring: sealed ? keyring : null }, { ttlMs: RECORD_TTL_MS, bytes: recordBytes(text) });
  return fresh;
}

/** A stored record compiled outside the request path (an SSF stream object, the admin API's
 *  stream calls): validated as stored, its secrets opened, compiled; or why it is no tenant. */
export async function compileRecord(text: string, keyring: SecretsKeyring | null, compile: Compile = compileTenant): Promise<Compiled> {
  const parsed = parseRecord(text);
  return parsed.ok && needsOpening(parsed.config) ? openAndCompile(parsed.config, keyring, compile) : compileParsed(parsed, compile);
}

const UNKNOWN_HOST: Outcome<ResolvedTenant> = deny({ error: 'unknown_host' });

/** A stored text parsed, validated and compiled, or why it is no tenant (logged once, when
 *  compiled). `id` names the tenant in later log lines. */
export type Compiled = { ok: true; tenant: Tenant } | { ok: false; id: string | null; issues: ConfigIssue[] };
export type Compile = (config: TenantConfig, opened?: OpenedSecrets) => Tenant;

/** The stored text validated as a stored record (every secret sealed), or why it is no tenant. */
function parseRecord(text: string): { ok: true; config: TenantConfig } | { ok: false; compiled: Compiled } {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return { ok: false, compiled: invalid(undefined, [{ path: '', message: 'not JSON' }]) };
  }
  const parsed = parseTenantConfig(record, 'stored');
  return parsed.ok ? parsed : { ok: false, compiled: invalid(record, parsed.issues) };
}

function compileParsed(parsed: ReturnType<typeof parseRecord>, compile: Compile, opened?: OpenedSecrets): Compiled {
  if (!parsed.ok) return parsed.compiled;
  try {
    return { ok: true, tenant: compile(parsed.config, opened) };
  } catch (error) {
    return invalid(parsed.config, [{ path: '', message: `does not compile: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}

async function openAndCompile(config: TenantConfig, keyring: SecretsKeyring | null, compile: Compile): Promise<Compiled> {
  const opened = await openSecrets(config, keyring);
  if (!opened.ok) return invalid(config, opened.issues);
  // Once per compiled record: which tenants a SECRETS_KEY rotation has yet to rewrite.
  if (opened.previousKey) console.log(JSON.stringify({ event: 'tenant_secrets_previous_key', tenant: config.id }));
  return compileParsed({ ok: true, config }, compile, opened.opened);
}

/** A compiled record serves a host only if it is valid and lists the pattern the host was found
 *  under (a stale copy must not keep serving a host its tenant dropped). */
function admit(host: string, pattern: string, record: Compiled): Outcome<ResolvedTenant> {
  if (!record.ok) return refuse(host, record.id, record.issues);
  if (!record.tenant.hosts.includes(pattern)) {
    return refuse(host, record.tenant.id, [{ path: '/hosts', message: `does not list ${pattern}, the key it was found under` }]);
  }
  return ok({ tenant: record.tenant, pattern, cached: false });
}

function invalid(record: unknown, issues: ConfigIssue[]): Compiled {
  const id = typeof record === 'object' && record !== null && 'id' in record ? record.id : undefined;
  return { ok: false, id: typeof id === 'string' ? id : null, issues };
}

function refuse(host: string, tenant: string | null, issues: ConfigIssue[]): Outcome<ResolvedTenant> {
  // Logged once per host load (then cached like any answer), so a bad record is not re-read per request.
  console.log(JSON.stringify({ event: 'tenant_config_invalid', host, tenant, issues }));
  return deny({ error: 'tenant_config_invalid' });
}
