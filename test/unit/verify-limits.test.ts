/**
 * Bounded verification work (issue 10 item 4, the verify share): caps on what
 * one bundle may carry, checked before any work whose cost grows with the
 * counts (a bundle of ~1,500 tlog entries cost quadratic time in the
 * library's duplicate checks), and the checkpoint that lets the engine's
 * deadline stop synchronous work between units.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { noTrust } from '../support/no-trust.js';
import { ReasonCode, SigguardError } from '../../src/errors.js';
import { prepareSignature } from '../../src/engine/requirements/prepare.js';
import { SIGNATURE_LIMITS } from '../../src/verify/limits.js';
import { verifyBundle } from '../../src/verify/verifier.js';

const message = Buffer.from('limits\n');
const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const entry = (i: number) => ({
  logIndex: String(i),
  logId: { keyId: Buffer.from(`log ${i}`).toString('base64') },
  kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
  integratedTime: String(1700000000 + i),
  inclusionPromise: { signedEntryTimestamp: Buffer.from(`set ${i}`).toString('base64') },
  canonicalizedBody: Buffer.from(`{"n":${i}}`).toString('base64'),
});

function bundleWith(tlogEntries: number, extra: Record<string, unknown> = {}) {
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: {
      publicKey: { hint: '' },
      tlogEntries: Array.from({ length: tlogEntries }, (_, i) => entry(i)),
      timestampVerificationData: { rfc3161Timestamps: [] },
      ...extra,
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(message).digest('base64') },
      signature: sign('sha256', message, privateKey).toString('base64'),
    },
  };
}

const verify = (bundleJson: unknown, checkpoint?: () => void) =>
  verifyBundle({
    bundleJson,
    artifact: { bytes: message },
    trust: noTrust,
    expect: { publicKey },
    requireTlogForKey: true,
    ...(checkpoint ? { checkpoint } : {}),
  });

/** Counts reads of the bundle's tlog entries (its array's elements; its length is free). */
function countEntryReads(json: ReturnType<typeof bundleWith>): { reads: number } {
  const counted = { reads: 0 };
  json.verificationMaterial.tlogEntries = new Proxy(json.verificationMaterial.tlogEntries, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) counted.reads++;
      return Reflect.get(target, prop, receiver);
    },
  });
  return counted;
}

describe('caps on a bundle, before any work', () => {
  // "At once" counted, not timed: the cap refuses before any work whose cost grows with the entries,
  // so no entry is looked at; the entries of a bundle within the cap are (they go on to be checked).
  it('1,500 tlog entries: refused at once by verifyBundle and MALFORMED_SIGNATURE in discovery', async () => {
    const json = bundleWith(1500);
    const looked = countEntryReads(json);
    const r = await verify(json);
    expect(r).toEqual({ ok: false, reason: `bundle has 1500 tlog entries, more than ${SIGNATURE_LIMITS.tlogEntries}`, detail: 'LIMITS' });
    expect(looked.reads, 'tlog entries read before the cap refused').toBe(0);
    const within = bundleWith(SIGNATURE_LIMITS.tlogEntries);
    const read = countEntryReads(within);
    await verify(within);
    expect(read.reads, 'tlog entries read of a bundle within the cap').toBeGreaterThan(0);
    const prepared = prepareSignature({
      format: 'bundle',
      subject: `sha256:${'a'.repeat(64)}`,
      source: 'referrer',
      bundle: Buffer.from(JSON.stringify(json)),
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    });
    expect(prepared).toMatchObject({ ok: false, problem: 'bundle has 1500 tlog entries, more than 8' });
  });

  it('the cap itself: 8 entries go on to be checked (and fail on their merits), 9 are refused', async () => {
    expect((await verify(bundleWith(9))).ok).toBe(false);
    expect(await verify(bundleWith(9))).toMatchObject({ reason: expect.stringMatching(/9 tlog entries, more than 8/) });
    expect(await verify(bundleWith(8))).toMatchObject({ ok: false, reason: expect.not.stringMatching(/more than 8/) });
  });

  it('too many timestamps or chain certificates are refused', async () => {
    const ts = bundleWith(1, {
      timestampVerificationData: { rfc3161Timestamps: Array.from({ length: 9 }, () => ({ signedTimestamp: 'AAAA' })) },
    });
    expect(await verify(ts)).toMatchObject({ ok: false, reason: expect.stringMatching(/9 RFC 3161 timestamps, more than 8/) });
    const chain = bundleWith(1, {
      publicKey: undefined,
      x509CertificateChain: { certificates: Array.from({ length: 40 }, () => ({ rawBytes: 'AAAA' })) },
    });
    expect(await verify(chain)).toMatchObject({ ok: false, reason: expect.stringMatching(/40 certificates, more than 33/) });
  });
});

describe('a public key where a certificate belongs, in a bundle', () => {
  it('is MALFORMED_SIGNATURE in discovery and a refusal in verifyBundle', async () => {
    const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const json = {
      ...bundleWith(0),
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { certificate: { rawBytes: spki }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    };
    const prepared = prepareSignature({
      format: 'bundle',
      subject: `sha256:${'a'.repeat(64)}`,
      source: 'referrer',
      bundle: Buffer.from(JSON.stringify(json)),
      mediaType: json.mediaType,
    });
    expect(prepared).toMatchObject({ ok: false, problem: 'bundle holds a certificate that is not an X.509 certificate' });
    const r = await verifyBundle({
      bundleJson: json,
      artifact: { bytes: message },
      trust: noTrust,
      expect: { identity: 'x', issuer: 'y' },
    });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/unreadable/) });
  });
});

describe('the checkpoint', () => {
  const deadline = () => {
    throw new SigguardError(ReasonCode.DEADLINE_EXCEEDED, 'verification deadline exceeded');
  };

  it('verifyBundle lets DEADLINE_EXCEEDED through instead of making it a refusal', async () => {
    await expect(verify(bundleWith(1), deadline)).rejects.toMatchObject({ code: ReasonCode.DEADLINE_EXCEEDED });
  });

  it('other errors of a checkpoint are still one refusal of this bundle', async () => {
    const r = await verify(bundleWith(1), () => {
      throw new Error('not a deadline');
    });
    expect(r).toMatchObject({ ok: false });
  });
});
