// The request-path pieces of rate limits that need no object: client IP keys (IPv6 by /64),
// the draft-ietf-httpapi-ratelimit-headers-09 strings, and failing open when the limiter is
// unreachable.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RateLimiter } from '../../src/limits/rate-limiter';
import { rateLimitHeaders } from '../../src/http/answers';
import { clientIpKey, createRateLimits, type LimitDecision } from '../../src/limits/rate-limits';

describe('clientIpKey', () => {
  it('keeps an IPv4 address as is', () => {
    expect(clientIpKey('192.0.2.1')).toBe('192.0.2.1');
    expect(clientIpKey('203.0.113.255')).toBe('203.0.113.255');
  });

  it('maps every spelling of one IPv6 /64 to one key', () => {
    const spellings = [
      '2001:db8:1:2::1', '2001:DB8:1:2:0:0:0:1', '2001:0db8:0001:0002:abcd:ef01:2345:6789',
      '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::', '2001:db8:1:2::192.0.2.1',
    ];
    for (const ip of spellings) expect(clientIpKey(ip)).toBe('2001:db8:1:2::/64');
    expect(clientIpKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientIpKey('2001:db8::1')).toBe('2001:db8::/64');
    expect(clientIpKey('2001:db8:0:0:1::')).toBe('2001:db8::/64');
    expect(clientIpKey('2001:0:0:1::5')).toBe('2001:0:0:1::/64');
    expect(clientIpKey('::1')).toBe('::/64');
    expect(clientIpKey('fe80::1:2:3:4')).toBe('fe80::/64');
  });

  it('reads an IPv4-mapped IPv6 address as its IPv4', () => {
    expect(clientIpKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientIpKey('::FFFF:c000:0201')).toBe('192.0.2.1');
    expect(clientIpKey('0:0:0:0:0:ffff:192.0.2.1')).toBe('192.0.2.1');
  });

  it('gives null for anything unparsable', () => {
    for (const bad of [
      null, '', 'unknown', '192.0.2', '192.0.2.256', '1.2.3.4.5', '2001:db8::1::2', '2001:db8:1:2:3:4:5:6:7',
      '2001:db8:1:2:3:4:5', 'g::1', '12345::1', '[2001:db8::1]', 'fe80::1%eth0', '1.2.3.4::1', ':1::', '::1:',
    ]) {
      expect(clientIpKey(bad)).toBeNull();
    }
  });
});

const decision = (overrides: Partial<LimitDecision>): LimitDecision => ({
  policy: 'ip', limit: 600, windowSeconds: 60, admitted: true, remaining: 600, resetSeconds: 60,
  retryAfterSeconds: 0, unavailable: false, ...overrides,
});

describe('rateLimitHeaders', () => {
  it('lists the evaluated policies and names the one with the lowest remaining share', () => {
    const ip = decision({ policy: 'ip', limit: 600, remaining: 300, resetSeconds: 30 });
    const sub = decision({ policy: 'sub', limit: 1200, remaining: 12, resetSeconds: 7 });
    expect(rateLimitHeaders([ip, sub])).toEqual([
      ['RateLimit-Policy', '"ip";q=600;w=60, "sub";q=1200;w=60'],
      ['RateLimit', '"sub";r=12;t=7'],
    ]);
    expect(rateLimitHeaders([ip, decision({ policy: 'sub', limit: 1200, remaining: 1199 })])[1])
      .toEqual(['RateLimit', '"ip";r=300;t=30']);
  });

  it('gives one policy alone, and nothing for decisions made without the limiter', () => {
    expect(rateLimitHeaders([decision({ remaining: 12, resetSeconds: 30 })])).toEqual([
      ['RateLimit-Policy', '"ip";q=600;w=60'],
      ['RateLimit', '"ip";r=12;t=30'],
    ]);
    expect(rateLimitHeaders([])).toEqual([]);
    expect(rateLimitHeaders([decision({ unavailable: true })])).toEqual([]);
  });
});

describe('an unreachable limiter', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('admits with unavailable: true and logs one line without the key', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const broken = {
      idFromName: () => ({}) as DurableObjectId,
      get: () => ({ acquire: () => Promise.reject(new Error('Durable Object reset because its code was updated.')) }),
    } as unknown as DurableObjectNamespace<RateLimiter>;
    const limits = createRateLimits({ now: () => 1_000_000 });
    const request = { tenantId: 'acme', policy: 'sub' as const, key: 'secret-subject', limit: 5, windowSeconds: 60 };
    const answer = await limits.admit(request, { rateLimiter: broken });
    expect(answer).toEqual({
      policy: 'sub', limit: 5, windowSeconds: 60, admitted: true, remaining: 5, resetSeconds: 0,
      retryAfterSeconds: 0, unavailable: true,
    });
    expect(log).toHaveBeenCalledTimes(1);
    const line = String(log.mock.calls[0]![0]);
    expect(JSON.parse(line)).toMatchObject({ event: 'rate_limiter_unavailable', tenant: 'acme', policy: 'sub' });
    expect(line).not.toContain('secret-subject');
    expect(limits.counters.unavailable).toBe(1);
  });

  it('admits when the object does not answer within the deadline', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const hung = {
      idFromName: () => ({}) as DurableObjectId,
      get: () => ({ acquire: () => new Promise(() => {}) }),
    } as unknown as DurableObjectNamespace<RateLimiter>;
    const limits = createRateLimits({ now: () => 1_000_000, objectDeadlineMs: 20 });
    const answer = await limits.admit({ tenantId: 'acme', policy: 'ip', key: '192.0.2.9', limit: 5, windowSeconds: 60 }, { rateLimiter: hung });
    expect(answer).toMatchObject({ admitted: true, unavailable: true });
  });
});
