// Proof of possession for a verified token (docs/dpop.md; RFC 9449 §7,
// RFC 8705 §3): whether the request proved it holds the key or certificate the token is bound
// to, and whether the token's issuer required such a binding. Part of verification: it runs
// right after verifyToken, on every request, a verified-token cache hit included (the cache may
// keep the token's verification, never its proof: each proof is new and single-use).
//
//   const possession = await checkPossession(verified, {
//     scheme, accessToken: token, proof: request.headers.get('dpop'), method: request.method,
//     url: request.url, certificate: certificateOfRequest(request.cf) }, tenant, deps);
//   if (!possession.ok) return possession;                // invalid_token, invalid_dpop_proof, use_dpop_nonce, 500
//   possession.value.pop;                                  // 'dpop' | 'mtls' | null: x-auth-pop
//   possession.value.dpopNonce;                            // DPoP-Nonce for the response, or null
//   // ... revocation, scopes, conditions, step-up, perSubject: then, last of all,
//   if (possession.value.proof) await recordProof(possession.value.proof, tenant.id, deps);   // dpop_replayed, 503
//
// decidePossession is the decision, pure, over facts gathered first: the token's `cnf`, the
// issuer's `proofOfPossession`, the scheme the request used, the DPoP proof's verification and
// the client certificate. In this order, the first rule that applies decides:
//
//   #  scheme  cnf.jkt  cnf.x5t#S256  issuer requires    proof       certificate   outcome
//   1  Bearer  yes      any           any                -           any           invalid_token pop_required (§7.2: never as Bearer)
//   2  DPoP    no       any           any                -           any           invalid_token pop_required (§7.1: the DPoP
//                                                                                    scheme is for DPoP-bound tokens)
//   3  any     no       any           dpop               -           any           invalid_token pop_required
//   4  any     any      no            mtls               -           any           invalid_token pop_required
//   5  any     no       no            dpop-or-mtls       -           any           invalid_token pop_required
//   6  DPoP    yes      any           any                refused     any           the proof's denial (invalid_dpop_proof, use_dpop_nonce)
//   7  any     any      yes           any                verified/-  none/other    invalid_token cert_mismatch (held whatever the config)
//   8  DPoP    yes      no            optional/dpop/d-o-m verified   any           accepted, pop dpop
//   9  Bearer  no       yes           optional/mtls/d-o-m -          matches       accepted, pop mtls
//  10  DPoP    yes      yes           mtls               verified    matches       accepted, pop mtls (the one required)
//  11  DPoP    yes      yes           other              verified    matches       accepted, pop dpop
//  12  Bearer  no       no            optional           -           any           accepted, pop null (a bearer token)
//
// "-": no proof was checked (a proof is checked exactly when the scheme is DPoP and the token
// has cnf.jkt). The requirement (3-5) comes before the proof and the certificate: a token that can
// never pass is told so, not sent to fix a proof. A DPoP header on a Bearer request is ignored.
// A replay this isolate already knows of is refused here, from memory. Recording the proof's jti
// (recordProof, proof-replays.ts) is the request's last step, after every other one admitted
// it: a request refused by any rule, here or later, never uses up its proof or writes a row.
import type { JWTPayload } from 'jose';
import type { Clock } from '../base/clock';
import { deny, invalidToken, ok, type Outcome } from '../base/denial';
import type { ProofOfPossession } from '../config/schema';
import type { DpopPolicy } from '../tenants/tenant';
import type { Scheme } from '../verify/extract';
import type { VerifiedToken } from '../verify/token';
import { checkCertificateBinding } from './certificate';
import { verifyProof, type ProofInput, type VerifiedProof } from './dpop';
import type { DpopNonces } from './dpop-nonce';
import type { DpopReplay, ProofClaim } from './dpop-replay';
import type { ProofReplays } from './proof-replays';

export type Pop = 'dpop' | 'mtls';

/** What the token is bound to (RFC 7800 `cnf`): a DPoP key thumbprint, a certificate hash. */
export interface Confirmation {
  readonly jkt: string | null;
  readonly x5t: string | null;
}

export interface PossessionFacts {
  readonly confirmation: Confirmation;
  readonly required: ProofOfPossession;
  readonly scheme: Scheme;
  /** The proof's verification; null when none was checked. */
  readonly proof: Outcome<VerifiedProof> | null;
  /** base64url SHA-256 of the verified client certificate, or null (certificate.ts). */
  readonly certificate: string | null;
}

export interface Possession {
  /** How the request proved possession: x-auth-pop. Null for a bearer token. */
  readonly pop: Pop | null;
  /** The verified proof, whose jti recordProof claims once the request is admitted. */
  readonly proof: VerifiedProof | null;
}

/** The token's confirmation members (RFC 7800 §3.1, RFC 9449 §6.1, RFC 8705 §3.1). A `cnf` that
 *  is not an object, or a member that is not a string, is malformed, as any claim of the wrong
 *  JSON type is. Other confirmation methods (jwk, kid) bind nothing the edge can check, and are
 *  not read. */
export function readConfirmation(claims: JWTPayload): Outcome<Confirmation> {
  const cnf = claims.cnf;
  if (cnf === undefined) return NOT_BOUND;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return invalidToken('malformed', 'cnf is not an object');
  const members = cnf as Record<string, unknown>;
  const jkt = Object.hasOwn(members, 'jkt') ? members.jkt : undefined;
  const x5t = Object.hasOwn(members, 'x5t#S256') ? members['x5t#S256'] : undefined;
  if (jkt !== undefined && (typeof jkt !== 'string' || jkt === '')) return invalidToken('malformed', 'cnf.jkt is not a string');
  if (x5t !== undefined && (typeof x5t !== 'string' || x5t === '')) return invalidToken('malformed', 'cnf["x5t#S256"] is not a string');
  return ok({ jkt: jkt ?? null, x5t: x5t ?? null });
}

const NOT_BOUND: Outcome<Confirmation> = ok({ jkt: null, x5t: null });

/** The decision table above, rule by rule. */
export function decidePossession(facts: PossessionFacts): Outcome<Possession> {
  const { confirmation: { jkt, x5t }, required, scheme, proof, certificate } = facts;
  if (scheme === 'bearer' && jkt !== null) return invalidToken('pop_required', 'a DPoP-bound token sent as Bearer');
  if (scheme === 'dpop' && jkt === null) return invalidToken('pop_required', 'the DPoP scheme with a token that is not DPoP-bound');
  if (required === 'dpop' && jkt === null) return invalidToken('pop_required', 'the issuer requires DPoP-bound tokens');
  if (required === 'mtls' && x5t === null) return invalidToken('pop_required', 'the issuer requires certificate-bound tokens');
  if (required === 'dpop-or-mtls' && jkt === null && x5t === null) {
    return invalidToken('pop_required', 'the issuer requires sender-constrained tokens');
  }

  let verified: VerifiedProof | null = null;
  if (jkt !== null) {
    // Here the scheme is DPoP (rules 1 and 2), so the caller had to check the proof.
    if (proof === null) throw new Error('decidePossession: a DPoP request with a DPoP-bound token and no proof check');
    if (!proof.ok) return proof;
    verified = proof.value;
  }
  if (x5t !== null) {
    const bound = checkCertificateBinding(x5t, certificate);
    if (!bound.ok) return bound;
  }

  const pop: Pop | null = jkt !== null && x5t !== null ? (required === 'mtls' ? 'mtls' : 'dpop')
    : jkt !== null ? 'dpop' : x5t !== null ? 'mtls' : null;
  return ok({ pop, proof: verified });
}

/** What the request brought besides the token. */
export interface PossessionRequest {
  readonly scheme: Scheme;
  readonly accessToken: string;
  /** The DPoP header value(s) as received (verifyProof's ProofInput.proof). */
  readonly proof: ProofInput['proof'];
  readonly method: string;
  /** The URL the client addressed: the tenant host, never `upstream`. */
  readonly url: string;
  /** certificateOfRequest(request.cf) or certificateOfRpc(clientCertSha256). */
  readonly certificate: string | null;
}

export interface PossessionTenant {
  readonly id: string;
  readonly dpop: DpopPolicy;
}

export interface PossessionDeps {
  readonly now: Clock;
  /** createProofReplays(), once per isolate. */
  readonly replays: ProofReplays;
  /** createDpopNonces(), once per isolate. */
  readonly nonces: DpopNonces;
  /** null where DPOP_REPLAY is not bound (a user's own Worker): a proof cannot be claimed once,
   *  so a DPoP-bound token is refused as a broken binding (500), never accepted unchecked. */
  readonly dpopReplay: DurableObjectNamespace<DpopReplay> | null;
  /** The tenant's DPoP nonce secret, from its state snapshot; needed only with dpop.nonce. */
  readonly nonceSecret: Uint8Array | null;
}

export interface CheckedPossession extends Possession {
  /** The DPoP-Nonce header for the response: set for a DPoP request on a tenant with dpop.nonce. */
  readonly dpopNonce: string | null;
}

/** Whether possession needs checking at all: a Bearer request whose token carries no `cnf`,
 *  from an issuer that requires no binding, is a plain bearer token (row 12), decided here
 *  without the rest. */
export function mayBeBound(token: VerifiedToken, scheme: Scheme): boolean {
  return scheme !== 'bearer' || token.claims.cnf !== undefined || token.issuer.proofOfPossession !== 'optional';
}

/** Gathers the facts (the proof checked only when one is needed) and decides; a proof it passes
 *  is not yet recorded (recordProof). */
export async function checkPossession(
  token: VerifiedToken, request: PossessionRequest, tenant: PossessionTenant, deps: PossessionDeps,
): Promise<Outcome<CheckedPossession>> {
  const confirmation = readConfirmation(token.claims);
  if (!confirmation.ok) return confirmation;

  let nonceCheck = null;
  if (request.scheme === 'dpop' && tenant.dpop.nonce) {
    // A broken binding (no tenant state to hold the secret), not the client's fault: 500.
    if (deps.nonceSecret === null) return deny({ error: 'internal_error', note: 'dpop.nonce without a nonce secret' });
    nonceCheck = deps.nonces.forTenant(tenant.id, deps.nonceSecret);
  }

  let proof: Outcome<VerifiedProof> | null = null;
  if (request.scheme === 'dpop' && confirmation.value.jkt !== null) {
    proof = await verifyProof(
      {
        proof: request.proof, method: request.method, url: request.url, accessToken: request.accessToken,
        boundJkt: confirmation.value.jkt,
      },
      {
        algorithms: token.issuer.algorithms, clockToleranceSeconds: token.issuer.clockToleranceSeconds,
        maxAgeSeconds: tenant.dpop.maxAgeSeconds, nonce: nonceCheck,
      },
      { now: deps.now });
  }

  const decided = decidePossession({
    confirmation: confirmation.value, required: token.issuer.proofOfPossession, scheme: request.scheme, proof,
    certificate: request.certificate,
  });
  if (!decided.ok) return decided;

  const verified = decided.value.proof;
  if (verified !== null) {
    if (deps.dpopReplay === null) return unbound();
    const known = deps.replays.known(claimOf(verified, tenant.id));
    if (!known.ok) return known;
  }
  return ok({ ...decided.value, dpopNonce: nonceCheck === null ? null : await nonceCheck.issue() });
}

/** Records a proof checkPossession passed as used, once: the last step of a request every other
 *  step admitted. A replay (another request, maybe in another isolate, recorded it first) is
 *  `invalid_dpop_proof` `dpop_replayed`; an object that cannot record it is 503. */
export async function recordProof(
  proof: VerifiedProof, tenantId: string, deps: Pick<PossessionDeps, 'replays' | 'dpopReplay'>,
): Promise<Outcome<void>> {
  if (deps.dpopReplay === null) return unbound();
  return deps.replays.claim(claimOf(proof, tenantId), { dpopReplay: deps.dpopReplay });
}

const claimOf = (proof: VerifiedProof, tenantId: string): ProofClaim =>
  ({ tenantId, jkt: proof.jkt, jti: proof.jti, expiresAt: proof.expiresAt });

const unbound = () => deny({ error: 'internal_error', note: 'DPOP_REPLAY is not bound: a DPoP proof cannot be checked for replay' });
