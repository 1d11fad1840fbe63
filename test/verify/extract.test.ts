// extractCredentials: the Authorization header only, Bearer or DPoP, RFC 6750 §2.1 syntax, and the 16 KiB bound.
import { describe, expect, it } from 'vitest';
import { extractCredentials } from '../../src/verify/extract';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl';

function extract(headers: HeadersInit, path = '/api/x') {
  const request = new Request(`https://api.acme.com${path}`, { headers });
  return extractCredentials(request.headers.get('authorization'), new URL(request.url).search);
}

const invalidRequest = { ok: false, denial: { error: 'invalid_request' } };

describe('extractCredentials', () => {
  it('finds the token of a Bearer header, whatever the scheme case', () => {
    expect(extract({ authorization: `Bearer ${TOKEN}` })).toEqual({ ok: true, value: { scheme: 'bearer', token: TOKEN } });
    expect(extract({ authorization: `bearer ${TOKEN}` })).toEqual({ ok: true, value: { scheme: 'bearer', token: TOKEN } });
    expect(extract({ authorization: `BEARER  ${TOKEN}` })).toEqual({ ok: true, value: { scheme: 'bearer', token: TOKEN } });
  });

  it('accepts every b64token character and trailing =', () => {
    expect(extract({ authorization: 'Bearer aZ09-._~+/==' })).toEqual({ ok: true, value: { scheme: 'bearer', token: 'aZ09-._~+/==' } });
  });

  it('says "no credentials" without the header', () => {
    expect(extract({})).toEqual({ ok: true, value: null });
  });

  it('ignores a token in the access_token query parameter alone', () => {
    expect(extract({}, `/api/x?access_token=${TOKEN}`)).toEqual({ ok: true, value: null });
  });

  it('refuses the header and the access_token query parameter both', () => {
    expect(extract({ authorization: `Bearer ${TOKEN}` }, `/api/x?a=1&access_token=${TOKEN}`)).toMatchObject(invalidRequest);
  });

  it('does not mind other query parameters', () => {
    expect(extract({ authorization: `Bearer ${TOKEN}` }, '/api/x?token=1&access_token_hint=2')).toEqual({ ok: true, value: { scheme: 'bearer', token: TOKEN } });
  });

  it('refuses another scheme', () => {
    expect(extract({ authorization: 'Basic dXNlcjpwYXNz' })).toMatchObject(invalidRequest);
    expect(extract({ authorization: `DPoPs ${TOKEN}` })).toMatchObject(invalidRequest);
    expect(extract({ authorization: TOKEN })).toMatchObject(invalidRequest);
  });

  it('finds a DPoP token (RFC 9449 §7.1), whatever the scheme case', () => {
    for (const scheme of ['DPoP', 'dpop', 'DPOP']) expect(extract({ authorization: `${scheme} ${TOKEN}` })).toEqual({ ok: true, value: { scheme: 'dpop', token: TOKEN } });
  });

  it('refuses an empty token', () => {
    expect(extract({ authorization: 'Bearer' })).toMatchObject(invalidRequest);
    expect(extract({ authorization: 'Bearer   ' })).toMatchObject(invalidRequest);
    expect(extract({ authorization: '' })).toMatchObject(invalidRequest);
  });

  it('refuses the header given twice', () => {
    const headers = new Headers();
    headers.append('authorization', `Bearer ${TOKEN}`);
    headers.append('authorization', `Bearer ${TOKEN}`);
    expect(extract(headers)).toMatchObject(invalidRequest);
  });

  it('refuses what is not a b64token', () => {
    expect(extract({ authorization: `Bearer ${TOKEN} extra` })).toMatchObject(invalidRequest);
    expect(extract({ authorization: 'Bearer a=b' })).toMatchObject(invalidRequest);
    expect(extract({ authorization: 'Bearer "quoted"' })).toMatchObject(invalidRequest);
  });

  it('refuses credentials over 16 KiB as a malformed token, without parsing them', () => {
    // Not even Bearer: the length decides before the scheme is looked at.
    const outcome = extract({ authorization: `Basic ${'a'.repeat(17 * 1024)}` });
    expect(outcome).toEqual({ ok: false, denial: { error: 'invalid_token', reason: 'malformed', note: expect.any(String) } });
    expect(extract({ authorization: `Bearer ${'a'.repeat(17 * 1024)}` })).toMatchObject({ ok: false, denial: { reason: 'malformed' } });
    expect(extract({ authorization: `Bearer ${'a'.repeat(16 * 1024 - 7)}` })).toMatchObject({ ok: true });
  });

  it('never puts the token in a description', () => {
    for (const headers of [{ authorization: `Bearer ${TOKEN}, Bearer ${TOKEN}` }, { authorization: `Token ${TOKEN}` }]) {
      const outcome = extract(headers);
      expect(JSON.stringify(outcome)).not.toContain(TOKEN.slice(0, 20));
    }
  });
});
