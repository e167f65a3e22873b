/**
 * SHA-256 (FIPS 180-4) of a small message, written for a process that runs it once, cold: the
 * hook hashes ~1.2 kB on every warm start (src/hash.ts: the verdict cache key, the validated
 * documents' names, key fingerprints). V8 runs such code in its interpreter, where every call
 * and property access counts: @noble/hashes (a class, a DataView read per word, a call per
 * rotation) took 1.0-2.6 ms (median 1.2) of a warm hook for those 1.2 kB, this 0.4-0.5 ms
 * (issue 15). One function, locals and typed arrays only, rotations written out. The digest is checked
 * against node:crypto's for every length around the block boundaries (test/unit/sha256.test.ts).
 */

// the first 32 bits of the fractional parts of the cube roots of the first 64 primes
const K = Int32Array.of(
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
);

const HEX = '0123456789abcdef';

/** The hex SHA-256 of `message` (any length JavaScript can hold in one Uint8Array). */
export function sha256Hex(message: Uint8Array): string {
  const n = message.length;
  // the message, 0x80, zeros, its length in bits as 64 bits big-endian: a multiple of 64 bytes
  const total = Math.ceil((n + 9) / 64) * 64;
  const b = new Uint8Array(total);
  b.set(message);
  b[n] = 0x80;
  const high = Math.floor(n / 0x2000_0000); // (n * 8) / 2^32
  const low = (n * 8) >>> 0;
  b[total - 8] = high >>> 24;
  b[total - 7] = high >>> 16;
  b[total - 6] = high >>> 8;
  b[total - 5] = high;
  b[total - 4] = low >>> 24;
  b[total - 3] = low >>> 16;
  b[total - 2] = low >>> 8;
  b[total - 1] = low;
  const w = new Int32Array(64);
  let h0 = 0x6a09e667;
  let h1 = 0xbb67ae85 | 0;
  let h2 = 0x3c6ef372;
  let h3 = 0xa54ff53a | 0;
  let h4 = 0x510e527f;
  let h5 = 0x9b05688c | 0;
  let h6 = 0x1f83d9ab;
  let h7 = 0x5be0cd19;
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + 4 * i;
      w[i] = (b[j]! << 24) | (b[j + 1]! << 16) | (b[j + 2]! << 8) | b[j + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (s0 + w[i - 7]! + s1 + w[i - 16]!) | 0;
    }
    let a = h0;
    let bb = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    let f = h5;
    let g = h6;
    let h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = bb;
      bb = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + bb) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  let out = '';
  for (const v of [h0, h1, h2, h3, h4, h5, h6, h7]) for (let s = 28; s >= 0; s -= 4) out += HEX[(v >>> s) & 15];
  return out;
}
