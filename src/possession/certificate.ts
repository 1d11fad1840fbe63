// Certificate-bound tokens (RFC 8705 §3, docs/dpop.md): the token's
// `cnf["x5t#S256"]` against the client certificate of the request, which Cloudflare verified at
// the TLS handshake (mTLS on the zone) and describes in `request.cf.tlsClientAuth`, or which the
// RPC caller vouches for as `clientCertSha256`. Both become one form: the certificate's SHA-256
// in base64url without padding, as x5t#S256 spells it (RFC 8705 §3.1).
//
//   const certificate = certificateOfRequest(request.cf);      // null without a verified one
//   const certificate = certificateOfRpc(input.clientCertSha256);
//   const bound = checkCertificateBinding(confirmation.x5t, certificate);   // cert_mismatch
import { base64url } from 'jose';
import { invalidToken, ok, type Outcome } from '../base/denial';

const HEX_SHA256 = /^[0-9A-Fa-f]{64}$/;
const HEX_SHA256_COLONS = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}$/;
const BASE64URL_SHA256 = /^[A-Za-z0-9_-]{43}$/;

/** The certificate Cloudflare verified for this request, or null: none presented, verification
 *  failed or was not done (certVerified other than "SUCCESS"), revoked, or no usable SHA-256
 *  fingerprint. `cf` is `request.cf` as it comes (any shape; absent outside Cloudflare). */
export function certificateOfRequest(cf: unknown): string | null {
  if (typeof cf !== 'object' || cf === null) return null;
  const auth = (cf as { tlsClientAuth?: unknown }).tlsClientAuth;
  if (typeof auth !== 'object' || auth === null) return null;
  const { certPresented, certVerified, certRevoked, certFingerprintSHA256 } = auth as Record<string, unknown>;
  if (certPresented !== '1' || certVerified !== 'SUCCESS' || certRevoked === '1') return null;
  return typeof certFingerprintSHA256 === 'string' && HEX_SHA256.test(certFingerprintSHA256)
    ? base64url.encode(hexBytes(certFingerprintSHA256)) : null;
}

/** An RPC caller's `clientCertSha256`, the SHA-256 of a client certificate it verified: 64 hex
 *  digits (any case, with or without ":" between bytes, as `openssl x509 -fingerprint -sha256`
 *  prints them) or 43 base64url characters (as x5t#S256 holds it). Anything else is no
 *  certificate: a certificate-bound token is then refused, never accepted. */
export function certificateOfRpc(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  if (HEX_SHA256.test(value)) return base64url.encode(hexBytes(value));
  if (HEX_SHA256_COLONS.test(value)) return base64url.encode(hexBytes(value.replaceAll(':', '')));
  if (BASE64URL_SHA256.test(value)) {
    // Re-encoded, so a non-canonical last character cannot make two spellings of one hash.
    const bytes = base64url.decode(value);
    return bytes.length === 32 ? base64url.encode(bytes) : null;
  }
  return null;
}

/** A certificate-bound token is accepted only with the certificate it names. */
export function checkCertificateBinding(boundX5t: string, certificate: string | null): Outcome<void> {
  if (certificate === null) return invalidToken('cert_mismatch', 'no verified client certificate');
  if (certificate !== boundX5t) return invalidToken('cert_mismatch', 'client certificate is not the one the token is bound to');
  return PASSED;
}

const PASSED: Outcome<void> = ok(undefined);

function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}
