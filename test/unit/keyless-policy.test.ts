/**
 * The certificate-trust fields of a policy (fulcio, pki, keyless, Rekor keys,
 * requireRekor): strict parsing naming the path, containers-policy.json(5)'s
 * combination rules, whole-value regular expressions with the cosign warning,
 * identity matching, and the cache key following the trust material.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requirementsHash } from '../../src/cache/key.js';
import {
  type CertificateFacts,
  type CertificateRule,
  anchoredLikeCosign,
  certificateMismatch,
  wholeValueRegExp,
} from '../../src/policy/certificate-rules.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { checkTrustRules } from '../../src/verify/authority.js';
import { tempDir } from '../support/temp.js';

let dir: string;
const ecPub = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
const root = (extra: Record<string, unknown> = {}) => ({
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
  ...extra,
});

beforeAll(() => {
  dir = tempDir('sigguard-keyless-policy-');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'ca.key'),
      '-subj',
      '/CN=test root',
      '-days',
      '30',
      '-out',
      join(dir, 'ca.pem'),
    ],
    { stdio: 'ignore' },
  );
  writeFileSync(join(dir, 'rekor.pub'), ecPub());
  writeFileSync(join(dir, 'cosign.pub'), ecPub());
  writeFileSync(join(dir, 'ed.pub'), generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }));
  const ca = execFileSync('openssl', ['x509', '-in', join(dir, 'ca.pem'), '-outform', 'DER']).toString('base64');
  const authority = { certChain: { certificates: [{ rawBytes: ca }] }, validFor: { start: '2020-01-01T00:00:00Z' } };
  writeFileSync(join(dir, 'root.json'), JSON.stringify(root({ certificateAuthorities: [authority] })));
  writeFileSync(join(dir, 'root2.json'), JSON.stringify(root({ certificateAuthorities: [authority, authority] })));
});

const policy = (req: Record<string, unknown>) =>
  compilePolicy({ version: 1, scopes: { 'r.io': [{ type: 'sigstoreSigned', ...req }] } }, 'p.yaml', dir);
const keyless = (k: Record<string, unknown>) => ({ keyless: { trustedRoot: 'root.json', requireRekor: false, requireSCT: false, ...k } });
const ID = { issuer: 'https://issuer', subject: 'a@b.c' };

describe('certificate requirements in the policy', () => {
  it('compiles fulcio, pki, keyless and keys with Rekor', () => {
    for (const req of [
      { fulcio: { caPath: 'ca.pem', oidcIssuer: 'https://issuer', subjectEmail: 'a@b.c' }, rekorPublicKeyPath: 'rekor.pub' },
      { pki: { caRootsPath: 'ca.pem', subjectHostname: 'host.example.com' } },
      keyless({ identities: [ID] }),
      { keyless: { identities: [ID] } },
      { keyPath: 'cosign.pub', requireRekor: true },
      { keyPath: 'cosign.pub', rekorPublicKeyDatas: [Buffer.from(ecPub()).toString('base64')] },
    ]) {
      const p = policy(req);
      const r = p.scopes.get('r.io')![0]!;
      expect(r.type).toBe('sigstoreSigned');
      if (r.type === 'sigstoreSigned') expect(checkTrustRules([{ where: 'x', rule: r.trust }]).errors).toEqual([]);
      expect(p.warnings).toEqual([]);
    }
  });

  it.each([
    [{ fulcio: { caPath: 'ca.pem', oidcIssuer: 'i', subjectEmail: 'e' } }, /\[0\]: fulcio needs one of rekorPublicKeyPath/],
    [
      { fulcio: { caPath: 'ca.pem', caData: 'eA==', oidcIssuer: 'i', subjectEmail: 'e' }, rekorPublicKeyPath: 'rekor.pub' },
      /\[0\]\.fulcio: fulcio needs exactly one of caPath, caData/,
    ],
    [{ fulcio: { caPath: 'ca.pem', subjectEmail: 'e' }, rekorPublicKeyPath: 'rekor.pub' }, /\[0\]\.fulcio\.oidcIssuer/],
    [
      { fulcio: { caPath: 'ca.pem', oidcIssuer: 'i', subjectEmail: 'e', subjectEmails: [] }, rekorPublicKeyPath: 'rekor.pub' },
      /\[0\]\.fulcio: unknown field "subjectEmails"/,
    ],
    [
      { pki: { caRootsPath: 'ca.pem', subjectEmail: 'e' }, rekorPublicKeyPath: 'rekor.pub' },
      /\[0\]\.rekorPublicKeyPath: rekorPublicKeyPath is not supported with pki/,
    ],
    [{ pki: { caRootsPath: 'ca.pem' } }, /\[0\]\.pki: pki needs at least one of subjectEmail, subjectHostname/],
    [{ pki: { caRootsPath: 'rekor.pub', subjectEmail: 'e' } }, /\[0\]\.pki\.caRootsPath: holds no PEM certificate/],
    [
      { keyPath: 'cosign.pub', pki: { caRootsPath: 'ca.pem', subjectEmail: 'e' } },
      /only one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki, keyless may be set \(found keyPath, pki\)/,
    ],
    [
      { keyPath: 'cosign.pub', rekorPublicKeyPath: 'rekor.pub', requireRekor: false },
      /\[0\]\.requireRekor: requireRekor: false contradicts rekorPublicKeyPath/,
    ],
    [{ keyPath: 'cosign.pub', rekorPublicKeyPath: 'ed.pub' }, /\[0\]\.rekorPublicKeyPath: ed\.pub: a Rekor public key must be ECDSA/],
    [
      { keyPath: 'cosign.pub', rekorPublicKeyPath: 'rekor.pub', rekorPublicKeyData: 'eA==' },
      /only one of rekorPublicKeyPath, rekorPublicKeyPaths/,
    ],
    [{ ...keyless({ identities: [ID] }), requireRekor: true }, /\[0\]\.requireRekor: requireRekor belongs inside the keyless block/],
    [{ ...keyless({ identities: [ID] }), rekorPublicKeyPath: 'rekor.pub' }, /rekorPublicKeyPath is not used with keyless/],
    [keyless({ identities: [] }), /\[0\]\.keyless\.identities/],
    [keyless({ identities: [{ subject: 'a' }] }), /keyless\.identities\[0\]: an identity needs exactly one of issuer, issuerRegExp/],
    [
      keyless({ identities: [{ ...ID, subjectRegExp: 'a' }] }),
      /keyless\.identities\[0\]: an identity needs exactly one of subject, subjectRegExp/,
    ],
    [
      keyless({ identities: [{ issuer: 'i', subjectRegExp: '(' }] }),
      /keyless\.identities\[0\]\.subjectRegExp: not a valid regular expression/,
    ],
    [keyless({ identities: [ID], extensions: { githubWorkflowRepo: 'x' } }), /keyless\.extensions: unknown field "githubWorkflowRepo"/],
    [keyless({ identities: [ID], trustedRoot: 'missing.json' }), /keyless\.trustedRoot: cannot read trusted root missing\.json: ENOENT/],
    [keyless({ identities: [ID], requireRekor: true }), /keyless\.requireRekor: trusted root root\.json has no transparency logs/],
    [keyless({ identities: [ID], requireSCT: true }), /keyless\.requireSCT: trusted root root\.json has no certificate transparency logs/],
    [keyless({ identities: [ID], trustedRoot: 'cosign.pub' }), /trusted root is not JSON/],
  ])('refuses %j naming the path', (req, why) => {
    expect(() => policy(req)).toThrow(why);
  });

  it('warns about patterns cosign would match anywhere', () => {
    const p = policy(
      keyless({
        identities: [
          { issuerRegExp: 'https://issuer', subjectRegExp: '^a@b\\.c$|^d@e\\.f$' },
          { issuerRegExp: '^https://x$', subjectRegExp: '^(a|b)@c\\.d$' },
        ],
      }),
    );
    expect(p.warnings).toHaveLength(2);
    expect(p.warnings[0]).toMatch(
      /^scopes\."r\.io"\[0\]\.keyless\.identities\[0\]\.issuerRegExp: "https:\/\/issuer" must match the whole value here/,
    );
    expect(p.warnings[1]).toMatch(/identities\[0\]\.subjectRegExp/);
  });

  it('the cache key follows trust material and identities', () => {
    const hash = (req: Record<string, unknown>) => requirementsHash(policy(req).scopes.get('r.io')!);
    const base = hash(keyless({ identities: [ID] }));
    expect(hash(keyless({ identities: [ID] }))).toBe(base);
    expect(hash(keyless({ identities: [ID], trustedRoot: 'root2.json' }))).not.toBe(base);
    expect(hash(keyless({ identities: [{ ...ID, subject: 'x@b.c' }] }))).not.toBe(base);
    expect(hash(keyless({ identities: [ID], extensions: { githubWorkflowRef: 'refs/heads/main' } }))).not.toBe(base);
    expect(hash(keyless({ identities: [{ issuer: ID.issuer, subjectRegExp: 'a@b\\.c' }] }))).not.toBe(base);
    const k = hash({ keyPath: 'cosign.pub' });
    expect(hash({ keyPath: 'cosign.pub', requireRekor: true })).not.toBe(k);
    expect(hash({ keyPath: 'cosign.pub', rekorPublicKeyPath: 'rekor.pub' })).not.toBe(
      hash({ keyPath: 'cosign.pub', rekorPublicKeyPath: 'cosign.pub' }),
    );
  });
});

describe('whole-value regular expressions', () => {
  it.each([
    ['^a$', true],
    ['^a|b$', false],
    ['^(a|b)$', true],
    ['^[|]$', true],
    ['^a\\$', false],
    ['a', false],
    ['^a', false],
  ])('%s is anchored like cosign: %s', (src, anchored) => {
    expect(anchoredLikeCosign(src)).toBe(anchored);
  });

  it('matches whole values only', () => {
    expect(wholeValueRegExp('example\\.com').test('attacker@example.com.evil.io')).toBe(false);
    expect(wholeValueRegExp('.*@example\\.com').test('dev@example.com')).toBe(true);
    expect(wholeValueRegExp('a|b').test('ab')).toBe(false);
  });
});

describe('certificate holders', () => {
  const facts = (over: Partial<CertificateFacts> = {}): CertificateFacts => ({
    sans: [
      { type: 'email', value: 'dev@example.com' },
      { type: 'dns', value: '*.build.example.com' },
    ],
    issuer: 'https://issuer',
    extensions: { githubWorkflowRef: 'refs/heads/main' },
    codeSigning: true,
    ...over,
  });
  const rule = (r: CertificateRule) => r;

  it('fulcio: exact issuer and an email SAN', () => {
    expect(
      certificateMismatch(rule({ kind: 'fulcio', oidcIssuer: 'https://issuer', subjectEmail: 'dev@example.com' }), facts()),
    ).toBeUndefined();
    expect(certificateMismatch(rule({ kind: 'fulcio', oidcIssuer: 'https://issuer/', subjectEmail: 'dev@example.com' }), facts())).toBe(
      'email dev@example.com (issuer https://issuer/)',
    );
  });

  it('pki: email and hostname (a wildcard covers one label)', () => {
    const pki = (subjectEmail?: string, subjectHostname?: string) =>
      certificateMismatch({ kind: 'pki', subjectEmail, subjectHostname }, facts());
    expect(pki('dev@example.com')).toBeUndefined();
    expect(pki(undefined, 'ci.build.example.com')).toBeUndefined();
    expect(pki(undefined, 'a.ci.build.example.com')).toBe('hostname a.ci.build.example.com');
    expect(pki('other@example.com', 'ci.build.example.com')).toBe('email other@example.com and hostname ci.build.example.com');
  });

  it('keyless: any identity, any SAN, and pinned extensions', () => {
    const ids = [
      { issuer: { exact: 'https://other' }, subject: { exact: 'dev@example.com' } },
      { issuer: { exact: 'https://issuer' }, subject: { regexp: wholeValueRegExp('.*@example\\.com'), source: '.*@example\\.com' } },
    ];
    expect(certificateMismatch({ kind: 'keyless', identities: ids, extensions: {} }, facts())).toBeUndefined();
    expect(
      certificateMismatch({ kind: 'keyless', identities: ids, extensions: { githubWorkflowRef: 'refs/heads/main' } }, facts()),
    ).toBeUndefined();
    expect(certificateMismatch({ kind: 'keyless', identities: ids, extensions: { githubWorkflowRef: 'refs/tags/v1' } }, facts())).toMatch(
      /with githubWorkflowRef refs\/tags\/v1 \(the certificate has refs\/heads\/main\)/,
    );
    expect(certificateMismatch({ kind: 'keyless', identities: ids.slice(0, 1), extensions: {} }, facts())).toBe(
      'dev@example.com (issuer https://other)',
    );
    expect(certificateMismatch({ kind: 'keyless', identities: ids, extensions: {} }, facts({ issuer: undefined }))).toBeDefined();
  });
});
