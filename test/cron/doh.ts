// A DNS-over-HTTPS stand-in (JSON API) served by the auxiliary Worker: public DNS is unreachable
// from the test runtime, so every answer here is registered per name and type, on a DoH host of
// the test's own.
//
//   const doh = dohStandIn();                         // doh.url goes into DOH_URL
//   await doh.cname('api.acme.test', 'edge.saas.test');
//   await doh.rcode('gone.acme.test', 'CNAME', 3);     // NXDOMAIN
//   await doh.hang('slow.acme.test', 'CNAME');
import { register } from '../support/issuer';

let counter = 0;

export function dohStandIn() {
  const url = `https://d${Date.now().toString(36)}${++counter}${Math.random().toString(36).slice(2, 6)}.doh.test/dns-query`;
  /** The exact URL src/tenants/dns.ts asks for that name and type. */
  const queryUrl = (name: string, type: string): string => {
    const u = new URL(url);
    u.searchParams.set('name', name);
    u.searchParams.set('type', type);
    return u.href;
  };
  const answer = (name: string, type: string, body: unknown) =>
    register(queryUrl(name, type), { headers: { 'content-type': 'application/dns-json' }, body });
  return {
    url,
    queryUrl,
    answer,
    cname: (name: string, target: string) =>
      answer(name, 'CNAME', { Status: 0, Answer: [{ name: `${name}.`, type: 5, TTL: 300, data: `${target}.` }] }),
    a: (name: string, addresses: string[]) =>
      answer(name, 'A', { Status: 0, Answer: addresses.map((data) => ({ name: `${name}.`, type: 1, TTL: 300, data })) }),
    /** A bare status: 0 NOERROR (no answer), 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED. */
    rcode: (name: string, type: string, status: number) => answer(name, type, { Status: status }),
    hang: (name: string, type: string) => register(queryUrl(name, type), { behaviour: 'hang' }),
    raw: (name: string, type: string, spec: Parameters<typeof register>[1]) => register(queryUrl(name, type), spec),
  };
}
