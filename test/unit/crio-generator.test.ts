/**
 * The CRI-O generator's mapping rules and refusals (src/crio): sigguard policy
 * in, policy.json / registries.d / crio.conf.d / hooks.d out, for a target
 * containers/image version. The real containers/image (skopeo) judges the
 * output in test/integration/crio-policy.test.ts.
 */
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type CrioOptions, generateCrioFiles } from '../../src/crio/generate.js';
import { parsePolicyInput } from '../../src/crio/input.js';
import { NODE } from '../../src/crio/layout.js';
import { checkPolicyJson, identityProblem, remapPrefixProblem } from '../../src/crio/policy-json.js';
import { checkRegistriesD, checkTargetDir, keyWithinScope } from '../../src/crio/registries-d.js';
import { parseVersion } from '../../src/crio/versions.js';
import { HOOKS_D_TEMPLATE } from '../../src/installer/hook-entry.js';

const V523 = parseVersion('5.23');
const V533 = parseVersion('5.33');
const NEWEST = parseVersion('5.35');
const PEM_B64 = Buffer.from('-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n').toString('base64');

function gen(doc: Record<string, unknown>, opts: Partial<CrioOptions> = {}) {
  const input = parsePolicyInput({ version: 1, ...doc }, '/src/policy.yaml');
  return generateCrioFiles(input, { source: '/src/policy.yaml', keyBase: '/etc/sigguard', ...opts });
}
const policyOf = (r: ReturnType<typeof gen>) => JSON.parse(r.files.get('policy.json')!);
const sig = (extra: Record<string, unknown> = {}) => ({
  type: 'sigstoreSigned',
  keyPath: 'keys/a.pub',
  signedIdentity: { type: 'matchRepository' },
  signatureFormats: ['legacy'],
  ...extra,
});

describe('policy.json: default and scopes', () => {
  it('maps default reject and accept', () => {
    expect(policyOf(gen({ default: 'reject' })).default).toEqual([{ type: 'reject' }]);
    expect(policyOf(gen({ default: 'accept' })).default).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(policyOf(gen({})).default).toEqual([{ type: 'reject' }]);
  });

  it('writes every scope under transports.docker, sorted, with requirement objects in a stable key order', () => {
    const r = gen({
      scopes: {
        'registry.k8s.io': [{ type: 'insecureAcceptAnything' }],
        'quay.io/evil': [{ type: 'reject' }],
        '*.example.com': [sig()],
        'localhost:5001': [sig({ keyPath: '/abs/k.pub', signedIdentity: undefined })],
      },
    });
    const text = r.files.get('policy.json')!;
    const p = JSON.parse(text);
    expect(Object.keys(p)).toEqual(['default', 'transports']);
    expect(Object.keys(p.transports.docker)).toEqual(['*.example.com', 'localhost:5001', 'quay.io/evil', 'registry.k8s.io']);
    expect(p.transports.docker['registry.k8s.io']).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(p.transports.docker['quay.io/evil']).toEqual([{ type: 'reject' }]);
    expect(p.transports.docker['*.example.com']).toEqual([
      { type: 'sigstoreSigned', keyPath: '/etc/sigguard/keys/a.pub', signedIdentity: { type: 'matchRepository' } },
    ]);
    // signedIdentity is always written; sigguard's default is policy.json's
    expect(p.transports.docker['localhost:5001']).toEqual([
      { type: 'sigstoreSigned', keyPath: '/abs/k.pub', signedIdentity: { type: 'matchRepoDigestOrExact' } },
    ]);
    expect(Object.keys(p.transports.docker['*.example.com'][0])).toEqual(['type', 'keyPath', 'signedIdentity']);
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('resolves relative key paths against the policy folder or --key-dir, and keeps absolute ones', () => {
    const r = gen(
      { scopes: { 'a.io': [sig({ keyPath: '../keys/k.pub' })], 'b.io': [sig({ keyPath: '/k/b.pub' })] } },
      { keyBase: '/etc/sigguard/policy' },
    );
    const d = policyOf(r).transports.docker;
    expect(d['a.io'][0].keyPath).toBe('/etc/sigguard/keys/k.pub');
    expect(d['b.io'][0].keyPath).toBe('/k/b.pub');
  });

  it.each([
    [{ type: 'matchExact' }],
    [{ type: 'matchRepoDigestOrExact' }],
    [{ type: 'matchRepository' }],
    [{ type: 'exactReference', dockerReference: 'quay.io/org/app:v1' }],
    [{ type: 'exactRepository', dockerRepository: 'quay.io/org/app' }],
    [{ type: 'remapIdentity', prefix: 'mirror.local:5000/quay', signedPrefix: 'quay.io' }],
  ])('writes signedIdentity %j as is', (identity) => {
    const d = policyOf(gen({ scopes: { 'a.io': [sig({ signedIdentity: identity })] } }, { target: V523 })).transports.docker;
    expect(d['a.io'][0].signedIdentity).toEqual(identity);
  });

  it('repeats docker.io scopes under registry-1.docker.io, which containers/image does not fold into docker.io', () => {
    const r = gen({ scopes: { 'docker.io': [{ type: 'reject' }], 'docker.io/library/busybox': [sig()], 'quay.io': [{ type: 'reject' }] } });
    const d = policyOf(r).transports.docker;
    expect(Object.keys(d)).toEqual([
      'docker.io',
      'docker.io/library/busybox',
      'quay.io',
      'registry-1.docker.io',
      'registry-1.docker.io/library/busybox',
    ]);
    expect(d['registry-1.docker.io/library/busybox']).toEqual(d['docker.io/library/busybox']);
    expect(r.sigstoreScopes).toEqual(['docker.io/library/busybox', 'registry-1.docker.io/library/busybox']);
  });

  it('is deterministic: the same policy in another order gives the same bytes', () => {
    const a = gen({ default: 'reject', exemptNamespaces: ['b', 'a'], scopes: { 'x.io': [sig()], 'a.io': [{ type: 'reject' }] } });
    const b = gen({ scopes: { 'a.io': [{ type: 'reject' }], 'x.io': [sig()] }, exemptNamespaces: ['a', 'b', 'a'], default: 'reject' });
    expect([...a.files.entries()]).toEqual([...b.files.entries()]);
    expect([...a.files.keys()]).toEqual([...a.files.keys()].sort());
  });
});

describe('what the target containers/image knows', () => {
  it('turns a one-element keyPaths into keyPath for targets before 5.33, and keeps it from 5.33 (and 5.32.2) on', () => {
    const doc = { scopes: { 'a.io': [sig({ keyPath: undefined, keyPaths: ['k.pub'] })] } };
    expect(policyOf(gen(doc, { target: V523 })).transports.docker['a.io'][0]).toMatchObject({ keyPath: '/etc/sigguard/k.pub' });
    expect(policyOf(gen(doc, { target: V523 })).transports.docker['a.io'][0].keyPaths).toBeUndefined();
    expect(policyOf(gen(doc, { target: V533 })).transports.docker['a.io'][0]).toMatchObject({ keyPaths: ['/etc/sigguard/k.pub'] });
    expect(policyOf(gen(doc, { target: parseVersion('5.32.2') })).transports.docker['a.io'][0].keyPaths).toHaveLength(1);
    expect(policyOf(gen(doc)).transports.docker['a.io'][0].keyPaths).toHaveLength(1); // default target: the newest known
  });

  it('does the same for keyDatas, and writes keyData as strict padded base64', () => {
    const lenient = PEM_B64.replace(/=+$/, '');
    const doc = { scopes: { 'a.io': [sig({ keyPath: undefined, keyDatas: [lenient] })] } };
    expect(policyOf(gen(doc, { target: V523 })).transports.docker['a.io'][0].keyData).toBe(PEM_B64);
    expect(policyOf(gen(doc, { target: V533 })).transports.docker['a.io'][0].keyDatas).toEqual([PEM_B64]);
  });

  it('refuses two keys for a target that cannot say "any of", naming the rule', () => {
    const doc = { scopes: { 'a.io': [sig({ keyPath: undefined, keyPaths: ['k1.pub', 'k2.pub'] })] } };
    expect(() => gen(doc, { target: V523 })).toThrow(
      /scopes\."a\.io"\[0\]: keyPaths with 2 keys .*containers\/image 5\.32\.2 or later .*target is containers\/image 5\.23.*--hook-fallback/,
    );
    expect(() => gen(doc, { target: parseVersion('5.32') })).toThrow(/keyPaths with 2 keys/);
    expect(policyOf(gen(doc, { target: V533 })).transports.docker['a.io'][0].keyPaths).toHaveLength(2);
    const fb = gen(doc, { target: V523, hookFallback: true });
    expect(policyOf(fb).transports.docker['a.io']).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(fb.handedToHook).toEqual([
      { where: 'scopes."a.io"[0]', why: expect.stringMatching(/insecureAcceptAnything and the hook alone enforces it/) },
    ]);
    expect(fb.files.get('NOTES.txt')).toContain('scopes."a.io"[0]: keyPaths with 2 keys');
  });

  it('refuses targets containers/image cannot serve', () => {
    expect(() => parseVersion('5.21')).toThrow(/5\.22 or later/);
    expect(() => parseVersion('4.9')).toThrow(/v5/);
    expect(() => parseVersion('latest')).toThrow(/X\.Y/);
    expect(parseVersion('v5.23.1')).toEqual({ major: 5, minor: 23, patch: 1 });
  });
});

describe('what CRI-O cannot enforce is never dropped silently', () => {
  it('writes [legacy, bundle] (the default) with a one-line warning that CRI-O accepts only legacy signatures', () => {
    const r = gen({
      scopes: {
        'a.io': [sig({ signatureFormats: undefined })],
        'b.io': [sig({ signatureFormats: ['legacy', 'bundle'] })],
        'c.io': [sig()],
      },
    });
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/^scopes\."a\.io"\[0\]: CRI-O verifies only legacy \.sig signatures/);
    expect(r.warnings.every((w) => !w.includes('\n'))).toBe(true);
    expect(policyOf(r).transports.docker['a.io'][0].type).toBe('sigstoreSigned');
    expect(r.files.get('NOTES.txt')).toContain('scopes."b.io"[0]: CRI-O verifies only legacy');
  });

  it('refuses [bundle] alone, naming the scope and the reason; --hook-fallback accepts the scope in policy.json and hands it to the hook', () => {
    const doc = { default: 'reject', scopes: { 'quay.io/org/app': [sig({ signatureFormats: ['bundle'] })] } };
    expect(() => gen(doc)).toThrow(
      /cannot enforce scopes\."quay\.io\/org\/app"\[0\]: signatureFormats: \[bundle\].*reads only legacy \.sig signatures \(--hook-fallback/,
    );
    const r = gen(doc, { hookFallback: true });
    expect(policyOf(r).transports.docker['quay.io/org/app']).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(r.sigstoreScopes).toEqual([]);
    expect(r.files.get('NOTES.txt')).toMatch(
      /Handed to the hook \(--hook-fallback\):\n {2}- scopes\."quay\.io\/org\/app"\[0\]: signatureFormats: \[bundle\]/,
    );
  });

  it('with --hook-fallback keeps what containers/image can check of a scope and leaves out only the rest', () => {
    const r = gen({ scopes: { 'a.io': [sig(), sig({ keyPath: 'b.pub', signatureFormats: ['bundle'] })] } }, { hookFallback: true });
    expect(policyOf(r).transports.docker['a.io']).toEqual([
      { type: 'sigstoreSigned', keyPath: '/etc/sigguard/keys/a.pub', signedIdentity: { type: 'matchRepository' } },
    ]);
    expect(r.handedToHook[0]!.why).toMatch(/left out of policy\.json \(CRI-O enforces the scope's other requirements\)/);
    expect(r.sigstoreScopes).toEqual(['a.io']);
  });

  it('refuses mode: warn (containers/image has no warn mode); --hook-fallback accepts everything in policy.json', () => {
    const doc = { mode: 'warn', default: 'reject', scopes: { 'a.io': [sig()], 'b.io': [{ type: 'reject' }] } };
    expect(() => gen(doc)).toThrow(/cannot enforce mode: mode: warn .*no warn mode/);
    const r = gen(doc, { hookFallback: true });
    expect(policyOf(r)).toEqual({ default: [{ type: 'insecureAcceptAnything' }], transports: { docker: {} } });
    expect(r.files.get('registries.d/sigguard.yaml')).toMatch(/\ndocker: \{\}\n$/);
    expect(r.handedToHook.map((h) => h.where)).toEqual(['mode']);
  });

  it('lists every refusal in one error', () => {
    const doc = {
      mode: 'warn',
      exemptNamespaces: ['../etc'],
      scopes: { 'a.io': [sig({ signatureFormats: ['bundle'] })], 'b.io': [sig({ keyPath: undefined, keyPaths: ['1', '2'] })] },
    };
    let message = '';
    try {
      gen(doc, { target: V523 });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/exemptNamespaces\[0\]: "\.\.\/etc" is not a Kubernetes namespace name/);
    expect(message).toMatch(/mode: mode: warn/);
    expect(message).toMatch(/scopes\."a\.io"\[0\]/);
    expect(message).toMatch(/scopes\."b\.io"\[0\]/);
    // a bad namespace name is refused even with --hook-fallback
    expect(() => gen({ exemptNamespaces: ['Kube_System'] }, { hookFallback: true })).toThrow(/not a Kubernetes namespace name/);
  });

  it('writes an exactReference that can never match as reject, which is what sigguard does with it', () => {
    const r = gen({ scopes: { 'a.io': [sig({ signedIdentity: { type: 'exactReference', dockerReference: 'quay.io/org/app' } })] } });
    expect(policyOf(r).transports.docker['a.io']).toEqual([{ type: 'reject' }]);
    expect(r.warnings[0]).toMatch(/can never be satisfied .*neither a tag nor a digest.*written as reject/);
  });

  it('refuses a remapIdentity prefix containers/image would refuse (it would refuse the whole file)', () => {
    const doc = { scopes: { 'a.io': [sig({ signedIdentity: { type: 'remapIdentity', prefix: 'a.io/Upper', signedPrefix: 'b.io' } })] } };
    expect(() => gen(doc)).toThrow(/scopes\."a\.io"\[0\]: signedIdentity: prefix "a\.io\/Upper" is not/);
    expect(remapPrefixProblem('docker.io/library')).toBeUndefined();
    expect(remapPrefixProblem('localhost:5000')).toBeUndefined();
    expect(remapPrefixProblem('quay.io/org:v1')).toMatch(/not a host/); // no tags in prefixes
    expect(identityProblem({ type: 'exactRepository', dockerRepository: 'quay.io/Org' })).toMatch(/not a valid image reference/);
  });
});

describe('certificates and Rekor: fulcio, pki, keyless, requireRekor', () => {
  const V524 = parseVersion('5.24');
  const V534 = parseVersion('5.34');
  const V535 = parseVersion('5.35');
  const fulcio = { caPath: 'fulcio_v1.crt.pem', oidcIssuer: 'https://github.com/login/oauth', subjectEmail: 'mitr@redhat.com' };
  const fulcioReq = (extra: Record<string, unknown> = {}) => sig({ keyPath: undefined, fulcio, rekorPublicKeyPath: 'rekor.pub', ...extra });
  const pki = {
    caRootsPath: 'roots.pem',
    caIntermediatesPath: '/abs/intermediates.pem',
    subjectEmail: 'ci@example.com',
    subjectHostname: 'build.example.com',
  };
  const keyless = (k: Record<string, unknown> = {}) =>
    sig({ keyPath: undefined, keyless: { identities: [{ issuer: 'https://github.com/login/oauth', subject: 'dev@example.com' }], ...k } });
  const first = (r: ReturnType<typeof gen>, scope = 'a.io') => policyOf(r).transports.docker[scope][0];

  it('maps fulcio + rekorPublicKeyPath to policy.json fulcio from 5.24, paths rebased like keyPath, in a stable key order', () => {
    const r = gen({ scopes: { 'a.io': [fulcioReq()] } }, { target: V524, keyBase: '/etc/sigguard' });
    expect(first(r)).toEqual({
      type: 'sigstoreSigned',
      fulcio: { caPath: '/etc/sigguard/fulcio_v1.crt.pem', oidcIssuer: 'https://github.com/login/oauth', subjectEmail: 'mitr@redhat.com' },
      rekorPublicKeyPath: '/etc/sigguard/rekor.pub',
      signedIdentity: { type: 'matchRepository' },
    });
    expect(Object.keys(first(r))).toEqual(['type', 'fulcio', 'rekorPublicKeyPath', 'signedIdentity']);
    expect(r.sigstoreScopes).toEqual(['a.io']);
    expect(r.files.get('NOTES.txt')).toMatch(
      /needs containers\/image 5\.24 or later[^\n]*\n {2}- fulcio, rekorPublicKeyPath and rekorPublicKeyData in sigstoreSigned \(containers\/image 5\.24\): scopes\."a\.io"\[0\]/,
    );
    // --key-dir: as on the node
    expect(first(gen({ scopes: { 'a.io': [fulcioReq()] } }, { keyBase: '/node/policy' })).fulcio.caPath).toBe(
      '/node/policy/fulcio_v1.crt.pem',
    );
  });

  it('writes caData and rekorPublicKeyData as strict base64', () => {
    const lenient = PEM_B64.replace(/=+$/, '');
    const doc = {
      scopes: {
        'a.io': [
          fulcioReq({
            fulcio: { ...fulcio, caPath: undefined, caData: lenient },
            rekorPublicKeyPath: undefined,
            rekorPublicKeyData: lenient,
          }),
        ],
      },
    };
    const req = first(gen(doc, { target: V524 }));
    expect(req.fulcio).toEqual({ caData: PEM_B64, oidcIssuer: fulcio.oidcIssuer, subjectEmail: fulcio.subjectEmail });
    expect(req.rekorPublicKeyData).toBe(PEM_B64);
  });

  it('refuses fulcio before 5.24 (5.23 does not know the key), naming the scope; --hook-fallback hands it to the hook', () => {
    const doc = { scopes: { 'a.io': [fulcioReq()] } };
    expect(() => gen(doc, { target: V523 })).toThrow(
      /scopes\."a\.io"\[0\]: fulcio needs containers\/image 5\.24 or later, and the target is containers\/image 5\.23.*--hook-fallback/,
    );
    const fb = gen(doc, { target: V523, hookFallback: true });
    expect(policyOf(fb).transports.docker['a.io']).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(fb.files.get('NOTES.txt')).toContain('scopes."a.io"[0]: fulcio needs containers/image 5.24');
  });

  it('rekorPublicKeyPaths: the list from 5.32.2, one key as rekorPublicKeyPath before, two refused before', () => {
    const one = { scopes: { 'a.io': [fulcioReq({ rekorPublicKeyPath: undefined, rekorPublicKeyPaths: ['rekor.pub'] })] } };
    expect(first(gen(one, { target: V524 })).rekorPublicKeyPath).toBe('/etc/sigguard/rekor.pub');
    expect(first(gen(one, { target: V533 })).rekorPublicKeyPaths).toEqual(['/etc/sigguard/rekor.pub']);
    const two = { scopes: { 'a.io': [fulcioReq({ rekorPublicKeyPath: undefined, rekorPublicKeyDatas: [PEM_B64, PEM_B64] })] } };
    expect(first(gen(two, { target: parseVersion('5.32.2') })).rekorPublicKeyDatas).toHaveLength(2);
    expect(() => gen(two, { target: parseVersion('5.32.1') })).toThrow(
      /rekorPublicKeyDatas with 2 keys \(any of them\) needs containers\/image 5\.32\.2 or later/,
    );
    // fulcio cannot go without Rekor: --hook-fallback leaves the whole requirement out
    expect(policyOf(gen(two, { target: V524, hookFallback: true })).transports.docker['a.io']).toEqual([
      { type: 'insecureAcceptAnything' },
    ]);
  });

  it('maps pki from 5.35, and refuses it for 5.34 naming the scope and the reason', () => {
    const doc = { scopes: { 'a.io': [sig({ keyPath: undefined, pki })] } };
    expect(first(gen(doc, { target: V535 }))).toEqual({
      type: 'sigstoreSigned',
      pki: {
        caRootsPath: '/etc/sigguard/roots.pem',
        caIntermediatesPath: '/abs/intermediates.pem',
        subjectEmail: 'ci@example.com',
        subjectHostname: 'build.example.com',
      },
      signedIdentity: { type: 'matchRepository' },
    });
    expect(first(gen(doc)).pki.caRootsPath).toBe('/etc/sigguard/roots.pem'); // the default target
    const data = {
      scopes: { 'a.io': [sig({ keyPath: undefined, pki: { caRootsData: PEM_B64.replace(/=+$/, ''), subjectHostname: 'h.example.com' } })] },
    };
    expect(first(gen(data)).pki).toEqual({ caRootsData: PEM_B64, subjectHostname: 'h.example.com' });
    expect(() => gen(doc, { target: V534 })).toThrow(
      /scopes\."a\.io"\[0\]: pki needs containers\/image 5\.35 or later, and the target is containers\/image 5\.34/,
    );
    const fb = gen(doc, { target: V534, hookFallback: true });
    expect(fb.handedToHook[0]!.why).toMatch(/^pki needs containers\/image 5\.35 .*insecureAcceptAnything and the hook alone enforces it/);
  });

  it('maps key + rekorPublicKeyPath (Rekor required) to keyPath + rekorPublicKeyPath from 5.24', () => {
    const doc = {
      scopes: {
        'a.io': [sig({ rekorPublicKeyPath: 'rekor.pub', requireRekor: true })],
        'b.io': [sig({ keyPath: undefined, keyPaths: ['k1.pub', 'k2.pub'], rekorPublicKeyPaths: ['r1.pub', 'r2.pub'] })],
      },
    };
    const r = gen(doc);
    expect(first(r)).toEqual({
      type: 'sigstoreSigned',
      keyPath: '/etc/sigguard/keys/a.pub',
      rekorPublicKeyPath: '/etc/sigguard/rekor.pub',
      signedIdentity: { type: 'matchRepository' },
    });
    expect(first(r, 'b.io')).toMatchObject({
      keyPaths: ['/etc/sigguard/k1.pub', '/etc/sigguard/k2.pub'],
      rekorPublicKeyPaths: ['/etc/sigguard/r1.pub', '/etc/sigguard/r2.pub'],
    });
    expect(Object.keys(first(r, 'b.io'))).toEqual(['type', 'keyPaths', 'rekorPublicKeyPaths', 'signedIdentity']);
    expect(first(gen({ scopes: { 'a.io': [sig({ rekorPublicKeyPath: 'rekor.pub' })] } }, { target: V524 })).rekorPublicKeyPath).toBe(
      '/etc/sigguard/rekor.pub',
    );
  });

  it('refuses key + Rekor where containers/image cannot check the entry; --hook-fallback writes the key alone and says so', () => {
    const old = { scopes: { 'a.io': [sig({ rekorPublicKeyPath: 'rekor.pub' })] } };
    expect(() => gen(old, { target: V523 })).toThrow(/scopes\."a\.io"\[0\]: rekorPublicKeyPath needs containers\/image 5\.24 or later/);
    const publicGood = { scopes: { 'a.io': [sig({ requireRekor: true })] } };
    expect(() => gen(publicGood)).toThrow(
      /scopes\."a\.io"\[0\]: requireRekor: true without a rekorPublicKey\* field trusts the public-good Rekor .*no built-in Rekor key.*--hook-fallback/,
    );
    for (const [doc, target] of [
      [old, V523],
      [publicGood, NEWEST],
    ] as const) {
      const fb = gen(doc, { target, hookFallback: true });
      expect(first(fb)).toEqual({
        type: 'sigstoreSigned',
        keyPath: '/etc/sigguard/keys/a.pub',
        signedIdentity: { type: 'matchRepository' },
      });
      expect(fb.handedToHook).toEqual([
        {
          where: 'scopes."a.io"[0]',
          why: expect.stringMatching(/written without its Rekor condition: CRI-O checks the key, the hook the key and the Rekor entry$/),
        },
      ]);
      expect(fb.sigstoreScopes).toEqual(['a.io']);
    }
    // requireRekor: false (or absent) with no Rekor key: a plain key requirement
    expect(first(gen({ scopes: { 'a.io': [sig({ requireRekor: false })] } }))).toEqual({
      type: 'sigstoreSigned',
      keyPath: '/etc/sigguard/keys/a.pub',
      signedIdentity: { type: 'matchRepository' },
    });
  });

  it('refuses keyless: containers/image reads no Sigstore trusted root; names the nearest fulcio rule when the identity fits one', () => {
    expect(() => gen({ scopes: { 'a.io': [keyless()] } })).toThrow(
      /scopes\."a\.io"\[0\]: keyless: containers\/image cannot read a Sigstore trusted root \(keyless\.trustedRoot "public-good"\); what it can check of this rule is fulcio \{caPath, oidcIssuer, subjectEmail\} with rekorPublicKeyPath.*\(--hook-fallback leaves these to the hook\)/,
    );
    const fb = gen({ scopes: { 'a.io': [keyless()], 'b.io': [sig(), keyless({ trustedRoot: 'root.json' })] } }, { hookFallback: true });
    expect(policyOf(fb).transports.docker['a.io']).toEqual([{ type: 'insecureAcceptAnything' }]);
    expect(policyOf(fb).transports.docker['b.io']).toEqual([
      { type: 'sigstoreSigned', keyPath: '/etc/sigguard/keys/a.pub', signedIdentity: { type: 'matchRepository' } },
    ]);
    expect(fb.handedToHook.map((h) => h.where)).toEqual(['scopes."a.io"[0]', 'scopes."b.io"[1]']);
    expect(fb.handedToHook[1]!.why).toMatch(/keyless\.trustedRoot "root\.json".*left out of policy\.json/);
  });

  it.each([
    [
      { identities: [{ issuer: 'https://i', subjectRegExp: '^.*@example\\.com$' }] },
      /keyless\.identities\[0\]\.subjectRegExp \(a regular expression/,
    ],
    [
      { identities: [{ issuerRegExp: '^https://.*$', subject: 'a@example.com' }] },
      /keyless\.identities\[0\]\.issuerRegExp \(a regular expression/,
    ],
    [
      { identities: [{ issuer: 'https://i', subject: 'https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main' }] },
      /keyless\.identities\[0\]\.subject "https:.*" \(not an email address/,
    ],
    [
      {
        identities: [
          { issuer: 'https://i', subject: 'a@example.com' },
          { issuer: 'https://i', subject: 'b@example.com' },
        ],
      },
      /keyless\.identities \(2 identities, any of them/,
    ],
    [
      { extensions: { githubWorkflowRepository: 'acme/app' } },
      /keyless\.extensions\.githubWorkflowRepository \(containers\/image checks no Fulcio certificate extension\)/,
    ],
    [{ requireRekor: false }, /keyless\.requireRekor: false \(policy\.json's fulcio always requires a Rekor entry/],
  ])('refuses keyless %j naming the field', (k, why) => {
    let message = '';
    try {
      gen({ scopes: { 'a.io': [keyless(k)] } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/scopes\."a\.io"\[0\]: keyless: containers\/image cannot read a Sigstore trusted root .*, nor express /);
    expect(message).toMatch(why);
    expect(message).not.toContain('what it can check');
  });

  it('warns about bundles for certificate rules as for keys, and refuses [bundle] alone', () => {
    const r = gen({ scopes: { 'a.io': [fulcioReq({ signatureFormats: undefined })] } });
    expect(r.warnings[0]).toMatch(/^scopes\."a\.io"\[0\]: CRI-O verifies only legacy \.sig signatures/);
    expect(() => gen({ scopes: { 'a.io': [sig({ keyPath: undefined, pki, signatureFormats: ['bundle'] })] } })).toThrow(
      /signatureFormats: \[bundle\]/,
    );
  });
});

describe('registries.d, namespaces, crio.conf.d, hooks.d', () => {
  it('enables sigstore attachments for exactly the scopes that verify signatures, wildcards included', () => {
    const r = gen({
      scopes: { '*.example.com': [sig()], 'a.io/ns': [sig()], 'a.io': [{ type: 'insecureAcceptAnything' }], 'b.io': [{ type: 'reject' }] },
    });
    const text = r.files.get('registries.d/sigguard.yaml')!;
    expect(parseYaml(text)).toEqual({
      docker: { '*.example.com': { 'use-sigstore-attachments': true }, 'a.io/ns': { 'use-sigstore-attachments': true } },
    });
    expect(text).toMatch(/^# Generated by sigguard crio-policy from policy\.yaml/);
    expect(checkRegistriesD(text)).toEqual(['*.example.com', 'a.io/ns']);
  });

  it('writes an accept-anything policy per exempt namespace', () => {
    const r = gen({ exemptNamespaces: ['kube-system', 'monitoring'] });
    expect([...r.files.keys()].filter((f) => f.startsWith('policies/'))).toEqual(['policies/kube-system.json', 'policies/monitoring.json']);
    expect(JSON.parse(r.files.get('policies/kube-system.json')!)).toEqual({ default: [{ type: 'insecureAcceptAnything' }] });
  });

  it('sets signature_policy and signature_policy_dir under [crio.image]', () => {
    const conf = parseToml(gen({}).files.get('crio.conf.d/10-sigguard.conf')!);
    expect(conf).toEqual({ crio: { image: { signature_policy: NODE.policyJson, signature_policy_dir: NODE.namespacePolicies } } });
  });

  it('writes the hooks.d template for the hook as the second layer', () => {
    const h = JSON.parse(gen({}).files.get('hooks.d/sigguard.json')!);
    expect(h).toEqual(HOOKS_D_TEMPLATE);
  });

  it('reads the policy without loading keys (paths may not exist here)', () => {
    expect(() => gen({ scopes: { 'a.io': [sig({ keyPath: '/nonexistent/k.pub' })] } })).not.toThrow();
    expect(() => parsePolicyInput({ version: 1, scopes: { 'index.docker.io/library/busybox': [{ type: 'reject' }] } }, 'p.yaml')).toThrow(
      /invalid policy p\.yaml: scopes\."index\.docker\.io\/library\/busybox": not in normalised form/,
    );
    expect(() => parsePolicyInput({ version: 1, scopez: {} }, 'p.yaml')).toThrow(/unknown field "scopez"/);
  });
});

describe('checkPolicyJson re-parses like containers/image', () => {
  const p = (req: unknown) => JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { 'a.io': [req] } } });
  it.each([
    [{ type: 'sigstoreSigned', keyPaths: ['/k'], signedIdentity: { type: 'matchRepository' } }, /Unknown key "keyPaths"/],
    [{ type: 'sigstoreSigned', keyPath: 'rel/k', signedIdentity: { type: 'matchRepository' } }, /not an absolute path/],
    [{ type: 'sigstoreSigned', keyData: 'not base64!', signedIdentity: { type: 'matchRepository' } }, /base64/],
    [{ type: 'sigstoreSigned', keyPath: '/k', keyData: PEM_B64, signedIdentity: { type: 'matchRepository' } }, /exactly one of/],
    [{ type: 'sigstoreSigned', keyPath: '/k', signedIdentity: { type: 'matchRepository', x: 1 } }, /Unknown key "x"/],
    [{ type: 'reject', extra: true }, /Unknown key "extra"/],
    [{ type: 'signedBy' }, /unknown requirement type/],
  ])('refuses %j for 5.23', (req, why) => {
    expect(() => checkPolicyJson(p(req), V523)).toThrow(why);
  });
  it.each([
    [
      '5.23',
      {
        type: 'sigstoreSigned',
        fulcio: { caPath: '/ca', oidcIssuer: 'https://i', subjectEmail: 'a@b' },
        rekorPublicKeyPath: '/r',
        signedIdentity: { type: 'matchRepository' },
      },
      /Unknown key "fulcio"/,
    ],
    [
      '5.23',
      { type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPath: '/r', signedIdentity: { type: 'matchRepository' } },
      /Unknown key "rekorPublicKeyPath"/,
    ],
    [
      '5.32',
      { type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPaths: ['/r'], signedIdentity: { type: 'matchRepository' } },
      /Unknown key "rekorPublicKeyPaths"/,
    ],
    [
      '5.34',
      { type: 'sigstoreSigned', pki: { caRootsPath: '/ca', subjectEmail: 'a@b' }, signedIdentity: { type: 'matchRepository' } },
      /Unknown key "pki"/,
    ],
    [
      '5.24',
      {
        type: 'sigstoreSigned',
        fulcio: { caPath: '/ca', oidcIssuer: 'https://i', subjectEmail: 'a@b' },
        signedIdentity: { type: 'matchRepository' },
      },
      /fulcio needs one of rekorPublicKeyPath/,
    ],
    [
      '5.24',
      {
        type: 'sigstoreSigned',
        fulcio: { caPath: '/ca', caData: PEM_B64, oidcIssuer: 'https://i', subjectEmail: 'a@b' },
        rekorPublicKeyPath: '/r',
        signedIdentity: { type: 'matchRepository' },
      },
      /exactly one of caPath, caData/,
    ],
    [
      '5.24',
      {
        type: 'sigstoreSigned',
        fulcio: { caPath: '/ca', oidcIssuer: 'https://i' },
        rekorPublicKeyPath: '/r',
        signedIdentity: { type: 'matchRepository' },
      },
      /fulcio\.subjectEmail: must be a non-empty string/,
    ],
    [
      '5.24',
      {
        type: 'sigstoreSigned',
        fulcio: { caPath: '/ca', oidcIssuer: 'https://i', subjectEmail: 'a@b', x: 1 },
        rekorPublicKeyPath: '/r',
        signedIdentity: { type: 'matchRepository' },
      },
      /Unknown key "x"/,
    ],
    [
      '5.24',
      {
        type: 'sigstoreSigned',
        keyPath: '/k',
        rekorPublicKeyPath: '/r',
        rekorPublicKeyData: PEM_B64,
        signedIdentity: { type: 'matchRepository' },
      },
      /at most one of rekorPublicKeyPath/,
    ],
    [
      '5.24',
      { type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPath: 'rel/r', signedIdentity: { type: 'matchRepository' } },
      /rekorPublicKeyPath: not an absolute path/,
    ],
    [
      '5.35',
      {
        type: 'sigstoreSigned',
        pki: { caRootsPath: '/ca', subjectEmail: 'a@b' },
        rekorPublicKeyPath: '/r',
        signedIdentity: { type: 'matchRepository' },
      },
      /not supported for pki/,
    ],
    [
      '5.35',
      { type: 'sigstoreSigned', pki: { caRootsPath: '/ca' }, signedIdentity: { type: 'matchRepository' } },
      /at least one of subjectEmail, subjectHostname/,
    ],
    [
      '5.35',
      {
        type: 'sigstoreSigned',
        pki: { caRootsPath: '/ca', caIntermediatesPath: '/i', caIntermediatesData: PEM_B64, subjectEmail: 'a@b' },
        signedIdentity: { type: 'matchRepository' },
      },
      /at most one of caIntermediatesPath/,
    ],
    [
      '5.35',
      {
        type: 'sigstoreSigned',
        keyPath: '/k',
        pki: { caRootsPath: '/ca', subjectEmail: 'a@b' },
        signedIdentity: { type: 'matchRepository' },
      },
      /exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki/,
    ],
  ])('for %s refuses %j', (version, req, why) => {
    expect(() => checkPolicyJson(p(req), parseVersion(version))).toThrow(why);
  });
  it('accepts fulcio and Rekor keys from 5.24, the plural Rekor keys from 5.32.2, pki from 5.35', () => {
    const fulcioReq = {
      type: 'sigstoreSigned',
      fulcio: { caData: PEM_B64, oidcIssuer: 'https://i', subjectEmail: 'a@b' },
      rekorPublicKeyData: PEM_B64,
      signedIdentity: { type: 'matchRepository' },
    };
    expect(() => checkPolicyJson(p(fulcioReq), parseVersion('5.24'))).not.toThrow();
    expect(() =>
      checkPolicyJson(
        p({ type: 'sigstoreSigned', keyData: PEM_B64, rekorPublicKeyDatas: [PEM_B64], signedIdentity: { type: 'matchRepository' } }),
        parseVersion('5.32.2'),
      ),
    ).not.toThrow();
    expect(() =>
      checkPolicyJson(
        p({ type: 'sigstoreSigned', pki: { caRootsData: PEM_B64, subjectHostname: 'h' }, signedIdentity: { type: 'matchRepository' } }),
        parseVersion('5.35'),
      ),
    ).not.toThrow();
  });
  it('accepts keyPaths from 5.33, and refuses empty requirement lists and a missing default', () => {
    expect(() =>
      checkPolicyJson(p({ type: 'sigstoreSigned', keyPaths: ['/k'], signedIdentity: { type: 'matchRepository' } }), V533),
    ).not.toThrow();
    expect(() => checkPolicyJson(JSON.stringify({ default: [] }), V523)).toThrow(/must not be empty/);
    expect(() => checkPolicyJson(JSON.stringify({ transports: {} }), V523)).toThrow(/Default policy is missing/);
  });
});

describe('a node registries.d folder: a key may appear only once', () => {
  it('finds our keys in other files, and warns where another file switches attachments off below our scope', () => {
    const check = checkTargetDir(
      ['quay.io/org', '*.example.com'],
      [
        { path: '/etc/containers/registries.d/default.yaml', text: 'default-docker:\n  lookaside: file:///var/lib/containers/sigstore\n' },
        {
          path: '/etc/containers/registries.d/quay.yaml',
          text: 'docker:\n  quay.io/org:\n    use-sigstore-attachments: true\n  quay.io/org/app:\n    use-sigstore-attachments: false\n',
        },
        {
          path: '/etc/containers/registries.d/r.yaml',
          text: 'docker:\n  r.example.com:\n    use-sigstore-attachments: false\n  quay.io:\n    use-sigstore-attachments: false\n',
        },
        { path: '/etc/containers/registries.d/empty.yaml', text: '' },
      ],
    );
    expect(check.clashes).toEqual([{ key: 'quay.io/org', file: '/etc/containers/registries.d/quay.yaml' }]);
    expect(check.warnings).toHaveLength(2);
    expect(check.warnings[0]).toMatch(/quay\.yaml: "quay\.io\/org\/app" sets use-sigstore-attachments: false.*scope "quay\.io\/org"/);
    expect(check.warnings[1]).toMatch(/r\.yaml: "r\.example\.com" .*scope "\*\.example\.com"/);
    expect(() => checkTargetDir(['a.io'], [{ path: '/x/bad.yaml', text: 'docker: [\n' }])).toThrow(/cannot parse \/x\/bad\.yaml/);
  });

  it.each([
    ['quay.io/org/app', 'quay.io/org', true],
    ['quay.io/org:v1', 'quay.io/org', true],
    ['quay.io/organisation', 'quay.io/org', false],
    ['quay.io:5000/x', 'quay.io', false],
    ['a.b.example.com/x', '*.example.com', true],
    ['*.b.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
  ])('%s is within %s: %s', (key, scope, want) => {
    expect(keyWithinScope(key, scope)).toBe(want);
  });
});
