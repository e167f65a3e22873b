/**
 * A known EC key imported from its SPKI's x and y (src/policy/keys.ts ecKeyOfSpki) instead of
 * through OpenSSL's PEM decoders (issue 15): the same key as the full parse, or no key (then the
 * full parse decides). Attack cases: a PEM whose bytes are not the fingerprinted key's, a point
 * not on the curve, a compressed point, another curve's or algorithm's key, text around the block.
 */
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/hash.js';
import { ecKeyOfSpki, keyFactsOf, knownPublicKey, parsePublicKey } from '../../src/policy/keys.js';

const spkiPem = (der: Buffer) =>
  `-----BEGIN PUBLIC KEY-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PUBLIC KEY-----\n`;
const CURVES = ['P-256', 'P-384', 'P-521'] as const;
const pairs = Object.fromEntries(CURVES.map((c) => [c, generateKeyPairSync('ec', { namedCurve: c })]));
const pemOf = (c: (typeof CURVES)[number]) => pairs[c]!.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const factsOf = (pem: string) => keyFactsOf(parsePublicKey(pem, 'k'));

describe('an EC key imported from its SPKI (no OpenSSL decoders)', () => {
  it.each(CURVES)('%s: the same key as the full parse; it verifies what the private key signed', (crv) => {
    const pem = pemOf(crv);
    const key = ecKeyOfSpki(pem, factsOf(pem));
    expect(key).toBeDefined();
    expect(key!.export({ format: 'der', type: 'spki' }).equals(parsePublicKey(pem, 'k').key.export({ format: 'der', type: 'spki' }))).toBe(
      true,
    );
    const sig = sign('sha256', Buffer.from('payload'), pairs[crv]!.privateKey);
    expect(verify('sha256', Buffer.from('payload'), key!, sig)).toBe(true);
    expect(verify('sha256', Buffer.from('payloaD'), key!, sig)).toBe(false);
    // knownPublicKey takes it, as a Buffer too, with CRLF line ends
    expect(knownPublicKey(Buffer.from(pem.replace(/\n/g, '\r\n')), 'k', factsOf(pem)).key.asymmetricKeyType).toBe('ec');
  });

  it('bytes that are not the fingerprinted key’s: no key (the full parse then refuses)', () => {
    const pem = pemOf('P-256');
    const other = pemOf('P-384');
    expect(ecKeyOfSpki(pem, factsOf(other))).toBeUndefined();
    expect(ecKeyOfSpki(pem, { ...factsOf(pem), fingerprint: 'a'.repeat(64) })).toBeUndefined();
    expect(() => knownPublicKey(pem, 'k', factsOf(other)).key).toThrow(/differs/);
  });

  it('a point not on the curve, with its own fingerprint: no key', () => {
    const der = Buffer.from(pairs['P-256']!.publicKey.export({ format: 'der', type: 'spki' }));
    der.writeUInt8(der.readUInt8(der.length - 1) ^ 1, der.length - 1); // y changed: off the curve
    const pem = spkiPem(der);
    const facts = { fingerprint: keyFactsOf(parsePublicKey(pemOf('P-256'), 'k')).fingerprint, type: 'ec' };
    expect(() => createPublicKey(pem)).toThrow();
    expect(ecKeyOfSpki(pem, { ...facts, fingerprint: sha256Hex(der) })).toBeUndefined();
  });

  it('a compressed point, RSA, Ed25519, text around the block, two blocks: no key, the full parse decides', () => {
    const compressed = createPublicKey(pemOf('P-256')).export({ format: 'jwk' });
    // the same key with a compressed point: a different SPKI, left to OpenSSL
    const x = Buffer.from(compressed.x!, 'base64url');
    const yOdd = Buffer.from(compressed.y!, 'base64url').at(-1)! & 1;
    const cDer = Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), Buffer.from([2 + yOdd]), x]);
    const cPem = spkiPem(cDer);
    expect(createPublicKey(cPem).export({ format: 'jwk' })).toEqual(compressed);
    expect(ecKeyOfSpki(cPem, factsOf(cPem))).toBeUndefined();
    expect(knownPublicKey(cPem, 'k', factsOf(cPem)).key.asymmetricKeyType).toBe('ec');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(ecKeyOfSpki(rsa, { ...factsOf(rsa), type: 'ec' })).toBeUndefined();
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(ecKeyOfSpki(ed, factsOf(ed))).toBeUndefined();
    const pem = pemOf('P-256');
    for (const text of [
      `comment\n${pem}`,
      `${pem}${pem}`,
      pem.replace('PUBLIC KEY', 'EC PUBLIC KEY'),
      pem.replace(/\n(?=-----END)/, ' \n'),
    ]) {
      expect(ecKeyOfSpki(text, factsOf(pem))).toBeUndefined();
    }
  });

  it('any change to the PEM text gives no key or the very same key, never another (fast-check)', () => {
    const pem = pemOf('P-256');
    const facts = factsOf(pem);
    const want = parsePublicKey(pem, 'k').key.export({ format: 'der', type: 'spki' });
    fc.assert(
      fc.property(fc.nat(pem.length - 1), fc.integer({ min: 0, max: 127 }), (at, code) => {
        const text = pem.slice(0, at) + String.fromCharCode(code) + pem.slice(at + 1);
        const key = ecKeyOfSpki(text, facts);
        return key === undefined || key.export({ format: 'der', type: 'spki' }).equals(want);
      }),
      { numRuns: 2000 },
    );
  });
});
