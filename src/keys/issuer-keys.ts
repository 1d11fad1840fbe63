// The IssuerKeys Durable Object: one per key set (issuer, or issuer + configured JWKS URI, or
// SSF transmitter), global. It owns the network fetch of discovery and JWKS, so concurrent cold isolates share one
// fetch, and it keeps the last good key set in its storage (README.md "Keys: discovery and JWKS").
//
//   const answer = await issuerKeysStub(env.ISSUER_KEYS, issuer.keySetId)
//     .keySet({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, refresh: false, allowInsecure: false });
//   if (answer.ok) answer.keySet.keys;          // public JWKs, with fetchedAt / expiresAt (ms)
//   answer.keySet.introspectionEndpoint;         // what discovery named (RFC 7662), when asked with introspection: true
//   else answer.retryAfterSeconds;              // nothing usable; ask again after this
//   await stub.prewarm({ issuer, jwksUri, allowInsecure, withinMs: 360_000 });  // cron: refetch if expiring soon
//
// Tests replace `now` or `fetchTimeoutMs` on the instance (runInDurableObject).
import { DurableObject } from 'cloudflare:workers';
import { systemClock, type Clock } from '../base/clock';
import { discoverJwksUri } from './discovery';
import { FETCH_TIMEOUT_MS, fetchIssuerJson, type FetchRules } from './issuer-fetch';
import { jwksLifetimeSeconds, parseJwks, type PublicJwk } from './jwks';
import type { KeyDiscovery } from './key-source';

/** A forced refresh (kid miss) refetches only keys at least this old. */
export const REFRESH_COOLDOWN_MS = 30_000;
/** After a failed fetch, answer from what is held (or fail) without the network this long. */
export const FAILURE_HOLD_MS = 30_000;
/** A failed refresh keeps serving the last good keys this long past their expiry. */
export const STALE_IF_ERROR_MS = 24 * 60 * 60 * 1000;
/** A discovered jwks_uri is reused this long, and found again at once when its fetch fails. */
export const REDISCOVER_AFTER_MS = 24 * 60 * 60 * 1000;

const STORAGE_KEY = 'keySet';

export interface KeySetRequest {
  readonly issuer: string;
  /** The configured JWKS URI; null means discovery. */
  readonly jwksUri: string | null;
  /** Which discovery document names the JWKS URI when none is configured; absent means 'oidc'
   *  (callers from before SSF transmitters, such as the scheduled pre-warm). */
  readonly discovery?: KeyDiscovery;
  /** A kid miss: fetch again unless the held keys are younger than REFRESH_COOLDOWN_MS. */
  readonly refresh: boolean;
  /** The caller needs the discovered introspection endpoint: a set held from before the edge kept
   *  it (introspectionEndpoint absent) is fetched again. */
  readonly introspection?: boolean;
  /** The caller's ALLOW_INSECURE_ISSUERS: http is then allowed, on loopback only. */
  readonly allowInsecure: boolean;
}

export interface PrewarmRequest {
  readonly issuer: string;
  readonly jwksUri: string | null;
  readonly discovery?: KeyDiscovery;
  readonly allowInsecure: boolean;
  /** Refetch when the held set expires sooner than this (ms from now). */
  readonly withinMs: number;
}

export interface KeySet {
  readonly keys: readonly PublicJwk[];
  /** When the keys were fetched (ms); names this version of the set. */
  readonly fetchedAt: number;
  /** When they go stale (ms); may be past when served under stale-if-error. */
  readonly expiresAt: number;
  /** The issuer's RFC 7662 introspection_endpoint as discovery named it; null when it names none
   *  or the JWKS URI is configured (no discovery); absent in sets kept before the edge read it. */
  readonly introspectionEndpoint?: string | null;
}

export type KeySetAnswer =
  /** fetched: a network fetch made for this call, or one it joined (tier "network", not "object"). */
  | { ok: true; keySet: KeySet; fetched: boolean }
  | { ok: false; retryAfterSeconds: number; note: string };

interface StoredKeySet extends KeySet {
  readonly issuer: string;
  readonly configuredJwksUri: string | null;
  /** Absent in sets stored before SSF transmitters: 'oidc'. */
  readonly discovery?: KeyDiscovery;
  readonly jwksUri: string;
  /** When jwksUri was discovered; null when it was configured. */
  readonly discoveredAt: number | null;
}

type Refreshed = { ok: true; stored: StoredKeySet } | { ok: false; note: string };

/** The object for a key set: the one place its name is derived. */
export function issuerKeysStub(namespace: DurableObjectNamespace<IssuerKeys>, keySetId: string): DurableObjectStub<IssuerKeys> {
  return namespace.get(namespace.idFromName(keySetId));
}

export class IssuerKeys extends DurableObject {
  now: Clock = systemClock;
  fetchTimeoutMs = FETCH_TIMEOUT_MS;
  #stored: StoredKeySet | null = null;
  #failedAt: number | null = null;
  /** The fetch under way; every call arriving meanwhile waits for it instead of fetching. */
  #inFlight: Promise<Refreshed> | null = null;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.#stored = (await ctx.storage.get<StoredKeySet>(STORAGE_KEY)) ?? null;
    });
  }

  async keySet(request: KeySetRequest): Promise<KeySetAnswer> {
    const now = this.now();
    const stored = this.#held(request);
    // A set from before the endpoint was kept answers for keys, not for introspection.
    const complete = stored !== null && (request.introspection !== true || stored.introspectionEndpoint !== undefined);
    if (complete && stored.expiresAt > now && !request.refresh) return answer(stored, false);
    const recentlyFetched = complete && now - stored.fetchedAt < REFRESH_COOLDOWN_MS;
    const recentlyFailed = this.#failedAt !== null && now - this.#failedAt < FAILURE_HOLD_MS;
    if (recentlyFetched || recentlyFailed) return this.#fallback(stored, now, 'holding off the issuer');

    this.#inFlight ??= this.#refresh(request).finally(() => { this.#inFlight = null; });
    const refreshed = await this.#inFlight;
    if (refreshed.ok) return answer(refreshed.stored, true);
    return this.#fallback(this.#held(request), this.now(), refreshed.note);
  }

  /** The scheduled run's pre-warm: fetches only when there is no set for this configuration or
   *  it expires within `withinMs`, under the same in-flight and hold-off rules as a kid miss, so
   *  the first request after an expiry finds fresh keys here instead of paying the fetch. */
  async prewarm(request: PrewarmRequest): Promise<KeySetAnswer> {
    const { withinMs, ...rest } = request;
    const keySetRequest: KeySetRequest = { ...rest, refresh: true };
    const stored = this.#held(keySetRequest);
    if (stored !== null && stored.expiresAt - this.now() > withinMs) return answer(stored, false);
    return this.keySet(keySetRequest);
  }

  /** The stored set, when it was fetched for this very configuration. */
  #held(request: KeySetRequest): StoredKeySet | null {
    const stored = this.#stored;
    if (stored === null || stored.issuer !== request.issuer || stored.configuredJwksUri !== request.jwksUri) return null;
    if ((stored.discovery ?? 'oidc') !== (request.discovery ?? 'oidc')) return null;
    return stored;
  }

  #fallback(stored: StoredKeySet | null, now: number, note: string): KeySetAnswer {
    if (stored !== null && now < stored.expiresAt + STALE_IF_ERROR_MS) return answer(stored, false);
    const retryAt = (this.#failedAt ?? now) + FAILURE_HOLD_MS;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((retryAt - now) / 1000)), note };
  }

  async #refresh(request: KeySetRequest): Promise<Refreshed> {
    const rules: FetchRules = { allowInsecure: request.allowInsecure, timeoutMs: this.fetchTimeoutMs };
    const previous = this.#held(request);
    const reusable = request.jwksUri === null && previous !== null && previous.discoveredAt !== null
      && previous.introspectionEndpoint !== undefined && this.now() - previous.discoveredAt < REDISCOVER_AFTER_MS;

    let location: Located = reusable
      ? {
        ok: true, jwksUri: previous.jwksUri, introspectionEndpoint: previous.introspectionEndpoint ?? null,
        discoveredAt: previous.discoveredAt,
      }
      : await locate(request, rules, this.now);
    let fetched = location.ok ? await fetchIssuerJson(location.jwksUri, rules) : location;
    if (!fetched.ok && reusable) {
      // The issuer may have moved its JWKS; look again before giving up.
      const found = await locate(request, rules, this.now);
      if (found.ok && found.jwksUri !== previous.jwksUri) {
        location = found;
        fetched = await fetchIssuerJson(found.jwksUri, rules);
      }
    }
    if (!location.ok || !fetched.ok) return this.#failed(fetched.ok ? 'discovery failed' : fetched.note);
    const parsed = parseJwks(fetched.body);
    if (!parsed.ok) return this.#failed(parsed.note);

    const fetchedAt = this.now();
    const stored: StoredKeySet = {
      issuer: request.issuer,
      configuredJwksUri: request.jwksUri,
      discovery: request.discovery ?? 'oidc',
      jwksUri: location.jwksUri,
      introspectionEndpoint: location.introspectionEndpoint,
      discoveredAt: location.discoveredAt,
      keys: parsed.keys,
      fetchedAt,
      expiresAt: fetchedAt + jwksLifetimeSeconds(fetched.headers.get('cache-control')) * 1000,
    };
    this.#stored = stored;
    this.#failedAt = null;
    await this.ctx.storage.put(STORAGE_KEY, stored);
    return { ok: true, stored };
  }

  #failed(note: string): Refreshed {
    this.#failedAt = this.now();
    return { ok: false, note };
  }
}

type Located =
  | { ok: true; jwksUri: string; introspectionEndpoint: string | null; discoveredAt: number | null }
  | { ok: false; note: string };

async function locate(request: KeySetRequest, rules: FetchRules, now: Clock): Promise<Located> {
  if (request.jwksUri !== null) return { ok: true, jwksUri: request.jwksUri, introspectionEndpoint: null, discoveredAt: null };
  const found = await discoverJwksUri(request.issuer, rules, request.discovery ?? 'oidc');
  return found.ok ? { ok: true, jwksUri: found.jwksUri, introspectionEndpoint: found.introspectionEndpoint, discoveredAt: now() } : found;
}

function answer(stored: StoredKeySet, fetched: boolean): KeySetAnswer {
  const { keys, fetchedAt, expiresAt, introspectionEndpoint } = stored;
  return { ok: true, keySet: { keys, fetchedAt, expiresAt, introspectionEndpoint }, fetched };
}
