/**
 * Tests written against mutants that survived `make mutation` in certificate-signer.ts
 * (docs/mutation-survivors/verify.md), on the sigstore-conformance bundles (test/fixtures): the
 * identity path's happy cases, a policy rule's defaults (Rekor, SCT, timestamp required), what
 * each option sets aside and nothing more, timestamps without a TSA to check them, and
 * intermediates a bundle carries (used only where a policy allows it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { X509Certificate } from '@sigstore/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CertificateRule } from '../../src/policy/certificate-rules.js';
import { loadTrust, publicGoodTrustedRootJSON, trustFromJSON } from '../../src/verify/trusted-root.js';
import type { CertificateOptions, VerifyBundleInput } from '../../src/verify/verifier.js';
import { verifyBundle } from '../../src/verify/verifier.js';
import { messageBundleJson } from '../support/message-bundle.js';
import { noTrust } from '../support/no-trust.js';
import { CertFactory, type TestCert } from '../support/x509-chains.js';
import { tempDir } from '../support/temp.js';

const DIR = resolve(__dirname, '../fixtures/sigstore-conformance/bundle-verify');
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const RULE: CertificateRule = {
  kind: 'keyless',
  identities: [{ issuer: { exact: ISSUER }, subject: { exact: IDENTITY } }],
  extensions: {},
};

type Json = {
  verificationMaterial: {
    tlogEntries: Array<{ integratedTime?: string }>;
    x509CertificateChain?: { certificates: Array<{ rawBytes: string }> };
  };
};

/** A conformance case's bundle (parsed, to change), artifact and trust. */
function conformanceCase(name: string) {
  const at = (f: string) => join(DIR, name, f);
  const bundle = JSON.parse(readFileSync(at('bundle.sigstore.json'), 'utf8')) as Json;
  const artifact = readFileSync(existsSync(at('artifact')) ? at('artifact') : join(DIR, 'a.txt'));
  const trust = loadTrust(existsSync(at('trusted_root.json')) ? at('trusted_root.json') : undefined).trust;
  const signedAt = new Date(Number(bundle.verificationMaterial.tlogEntries[0]?.integratedTime ?? 0) * 1000 + 1000);
  return { bundle, artifact, trust, signedAt };
}

function byRule(c: ReturnType<typeof conformanceCase>, certificate: CertificateOptions, more: Partial<VerifyBundleInput> = {}) {
  return verifyBundle({
    bundleJson: c.bundle,
    artifact: { bytes: c.artifact },
    trust: c.trust,
    expect: { certificate: RULE },
    certificate,
    ...more,
  });
}
const byIdentity = (c: ReturnType<typeof conformanceCase>, more: Partial<VerifyBundleInput> = {}) =>
  verifyBundle({
    bundleJson: c.bundle,
    artifact: { bytes: c.artifact },
    trust: c.trust,
    expect: { identity: IDENTITY, issuer: ISSUER },
    ...more,
  });

describe('certificate-signer.ts: the happy cases pass, by identity and by rule', () => {
  for (const name of ['happy-path-v0.3', 'happy-path-v0.1', 'rekor2-happy-path']) {
    it(name, async () => {
      const c = conformanceCase(name);
      const signer = { type: 'certificate', identity: IDENTITY, issuer: ISSUER };
      expect(await byIdentity(c)).toEqual({ ok: true, signer, mediaType: expect.any(String), content: 'messageSignature' });
      expect(await byRule(c, {})).toMatchObject({ ok: true, signer });
    });
  }
});

describe("certificate-signer.ts: a policy rule's defaults and options", () => {
  const NO_REKOR = 'no Rekor entry: the signature was not logged, and the policy requires Rekor';
  const NO_TIME = 'no Rekor entry or RFC 3161 timestamp proves when the certificate signed, and the policy requires one';

  it('without a Rekor entry: Rekor is required by default, then a timestamp; with neither required, checked at `now`', async () => {
    const c = conformanceCase('happy-path-v0.3');
    c.bundle.verificationMaterial.tlogEntries = [];
    const now = c.signedAt;
    expect(await byRule(c, { now })).toEqual({ ok: false, detail: 'TLOG_MISSING', reason: NO_REKOR });
    expect(await byRule(c, { now, requireTlog: false })).toEqual({ ok: false, detail: 'TIMESTAMP', reason: NO_TIME });
    expect(await byRule(c, { now, requireTlog: false, requireTimestamp: false })).toMatchObject({ ok: true });
    // the identity path (Sigstore's defaults) refuses it too
    expect(await byIdentity(c)).toMatchObject({ ok: false });
  });

  it('an SCT is required by default: a bad CT log key is refused, unless the policy sets SCTs aside', async () => {
    const c = conformanceCase('invalid-ct-key_fail');
    expect(await byRule(c, {})).toMatchObject({ ok: false, detail: 'SCT' });
    expect(await byRule(c, { requireSCT: false })).toMatchObject({ ok: true });
  });

  it('a Rekor body naming another key than the certificate is refused, unless Rekor is set aside', async () => {
    const c = conformanceCase('incorrect-public-key_fail');
    expect(await byRule(c, {})).toMatchObject({ ok: false, detail: 'TLOG_BODY' });
    expect(await byRule(c, { requireTlog: false, requireTimestamp: false, now: c.signedAt })).toMatchObject({
      ok: false,
      detail: 'TLOG_BODY',
    });
    expect(await byRule(c, { ignoreTlog: true, now: c.signedAt })).toMatchObject({ ok: true });
  });

  it("ignoreTlog sets Rekor's times aside too: the certificate is checked at the current time", async () => {
    const c = conformanceCase('happy-path-v0.3');
    expect(await byRule(c, { ignoreTlog: true, now: c.signedAt })).toMatchObject({ ok: true });
    expect(await byRule(c, { ignoreTlog: true })).toMatchObject({
      ok: false,
      detail: 'CERT_EXPIRED',
      reason: expect.stringMatching(/not valid or expired.* \(checked at the current time\)$/),
    });
    // Rekor not required, but the entry is there: its time is used (no current-time check)
    expect(await byRule(c, { requireTlog: false })).toMatchObject({ ok: true });
  });

  it("a Rekor entry's integrated time without an inclusion promise dates nothing (it is not signed by the log)", async () => {
    const c = conformanceCase('happy-path-v0.3');
    // the entry stays verified by its inclusion proof; its integratedTime is the bundle's word only
    delete (c.bundle.verificationMaterial.tlogEntries[0] as { inclusionPromise?: unknown }).inclusionPromise;
    expect(await byRule(c, { requireTimestamp: false })).toMatchObject({
      ok: false,
      detail: 'CERT_EXPIRED',
      reason: expect.stringMatching(/\(checked at the current time: no Rekor entry or timestamp proves the signing time\)$/),
    });
    expect(await byIdentity(c)).toMatchObject({ ok: false });
  });

  it('checked at the current time, an expired certificate says so', async () => {
    const c = conformanceCase('happy-path-v0.3');
    c.bundle.verificationMaterial.tlogEntries = [];
    expect(await byRule(c, { requireTlog: false, requireTimestamp: false })).toMatchObject({
      ok: false,
      detail: 'CERT_EXPIRED',
      reason: expect.stringMatching(
        /not valid or expired.* \(checked at the current time: no Rekor entry or timestamp proves the signing time\)$/,
      ),
    });
  });

  it('an RFC 3161 timestamp with no timestamp authority trusted proves nothing', async () => {
    const c = conformanceCase('rekor2-happy-path');
    expect(await byRule(c, {})).toMatchObject({ ok: true });
    const noTSA = { ...c.trust, timestampAuthorities: [] };
    // its Rekor v2 entry has no integrated time: the TSA's timestamp was the only one
    expect(await byRule(c, {}, { trust: noTSA })).toEqual({ ok: false, detail: 'TIMESTAMP', reason: NO_TIME });
    expect(await byRule(c, { requireTlog: false }, { trust: noTSA })).toEqual({ ok: false, detail: 'TIMESTAMP', reason: NO_TIME });
  });

  it('a rule another holder fails is refused with the holder', async () => {
    const c = conformanceCase('happy-path-v0.3');
    const other: CertificateRule = { ...RULE, identities: [{ issuer: { exact: ISSUER }, subject: { exact: 'https://example.com/x' } }] };
    const r = await verifyBundle({ bundleJson: c.bundle, artifact: { bytes: c.artifact }, trust: c.trust, expect: { certificate: other } });
    expect(r).toMatchObject({ ok: false, detail: 'CERT_IDENTITY', holder: { issuer: ISSUER, sans: [{ type: 'uri', value: IDENTITY }] } });
  });
});

describe('certificate-signer.ts: intermediates a bundle carries link to a trusted root only where the policy says so', () => {
  // the public-good root with each certificate authority cut to its root: the Fulcio intermediate
  // is then known only from the bundle
  const rootOnly = () => {
    const json = publicGoodTrustedRootJSON() as { certificateAuthorities: Array<{ certChain: { certificates: unknown[] } }> };
    const intermediates = json.certificateAuthorities.map((ca) => ca.certChain.certificates.slice(0, -1));
    for (const ca of json.certificateAuthorities) ca.certChain.certificates = ca.certChain.certificates.slice(-1);
    return { trust: trustFromJSON(json, 'root only').trust, intermediates: intermediates.flat() as Array<{ rawBytes: string }> };
  };

  it('the Fulcio intermediate from the bundle: refused by default and by identity, accepted with bundleIntermediates', async () => {
    const c = conformanceCase('happy-path-v0.1');
    const { trust, intermediates } = rootOnly();
    expect(await byRule(c, {}, { trust })).toMatchObject({ ok: false, detail: 'CERT_CHAIN' });
    const chain = c.bundle.verificationMaterial.x509CertificateChain!;
    const leaf = chain.certificates[0]!;
    // each intermediate of the public-good root in turn: the one that issued the leaf links it
    const results = [];
    for (const intermediate of intermediates) {
      chain.certificates = [leaf, intermediate];
      results.push({
        byDefault: (await byRule(c, {}, { trust })).ok,
        byIdentity: (await byIdentity(c, { trust })).ok,
        allowed: (await byRule(c, { bundleIntermediates: true }, { trust })).ok,
      });
    }
    expect(results.every((r) => !r.byDefault && !r.byIdentity)).toBe(true);
    expect(results.some((r) => r.allowed)).toBe(true);
  });
});

describe('certificate-signer.ts: a leaf with an extended key usage must allow code signing', () => {
  let f: CertFactory;
  let root: TestCert;
  beforeAll(() => {
    f = new CertFactory(tempDir('sigguard-cert-deciding-'));
    root = f.ca('eku-root', undefined);
  }, 60_000);

  const message = Buffer.from('signed by a private PKI\n');
  const bundleBy = (leaf: TestCert) => messageBundleJson(leaf, message);
  const verifyPki = (leaf: TestCert) =>
    verifyBundle({
      bundleJson: bundleBy(leaf),
      artifact: { bytes: message },
      trust: {
        ...noTrust,
        certificateAuthorities: [
          { certChain: [X509Certificate.parse(Buffer.from(root.der))], validFor: { start: new Date(0), end: new Date(8.64e15) } },
        ],
      },
      expect: { certificate: { kind: 'pki', subjectEmail: 'signer@example.com', subjectHostname: undefined } },
      certificate: { ignoreTlog: true, requireSCT: false },
    });

  it('code signing, or no extended key usage: accepted; server authentication only: refused', async () => {
    expect(await verifyPki(f.leaf('eku-code', root, 'signer@example.com'))).toMatchObject({
      ok: true,
      signer: { type: 'certificate', identity: 'signer@example.com', issuer: '' },
    });
    expect(await verifyPki(f.leaf('eku-none', root, 'signer@example.com', []))).toMatchObject({ ok: true });
    expect(await verifyPki(f.leaf('eku-server', root, 'signer@example.com', ['extendedKeyUsage = serverAuth']))).toEqual({
      ok: false,
      detail: 'CERT_CONSTRAINTS',
      reason: 'signing certificate is not for code signing (extended key usage)',
    });
  });
});
