// The stored form of a write-only value (docs/configuration.md "Write-only secrets"):
// `{"sealed": "v1.<key id>.<iv>.<ciphertext>"}`, AES-256-GCM under SECRETS_KEY, all base64url.
// This module only knows the shape; secrets/keyring.ts seals and opens.
//
//   isSealed({ sealed: 'v1.k3F9aB0c.…' })   // true
//   sealedKeyId('v1.k3F9aB0c.…')             // 'k3F9aB0c': which key sealed it

export interface Sealed { readonly sealed: string }

/** Key id (8), IV (96 bits: 16), then at least the 128-bit tag (22); plaintexts are bounded by
 *  the schema (4096 characters), so ciphertexts are too. */
export const SEALED_TEXT = /^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,5600}$/;

export function isSealed(value: unknown): value is Sealed {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  const sealed = (value as Partial<Sealed>).sealed;
  return keys.length === 1 && keys[0] === 'sealed' && typeof sealed === 'string' && SEALED_TEXT.test(sealed);
}

export const sealedKeyId = (text: string): string => text.slice(3, 11);
