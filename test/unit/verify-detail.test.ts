/**
 * Detail codes (src/verify/detail.ts) on refusals: every code is produced by a case here,
 * most by real bundles (the sigstore-conformance `_fail` cases, test/fixtures), the rest
 * by the mappings from @sigstore/verify's error codes and x509-path.ts's refusals.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SerializedBundle } from '@sigstore/bundle';
import { describe, expect, it } from 'vitest';
import { VerifyDetail, unreadableDetail } from '../../src/verify/detail.js';
import { pathRefusalDetail } from '../../src/verify/certificate-chain.js';
import { libraryDetail } from '../../src/verify/refusal.js';
import { loadTrust, publicGoodTrustedRootJSON } from '../../src/verify/trusted-root.js';
import { type BundleExpectation, verifyBundle } from '../../src/verify/verifier.js';

const DIR = resolve(__dirname, '../fixtures/sigstore-conformance/bundle-verify');
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

const produced = new Set<string>();

/** Verifies a conformance case as the suite would (artifact as bytes), with an optional change. */
async function conformance(
  name: string,
  change: { bundle?: (b: SerializedBundle) => unknown; expect?: BundleExpectation; requireTlogForKey?: boolean } = {},
) {
  const at = (f: string) => join(DIR, name, f);
  expect(existsSync(at('bundle.sigstore.json')), `fixture ${name}`).toBe(true);
  const artifact = readFileSync(existsSync(at('artifact')) ? at('artifact') : join(DIR, 'a.txt'));
  const trust = loadTrust(existsSync(at('trusted_root.json')) ? at('trusted_root.json') : undefined).trust;
  const text = readFileSync(at('bundle.sigstore.json'), 'utf8');
  const bundleJson = change.bundle ? change.bundle(JSON.parse(text)) : text;
  const expected: BundleExpectation =
    change.expect ??
    (existsSync(at('key.pub'))
      ? { publicKey: createPublicKey(readFileSync(at('key.pub'))) }
      : {
          identity: existsSync(at('identity')) ? readFileSync(at('identity'), 'utf8').trim() : IDENTITY,
          issuer: existsSync(at('issuer')) ? readFileSync(at('issuer'), 'utf8').trim() : ISSUER,
        });
  const r = await verifyBundle({
    bundleJson,
    artifact: { bytes: artifact },
    trust,
    expect: expected,
    ...(change.requireTlogForKey === undefined ? {} : { requireTlogForKey: change.requireTlogForKey }),
  });
  if (!r.ok) produced.add(r.detail);
  return r;
}

describe('detail codes of the sigstore-conformance refusals', () => {
  const cases: Array<[string, VerifyDetail]> = [
    ['bundle-malformed-json_fail', 'BUNDLE'],
    ['bundle-invalid-base64-signature_fail', 'BUNDLE'],
    ['bundle-unknown-version_fail', 'BUNDLE'],
    ['bundle-with-root-cert_fail', 'CERT_CHAIN'],
    ['bundle-from-wrong-instance_fail', 'CERT_CHAIN'],
    ['intoto-expired-certificate_fail', 'CERT_EXPIRED'],
    ['integrated-time-in-future_fail', 'CERT_EXPIRED'],
    ['invalid-inclusion-proof_fail', 'BUNDLE'],
    ['inclusion-proof-corrupted-hash_fail', 'TLOG_INCLUSION'],
    ['invalid-checkpoint-signature_fail', 'TLOG_INCLUSION'],
    ['rekor2-checkpoint-missing-origin_fail', 'TLOG_INCLUSION'],
    ['set-invalid-signature_fail', 'TLOG_SET'],
    ['incorrect-public-key_fail', 'TLOG_BODY'],
    ['signature-mismatch_fail', 'TLOG_BODY'],
    ['rekor2-dsse-mismatch-sig_fail', 'TLOG_BODY'],
    ['rekor2-no-timestamp_fail', 'TIMESTAMP'],
    ['rekor2-timestamp-payload-mismatch_fail', 'TIMESTAMP'],
    ['invalid-ct-key_fail', 'SCT'],
    ['managed-key-no-key_fail', 'KEY'],
    ['message-digest-mismatch_fail', 'PAYLOAD'],
    ['wrong-material_fail', 'PAYLOAD'],
  ];
  it.each(cases)('%s: %s', async (name, detail) => {
    const r = await conformance(name);
    expect(r).toMatchObject({ ok: false, detail });
  });
});

describe('detail codes of refusals made from happy-path bundles', () => {
  it('CERT_IDENTITY: another SAN, another OIDC issuer', async () => {
    expect(await conformance('happy-path-v0.3', { expect: { identity: 'https://example.com/other', issuer: ISSUER } })).toMatchObject({
      ok: false,
      detail: 'CERT_IDENTITY',
      reason: expect.stringMatching(/certificate identity is/),
    });
    expect(await conformance('happy-path-v0.3', { expect: { identity: IDENTITY, issuer: 'https://example.com' } })).toMatchObject({
      ok: false,
      detail: 'CERT_IDENTITY',
      reason: expect.stringMatching(/OIDC issuer/),
    });
  });

  it('CERT_CONSTRAINTS: a CA certificate (the Fulcio intermediate) as the signing certificate', async () => {
    const root = publicGoodTrustedRootJSON() as {
      certificateAuthorities: Array<{ certChain: { certificates: Array<{ rawBytes: string }> } }>;
    };
    const chain = root.certificateAuthorities.at(-1)!.certChain.certificates;
    expect(chain.length).toBeGreaterThan(1);
    const intermediate = chain[0]!.rawBytes;
    const r = await conformance('happy-path-v0.3', {
      bundle: (b) => ({ ...b, verificationMaterial: { ...b.verificationMaterial, certificate: { rawBytes: intermediate } } }),
    });
    expect(r).toMatchObject({ ok: false, detail: 'CERT_CONSTRAINTS', reason: 'signing certificate is a CA certificate' });
  });

  it('LIMITS: more tlog entries than a bundle may carry, refused before any check', async () => {
    const r = await conformance('happy-path-v0.3', {
      bundle: (b) => ({
        ...b,
        verificationMaterial: { ...b.verificationMaterial, tlogEntries: Array(50).fill(b.verificationMaterial.tlogEntries[0]) },
      }),
    });
    expect(r).toMatchObject({ ok: false, detail: 'LIMITS' });
  });

  it('TLOG_MISSING: a key-signed bundle without its Rekor entry', async () => {
    const r = await conformance('managed-key-happy-path', {
      bundle: (b) => ({ ...b, verificationMaterial: { ...b.verificationMaterial, tlogEntries: [] } }),
    });
    expect(r).toMatchObject({ ok: false, detail: 'TLOG_MISSING' });
  });

  it("SIGNATURE: a key-signed bundle whose signature is not the key's", async () => {
    const r = await conformance('managed-key-happy-path', {
      requireTlogForKey: false,
      bundle: (b) => {
        if (b.messageSignature === undefined) throw new Error('expected a message-signature bundle');
        const sig = Buffer.from(b.messageSignature.signature, 'base64');
        sig[sig.length - 1]! ^= 1;
        // Rekor's body and the RFC 3161 timestamp name the signature too: set aside, so that the signature check refuses
        const { timestampVerificationData: _, ...material } = b.verificationMaterial;
        return {
          ...b,
          messageSignature: { ...b.messageSignature, signature: sig.toString('base64') },
          verificationMaterial: { ...material, tlogEntries: [] },
        };
      },
    });
    expect(r).toMatchObject({ ok: false, detail: 'SIGNATURE', reason: 'signature verification failed' });
  });
});

describe('mappings', () => {
  it("@sigstore/verify's error codes", () => {
    const table: Array<[string, string, VerifyDetail]> = [
      ['SIGNATURE_ERROR', 'signature verification failed', 'SIGNATURE'],
      ['PUBLIC_KEY_ERROR', 'key not found', 'KEY'],
      ['CERTIFICATE_ERROR', 'SCT verification failed', 'SCT'],
      ['CERTIFICATE_ERROR', 'expected 1 SCTs, got 0', 'SCT'],
      ['CERTIFICATE_ERROR', 'certificate is not valid or expired at the specified date', 'CERT_EXPIRED'],
      ['CERTIFICATE_ERROR', 'no trusted certificate path found', 'CERT_CHAIN'],
      ['TIMESTAMP_ERROR', 'expected 1 timestamps, got 0', 'TIMESTAMP'],
      ['TLOG_INCLUSION_PROOF_ERROR', 'invalid checkpoint signature', 'TLOG_INCLUSION'],
      ['TLOG_MISSING_INCLUSION_ERROR', 'inclusion could not be verified', 'TLOG_INCLUSION'],
      ['TLOG_INCLUSION_PROMISE_ERROR', 'inclusion promise could not be verified', 'TLOG_SET'],
      ['TLOG_BODY_ERROR', 'signature mismatch', 'TLOG_BODY'],
      ['TLOG_ERROR', 'expected 1 tlog entries, got 0', 'TLOG_MISSING'],
      ['TLOG_ERROR', 'duplicate tlog entry', 'TLOG_BODY'],
    ];
    for (const [code, message, detail] of table) expect(libraryDetail(code, message), `${code}: ${message}`).toBe(detail);
  });

  it("x509-path.ts's refusals", () => {
    const table: Array<[string, VerifyDetail]> = [
      ['signing certificate is not valid or expired at 2023-02-02T00:00:00.000Z (valid …)', 'CERT_EXPIRED'],
      ['email address "a@b.example" is not permitted by the name constraints of "CN=sub"', 'CERT_CONSTRAINTS'],
      ['CA "CN=eku-sub" does not allow code signing (extended key usage 1.3.6.1.5.5.7.3.1)', 'CERT_CONSTRAINTS'],
      ['intermediate "CN=x" is not a CA certificate (basic constraints) and cannot issue "CN=leaf"', 'CERT_CONSTRAINTS'],
      ['path length constraint of "CN=x" (pathlen 0) exceeded: 1 intermediates below it', 'CERT_CONSTRAINTS'],
      ['certificate path search gave up after 64 signature checks', 'LIMITS'],
      ['certificate chain holds 40 certificates, more than 32', 'LIMITS'],
      ['no trusted root within 8 certificates', 'LIMITS'],
      ['name constraints of "CN=sub" take too many comparisons', 'LIMITS'],
      ['no valid certificate path among the first 16 tried: certificate "CN=x" is not valid or expired at …', 'LIMITS'],
      ['certificate "CN=leaf" has an unhandled critical extension 1.2.3.4.5', 'CERT_CONSTRAINTS'],
      ['DNS name "a.example" is excluded by the name constraint "a.example" of "CN=sub"', 'CERT_CONSTRAINTS'],
      ['"CN=sub" may not sign certificates (key usage without keyCertSign)', 'CERT_CONSTRAINTS'],
      ['path validation failed: unknown reason', 'CERT_CHAIN'],
      ['no path from "CN=leaf" issued by "CN=elsewhere" to a trusted root', 'CERT_CHAIN'],
      ['no trusted certificate authority is valid at 2020-01-01T00:00:00.000Z', 'CERT_CHAIN'],
    ];
    for (const [message, detail] of table) expect(pathRefusalDetail(message), message).toBe(detail);
  });

  it("discovery's unreadable signatures", () => {
    expect(unreadableDetail('bundle of 200000 bytes is larger than 98304 (not a signature: an attestation?)')).toBe('LIMITS');
    expect(unreadableDetail('referrer is not an image manifest')).toBe('BUNDLE');
  });
});

it('every detail code is produced by a real bundle above (a new code needs its case)', () => {
  expect([...produced].sort()).toEqual(Object.values(VerifyDetail).sort());
});

describe('check --explain', () => {
  it('shows the detail code beside a refused requirement and signature', async () => {
    const { explainText } = await import('../../src/cli/check.js');
    const text = explainText(
      {
        image: 'registry.example/app:v1',
        digest: `sha256:${'a'.repeat(64)}`,
        decision: 'deny',
        code: 'UNTRUSTED_SIGNER',
        reason: 'no signature verifies',
        detailCode: 'CERT_CHAIN',
        scope: '',
        requirements: [
          { type: 'sigstoreSigned', satisfied: false, code: 'UNTRUSTED_SIGNER', reason: 'no signature verifies', detailCode: 'CERT_CHAIN' },
        ],
        signatures: [
          {
            format: 'legacy',
            subject: `sha256:${'a'.repeat(64)}`,
            source: 'tag',
            status: 'untrusted',
            detail: 'certificate chain not trusted',
            detailCode: 'CERT_CHAIN',
          },
        ],
        registryRequests: 0,
      },
      [],
    );
    expect(text).toMatch(/NOT satisfied \[UNTRUSTED_SIGNER CERT_CHAIN\]: no signature verifies/);
    expect(text).toMatch(/untrusted \[CERT_CHAIN\]: certificate chain not trusted/);
  });
});
