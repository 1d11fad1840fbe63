// The compact serialization of a JWS (RFC 7515 §7.1), the one layer under every signed token the
// edge reads: access tokens, logout tokens and SETs (jws.ts, whose signer `iss` chooses) and DPoP
// proofs (possession/dpop.ts, whose key its own header carries). Three segments, their base64url
// syntax, a header or payload decoded to a JSON object of bounded depth, the algorithm set, and
// the signature checked by jose's compactVerify with the one algorithm the caller allowed. No
// claim is judged here, and jose's errors are left to the caller's reasons (reasons.ts).
//
//   isCompactJws(credential);                        // false: an opaque token (introspection's, if any)
//   const segments = splitCompact(token);            // null: not three dot-separated segments
//   const [header, payload, signature] = segments;
//   isSegment(signature);                            // base64url without padding, one spelling
//   decodeSegment(payload);                          // Record<string, unknown> | null
//   isAlgorithm(alg) && await verifySignature(token, key, alg);   // throws jose's errors
import { base64url, compactVerify } from 'jose';
import { ALGORITHMS, type Algorithm } from '../config/algorithms';

/** A segment: base64url without padding, so a token has exactly one spelling (jose's decoder
 *  would accept "=" after it). */
const SEGMENT = /^[A-Za-z0-9_-]+$/;
const SUPPORTED_ALGORITHMS: ReadonlySet<string> = new Set(ALGORITHMS);
/** compactVerify's options per alg, built once: the caller checked its allowlist, jose checks it again. */
const JWS_OPTIONS = Object.fromEntries(ALGORITHMS.map((alg) => [alg, { algorithms: [alg] }])) as
  Record<Algorithm, { algorithms: string[] }>;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

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
    const text = utf8.decode(base64url.decode(segment));
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    return nestsWithin(text, MAX_JSON_DEPTH) ? value as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** The JWS only: jose parses the same header and checks the signature over the same payload
 *  bytes the caller decoded, so the claims it read are what the key signed. Throws jose's errors. */
export async function verifySignature(token: string, key: CryptoKey, alg: Algorithm): Promise<void> {
  await compactVerify(token, key, JWS_OPTIONS[alg]);
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
