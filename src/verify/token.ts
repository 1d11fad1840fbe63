// Verifying one bearer JWT for a tenant (SPEC.md "Verification rules"): the issuer comes from
// `iss` alone, the alg from that issuer's allowlist, keys from the key tiers, the JWS (header,
// signature) from jose's compactVerify, the JWT claims set's checks (typ, exp, nbf, iat,
// maxTokenAge: RFC 7519 §4.1, jose's rules exactly) from times.ts on the payload parsed here
// once, the remaining claims from claims.ts. Every refusal is an invalid_token reason (or the
// key tiers' own denial), never a throw.
//
//   const verified = await verifyToken(token, { id, issuers: tenant.issuers, resource }, { now, keys });
//   if (!verified.ok) return deny(verified.denial);
//   verified.value.scopes.has('admin');
import { base64url, compactVerify, type JWTPayload } from 'jose';
import type { Clock } from '../clock';
import { invalidToken, ok, type Outcome } from '../denial';
import type { KeySource, KeyTier } from '../keys/key-source';
import { ALGORITHMS, type Algorithm } from '../tenants/schema';
import type { IssuerPolicy } from '../tenants/tenant';
import { readClaims } from './claims';
import { reasonOfJoseError, type JoseDenial } from './reasons';
import { checkTimes, readTimes, type TokenTimes } from './times';

/** Longer credentials are malformed without being parsed (SPEC.md "Reason codes"). */
export const MAX_CREDENTIAL_BYTES = 16 * 1024;

/** `expiresAt`, `notBefore`, `issuedAt`: the time claims, checked again on every cache hit. */
export interface VerifiedToken extends TokenTimes {
  readonly issuer: IssuerPolicy;
  readonly subject: string | null;
  readonly clientId: string | null;
  readonly scopes: ReadonlySet<string>;
  /** The verified payload. */
  readonly claims: JWTPayload;
  /** The kid of the key that verified the token (the token's own kid when it has one). */
  readonly kid: string | undefined;
  readonly alg: Algorithm;
  readonly keyTier: KeyTier;
  /** The version of the issuer's key set that verified it (KeyLookup.version). */
  readonly keySetVersion: number;
}

/** What verification needs of a tenant; `resource` is the effective one (defaulted by the caller). */
export interface VerifyingTenant {
  readonly id: string;
  readonly issuers: ReadonlyMap<string, IssuerPolicy>;
  readonly resource: string;
}

const SUPPORTED_ALGORITHMS: ReadonlySet<string> = new Set(ALGORITHMS);
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** The signature segment: base64url without padding, so a token has exactly one spelling
 *  (jose's decoder would accept "==" after it). Empty is a bad signature, not malformed. */
const SIGNATURE = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
/** compactVerify's options per alg, built once: the allowlist was checked above, jose checks it again. */
const JWS_OPTIONS = Object.fromEntries(ALGORITHMS.map((alg) => [alg, { algorithms: [alg] }])) as Record<Algorithm, { algorithms: string[] }>;
/** A token without kid is tried against at most this many keys (SPEC.md "Verification rules"). */
const MAX_KIDLESS_KEYS = 3;

export async function verifyToken(
  token: string, tenant: VerifyingTenant, deps: { now: Clock; keys: KeySource },
): Promise<Outcome<VerifiedToken>> {
  // Length first: a UTF-16 length over the limit is a byte length over it too.
  if (token.length > MAX_CREDENTIAL_BYTES) return invalidToken('malformed', 'credentials over 16 KiB');

  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot < 0 || secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) {
    return invalidToken('malformed', 'not three dot-separated parts');
  }
  if (!SIGNATURE.test(token.slice(secondDot + 1))) return invalidToken('malformed', 'signature is not base64url');

  // Read untrusted: only to choose alg, issuer and key; jose re-checks all of it under the signature.
  const header = decodeHeader(token.slice(0, firstDot));
  if (header === null) return invalidToken('malformed', 'header is not base64url JSON object');
  const alg = header.alg;
  if (typeof alg !== 'string') return invalidToken('malformed', 'alg missing or not a string');
  // none, HMAC and anything else outside the asymmetric set, whatever any config says.
  if (!isAlgorithm(alg)) return invalidToken('alg_not_allowed', `alg ${noteValue(alg)}`);
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return invalidToken('malformed', 'kid is not a string');
  // We understand no JWS extension (b64 is not for JWTs, RFC 7797 §7), so any crit rejects.
  if (header.crit !== undefined) return invalidToken('malformed', 'crit header');

  const payload = decodeSegment(token.slice(firstDot + 1, secondDot));
  if (payload === null) return invalidToken('malformed', 'payload is not base64url JSON object');
  const iss = payload.iss;
  if (iss === undefined) return invalidToken('unknown_issuer', 'no iss claim');
  if (typeof iss !== 'string') return invalidToken('malformed', 'iss is not a string');
  const issuer = tenant.issuers.get(iss);
  if (issuer === undefined) return invalidToken('unknown_issuer');
  if (!issuer.algorithms.has(alg)) return invalidToken('alg_not_allowed', `alg ${alg} not in the issuer's allowlist`);

  const lookup = await deps.keys.candidates(issuer, { alg, kid });
  if (!lookup.ok) return lookup;
  const candidates = lookup.value.keys;
  if (candidates.length === 0) return invalidToken('unknown_kid');

  let verified = false;
  let verifiedKid = kid;
  let failure: JoseDenial | undefined;
  const tries = Math.min(candidates.length, MAX_KIDLESS_KEYS);
  for (let i = 0; i < tries && !verified; i++) {
    const candidate = candidates[i]!;
    try {
      // The JWS only: jose parses the same header and checks the signature over the same payload
      // bytes parsed above, so those claims are what the issuer signed.
      await compactVerify(token, candidate.key, JWS_OPTIONS[alg]);
      verified = true;
      verifiedKid = kid ?? candidate.kid;
    } catch (error) {
      failure = reasonOfJoseError(error);
      // Only a signature mismatch says "maybe another key": anything else was about the token.
      if (failure.reason !== 'bad_signature') break;
    }
  }
  if (!verified) return invalidToken(failure?.reason ?? 'unknown_kid', failure?.note);

  const claims = payload as JWTPayload;
  const times = readTimes(header, claims, issuer);
  if (!times.ok) return times;
  const valid = checkTimes(times.value, issuer, deps.now());
  if (!valid.ok) return valid;

  const identity = readClaims(claims, issuer, tenant.resource);
  if (!identity.ok) return identity;
  return ok({
    issuer,
    subject: identity.value.subject,
    clientId: identity.value.clientId,
    scopes: identity.value.scopes,
    claims,
    kid: verifiedKid,
    alg,
    ...times.value,
    keyTier: lookup.value.tier,
    keySetVersion: lookup.value.version,
  });
}

function isAlgorithm(alg: string): alg is Algorithm {
  return SUPPORTED_ALGORITHMS.has(alg);
}

/** An issuer signs every token with one of a few headers ({"alg","kid","typ"}): parsed once per
 *  isolate, by their exact segment. Bounded: a stream of made-up headers only misses. Read only. */
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

/** A base64url segment holding a JSON object, or null. */
export function decodeSegment(segment: string): Record<string, unknown> | null {
  if (!BASE64URL.test(segment)) return null;
  try {
    const value: unknown = JSON.parse(utf8.decode(base64url.decode(segment)));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** An alg value safe for the log: short, printable. */
function noteValue(value: string): string {
  return JSON.stringify(value.slice(0, 16));
}
