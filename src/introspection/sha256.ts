// SHA-256 (FIPS 180-4 §6.2), synchronously, for the key an introspection answer is kept under:
// every request with an opaque token hashes it once, and crypto.subtle.digest's promise (its
// microtask, its buffers) cost more there than the hash itself (bench/: about 15 µs a request,
// where this takes about 1 µs for a token of a few dozen bytes). Checked against
// crypto.subtle.digest in test/introspection/sha256.test.ts.
//
//   sha256Hex('abc');   // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes (§4.2.2). */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
/** The initial hash value (§5.3.3). */
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const utf8 = new TextEncoder();
/** The message schedule, reused: the function is synchronous, so no two calls share it at once. */
const W = new Int32Array(64);
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/** The padded message of a text up to SHARED_CHARS long (a token, mostly), reused: no allocation
 *  a request. A UTF-16 unit takes at most 3 UTF-8 bytes; 72 bytes of padding at most. */
const SHARED_CHARS = 2048;
const shared = new Uint8Array(SHARED_CHARS * 3 + 72);
const sharedView = new DataView(shared.buffer);

/** SHA-256 of the UTF-8 bytes of `text`, as 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  let padded = shared;
  let view = sharedView;
  let length: number;
  if (text.length <= SHARED_CHARS) {
    length = utf8.encodeInto(text, shared).written;
  } else {
    const bytes = utf8.encode(text);
    length = bytes.length;
    padded = new Uint8Array(length + 72);
    padded.set(bytes);
    view = new DataView(padded.buffer);
  }
  // The message, a 1 bit, zeros, and its length in bits as 64 bits big-endian, in 64-byte blocks (§5.1.1).
  const end = Math.ceil((length + 9) / 64) * 64;
  padded[length] = 0x80;
  padded.fill(0, length + 1, end - 8);
  const bits = length * 8;
  view.setUint32(end - 8, Math.floor(bits / 0x100000000));
  view.setUint32(end - 4, bits >>> 0);

  let [h0, h1, h2, h3, h4, h5, h6, h7] = INITIAL as [number, number, number, number, number, number, number, number];
  for (let offset = 0; offset < end; offset += 64) {
    for (let t = 0; t < 16; t++) W[t] = view.getInt32(offset + 4 * t);
    for (let t = 16; t < 64; t++) {
      const w15 = W[t - 15]!;
      const w2 = W[t - 2]!;
      const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
      const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  let hex = '';
  for (const word of [h0, h1, h2, h3, h4, h5, h6, h7]) {
    hex += HEX[(word >>> 24) & 0xff]! + HEX[(word >>> 16) & 0xff]! + HEX[(word >>> 8) & 0xff]! + HEX[word & 0xff]!;
  }
  return hex;
}
