// The DPoP `htu` comparison (RFC 9449 §4.3 check 9): the proof's URI and the URI the client
// addressed, each without query and fragment, after RFC 3986 syntax-based (§6.2.2: case,
// percent-encoding, dot segments) and scheme-based (§6.2.3: default port, empty path)
// normalization. Both sides go through the same function, then compare as strings.
//
//   normalizeHtu('HTTPS://API.Acme.com:443/%7euser/a?x#y')   // 'https://api.acme.com/~user/a'
//   normalizeHtu('ftp://x/')                                   // null: not an http(s) URI
//
// The WHATWG URL parser does most of it, the way the Workers runtime already parsed the request
// URL: lowercase scheme and host (and IDNA to punycode), the scheme's default port and an empty
// port dropped, an empty path made "/", dot segments resolved (also %2E spellings). What it leaves
// is §6.2.2.1-2 in the path: the hex digits of a percent-encoding are uppercased, and an encoded
// unreserved character (ALPHA, DIGIT, "-", ".", "_", "~") is decoded. Reserved characters stay
// encoded ("%2F" is not "/"), and a trailing slash is significant.

/** An RFC 3986 unreserved character, as one code unit. */
const UNRESERVED = /^[A-Za-z0-9._~-]$/;
const PERCENT_ENCODED = /%([0-9A-Fa-f]{2})/g;

/** The normalized http(s) URI without query and fragment, or null when `uri` is not an absolute
 *  http(s) URI a request could have been addressed to (userinfo included: RFC 9110 §4.2.4). */
export function normalizeHtu(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (url.username !== '' || url.password !== '') return null;
  const path = url.pathname.replace(PERCENT_ENCODED, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path}`;
}

/** Whether a proof's htu names the URI the request was addressed to. */
export function htuMatches(htu: string, requestUrl: string): boolean {
  const pair = `${htu.length}:${htu}${requestUrl}`;
  if (matched.has(pair)) return true;
  const claimed = normalizeHtu(htu);
  const matches = claimed !== null && claimed === normalizeHtu(requestUrl);
  if (matches && pair.length <= MAX_PAIR_CHARS) {
    if (matched.size >= MAX_PAIRS) matched.clear();
    matched.add(pair);
  }
  return matches;
}

/** The (htu, request URL) pairs that matched lately in this isolate: a client's proofs name the
 *  same few URIs request after request, and normalizing both is two URL parses. Only matches are
 *  kept (a refused proof leaves nothing), and nothing but the pair itself: at most MAX_PAIRS pairs
 *  of at most MAX_PAIR_CHARS characters, cleared when full. The htu's length leads, so a pair
 *  names its two URIs alone, whatever characters they hold. */
const matched = new Set<string>();
const MAX_PAIRS = 512;
const MAX_PAIR_CHARS = 2048;

/** How many matched pairs this isolate keeps now (for the tests of its bound). */
export const keptHtuPairs = (): number => matched.size;
