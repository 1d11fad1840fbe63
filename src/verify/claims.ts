// The claim checks jose does not do our way, on a claims set whose signature and times have
// been verified (docs/errors.md): audience, RFC 8707 `resource`, and what the
// identity is made of (sub, scopes, client id). A claim of the wrong JSON type is malformed.
// `scopeClaims` are compiled readers: a top-level name or a JSON Pointer (`/realm_access/roles`).
//
//   const identity = readClaims(payload, issuer, tenant.resource);
//   if (!identity.ok) return identity;                 // wrong_audience, wrong_resource, malformed
//   identity.value.scopes.has('admin');
import type { JWTPayload } from 'jose';
import { invalidToken, ok, type Outcome } from '../base/denial';
import { isScopeToken } from '../config/scope-token';
import type { IssuerPolicy } from '../tenants/tenant';

export interface ClaimedIdentity {
  readonly subject: string | null;
  readonly clientId: string | null;
  readonly scopes: ReadonlySet<string>;
}

export function readClaims(claims: JWTPayload, issuer: IssuerPolicy, resource: string): Outcome<ClaimedIdentity> {
  // Audience: the configured claim (Cognito access tokens use client_id), string or array.
  const audience = claims[issuer.audienceClaim];
  if (audience === undefined) return invalidToken('wrong_audience', `no ${issuer.audienceClaim} claim`);
  const audienceFits = oneOf(audience, issuer.audiences);
  if (audienceFits === null) return invalidToken('malformed', `${issuer.audienceClaim} is not a string or array of strings`);
  if (!audienceFits) return invalidToken('wrong_audience');

  // RFC 8707: a token bound to resources must name ours; a token without the claim is not bound.
  if (claims.resource !== undefined) {
    const resourceFits = oneOf(claims.resource, new Set([resource]));
    if (resourceFits === null) return invalidToken('malformed', 'resource is not a string or array of strings');
    if (!resourceFits) return invalidToken('wrong_resource');
  }

  const subject = claims.sub;
  if (subject !== undefined && typeof subject !== 'string') return invalidToken('malformed', 'sub is not a string');
  // Revocation keys on these: a number or an object where a string belongs is not a token we read.
  if (claims.jti !== undefined && typeof claims.jti !== 'string') return invalidToken('malformed', 'jti is not a string');
  if (claims.sid !== undefined && typeof claims.sid !== 'string') return invalidToken('malformed', 'sid is not a string');

  const scopes = new Set<string>();
  for (const claim of issuer.scopeClaims) {
    // A top-level name or a JSON Pointer (`/realm_access/roles`), own members only.
    const value = claim.read(claims);
    if (value === undefined) continue;
    // A value that is not a scope token (empty, `"`, a backslash, a space inside an array item,
    // anything outside printable ASCII) is dropped: `["read admin"]` is not two scopes.
    if (typeof value === 'string') {
      for (const scope of value.split(' ')) if (isScopeToken(scope)) scopes.add(scope);
    } else if (Array.isArray(value) && value.every((scope) => typeof scope === 'string')) {
      for (const scope of value as string[]) if (isScopeToken(scope)) scopes.add(scope);
    } else {
      return invalidToken('malformed', `${claim.name} is not a string or array of strings`);
    }
  }

  let clientId: string | null = null;
  for (const name of issuer.clientIdClaims) {
    const value = claims[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') return invalidToken('malformed', `${name} is not a string`);
    clientId = value;
    break;
  }

  return ok({ subject: subject ?? null, clientId, scopes });
}

/** Whether a string-or-array claim holds one of the accepted values; null for any other type. */
function oneOf(value: unknown, accepted: ReadonlySet<string>): boolean | null {
  if (typeof value === 'string') return accepted.has(value);
  if (!Array.isArray(value)) return null;
  let found = false;
  for (const item of value) {
    if (typeof item !== 'string') return null;
    if (accepted.has(item)) found = true;
  }
  return found;
}
