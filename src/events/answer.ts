// What an event endpoint answers, and the one place each answer becomes a Response: OpenID
// Connect Back-Channel Logout 1.0 §2.8 (200, or 400 with an OAuth-style error, never cached) and
// RFC 8935 §2.2-2.4 (202, or 400 with {"err", "description"}; 401 authentication_failed for a push
// without the authorization_header of the edge's stream). Failures the sender should retry (keys
// or state unreachable) are 503 with Retry-After, on both endpoints.
//
//   return backchannelLogoutResponse(answer);   // 200 | 400 | 405 | 503
//   return ssfResponse(answer);                 // 202 | 400 | 401 | 405 | 503

/** RFC 8935 §2.4 error codes this receiver uses (access_denied is for authorization schemes the
 *  edge does not run: the signature is the authentication). */
export const SET_ERROR_CODES = ['invalid_request', 'invalid_key', 'invalid_issuer', 'invalid_audience', 'authentication_failed'] as const;
export type SetErrorCode = (typeof SET_ERROR_CODES)[number];

export type EventAnswer =
  | { readonly kind: 'accepted' }
  /** The token or body is refused and nothing changed; `err` is the RFC 8935 code (a logout
   *  token is always answered `invalid_request`, OIDC Back-Channel Logout §2.8). */
  | { readonly kind: 'refused'; readonly err: SetErrorCode; readonly description: string }
  | { readonly kind: 'method_not_allowed' }
  /** A push without the Authorization header the edge's stream at its transmitter carries. */
  | { readonly kind: 'unauthorized'; readonly description: string }
  /** Nothing changed, and the sender should try again later. */
  | { readonly kind: 'unavailable'; readonly error: UnavailableError; readonly description: string; readonly retryAfterSeconds: number };

export type UnavailableError = 'issuer_unavailable' | 'revocation_unavailable';

export const ACCEPTED: EventAnswer = { kind: 'accepted' };
export const METHOD_NOT_ALLOWED: EventAnswer = { kind: 'method_not_allowed' };
export const refused = (err: SetErrorCode, description: string): EventAnswer => ({ kind: 'refused', err, description });

const NO_STORE = { 'cache-control': 'no-store' };
const JSON_NO_STORE = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export function backchannelLogoutResponse(answer: EventAnswer): Response {
  switch (answer.kind) {
    case 'accepted':
      return new Response(null, { status: 200, headers: NO_STORE });
    case 'refused':
      return json(400, { error: 'invalid_request', error_description: answer.description });
    case 'method_not_allowed':
      return json(405, { error: 'invalid_request', error_description: 'a logout token is sent with POST' }, { allow: 'POST' });
    case 'unauthorized':
      // Logout tokens are authenticated by their signature alone: never given; fail closed should it be.
      return json(400, { error: 'invalid_request', error_description: answer.description });
    case 'unavailable':
      return unavailable(answer);
  }
}

export function ssfResponse(answer: EventAnswer): Response {
  switch (answer.kind) {
    case 'accepted':
      return new Response(null, { status: 202, headers: NO_STORE });
    case 'refused':
      return json(400, { err: answer.err, description: answer.description });
    case 'method_not_allowed':
      return json(405, { err: 'invalid_request', description: 'a SET is pushed with POST (RFC 8935)' }, { allow: 'POST' });
    case 'unauthorized':
      return json(401, { err: 'authentication_failed', description: answer.description });
    case 'unavailable':
      return unavailable(answer);
  }
}

function unavailable(answer: Extract<EventAnswer, { kind: 'unavailable' }>): Response {
  return json(503, { error: answer.error, error_description: answer.description }, { 'retry-after': String(answer.retryAfterSeconds) });
}

function json(status: number, body: Record<string, string>, headers: Record<string, string> = {}): Response {
  return new Response(`${JSON.stringify(body)}\n`, { status, headers: { ...JSON_NO_STORE, ...headers } });
}
