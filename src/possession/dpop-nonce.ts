// Server-issued DPoP nonces (RFC 9449 §9, §8.2), stateless: a nonce is an HMAC of the time
// window under a per-tenant secret, so every isolate in every location computes and checks the
// same nonces with no storage read per request, and nothing is stored per nonce.
//
//   const nonces = createDpopNonces({ now });                       // once per isolate
//   const check = nonces.forTenant(tenant.id, secret);              // secret: the tenant's bytes
//   await check.accepts(proofNonce);                                 // this window, the one before or after
//   await check.issue();                                             // what DPoP-Nonce carries now
//
// nonce = base64url(HMAC-SHA256(secret, "dpop-nonce:" + tenantId + ":" + window)), cut to 32
// characters (192 bits), window = floor(now / 300 s). A nonce issued in window w is accepted in
// w and w + 1, so for at least 300 s (5 minutes) after it was issued, and up to 600 s; window
// w - 1 is accepted too, so an isolate whose clock runs a little behind the issuer's does not
// refuse a nonce from the next window. Two windows back is refused: the client gets a fresh one.
// A nonce is not a secret (any 401 hands one out), so it is compared as a plain string; what
// makes it unforgeable is the secret. A new secret (the tenant re-created) makes every earlier
// nonce unknown: those clients get use_dpop_nonce with a fresh nonce, once.
//
// Each isolate computes the HMAC once per (tenant, window), not once per request: the results
// live in a bounded cache, keyed by tenant and window and checked against the secret they were
// made with (32 bytes compared, cheaper than an HMAC).
import { base64url } from 'jose';
import { BoundedCache } from '../base/cache';
import type { Clock } from '../base/clock';

export const NONCE_WINDOW_SECONDS = 300;
/** 32 base64url characters: 192 bits of the HMAC. */
export const NONCE_LENGTH = 32;
const NONCE = /^[A-Za-z0-9_-]{32}$/;

/** The nonce hook of a DPoP proof check, bound to one tenant and its secret. */
export interface NonceCheck {
  /** Whether the edge issued this nonce recently enough (a format check first, no HMAC for junk). */
  accepts(nonce: string): Promise<boolean>;
  /** The nonce of the current window: the DPoP-Nonce header of every response to a DPoP request. */
  issue(): Promise<string>;
}

export interface DpopNonces {
  forTenant(tenantId: string, secret: Uint8Array): NonceCheck;
  readonly counters: Readonly<NonceCounters>;
}

export interface NonceCounters { computed: number; cached: number }

interface Computed { readonly secret: Uint8Array; readonly nonce: string }

const encoder = new TextEncoder();

export function createDpopNonces(options: { now: Clock; maxEntries?: number }): DpopNonces {
  const now = options.now;
  // Three windows live per tenant; 10,000 tenants (the tenant-state cache's bound) fit.
  const computed = new BoundedCache<string, Computed>({ now, maxEntries: options.maxEntries ?? 30_000 });
  const counters: NonceCounters = { computed: 0, cached: 0 };

  async function nonceOf(tenantId: string, secret: Uint8Array, window: number): Promise<string> {
    const name = `${tenantId}\n${window}`;
    const held = computed.get(name);
    if (held !== undefined && sameBytes(held.secret, secret)) {
      counters.cached++;
      return held.nonce;
    }
    counters.computed++;
    const nonce = await hmacNonce(secret, `dpop-nonce:${tenantId}:${window}`);
    // Kept while the window can still be accepted: its own, the next one, and a little slack.
    computed.set(name, { secret, nonce }, { ttlMs: 3 * NONCE_WINDOW_SECONDS * 1000 });
    return nonce;
  }

  const windowAt = (ms: number) => Math.floor(ms / 1000 / NONCE_WINDOW_SECONDS);

  return {
    forTenant(tenantId, secret) {
      // A short secret is a bug in whoever made it, never client input.
      if (secret.length < 16) throw new TypeError('a DPoP nonce secret has at least 16 bytes');
      return {
        async accepts(nonce) {
          if (!NONCE.test(nonce)) return false;
          const window = windowAt(now());
          for (const candidate of [window, window - 1, window + 1]) {
            if (await nonceOf(tenantId, secret, candidate) === nonce) return true;
          }
          return false;
        },
        issue: () => nonceOf(tenantId, secret, windowAt(now())),
      };
    },
    counters,
  };
}

async function hmacNonce(secret: Uint8Array, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)));
  return base64url.encode(mac).slice(0, NONCE_LENGTH);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
