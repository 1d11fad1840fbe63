// Verifying the JWS of a signed JWT whose signer is chosen by its `iss` (RFC 7515, RFC 7519 §7.2):
// the one home of the rules every issuer-signed token the edge accepts shares, access tokens
// (verify/token.ts), logout tokens and SETs (events/) alike. The signer comes from `iss` alone,
// the alg from that signer's allowlist (never none or HMAC), keys from the key tiers (their
// kid-miss cooldown and stale-if-error included); segments, decoding and the signature check are
// the compact layer's (compact.ts, which DPoP proofs share). No claim other than `iss` is judged
// here; the callers apply their own claim rules to the payload parsed here once. Every refusal
// is an invalid_token reason (or the key tiers' own denial).
//
//   const signed = await verifyJws(token, tenant.issuers, { keys }, { maxBytes: 16_384 });
//   if (!signed.ok) return signed;                   // malformed, unknown_issuer, bad_signature, ...
//   signed.value.signer; signed.value.header; signed.value.payload;
import { invalidToken, ok, type Outcome } from '../base/denial';
import type { Algorithm } from '../config/algorithms';
import type { KeySetPolicy, KeySource, KeyTier } from '../keys/key-source';
import { decodeSegment, isAlgorithm, isSegment, splitCompact, verifySignature } from './compact';

/** Whoever signs: a key set and the algorithms it may sign with. */
export interface JwsSigner extends KeySetPolicy {
  readonly algorithms: ReadonlySet<Algorithm>;
}

export interface SignedJwt<S extends JwsSigner> {
  readonly signer: S;
  /** The protected header (frozen: shared between tokens with the same header segment). */
  readonly header: Readonly<Record<string, unknown>>;
  /** The payload the signature covers, parsed once. */
  readonly payload: Record<string, unknown>;
  readonly alg: Algorithm;
  /** The kid of the key that verified the token (the token's own kid when it has one). */
  readonly kid: string | undefined;
  readonly keyTier: KeyTier;
  /** The version of the signer's key set that verified it (KeyLookup.version). */
  readonly keySetVersion: number;
}

/** A token without kid is tried against at most this many keys (docs/errors.md). */
const MAX_KIDLESS_KEYS = 3;

/** The signers a token may come from, by exact `iss` (a tenant's issuers, its transmitters). */
export interface Signers<S extends JwsSigner> {
  get(iss: string): S | undefined;
}

export async function verifyJws<S extends JwsSigner>(
  token: string, signers: Signers<S>, deps: { keys: KeySource }, options: { maxBytes: number },
): Promise<Outcome<SignedJwt<S>>> {
  // Length first: a UTF-16 length over the limit is a byte length over it too.
  if (token.length > options.maxBytes) return invalidToken('malformed', `credentials over ${options.maxBytes / 1024} KiB`);

  const segments = splitCompact(token);
  if (segments === null) return invalidToken('malformed', 'not three dot-separated parts');
  const [headerSegment, payloadSegment, signature] = segments;
  // An empty signature is a bad signature, not malformed.
  if (signature !== '' && !isSegment(signature)) return invalidToken('malformed', 'signature is not base64url');

  // Read untrusted: only to choose alg, signer and key; the signature then covers these very bytes.
  const header = decodeHeader(headerSegment);
  if (header === null) return invalidToken('malformed', 'header is not base64url JSON object');
  const alg = header.alg;
  if (typeof alg !== 'string') return invalidToken('malformed', 'alg missing or not a string');
  // none, HMAC and anything else outside the asymmetric set, whatever any config says.
  if (!isAlgorithm(alg)) return invalidToken('alg_not_allowed', `alg ${noteValue(alg)}`);
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return invalidToken('malformed', 'kid is not a string');
  // We understand no JWS extension (b64 is not for JWTs, RFC 7797 §7), so any crit rejects.
  if (header.crit !== undefined) return invalidToken('malformed', 'crit header');

  const payload = decodeSegment(payloadSegment);
  if (payload === null) return invalidToken('malformed', 'payload is not a base64url JSON object nesting at most 32 levels');
  const iss = payload.iss;
  if (iss === undefined) return invalidToken('unknown_issuer', 'no iss claim');
  if (typeof iss !== 'string') return invalidToken('malformed', 'iss is not a string');
  const signer = signers.get(iss);
  if (signer === undefined) return invalidToken('unknown_issuer');
  if (!signer.algorithms.has(alg)) return invalidToken('alg_not_allowed', `alg ${alg} not in the issuer's allowlist`);

  const lookup = await deps.keys.candidates(signer, { alg, kid });
  if (!lookup.ok) return lookup;
  const candidates = lookup.value.keys;
  if (candidates.length === 0) return invalidToken('unknown_kid');

  const tries = Math.min(candidates.length, MAX_KIDLESS_KEYS);
  for (let i = 0; i < tries; i++) {
    const candidate = candidates[i]!;
    const check = await verifySignature(token, candidate.key, alg);
    if (check === 'verified') {
      const { tier: keyTier, version: keySetVersion } = lookup.value;
      return ok({ signer, header, payload, alg, kid: kid ?? candidate.kid, keyTier, keySetVersion });
    }
    // Only a signature mismatch says "maybe another key": anything else was about the token.
    if (check === 'undecodable') return invalidToken('malformed', 'signature is not base64url');
  }
  return invalidToken('bad_signature');
}

/** A signer uses one of a few headers ({"alg","kid","typ"}): parsed once per isolate, by their
 *  exact segment. Bounded: a stream of made-up headers only misses. Read only. */
const headers = new Map<string, Readonly<Record<string, unknown>> | null>();
const MAX_HEADERS = 256;
const MAX_HEADER_CHARS = 512;

function decodeHeader(segment: string): Readonly<Record<string, unknown>> | null {
  if (segment.length > MAX_HEADER_CHARS) return decodeSegment(segment);
  let header = headers.get(segment);
  if (header === undefined) {
    header = decodeSegment(segment);
    if (headers.size >= MAX_HEADERS) headers.clear();
    headers.set(segment, header === null ? null : Object.freeze(header));
  }
  return header;
}

/** An alg value safe for the log: short, printable. */
function noteValue(value: string): string {
  return JSON.stringify(value.slice(0, 16));
}
