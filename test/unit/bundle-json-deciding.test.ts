/**
 * Tests written against mutants that survived `make mutation` in bundle-json.ts
 * (docs/mutation-survivors/verify.md), on the sigstore-conformance bundles: every base64 field is
 * strict base64, log indexes are non-negative integers, the media type is one of four, each
 * version's own rules hold, and an inclusion proof without a checkpoint is set aside in v0.1 only.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBundle } from '../../src/verify/bundle.js';
import { parseBundleJson } from '../../src/verify/bundle-json.js';
import { loadTrust } from '../../src/verify/trusted-root.js';
import { verifyBundle } from '../../src/verify/verifier.js';

const DIR = resolve(__dirname, '../fixtures/sigstore-conformance/bundle-verify');
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

// biome-ignore lint/suspicious/noExplicitAny: conformance bundles are changed field by field
type AnyJson = any;
const load = (name: string): AnyJson => JSON.parse(readFileSync(join(DIR, name, 'bundle.sigstore.json'), 'utf8'));

/** parseBundleJson's refusal, or 'parsed'. */
function parsed(json: unknown): string {
  try {
    parseBundleJson(json);
    return 'parsed';
  } catch (err) {
    return `${(err as { detail?: string }).detail}: ${(err as Error).message}`;
  }
}

const verify = (json: unknown, trustFile?: string) =>
  verifyBundle({
    bundleJson: json,
    artifact: { bytes: readFileSync(join(DIR, 'a.txt')) },
    trust: loadTrust(trustFile).trust,
    expect: { identity: IDENTITY, issuer: ISSUER },
  });

describe('bundle-json.ts: the shape, before protobuf-specs reads it leniently', () => {
  it('every base64 field is refused when it is not base64, naming the field', () => {
    const cases: Array<[string, (b: AnyJson) => void, string]> = [
      ['happy-path-v0.3', (b) => (b.verificationMaterial.certificate.rawBytes = '!!'), 'verificationMaterial.certificate.rawBytes'],
      [
        'happy-path-v0.1',
        (b) => (b.verificationMaterial.x509CertificateChain.certificates[0].rawBytes = '!!'),
        'verificationMaterial.x509CertificateChain.certificates.0.rawBytes',
      ],
      [
        'happy-path-v0.3',
        (b) => (b.verificationMaterial.tlogEntries[0].logId.keyId = '!!'),
        'verificationMaterial.tlogEntries.0.logId.keyId',
      ],
      [
        'happy-path-v0.3',
        (b) => (b.verificationMaterial.tlogEntries[0].canonicalizedBody = '!!'),
        'verificationMaterial.tlogEntries.0.canonicalizedBody',
      ],
      [
        'happy-path-v0.3',
        (b) => (b.verificationMaterial.tlogEntries[0].inclusionPromise.signedEntryTimestamp = '!!'),
        'verificationMaterial.tlogEntries.0.inclusionPromise.signedEntryTimestamp',
      ],
      [
        'happy-path-v0.3',
        (b) => (b.verificationMaterial.tlogEntries[0].inclusionProof.rootHash = '!!'),
        'verificationMaterial.tlogEntries.0.inclusionProof.rootHash',
      ],
      [
        'happy-path-v0.3',
        (b) => (b.verificationMaterial.tlogEntries[0].inclusionProof.hashes[0] = '!!'),
        'verificationMaterial.tlogEntries.0.inclusionProof.hashes.0',
      ],
      [
        'rekor2-happy-path',
        (b) => (b.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp = '!!'),
        'verificationMaterial.timestampVerificationData.rfc3161Timestamps.0.signedTimestamp',
      ],
      ['happy-path-v0.3', (b) => (b.messageSignature.messageDigest.digest = '!!'), 'messageSignature.messageDigest.digest'],
      ['happy-path-v0.3', (b) => (b.messageSignature.signature = '!!'), 'messageSignature.signature'],
      ['happy-path-intoto-in-dsse-v3', (b) => (b.dsseEnvelope.payload = '!!'), 'dsseEnvelope.payload'],
      ['happy-path-intoto-in-dsse-v3', (b) => (b.dsseEnvelope.signatures[0].sig = '!!'), 'dsseEnvelope.signatures.0.sig'],
    ];
    for (const [name, change, path] of cases) {
      const b = load(name);
      expect(parsed(b), name).toBe('parsed');
      change(b);
      expect(parsed(b), path).toBe(`BUNDLE: not a valid Sigstore bundle (${path}: not base64)`);
    }
  });

  it('a tlog entry names its kind and version', () => {
    const b = load('happy-path-v0.3');
    delete b.verificationMaterial.tlogEntries[0].kindVersion.version;
    expect(parsed(b)).toMatch(/^BUNDLE: not a valid Sigstore bundle \(verificationMaterial\.tlogEntries\.0\.kindVersion\.version: /);
  });

  it('strict base64: standard or URL-safe, padded or not, decoding to exactly what it says', () => {
    const withSig = (sig: string) => {
      const b = load('happy-path-v0.3');
      b.messageSignature.signature = sig;
      return parsed(b);
    };
    for (const ok of ['QUJD', 'QUI', 'QUI=', 'QQ', 'QQ==', '-_8', '+/8=', 'QUJD\nQUJD']) expect(withSig(ok), ok).toBe('parsed');
    for (const bad of ['Q', 'QUJDQ', 'QR==', 'QR', 'QUK=', 'QUJD!', 'QQ===', 'QQ=Q', '=QQ', 'QUJD QUJD']) {
      expect(withSig(bad), bad).toBe('BUNDLE: not a valid Sigstore bundle (messageSignature.signature: not base64)');
    }
  });

  it('log indexes: a non-negative integer, as a string or a number', () => {
    const withIndex = (logIndex: unknown) => {
      const b = load('happy-path-v0.3');
      b.verificationMaterial.tlogEntries[0].logIndex = logIndex;
      return parsed(b);
    };
    for (const ok of ['0', '7', 0, 79571823, '123456789012345678']) expect(withIndex(ok), String(ok)).toBe('parsed');
    expect(withIndex('-1')).toBe('BUNDLE: not a valid Sigstore bundle (verificationMaterial.tlogEntries.0.logIndex: negative log index)');
    expect(withIndex(-1)).toMatch(/negative log index/);
    for (const bad of ['1x', 'x1', '', '1.5', 1.5, '--1', '+1', ' 1'])
      expect(withIndex(bad), String(bad)).toMatch(/^BUNDLE: not a valid Sigstore bundle \(verificationMaterial\.tlogEntries\.0\.logIndex/);
  });

  it('not JSON, not an object, another media type: each said', async () => {
    expect(await verify('{')).toEqual({ ok: false, detail: 'BUNDLE', reason: 'bundle is not JSON' });
    expect(await verify('[]')).toEqual({
      ok: false,
      detail: 'BUNDLE',
      reason: 'not a valid Sigstore bundle ((root): Invalid input: expected object, received array)',
    });
    const b = load('happy-path-v0.3');
    b.mediaType = 'application/vnd.dev.sigstore.bundle.v0.4+json';
    expect(await verify(b)).toEqual({
      ok: false,
      detail: 'BUNDLE',
      reason: 'unsupported bundle media type "application/vnd.dev.sigstore.bundle.v0.4+json"',
    });
  });
});

describe("bundle-json.ts: each version's rules", () => {
  it('the happy paths of each version verify', async () => {
    for (const name of ['happy-path-v0.1', 'happy-path-v0.2', 'happy-path-v0.3', 'happy-path-v0.3-new-mediaType']) {
      expect(await verify(load(name)), name).toMatchObject({ ok: true });
    }
  });

  it('v0.1 needs inclusion promises, v0.2 inclusion proofs, v0.3 a single certificate', async () => {
    const v01 = load('happy-path-v0.1');
    delete v01.verificationMaterial.tlogEntries[0].inclusionPromise;
    expect(await verify(v01)).toMatchObject({
      ok: false,
      detail: 'BUNDLE',
      reason: expect.stringMatching(/^not a valid application\/vnd\.dev\.sigstore\.bundle\+json;version=0\.1 bundle \(/),
    });
    const v02 = load('happy-path-v0.2');
    delete v02.verificationMaterial.tlogEntries[0].inclusionProof;
    expect(await verify(v02)).toMatchObject({
      ok: false,
      detail: 'BUNDLE',
      reason: expect.stringMatching(/^not a valid application\/vnd\.dev\.sigstore\.bundle\+json;version=0\.2 bundle \(/),
    });
    for (const mediaType of ['application/vnd.dev.sigstore.bundle+json;version=0.3', 'application/vnd.dev.sigstore.bundle.v0.3+json']) {
      const v03 = load('happy-path-v0.2');
      v03.mediaType = mediaType;
      expect(await verify(v03), mediaType).toMatchObject({
        ok: false,
        detail: 'BUNDLE',
        reason: expect.stringMatching(/^not a valid .*0\.3.* bundle \(/),
      });
    }
  });

  it('an inclusion proof without a checkpoint is set aside in v0.1 (the promise is checked), not in v0.3', async () => {
    const v01 = load('happy-path-v0.1');
    delete v01.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
    expect(await verify(v01)).toMatchObject({ ok: true });
    const v03 = load('happy-path-v0.3');
    delete v03.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
    expect(await verify(v03)).toMatchObject({ ok: false });
  });
});

describe('bundle.ts: discovery reads bundles of every signer kind', () => {
  it('a certificate, a chain and a public key bundle are read; a key where a certificate belongs is malformed', () => {
    const found = (json: unknown) =>
      ({ format: 'bundle', subject: 'sha256:x', source: 't', bundle: Buffer.from(JSON.stringify(json)) }) as never;
    for (const name of ['happy-path-v0.3', 'happy-path-v0.1', 'managed-key-happy-path'])
      expect(() => parseBundle(found(load(name))), name).not.toThrow();
    const b = load('happy-path-v0.1');
    b.verificationMaterial.x509CertificateChain.certificates[0].rawBytes = Buffer.from('not a certificate').toString('base64');
    expect(() => parseBundle(found(b))).toThrow('bundle holds a certificate that is not an X.509 certificate');
  });
});

describe('signature-check.ts: a signature checked over a digest keeps the Rekor body comparisons', () => {
  it("a key bundle with its Rekor entry verifies over the artifact's digest", async () => {
    const at = (f: string) => join(DIR, 'managed-key-happy-path', f);
    const run = (bundleJson: unknown) =>
      verifyBundle({
        bundleJson,
        artifact: {
          digest: `sha256:${createHash('sha256')
            .update(readFileSync(join(DIR, 'a.txt')))
            .digest('hex')}`,
        },
        trust: loadTrust(existsSync(at('trusted_root.json')) ? at('trusted_root.json') : undefined).trust,
        expect: { publicKey: createPublicKey(readFileSync(at('key.pub'))) },
      });
    expect(await run(load('managed-key-happy-path'))).toMatchObject({ ok: true, signer: { type: 'key' } });
  });
});

describe('bundle-json.ts: what the chain and the log proof may be', () => {
  it('a root certificate in the bundle chain is refused before any path is built', () => {
    expect(parsed(load('bundle-with-root-cert_fail'))).toBe(
      'CERT_CHAIN: bundle certificate chain includes a root certificate (roots come from the trusted root only)',
    );
  });

  it('v0.1: an inclusion proof with a checkpoint is kept and checked (a corrupted one is refused)', async () => {
    const b = load('happy-path-v0.1');
    const proof = b.verificationMaterial.tlogEntries[0].inclusionProof;
    // the library computes the root from the hashes and compares it with the checkpoint's
    const hash = Buffer.from(proof.hashes[0], 'base64');
    hash[0] = hash[0]! ^ 1;
    proof.hashes[0] = hash.toString('base64');
    expect(await verify(b)).toMatchObject({ ok: false, detail: 'TLOG_INCLUSION' });
  });
});
