// Finding the bearer token of a request (RFC 6750 §2.1): the Authorization header only.
// A token in the `access_token` query parameter alone is ignored (bearer_methods_supported is
// ["header"]); both at once is a client sending two credentials (RFC 6750 §2).
//
//   const credentials = extractBearer(request, url);
//   if (!credentials.ok) return deny(credentials.denial);       // invalid_request, or malformed
//   if (credentials.value === null) return deny({ error: 'missing_token' });
import { deny, invalidToken, ok, type Outcome } from '../denial';
import { MAX_CREDENTIAL_BYTES } from './token';

// RFC 6750 §2.1 b64token.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER_B64TOKEN = /^Bearer [A-Za-z0-9\-._~+/]+=*$/;

export function extractBearer(request: Request, url: URL): Outcome<string | null> {
  const header = request.headers.get('authorization');
  if (header === null) return ok(null);
  // The common shape, "Bearer <b64token>", in one check; anything else takes the long way for
  // its exact refusal. The token syntax excludes ",", so a repeated header never passes here.
  if (header.length <= MAX_CREDENTIAL_BYTES && header.startsWith('Bearer ') && BEARER_B64TOKEN.test(header)
    && (url.search === '' || !url.searchParams.has('access_token'))) {
    return ok(header.slice(7));
  }
  // Before any parsing. Over the limit in UTF-16 units is over it in bytes too; a shorter value
  // with non-ASCII characters fails the b64token syntax below anyway.
  if (header.length > MAX_CREDENTIAL_BYTES) return invalidToken('malformed', 'credentials over 16 KiB');

  // Workers join repeated headers with ", "; a b64token never holds a comma.
  if (header.includes(',')) return invalidRequest('The Authorization header is given more than once.');
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return invalidRequest('The Authorization scheme is not Bearer.');
  const token = space < 0 ? '' : header.slice(space + 1).trimStart();
  if (token === '') return invalidRequest('The bearer token is empty.');
  if (!B64TOKEN.test(token)) return invalidRequest('The bearer token is not a b64token (RFC 6750 §2.1).');
  if (url.search !== '' && url.searchParams.has('access_token')) {
    return invalidRequest('The token is given both in the Authorization header and in the access_token query parameter.');
  }
  return ok(token);
}

const invalidRequest = (description: string) => deny({ error: 'invalid_request', description });
