// DPoP proofs as a client makes them (RFC 9449 §4.2), signed with jose's SignJWT: a key pair with
// its RFC 7638 thumbprint, and a proof for one request whose claims and header a test may bend.
//
//   const client = await proofKey('ES256');          // client.jkt goes in the token's cnf
//   const proof = await signProof(client, { htm: 'GET', htu: 'https://api.acme.com/x', accessToken: token });
//   await signProof(client, { ..., claims: { iat: undefined } })   // undefined removes a claim
import { SignJWT, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { sha256 } from '../../src/possession/dpop';
import { makeKey, type TestAlg, type TestKey } from './issuer';

export interface ProofKey extends TestKey {
  /** The public members only, as a client puts them in the proof header. */
  readonly jwk: JWK;
  readonly jkt: string;
}

export async function proofKey(alg: TestAlg = 'ES256', options: { modulusLength?: number } = {}): Promise<ProofKey> {
  const key = await makeKey(alg, undefined, options);
  const { kid: _kid, alg: _alg, use: _use, ...jwk } = key.publicJwk;
  return { ...key, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** The private JWK of a key (for the "private member in the header" attack). */
export const privateJwkOf = async (key: TestKey): Promise<JWK> => exportJWK(key.privateKey);

export interface ProofRequest {
  htm: string;
  htu: string;
  /** The access token the proof goes with: its hash becomes `ath`. */
  accessToken: string;
  /** Epoch ms; default Date.now(). */
  now?: number;
  /** Claims over the defaults (jti random, iat now, ath); undefined removes one. */
  claims?: Record<string, unknown>;
  /** Header members over { typ, alg, jwk }; undefined removes one. */
  header?: Record<string, unknown>;
}

let counter = 0;

export async function signProof(key: ProofKey, request: ProofRequest): Promise<string> {
  const iat = Math.floor((request.now ?? Date.now()) / 1000);
  const payload: Record<string, unknown> = {
    jti: `proof-${++counter}-${crypto.randomUUID()}`, htm: request.htm, htu: request.htu, iat,
    ath: await sha256(request.accessToken), ...request.claims,
  };
  const header: Record<string, unknown> = { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...request.header };
  for (const record of [payload, header]) for (const name of Object.keys(record)) if (record[name] === undefined) delete record[name];
  // SignJWT insists on an alg; a header without one is forged elsewhere.
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}
