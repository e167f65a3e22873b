/**
 * Keyless-style signatures made here: a private CA (root, intermediate) made
 * with openssl issues leaf certificates carrying an email SAN and the Fulcio
 * OIDC-issuer extensions; cosign 2.5.0 (legacy `.sig`, certificate and chain
 * annotations, no Rekor) and cosign 3.1.1 (Sigstore bundle, offline signing
 * config) sign images in a real registry with the leaves' keys. `sigguard
 * check --json` judges them with a `pki` requirement and a `keyless`
 * requirement (a trusted root naming the CA, requireRekor: false,
 * requireSCT: false), next to `cosign verify --certificate-identity …
 * --insecure-ignore-tlog --insecure-ignore-sct` (cosign 2: --ca-roots and
 * --ca-intermediates; cosign 3: --trusted-root) on the same images: the same
 * verdicts, and refusals that name the identity found.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguard, sigguardCheck } from '../support/cli.js';
import { Cosign, type CosignReason } from '../support/cosign.js';
import { COSIGN2, COSIGN3, SIGGUARD, requireTools } from '../support/paths.js';
import { type Pki, makePki } from '../support/pki.js';
import { Pusher } from '../support/push.js';
import { Registry } from '../support/registry.js';

const ISSUER = 'https://issuer.example.com';
const OTHER_ISSUER = 'https://other-issuer.example.com';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

let registry: Registry;
let cosign: Cosign;
let pki: Pki;
let otherPki: Pki;
const digests: Record<string, string> = {};
const policies: Record<string, string> = {};

const ref = (repo: string) => `${registry.host}/${repo}@${digests[repo]}`;

async function check(repo: string, policy: string) {
  return sigguardCheck(['--policy', policies[policy]!, '--json', ref(repo)]);
}

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3);
  registry = await Registry.start();
  cosign = await Cosign.create();
  const push = new Pusher(registry.host);
  pki = makePki(join(cosign.dir, 'pki'), 'sigguard test');
  otherPki = makePki(join(cosign.dir, 'other-pki'), 'another');
  const alice = await cosign.keyPair('alice');
  const bob = await cosign.keyPair('bob');
  const mallory = await cosign.keyPair('mallory');
  const aliceLeaf = pki.leaf('alice', alice.pub, ALICE, ISSUER);
  const bobLeaf = pki.leaf('bob', bob.pub, BOB, OTHER_ISSUER);
  // alice's identity, from a CA nobody trusts
  const malloryLeaf = otherPki.leaf('mallory', mallory.pub, ALICE, ISSUER);

  const img = async (repo: string) => {
    digests[repo] = (await push.image(repo, 'v1', repo)).digest;
    return ref(repo);
  };
  await cosign.signCert2(alice.key, aliceLeaf.cert, aliceLeaf.chain, await img('alice-legacy'));
  await cosign.signCert3(alice.key, aliceLeaf.cert, aliceLeaf.chain, pki.trustedRoot, await img('alice-bundle'));
  await cosign.signCert2(bob.key, bobLeaf.cert, bobLeaf.chain, await img('bob-legacy'));
  await cosign.signCert3(bob.key, bobLeaf.cert, bobLeaf.chain, pki.trustedRoot, await img('bob-bundle'));
  await cosign.signCert2(mallory.key, malloryLeaf.cert, malloryLeaf.chain, await img('mallory-legacy'));
  await cosign.signCert3(mallory.key, malloryLeaf.cert, malloryLeaf.chain, otherPki.trustedRoot, await img('mallory-bundle'));
  // alice's key, no certificate
  await cosign.sign2(alice.key, await img('keyonly-legacy'));

  const policy = (name: string, requirement: string) => {
    const file = join(cosign.dir, `${name}.yaml`);
    const text = `version: 1
default: reject
scopes:
  "${registry.host}":
    - type: sigstoreSigned
      signedIdentity: {type: matchRepository}
${requirement.replace(/^/gm, '      ')}
`;
    writeFileSync(file, text);
    policies[name] = file;
  };
  policy('pki', `pki:\n  caRootsPath: ${pki.root}\n  caIntermediatesPath: ${pki.intermediate}\n  subjectEmail: ${ALICE}`);
  policy(
    'keyless',
    `keyless:\n  trustedRoot: ${pki.trustedRoot}\n  identities: [{issuer: "${ISSUER}", subject: "${ALICE}"}]\n  requireRekor: false\n  requireSCT: false`,
  );
  policy(
    'keyless-other-issuer',
    `keyless:\n  trustedRoot: ${pki.trustedRoot}\n  identities: [{issuer: "${OTHER_ISSUER}", subject: "${ALICE}"}]\n  requireRekor: false\n  requireSCT: false`,
  );
  policy(
    'keyless-regexp',
    `keyless:\n  trustedRoot: ${pki.trustedRoot}\n  identities: [{issuerRegExp: '^https://(other-)?issuer\\.example\\.com$', subjectRegExp: '^[a-z]+@example\\.com$'}]\n  requireRekor: false\n  requireSCT: false`,
  );
  policy(
    'keyless-rekor',
    `keyless:\n  trustedRoot: ${pki.trustedRoot}\n  identities: [{issuer: "${ISSUER}", subject: "${ALICE}"}]\n  requireSCT: false`,
  );
}, 240_000);

afterAll(async () => {
  await registry?.stop();
});

/** sigguard's decision and requirement reason, and cosign's reason for the same image and identity. */
type Case = [repo: string, policy: string, decision: 'allow' | 'deny', reason: RegExp, cosign: CosignReason];

/** What cosign is asked for each sigguard policy; v2 for legacy images, v3 for bundles. */
function cosignFor(policy: string, repo: string) {
  const version = repo.endsWith('-bundle') ? 3 : 2;
  switch (policy) {
    case 'pki':
      // pki names no issuer: any; cosign 3 has no --ca-roots, the trusted root holds the same CA
      return version === 2
        ? cosign.verifyCertificate(2, ref(repo), {
            identity: ALICE,
            issuerRegExp: '.*',
            caRoots: pki.root,
            caIntermediates: pki.intermediate,
          })
        : cosign.verifyCertificate(3, ref(repo), { identity: ALICE, issuerRegExp: '.*', trustedRoot: pki.trustedRoot });
    case 'keyless':
      return cosign.verifyCertificate(3, ref(repo), { identity: ALICE, issuer: ISSUER, trustedRoot: pki.trustedRoot });
    case 'keyless-other-issuer':
      return cosign.verifyCertificate(3, ref(repo), { identity: ALICE, issuer: OTHER_ISSUER, trustedRoot: pki.trustedRoot });
    default:
      throw new Error(policy);
  }
}

const aliceFound = `signed by ${ALICE} \\(issuer ${ISSUER.replace(/\./g, '\\.')}\\)`;
const bobFound = `signed by ${BOB} \\(issuer ${OTHER_ISSUER.replace(/\./g, '\\.')}\\)`;

describe('keyless-style signatures: sigguard check agrees with cosign verify', () => {
  it.each<Case>([
    [
      'alice-legacy',
      'pki',
      'allow',
      /legacy signature by alice@example\.com \(issuer https:\/\/issuer\.example\.com\) verified/,
      'accepted',
    ],
    ['alice-bundle', 'pki', 'allow', /bundle signature by alice@example\.com/, 'accepted'],
    ['alice-legacy', 'keyless', 'allow', /legacy signature by alice@example\.com/, 'accepted'],
    ['alice-bundle', 'keyless', 'allow', /bundle signature by alice@example\.com/, 'accepted'],
    // another identity (and issuer), same CA: refused, naming who signed
    ['bob-legacy', 'pki', 'deny', new RegExp(`^${bobFound}, policy requires email alice@example\\.com$`), 'identity-mismatch'],
    ['bob-bundle', 'pki', 'deny', new RegExp(`^${bobFound}, policy requires email alice@example\\.com$`), 'identity-mismatch'],
    [
      'bob-legacy',
      'keyless',
      'deny',
      new RegExp(`^${bobFound}, policy requires alice@example\\.com \\(issuer https://issuer\\.example\\.com\\)$`),
      'identity-mismatch',
    ],
    [
      'bob-bundle',
      'keyless',
      'deny',
      new RegExp(`^${bobFound}, policy requires alice@example\\.com \\(issuer https://issuer\\.example\\.com\\)$`),
      'identity-mismatch',
    ],
    // the right identity, another issuer required
    [
      'alice-legacy',
      'keyless-other-issuer',
      'deny',
      new RegExp(`^${aliceFound}, policy requires alice@example\\.com \\(issuer https://other-issuer\\.example\\.com\\)$`),
      'identity-mismatch',
    ],
    ['alice-bundle', 'keyless-other-issuer', 'deny', new RegExp(`^${aliceFound}, policy requires`), 'identity-mismatch'],
    // alice's identity from a CA that is not trusted
    [
      'mallory-legacy',
      'pki',
      'deny',
      /^no signature verifies against CA root\.pem \(1 found\): certificate chain not trusted: no path from .* to a trusted root/,
      'untrusted-certificate',
    ],
    [
      'mallory-bundle',
      'pki',
      'deny',
      /^no signature verifies against CA root\.pem \(1 found\): certificate chain not trusted: no path from .* to a trusted root/,
      'untrusted-certificate',
    ],
    [
      'mallory-legacy',
      'keyless',
      'deny',
      /trusted root .*trusted_root\.json \(1 found\): certificate chain not trusted: no path from .* to a trusted root/,
      'untrusted-certificate',
    ],
    [
      'mallory-bundle',
      'keyless',
      'deny',
      /trusted root .*trusted_root\.json \(1 found\): certificate chain not trusted: no path from .* to a trusted root/,
      'untrusted-certificate',
    ],
    // alice's key without a certificate
    ['keyonly-legacy', 'pki', 'deny', /signed with a key, not a certificate/, 'no-certificate'],
    ['keyonly-legacy', 'keyless', 'deny', /signed with a key, not a certificate/, 'no-certificate'],
  ])('%s under %s: %s (cosign: %s)', async (repo, policy, decision, reason, cosignReason) => {
    const [ours, theirs] = await Promise.all([check(repo, policy), cosignFor(policy, repo)]);
    expect(ours.verdict, ours.stderr).toBeDefined();
    expect(ours.verdict?.decision, ours.verdict?.reason).toBe(decision);
    expect(ours.verdict?.code).toBe(decision === 'allow' ? 'ALLOWED' : 'UNTRUSTED_SIGNER');
    expect(ours.verdict?.reason).toMatch(decision === 'allow' ? /^verified: / : /./);
    expect(ours.verdict?.requirements[0]?.reason).toMatch(reason);
    expect(ours.code).toBe(decision === 'allow' ? 0 : 1);
    expect(theirs.ok, theirs.stderr).toBe(decision === 'allow');
    expect(theirs.reason, theirs.stderr).toBe(cosignReason);
  });

  it('regular expressions (anchored) accept both identities of the CA, and the verdict names the signer', async () => {
    for (const repo of ['alice-legacy', 'bob-bundle']) {
      const ours = await check(repo, 'keyless-regexp');
      expect(ours.verdict?.decision, ours.verdict?.reason).toBe('allow');
      expect(ours.verdict?.signer).toMatch(
        repo.startsWith('alice') ? /^alice@example\.com/ : /^bob@example\.com \(issuer https:\/\/other-issuer/,
      );
    }
    expect((await check('mallory-legacy', 'keyless-regexp')).verdict?.decision).toBe('deny');
  });

  it('requireRekor (the default) with a trusted root that has no logs: the policy itself is refused', async () => {
    const ours = await check('alice-legacy', 'keyless-rekor');
    expect(ours.code).toBe(2);
    expect(ours.stderr).toMatch(/keyless\.requireRekor: trusted root .* has no transparency logs \(set requireRekor: false/);
  });

  it('the verdict lists the signature as signer-mismatch, and explains the trust', async () => {
    const ours = await check('bob-legacy', 'keyless');
    expect(ours.verdict?.signatures[0]).toMatchObject({ format: 'legacy', status: 'signer-mismatch' });
    expect(ours.verdict?.requirements[0]?.trust).toBe(`trusted root ${pki.trustedRoot}`);
  });
});

describe('policy validate', () => {
  it('warns about regular expressions cosign reads differently, and builds the trust material', async () => {
    const r = await sigguard(['policy', 'validate', policies['keyless-regexp']!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/is valid: 1 scopes, 0 keys, 1 certificate requirements/);
    const file = join(cosign.dir, 'unanchored.yaml');
    writeFileSync(
      file,
      `version: 1
scopes:
  "${registry.host}":
    - type: sigstoreSigned
      keyless:
        trustedRoot: ${pki.trustedRoot}
        identities: [{issuer: "${ISSUER}", subjectRegExp: 'alice@example\\.com'}]
        requireRekor: false
        requireSCT: false
`,
    );
    const w = await sigguard(['policy', 'validate', file]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toMatch(
      /^sigguard: warning: scopes\."127\.0\.0\.1:\d+"\[0\]\.keyless\.identities\[0\]\.subjectRegExp: "alice@example\\\\\.com" must match the whole value here/,
    );
  });

  it('refuses unknown fields naming the path, and mixed key sources', async () => {
    const file = join(cosign.dir, 'bad.yaml');
    const write = (req: string) =>
      writeFileSync(file, `version: 1\nscopes:\n  "${registry.host}":\n    - type: sigstoreSigned\n${req.replace(/^/gm, '      ')}\n`);
    write(`keyless:\n  trustedRoot: ${pki.trustedRoot}\n  identities: [{issuer: a, subject: b, subjet: c}]`);
    let r = await sigguard(['policy', 'validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/keyless\.identities\[0\]: unknown field "subjet"/);
    write(`keyPath: x.pub\npki: {caRootsPath: ${pki.root}, subjectEmail: a@b.c}`);
    r = await sigguard(['policy', 'validate', file]);
    expect(r.stderr).toMatch(/only one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki, keyless may be set \(found keyPath, pki\)/);
  });
});
