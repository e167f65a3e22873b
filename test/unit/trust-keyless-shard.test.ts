/**
 * Issue 13's keyless proof: a keyless signature logged in a Rekor shard that only the updated
 * root knows. A policy trusts `public-good`; the signature (a Fulcio-style leaf from a CA made
 * here, its Rekor entry's SET by a new shard's key) is refused while the built-in root is in use,
 * still refused after `trust update` brings a root (TUF targets v20) that knows the CA but not
 * the shard, verified after the next update (v21, the shard added) — and refused with
 * TRUST_ROOT_INVALID once the kept root no longer matches its signed TUF metadata, not
 * verified against the older built-in root instead.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareSignature } from '../../src/engine/requirements/prepare.js';
import { evaluateSigstoreRequirement } from '../../src/engine/requirements/sigstore-signed.js';
import { SigguardError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { DEFAULT_PUBLIC_GOOD_KEPT, setPublicGoodKept } from '../../src/policy/kept-root.js';
import { scopeTrustRoots } from '../../src/policy/trust-roots.js';
import type { SigstoreSignedRequirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { trustUpdate } from '../../src/trust/update.js';
import { TufRepoFixture } from '../support/tuf-repo.js';
import { CertFactory, type TestCert, legacySignature } from '../support/x509-chains.js';

const REPO = 'registry.example/team/app';
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const ISSUER = 'https://issuer.example';
const EMAIL = 'release@example.com';
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

let dir: string;
let leaf: TestCert;
let root: TestCert;
const shard1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const shard2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = (k: typeof shard1) => k.publicKey.export({ type: 'spki', format: 'der' });

/** A TrustedRoot naming the CA and the given Rekor shards. */
function trustedRoot(shards: Array<typeof shard1>): Buffer {
  const tlog = (k: typeof shard1, i: number) => ({
    baseUrl: `https://log2026-${i + 1}.rekor.example`,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: b64(spki(k)), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2020-01-01T00:00:00Z' } },
    logId: { keyId: b64(createHash('sha256').update(spki(k)).digest()) },
  });
  return Buffer.from(
    JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: shards.map(tlog),
      certificateAuthorities: [
        {
          subject: { organization: 'sigguard-test', commonName: 'root' },
          uri: 'https://fulcio.example',
          certChain: { certificates: [{ rawBytes: b64(root.der) }] },
          validFor: { start: '2020-01-01T00:00:00Z' },
        },
      ],
      ctlogs: [],
      timestampAuthorities: [],
    }),
  );
}

/** The legacy signature with cosign's Rekor bundle annotation: a hashedrekord entry whose SET the second shard signed. */
function signatureInShard2(integratedTime: number) {
  const sig = legacySignature(leaf, undefined, DIGEST, REPO);
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(sig.payload).digest('hex') } },
      signature: { content: sig.signature, publicKey: { content: b64(leaf.pem) } },
    },
  };
  const logID = createHash('sha256').update(spki(shard2)).digest('hex');
  const payload = { body: b64(JSON.stringify(body)), integratedTime, logID, logIndex: 7 };
  // RFC 8785 for this shape: keys sorted, no spaces
  const canonical = `{"body":${JSON.stringify(payload.body)},"integratedTime":${integratedTime},"logID":${JSON.stringify(logID)},"logIndex":7}`;
  const set = sign('sha256', Buffer.from(canonical), shard2.privateKey);
  sig.annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({ SignedEntryTimestamp: b64(set), Payload: payload });
  return prepareSignature(sig);
}

function requirement() {
  const req = {
    type: 'sigstoreSigned',
    signatureFormats: ['legacy'],
    signedIdentity: { type: 'matchRepository' },
    keyless: { trustedRoot: 'public-good', identities: [{ issuer: ISSUER, subject: EMAIL }], requireRekor: true, requireSCT: false },
  };
  const policy = compilePolicy({ version: 1, scopes: { [REPO]: [req] } }, join(dir, 'policy.yaml'), dir);
  return { policy, req: policy.scopes.get(REPO)![0] as SigstoreSignedRequirement };
}

let integratedTime: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-keyless-shard-'));
  const f = new CertFactory(join(dir, 'pki'));
  root = f.ca('root', undefined);
  const fulcioExt = [
    'extendedKeyUsage = codeSigning',
    `1.3.6.1.4.1.57264.1.1 = DER:${Buffer.from(ISSUER).toString('hex')}`,
    `1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${ISSUER}`,
  ];
  leaf = f.leaf('leaf', root, EMAIL, fulcioExt);
  // the entry is logged after the certificate's notBefore (whole seconds)
  await new Promise((r) => setTimeout(r, 1100));
  integratedTime = Math.floor(Date.now() / 1000);
});
afterAll(() => {
  setPublicGoodKept(DEFAULT_PUBLIC_GOOD_KEPT);
  rmSync(dir, { recursive: true, force: true });
});

describe('a keyless signature in a Rekor shard only the updated root knows', () => {
  it('refused with the built-in root, and with an update that lacks the shard; verified once the update brings it', async () => {
    const image = parseReference(`${REPO}@${DIGEST}`);
    const out = join(mkdtempSync(join(tmpdir(), 'sigguard-keyless-kept-')), 'public-good.json');
    setPublicGoodKept(out);

    const builtIn = requirement();
    expect(builtIn.req.trust.label).toBe('trusted root public-good (built in, TUF targets v14)');
    const refused = (await evaluateSigstoreRequirement(builtIn.req, [signatureInShard2(integratedTime)], [], image)).report;
    expect(refused).toMatchObject({ satisfied: false, code: 'UNTRUSTED_SIGNER' });
    expect(refused.reason).toMatch(/certificate chain not trusted/);

    const repo = new TufRepoFixture(join(dir, 'tuf'));
    repo.publish({ 'trusted_root.json': trustedRoot([shard1]) }, { targetsVersion: 20 });
    await trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    const withoutShard = requirement();
    expect(withoutShard.req.trust.label).toMatch(/^trusted root public-good \(TUF targets v20 from file:/);
    const stillRefused = (await evaluateSigstoreRequirement(withoutShard.req, [signatureInShard2(integratedTime)], [], image)).report;
    expect(stillRefused).toMatchObject({ satisfied: false, code: 'UNTRUSTED_SIGNER' });
    expect(stillRefused.reason).toMatch(/TUF targets v20/);
    expect(stillRefused.reason).toMatch(/inclusion promise could not be verified/);

    repo.publish({ 'trusted_root.json': trustedRoot([shard1, shard2]) }, { targetsVersion: 21 });
    expect(
      await trustUpdate({ from: repo.dir, target: 'trusted_root.json', out, timeoutMs: 10_000 }), // from the kept state now
    ).toMatchObject({ status: 'updated', targetsVersion: 21 });
    const updated = requirement();
    const verified = (await evaluateSigstoreRequirement(updated.req, [signatureInShard2(integratedTime)], [], image)).report;
    expect(verified).toMatchObject({ satisfied: true, code: 'ALLOWED', signer: expect.stringContaining(EMAIL) });
    // what the decision log names
    expect(scopeTrustRoots(updated.policy, REPO)).toMatch(/^public-good \(TUF targets v21 from file:.*, fetched \d{4}-/);
    // a new root is a new cache key
    expect(updated.req.trust.fingerprint).not.toBe(withoutShard.req.trust.fingerprint);

    // the kept root altered behind the TUF metadata's back: refused with why, not the built-in root instead
    writeFileSync(out, trustedRoot([shard2, shard1]), { mode: 0o600 });
    const broken = requirement();
    expect(broken.req.trust.label).toMatch(/public-good \(unusable: updated trusted root .* signed targets metadata version 21\)/);
    const e = await evaluateSigstoreRequirement(broken.req, [signatureInShard2(integratedTime)], [], image).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(SigguardError);
    expect((e as SigguardError).code).toBe('TRUST_ROOT_INVALID');
  });
});
