/**
 * Tests written against mutants that survived `make mutation` in legacy.ts, keys.ts and trust.ts
 * (docs/mutation-survivors/verify.md): the simple-signing payload and its type, the signature
 * annotation's base64, the v0.1 bundles a legacy signature amounts to (the chain without roots, the
 * Rekor entry, the RFC 3161 timestamp), broken annotations as problems, and key signatures by
 * ECDSA, RSA and Ed25519 (which signs the payload itself).
 */
import { type KeyObject, createHash, generateKeyPairSync, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FoundSignature } from '../../src/discovery/types.js';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_TIMESTAMP,
  MalformedSignature,
  legacyBundles,
  legacyEntity,
  legacyToBundle,
  readLegacyClaim,
} from '../../src/verify/legacy.js';
import { signedByKey } from '../../src/verify/trust.js';
import { CertFactory, type TestCert } from '../support/x509-chains.js';
import { tempDir } from '../support/temp.js';

type Legacy = Extract<FoundSignature, { format: 'legacy' }>;
const DIGEST = `sha256:${'4'.repeat(64)}`;
const claimPayload = (type = 'cosign container image signature') =>
  Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': 'r.example/app' }, image: { 'docker-manifest-digest': DIGEST }, type },
      optional: null,
    }),
  );

function legacy(payload: Buffer, signature: string | undefined, annotations: Record<string, string> = {}): Legacy {
  return {
    format: 'legacy',
    subject: DIGEST,
    source: 'test',
    payload,
    signature,
    annotations: signature === undefined ? annotations : { 'dev.cosignproject.cosign/signature': signature, ...annotations },
  } as Legacy;
}

/** What a function throws, as `detail: message` of a MalformedSignature (anything else is rethrown). */
function malformed(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    if (!(err instanceof MalformedSignature)) throw err;
    return `${err.detail}: ${err.message}`;
  }
}

describe('legacy.ts: the payload', () => {
  it('a cosign simple-signing payload of the right type gives its claim; anything else is malformed', () => {
    expect(readLegacyClaim(legacy(claimPayload(), 'QUJD'))).toEqual({ digest: DIGEST, dockerReference: 'r.example/app' });
    expect(malformed(() => readLegacyClaim(legacy(Buffer.from('{'), 'QUJD')))).toBe('PAYLOAD: payload is not JSON');
    expect(malformed(() => readLegacyClaim(legacy(Buffer.from('{"critical":{}}'), 'QUJD')))).toBe(
      'PAYLOAD: payload is not a cosign simple-signing document',
    );
    expect(malformed(() => readLegacyClaim(legacy(claimPayload('cosign attestation'), 'QUJD')))).toBe(
      'PAYLOAD: payload type is "cosign attestation", not "cosign container image signature"',
    );
  });
});

describe('legacy.ts: the signature annotation', () => {
  it('must be there and be base64 (line breaks skipped, as Go does)', () => {
    const p = claimPayload();
    for (const sig of [undefined, '']) {
      expect(malformed(() => legacyToBundle(legacy(p, sig)))).toBe('BUNDLE: no dev.cosignproject.cosign/signature annotation');
    }
    for (const sig of ['QUJD!', '====', '!!!!', 'QUJD QUJD']) {
      expect(
        malformed(() => legacyToBundle(legacy(p, sig))),
        sig,
      ).toBe('BUNDLE: signature annotation is not base64');
    }
    for (const sig of ['QUJD', 'QUI=', 'QUI', 'QUJD\nQUJD\r\n', 'QQ==']) {
      expect(
        malformed(() => legacyToBundle(legacy(p, sig))),
        sig,
      ).toBe('no error');
    }
  });
});

describe('legacy.ts: the v0.1 bundles of a signature with its annotations', () => {
  let root: TestCert;
  let sub: TestCert;
  let leaf: TestCert;
  let sameName: TestCert;
  beforeAll(() => {
    const f = new CertFactory(tempDir('sigguard-legacy-deciding-'));
    root = f.ca('legacy-root', undefined);
    sub = f.ca('legacy-sub', root);
    leaf = f.leaf('legacy-leaf', sub, 'signer@example.com');
    // subject equal to its issuer's, but another key: a chain builder could take it for a root
    sameName = f.cert({
      name: 'legacy-same-name',
      subject: '/O=sigguard-test/CN=legacy-sub',
      issuer: sub,
      ext: ['basicConstraints = critical, CA:true'],
    });
  }, 60_000);

  const body = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64');
  const set = (over: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) =>
    JSON.stringify({
      SignedEntryTimestamp: 'c2V0',
      Payload: {
        body: body({ kind: 'hashedrekord', apiVersion: '0.0.1' }),
        integratedTime: 1700000000,
        logIndex: 7,
        logID: 'c0ffee',
        ...payload,
      },
      ...over,
    });
  const b64 = (c: TestCert) => c.der.toString('base64');

  it('carry the Rekor entry, the timestamp and the chain without its roots', () => {
    const p = claimPayload();
    const sig = legacy(p, 'QUJD', {
      [ANNOTATION_CERTIFICATE]: leaf.pem,
      [ANNOTATION_CHAIN]: sub.pem + sameName.pem + root.pem,
      [ANNOTATION_BUNDLE]: set(),
      [ANNOTATION_TIMESTAMP]: JSON.stringify({ SignedRFC3161Timestamp: 'dHM=' }),
    });
    const messageSignature = {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(p).digest('base64') },
      signature: 'QUJD',
    };
    const tlogEntry = {
      logIndex: '7',
      logId: { keyId: Buffer.from('c0ffee', 'hex').toString('base64') },
      kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
      integratedTime: '1700000000',
      inclusionPromise: { signedEntryTimestamp: 'c2V0' },
      canonicalizedBody: body({ kind: 'hashedrekord', apiVersion: '0.0.1' }),
    };
    const mediaType = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
    expect(legacyBundles(sig)).toEqual({
      keyBundle: {
        mediaType,
        messageSignature,
        verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [tlogEntry], timestampVerificationData: { rfc3161Timestamps: [] } },
      },
      certificateBundle: {
        mediaType,
        messageSignature,
        verificationMaterial: {
          x509CertificateChain: { certificates: [{ rawBytes: b64(leaf) }, { rawBytes: b64(sub) }] },
          tlogEntries: [tlogEntry],
          timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: 'dHM=' }] },
        },
      },
      problem: undefined,
      problemDetail: undefined,
    });
  });

  it('a broken annotation is a problem of the certificate bundle, with its detail', () => {
    const withAnn = (a: Record<string, string>) =>
      legacyBundles(legacy(claimPayload(), 'QUJD', { [ANNOTATION_CERTIFICATE]: leaf.pem, ...a }));
    const problemOf = (a: Record<string, string>) => {
      const r = withAnn(a);
      return `${r.problemDetail}: ${r.problem}`;
    };
    const notSet = 'BUNDLE: Rekor bundle annotation is not {SignedEntryTimestamp, Payload: {body, integratedTime, logIndex, logID}}';
    expect(problemOf({ [ANNOTATION_BUNDLE]: '{}' })).toBe(notSet);
    expect(problemOf({ [ANNOTATION_BUNDLE]: set({ SignedEntryTimestamp: '' }) })).toBe(notSet);
    expect(problemOf({ [ANNOTATION_BUNDLE]: set({}, { body: '' }) })).toBe(notSet);
    for (const logID of ['xyz', 'c0ffee ', ' c0ffee', ''])
      expect(problemOf({ [ANNOTATION_BUNDLE]: set({}, { logID }) }), logID).toBe(notSet);
    expect(problemOf({ [ANNOTATION_BUNDLE]: set({}, { body: body({ kind: 'hashedrekord' }) }) })).toBe(
      'BUNDLE: Rekor entry body names no kind and apiVersion',
    );
    expect(problemOf({ [ANNOTATION_BUNDLE]: set({}, { body: body({ apiVersion: '0.0.1' }) }) })).toBe(
      'BUNDLE: Rekor entry body names no kind and apiVersion',
    );
    expect(problemOf({ [ANNOTATION_CERTIFICATE]: leaf.pem + leaf.pem })).toBe(
      'LIMITS: certificate annotation holds more than 1 certificates',
    );
    expect(problemOf({ [ANNOTATION_CERTIFICATE]: leaf.pem.replace('-----END CERTIFICATE-----', '') })).toBe(
      'BUNDLE: certificate annotation holds no PEM certificate',
    );
    // a good SET next to a broken certificate: the entry is kept, the problem said
    const r = withAnn({ [ANNOTATION_BUNDLE]: set(), [ANNOTATION_CERTIFICATE]: 'x' });
    expect(r.certificateBundle).toBeUndefined();
    expect(r.problem).toBe('certificate annotation holds no PEM certificate');
    expect((r.keyBundle as { verificationMaterial: { tlogEntries: unknown[] } }).verificationMaterial.tlogEntries).toHaveLength(1);
  });
});

describe('legacy.ts, keys.ts, trust.ts: key signatures over the payload', () => {
  const cases: Array<[string, ReturnType<typeof generateKeyPairSync>, string | null]> = [
    ['ECDSA P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'sha256'],
    ['RSA', generateKeyPairSync('rsa', { modulusLength: 2048 }), 'sha256'],
    ['Ed25519', generateKeyPairSync('ed25519'), null],
  ];
  const trusted = (key: KeyObject) => ({ label: 'k', id: 'k', fingerprint: 'k', key });
  for (const [name, pair, hash] of cases) {
    it(`${name}: the signer's key verifies, another key and another payload do not`, () => {
      const p = claimPayload();
      const sig = legacy(p, sign(hash, p, pair.privateKey).toString('base64'));
      const entity = legacyEntity(sig, legacyToBundle(sig));
      expect(signedByKey(entity, trusted(pair.publicKey))).toBe(true);
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      expect(signedByKey(entity, trusted(other))).toBe(false);
      const forged = legacy(claimPayload('x'), sig.signature);
      expect(signedByKey(legacyEntity(forged, legacyToBundle(forged)), trusted(pair.publicKey))).toBe(false);
    });
  }
});
