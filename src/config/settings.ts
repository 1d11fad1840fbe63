// The Worker's vars as typed settings (README.md "Bindings"), parsed once per isolate and bindings
// object, with every default in this one place. Every door and the cron read settings, never a
// raw var.
//
//   const settings = settingsOf(env);   // the same object for every request of this isolate
//   settings.tenantCacheSeconds;        // 30; "0" turns the isolate's tenant cache off
//   settings.secrets.problem;           // null when SECRETS_KEY can seal (secrets/keyring.ts)
import { createKeyring, type SecretsKeyring, type SecretsVars } from '../secrets/keyring';

export interface Settings {
  /** ADMIN_HOST: the admin API's host, lowercase. */
  readonly adminHost: string;
  /** TENANT_CACHE_SECONDS: how long an isolate serves a tenant from memory; 0 = not at all. */
  readonly tenantCacheSeconds: number;
  /** ALLOW_INSECURE_ISSUERS === "true": http issuers on loopback (local development only). */
  readonly allowInsecureIssuers: boolean;
  /** LOG_SAMPLE_RATE in [0, 1]: the share of allowed decisions logged (denials always are);
   *  0.01 unless set: a line per request costs more in Workers Logs than the request itself
   *  (docs/configuration.md "Worker settings"). */
  readonly logSampleRate: number;
  /** DEBUG_TIMING === "true": Server-Timing on responses. */
  readonly debugTiming: boolean;
  /** DOH_URL: the DNS-over-HTTPS JSON endpoint of the DNS drift check. */
  readonly dohUrl: string;
  /** SECRETS_KEY and SECRETS_KEY_PREVIOUS (secrets): seal and open the write-only values of
   *  tenant configs; its keys are imported once, on first use. */
  readonly secrets: SecretsKeyring;
}

/** The vars as wrangler.toml declares them (and the secrets); all optional for a user's own
 *  Worker (edgeAuth). */
export interface SettingsVars extends SecretsVars {
  ADMIN_HOST?: string;
  TENANT_CACHE_SECONDS?: string;
  ALLOW_INSECURE_ISSUERS?: string;
  LOG_SAMPLE_RATE?: string;
  DEBUG_TIMING?: string;
  DOH_URL?: string;
}

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  adminHost: 'admin.localhost',
  tenantCacheSeconds: 30,
  allowInsecureIssuers: false,
  logSampleRate: 0.01,
  debugTiming: false,
  dohUrl: 'https://cloudflare-dns.com/dns-query',
  secrets: createKeyring({}),
});

// Workers hand every request of an isolate the same env object: parsed once, then a lookup.
const parsed = new WeakMap<object, Settings>();

export function settingsOf(vars: SettingsVars): Settings {
  let settings = parsed.get(vars);
  if (settings === undefined) parsed.set(vars, settings = parseSettings(vars));
  return settings;
}

export function parseSettings(vars: SettingsVars): Settings {
  return Object.freeze({
    adminHost: vars.ADMIN_HOST?.trim().toLowerCase() || DEFAULT_SETTINGS.adminHost,
    tenantCacheSeconds: seconds(vars.TENANT_CACHE_SECONDS, DEFAULT_SETTINGS.tenantCacheSeconds),
    allowInsecureIssuers: vars.ALLOW_INSECURE_ISSUERS === 'true',
    logSampleRate: rate(vars.LOG_SAMPLE_RATE),
    debugTiming: vars.DEBUG_TIMING === 'true',
    dohUrl: vars.DOH_URL?.trim() || DEFAULT_SETTINGS.dohUrl,
    secrets: createKeyring(vars),
  });
}

/** Whole or fractional seconds >= 0; unset, empty or unparsable is the default ("0" is 0). */
function seconds(value: string | undefined, fallback: number): number {
  const number = value === undefined || value.trim() === '' ? Number.NaN : Number(value);
  return Number.isFinite(number) && number >= 0 ? number : fallback;
}

/** A number, clamped to [0, 1]; unset or unparsable is the default (0.01). */
function rate(value: string | undefined): number {
  const number = value === undefined || value.trim() === '' ? Number.NaN : Number(value);
  return Number.isFinite(number) ? Math.min(1, Math.max(0, number)) : DEFAULT_SETTINGS.logSampleRate;
}
