/**
 * Canaries: each place where src/verify leans on how @sigstore/verify (and
 * @sigstore/bundle) behave inside, rather than on their documented API, has a
 * test here that fails when an upgrade changes that behaviour. When one
 * fails, read the named sigguard code before "fixing" the test.
 */
import { type KeyObject, createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertBundleV02, bundleFromJSON } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { type SignedEntity, type TrustMaterial, VerificationError, Verifier, toSignedEntity } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trustMaterial } from '../../src/verify/authority.js';
import { legacyBundles } from '../../src/verify/legacy.js';
import { withSignatureCheck } from '../../src/verify/signature-check.js';
import { signedByKey } from '../../src/verify/trust.js';
import { withoutSCTs } from '../../src/verify/sct.js';
import { currentTime } from '../../src/verify/timestamp.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Requirement } from '../../src/policy/types.js';
import { FIXTURES, fixtureSignatures } from '../support/containers-image-fixtures.js';
import { messageBundleJson } from '../support/message-bundle.js';
import { CertFactory, type TestCert } from '../support/x509-chains.js';

const message = Buffer.from('canary\n');
let dir: string;
let root: TestCert;
let sub: TestCert;
let leaf: TestCert;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-canary-'));
  const f = new CertFactory(dir);
  root = f.ca('root', undefined);
  sub = f.ca('sub', root);
  leaf = f.leaf('leaf', sub, 'canary@example.com');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const core = (c: TestCert) => X509Certificate.parse(Buffer.from(c.der));
const ALWAYS = { start: new Date(0), end: new Date(8640000000000000) };

function trust(certChain: TestCert[]): TrustMaterial {
  return {
    certificateAuthorities: [{ certChain: certChain.map(core), validFor: ALWAYS }],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => {
      throw new Error('no keys');
    },
  };
}

/** A v0.3 bundle of `message` signed by the test leaf, as the library's entity. */
function leafEntity(): SignedEntity {
  const json = messageBundleJson(leaf, message);
  return toSignedEntity(bundleFromJSON(json), message);
}

const NO_LOGS = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 };

describe('@sigstore/verify behaviour sigguard relies on', () => {
  it('timestamp.ts currentTime(): a transparency-log timestamp with an inclusion promise dates the chain check, unverified, and is not a tlog entry', () => {
    const inYear = new Date(Date.now() + 365 * 86400_000 * 2);
    const now = { ...leafEntity(), timestamps: [currentTime(new Date())] };
    expect(() => new Verifier(trust([sub, root]), NO_LOGS).verify(now)).not.toThrow();
    // the same entity dated after the leaf expired: the time was used for the chain
    const later = { ...leafEntity(), timestamps: [currentTime(inYear)] };
    expect(() => new Verifier(trust([sub, root]), NO_LOGS).verify(later)).toThrow(VerificationError);
    // counted as a timestamp, never as a tlog entry
    expect(() => new Verifier(trust([sub, root]), { ...NO_LOGS, timestampThreshold: 1 }).verify(now)).not.toThrow();
    expect(() => new Verifier(trust([sub, root]), { ...NO_LOGS, tlogThreshold: 1 }).verify(now)).toThrow(/expected 1 tlog entries, got 0/);
  });

  it('certificate-signer.ts matches /not valid or expired/ in the chain error for a certificate outside its validity', () => {
    const later = { ...leafEntity(), timestamps: [currentTime(new Date(Date.now() + 2 * 365 * 86400_000))] };
    let message = '';
    try {
      new Verifier(trust([sub, root]), NO_LOGS).verify(later);
    } catch (err) {
      for (let e: unknown = err; e instanceof Error; e = e.cause) message += ` ${e.message}`;
    }
    expect(message).toMatch(/not valid or expired/);
  });

  it('timestamp.ts usable(): a tlog timestamp without an inclusion promise proves no time', () => {
    const t = currentTime(new Date());
    if (t.$case !== 'transparency-log') throw new Error('unexpected');
    const noPromise = { ...leafEntity(), timestamps: [{ ...t, tlogEntry: { ...t.tlogEntry, inclusionPromise: undefined } }] };
    expect(() => new Verifier(trust([sub, root]), { ...NO_LOGS, timestampThreshold: 1 }).verify(noPromise)).toThrow(
      /expected 1 timestamps, got 0/,
    );
  });

  it("certificate-chain.ts pinnedPath(): the library builds the chain from the CA's certChain and the leaf only", () => {
    const now = { ...leafEntity(), timestamps: [currentTime(new Date())] };
    // the intermediate is not in the CA's chain: the library finds no path (it takes nothing from elsewhere)
    expect(() => new Verifier(trust([root]), NO_LOGS).verify(now)).toThrow(VerificationError);
    expect(() => new Verifier(trust([sub, root]), NO_LOGS).verify(now)).not.toThrow();
  });

  it('signature-check.ts withSignatureCheck(): the Verifier checks the signature through entity.signature.verifySignature', () => {
    const now = { ...leafEntity(), timestamps: [currentTime(new Date())] };
    let called = 0;
    const refusing = withSignatureCheck(now, () => {
      called++;
      return false;
    });
    expect(() => new Verifier(trust([sub, root]), NO_LOGS).verify(refusing)).toThrow(/signature verification failed/);
    expect(called).toBe(1);
  });

  it('trust.ts signedByKey(): a signature by another key is a VerificationError (false), not another error', () => {
    const json = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(message).digest('base64') },
        signature: sign('sha256', message, createPrivateKey(readFileSync(leaf.keyFile))).toString('base64'),
      },
    };
    const entity = toSignedEntity(bundleFromJSON(json), message);
    const own = createPrivateKey(readFileSync(leaf.keyFile));
    const other = createPrivateKey(readFileSync(sub.keyFile));
    const key = (k: KeyObject) => ({ label: 'k', id: 'k', fingerprint: 'k', key: createPublicKey(k) });
    expect(signedByKey(entity, key(own))).toBe(true);
    expect(signedByKey(entity, key(other))).toBe(false);
  });

  it('bundle.ts and bundle-json.ts: bundle assertion errors name the bad fields in `fields`', () => {
    let fields: unknown;
    try {
      assertBundleV02(
        bundleFromJSON({
          mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.2',
          verificationMaterial: { publicKey: { hint: '' } },
          messageSignature: { signature: 'AAAA' },
        }),
      );
    } catch (err) {
      fields = (err as { fields?: unknown }).fields;
    }
    expect(Array.isArray(fields) && fields.length > 0 && fields.every((x) => typeof x === 'string')).toBe(true);
  });

  it('sct.ts withoutSCTs(): the library verifies embedded SCTs even at ctlogThreshold 0, on cert.clone(); the view without them passes', () => {
    const sig = fixtureSignatures('dir-img-cosign-fulcio-rekor-valid').find((s) => s.found.annotations['dev.sigstore.cosign/certificate'])!;
    const { certificateBundle } = legacyBundles(sig.found);
    const entity = toSignedEntity(bundleFromJSON(certificateBundle), sig.found.payload);
    const policy = compilePolicy(
      {
        version: 1,
        scopes: {
          'example.com': [
            {
              type: 'sigstoreSigned',
              signatureFormats: ['legacy'],
              fulcio: { caPath: 'fulcio_v1.crt.pem', oidcIssuer: 'https://github.com/login/oauth', subjectEmail: 'mitr@redhat.com' },
              rekorPublicKeyPath: 'rekor.pub',
            },
          ],
        },
      },
      join(FIXTURES, 'policy.yaml'),
      FIXTURES,
    );
    const req = policy.scopes.get('example.com')![0] as Extract<Requirement, { type: 'sigstoreSigned' }>;
    const base = trustMaterial(req.trust as Exclude<typeof req.trust, { kind: 'keys' }>);
    expect(base.ctlogs).toEqual([]);
    // the chain annotation's intermediate before the root, as pinnedPath() hands it over
    const chain = (certificateBundle as { verificationMaterial: { x509CertificateChain: { certificates: Array<{ rawBytes: string }> } } })
      .verificationMaterial.x509CertificateChain.certificates;
    const intermediates = chain.slice(1).map((c) => X509Certificate.parse(Buffer.from(c.rawBytes, 'base64')));
    const ca = base.certificateAuthorities[0]!;
    const material: TrustMaterial = { ...base, certificateAuthorities: [{ ...ca, certChain: [...intermediates, ...ca.certChain] }] };
    const opts = { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 };
    expect(() => new Verifier(material, opts).verify(entity)).toThrow(/SCT verification failed/);
    if (entity.key.$case !== 'certificate') throw new Error('unexpected');
    const viewed = { ...entity, key: { ...entity.key, certificate: withoutSCTs(entity.key.certificate) } };
    expect(() => new Verifier(material, opts).verify(viewed)).not.toThrow();
  });
});
