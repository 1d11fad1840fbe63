// Finding the access token of a request: the Authorization header only, as `Bearer <token>`
// (RFC 6750 §2.1) or `DPoP <token>` (RFC 9449 §7.1), the scheme case-insensitive. A token in the
// `access_token` query parameter alone is ignored (bearer_methods_supported is ["header"]); both
// at once is a client sending two credentials (RFC 6750 §2).
//
//   const credentials = extractCredentials(request.headers.get('authorization'), target.search);
//   if (!credentials.ok) return deny(credentials.denial);       // invalid_request, or malformed
//   if (credentials.value === null) return deny({ error: 'missing_token' });
//   credentials.value.scheme;                                   // 'bearer' | 'dpop'
import { deny, invalidToken, ok, type Outcome } from '../base/denial';
import { MAX_CREDENTIAL_BYTES } from './token';

/** The Authorization scheme of the request, read case-insensitively (RFC 9110 §11.1). */
export type Scheme = 'bearer' | 'dpop';

/** The scheme name of an Authorization header value, or null when it is neither. */
export function schemeOf(name: string): Scheme | null {
  const lower = name.toLowerCase();
  return lower === 'bearer' ? 'bearer' : lower === 'dpop' ? 'dpop' : null;
}

/** An access token and the scheme it came with. */
export interface Credentials {
  readonly scheme: Scheme;
  readonly token: string;
}

// RFC 6750 §2.1 b64token (RFC 9449 §7.1 uses the same syntax for DPoP).
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER_B64TOKEN = /^Bearer [A-Za-z0-9\-._~+/]+=*$/;

export function extractCredentials(header: string | null, search: string): Outcome<Credentials | null> {
  if (header === null) return NONE;
  // The common shape, "Bearer <b64token>", in one check; anything else takes the long way for
  // its exact refusal. The token syntax excludes ",", so a repeated header never passes here.
  if (header.length <= MAX_CREDENTIAL_BYTES && header.startsWith('Bearer ') && BEARER_B64TOKEN.test(header)
    && !hasQueryParameter(search, 'access_token')) {
    return ok({ scheme: 'bearer', token: header.slice(7) });
  }
  // Before any parsing. Over the limit in UTF-16 units is over it in bytes too; a shorter value
  // with non-ASCII characters fails the b64token syntax below anyway.
  if (header.length > MAX_CREDENTIAL_BYTES) return OVERSIZED;

  // Workers join repeated headers with ", "; a b64token never holds a comma.
  if (header.includes(',')) return invalidRequest('The Authorization header is given more than once.');
  const space = header.indexOf(' ');
  const scheme = schemeOf(space < 0 ? header : header.slice(0, space));
  if (scheme === null) return invalidRequest('The Authorization scheme is not Bearer or DPoP.');
  const token = space < 0 ? '' : header.slice(space + 1).trimStart();
  if (token === '') return invalidRequest('The access token is empty.');
  if (!B64TOKEN.test(token)) return invalidRequest('The access token is not a b64token (RFC 6750 §2.1).');
  if (hasQueryParameter(search, 'access_token')) {
    return invalidRequest('The token is given both in the Authorization header and in the access_token query parameter.');
  }
  return ok({ scheme, token });
}

/** A token an RPC caller passes as an argument, bounded as the header is: over 16 KiB in UTF-8
 *  bytes it is malformed, before any door step reads it (no hash, no introspection call). The
 *  caller vouches for the rest of its shape. */
export function credentialsOfCaller(scheme: Scheme, token: string): Outcome<Credentials | null> {
  if (token === '') return NONE;
  // A UTF-16 unit is at most 3 UTF-8 bytes: most tokens are measured without encoding them.
  if (token.length > MAX_CREDENTIAL_BYTES / 3 && utf8.encode(token).byteLength > MAX_CREDENTIAL_BYTES) return OVERSIZED;
  return ok({ scheme, token });
}

const OVERSIZED = invalidToken('malformed', 'credentials over 16 KiB');
const utf8 = new TextEncoder();
const NONE: Outcome<Credentials | null> = ok(null);
const invalidRequest = (description: string) => deny({ error: 'invalid_request', description });

/** Whether a query string names the parameter (form-decoded names, as URLSearchParams reads
 *  them: an escaped name counts too). */
function hasQueryParameter(search: string, name: string): boolean {
  return search !== '' && (search.includes(name) || search.includes('%')) && new URLSearchParams(search).has(name);
}
