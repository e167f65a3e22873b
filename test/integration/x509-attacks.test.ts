/**
 * The certificate attacks of issue 10 item 3, end to end: cosign 2.5.0 signs
 * an image in a real registry with a certificate for its key and a chain
 * (`pki`, as containers/image verifies it); the attacker then swaps the
 * signature's certificate and chain annotations for others over the same key:
 * a leaf for team-a under a sub-CA whose name constraints permit only team-b,
 * a code-signing leaf under a sub-CA restricted to serverAuth, a chain that
 * is a cycle, a public key where the certificate belongs. `sigguard check`
 * refuses each (UNTRUSTED_SIGNER, naming the rule), as `cosign verify` (Go's
 * crypto/x509) refuses the first two.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguardCheck } from '../support/cli.js';
import { Cosign } from '../support/cosign.js';
import { COSIGN2, SIGGUARD, requireTools } from '../support/paths.js';
import { Pusher, editLegacySignatures } from '../support/push.js';
import { Registry } from '../support/registry.js';
import { CertFactory, type TestCert } from '../support/x509-chains.js';

const ISSUER_EXT = '1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:https://issuer.example.com';
const CERT = 'dev.sigstore.cosign/certificate';
const CHAIN = 'dev.sigstore.cosign/chain';

let registry: Registry;
let cosign: Cosign;
let push: Pusher;
let f: CertFactory;
let root: TestCert;
let pub: string;
let key: string;
let policyFile: (email: string) => string;

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2);
  registry = await Registry.start();
  cosign = await Cosign.create();
  push = new Pusher(registry.host);
  f = new CertFactory(join(cosign.dir, 'x509'));
  root = f.ca('root', undefined);
  ({ key, pub } = await cosign.keyPair('signer'));
  const rootFile = f.file('roots.pem', root.pem);
  policyFile = (email: string) => {
    const file = join(f.dir, `policy-${email}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        default: 'reject',
        scopes: {
          [registry.host]: [
            {
              type: 'sigstoreSigned',
              signatureFormats: ['legacy'],
              signedIdentity: { type: 'matchRepository' },
              pki: { caRootsPath: rootFile, subjectEmail: email },
            },
          ],
        },
      }),
    );
    return file;
  };
}, 120_000);
afterAll(async () => {
  await registry?.stop();
});

/** An image signed by cosign with an honest certificate, then given `cert` and `chain` annotations. */
async function signedWith(repo: string, leaf: TestCert, chain: TestCert[], certificateText?: string): Promise<string> {
  const honestSub = f.ca(`${repo}-honest`, root);
  const honest = f.leaf(`${repo}-honest-leaf`, honestSub, 'honest@example.com', ['extendedKeyUsage = codeSigning', ISSUER_EXT], pub);
  const chainFile = f.file(`${repo}-honest-chain.pem`, honestSub.pem + root.pem);
  const certFile = join(f.dir, `${honest.name}.pem`);
  const pushed = await push.image(repo, 'v1', repo);
  const image = `${registry.host}/${repo}@${pushed.digest}`;
  const signed = await cosign.signCert2(key, certFile, chainFile, image);
  expect(signed.code, signed.stderr).toBe(0);
  await editLegacySignatures(push, repo, pushed.digest, (layers) =>
    layers.map(({ layer, payload }) => ({
      payload,
      layer: {
        ...layer,
        annotations: { ...layer.annotations, [CERT]: certificateText ?? leaf.pem, [CHAIN]: chain.map((c) => c.pem).join('') + root.pem },
      },
    })),
  );
  return image;
}

const leafFor = (name: string, sub: TestCert, email: string) =>
  f.leaf(name, sub, email, ['extendedKeyUsage = codeSigning', ISSUER_EXT], pub);

describe('certificate attacks through sigguard check (pki)', () => {
  it('control: the same signature with a sound chain is allowed', async () => {
    const sub = f.ca('sound-sub', root);
    const image = await signedWith('sound', leafFor('sound-leaf', sub, 'release@team-a.example.com'), [sub]);
    const r = await sigguardCheck(['--policy', policyFile('release@team-a.example.com'), '--json', image]);
    expect(r.verdict?.decision, r.stderr).toBe('allow');
  });

  it('a leaf for team-a under a sub-CA constrained to team-b: refused, as cosign refuses it', async () => {
    const sub = f.ca('nc-sub', root, ['nameConstraints = critical, permitted;email:team-b.example.com']);
    const image = await signedWith('name-constraints', leafFor('nc-leaf', sub, 'release@team-a.example.com'), [sub]);
    const r = await sigguardCheck(['--policy', policyFile('release@team-a.example.com'), '--json', image]);
    expect(r.verdict?.decision).toBe('deny');
    expect(r.verdict?.code).toBe('UNTRUSTED_SIGNER');
    expect(r.verdict?.requirements[0]?.reason).toMatch(
      /email address "release@team-a\.example\.com" is not permitted by the name constraints of "O=sigguard-test, CN=nc-sub"/,
    );
    // the detail code, in the verdict, the requirement and the signature (check --json)
    expect(r.verdict?.detailCode).toBe('CERT_CONSTRAINTS');
    expect(r.verdict?.requirements[0]?.detailCode).toBe('CERT_CONSTRAINTS');
    expect(r.verdict?.signatures[0]).toMatchObject({ status: 'untrusted', detailCode: 'CERT_CONSTRAINTS' });
    const subFile = f.file('nc-sub-only.pem', sub.pem);
    const theirs = await cosign.verifyCertificate(2, image, {
      identity: 'release@team-a.example.com',
      issuerRegExp: '.*',
      caRoots: join(f.dir, 'roots.pem'),
      caIntermediates: subFile,
    });
    expect(theirs.ok, theirs.stderr).toBe(false);
    expect(theirs.reason, theirs.stderr).toBe('untrusted-certificate');
  });

  it('a code-signing leaf under a sub-CA restricted to serverAuth: refused, as cosign refuses it', async () => {
    const sub = f.ca('eku-sub', root, ['extendedKeyUsage = serverAuth']);
    const image = await signedWith('eku', leafFor('eku-leaf', sub, 'release@team-a.example.com'), [sub]);
    const r = await sigguardCheck(['--policy', policyFile('release@team-a.example.com'), '--json', image]);
    expect(r.verdict?.code).toBe('UNTRUSTED_SIGNER');
    expect(r.verdict?.requirements[0]?.reason).toMatch(/CA "O=sigguard-test, CN=eku-sub" does not allow code signing/);
    expect(r.verdict?.requirements[0]?.detailCode).toBe('CERT_CONSTRAINTS');
    const subFile = f.file('eku-sub-only.pem', sub.pem);
    const theirs = await cosign.verifyCertificate(2, image, {
      identity: 'release@team-a.example.com',
      issuerRegExp: '.*',
      caRoots: join(f.dir, 'roots.pem'),
      caIntermediates: subFile,
    });
    expect(theirs.ok, theirs.stderr).toBe(false);
    expect(theirs.reason, theirs.stderr).toBe('untrusted-certificate');
  });

  // The search's own end, not the clock's: a search that went round the cycle would be stopped by
  // the deadline (DEADLINE_EXCEEDED) or crash on a stack overflow (no verdict), and one ended by
  // the caps says it gave up. How little work the cycle costs is counted in test/unit/x509-path.test.ts.
  it('a chain annotation that is a cycle (A issued by B, B by A): refused at once (no recursion to a stack overflow)', async () => {
    const { a0, aByB, bByA } = f.cycle('cycle');
    const image = await signedWith('cycle', leafFor('cyc-leaf', a0, 'release@team-a.example.com'), [aByB, bByA]);
    const r = await sigguardCheck(['--policy', policyFile('release@team-a.example.com'), '--json', '--deadline', '30', image]);
    expect(r.verdict?.code, r.stderr).toBe('UNTRUSTED_SIGNER');
    expect(r.verdict?.requirements[0]?.reason).toMatch(/certificate chain not trusted/);
    expect(r.verdict?.requirements[0]?.reason).not.toMatch(/gave up|among the first/);
    expect(r.verdict?.requirements[0]?.detailCode).toMatch(/^(?:CERT_CHAIN|LIMITS)$/);
  });

  it('a public key where the certificate belongs (cosign GHSA-fx35-mq7g-6g98): refused, saying so', async () => {
    const sub = f.ca('pk-sub', root);
    const image = await signedWith('public-key', leafFor('pk-leaf', sub, 'release@team-a.example.com'), [sub], readFileSync(pub, 'utf8'));
    const r = await sigguardCheck(['--policy', policyFile('release@team-a.example.com'), '--json', image]);
    expect(r.verdict?.code).toBe('UNTRUSTED_SIGNER');
    expect(r.verdict?.requirements[0]?.reason).toMatch(/certificate annotation holds no PEM certificate \(it holds a public key/);
    expect(r.verdict?.detailCode).toBe('BUNDLE');
  });
});
