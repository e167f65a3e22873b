/**
 * Tests written against mutants of src/policy that survived `make mutation` in lines that decide
 * allow or deny (docs/mutation-survivors/policy.md): identity rules, scope keys, certificate
 * holder rules, the kept (TUF-checked) trusted root, trusted-root and CA files, the trust
 * fingerprints and canonical forms the verdict cache keys on, and the schema's defaults and lists.
 * Each case is the attack (or the valid input a mutant would wrongly refuse); no network, no cosign.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CertificateFacts, type CertificateRule, certificateMismatch } from '../../src/policy/certificate-rules.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { defaultSignatureFormats } from '../../src/policy/formats.js';
import { identityMatches } from '../../src/policy/identity.js';
import {
  BUILT_IN_TARGETS,
  builtInTargetsVersion,
  choosePublicGood,
  keptOrPlain,
  readKeptRoot,
  tufStatePath,
} from '../../src/policy/kept-root.js';
import { parsePublicKey } from '../../src/policy/keys.js';
import { publicGoodTrustedRootBytes } from '../../src/policy/public-good.js';
import { scopeProblem } from '../../src/policy/scopes.js';
import { selectRequirements } from '../../src/policy/select.js';
import { scopeTrustRoots } from '../../src/policy/trust-roots.js';
import type { SigstoreSignedRequirement, TrustRule } from '../../src/policy/types.js';
import { parseReference } from '../../src/reference/reference.js';
import { CA_EXT, CertFactory, leafExt } from '../support/x509-chains.js';

const dir = mkdtempSync(join(tmpdir(), 'sigguard-policy-survivors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ecPem = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const pubFile = join(dir, 'cosign.pub');
writeFileSync(pubFile, ecPem());
const rekorPem = ecPem();
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const policyFile = join(dir, 'policy.yaml');
const compile = (req: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  compilePolicy({ version: 1, scopes: { 'r.example/app': [req] }, ...extra }, policyFile, dir);
const ruleOf = (req: Record<string, unknown>): TrustRule =>
  (
    compile({ type: 'sigstoreSigned', signedIdentity: { type: 'matchRepository' }, ...req }).scopes.get(
      'r.example/app',
    )![0] as SigstoreSignedRequirement
  ).trust;
const refusal = (req: Record<string, unknown>, extra: Record<string, unknown> = {}): string => {
  try {
    compile({ type: 'sigstoreSigned', signedIdentity: { type: 'matchRepository' }, ...req }, extra);
  } catch (err) {
    return (err as Error).message;
  }
  return 'compiled';
};

const ref = (s: string) => parseReference(s);
const D = `sha256:${'ab'.repeat(32)}`;

describe('identityMatches: the signed docker-reference against the image', () => {
  it('matchRepoDigestOrExact (the default): the same tag, or the repository for a digest; never a bare name', () => {
    expect(identityMatches(undefined, ref('r.example/app:1'), 'r.example/app:1')).toBe(true);
    expect(identityMatches(undefined, ref(`r.example/app@${D}`), 'r.example/app:2')).toBe(true);
    // a signature naming the repository alone fits no image, not even one named by digest
    expect(identityMatches(undefined, ref(`r.example/app@${D}`), 'r.example/app')).toBe(false);
    expect(identityMatches(undefined, ref('r.example/app:1'), 'r.example/app')).toBe(false);
    // an image named without tag or digest is matched by nothing
    expect(identityMatches(undefined, ref('r.example/app'), 'r.example/app:1')).toBe(false);
    expect(identityMatches({ type: 'matchExact' }, ref('r.example/app:1'), 'r.example/app:1')).toBe(true);
    // a signature naming a digest alone is no bare name
    expect(identityMatches(undefined, ref(`r.example/app@${D}`), `r.example/app@${D}`)).toBe(true);
    expect(identityMatches({ type: 'matchExact' }, ref(`r.example/app@${D}`), `r.example/app@${D}`)).toBe(true);
  });

  it('a rule naming an unparseable reference, repository or prefix matches nothing (and does not throw)', () => {
    const image = ref('r.example/app:1');
    expect(identityMatches({ type: 'exactReference', dockerReference: 'NOT A REF' }, image, 'r.example/app:1')).toBe(false);
    expect(identityMatches({ type: 'exactRepository', dockerRepository: 'NOT A REF' }, image, 'r.example/app:1')).toBe(false);
    expect(identityMatches({ type: 'remapIdentity', prefix: 'r.example', signedPrefix: 'NOT A PREFIX' }, image, 'r.example/app:1')).toBe(
      false,
    );
  });
});

describe('scopeProblem: scope keys a policy may hold', () => {
  it('valid wildcard and host scopes', () => {
    for (const s of [
      '*.example.com',
      '*.a.example.test',
      '*.x.y',
      '*.com',
      'registry.example.com:5000',
      'a',
      'a.b',
      'my-registry.example',
    ]) {
      expect(scopeProblem(s), s).toBeUndefined();
    }
  });

  it('a wildcard with a port, a path, a second star or a bad label is refused', () => {
    for (const s of ['*.*.example.com', '*.example.com:5000', '*.example.com/x', '*.-a.com', '*.a-.com', '*.a.-b', '*.a.b-', '*.']) {
      expect(scopeProblem(s), s).toMatch(/wildcard/);
    }
  });

  it('a host scope with a bad label is refused', () => {
    for (const s of ['-a.example', 'a-.example', 'a.-b', 'a.b-', 'a.b:', 'a.b:x', 'a..b', 'a_b']) {
      expect(scopeProblem(s), s).toMatch(/not a valid host/);
    }
  });

  it('a scope naming both a tag and a digest is refused (it could never match)', () => {
    expect(scopeProblem(`r.example/app:1@${D}`)).toMatch(/tag or a digest, not both/);
  });
});

describe('certificateMismatch: who holds the certificate', () => {
  const facts = (sans: CertificateFacts['sans'], issuer?: string): CertificateFacts => ({
    sans,
    issuer,
    extensions: {},
    codeSigning: true,
  });
  const pki = (subjectHostname?: string, subjectEmail?: string): CertificateRule => ({ kind: 'pki', subjectHostname, subjectEmail });

  it('pki hostname: only a DNS SAN counts, a *. pattern covers one label, a name without *. only itself', () => {
    expect(certificateMismatch(pki('a.example.com'), facts([{ type: 'dns', value: 'a.example.com' }]))).toBeUndefined();
    expect(certificateMismatch(pki('a.example.com'), facts([{ type: 'dns', value: '*.example.com' }]))).toBeUndefined();
    // another host of the same domain is not covered by a SAN without a star
    expect(certificateMismatch(pki('y.example.com'), facts([{ type: 'dns', value: 'x.example.com' }]))).toMatch(/hostname/);
    expect(certificateMismatch(pki('.example.com'), facts([{ type: 'dns', value: '*.example.com' }]))).toMatch(/hostname/);
    // an email SAN spelling the host is no DNS SAN; no DNS SAN at all is no match
    expect(certificateMismatch(pki('a.example.com'), facts([{ type: 'email', value: 'a.example.com' }]))).toMatch(/hostname/);
    expect(certificateMismatch(pki('a.example.com'), facts([]))).toMatch(/hostname/);
    // one matching DNS SAN among others is enough
    const two = facts([
      { type: 'dns', value: 'other.example' },
      { type: 'dns', value: 'a.example.com' },
    ]);
    expect(certificateMismatch(pki('a.example.com'), two)).toBeUndefined();
  });

  it('emails: only an email SAN counts (not a URI or DNS SAN with the same text)', () => {
    expect(certificateMismatch(pki(undefined, 'me@example.com'), facts([{ type: 'uri', value: 'me@example.com' }]))).toMatch(/email/);
    expect(certificateMismatch(pki(undefined, 'me@example.com'), facts([{ type: 'email', value: 'me@example.com' }]))).toBeUndefined();
    const fulcio: CertificateRule = { kind: 'fulcio', oidcIssuer: 'https://issuer', subjectEmail: 'me@example.com' };
    expect(certificateMismatch(fulcio, facts([{ type: 'uri', value: 'me@example.com' }], 'https://issuer'))).toMatch(/email/);
    expect(certificateMismatch(fulcio, facts([{ type: 'email', value: 'me@example.com' }], 'https://issuer'))).toBeUndefined();
  });

  it('keyless: a certificate without an OIDC issuer matches no identity, even a match-anything one', () => {
    const any = { regexp: /^(?:.*)$/, source: '.*' };
    const rule: CertificateRule = { kind: 'keyless', identities: [{ issuer: any, subject: any }], extensions: {} };
    expect(certificateMismatch(rule, facts([{ type: 'email', value: 'me@example.com' }]))).toBeDefined();
    expect(certificateMismatch(rule, facts([{ type: 'email', value: 'me@example.com' }], 'https://issuer'))).toBeUndefined();
  });
});

// ---- the kept root (trust update's files, as the hook reads them) ----

const ISO = '2030-01-01T00:00:00Z';
const signedMeta = (version = 1, expires = ISO) => JSON.stringify({ signed: { version, expires } });
const targetsMeta = (bytes: Buffer, version: number, opts: { hashes?: Record<string, string>; name?: string; expires?: string } = {}) =>
  JSON.stringify({
    signed: {
      _type: 'targets',
      version,
      expires: opts.expires ?? ISO,
      targets: {
        [opts.name ?? 'trusted_root.json']: {
          length: bytes.length,
          hashes: opts.hashes ?? { sha256: createHash('sha256').update(bytes).digest('hex') },
        },
      },
    },
  });
let kept = 0;
/** A kept root folder (0700) with the root (0600) and its TUF state (0600); returns the root's path. */
function keptRoot(bytes: Buffer, state: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): string {
  const folder = join(dir, `kept-${kept++}`);
  mkdirSync(folder, { mode: 0o700 });
  const out = join(folder, 'root.json');
  writeFileSync(out, bytes, { mode: 0o600 });
  const s = {
    format: 'sigguard-tuf-state/1',
    mirror: 'https://mirror.example',
    target: 'trusted_root.json',
    fetchedAt: '2026-11-29T23:08:00Z',
    metadata: { root: signedMeta(), timestamp: signedMeta(), snapshot: signedMeta(), targets: targetsMeta(bytes, 20), ...metadata },
    ...state,
  };
  writeFileSync(tufStatePath(out), JSON.stringify(s), { mode: 0o600 });
  return out;
}
const ROOT = Buffer.from(
  JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{}],
    ctlogs: [{}],
    certificateAuthorities: [{}],
  }),
);
const problemOf = (path: string): string => {
  const r = readKeptRoot(path);
  return r.state === 'invalid' ? r.problem : r.state;
};

describe('readKeptRoot: the kept root counts only as its signed TUF metadata says', () => {
  it('a whole kept root is ok, with the versions of its metadata (times with and without fractions)', () => {
    const r = readKeptRoot(
      keptRoot(ROOT, {}, { root: signedMeta(3, '2030-01-01T00:00:00.123Z'), timestamp: signedMeta(5, '2030-01-01T00:00:00.5Z') }),
    );
    expect(r.state).toBe('ok');
    if (r.state !== 'ok') return;
    expect(r.root).toMatchObject({
      targetsVersion: 20,
      rootVersion: 3,
      timestampVersion: 5,
      snapshotVersion: 1,
      mirror: 'https://mirror.example',
    });
    expect(r.root.bytes).toEqual(ROOT);
    expect(r.root.rootExpires).toBe('2030-01-01T00:00:00.123Z');
  });

  it('the state path is beside the root, its .json ending replaced', () => {
    expect(tufStatePath('/a.json.d/root.json')).toBe('/a.json.d/root.tuf.json');
    expect(tufStatePath('/x/root')).toBe('/x/root.tuf.json');
  });

  it('a malformed state is refused: times, empty fields, unknown fields', () => {
    for (const fetchedAt of ['x2026-11-29T23:08:00Z', '2026-11-29T23:08:00Zx', 'yesterday', '2026-11-29T23:08:00.Z']) {
      expect(problemOf(keptRoot(ROOT, { fetchedAt })), fetchedAt).toMatch(/malformed \(fetchedAt/);
    }
    expect(problemOf(keptRoot(ROOT, { mirror: '' }))).toMatch(/malformed \(mirror/);
    expect(problemOf(keptRoot(ROOT, { target: '' }, { targets: targetsMeta(ROOT, 20, { name: '' }) }))).toMatch(/malformed \(target/);
    expect(problemOf(keptRoot(ROOT, { extra: 1 }))).toMatch(/unknown field "extra"/);
  });

  it('root, timestamp or snapshot metadata that is malformed (version 0, bad expiry) is refused, each alone', () => {
    for (const which of ['root', 'timestamp', 'snapshot']) {
      expect(problemOf(keptRoot(ROOT, {}, { [which]: signedMeta(0) })), which).toMatch(/holds malformed metadata/);
      expect(problemOf(keptRoot(ROOT, {}, { [which]: signedMeta(1, 'never') })), which).toMatch(/holds malformed metadata/);
    }
  });

  it('targets metadata: version 0, bad expiry, no entry, no sha256/sha512, non-hex hashes are refused', () => {
    const bad = (targets: string) => problemOf(keptRoot(ROOT, {}, { targets }));
    expect(bad(targetsMeta(ROOT, 0))).toMatch(/targets metadata is malformed/);
    expect(bad(targetsMeta(ROOT, 20, { expires: '2030-01-01' }))).toMatch(/targets metadata is malformed/);
    expect(bad('{"signed":{}}')).toMatch(/targets metadata is malformed/);
    expect(bad(targetsMeta(ROOT, 20, { name: 'other.json' }))).toMatch(/has no target trusted_root.json/);
    // an algorithm node:crypto does not know is no hash at all: any bytes of the right length would pass
    expect(bad(targetsMeta(ROOT, 20, { hashes: { blake9: 'ab' } }))).toMatch(/has no sha256/);
    const sha256 = createHash('sha256').update(ROOT).digest('hex');
    expect(bad(targetsMeta(ROOT, 20, { hashes: { sha256, blake9: 'XYZab' } }))).toMatch(/targets metadata is malformed/);
    expect(bad(targetsMeta(ROOT, 20, { hashes: { sha256: `${sha256}` + 'g' } }))).toMatch(/targets metadata is malformed/);
  });

  it('several hashes: each known one must match, an unknown one is passed over', () => {
    const sha256 = createHash('sha256').update(ROOT).digest('hex');
    const sha512 = createHash('sha512').update(ROOT).digest('hex');
    expect(problemOf(keptRoot(ROOT, {}, { targets: targetsMeta(ROOT, 20, { hashes: { sha256, sha512, blake9: 'ab' } }) }))).toBe('ok');
    expect(problemOf(keptRoot(ROOT, {}, { targets: targetsMeta(ROOT, 20, { hashes: { sha512 } }) }))).toBe('ok');
    expect(problemOf(keptRoot(ROOT, {}, { targets: targetsMeta(ROOT, 20, { hashes: { sha256, sha1: 'ab'.repeat(20) } }) }))).toMatch(
      /its sha1 does not match/,
    );
  });

  it('previousTargets: a root matching only the previous metadata counts as that version; one matching neither is refused', () => {
    const older = Buffer.from(`${ROOT.toString()} `);
    const newer = { targets: targetsMeta(ROOT, 20) };
    const between = keptRoot(older, { previousTargets: targetsMeta(older, 19) }, newer);
    expect(readKeptRoot(between)).toMatchObject({ state: 'ok', root: { targetsVersion: 19 } });
    // both match: the state's own targets count
    const both = keptRoot(ROOT, { previousTargets: targetsMeta(ROOT, 19) });
    expect(readKeptRoot(both)).toMatchObject({ state: 'ok', root: { targetsVersion: 20 } });
    expect(problemOf(keptRoot(older, {}, newer))).toMatch(/its length/);
    expect(problemOf(keptRoot(older, { previousTargets: targetsMeta(Buffer.from('x'), 19) }, newer))).toMatch(/its length/);
  });

  it('a root missing beside its state: absent in a root-only folder, refused in an open one; a state missing: refused', () => {
    const between = keptRoot(ROOT);
    rmSync(between);
    expect(readKeptRoot(between)).toEqual({ state: 'absent' });
    const open = keptRoot(ROOT);
    rmSync(open);
    chmodSync(join(open, '..'), 0o755);
    expect(problemOf(open)).toMatch(/missing, beside its TUF state, in a folder that is not root's alone/);
    const none = keptRoot(ROOT);
    rmSync(none);
    rmSync(tufStatePath(none));
    expect(readKeptRoot(none)).toEqual({ state: 'absent' });
    const noState = keptRoot(ROOT);
    rmSync(tufStatePath(noState));
    expect(problemOf(noState)).toMatch(/its TUF state .* is missing/);
  });

  it('a kept root that is a link, or owned by someone else, is refused', () => {
    const target = keptRoot(ROOT);
    const linked = keptRoot(ROOT);
    rmSync(linked);
    symlinkSync(target, linked);
    expect(problemOf(linked)).toMatch(/is not a regular file/);
    const other = keptRoot(ROOT);
    chownSync(other, 4242, 0);
    // refused by the kept root's own check (owner and mode), before any read
    expect(problemOf(other)).toMatch(/not trusted: .* is owned by uid 4242, not root \(kept trust material/);
  });

  it('the built-in version is known only for the built-in bytes; a kept root of the same version is not newer', () => {
    const builtIn = publicGoodTrustedRootBytes();
    expect(builtInTargetsVersion(builtIn)).toBe(BUILT_IN_TARGETS.version);
    expect(builtInTargetsVersion(Buffer.from('x'))).toBeUndefined();
    const same = keptRoot(ROOT, {}, { targets: targetsMeta(ROOT, BUILT_IN_TARGETS.version) });
    expect(choosePublicGood(builtIn, same)).toMatchObject({ bytes: builtIn, origin: { source: 'built-in' } });
    const newer = keptRoot(ROOT, {}, { targets: targetsMeta(ROOT, BUILT_IN_TARGETS.version + 1) });
    expect(choosePublicGood(builtIn, newer)).toMatchObject({ bytes: ROOT, origin: { source: 'tuf' } });
  });

  it('keptOrPlain: a file with a TUF state beside it is checked against it; a plain one is read as it is', () => {
    const path = keptRoot(ROOT);
    expect(keptOrPlain(path)).toMatchObject({ kind: 'tuf' });
    writeFileSync(path, `${ROOT.toString()} `, { mode: 0o600 });
    expect(keptOrPlain(path)).toMatchObject({ kind: 'invalid' });
    const plain = join(dir, 'plain-root.json');
    writeFileSync(plain, ROOT);
    expect(keptOrPlain(plain)).toEqual({ kind: 'plain' });
  });
});

// ---- trust rules as the policy compiles them ----

const rootFile = (name: string, doc: Record<string, unknown>) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(doc));
  return p;
};
const MT = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
const keyless = (trustedRoot: string, identities: unknown[] = [{ issuer: 'https://issuer', subject: 'me@example.com' }]) => ({
  keyless: { trustedRoot, identities },
});

describe('keyless trusted roots', () => {
  const full = { mediaType: MT, tlogs: [{}], ctlogs: [{}], certificateAuthorities: [{}] };

  it('defaults: Rekor and SCTs are required', () => {
    const rule = ruleOf(keyless(rootFile('full.json', full)));
    expect(rule).toMatchObject({ kind: 'keyless', requireRekor: true, requireSCT: true });
  });

  it('media types: both spellings of 0.1 and 0.2; anything else, or none, is refused', () => {
    for (const mediaType of [
      MT,
      'application/vnd.dev.sigstore.trustedroot.v0.1+json',
      'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    ]) {
      expect(ruleOf(keyless(rootFile('mt.json', { ...full, mediaType }))).kind, mediaType).toBe('keyless');
    }
    for (const mediaType of [`x${MT}`, `${MT}x`, 'application/vnd.dev.sigstore.trustedroot+json;version=0.3', undefined]) {
      expect(refusal(keyless(rootFile('mt.json', { ...full, mediaType }))), String(mediaType)).toMatch(/not a Sigstore trusted root/);
    }
  });

  it('a list that is missing counts as empty; one that is not a list is refused; no certificate authority is refused', () => {
    const noTsa = rootFile('no-tsa.json', { ...full, timestampAuthorities: null });
    expect(ruleOf(keyless(noTsa)).kind).toBe('keyless');
    expect(refusal(keyless(rootFile('bad-tlogs.json', { ...full, tlogs: 'abc' })))).toMatch(/tlogs is not a list/);
    expect(refusal(keyless(rootFile('no-ca.json', { ...full, certificateAuthorities: [] })))).toMatch(/no certificate authorities/);
  });

  it('two identities are allowed; the canonical form (cache key) names each identity and the root', () => {
    const root = rootFile('full.json', full);
    const a = ruleOf(keyless(root, [{ issuer: 'https://issuer', subject: 'a@example.com' }]));
    const b = ruleOf(keyless(root, [{ issuer: 'https://issuer', subjectRegExp: '^b@example\\.com$' }]));
    expect(a.canonical).not.toEqual(b.canonical);
    expect(JSON.stringify(a.canonical)).toContain('a@example.com');
    const two = ruleOf(
      keyless(root, [
        { issuer: 'https://issuer', subject: 'a@example.com' },
        { issuer: 'https://issuer', subject: 'b@example.com' },
      ]),
    );
    expect(two.kind).toBe('keyless');
    const other = ruleOf(keyless(rootFile('full2.json', { ...full, tlogs: [{}, {}] })));
    expect(other.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(other.fingerprint).not.toBe(a.fingerprint);
  });

  it('a trustedRoot file kept by trust update that fails its checks compiles as unusable (refused at verification)', () => {
    const path = keptRoot(ROOT);
    writeFileSync(path, `${ROOT.toString()} `, { mode: 0o600 });
    const rule = ruleOf(keyless(path));
    expect(rule.kind === 'keyless' && rule.root.json).toBeNull();
    expect(rule.kind === 'keyless' && rule.root.origin?.problem).toMatch(/its length/);
  });
});

describe('CA files (pki, fulcio)', () => {
  const f = new CertFactory(join(dir, 'certs'));
  const root = f.cert({ name: 'root', subject: '/CN=survivors root', ext: CA_EXT });
  const inter = f.cert({ name: 'inter', subject: '/CN=survivors intermediate', issuer: root, ext: CA_EXT });
  const leaf = f.cert({ name: 'leaf', subject: '/CN=survivors leaf', issuer: inter, ext: leafExt('me@example.com') });
  const root2 = f.cert({ name: 'root2', subject: '/CN=survivors root 2', ext: CA_EXT });
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('roots: only self-signed certificates are anchors; the others are intermediates', () => {
    const rule = ruleOf({ pki: { caRootsPath: file('roots.pem', root.pem + inter.pem), subjectEmail: 'me@example.com' } });
    if (rule.kind !== 'pki') throw new Error(rule.kind);
    expect(rule.ca.roots).toEqual([root.der]);
    expect(rule.ca.intermediates).toEqual([inter.der]);
    const withInter = ruleOf({ pki: { caRootsData: b64(root.pem), caIntermediatesData: b64(inter.pem), subjectEmail: 'me@example.com' } });
    if (withInter.kind !== 'pki') throw new Error(withInter.kind);
    expect(withInter.ca.intermediates).toEqual([inter.der]);
    expect(withInter.ca.roots).toEqual([root.der]);
  });

  it('a certificate naming itself as issuer but signed by another key is no root', () => {
    const lookAlike = f.cert({
      name: 'look-alike',
      subject: '/CN=survivors look-alike',
      issuer: f.cert({ name: 'look-alike-signer', subject: '/CN=survivors look-alike', ext: CA_EXT }),
      // no key identifiers: the names alone say "self-issued"
      ext: [
        'basicConstraints = critical, CA:true',
        'keyUsage = critical, keyCertSign, cRLSign',
        'subjectKeyIdentifier = none',
        'authorityKeyIdentifier = none',
      ],
    });
    expect(refusal({ pki: { caRootsPath: file('look-alike.pem', lookAlike.pem), subjectEmail: 'me@example.com' } })).toMatch(
      /no root \(self-signed\)/,
    );
  });

  it('no self-signed root, a non-CA intermediate, data that is not base64: refused', () => {
    expect(refusal({ pki: { caRootsPath: file('inter-only.pem', inter.pem), subjectEmail: 'me@example.com' } })).toMatch(
      /no root \(self-signed\)/,
    );
    expect(refusal({ pki: { caRootsData: b64(root.pem), caIntermediatesData: b64(leaf.pem), subjectEmail: 'me@example.com' } })).toMatch(
      /is not a CA certificate/,
    );
    const b = b64(root.pem);
    expect(refusal({ pki: { caRootsData: `${b.slice(0, 40)}!!${b.slice(40)}`, subjectEmail: 'me@example.com' } })).toMatch(/not base64/);
    expect(refusal({ pki: { caRootsData: '  ', subjectEmail: 'me@example.com' } })).not.toBe('compiled');
  });

  it('pki takes exactly one roots source and at most one intermediates source; requireRekor is refused with pki and fulcio', () => {
    const rootsPath = file('root.pem', root.pem);
    expect(refusal({ pki: { subjectEmail: 'me@example.com' } })).toMatch(/exactly one of caRootsPath, caRootsData/);
    expect(refusal({ pki: { caRootsPath: rootsPath, caRootsData: b64(root.pem), subjectEmail: 'me@example.com' } })).toMatch(/exactly one/);
    expect(
      refusal({
        pki: {
          caRootsPath: rootsPath,
          caIntermediatesPath: file('inter.pem', inter.pem),
          caIntermediatesData: b64(inter.pem),
          subjectEmail: 'x@y',
        },
      }),
    ).toMatch(/at most one of caIntermediatesPath/);
    expect(refusal({ pki: { caRootsPath: rootsPath, subjectEmail: 'me@example.com' }, requireRekor: true })).toMatch(
      /requireRekor is for key/,
    );
    expect(
      refusal({
        fulcio: { caPath: rootsPath, oidcIssuer: 'https://i', subjectEmail: 'me@example.com' },
        rekorPublicKeyData: b64(rekorPem),
        requireRekor: true,
      }),
    ).toMatch(/requireRekor is for key/);
  });

  it('fingerprints and canonical forms (cache keys) differ with the CA and the holder', () => {
    const a = ruleOf({ pki: { caRootsPath: file('ra.pem', root.pem), subjectEmail: 'me@example.com' } });
    const b = ruleOf({ pki: { caRootsPath: file('rb.pem', root2.pem), subjectEmail: 'me@example.com' } });
    const c = ruleOf({
      pki: { caRootsPath: file('rc.pem', root.pem), caIntermediatesPath: file('ic.pem', inter.pem), subjectEmail: 'me@example.com' },
    });
    const e = ruleOf({ pki: { caRootsPath: file('rd.pem', root.pem), subjectEmail: 'other@example.com', subjectHostname: 'h.example' } });
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    expect(a.canonical).toMatchObject({ kind: 'pki', subjectEmail: 'me@example.com', subjectHostname: null });
    expect(e.canonical).toMatchObject({ kind: 'pki', subjectEmail: 'other@example.com', subjectHostname: 'h.example' });
    const fulcio = (caPath: string) =>
      ruleOf({ fulcio: { caPath, oidcIssuer: 'https://i', subjectEmail: 'me@example.com' }, rekorPublicKeyData: b64(rekorPem) });
    const fa = fulcio(file('fa.pem', root.pem));
    const fb = fulcio(file('fb.pem', root.pem + inter.pem));
    expect(fa.fingerprint).not.toBe(fb.fingerprint);
    expect(fa.canonical).toMatchObject({ kind: 'fulcio', oidcIssuer: 'https://i', subjectEmail: 'me@example.com' });
  });
});

describe('key requirements', () => {
  it('a Rekor key given as data, alone or in a list, makes Rekor required', () => {
    const one = ruleOf({ keyPath: pubFile, rekorPublicKeyData: b64(rekorPem) });
    expect(one.kind === 'keys' && one.rekor?.kind).toBe('keys');
    const two = ruleOf({ keyPath: pubFile, rekorPublicKeyDatas: [b64(rekorPem), b64(ecPem())] });
    expect(two.kind === 'keys' && two.rekor?.kind === 'keys' && two.rekor.keys.length).toBe(2);
    expect(ruleOf({ keyPath: pubFile, rekorPublicKeyPaths: [pubFile, pubFile] }).kind).toBe('keys');
  });

  it('requireRekor with a key and a Rekor key compiles; with a key alone it may be false', () => {
    expect(refusal({ keyPath: pubFile, rekorPublicKeyData: b64(rekorPem), requireRekor: true })).toBe('compiled');
    expect(refusal({ keyPath: pubFile, requireRekor: false })).toBe('compiled');
  });

  it('lists of keys take more than one entry', () => {
    expect(refusal({ keyPaths: [pubFile, pubFile] })).toBe('compiled');
    expect(refusal({ keyDatas: [b64(ecPem()), b64(ecPem())] })).toBe('compiled');
  });

  it('supported key types only', () => {
    expect(parsePublicKey(ecPem(), 'k').key.asymmetricKeyType).toBe('ec');
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' });
    expect(() => parsePublicKey(x25519, 'k')).toThrow(/unsupported key type x25519/);
  });
});

describe('policy-wide fields', () => {
  const base = { type: 'sigstoreSigned', keyPath: pubFile, signedIdentity: { type: 'matchRepository' } };
  it('mode, tagResolution and nonKubernetes take each of their values', () => {
    expect(compile(base, { mode: 'warn', tagResolution: 'registry', nonKubernetes: 'allow' })).toMatchObject({
      mode: 'warn',
      tagResolution: 'registry',
      nonKubernetes: 'allow',
    });
  });

  it('denyDigests: only exact lower-case sha256/sha512 digests (a near-miss would never match, silently)', () => {
    const ok = [`sha256:${'a'.repeat(64)}`, `sha512:${'b'.repeat(128)}`];
    expect(compile(base, { denyDigests: ok }).denyDigests).toEqual(new Set(ok));
    for (const d of [
      ` sha256:${'a'.repeat(64)}`,
      `sha256:${'a'.repeat(64)}\n`,
      `sha256:${'a'.repeat(65)}`,
      `xsha512:${'b'.repeat(128)}`,
      `sha512:${'b'.repeat(129)}`,
    ]) {
      expect(() => compile(base, { denyDigests: [d] }), JSON.stringify(d)).toThrow(/not a digest/);
    }
  });

  it('an image no scope matches gets the default: accept is insecureAcceptAnything, reject is reject', () => {
    const other = ref('other.example/x:1');
    expect(selectRequirements(compile(base, { default: 'accept' }), other)).toEqual({
      scope: '',
      requirements: [{ type: 'insecureAcceptAnything' }],
    });
    expect(selectRequirements(compile(base), other)).toEqual({ scope: '', requirements: [{ type: 'reject' }] });
  });

  it('a rule naming another repository takes legacy signatures only by default (a bundle names no repository)', () => {
    for (const identity of [
      { type: 'exactRepository', dockerRepository: 'r.example/other' },
      { type: 'exactReference', dockerReference: 'r.example/other:1' },
      { type: 'remapIdentity', prefix: 'r.example', signedPrefix: 'q.example' },
    ] as const) {
      expect(defaultSignatureFormats(identity), identity.type).toEqual(['legacy']);
      const req = compile({ ...base, signedIdentity: identity }).scopes.get('r.example/app')![0] as SigstoreSignedRequirement;
      expect(req.signatureFormats, identity.type).toEqual(['legacy']);
    }
    expect(defaultSignatureFormats({ type: 'matchRepository' })).toEqual(['legacy', 'bundle']);
    expect(defaultSignatureFormats(undefined)).toEqual(['legacy', 'bundle']);
  });

  it('scopeTrustRoots names no root for requirements without one', () => {
    const p = compile({ type: 'reject' });
    expect(scopeTrustRoots(p, 'r.example/app')).toBeUndefined();
    expect(scopeTrustRoots(undefined, 'r.example/app')).toBeUndefined();
    expect(scopeTrustRoots(p, undefined)).toBeUndefined();
  });
});
