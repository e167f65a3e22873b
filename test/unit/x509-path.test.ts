/**
 * RFC 5280 path validation for certificate-signed signatures, through what a
 * `pki` requirement judges (cosign legacy signatures with the certificate and
 * chain annotations) and through validatePath itself: the attacks of issue 10
 * item 3 (a sub-CA's name constraints, a sub-CA's extended key usage), path
 * building that must stay bounded (cycles, look-alikes, long chains), basic
 * constraints, path length, validity, and a public key where a certificate
 * belongs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PreparedSignature, prepareSignature } from '../../src/engine/requirements/prepare.js';
import { evaluateSigstoreRequirement } from '../../src/engine/requirements/sigstore-signed.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { Requirement } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { PATH_LIMITS, PathRefusal, ekuRefusedBy, validatePath } from '../../src/verify/x509-path.js';
import { CertFactory, type TestCert, legacySignature } from '../support/x509-chains.js';
import { X509Certificate } from '@sigstore/core';
import { ReasonCode, SigguardError } from '../../src/errors.js';

type Sigstore = Extract<Requirement, { type: 'sigstoreSigned' }>;

const REPO = 'registry.example/team/app';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const IMAGE = parseReference(`${REPO}@${DIGEST}`);
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY = '2.5.29.37.0';

let dir: string;
let f: CertFactory;
let root: TestCert;
let rootFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-x509-'));
  f = new CertFactory(dir);
  root = f.ca('root', undefined);
  rootFile = f.file('root-ca.pem', root.pem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pkiRequirement(email: string, roots = rootFile): Sigstore {
  const req = {
    type: 'sigstoreSigned',
    signatureFormats: ['legacy'],
    signedIdentity: { type: 'matchRepository' },
    pki: { caRootsPath: roots, subjectEmail: email },
  };
  const policy = compilePolicy({ version: 1, scopes: { [REPO]: [req] } }, join(dir, 'policy.yaml'), dir);
  return policy.scopes.get(REPO)![0] as Sigstore;
}

async function judgePki(leaf: TestCert, chain: TestCert[], email: string, certificateAnnotation?: string, checkpoint?: () => void) {
  const chainPem = chain.length > 0 ? chain.map((c) => c.pem).join('') : undefined;
  const sig: PreparedSignature = prepareSignature(legacySignature(leaf, chainPem, DIGEST, REPO, certificateAnnotation));
  return (await evaluateSigstoreRequirement(pkiRequirement(email), [sig], [], IMAGE, checkpoint)).report;
}

const authority = (...chain: TestCert[]) => ({
  certChain: chain.map((c) => X509Certificate.parse(Buffer.from(c.der))),
  validFor: { start: new Date(0), end: new Date(8640000000000000) },
});

describe('the attacks of issue 10 item 3', () => {
  it('a leaf for team-a under a sub-CA whose name constraints permit only team-b is refused', async () => {
    const sub = f.ca('nc-team-b', root, ['nameConstraints = critical, permitted;email:team-b.example.com']);
    const attack = await judgePki(f.leaf('nc-leaf-a', sub, 'release@team-a.example.com'), [sub], 'release@team-a.example.com');
    expect(attack.code).toBe('UNTRUSTED_SIGNER');
    expect(attack.reason).toMatch(
      /email address "release@team-a\.example\.com" is not permitted by the name constraints of "O=sigguard-test, CN=nc-team-b" \(permitted: team-b\.example\.com\)/,
    );
    const fine = await judgePki(f.leaf('nc-leaf-b', sub, 'release@team-b.example.com'), [sub], 'release@team-b.example.com');
    expect(fine.satisfied, fine.reason).toBe(true);
  });

  it('a code-signing leaf under a sub-CA restricted to serverAuth is refused', async () => {
    const sub = f.ca('eku-server', root, ['extendedKeyUsage = serverAuth']);
    const attack = await judgePki(f.leaf('eku-leaf', sub, 'dev@example.com'), [sub], 'dev@example.com');
    expect(attack.code).toBe('UNTRUSTED_SIGNER');
    expect(attack.reason).toMatch(
      /CA "O=sigguard-test, CN=eku-server" does not allow code signing \(extended key usage 1\.3\.6\.1\.5\.5\.7\.3\.1\)/,
    );
  });

  it.each([
    ['codeSigning', ['extendedKeyUsage = codeSigning']],
    ['anyExtendedKeyUsage', ['extendedKeyUsage = anyExtendedKeyUsage']],
    ['no EKU extension', []],
    ['serverAuth and codeSigning', ['extendedKeyUsage = serverAuth, codeSigning']],
  ])('a code-signing leaf under a sub-CA with %s verifies', async (name, ext) => {
    const sub = f.ca(`eku-ok-${name.replace(/\W/g, '')}`, root, ext);
    const r = await judgePki(f.leaf(`eku-ok-leaf-${name.replace(/\W/g, '')}`, sub, 'dev@example.com'), [sub], 'dev@example.com');
    expect(r.satisfied, r.reason).toBe(true);
  });

  it('a root restricted to serverAuth restricts everything under it, anyExtendedKeyUsage below notwithstanding', async () => {
    const r2 = f.ca('root-server', undefined, ['extendedKeyUsage = serverAuth']);
    const sub = f.ca('root-server-sub', r2, ['extendedKeyUsage = anyExtendedKeyUsage']);
    const leaf = f.leaf('root-server-leaf', sub, 'dev@example.com');
    await expect(validatePath({ leaf: leaf.der, untrusted: [sub.der], authorities: [authority(r2)], times: [new Date()] })).rejects.toThrow(
      /root-server" does not allow code signing/,
    );
  });
});

describe("EKU nesting, case by case as Go's checkChainForKeyUsage decides for [codeSigning]", () => {
  const chain = (...ekus: Array<string[] | undefined>) => ekus.map((e) => ({ ekus: e }));
  it.each([
    ['no EKU anywhere', chain(undefined, undefined, undefined), true],
    ['leaf codeSigning, CAs without EKU', chain([CODE_SIGNING], undefined, undefined), true],
    ['leaf serverAuth', chain([SERVER_AUTH], undefined, undefined), false],
    ['leaf any', chain([ANY], [CODE_SIGNING], undefined), true],
    ['intermediate serverAuth', chain([CODE_SIGNING], [SERVER_AUTH], undefined), false],
    ['intermediate any', chain([CODE_SIGNING], [ANY], undefined), true],
    ['intermediate serverAuth + codeSigning', chain([CODE_SIGNING], [SERVER_AUTH, CODE_SIGNING], undefined), true],
    ['intermediate with an unknown EKU only', chain([CODE_SIGNING], ['1.2.3.4'], undefined), false],
    ['root serverAuth, intermediate any', chain([CODE_SIGNING], [ANY], [SERVER_AUTH]), false],
    ['root any, intermediate codeSigning, leaf without EKU', chain(undefined, [CODE_SIGNING], [ANY]), true],
    ['an EKU extension with no purposes counts as none', chain([CODE_SIGNING], [], undefined), true],
  ])('%s', (_what, path, ok) => {
    expect(ekuRefusedBy(path) === undefined).toBe(ok);
  });
});

describe('name constraints as Go matches them', () => {
  let sub: TestCert;
  beforeAll(() => {
    sub = f.ca('nc-forms', root, [
      'nameConstraints = critical, permitted;DNS:example.com, permitted;email:.example.com, permitted;URI:.example.com, permitted;IP:10.0.0.0/255.0.0.0, excluded;DNS:bad.example.com, excluded;email:boss@mail.example.com',
    ]);
  });
  const check = (name: string, san: string) => {
    const leaf = f.cert({
      name,
      subject: '/',
      issuer: sub,
      ext: [
        'basicConstraints = critical, CA:false',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = codeSigning',
        'authorityKeyIdentifier = keyid',
        `subjectAltName = ${san}`,
      ],
    });
    return validatePath({ leaf: leaf.der, untrusted: [sub.der], authorities: [authority(root)], times: [new Date()] });
  };
  it.each([
    ['dns-sub', 'DNS:build.example.com'],
    ['dns-exact', 'DNS:example.com'],
    ['email-sub', 'email:ci@mail.example.com'],
    ['uri-sub', 'URI:https://ci.example.com/job/1'],
    ['ip-in', 'IP:10.1.2.3'],
    ['mixed-ok', 'DNS:a.example.com, email:x@a.example.com'],
  ])('permitted: %s', async (name, san) => {
    await expect(check(name, san)).resolves.toMatchObject({ certificates: expect.any(Array) });
  });
  it.each([
    ['dns-other', 'DNS:example.org', /DNS name "example\.org" is not permitted/],
    ['dns-suffix-trick', 'DNS:evilexample.com', /not permitted/],
    ['dns-excluded', 'DNS:x.bad.example.com', /excluded by the name constraint "bad\.example\.com"/],
    ['email-apex', 'email:ci@example.com', /email address "ci@example\.com" is not permitted/],
    ['email-excluded', 'email:boss@mail.example.com', /excluded/],
    ['uri-other', 'URI:https://example.org/x', /URI "https:\/\/example\.org\/x" is not permitted/],
    ['uri-ip', 'URI:https://10.0.0.1/x', /URI with IP/],
    ['uri-nohost', 'URI:urn:example:1', /empty host/],
    ['ip-out', 'IP:11.0.0.1', /IP address "11\.0\.0\.1" is not permitted/],
    ['ip-v6', 'IP:::1', /not permitted/],
    ['one-bad-among-good', 'DNS:a.example.com, DNS:example.net', /example\.net/],
  ])('refused: %s', async (name, san, why) => {
    await expect(check(name, san)).rejects.toThrow(why);
  });

  it("intersects the constraints of successive CAs (pkijs's engine joins them, and ignores the root's)", async () => {
    const outer = f.ca('nc-outer', root, ['nameConstraints = critical, permitted;email:team-b.example.com']);
    const inner = f.ca('nc-inner', outer, ['nameConstraints = critical, permitted;email:team-a.example.com']);
    const leaf = f.leaf('nc-nested-leaf', inner, 'release@team-a.example.com');
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [outer.der, inner.der], authorities: [authority(root)], times: [new Date()] }),
    ).rejects.toThrow(/release@team-a\.example\.com" is not permitted by the name constraints of "O=sigguard-test, CN=nc-outer"/);
    // the library alone would accept it: the gap sigguard's own check closes
    const engine = new pkijs.CertificateChainValidationEngine({
      trustedCerts: [pkijs.Certificate.fromBER(new Uint8Array(root.der))],
      certs: [outer, inner, leaf].map((c) => pkijs.Certificate.fromBER(new Uint8Array(c.der))),
      checkDate: new Date(),
    });
    expect((await engine.verify()).result).toBe(true);

    const constrainedRoot = f.ca('nc-root', undefined, ['nameConstraints = critical, permitted;email:team-b.example.com']);
    const sub = f.ca('nc-root-sub', constrainedRoot);
    const leaf2 = f.leaf('nc-root-leaf', sub, 'release@team-a.example.com');
    await expect(
      validatePath({ leaf: leaf2.der, untrusted: [sub.der], authorities: [authority(constrainedRoot)], times: [new Date()] }),
    ).rejects.toThrow(/nc-root" \(permitted/);
    const engine2 = new pkijs.CertificateChainValidationEngine({
      trustedCerts: [pkijs.Certificate.fromBER(new Uint8Array(constrainedRoot.der))],
      certs: [sub, leaf2].map((c) => pkijs.Certificate.fromBER(new Uint8Array(c.der))),
      checkDate: new Date(),
    });
    expect((await engine2.verify()).result).toBe(true);
  });

  it("pkijs's engine does refuse the single sub-CA case (the attack), which sigguard's check also refuses", async () => {
    const sub2 = f.ca('nc-pkijs', root, ['nameConstraints = critical, permitted;email:team-b.example.com']);
    const leaf = f.leaf('nc-pkijs-leaf', sub2, 'release@team-a.example.com');
    const engine = new pkijs.CertificateChainValidationEngine({
      trustedCerts: [pkijs.Certificate.fromBER(new Uint8Array(root.der))],
      certs: [sub2, leaf].map((c) => pkijs.Certificate.fromBER(new Uint8Array(c.der))),
      checkDate: new Date(),
    });
    const r = await engine.verify();
    expect(r.result).toBe(false);
    expect(r.resultMessage).toMatch(/permitted sub-trees/);
  });
});

describe('basic constraints, key usage, path length, validity', () => {
  it('a non-CA intermediate is refused', async () => {
    const notCA = f.ca('not-ca', root, [], 'basicConstraints = critical, CA:false');
    const r = await judgePki(f.leaf('not-ca-leaf', notCA, 'dev@example.com'), [notCA], 'dev@example.com');
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/not-ca" is not a CA certificate/);
    expect(r.detailCode).toBe('CERT_CONSTRAINTS');
  });

  it('an intermediate without basic constraints is refused', async () => {
    const none = f.cert({
      name: 'no-bc',
      subject: '/CN=no-bc',
      issuer: root,
      ext: ['subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'],
    });
    const r = await judgePki(f.leaf('no-bc-leaf', none, 'dev@example.com'), [none], 'dev@example.com');
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/not a CA certificate/);
  });

  it('a root without basic constraints is refused (stricter than Go, which trusts any root)', async () => {
    const bare = f.cert({ name: 'bare-root', subject: '/CN=bare root', ext: ['subjectKeyIdentifier = hash'] });
    const leaf = f.leaf('bare-root-leaf', bare, 'dev@example.com');
    await expect(validatePath({ leaf: leaf.der, untrusted: [], authorities: [authority(bare)], times: [new Date()] })).rejects.toThrow(
      /root "CN=bare root" is not a CA certificate/,
    );
  });

  it('a CA whose key usage lacks keyCertSign is refused', async () => {
    const noSign = f.cert({
      name: 'no-certsign',
      subject: '/CN=no-certsign',
      issuer: root,
      ext: [
        'basicConstraints = critical, CA:true',
        'keyUsage = critical, digitalSignature',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
      ],
    });
    const leaf = f.leaf('no-certsign-leaf', noSign, 'dev@example.com');
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [noSign.der], authorities: [authority(root)], times: [new Date()] }),
    ).rejects.toThrow(PathRefusal);
  });

  it('a path length constraint is enforced', async () => {
    const p0 = f.ca('pathlen0', root, [], 'basicConstraints = critical, CA:true, pathlen:0');
    const below = f.ca('pathlen0-sub', p0);
    const r = await judgePki(f.leaf('pathlen-leaf', below, 'dev@example.com'), [below, p0], 'dev@example.com');
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/path length constraint of "O=sigguard-test, CN=pathlen0" \(pathlen 0\) exceeded: 1 intermediates below it/);
    expect(r.detailCode).toBe('CERT_CONSTRAINTS');
    const ok = await judgePki(f.leaf('pathlen-ok-leaf', p0, 'dev@example.com'), [p0], 'dev@example.com');
    expect(ok.satisfied, ok.reason).toBe(true);
  });

  it('an expired intermediate is refused at the time checked, and accepted at a proven time when it was valid', async () => {
    const short = f.ca('short-lived', root, [], undefined, 1);
    const leaf = f.leaf('short-leaf', short, 'dev@example.com');
    const later = new Date(Date.now() + 3 * 86400_000);
    await expect(validatePath({ leaf: leaf.der, untrusted: [short.der], authorities: [authority(root)], times: [later] })).rejects.toThrow(
      /short-lived" is not valid or expired at/,
    );
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [short.der], authorities: [authority(root)], times: [new Date(Date.now() + 3600_000)] }),
    ).resolves.toBeDefined();
    // every time must hold: one proven time after expiry refuses
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [short.der], authorities: [authority(root)], times: [new Date(), later] }),
    ).rejects.toThrow(/not valid or expired/);
  });

  it('a leaf with an unhandled critical extension is refused', async () => {
    const leaf = f.leaf('crit-leaf', root, 'dev@example.com', ['extendedKeyUsage = codeSigning', '1.2.3.4.5 = critical, ASN1:NULL']);
    await expect(validatePath({ leaf: leaf.der, untrusted: [], authorities: [authority(root)], times: [new Date()] })).rejects.toThrow(
      /unhandled critical extension 1\.2\.3\.4\.5/,
    );
  });
});

// Work is counted, not timed: the path search calls its checkpoint once per node visited, per
// signature check and per full validation of a candidate path (the units the deadline is polled
// between), so the checkpoint's count is the search's cost on any machine.
/** All the checkpoints a search may make before its caps refuse it. */
const SEARCH_CAP = PATH_LIMITS.expansions + PATH_LIMITS.signatureChecks + PATH_LIMITS.candidatePaths;
const counter = () => {
  const c = { calls: 0, checkpoint: () => void c.calls++ };
  return c;
};

describe('path building stays bounded', () => {
  it('a certificate cycle (A issued by B, B issued by A) in the chain annotation is refused at once', async () => {
    const { a0, aByB, bByA } = f.cycle('cycle');
    const leaf = f.leaf('cycle-leaf', a0, 'dev@example.com');
    const one = counter();
    const r = await judgePki(leaf, [aByB, bByA], 'dev@example.com', undefined, one.checkpoint);
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/certificate chain not trusted/);
    // the cycle ends the search by itself (no certificate twice in a path), not the caps
    expect(r.reason).not.toMatch(/gave up|among the first/);
    const path = counter();
    const refusal = await validatePath({
      leaf: leaf.der,
      untrusted: [aByB.der, bByA.der],
      authorities: [authority(root)],
      times: [new Date()],
      checkpoint: path.checkpoint,
    }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(PathRefusal);
    // leaf, A, B: three nodes and a signature check per issuer link, a handful of units in all
    expect(path.calls, 'checkpoints of the search for a two-certificate cycle').toBeGreaterThan(0);
    expect(path.calls, 'checkpoints of the search for a two-certificate cycle').toBeLessThanOrEqual(8);

    // 64 signatures (layers) each with the cycle: bounded, refused, each costing what one did
    const sigs = Array.from({ length: 64 }, () => prepareSignature(legacySignature(leaf, aByB.pem + bByA.pem, DIGEST, REPO)));
    const many = counter();
    const report = (await evaluateSigstoreRequirement(pkiRequirement('dev@example.com'), sigs, [], IMAGE, many.checkpoint)).report;
    expect(report.code).toBe('UNTRUSTED_SIGNER');
    expect(one.calls, 'checkpoints of judging one such signature').toBeLessThanOrEqual(path.calls + 8);
    expect(many.calls, '64 signatures with a cycle: checkpoints').toBeLessThanOrEqual(64 * one.calls);
  });

  it('a self-issued loop (an intermediate that issued itself, not in the roots) ends no path', async () => {
    const self = f.ca('self-loop', undefined);
    const leaf = f.leaf('self-loop-leaf', self, 'dev@example.com');
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [self.der], authorities: [authority(root)], times: [new Date()] }),
    ).rejects.toThrow(PathRefusal);
  });

  it('a self-signed leaf that is not a root is refused', async () => {
    const selfLeaf = f.cert({
      name: 'self-leaf',
      subject: '/CN=self leaf',
      ext: ['basicConstraints = critical, CA:false', 'subjectAltName = email:dev@example.com', 'extendedKeyUsage = codeSigning'],
    });
    const r = await judgePki(selfLeaf, [], 'dev@example.com');
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/includes a root certificate/);
    expect(r.detailCode).toBe('CERT_CHAIN');
    await expect(validatePath({ leaf: selfLeaf.der, untrusted: [], authorities: [authority(root)], times: [new Date()] })).rejects.toThrow(
      /no path from "CN=self leaf"/,
    );
  });

  it('32 look-alike intermediates (same name and key identifier, other keys) cost a bounded search', async () => {
    const real = f.ca('lookalike', root);
    const fakes = Array.from({ length: 31 }, (_, i) =>
      f.cert({
        name: `lookalike-fake-${i}`,
        subject: '/O=sigguard-test/CN=lookalike',
        issuer: real,
        ext: [
          'basicConstraints = critical, CA:true',
          'keyUsage = critical, keyCertSign',
          'subjectKeyIdentifier = hash',
          'authorityKeyIdentifier = keyid',
        ],
      }),
    );
    // the leaf is issued by the last fake: every fake is a candidate issuer of every other
    const leaf = f.leaf('lookalike-leaf', fakes[30]!, 'dev@example.com');
    const work = counter();
    const r = await validatePath({
      leaf: leaf.der,
      untrusted: [...fakes.map((c) => c.der), real.der],
      authorities: [authority(root)],
      times: [new Date()],
      checkpoint: work.checkpoint,
    }).catch((e: Error) => e);
    // 32 candidate issuers per link: within the caps, and fewer units of work than look-alikes
    // (their key identifiers rule them out before any signature check)
    expect(work.calls, 'checkpoints of the look-alike search').toBeLessThanOrEqual(SEARCH_CAP);
    expect(work.calls, 'checkpoints of the look-alike search').toBeLessThan(fakes.length);
    // a fake issued by the real intermediate is itself a fine CA: that path is valid
    expect(r).not.toBeInstanceOf(Error);
  });

  it('a chain longer than the path limit is refused; a long one within it verifies', async () => {
    const chain: TestCert[] = [];
    let issuer = root;
    for (let i = 0; i < 8; i++) {
      issuer = f.ca(`long-${i}`, issuer);
      chain.push(issuer);
    }
    const far = f.leaf('long-leaf', chain[7]!, 'dev@example.com');
    const r = await judgePki(far, [...chain].reverse(), 'dev@example.com');
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(new RegExp(`no trusted root within ${PATH_LIMITS.pathLength} certificates`));
    expect(r.detailCode).toBe('LIMITS');
    const near = f.leaf('long-leaf-ok', chain[5]!, 'dev@example.com');
    const ok = await judgePki(near, chain.slice(0, 6).reverse(), 'dev@example.com');
    expect(ok.satisfied, ok.reason).toBe(true);
  });

  it('more certificates than the cap in the chain annotation is refused before any path is built', async () => {
    const sub = f.ca('cap-sub', root);
    const leaf = f.leaf('cap-leaf', sub, 'dev@example.com');
    const r = await judgePki(
      leaf,
      Array.from({ length: 40 }, () => sub),
      'dev@example.com',
    );
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/chain annotation holds more than 32 certificates/);
    expect(r.detailCode).toBe('LIMITS');
  });
});

describe('CA key types', () => {
  it.each([
    ['Ed25519', ['genpkey', '-algorithm', 'ed25519']],
    ['RSA', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']],
    ['RSA-PSS', ['genpkey', '-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048']],
    ['P-384', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout']],
    ['P-521', ['ecparam', '-name', 'secp521r1', '-genkey', '-noout']],
  ])('a root with a %s key issues a leaf that verifies', async (name, args) => {
    const keyFile = join(dir, `keytype-${name}.key`);
    execFileSync('openssl', [...args, '-out', keyFile]);
    const r = f.cert({
      name: `keytype-${name}`,
      subject: `/CN=${name} root`,
      ext: ['basicConstraints = critical, CA:true', 'keyUsage = critical, keyCertSign', 'subjectKeyIdentifier = hash'],
      keyFile,
    });
    const leaf = f.leaf(`keytype-${name}-leaf`, r, 'dev@example.com');
    await expect(validatePath({ leaf: leaf.der, untrusted: [], authorities: [authority(r)], times: [new Date()] })).resolves.toBeDefined();
  });
});

describe('the deadline reaches path building', () => {
  it('validatePath calls the checkpoint between steps; DEADLINE_EXCEEDED from it ends the search, through the requirement too', async () => {
    const sub = f.ca('deadline-sub', root);
    const leaf = f.leaf('deadline-leaf', sub, 'dev@example.com');
    let calls = 0;
    await validatePath({
      leaf: leaf.der,
      untrusted: [sub.der],
      authorities: [authority(root)],
      times: [new Date()],
      checkpoint: () => void calls++,
    });
    expect(calls).toBeGreaterThan(1);
    const late = () => {
      throw new SigguardError(ReasonCode.DEADLINE_EXCEEDED, 'verification deadline exceeded');
    };
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [sub.der], authorities: [authority(root)], times: [new Date()], checkpoint: late }),
    ).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    const sig = prepareSignature(legacySignature(leaf, sub.pem, DIGEST, REPO));
    let n = 0;
    // the requirement's own checkpoint passes; the one inside path building stops it
    const third = () => {
      if (++n >= 3) late();
    };
    await expect(evaluateSigstoreRequirement(pkiRequirement('dev@example.com'), [sig], [], IMAGE, third)).rejects.toMatchObject({
      code: 'DEADLINE_EXCEEDED',
    });
  });
});

describe('a public key where a certificate belongs (cosign GHSA-fx35-mq7g-6g98)', () => {
  it('a certificate annotation holding a PEM public key is refused, naming it', async () => {
    const leaf = f.leaf('pubkey-leaf', root, 'dev@example.com');
    const { createPublicKey } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const pub = createPublicKey(readFileSync(leaf.keyFile)).export({ type: 'spki', format: 'pem' }).toString();
    const r = await judgePki(leaf, [], 'dev@example.com', pub);
    expect(r.code).toBe('UNTRUSTED_SIGNER');
    expect(r.reason).toMatch(/certificate annotation holds no PEM certificate \(it holds a public key/);
  });
});
