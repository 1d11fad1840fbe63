// The one funnel from a Denial to a Response (docs/errors.md): status, JSON body,
// x-request-id and the RFC 6750 / RFC 9728 `WWW-Authenticate` challenge, with the RFC 9470
// step-up parameters and the RFC 9449 §7.1 DPoP challenge.
//
//   return denialResponse({ error: 'missing_token' }, { host, requestId, headers: corsHeaders, challenge });
import type { Denial, Reason } from '../base/denial';

export interface ResponseContext {
  /** The normalized request host: the challenge's realm and the metadata URL's host. */
  readonly host: string;
  readonly requestId: string;
  /** Extra headers (CORS, RateLimit, DPoP-Nonce) for this response. */
  readonly headers?: Headers | null;
  /** The DPoP side of a 401's challenges, once the tenant is known (pipeline/verdict.ts): every
   *  401 then adds `DPoP algs="…"` beside the Bearer challenge (every tenant honours DPoP). */
  readonly challenge?: {
    /** The scheme the request used: its challenge carries the error. */
    readonly scheme: 'bearer' | 'dpop';
    readonly algs: readonly string[];
  } | null;
}

const REASON_TEXT: Record<Reason, string> = {
  malformed: 'The token is malformed.',
  alg_not_allowed: 'The token is signed with an algorithm that is not allowed.',
  unknown_issuer: 'The token is not from an issuer this API trusts.',
  // Not "the issuer does not publish it": a new key can be published and still not fetched (the
  // refetch cooldown), or published and unusable.
  unknown_kid: 'The token is signed with a key this API does not know for its issuer.',
  bad_signature: 'The token signature is invalid.',
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet.',
  too_old: 'The token was issued too long ago.',
  wrong_audience: 'The token is not meant for this API.',
  wrong_resource: 'The token is not meant for this resource.',
  wrong_type: 'The token is not of the required type.',
  wrong_tenant: 'The token belongs to another tenant.',
  revoked: 'The token has been revoked.',
  pop_required: 'The token must be presented with proof of possession of its key.',
  cert_mismatch: 'The token is bound to a client certificate this request did not present.',
  inactive: 'The token is not active: its issuer says it has expired, been revoked or was never issued.',
};

interface Shape {
  status: number;
  description: string;
  /** The error code for the challenge: RFC 6750's three and RFC 9470's. */
  challengeError?: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication';
  retryAfterSeconds?: number;
}

function shapeOf(denial: Denial, host = ''): Shape {
  switch (denial.error) {
    case 'unknown_host': return { status: 404, description: unknownHostText(host) };
    case 'tenant_config_invalid': return { status: 500, description: 'This API is misconfigured.' };
    case 'tenant_on_hold': return { status: 403, description: 'This API is on hold.' };
    case 'origin_not_allowed': return { status: 403, description: 'This origin is not allowed.' };
    case 'missing_token': return { status: 401, description: 'A bearer token is required.' };
    case 'invalid_request': return { status: 400, description: denial.description, challengeError: 'invalid_request' };
    case 'invalid_token': return { status: 401, description: REASON_TEXT[denial.reason], challengeError: 'invalid_token' };
    case 'insufficient_scope':
      return { status: 403, description: 'The token lacks a scope this route requires.', challengeError: 'insufficient_scope' };
    // Not an error code of RFC 6750 or RFC 9470, so the challenge carries none (the contract, docs/).
    case 'access_denied': return { status: 403, description: 'The token does not meet a claim condition of this route.' };
    case 'insufficient_user_authentication':
      return { status: 401, description: stepUpText(denial.acrValues, denial.maxAge), challengeError: 'insufficient_user_authentication' };
    // Answered with the DPoP challenge alone (RFC 9449 §7.1, §9): challenges() below.
    case 'invalid_dpop_proof': return { status: 401, description: 'The DPoP proof is invalid.' };
    case 'use_dpop_nonce': return { status: 401, description: 'A DPoP nonce issued by this API is required.' };
    case 'rate_limited':
      return { status: 429, description: 'Too many requests.', retryAfterSeconds: denial.retryAfterSeconds };
    case 'issuer_unavailable':
      return { status: 503, description: 'The token issuer cannot be reached.', retryAfterSeconds: denial.retryAfterSeconds };
    case 'revocation_unavailable':
      return { status: 503, description: 'Token revocation cannot be checked.', retryAfterSeconds: denial.retryAfterSeconds };
    case 'upstream_unavailable': return { status: 502, description: 'The origin cannot be reached.' };
    case 'internal_error': return { status: 500, description: 'Internal error.' };
    default: return assertNever(denial);
  }
}

/** RFC 9470 §3's two examples; with both requirements, what the route requires (true whichever
 *  of them the token missed). */
function stepUpText(acrValues: readonly string[] | null, maxAge: number | null): string {
  if (maxAge === null) return 'A different authentication level is required.';
  if (acrValues === null) return 'A more recent authentication is required.';
  return 'This route requires a listed authentication level and an authentication no older than max_age.';
}

/** Which host got no API: what a caller who forgot the Host header (or sent the wrong one) needs
 *  to see. A host is at most 253 characters; anything longer is cut. */
function unknownHostText(host: string): string {
  if (host === '') return 'The request names no host (no Host header), and no API is configured without one.';
  return `No API is configured for the host "${host.length > 253 ? `${host.slice(0, 253)}…` : host}" (the request's Host header).`;
}

export function statusOf(denial: Denial): number {
  return shapeOf(denial).status;
}

export function denialResponse(denial: Denial, context: ResponseContext): Response {
  const shape = shapeOf(denial, context.host);
  const headers = new Headers(context.headers ?? undefined);
  headers.set('content-type', 'application/json');
  headers.set('cache-control', 'no-store');
  headers.set('x-request-id', context.requestId);
  if (shape.retryAfterSeconds !== undefined) headers.set('retry-after', String(Math.max(1, Math.ceil(shape.retryAfterSeconds))));
  if (shape.status === 400 || shape.status === 401 || shape.status === 403) {
    headers.set('www-authenticate', challenges(denial, shape, context));
  }
  if (denial.error === 'use_dpop_nonce') headers.set('dpop-nonce', denial.nonce);
  const body: Record<string, string> = { error: denial.error, error_description: shape.description };
  if (denial.error === 'invalid_token' || denial.error === 'invalid_dpop_proof') body.reason = denial.reason;
  return new Response(`${JSON.stringify(body)}\n`, { status: shape.status, headers });
}

/** The WWW-Authenticate value. A DPoP proof's own refusals challenge with DPoP alone (RFC 9449
 *  §7.1, §9); every other 401 of a tenant (each honours DPoP-bound tokens) challenges with both
 *  schemes, the error in the challenge of the scheme the request used; 400 and 403 with Bearer
 *  alone. */
function challenges(denial: Denial, shape: Shape, context: ResponseContext): string {
  const dpop = context.challenge;
  const error = errorParams(denial, shape);
  if (denial.error === 'invalid_dpop_proof' || denial.error === 'use_dpop_nonce') {
    return challengeOf('DPoP', [['error', denial.error], ['algs', (dpop?.algs ?? []).join(' ')]]);
  }
  // Only a 401 gets the second challenge; a 400 or 403 keeps its error in the Bearer one.
  const both = shape.status === 401 && dpop !== null && dpop !== undefined;
  const errorInDpop = both && dpop?.scheme === 'dpop';
  const bearer = challengeOf('Bearer',
    [['realm', context.host], ...(errorInDpop ? [] : error), ['resource_metadata', metadataUrl(context.host)]]);
  if (!both) return bearer;
  return `${bearer}, ${challengeOf('DPoP', [...(errorInDpop ? error : []), ['algs', dpop!.algs.join(' ')]])}`;
}

/** RFC 6750 §3's error parameters, RFC 6750's scope and RFC 9470 §3's `acr_values` and
 *  `max_age`: what goes in the challenge of the scheme the request used. */
function errorParams(denial: Denial, shape: Shape): [string, string][] {
  const params: [string, string][] = [];
  if (shape.challengeError) params.push(['error', shape.challengeError], ['error_description', shape.description]);
  if (denial.error === 'insufficient_scope') params.push(['scope', denial.needed.join(' ')]);
  if (denial.error === 'insufficient_user_authentication') {
    if (denial.acrValues !== null) params.push(['acr_values', denial.acrValues.join(' ')]);
    if (denial.maxAge !== null) params.push(['max_age', String(denial.maxAge)]);
  }
  return params;
}

/** Parameters as quoted strings, but max_age: a number, sent as a token (`max_age=600`, as the
 *  contract writes it; RFC 9470's example quotes it, and a recipient reads a token or a quoted
 *  string alike, RFC 9110 §11.2). */
function challengeOf(scheme: string, params: readonly [string, string][]): string {
  return `${scheme} ${params.map(([name, value]) => `${name}=${name === 'max_age' ? value : quotedString(value)}`).join(', ')}`;
}

export const metadataUrl = (host: string): string => `https://${host}/.well-known/oauth-protected-resource`;

/** RFC 9110 §5.6.4: backslash-escape `"` and `\`; anything outside visible ASCII becomes "?". */
export function quotedString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

function assertNever(value: never): never {
  throw new Error(`unhandled denial ${JSON.stringify(value)}`);
}
