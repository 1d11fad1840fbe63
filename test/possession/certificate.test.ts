// Certificate-bound tokens (RFC 8705 §3): the client certificate as Cloudflare describes it in
// request.cf.tlsClientAuth, or as an RPC caller passes its hash. There is no TLS here: the tests
// set cf.tlsClientAuth objects the way Cloudflare fills them after an mTLS handshake.
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { certificateOfRequest, certificateOfRpc, checkCertificateBinding } from '../../src/possession/certificate';

const hash = crypto.getRandomValues(new Uint8Array(32));
const hex = [...hash].map((b) => b.toString(16).padStart(2, '0')).join('');
const x5t = base64url.encode(hash);

/** tlsClientAuth as Cloudflare sets it for a certificate it verified. */
const verified = (over: Record<string, string> = {}) => ({
  tlsClientAuth: {
    certPresented: '1', certVerified: 'SUCCESS', certRevoked: '0', certFingerprintSHA256: hex,
    certFingerprintSHA1: 'da39a3ee5e6b4b0d3255bfef95601890afd80709', certSubjectDN: 'CN=client', ...over,
  },
});

describe('certificateOfRequest', () => {
  it('turns the hex fingerprint of a verified certificate into base64url', () => {
    expect(certificateOfRequest(verified())).toBe(x5t);
    expect(certificateOfRequest(verified({ certFingerprintSHA256: hex.toUpperCase() }))).toBe(x5t);
  });

  it.each([
    ['no cf (not behind Cloudflare)', undefined],
    ['no tlsClientAuth', { country: 'NL' }],
    ['no certificate presented', { tlsClientAuth: { certPresented: '0', certVerified: 'NONE', certRevoked: '0', certFingerprintSHA256: '' } }],
    ['verification failed', verified({ certVerified: 'FAILED:self signed certificate' })],
    ['verification not done', verified({ certVerified: 'NONE' })],
    ['a revoked certificate', verified({ certRevoked: '1' })],
    ['a fingerprint that is not 64 hex digits', verified({ certFingerprintSHA256: hex.slice(2) })],
    ['a fingerprint that is not hex', verified({ certFingerprintSHA256: 'z'.repeat(64) })],
  ])('is null with %s', (_, cf) => {
    expect(certificateOfRequest(cf)).toBeNull();
  });
});

describe('certificateOfRpc', () => {
  it('takes 64 hex digits in any case, with or without colons, and base64url', () => {
    const colons = hex.toUpperCase().match(/../g)!.join(':');
    for (const value of [hex, hex.toUpperCase(), colons, x5t]) expect(certificateOfRpc(value), value).toBe(x5t);
  });

  it.each([undefined, '', 'abc', `${hex}00`, `${x5t}=`, `${x5t}A`, 42, hex.replace(/^../, 'zz')])('is null for %s', (value) => {
    expect(certificateOfRpc(value)).toBeNull();
  });
});

describe('checkCertificateBinding', () => {
  it('accepts the certificate the token names, and nothing else', () => {
    expect(checkCertificateBinding(x5t, certificateOfRequest(verified()))).toEqual({ ok: true, value: undefined });
    const other = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
    expect(checkCertificateBinding(x5t, other)).toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'cert_mismatch' } });
    expect(checkCertificateBinding(x5t, null)).toMatchObject({ ok: false, denial: { error: 'invalid_token', reason: 'cert_mismatch' } });
    expect(checkCertificateBinding(x5t, certificateOfRequest(verified({ certVerified: 'FAILED:expired' }))))
      .toMatchObject({ ok: false, denial: { reason: 'cert_mismatch' } });
  });
});
