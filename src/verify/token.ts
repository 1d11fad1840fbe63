// Verifying one bearer JWT for a tenant (docs/errors.md): the issuer comes from
// `iss` alone, the alg from that issuer's allowlist, keys from the key tiers, the JWS (header,
// signature) checked once over the segments it decoded, all of that in jws.ts (shared with logout tokens and
// SETs); the JWT claims set's checks (typ, exp, nbf, iat, maxTokenAge: RFC 7519 §4.1, jose's
// rules exactly) from times.ts on the payload jws.ts parsed once, the remaining claims from
// claims.ts. Every refusal is an invalid_token reason (or the key tiers' own denial), never a
// throw.
//
//   const verified = await verifyToken(token, { id, issuers: tenant.issuers, resource }, { now, keys });
//   if (!verified.ok) return deny(verified.denial);
//   verified.value.scopes.has('admin');
import type { JWTPayload } from 'jose';
import type { Clock } from '../base/clock';
import { invalidToken, ok, type Outcome } from '../base/denial';
import type { KeySource, KeyTier } from '../keys/key-source';
import type { Algorithm } from '../config/algorithms';
import type { IssuerPolicy } from '../tenants/tenant';
import { readClaims } from './claims';
import { verifyJws } from './jws';
import { checkTimes, readTimes, type TokenTimes } from './times';

/** Longer credentials are malformed without being parsed (docs/errors.md). */
export const MAX_CREDENTIAL_BYTES = 16 * 1024;
const VERIFY_OPTIONS = { maxBytes: MAX_CREDENTIAL_BYTES };

/** `expiresAt`, `notBefore`, `issuedAt`: the time claims, checked again on every cache hit. */
export interface VerifiedToken extends TokenTimes {
  readonly issuer: IssuerPolicy;
  readonly subject: string | null;
  readonly clientId: string | null;
  /** Read-only (a ScopeSet). */
  readonly scopes: ReadonlySet<string>;
  /** The verified payload, deep-frozen. */
  readonly claims: JWTPayload;
  /** The kid of the key that verified the token (the token's own kid when it has one). */
  readonly kid: string | undefined;
  /** The signature's alg and the key tier that answered; null for an opaque token, which an
   *  introspection answer vouched for (introspection/). */
  readonly alg: Algorithm | null;
  readonly keyTier: KeyTier | null;
  /** The version of the issuer's key set that verified it (KeyLookup.version); 0 when none did. */
  readonly keySetVersion: number;
}

/** How the issuer vouched for the claims: the signature's key (a JWT), or none of it (an answer). */
export type Vouched = Pick<VerifiedToken, 'kid' | 'alg' | 'keyTier' | 'keySetVersion'>;

/** What verification needs of a tenant; `resource` is the effective one (defaulted by the caller). */
export interface VerifyingTenant {
  readonly id: string;
  readonly issuers: ReadonlyMap<string, IssuerPolicy>;
  readonly resource: string;
}

export async function verifyToken(
  token: string, tenant: VerifyingTenant, deps: { now: Clock; keys: KeySource },
): Promise<Outcome<VerifiedToken>> {
  const signed = await verifyJws(token, tenant.issuers, deps, VERIFY_OPTIONS);
  if (!signed.ok) return signed;
  const { signer: issuer, header, payload } = signed.value;

  const claims = payload as JWTPayload;
  // A security event (a logout token, a SET) signed by the same issuer is never an access token,
  // whatever audience it names (RFC 8417 §4.1.1, OIDC Back-Channel Logout §2.4).
  if (isSecurityEvent(header, claims)) return invalidToken('wrong_type', 'a security event token, not an access token');
  const times = readTimes(header, claims, issuer);
  if (!times.ok) return times;
  const valid = checkTimes(times.value, issuer, deps.now());
  if (!valid.ok) return valid;

  const { kid, alg, keyTier, keySetVersion } = signed.value;
  return acceptClaims(claims, issuer, tenant.resource, times.value, { kid, alg, keyTier, keySetVersion });
}

/** The claims an issuer vouched for (by a signature, or an introspection answer), read as every
 *  later step reads a token: audience, resource, sub, jti, sid, scopes and client id (claims.ts),
 *  then frozen. The time claims were read already; checkTimes is the caller's. */
export function acceptClaims(claims: JWTPayload, issuer: IssuerPolicy, resource: string, times: TokenTimes, vouched: Vouched):
  Outcome<VerifiedToken> {
  const identity = readClaims(claims, issuer, resource);
  if (!identity.ok) return identity;
  // Once per verification: the token cache hands these to every later request with the token,
  // and the doors to code after them, which may change nothing a later request sees.
  deepFreeze(claims);
  return ok({
    issuer,
    subject: identity.value.subject,
    clientId: identity.value.clientId,
    scopes: new ScopeSet(identity.value.scopes),
    claims,
    kid: vouched.kid,
    alg: vouched.alg,
    ...times,
    keyTier: vouched.keyTier,
    keySetVersion: vouched.keySetVersion,
  });
}

/** A verified token's scopes, read-only: the cache hands the same object to every request with
 *  the token, and the doors hand it to code after them (the Hono context's `auth`), so nothing
 *  may add to it. A frozen Set would not do: `Set.prototype.add` still works on one. */
export class ScopeSet implements ReadonlySet<string> {
  readonly #scopes: ReadonlySet<string>;

  constructor(scopes: ReadonlySet<string>) {
    this.#scopes = scopes;
    Object.freeze(this);
  }

  get size(): number { return this.#scopes.size; }
  has(scope: string): boolean { return this.#scopes.has(scope); }
  forEach(each: (scope: string, again: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const scope of this.#scopes) each.call(thisArg, scope, scope, this);
  }
  entries(): SetIterator<[string, string]> { return this.#scopes.entries(); }
  keys(): SetIterator<string> { return this.#scopes.keys(); }
  values(): SetIterator<string> { return this.#scopes.values(); }
  [Symbol.iterator](): SetIterator<string> { return this.#scopes.values(); }
}

/** Claims are JSON, at most MAX_JSON_DEPTH levels deep (compact.ts): objects and arrays all the way down. */
function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
}

const EVENT_TYPES = /^(?:application\/)?(?:logout|secevent)\+jwt$/i;

function isSecurityEvent(header: Readonly<Record<string, unknown>>, claims: JWTPayload): boolean {
  return claims.events !== undefined || (typeof header.typ === 'string' && EVENT_TYPES.test(header.typ));
}
