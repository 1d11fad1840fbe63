// The synchronous SHA-256 that keys introspection answers, against the platform's own
// (crypto.subtle.digest): the FIPS 180-4 examples, every padding boundary, and any text.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/introspection/sha256';

async function subtleHex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

describe('sha256Hex', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))
      .toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  it('agrees with crypto.subtle.digest at every padding boundary, up to 16 KiB', async () => {
    for (const length of [1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 16 * 1024]) {
      const text = 'x'.repeat(length);
      expect(sha256Hex(text), String(length)).toBe(await subtleHex(text));
    }
  });

  it('agrees with crypto.subtle.digest on any text (UTF-8, lone surrogates included)', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 300 })),
      async (text) => { expect(sha256Hex(text)).toBe(await subtleHex(text)); }), { numRuns: 300 });
  });
});
