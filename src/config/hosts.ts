// Host names of tenants (docs/configuration.md, Hosts): normalization to the ASCII
// (punycode) form and the lookup order, exact before the one-label wildcard, as TLS does.
//
//   normalizeRequestHost(new URL(request.url))  // 'api.acme.com' (no port, no trailing dot)
//   hostLookupOrder('a.acme.dev')               // ['a.acme.dev', '*.acme.dev']
//   normalizeHostPattern('*.Acme.DEV.')         // { ok: true, host: '*.acme.dev' }

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The host a request arrived for. The WHATWG URL parser already lowercased it, turned it into
 *  punycode and took the port off; what is left is the trailing dot of a fully qualified name. */
export function normalizeRequestHost(url: URL): string {
  const host = url.hostname;
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/** The keys to look a host up under, most specific first. */
export function hostLookupOrder(host: string): string[] {
  const dot = host.indexOf('.');
  // A wildcard needs two labels after "*.", so only hosts of three or more labels have one.
  return dot > 0 && host.indexOf('.', dot + 1) > 0 ? [host, `*${host.slice(dot)}`] : [host];
}

export type HostPattern = { ok: true; host: string } | { ok: false; message: string };

/** A configured host or wildcard in its stored form, or why it cannot be one. */
export function normalizeHostPattern(input: string): HostPattern {
  const wildcard = input.startsWith('*.');
  const name = wildcard ? input.slice(2) : input;
  if (name.includes('*')) return { ok: false, message: 'a wildcard is "*." followed by a host name' };
  let ascii: string;
  try {
    const url = new URL(`http://${name}`);
    if (url.port !== '' || url.pathname !== '/' || url.username !== '' || url.search !== '' || url.hash !== '') {
      return { ok: false, message: 'a host has no port, path, query or user' };
    }
    ascii = url.hostname;
  } catch {
    return { ok: false, message: 'not a valid host name' };
  }
  if (ascii.endsWith('.')) ascii = ascii.slice(0, -1);
  const labels = ascii.split('.');
  if (ascii.length > 253 || !labels.every((label) => LABEL.test(label))) {
    return { ok: false, message: 'not a valid DNS host name' };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return { ok: false, message: 'IP addresses cannot be tenant hosts' };
  if (wildcard && labels.length < 2) return { ok: false, message: 'a wildcard needs at least two labels after "*."' };
  return { ok: true, host: wildcard ? `*.${ascii}` : ascii };
}

const DNS_LABEL = /^[a-z0-9_-]{1,63}$/;

/** Whether a normalized request host could be a DNS name (RFC 1035 §2.3.4: 253 characters,
 *  labels of 1-63). Anything else is refused before a KV read: it is nobody's tenant, and too
 *  long for a KV key besides. */
export function isDnsName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  for (const label of host.split('.')) if (!DNS_LABEL.test(label)) return false;
  return true;
}
