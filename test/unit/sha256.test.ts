/**
 * The warm path's own SHA-256 (src/sha256.ts) against node:crypto: every length from 0 to 300
 * bytes (the padding's cases: 55, 56, 63, 64, 119, 120 ... bytes), random contents, larger
 * messages, the FIPS 180-4 examples, and src/hash.ts's parts and UTF-8 strings through it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex as hashParts } from '../../src/hash.js';
import { sha256Hex } from '../../src/sha256.js';

const ref = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

describe('sha256Hex', () => {
  it('the FIPS 180-4 examples', () => {
    expect(sha256Hex(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('equals node:crypto for every length from 0 to 300 bytes, and for larger messages', () => {
    for (let n = 0; n <= 300; n++) {
      const m = randomBytes(n);
      expect(sha256Hex(m), `${n} bytes`).toBe(ref(m));
      expect(sha256Hex(new Uint8Array(n).fill(0xff)), `${n} bytes of 0xff`).toBe(ref(new Uint8Array(n).fill(0xff)));
    }
    for (const n of [1000, 4095, 4096, 4097, 65_536, 1_000_003]) {
      const m = randomBytes(n);
      expect(sha256Hex(m), `${n} bytes`).toBe(ref(m));
    }
  });

  it("src/hash.ts: parts one after another and UTF-8 strings, small and past node:crypto's threshold", () => {
    const parts = ['v1\0', 'policy', Buffer.from([0, 1, 2, 255]), 'é ü 中文 🙂'];
    expect(hashParts(...parts)).toBe(
      createHash('sha256')
        .update('v1\0')
        .update('policy')
        .update(Buffer.from([0, 1, 2, 255]))
        .update('é ü 中文 🙂')
        .digest('hex'),
    );
    expect(hashParts()).toBe(ref(''));
    const big = 'x'.repeat(5000);
    expect(hashParts(big, 'y')).toBe(ref(`${big}y`));
  });
});
