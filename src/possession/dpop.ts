// Verifying the DPoP proof of one request (RFC 9449 §4.3, §7.1 for a protected resource; the contract (docs/)
// "Sender-constrained tokens"). The access token was verified before; this checks the proof
// against the request, the token and the token's `cnf.jkt`. Whether a proof is needed at all is
// decision.ts's; whether its jti was used before is the DpopReplay object's
// (proof-replays.ts), asked last, once every other step admitted the request.
//
//   const proof = await verifyProof(
//     { proof: request.headers.get('dpop'), method: request.method, url: request.url,
//       accessToken, boundJkt: confirmation.jkt },
//     { algorithms: issuer.algorithms, clockToleranceSeconds: issuer.clockToleranceSeconds,
//       maxAgeSeconds: tenant.dpop.maxAgeSeconds, nonce: null },
//     { now });
//   if (!proof.ok) return proof;         // invalid_dpop_proof (reason) or use_dpop_nonce
//   proof.value.jti; proof.value.expiresAt;   // for the replay check
//
// The order decides which reason a proof with several faults gets: malformed (no or several
// headers, over 8 KiB, structure, header, key, claim types), then the signature, then htm / htu /
// ath, then iat, then the key binding, then the nonce. So use_dpop_nonce goes only to a proof that
// is right in every other way, and an unsigned claim never picks the reason.
//
// Per request: one signature verification and one SHA-256 (ath). The proof's header is the same
// bytes on every request of a client key, so the key import and the RFC 7638 thumbprint are done
// once per header per isolate (a bounded map, like jws.ts's headers).
import { base64url, calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import type { Clock } from '../base/clock';
import { deny, invalidProof, ok, type Outcome } from '../base/denial';
import type { Algorithm } from '../config/algorithms';
import { decodeSegment, isAlgorithm, isSegment, splitCompact, verifySignature } from '../verify/compact';
import { proofReasonOfKeyImport } from '../verify/reasons';
import { inFuture, olderThan, secondsOf } from '../verify/times';
import type { NonceCheck } from './dpop-nonce';
import { htuMatches } from './htu';

/** A longer DPoP header is malformed without being parsed: a proof with a 4096-bit RSA jwk is
 *  under 2 KiB. */
export const MAX_PROOF_BYTES = 8 * 1024;
/** RFC 9449 §4.2 leaves jti's length open; the contract (docs/) caps it, as it caps revocation keys. */
export const MAX_JTI_CHARS = 256;
/** RSA moduli a proof key may have: RFC 7518's floor, and a ceiling so one proof cannot cost much CPU. */
const RSA_BITS = { min: 2048, max: 8192 } as const;

export interface ProofInput {
  /** The request's DPoP header as received: null when absent, a string (Headers.get joins
   *  repeated fields with ", ", and a compact JWS holds no comma), or every value separately. */
  readonly proof: string | readonly string[] | null;
  readonly method: string;
  /** The URL the client addressed (the tenant host, never `upstream`); query and fragment ignored. */
  readonly url: string;
  /** The access token of the same request, whose hash `ath` must be. */
  readonly accessToken: string;
  /** The token's `cnf.jkt`: the key the proof must be signed with. */
  readonly boundJkt: string;
}

export interface ProofRules {
  /** The token issuer's allowlist: asymmetric only, by the schema. */
  readonly algorithms: ReadonlySet<Algorithm>;
  readonly clockToleranceSeconds: number;
  /** The tenant's dpop.maxAgeSeconds. */
  readonly maxAgeSeconds: number;
  /** Set when the tenant issues nonces (dpop.nonce); null otherwise (a proof's nonce is then ignored). */
  readonly nonce: NonceCheck | null;
}

export interface VerifiedProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key (equal to the token's cnf.jkt). */
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
  readonly nonce: string | null;
  /** Epoch seconds after which no isolate accepts this proof any more (iat + maxAge + the clock
   *  tolerance): how long the replay check must remember its jti. */
  readonly expiresAt: number;
}

/** What a proof header is once checked: the same bytes always give the same answer. */
interface ProofKey {
  readonly alg: Algorithm;
  readonly key: CryptoKey;
  readonly jkt: string;
}

type KeyOutcome = { ok: true; value: ProofKey } | { ok: false; reason: 'dpop_malformed'; note: string };

/** Private or secret members of any key type (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;
const CURVES: Partial<Record<Algorithm, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
const encoder = new TextEncoder();

export async function verifyProof(input: ProofInput, rules: ProofRules, deps: { now: Clock }): Promise<Outcome<VerifiedProof>> {
  const proof = oneProof(input.proof);
  if (typeof proof !== 'string') return invalidProof('dpop_malformed', proof.note);
  if (proof.length > MAX_PROOF_BYTES) return invalidProof('dpop_malformed', 'proof over 8 KiB');

  const segments = splitCompact(proof);
  if (segments === null) return invalidProof('dpop_malformed', 'not three dot-separated parts');
  const [headerSegment, payloadSegment, signature] = segments;
  if (!isSegment(signature)) return invalidProof('dpop_malformed', 'signature is not base64url');

  const checked = await proofKeyOf(headerSegment);
  if (!checked.ok) return invalidProof(checked.reason, checked.note);
  const { alg, key, jkt } = checked.value;
  if (!rules.algorithms.has(alg)) return invalidProof('dpop_malformed', `alg ${alg} not in the issuer's allowlist`);

  const claims = decodeSegment(payloadSegment);
  if (claims === null) return invalidProof('dpop_malformed', 'payload is not a base64url JSON object nesting at most 32 levels');
  const { jti, htm, htu, iat, ath, nonce } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS) {
    return invalidProof('dpop_malformed', 'jti missing, empty, over 256 characters or not a string');
  }
  if (typeof htm !== 'string') return invalidProof('dpop_malformed', 'htm missing or not a string');
  if (typeof htu !== 'string') return invalidProof('dpop_malformed', 'htu missing or not a string');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return invalidProof('dpop_malformed', 'iat missing or not a finite number');
  if (typeof ath !== 'string') return invalidProof('dpop_malformed', 'ath missing or not a string');
  if (nonce !== undefined && typeof nonce !== 'string') return invalidProof('dpop_malformed', 'nonce is not a string');

  // With the key from this very header: the claims above are what it signed.
  const check = await verifySignature(proof, key, alg);
  if (check === 'undecodable') return invalidProof('dpop_malformed', 'signature is not base64url');
  if (check === 'bad_signature') return invalidProof('dpop_bad_signature');

  if (htm !== input.method) return invalidProof('dpop_mismatch', 'htm is not the request method');
  if (!htuMatches(htu, input.url)) return invalidProof('dpop_mismatch', 'htu is not the request URL');
  if (ath !== await sha256(input.accessToken)) return invalidProof('dpop_mismatch', 'ath is not the hash of the access token');

  // The proof's own age, without the clock tolerance; a future iat with it (verify/times.ts).
  const now = secondsOf(deps.now());
  if (olderThan(iat, now, rules.maxAgeSeconds, 0)) return invalidProof('dpop_stale', 'iat older than dpop.maxAgeSeconds');
  if (inFuture(iat, now, rules.clockToleranceSeconds)) return invalidProof('dpop_stale', 'iat in the future');

  if (jkt !== input.boundJkt) return invalidProof('dpop_key_mismatch');

  if (rules.nonce !== null && (nonce === undefined || !await rules.nonce.accepts(nonce))) {
    return deny({ error: 'use_dpop_nonce', nonce: await rules.nonce.issue() });
  }

  return ok({
    jkt, jti, iat,
    nonce: rules.nonce === null ? null : nonce ?? null,
    expiresAt: Math.ceil(iat) + rules.maxAgeSeconds + rules.clockToleranceSeconds,
  });
}

/** base64url(SHA-256(ASCII of the token)): RFC 9449 §4.2 `ath`. */
export async function sha256(text: string): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text))));
}

/** Exactly one proof, or why not (RFC 9449 §4.3 check 1). */
function oneProof(value: ProofInput['proof']): string | { note: string } {
  if (value === null) return { note: 'no DPoP header' };
  const values = typeof value === 'string' ? [value] : value;
  if (values.length === 0) return { note: 'no DPoP header' };
  if (values.length > 1 || values[0]!.includes(',')) return { note: 'several DPoP headers' };
  const proof = values[0]!.trim();
  return proof === '' ? { note: 'empty DPoP header' } : proof;
}

/** Proof headers already checked, by their exact segment. Only good ones are kept (a bad one is
 *  cheap to refuse again); a stream of made-up headers only replaces entries. */
const proofKeys = new Map<string, ProofKey>();
const MAX_PROOF_KEYS = 512;
/** A 4096-bit RSA key's header is about 1 KiB of base64url; larger ones are checked every time. */
const MAX_CACHED_HEADER_CHARS = 2048;

async function proofKeyOf(segment: string): Promise<KeyOutcome> {
  const held = proofKeys.get(segment);
  if (held !== undefined) return { ok: true, value: held };
  const checked = await checkHeader(segment);
  if (checked.ok && segment.length <= MAX_CACHED_HEADER_CHARS) {
    if (proofKeys.size >= MAX_PROOF_KEYS) proofKeys.clear();
    proofKeys.set(segment, checked.value);
  }
  return checked;
}

const malformed = (note: string): KeyOutcome => ({ ok: false, reason: 'dpop_malformed', note });

/** RFC 9449 §4.2-4.3 on the header: typ, an asymmetric alg, a public jwk that fits the alg. */
async function checkHeader(segment: string): Promise<KeyOutcome> {
  const header = decodeSegment(segment);
  if (header === null) return malformed('header is not base64url JSON object');
  if (typeof header.typ !== 'string' || !isDpopType(header.typ)) return malformed('typ is not dpop+jwt');
  const alg = header.alg;
  if (typeof alg !== 'string') return malformed('alg missing or not a string');
  // none, HMAC and anything else outside the asymmetric set (RFC 9449 §4.3 check 5).
  if (!isAlgorithm(alg)) return malformed(`alg ${JSON.stringify(alg.slice(0, 16))} is not an asymmetric algorithm`);
  // No JWS extension is understood, so any crit is refused (RFC 7515 §4.1.11).
  if (header.crit !== undefined) return malformed('crit header');

  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return malformed('jwk missing or not an object');
  const members = jwk as Record<string, unknown>;
  if (members.kty === 'oct') return malformed('jwk is a symmetric key');
  for (const name of PRIVATE_MEMBERS) if (Object.hasOwn(members, name)) return malformed('jwk holds a private key member');
  const publicJwk = publicMembers(alg, members);
  if (typeof publicJwk === 'string') return malformed(publicJwk);

  let key: CryptoKey;
  let jkt: string;
  try {
    // Only the RFC 7638 members are imported: alg, use, key_ops or ext on the jwk change nothing.
    key = await importJWK(publicJwk, alg) as CryptoKey;
    jkt = await calculateJwkThumbprint(publicJwk, 'sha256');
  } catch (error) {
    const why = proofReasonOfKeyImport(error);
    return malformed(why.note);
  }
  // verifySignature takes a smaller modulus for a key imported wrongly (a bug, thrown): refuse first.
  const modulus = (key.algorithm as Partial<CryptoKeyRsaKeyAlgorithm>).modulusLength;
  if (modulus !== undefined && (modulus < RSA_BITS.min || modulus > RSA_BITS.max)) {
    return malformed('jwk RSA modulus outside 2048..8192 bits');
  }
  return { ok: true, value: { alg, key, jkt } };
}

/** The public members of `jwk` that identify it (RFC 7638 §3.2), when it is a key for `alg`; else
 *  why not. Bounded so one proof cannot cost much: an RSA modulus of 2048 to 8192 bits and a
 *  public exponent of at most 4 bytes (a huge exponent makes every verification slow). */
function publicMembers(alg: Algorithm, jwk: Record<string, unknown>): JWK | string {
  const text = (name: string): string | null => {
    const value = jwk[name];
    return typeof value === 'string' && isSegment(value) ? value : null;
  };
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    const n = text('n');
    const e = text('e');
    if (jwk.kty !== 'RSA' || n === null || e === null) return `jwk is not an RSA public key for ${alg}`;
    // An upper bound before importing anything; the exact size is checked on the imported key.
    if (Math.floor(n.length * 6 / 8) * 8 > RSA_BITS.max) return 'jwk RSA modulus over 8192 bits';
    if (e.length > 6) return 'jwk RSA exponent over 4 bytes';
    return { kty: 'RSA', n, e };
  }
  const crv = CURVES[alg];
  if (crv !== undefined) {
    const x = text('x');
    const y = text('y');
    if (jwk.kty !== 'EC' || jwk.crv !== crv || x === null || y === null) return `jwk is not a ${crv} public key for ${alg}`;
    return { kty: 'EC', crv, x, y };
  }
  const x = text('x');
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || x === null) return `jwk is not an Ed25519 public key for ${alg}`;
  return { kty: 'OKP', crv: 'Ed25519', x };
}

/** RFC 7515 §4.1.9: "dpop+jwt" and "application/dpop+jwt" name one media type, in any case. */
function isDpopType(typ: string): boolean {
  const lower = typ.toLowerCase();
  return lower === 'dpop+jwt' || lower === 'application/dpop+jwt';
}
