import { describe, expect, it } from 'vitest';
import { REASONS, type Denial } from '../../src/base/denial';
import { claimHeaderValue, headerValue } from '../../src/gateway/forward';
import { denialResponse, quotedString } from '../../src/http/respond';

const context = { host: 'api.acme.com', requestId: 'req-1' };
const rm = 'resource_metadata="https://api.acme.com/.well-known/oauth-protected-resource"';

describe('denialResponse', () => {
  const cases: [Denial, number, string | null][] = [
    [{ error: 'unknown_host' }, 404, null],
    [{ error: 'tenant_config_invalid' }, 500, null],
    [{ error: 'tenant_on_hold' }, 403, `Bearer realm="api.acme.com", ${rm}`],
    [{ error: 'origin_not_allowed' }, 403, `Bearer realm="api.acme.com", ${rm}`],
    [{ error: 'missing_token' }, 401, `Bearer realm="api.acme.com", ${rm}`],
    [{ error: 'invalid_request', description: 'Say "why".' }, 400,
      `Bearer realm="api.acme.com", error="invalid_request", error_description="Say \\"why\\".", ${rm}`],
    [{ error: 'insufficient_scope', needed: ['a', 'b'] }, 403,
      `Bearer realm="api.acme.com", error="insufficient_scope", error_description="The token lacks a scope this route requires.", scope="a b", ${rm}`],
    [{ error: 'access_denied', note: 'for the log' }, 403, `Bearer realm="api.acme.com", ${rm}`],
    [{ error: 'insufficient_user_authentication', acrValues: ['urn:acme:mfa', 'phrh'], maxAge: 600 }, 401,
      'Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + 'error_description="This route requires a listed authentication level and an authentication no older than max_age.", '
      + `acr_values="urn:acme:mfa phrh", max_age=600, ${rm}`],
    [{ error: 'insufficient_user_authentication', acrValues: ['a"b', 'c\\d'], maxAge: null }, 401,
      'Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + `error_description="A different authentication level is required.", acr_values="a\\"b c\\\\d", ${rm}`],
    [{ error: 'insufficient_user_authentication', acrValues: null, maxAge: 0 }, 401,
      'Bearer realm="api.acme.com", error="insufficient_user_authentication", '
      + `error_description="A more recent authentication is required.", max_age=0, ${rm}`],
    [{ error: 'rate_limited', retryAfterSeconds: 2.2 }, 429, null],
    [{ error: 'issuer_unavailable', retryAfterSeconds: 30 }, 503, null],
    [{ error: 'revocation_unavailable', retryAfterSeconds: 5 }, 503, null],
    [{ error: 'upstream_unavailable' }, 502, null],
    [{ error: 'internal_error' }, 500, null],
  ];
  it.each(cases)('%o answers %i with the exact challenge', async (denial, status, challenge) => {
    const response = denialResponse(denial, context);
    expect(response.status).toBe(status);
    expect(response.headers.get('www-authenticate')).toBe(challenge);
    expect(response.headers.get('x-request-id')).toBe('req-1');
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = await response.json() as Record<string, string>;
    expect(body.error).toBe(denial.error);
    expect(body.error_description?.length).toBeGreaterThan(0);
  });

  it('keeps step-up requirements and notes out of the body', async () => {
    const response = denialResponse({ error: 'insufficient_user_authentication', acrValues: ['gold'], maxAge: 5, note: 'no acr' }, context);
    expect(await response.json()).toEqual({
      error: 'insufficient_user_authentication',
      error_description: 'This route requires a listed authentication level and an authentication no older than max_age.',
    });
  });

  it('unknown_kid says this API does not know the key, not that the issuer does not publish it (it may, inside the refetch cooldown)', async () => {
    const body = await denialResponse({ error: 'invalid_token', reason: 'unknown_kid' }, context).json() as Record<string, string>;
    expect(body.error_description).toBe('The token is signed with a key this API does not know for its issuer.');
  });

  it('unknown_host names the host it got, or says that there was none', async () => {
    const named = await denialResponse({ error: 'unknown_host' }, { host: '127.0.0.1', requestId: 'r' }).json() as Record<string, string>;
    expect(named.error_description).toBe('No API is configured for the host "127.0.0.1" (the request\'s Host header).');
    const none = await denialResponse({ error: 'unknown_host' }, { host: '', requestId: 'r' }).json() as Record<string, string>;
    expect(none.error_description).toBe('The request names no host (no Host header), and no API is configured without one.');
    // A host is at most 253 characters; a longer one is cut, so the answer stays small.
    const long = await denialResponse({ error: 'unknown_host' }, { host: 'a'.repeat(5000), requestId: 'r' }).json() as Record<string, string>;
    expect(long.error_description!.length).toBeLessThan(400);
  });

  it('gives Retry-After in whole seconds, at least 1', () => {
    expect(denialResponse({ error: 'rate_limited', retryAfterSeconds: 2.2 }, context).headers.get('retry-after')).toBe('3');
    expect(denialResponse({ error: 'rate_limited', retryAfterSeconds: 0 }, context).headers.get('retry-after')).toBe('1');
  });

  it.each(REASONS)('invalid_token/%s carries the reason in the body and the challenge', async (reason) => {
    const response = denialResponse({ error: 'invalid_token', reason, note: 'for the log only' }, context);
    expect(response.status).toBe(401);
    const body = await response.json() as Record<string, string>;
    expect(body).toEqual({ error: 'invalid_token', error_description: expect.any(String), reason });
    expect(JSON.stringify(body)).not.toContain('for the log only');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="api\.acme\.com", error="invalid_token", error_description="[^"]+", resource_metadata=/);
  });

  it('escapes quoted strings and replaces what a header cannot carry', () => {
    expect(quotedString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quotedString('zoë\r\n')).toBe('"zo???"');
  });
});

describe('identity header values', () => {
  it('percent-encodes values holding % or non-printable ASCII', () => {
    expect(headerValue('plain value')).toBe('plain value');
    expect(headerValue('50%')).toBe('50%25');
    expect(headerValue('zoë')).toBe('zo%C3%AB');
    expect(headerValue('a\r\nb')).toBe('a%0D%0Ab');
  });

  it('joins arrays of scalars and leaves objects out', () => {
    expect(claimHeaderValue(['a', 1, true])).toBe('a 1 true');
    expect(claimHeaderValue(42)).toBe('42');
    expect(claimHeaderValue({ a: 1 })).toBeNull();
    expect(claimHeaderValue([{ a: 1 }])).toBeNull();
    expect(claimHeaderValue(null)).toBeNull();
  });
});

describe('challenges once the tenant is known: every tenant honours DPoP (RFC 9449 §7.1)', () => {
  const host = 'api.acme.com';
  const rm = `resource_metadata="https://${host}/.well-known/oauth-protected-resource"`;
  const challengeOf = (denial: Denial, scheme: 'bearer' | 'dpop') =>
    denialResponse(denial, { host, requestId: 'r', challenge: { scheme, algs: ['ES256', 'RS256'] } }).headers.get('www-authenticate');

  it('a 401 gets both challenges, the error in the scheme the request used', () => {
    const expired: Denial = { error: 'invalid_token', reason: 'expired' };
    expect(challengeOf(expired, 'bearer')).toBe(
      `Bearer realm="${host}", error="invalid_token", error_description="The token has expired.", ${rm}, DPoP algs="ES256 RS256"`);
    expect(challengeOf(expired, 'dpop')).toBe(
      `Bearer realm="${host}", ${rm}, DPoP error="invalid_token", error_description="The token has expired.", algs="ES256 RS256"`);
    expect(challengeOf({ error: 'missing_token' }, 'bearer')).toBe(`Bearer realm="${host}", ${rm}, DPoP algs="ES256 RS256"`);
  });

  it('a 400 or 403 keeps its error in the Bearer challenge, whatever scheme the request used', () => {
    expect(challengeOf({ error: 'insufficient_scope', needed: ['admin'] }, 'dpop')).toBe(
      `Bearer realm="${host}", error="insufficient_scope", error_description="The token lacks a scope this route requires.", scope="admin", ${rm}`);
    expect(challengeOf({ error: 'invalid_request', description: 'Bad.' }, 'dpop')).toBe(
      `Bearer realm="${host}", error="invalid_request", error_description="Bad.", ${rm}`);
  });

  it('a proof refusal challenges with DPoP alone; use_dpop_nonce adds the nonce', () => {
    expect(challengeOf({ error: 'invalid_dpop_proof', reason: 'dpop_stale' }, 'dpop')).toBe('DPoP error="invalid_dpop_proof", algs="ES256 RS256"');
    const nonce = denialResponse({ error: 'use_dpop_nonce', nonce: 'n'.repeat(32) }, { host, requestId: 'r', challenge: { scheme: 'dpop', algs: ['ES256'] } });
    expect(nonce.headers.get('www-authenticate')).toBe('DPoP error="use_dpop_nonce", algs="ES256"');
    expect(nonce.headers.get('dpop-nonce')).toBe('n'.repeat(32));
  });
});
