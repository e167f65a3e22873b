/**
 * The rules of sigguard's RFC 5280 path validator (src/verify/x509-path.ts) one by one, each
 * with the case a mutant of it would get wrong (docs/mutation-survivors/x509-path.md): Go's
 * name-constraint matching (mailbox parsing, domain labels, excluded wildcards, URI hosts, IP
 * masks, the comparison cap), constraint decoding, the checks of a complete path, which
 * authorities are usable, and the bounds of the search (signature checks, steps, candidate
 * paths, where the deadline is polled). Matching rules are driven with plain objects; the
 * search with real certificates made by openssl.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from '@sigstore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PATH_LIMITS,
  PathCert,
  type PathCertLike,
  PathRefusal,
  constraintsOf,
  dnsNameValid,
  matchDomain,
  matchEmail,
  matchIP,
  nameConstraintProblem,
  parseMailbox,
  pathProblem,
  reverseLabels,
  uriHost,
  validatePath,
} from '../../src/verify/x509-path.js';
import { CA_EXT, CertFactory, type TestCert, leafExt } from '../support/x509-chains.js';

// ---- plain stand-ins for certificates, for the matching rules ----

type GN = { type: number; value: unknown };
const dns = (value: string): GN => ({ type: 2, value });
const email = (value: string): GN => ({ type: 1, value });
const uri = (value: string): GN => ({ type: 6, value });
const ip = (...bytes: number[]): GN => ({ type: 7, value: { valueBlock: { valueHexView: new Uint8Array(bytes) } } });

const ncExt = (permitted: GN[], excluded: GN[] = [], critical = true) => ({
  critical,
  parsedValue: { permittedSubtrees: permitted.map((base) => ({ base })), excludedSubtrees: excluded.map((base) => ({ base })) },
});
/** A CA with these name constraints (and, optionally, names of its own). */
const constrained = (permitted: GN[], excluded: GN[] = [], critical = true, sans?: GN[]) =>
  ({
    label: '"constrained CA"',
    ekus: undefined,
    sans,
    ext: (oid: string) => (oid === '2.5.29.30' ? ncExt(permitted, excluded, critical) : undefined),
  }) as unknown as PathCert;
const named = (sans: GN[] | undefined) => ({ label: '"leaf"', ekus: undefined, sans, ext: () => undefined }) as unknown as PathCert;
const problem = (...path: PathCert[]) => nameConstraintProblem(path as PathCertLike[]);

describe('name matching helpers (Go crypto/x509 rules)', () => {
  it('reverseLabels: labels last first; empty labels and bytes outside 33..126 make no domain', () => {
    expect(reverseLabels('')).toEqual([]);
    expect(reverseLabels('a.example.com')).toEqual(['com', 'example', 'a']);
    expect(reverseLabels('a..com')).toBeUndefined();
    expect(reverseLabels('.com')).toBeUndefined();
    expect(reverseLabels('ex ample.com')).toBeUndefined();
    expect(reverseLabels('exämple.com')).toBeUndefined();
  });

  it('parseMailbox: dot-atom and quoted local parts, one @, a valid domain', () => {
    expect(parseMailbox('ci@example.com')).toEqual({ local: 'ci', domain: 'example.com' });
    expect(parseMailbox('"a b"@example.com')).toEqual({ local: 'a b', domain: 'example.com' });
    expect(parseMailbox('"a\\"b"@example.com')).toEqual({ local: 'a"b', domain: 'example.com' });
    expect(parseMailbox('a.b@example.com')).toEqual({ local: 'a.b', domain: 'example.com' });
    for (const bad of [
      '@example.com',
      '.a@example.com',
      'a.@example.com',
      'a..b@example.com',
      'ab x@example.com',
      'a@',
      'a@b..com',
      'ab',
    ]) {
      expect(parseMailbox(bad), bad).toBeUndefined();
    }
  });

  it('dnsNameValid: no empty, leading/trailing-dot, over-long or non-printable names', () => {
    const label63 = 'a'.repeat(63);
    const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');
    expect(name253).toHaveLength(253);
    expect(dnsNameValid(name253)).toBe(true);
    expect(dnsNameValid(`${name253}a`)).toBe(false);
    expect(dnsNameValid(`${label63}.com`)).toBe(true);
    expect(dnsNameValid(`${label63}a.com`)).toBe(false);
    for (const bad of ['', '.a.com', 'a.com.', 'a..com', 'a b.com']) expect(dnsNameValid(bad), bad).toBe(false);
    expect(dnsNameValid('build.example.com')).toBe(true);
  });

  it('matchDomain: label-wise, case-insensitive, a leading dot wants subdomains, "." and "" match all', () => {
    expect(matchDomain('Build.EXAMPLE.com', 'example.COM', false)).toBe(true);
    expect(matchDomain('example.com', 'example.com', false)).toBe(true);
    expect(matchDomain('example.org', 'example.com', false)).toBe(false);
    expect(matchDomain('evilexample.com', 'example.com', false)).toBe(false);
    expect(matchDomain('example.com', '.example.com', false)).toBe(false);
    expect(matchDomain('a.example.com', '.example.com', false)).toBe(true);
    expect(matchDomain('a.example.com', '.', false)).toBe(true);
    expect(matchDomain('a.example.com', '', false)).toBe(true);
    expect(() => matchDomain('a..example.com', 'example.com', false)).toThrow(/cannot parse domain/);
    expect(() => matchDomain('a.example.com', 'a..com', false)).toThrow(/cannot parse name constraint/);
  });

  it('matchDomain: an excluded constraint catches a wildcard over its own leftmost label; a permitted one does not', () => {
    expect(matchDomain('*.example.com', 'bad.example.com', true)).toBe(true);
    expect(matchDomain('*.example.com', 'bad.example.com', false)).toBe(false);
    expect(matchDomain('x*.example.com', 'bad.example.com', true)).toBe(false);
  });

  it('matchEmail: a full-mailbox constraint matches that mailbox only (domain case-insensitive), else the domain rules', () => {
    const boss = parseMailbox('boss@Mail.example.com')!;
    expect(matchEmail(boss, 'boss@mail.example.com', true)).toBe(true);
    expect(matchEmail(boss, 'boss@mail.example.org', true)).toBe(false);
    expect(matchEmail(parseMailbox('clerk@mail.example.com')!, 'boss@mail.example.com', true)).toBe(false);
    expect(matchEmail(boss, '.example.com', false)).toBe(true);
    expect(() => matchEmail(boss, 'a..b@example.com', true)).toThrow(/cannot parse name constraint/);
  });

  it('uriHost: the host after userinfo and without a port; IP hosts, bracketed hosts and empty hosts are refused', () => {
    expect(uriHost('https://ci.example.com/job/1')).toBe('ci.example.com');
    expect(uriHost('https://user@ci.example.com/')).toBe('ci.example.com');
    expect(uriHost('https://@ci.example.com/')).toBe('ci.example.com');
    expect(uriHost('https://ci.example.com:8443/x')).toBe('ci.example.com');
    expect(() => uriHost('https://a:1:2/')).toThrow(/unreadable host/);
    expect(() => uriHost('https://10.0.0.1/')).toThrow(/URI with IP/);
    expect(() => uriHost('https://[::1]/')).toThrow(/URI with IP/);
    expect(() => uriHost('https://[::1]:443/')).toThrow(PathRefusal);
    // not a scheme://host at the start: no host, however a later part looks
    expect(() => uriHost('urn:example:https://good.example.com/')).toThrow(/empty host/);
  });

  it('matchIP: every byte under the mask, of the same family', () => {
    expect(matchIP(new Uint8Array([10, 1, 2, 3]), new Uint8Array([10, 0, 0, 0, 255, 0, 0, 0]))).toBe(true);
    expect(matchIP(new Uint8Array([10, 1, 0, 0]), new Uint8Array([10, 0, 0, 0, 255, 255, 0, 0]))).toBe(false);
    expect(matchIP(new Uint8Array([10, 0, 0, 9]), new Uint8Array([10, 0, 0, 0, 255, 255, 255, 0]))).toBe(true);
    expect(matchIP(new Uint8Array([10, 0, 1, 9]), new Uint8Array([10, 0, 0, 0, 255, 255, 255, 0]))).toBe(false);
    // each byte under its own mask byte, on both sides
    expect(matchIP(new Uint8Array([10, 1, 7, 7]), new Uint8Array([10, 1, 0, 0, 255, 255, 0, 0]))).toBe(true);
    expect(matchIP(new Uint8Array(16), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0]))).toBe(false);
  });
});

describe('name constraints decoded from a CA', () => {
  const fake = (ext: unknown) => ({ label: '"ca"', ext: () => ext }) as unknown as PathCert;
  it('keeps the four checked forms; skips other forms when not critical, refuses them when critical', () => {
    const got = constraintsOf(
      fake(ncExt([dns('example.com'), uri('.example.com'), { type: 4, value: {} }], [ip(10, 0, 0, 0, 255, 0, 0, 0)], false)),
    );
    expect(got!.permitted).toEqual([dns('example.com'), uri('.example.com')]);
    expect(got!.excluded).toHaveLength(1);
    expect(got!.critical).toBe(false);
    // a DNS constraint may look like an IP address (Go reads it as labels); only URI constraints may not
    expect(constraintsOf(fake(ncExt([dns('10.0.0.1')])))!.permitted).toEqual([dns('10.0.0.1')]);
    expect(() => constraintsOf(fake(ncExt([{ type: 4, value: {} }])))).toThrow(/name form sigguard cannot check/);
  });
  it('refuses unreadable constraints, malformed IP ranges and URI constraints that are IP addresses', () => {
    expect(() => constraintsOf(fake({ critical: true, parsedValue: undefined }))).toThrow(/are unreadable/);
    expect(() => constraintsOf(fake(ncExt([dns('x')], [ip(10, 0, 0, 0, 255)])))).toThrow(/malformed IP range/);
    expect(() => constraintsOf(fake(ncExt([{ type: 7, value: {} }])))).toThrow(/malformed IP range/);
    expect(() => constraintsOf(fake(ncExt([{ type: 7, value: { valueBlock: {} } }])))).toThrow(/malformed IP range/);
    expect(() => constraintsOf(fake(ncExt([{ type: 2, value: {} }])))).toThrow(/are unreadable/);
    expect(() => constraintsOf(fake(ncExt([uri('10.0.0.1')])))).toThrow(/cannot be an IP address/);
    expect(() => constraintsOf(fake(ncExt([uri('.10.0.0.1')])))).toThrow(/cannot be an IP address/);
  });
});

describe('name constraints over a path', () => {
  it('an excluded DNS constraint catches a wildcard SAN; a permitted one does not let it through', () => {
    expect(problem(named([dns('*.example.com')]), constrained([], [dns('bad.example.com')]))).toMatch(/excluded/);
    expect(problem(named([dns('*.example.com')]), constrained([dns('bad.example.com')]))).toMatch(/not permitted/);
  });
  it('a full-mailbox exclusion refuses that mailbox', () => {
    expect(problem(named([email('boss@mail.example.com')]), constrained([], [email('boss@mail.example.com')]))).toMatch(/excluded/);
  });
  it('a name matching any one permitted subtree is allowed; only excluded subtrees permit the rest', () => {
    expect(problem(named([dns('x.example.org')]), constrained([dns('example.com'), dns('example.org')]))).toBeUndefined();
    expect(problem(named([dns('x.example.org')]), constrained([], [dns('example.com')]))).toBeUndefined();
    expect(problem(named([dns('x.example.net')]), constrained([dns('example.com'), dns('example.org')]))).toMatch(/not permitted/);
  });
  it('a URI with a port or userinfo is judged by its host', () => {
    expect(problem(named([uri('https://x.bad.example.com:443/')]), constrained([], [dns('x'), uri('bad.example.com')]))).toMatch(
      /excluded/,
    );
    expect(problem(named([uri('https://u@x.example.com/')]), constrained([uri('.example.com')]))).toBeUndefined();
  });
  it('IP SANs: under the mask, malformed ones refused even against exclusions only', () => {
    expect(problem(named([ip(10, 1, 0, 0)]), constrained([ip(10, 0, 0, 0, 255, 255, 0, 0)]))).toMatch(/not permitted/);
    expect(problem(named([ip(10, 1, 0, 0, 0)]), constrained([], [ip(10, 0, 0, 0, 255, 0, 0, 0)]))).toMatch(/malformed/);
  });
  it('unparseable names are refused under any constraints, even of another form', () => {
    expect(problem(named([email('not-a-mailbox')]), constrained([dns('example.com')]))).toMatch(/cannot parse email address/);
    expect(problem(named([dns('a..example.com')]), constrained([email('example.com')]))).toMatch(/cannot parse DNS name/);
  });
  it('certificates without SANs and SAN forms other than the four pass; a CA is not judged by its own constraints', () => {
    expect(problem(named(undefined), constrained([dns('example.com')]))).toBeUndefined();
    expect(
      problem(
        named([
          { type: 4, value: {} },
          { type: 0, value: {} },
        ]),
        constrained([dns('example.com')]),
      ),
    ).toBeUndefined();
    expect(problem(named([dns('a.example.com')]), constrained([dns('example.com')], [], true, [dns('ca.example.org')]))).toBeUndefined();
  });
  it(`stops at ${PATH_LIMITS.constraintComparisons} comparisons over a path, and not before`, () => {
    const many = (n: number) => Array.from({ length: n }, () => dns('example.com'));
    expect(problem(named([dns('a.example.com')]), constrained(many(PATH_LIMITS.constraintComparisons)))).toBeUndefined();
    expect(problem(named([dns('a.example.com')]), constrained(many(PATH_LIMITS.constraintComparisons + 1)))).toMatch(
      /take too many comparisons/,
    );
  });
});

describe('checks of a complete path', () => {
  const now = [new Date()];
  const node = (o: Record<string, unknown> = {}) =>
    ({
      pk: { extensions: [] },
      validAt: () => true,
      validity: () => '',
      label: '"n"',
      isCA: true,
      keyCertSign: undefined,
      pathLen: undefined,
      ekus: undefined,
      sans: undefined,
      ext: () => undefined,
      ...o,
    }) as unknown as PathCert;
  it('an issuer whose key usage lacks keyCertSign is refused by sigguard itself', () => {
    expect(pathProblem([node({ isCA: false }), node({ keyCertSign: false })], now)).toMatch(/may not sign certificates/);
    expect(pathProblem([node({ isCA: false }), node({ keyCertSign: true })], now)).toBeUndefined();
  });
  it('a path length constraint counts the intermediates below; none means no limit', () => {
    const leaf = node({ isCA: false });
    expect(pathProblem([leaf, node(), node(), node()], now)).toBeUndefined();
    expect(pathProblem([leaf, node(), node({ pathLen: 1 })], now)).toBeUndefined();
    expect(pathProblem([leaf, node(), node({ pathLen: 0 })], now)).toMatch(/pathlen 0\) exceeded/);
  });
});

// ---- real certificates ----

let dir: string;
let f: CertFactory;
let root: TestCert;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-x509-rules-'));
  f = new CertFactory(dir);
  root = f.ca('rules-root', undefined);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FOREVER = { start: new Date(0), end: new Date(8640000000000000) };
const authority = (chain: TestCert[], validFor = FOREVER) => ({
  certChain: chain.map((c) => X509Certificate.parse(Buffer.from(c.der))),
  validFor,
});
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: Error) => `${e instanceof PathRefusal ? 'PathRefusal' : e.name}: ${e.message}`,
  );

describe('PathCert reads of a certificate', () => {
  it('key usage: keyCertSign set, unset, or no extension', () => {
    const noSign = f.cert({
      name: 'r-nosign',
      subject: '/CN=nosign',
      issuer: root,
      ext: ['basicConstraints = critical, CA:true', 'keyUsage = critical, digitalSignature'],
    });
    expect(new PathCert(noSign.der).keyCertSign).toBe(false);
    expect(new PathCert(root.der).keyCertSign).toBe(true);
    const noKu = f.cert({ name: 'r-noku', subject: '/CN=noku', issuer: root, ext: ['basicConstraints = critical, CA:true'] });
    expect(new PathCert(noKu.der).keyCertSign).toBeUndefined();
  });

  it('a certificate without extensions (v1) parses and validates as a leaf', async () => {
    const v1 = f.cert({ name: 'r-v1-leaf', subject: '/CN=v1 leaf', issuer: root, ext: [] });
    const c = new PathCert(v1.der);
    expect(c.isCA).toBe(false);
    expect(c.sans).toBeUndefined();
    expect(c.ekus).toBeUndefined();
    await expect(
      validatePath({ leaf: v1.der, untrusted: [], authorities: [authority([root])], times: [new Date()] }),
    ).resolves.toBeDefined();
  });

  it('validity bounds are inclusive, to the millisecond', async () => {
    const leaf = f.cert({ name: 'r-bounds-leaf', subject: '/', issuer: root, ext: leafExt('dev@example.com'), days: 1 });
    const c = new PathCert(leaf.der);
    const from = c.pk.notBefore.value.getTime();
    const to = c.pk.notAfter.value.getTime();
    expect(c.validAt(new Date(from))).toBe(true);
    expect(c.validAt(new Date(from - 1))).toBe(false);
    expect(c.validAt(new Date(to))).toBe(true);
    expect(c.validAt(new Date(to + 1))).toBe(false);
    // the whole path at the leaf's last second (the root outlives it)
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [], authorities: [authority([root])], times: [new Date(to)] }),
    ).resolves.toBeDefined();
  });

  it('a leaf sharing its key with its issuer (other subject) is not taken for that issuer', async () => {
    const sub = f.ca('r-shared-sub', root);
    const leaf = f.cert({
      name: 'r-shared-leaf',
      subject: '/CN=shared leaf',
      issuer: sub,
      keyFile: sub.keyFile,
      ext: ['basicConstraints = critical, CA:false', 'keyUsage = critical, digitalSignature', 'authorityKeyIdentifier = keyid'],
    });
    await expect(
      validatePath({ leaf: leaf.der, untrusted: [sub.der], authorities: [authority([root])], times: [new Date()] }),
    ).resolves.toBeDefined();
  });
});

describe('which authorities are usable', () => {
  let leaf: TestCert;
  beforeAll(() => {
    leaf = f.leaf('r-auth-leaf', root, 'dev@example.com');
  });
  const check = (authorities: ReturnType<typeof authority>[], times: Date[]) =>
    refusal(validatePath({ leaf: leaf.der, untrusted: [], authorities, times }));
  // the leaf is valid for a year from now; the checks here are of the authority's window
  const t = new Date(Date.now() + 3600_000);

  it('an authority outside its validity window at a checked time is not used', async () => {
    const before = { start: new Date(0), end: new Date(t.getTime() - 1) };
    const after = { start: new Date(t.getTime() + 1), end: FOREVER.end };
    expect(await check([authority([root], before)], [t])).toMatch(/PathRefusal: no trusted certificate authority is valid at/);
    expect(await check([authority([root], after)], [t])).toMatch(/no trusted certificate authority is valid at/);
    // every time must be inside it
    const later = new Date(t.getTime() + 60_000);
    expect(await check([authority([root], { start: new Date(0), end: t })], [t, later])).toMatch(/no trusted certificate authority/);
  });
  it('window bounds are inclusive; an authority with an empty chain is skipped, not fatal', async () => {
    expect(await check([authority([root], { start: t, end: t })], [t])).toBe('accepted');
    expect(await check([authority([]), authority([root])], [t])).toBe('accepted');
  });
  it('no time at all is refused', async () => {
    expect(await check([authority([root])], [])).toMatch(/PathRefusal: no time to check/);
  });
  it(`more than ${PATH_LIMITS.untrustedCertificates} certificates brought along are refused`, async () => {
    const r = await refusal(
      validatePath({
        leaf: leaf.der,
        untrusted: Array.from({ length: PATH_LIMITS.untrustedCertificates + 1 }, () => root.der),
        authorities: [authority([root])],
        times: [t],
      }),
    );
    expect(r).toMatch(/PathRefusal: certificate chain holds 33 certificates/);
  });
  it('every intermediate of a trusted chain is offered; the first authority of a root is the one bound', async () => {
    const i1 = f.ca('r-ti1', root);
    const i2 = f.ca('r-ti2', i1);
    const deep = f.leaf('r-ti-leaf', i2, 'dev@example.com');
    const first = authority([i2, i1, root]);
    const second = authority([root], { start: new Date(1), end: FOREVER.end });
    const got = await validatePath({ leaf: deep.der, untrusted: [], authorities: [first, second], times: [t] });
    expect(got.authority).toBe(first);
    expect(got.certificates).toHaveLength(4);
    const got2 = await validatePath({ leaf: leaf.der, untrusted: [], authorities: [second, first], times: [t] });
    expect(got2.authority).toBe(second);
  });
});

describe('the path search', () => {
  const t = () => [new Date()];
  const count = () => {
    const c = { calls: 0, checkpoint: () => void c.calls++ };
    return c;
  };

  it('polls the deadline at each step, each signature check and each full validation', async () => {
    const sub = f.ca('r-poll-sub', root);
    const leaf = f.leaf('r-poll-leaf', sub, 'dev@example.com');
    const c = count();
    await validatePath({ leaf: leaf.der, untrusted: [sub.der], authorities: [authority([root])], times: t(), checkpoint: c.checkpoint });
    // steps: [leaf], [leaf, sub]; signature checks: leaf by sub, sub by root; one full validation
    expect(c.calls).toBe(5);
  });

  it('a certificate named as issuer but signed by another key is no issuer, and costs no signature check', async () => {
    // same key as the root, other subject: the leaf it issues names that subject, not the root's
    const alias = f.cert({ name: 'r-alias', subject: '/CN=alias', issuer: root, keyFile: root.keyFile, ext: CA_EXT });
    const leaf = f.leaf('r-alias-leaf', alias, 'dev@example.com');
    const c = count();
    const r = await refusal(
      validatePath({ leaf: leaf.der, untrusted: [], authorities: [authority([root])], times: t(), checkpoint: c.checkpoint }),
    );
    expect(r).toMatch(/PathRefusal: no path from .* issued by "CN=alias" to a trusted root/);
    expect(c.calls).toBe(1);
  });

  it('a cycle ends the search by itself: no certificate twice in a path', async () => {
    const { a0, aByB, bByA } = f.cycle('r-cycle');
    const leaf = f.leaf('r-cycle-leaf', a0, 'dev@example.com');
    const r = await refusal(
      validatePath({ leaf: leaf.der, untrusted: [aByB.der, bByA.der], authorities: [authority([root])], times: t() }),
    );
    expect(r).toMatch(/PathRefusal: no path from .* issued by "CN=r-cycle A" to a trusted root/);
  });

  it("pkijs's engine judges the chosen path too: a policy it requires and the leaf lacks refuses it", async () => {
    const strict = f.ca('r-policy-sub', root, ['policyConstraints = critical, requireExplicitPolicy:0']);
    const leaf = f.leaf('r-policy-leaf', strict, 'dev@example.com');
    expect(
      pathProblem(
        [leaf, strict, root].map((c) => new PathCert(c.der)),
        t(),
      ),
    ).toBeUndefined();
    const r = await refusal(validatePath({ leaf: leaf.der, untrusted: [strict.der], authorities: [authority([root])], times: t() }));
    expect(r).toMatch(/PathRefusal: path validation failed/);
  });

  it('a dead-end issuer does not hide a later one that reaches a root', async () => {
    const ghostKey = f.newKey('r-ghost');
    const ghost = f.cert({ name: 'r-ghost', subject: '/CN=ghost', ext: CA_EXT.slice(0, 3), keyFile: ghostKey });
    const good = f.ca('r-twin', root);
    const dead = f.cert({ name: 'r-twin-dead', subject: '/O=sigguard-test/CN=r-twin', issuer: ghost, keyFile: good.keyFile, ext: CA_EXT });
    const leaf = f.leaf('r-twin-leaf', good, 'dev@example.com');
    const got = await validatePath({ leaf: leaf.der, untrusted: [dead.der, good.der], authorities: [authority([root])], times: t() });
    expect(got.certificates[1]).toEqual(good.der);
  });

  describe(`at most ${PATH_LIMITS.signatureChecks} signature checks`, () => {
    // look-alike issuers: the leaf's issuer name, no key identifier, a wrong key; each costs a check
    let leaf: TestCert;
    let real: TestCert;
    let lookAlikes: Buffer[];
    beforeAll(() => {
      const noIds = ['subjectKeyIdentifier = none', 'authorityKeyIdentifier = none'];
      real = f.cert({
        name: 'r-sig-real',
        subject: '/CN=sig issuer',
        issuer: root,
        ext: ['basicConstraints = critical, CA:true', ...noIds],
      });
      leaf = f.cert({
        name: 'r-sig-leaf',
        subject: '/CN=sig leaf',
        issuer: real,
        ext: ['basicConstraints = critical, CA:false', ...noIds],
      });
      const wrong = f.cert({ name: 'r-sig-wrong', subject: '/CN=sig issuer', ext: ['basicConstraints = critical, CA:true', ...noIds] });
      // distinct certificates (one signature byte apart), all naming themselves "sig issuer"
      lookAlikes = Array.from({ length: 120 }, (_, i) => {
        const der = Buffer.from(wrong.der);
        der[der.length - 1] = i;
        return der;
      });
      expect(new Set(lookAlikes.map((d) => d.toString('hex'))).size).toBe(120);
    });
    const search = (n: number) => {
      // trusted intermediates (a chain brought along holds at most 32): n look-alikes, then the real one
      const chain = [...lookAlikes.slice(0, n), real.der].map((d) => X509Certificate.parse(Buffer.from(d)));
      const a = { certChain: [...chain, X509Certificate.parse(Buffer.from(root.der))], validFor: FOREVER };
      return refusal(validatePath({ leaf: leaf.der, untrusted: [], authorities: [a], times: t() }));
    };
    it('a search needing exactly the cap succeeds', async () => {
      // n + 1 checks for the leaf's issuer, 1 for the real one's
      expect(await search(PATH_LIMITS.signatureChecks - 2)).toBe('accepted');
    });
    it('one more is refused', async () => {
      expect(await search(PATH_LIMITS.signatureChecks - 1)).toMatch(
        /PathRefusal: certificate path search gave up after 100 signature checks/,
      );
    });
  });

  describe(`at most ${PATH_LIMITS.expansions} steps`, () => {
    // levels of issuers (same subject and key within a level, one level issuing the next) under
    // an untrusted top: every branch is walked, and none reaches a root
    const tree = (name: string, widths: number[]): { leaf: TestCert; certs: Buffer[] } => {
      const top = f.cert({ name: `${name}-top`, subject: `/CN=${name} top`, ext: CA_EXT.slice(0, 3) });
      let issuer = top;
      const certs: Buffer[] = [];
      for (let level = widths.length; level >= 1; level--) {
        const key = f.newKey(`${name}-l${level}`);
        const made = Array.from({ length: widths[level - 1]! }, (_, i) =>
          f.cert({ name: `${name}-l${level}-${i}`, subject: `/CN=${name} level ${level}`, issuer, keyFile: key, ext: CA_EXT }),
        );
        certs.push(...made.map((c) => c.der));
        issuer = made[0]!;
      }
      return { leaf: f.leaf(`${name}-leaf`, issuer, 'dev@example.com'), certs };
    };
    const walk = ({ leaf, certs }: { leaf: TestCert; certs: Buffer[] }) =>
      refusal(validatePath({ leaf: leaf.der, untrusted: certs, authorities: [authority([root])], times: t() }));
    it('a search of exactly the cap ends by itself', async () => {
      // 1 + 7 (1 + 8 (1 + 2 (1 + 3))) = 512 steps
      expect(await walk(tree('r-steps512', [7, 8, 2, 3]))).toMatch(/PathRefusal: no path from/);
    });
    it('one step more is refused', async () => {
      // 1 + 8 (1 + 7 (1 + 2 (1 + 3))) = 513 steps
      expect(await walk(tree('r-steps513', [8, 7, 2, 3]))).toMatch(/PathRefusal: certificate path search gave up after 512 steps/);
    });
  });

  describe(`at most ${PATH_LIMITS.candidatePaths} complete paths validated`, () => {
    // roots of one name and key: the first ones restricted to serverAuth, the last one fine
    let leaf: TestCert;
    let bad: TestCert[];
    let good: TestCert;
    beforeAll(() => {
      const key = f.newKey('r-cand-root');
      const rootExt = (extra: string[]) => [...CA_EXT.slice(0, 3), ...extra];
      bad = Array.from({ length: PATH_LIMITS.candidatePaths }, (_, i) =>
        f.cert({
          name: `r-cand-bad-${i}`,
          subject: '/CN=cand root',
          keyFile: key,
          ext: rootExt(['extendedKeyUsage = serverAuth', `nsComment = "${i}"`]),
        }),
      );
      good = f.cert({ name: 'r-cand-good', subject: '/CN=cand root', keyFile: key, ext: rootExt([]) });
      leaf = f.leaf('r-cand-leaf', good, 'dev@example.com');
    });
    const search = (n: number) =>
      refusal(
        validatePath({ leaf: leaf.der, untrusted: [], authorities: [...bad.slice(0, n), good].map((c) => authority([c])), times: t() }),
      );
    it('the last allowed candidate is validated', async () => {
      expect(await search(PATH_LIMITS.candidatePaths - 1)).toBe('accepted');
    });
    it('one more is refused', async () => {
      expect(await search(PATH_LIMITS.candidatePaths)).toMatch(
        /PathRefusal: no valid certificate path among the first 8 tried: .*does not allow code signing/,
      );
    });
  });
});
