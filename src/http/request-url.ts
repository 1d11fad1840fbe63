// The parts of a request's URL the edge reads, taken from `request.url`: a string the runtime
// has already put through the WHATWG URL parser (lowercase punycode host, default port dropped,
// dot segments resolved, unsafe characters escaped), so reading it needs string cuts, not a
// second parse per request. Anything unusual (user info, a scheme other than http(s), an IPv6
// literal) takes the URL parser's way, so both ways agree.
//
//   const target = requestUrl(request.url);
//   target.host;        // 'api.acme.com' (no port, no trailing dot): what tenants are found by
//   target.authority;   // 'api.acme.com:8443': x-forwarded-host
//   target.pathname;    // '/orders'
//   target.search;      // '?page=2' or ''
import { normalizeRequestHost } from '../config/hosts';

export interface RequestUrl {
  readonly href: string;
  /** 'https' or 'http'. */
  readonly scheme: string;
  /** Host and port as the URL names them. */
  readonly authority: string;
  /** The normalized host: no port, no trailing dot. */
  readonly host: string;
  readonly pathname: string;
  /** '' or '?…', without the fragment. */
  readonly search: string;
}

const SIMPLE = /^(https?):\/\/([a-z0-9.-]+)(:\d+)?(\/[^?#]*)(\?[^#]*)?(#.*)?$/;

export function requestUrl(href: string): RequestUrl {
  const simple = SIMPLE.exec(href);
  if (simple !== null) {
    const hostname = simple[2]!;
    return {
      href,
      scheme: simple[1]!,
      authority: simple[3] === undefined ? hostname : hostname + simple[3],
      host: hostname.endsWith('.') ? hostname.slice(0, -1) : hostname,
      pathname: simple[4]!,
      search: simple[5] === undefined || simple[5] === '?' ? '' : simple[5],
    };
  }
  const url = new URL(href);
  return {
    href, scheme: url.protocol.slice(0, -1), authority: url.host, host: normalizeRequestHost(url),
    pathname: url.pathname, search: url.search,
  };
}
