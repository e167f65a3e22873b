/** verifyPrehashed (signatures over a digest) and verifyBundle's own checks, on bundles made here. */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { noTrust } from '../support/no-trust.js';
import { prehashUnsupported, verifyPrehashed } from '../../src/verify/prehashed.js';
import { publicGoodTrust, trustFromJSON, publicGoodTrustedRootJSON } from '../../src/verify/trusted-root.js';
import { verifyBundle } from '../../src/verify/verifier.js';

const message = Buffer.from('hello, sigguard\n');

describe('verifyPrehashed', () => {
  const cases = [
    ['P-256', 'sha256'],
    ['P-256', 'sha512'],
    ['P-384', 'sha384'],
    ['P-384', 'sha256'],
    ['P-521', 'sha512'],
  ] as const;
  for (const [curve, hash] of cases) {
    it(`ECDSA ${curve} over ${hash}`, () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const digest = createHash(hash).update(message).digest();
      for (let i = 0; i < 5; i++) {
        const sig = sign(hash, message, privateKey);
        expect(verifyPrehashed(publicKey, digest, sig, hash)).toBe(true);
        const bad = Buffer.from(sig);
        bad[bad.length - 3]! ^= 1;
        expect(verifyPrehashed(publicKey, digest, bad, hash)).toBe(false);
        const otherDigest = Buffer.from(digest);
        otherDigest[0]! ^= 1;
        expect(verifyPrehashed(publicKey, otherDigest, sig, hash)).toBe(false);
      }
      const other = generateKeyPairSync('ec', { namedCurve: curve }).publicKey;
      expect(verifyPrehashed(other, digest, sign(hash, message, privateKey), hash)).toBe(false);
      expect(verifyPrehashed(publicKey, digest, Buffer.from('3000', 'hex'), hash)).toBe(false);
    });
  }

  it('RSA PKCS#1 v1.5', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const digest = createHash('sha256').update(message).digest();
    const sig = sign('sha256', message, privateKey);
    expect(verifyPrehashed(publicKey, digest, sig, 'sha256')).toBe(true);
    expect(verifyPrehashed(publicKey, createHash('sha256').update('x').digest(), sig, 'sha256')).toBe(false);
  });

  it('Ed25519 cannot be checked over a digest', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const sig = sign(null, message, privateKey);
    expect(verifyPrehashed(publicKey, createHash('sha256').update(message).digest(), sig, 'sha256')).toBe(false);
    expect(prehashUnsupported(publicKey)).toMatch(/ed25519.*digest/);
  });
});

function keyBundle(privateKey: Parameters<typeof sign>[2], content: 'message' | 'dsse', subjectHex?: string) {
  const base = {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
  };
  if (content === 'message') {
    return {
      ...base,
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(message).digest('base64') },
        signature: sign('sha256', message, privateKey).toString('base64'),
      },
    };
  }
  const payload = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'a', digest: { sha256: subjectHex } }],
      predicateType: 'x',
      predicate: {},
    }),
  );
  const type = 'application/vnd.in-toto+json';
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `), payload]);
  return {
    ...base,
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: type,
      signatures: [{ sig: sign('sha256', pae, privateKey).toString('base64'), keyid: '' }],
    },
  };
}

describe('verifyBundle', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const digest = `sha256:${createHash('sha256').update(message).digest('hex')}`;
  const opts = { trust: noTrust, expect: { publicKey }, requireTlogForKey: false };

  it('verifies a key-signed message signature over bytes and over a digest', async () => {
    const bundleJson = keyBundle(privateKey, 'message');
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { bytes: message } })).toMatchObject({ ok: true, signer: { type: 'key' } });
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { digest } })).toMatchObject({ ok: true });
  });

  it('rejects a bad signature in digest mode (checked on the digest, not trusted from the bundle)', async () => {
    const bundleJson = keyBundle(privateKey, 'message');
    const sig = Buffer.from((bundleJson as { messageSignature: { signature: string } }).messageSignature.signature, 'base64');
    sig[sig.length - 2]! ^= 1;
    (bundleJson as { messageSignature: { signature: string } }).messageSignature.signature = sig.toString('base64');
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { digest } })).toEqual({
      ok: false,
      reason: 'signature verification failed',
      detail: 'SIGNATURE',
    });
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { bytes: message } })).toEqual({
      ok: false,
      reason: 'signature verification failed',
      detail: 'SIGNATURE',
    });
  });

  it('rejects another key, another artifact, and a key bundle without a tlog entry by default', async () => {
    const bundleJson = keyBundle(privateKey, 'message');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect((await verifyBundle({ ...opts, expect: { publicKey: other }, bundleJson, artifact: { digest } })).ok).toBe(false);
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { bytes: Buffer.from('other') } })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/message digest/),
      detail: 'PAYLOAD',
    });
    expect(await verifyBundle({ ...opts, requireTlogForKey: undefined, bundleJson, artifact: { digest } })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/tlog/),
      detail: 'TLOG_MISSING',
    });
  });

  it('checks the in-toto subject of a DSSE bundle against the artifact', async () => {
    const hex = createHash('sha256').update(message).digest('hex');
    const bundleJson = keyBundle(privateKey, 'dsse', hex);
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { bytes: message } })).toMatchObject({ ok: true, content: 'dsseEnvelope' });
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { digest } })).toMatchObject({ ok: true });
    expect(await verifyBundle({ ...opts, bundleJson, artifact: { bytes: Buffer.from('x') } })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/subject/),
    });
  });

  it('turns garbage into a reason, never a throw', async () => {
    for (const bundleJson of ['{', '{}', 'null', '[]', JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' })]) {
      const r = await verifyBundle({ ...opts, bundleJson, artifact: { digest } });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).not.toMatch(/\n/);
    }
  });
});

describe('trusted roots', () => {
  it('builds the public-good root in', async () => {
    const t = publicGoodTrust();
    expect(t.trust.tlogs.length).toBeGreaterThan(0);
    expect(t.trust.certificateAuthorities.length).toBeGreaterThan(0);
    expect(t.untrusted).toEqual([]);
  });

  it('sets aside a log key without validFor.start instead of trusting it since 1970', async () => {
    const root = publicGoodTrustedRootJSON() as { tlogs: { publicKey: { validFor?: { start?: string } } }[] };
    delete root.tlogs[0]!.publicKey.validFor!.start;
    const t = trustFromJSON(root, 'test');
    expect(t.untrusted).toEqual(['tlogs[0]: validFor has no start']);
    expect(t.trust.tlogs.length).toBe(root.tlogs.length - 1);
  });

  it('refuses what is not a trusted root', async () => {
    expect(() => trustFromJSON({ mediaType: 'x' }, 'test')).toThrow(/not a valid trusted root/);
  });
});
