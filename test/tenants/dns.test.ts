// One host's DNS drift verdict, against a DoH stand-in served by the auxiliary Worker (public DNS
// is unreachable from the test runtime, so every answer is a registered one).
import { describe, expect, it } from 'vitest';
import { checkHost, exactHosts, tenantVerdict, type HostCheck } from '../../src/tenants/dns';
import { dohStandIn } from '../cron/doh';

const CNAME = { type: 'CNAME', target: 'edge.saas.test' } as const;

describe('checkHost', () => {
  it('is ok when a CNAME answer names the target (case and trailing dot ignored)', async () => {
    const doh = dohStandIn();
    await doh.answer('api.acme.test', 'CNAME', { Status: 0, Answer: [{ name: 'api.acme.test.', type: 5, TTL: 60, data: 'EDGE.saas.test.' }] });
    const check = await checkHost('api.acme.test', CNAME, { dohUrl: doh.url });
    expect(check).toEqual({ host: 'api.acme.test', expected: 'CNAME edge.saas.test', found: ['edge.saas.test'], verdict: 'ok' });
  });

  it('asks with accept: application/dns-json and the name and type in the query', async () => {
    const seen: Request[] = [];
    const fetchSpy = (async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input, init));
      return Response.json({ Status: 0, Answer: [{ type: 5, data: 'edge.saas.test.' }] });
    }) as typeof fetch;
    await checkHost('api.acme.test', CNAME, { dohUrl: 'https://doh.test/dns-query', fetch: fetchSpy });
    expect(seen[0]!.url).toBe('https://doh.test/dns-query?name=api.acme.test&type=CNAME');
    expect(seen[0]!.headers.get('accept')).toBe('application/dns-json');
  });

  it.each([
    ['NXDOMAIN', { Status: 3 }, 'mismatch', 'NXDOMAIN'],
    ['another target', { Status: 0, Answer: [{ type: 5, data: 'elsewhere.test.' }] }, 'mismatch', 'another target'],
    ['NOERROR without an answer', { Status: 0 }, 'mismatch', 'no answer of that type'],
    ['only answers of another type', { Status: 0, Answer: [{ type: 1, data: '192.0.2.1' }] }, 'mismatch', 'no answer of that type'],
    ['SERVFAIL', { Status: 2 }, 'transient', 'SERVFAIL'],
    ['REFUSED', { Status: 5 }, 'transient', 'REFUSED'],
    ['a body without Status', { Answer: [] }, 'transient', 'answer has no Status'],
  ])('%s is %s', async (_, body, verdict, note) => {
    const doh = dohStandIn();
    await doh.answer('api.acme.test', 'CNAME', body);
    const check = await checkHost('api.acme.test', CNAME, { dohUrl: doh.url });
    expect(check.verdict).toBe(verdict);
    expect(check.note).toBe(note);
  });

  it('is transient on an HTTP error, an unparsable body and an unknown name on the stand-in', async () => {
    const doh = dohStandIn();
    await doh.raw('a.acme.test', 'CNAME', { status: 503, body: 'busy' });
    await doh.raw('b.acme.test', 'CNAME', { body: 'not json {' });
    const checks = await Promise.all(['a', 'b', 'c'].map((l) => checkHost(`${l}.acme.test`, CNAME, { dohUrl: doh.url })));
    expect(checks.map((c) => [c.verdict, c.note])).toEqual([
      ['transient', 'status 503'], ['transient', 'answer is not JSON'], ['transient', 'status 404'],
    ]);
  });

  it('is transient when the resolver hangs past the timeout', async () => {
    const doh = dohStandIn();
    await doh.hang('slow.acme.test', 'CNAME');
    const check = await checkHost('slow.acme.test', CNAME, { dohUrl: doh.url, timeoutMs: 50 });
    expect(check).toMatchObject({ verdict: 'transient', note: 'timeout' });
  });

  it('is transient on a network error', async () => {
    const failing = (async () => { throw new TypeError('connection reset'); }) as typeof fetch;
    const check = await checkHost('api.acme.test', CNAME, { dohUrl: 'https://doh.test/dns-query', fetch: failing });
    expect(check).toMatchObject({ verdict: 'transient', note: 'network error' });
  });

  it('matches A among several answers, and AAAA in any spelling of the address', async () => {
    const doh = dohStandIn();
    await doh.a('v4.acme.test', ['198.51.100.7', '192.0.2.10']);
    await doh.answer('v6.acme.test', 'AAAA', { Status: 0, Answer: [{ type: 28, data: '2001:db8::1' }] });
    const v4 = await checkHost('v4.acme.test', { type: 'A', target: '192.0.2.10' }, { dohUrl: doh.url });
    const v6 = await checkHost('v6.acme.test', { type: 'AAAA', target: '2001:DB8:0:0::0001' }, { dohUrl: doh.url });
    expect([v4.verdict, v6.verdict]).toEqual(['ok', 'ok']);
  });
});

describe('tenantVerdict', () => {
  const of = (...verdicts: HostCheck['verdict'][]) => verdicts.map((verdict, i) => ({ host: `h${i}`, expected: '', found: [], verdict }));
  it('fails on any conclusive mismatch, changes nothing when all are transient, else is ok', () => {
    expect(tenantVerdict(of('ok', 'mismatch', 'transient'))).toBe('mismatch');
    expect(tenantVerdict(of('transient', 'transient'))).toBe('transient');
    expect(tenantVerdict(of('ok', 'transient'))).toBe('ok');
    expect(tenantVerdict([])).toBeNull();
  });

  it('resolves exact hosts only: a wildcard names no single host', () => {
    expect(exactHosts(['api.acme.test', '*.acme.dev'])).toEqual({ exact: ['api.acme.test'], wildcards: ['*.acme.dev'] });
  });
});
