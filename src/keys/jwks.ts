// What a JWKS document (RFC 7517 §5) yields: the public signing keys we accept, and how long
// they may be kept. Keys we would never verify with are dropped here, once, at fetch time.
//
//   const parsed = parseJwks(body);                        // { ok, keys } or { ok: false, note }
//   const seconds = jwksLifetimeSeconds(headers.get('cache-control'));   // 60..86400, 600 default

export const MAX_KEYS = 100;
export const MIN_RSA_BITS = 2048;
export const DEFAULT_LIFETIME_SECONDS = 600;
export const MIN_LIFETIME_SECONDS = 60;
export const MAX_LIFETIME_SECONDS = 24 * 60 * 60;

/** A public key exactly as kept in every tier: only the members verification needs. */
export interface PublicJwk {
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly kid?: string;
  readonly alg?: string;
  readonly n?: string;
  readonly e?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
}

const CURVES: Record<'EC' | 'OKP', ReadonlySet<string>> = {
  EC: new Set(['P-256', 'P-384', 'P-521']),
  OKP: new Set(['Ed25519']),
};
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function parseJwks(body: unknown): { ok: true; keys: PublicJwk[] } | { ok: false; note: string } {
  if (typeof body !== 'object' || body === null) return { ok: false, note: 'jwks: not an object' };
  const keys = (body as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) return { ok: false, note: 'jwks: no keys array' };
  const accepted: PublicJwk[] = [];
  for (const candidate of keys) {
    const key = publicSigningKey(candidate);
    if (key !== null) accepted.push(key);
    if (accepted.length === MAX_KEYS) break;
  }
  return { ok: true, keys: accepted };
}

/** Cache-Control max-age clamped to [60 s, 24 h]; 10 minutes when there is none. */
export function jwksLifetimeSeconds(cacheControl: string | null): number {
  const match = cacheControl === null ? null : /(?:^|[\s,])max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  if (match === null) return DEFAULT_LIFETIME_SECONDS;
  const seconds = Number(match[1]);
  return Math.min(MAX_LIFETIME_SECONDS, Math.max(MIN_LIFETIME_SECONDS, seconds));
}

/** The key reduced to its public members, or null when it is not one we verify with. */
function publicSigningKey(raw: unknown): PublicJwk | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const jwk = raw as Record<string, unknown>;
  if (jwk.use !== undefined && jwk.use !== 'sig') return null;
  // A published private key means a broken issuer; refusing it keeps it out of every cache.
  if (PRIVATE_MEMBERS.some((name) => name in jwk)) return null;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return null;
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return null;
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') return null;
  const common = {
    ...(jwk.kid === undefined ? {} : { kid: jwk.kid as string }),
    ...(jwk.alg === undefined ? {} : { alg: jwk.alg as string }),
  };
  switch (jwk.kty) {
    case 'RSA':
      if (!isBase64url(jwk.n) || !isBase64url(jwk.e) || modulusBits(jwk.n) < MIN_RSA_BITS) return null;
      return { kty: 'RSA', ...common, n: jwk.n, e: jwk.e };
    case 'EC':
      if (typeof jwk.crv !== 'string' || !CURVES.EC.has(jwk.crv) || !isBase64url(jwk.x) || !isBase64url(jwk.y)) return null;
      return { kty: 'EC', ...common, crv: jwk.crv, x: jwk.x, y: jwk.y };
    case 'OKP':
      if (typeof jwk.crv !== 'string' || !CURVES.OKP.has(jwk.crv) || !isBase64url(jwk.x)) return null;
      return { kty: 'OKP', ...common, crv: jwk.crv, x: jwk.x };
    default:
      return null;
  }
}

const isBase64url = (value: unknown): value is string => typeof value === 'string' && BASE64URL.test(value);

/** Bits in an RSA modulus, leading zero bits not counted (RFC 7518 §6.3.1.1). */
function modulusBits(n: string): number {
  let binary: string;
  try {
    binary = atob(n.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (n.length % 4)) % 4));
  } catch {
    return 0;
  }
  let start = 0;
  while (start < binary.length && binary.charCodeAt(start) === 0) start++;
  if (start === binary.length) return 0;
  return (binary.length - start - 1) * 8 + (32 - Math.clz32(binary.charCodeAt(start)));
}
