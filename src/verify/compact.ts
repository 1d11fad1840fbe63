// The compact serialization of a JWS (RFC 7515 §7.1), the one layer under every signed token the
// edge reads: access tokens, logout tokens and SETs (jws.ts, whose signer `iss` chooses) and DPoP
// proofs (possession/dpop.ts, whose key its own header carries). Three segments, their base64url
// syntax, a header or payload decoded to a JSON object of bounded depth, the algorithm set, and
// the signature checked with WebCrypto under the one algorithm the caller allowed, over the very
// segments the caller decoded: nothing is decoded twice. No claim is judged here.
//
//   isCompactJws(credential);                        // false: an opaque token (introspection's, if any)
//   const segments = splitCompact(token);            // null: not three dot-separated segments
//   const [header, payload, signature] = segments;
//   isSegment(signature);                            // base64url without padding, one spelling
//   decodeSegment(payload);                          // Record<string, unknown> | null
//   isAlgorithm(alg) && await verifySignature(token, key, alg);   // 'verified' | 'bad_signature' | 'undecodable'
import { ALGORITHMS, type Algorithm } from '../config/algorithms';

/** A segment: base64url without padding, so a token has exactly one spelling (jose's decoder
 *  would accept "=" after it). */
const SEGMENT = /^[A-Za-z0-9_-]+$/;
const SUPPORTED_ALGORITHMS: ReadonlySet<string> = new Set(ALGORITHMS);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const ascii = new TextEncoder();
const BASE64URL = { alphabet: 'base64url' } as const;

/** RFC 7518 §3: what a key imported for an alg must be (RFC 8037 for EdDSA: Ed25519), and the
 *  WebCrypto parameters of its signature check. */
interface AlgorithmRules {
  readonly key: { readonly name: string; readonly hash?: string; readonly namedCurve?: string };
  readonly verify: Parameters<SubtleCrypto['verify']>[0];
  /** RSA: RFC 7518 §3.3 and §3.5 ask for 2048 bits at least. */
  readonly minModulus?: number;
}
const rsa = (name: string, bits: number, saltLength?: number): AlgorithmRules => ({
  key: { name, hash: `SHA-${bits}` }, verify: saltLength === undefined ? { name } : { name, saltLength }, minModulus: 2048,
});
const ecdsa = (namedCurve: string, bits: number): AlgorithmRules => ({
  key: { name: 'ECDSA', namedCurve }, verify: { name: 'ECDSA', hash: `SHA-${bits}` },
});
const RULES: Record<Algorithm, AlgorithmRules> = {
  RS256: rsa('RSASSA-PKCS1-v1_5', 256), RS384: rsa('RSASSA-PKCS1-v1_5', 384), RS512: rsa('RSASSA-PKCS1-v1_5', 512),
  PS256: rsa('RSA-PSS', 256, 32), PS384: rsa('RSA-PSS', 384, 48), PS512: rsa('RSA-PSS', 512, 64),
  ES256: ecdsa('P-256', 256), ES384: ecdsa('P-384', 384), ES512: ecdsa('P-521', 512),
  EdDSA: { key: { name: 'Ed25519' }, verify: { name: 'Ed25519' } },
};

/** How deep a token's JSON may nest. Real claims nest a few levels (Keycloak's
 *  resource_access.<client>.roles is three); 16 KiB of `[[[…` would nest thousands, deep enough
 *  to overflow the stack of whatever walks them next (the RPC door's structured clone does). */
export const MAX_JSON_DEPTH = 32;

/** The header, payload and signature segments, or null unless there are exactly three. Split at
 *  most four ways: a token of dots is not split into thousands of pieces. */
export function splitCompact(token: string): readonly [header: string, payload: string, signature: string] | null {
  const parts = token.split('.', 4);
  return parts.length === 3 ? parts as [string, string, string] : null;
}

export const isSegment = (segment: string): boolean => SEGMENT.test(segment);

/** Signature segments may be empty (verifyJws: an empty signature is a bad one, not malformed). */
const SIGNATURE = /^[A-Za-z0-9_-]*$/;

/** Whether a credential has the shape of a compact JWS: three dot-separated parts of base64url
 *  characters (header and payload not empty). Anything else is an opaque token (docs/introspection.md):
 *  only the tenant's introspecting issuer may be asked about it. The shape alone decides, before
 *  any decoding: `abc.def.ghi` is a JWS that will not decode (malformed), `ab+c.def.ghi` is not a
 *  JWS at all. */
export function isCompactJws(credential: string): boolean {
  const segments = splitCompact(credential);
  return segments !== null && SEGMENT.test(segments[0]) && SEGMENT.test(segments[1]) && SIGNATURE.test(segments[2]);
}

/** One of the asymmetric algorithms the edge verifies (never none or HMAC). */
export function isAlgorithm(alg: string): alg is Algorithm {
  return SUPPORTED_ALGORITHMS.has(alg);
}

/** A base64url segment holding a JSON object nesting at most MAX_JSON_DEPTH levels, or null. */
export function decodeSegment(segment: string): Record<string, unknown> | null {
  if (!SEGMENT.test(segment)) return null;
  try {
    const text = utf8.decode(Uint8Array.fromBase64(segment, BASE64URL));
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    return nestsWithin(text, MAX_JSON_DEPTH) ? value as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** What a signature check found: the signature verifies, does not, or is no base64url at all. */
export type SignatureCheck = 'verified' | 'bad_signature' | 'undecodable';

/**
 * The JWS signature (RFC 7515 §5.2) of a token the caller split and decoded: the signing input
 * is the token's own first two segments (ASCII, as their syntax is), so the header and payload
 * the caller read are the bytes the key signed, and neither is decoded again. The caller checked
 * the segments' syntax (base64url without padding or spaces, isSegment: the decoder here would
 * take either), `alg` against its allowlist and `crit`. A key that does not fit `alg` (a
 * key imported for another alg, an RSA modulus under 2048 bits) is a bug of ours, as every key
 * is imported for its alg (keys/tiers.ts, possession/dpop.ts): it throws. So does nothing else.
 */
export async function verifySignature(token: string, key: CryptoKey, alg: Algorithm): Promise<SignatureCheck> {
  const rules = RULES[alg];
  checkKey(key, rules, alg);
  const dot = token.lastIndexOf('.');
  let signature: Uint8Array;
  try {
    signature = Uint8Array.fromBase64(token.slice(dot + 1), BASE64URL);
  } catch {
    return 'undecodable';
  }
  let verified = false;
  try {
    verified = await crypto.subtle.verify(rules.verify, key, signature, ascii.encode(token.slice(0, dot)));
  } catch {
    // WebCrypto refuses a signature of the wrong length for the curve: no signature by this key.
  }
  return verified ? 'verified' : 'bad_signature';
}

/** The keys checked, with the alg each fits: a key's algorithm and usages are read from the
 *  runtime (a new object each read), once per key, not once per signature. */
const fitting = new WeakMap<CryptoKey, Algorithm>();

function checkKey(key: CryptoKey, rules: AlgorithmRules, alg: Algorithm): void {
  if (fitting.get(key) === alg) return;
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string; modulusLength?: number };
  if (algorithm.name !== rules.key.name || (rules.key.hash !== undefined && algorithm.hash?.name !== rules.key.hash)
    || (rules.key.namedCurve !== undefined && algorithm.namedCurve !== rules.key.namedCurve)
    || (rules.minModulus !== undefined && !((algorithm.modulusLength ?? 0) >= rules.minModulus)) || !key.usages.includes('verify')) {
    throw new TypeError(`a key that does not fit ${alg}: ${algorithm.name}`);
  }
  fitting.set(key, alg);
}

/** Whether valid JSON text nests at most `limit` objects and arrays deep (brackets inside
 *  strings skipped). A scan of the text: no recursion, no allocation. */
function nestsWithin(json: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < json.length; i++) {
        const d = json.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return false;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return true;
}
