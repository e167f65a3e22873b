/**
 * sigstoreAttested against attestations made by the real cosign: cosign 2.5's legacy `.att`
 * images and cosign 3.1's bundles as referrers, for SLSA provenance, SPDX and CycloneDX SBOMs,
 * vulnerability scans and custom predicates, with keys. Each attack is a case: another
 * signer, another predicate type, an attestation copied from another image, a tampered
 * predicate, a signature offered as an attestation and the reverse. Where `cosign
 * verify-attestation --key --type` can judge the same thing (presence, signature, subject),
 * sigguard agrees with it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckJson, sigguard, sigguardCheck } from '../support/cli.js';
import { COSIGN2, COSIGN3, SIGGUARD, requireTools } from '../support/paths.js';
import { type ImageIndexJson, type ImageManifestJson, type OciDescriptor, sha256 } from '../support/push.js';
import { makePki } from '../support/pki.js';
import { type World, makeWorld } from '../support/world.js';

const PROV = 'https://slsa.dev/provenance/v1';
const SPDX = 'https://spdx.dev/Document';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const CDX = 'https://cyclonedx.org/bom';
const CUSTOM = 'https://cosign.sigstore.dev/attestation/v1';
/** cosign's --type for each predicate type. */
const COSIGN_TYPE: Record<string, string> = {
  [PROV]: 'slsaprovenance1',
  [SPDX]: 'spdxjson',
  [VULN]: 'vuln',
  [CDX]: 'cyclonedx',
  [CUSTOM]: 'custom',
};

const BUILDER_CONDITION =
  'predicate.buildDefinition.buildType == "https://example.com/build/v1" && predicate.runDetails.builder.id.startsWith("https://github.com/acme/")';
const provenance = (builder: string) => ({
  buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} },
  runDetails: { builder: { id: builder } },
});
const GOOD = provenance('https://github.com/acme/builder');
const EVIL = provenance('https://github.com/evil/builder');
const scan = (severities: string[]) => ({
  scanner: {
    uri: 'pkg:github/aquasecurity/trivy',
    version: '0.50.0',
    result: { vulnerabilities: severities.map((s, i) => ({ id: `CVE-${i}`, severity: s })) },
  },
});

let w: World;
type Version = 2 | 3;
/** repo → its ref, per cosign version. */
const images: Record<string, string> = {};

function predicateFile(name: string, value: unknown): string {
  const file = join(w.cosign.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

async function image(repo: string): Promise<string> {
  const pushed = await w.push.image(repo, 'v1', repo);
  images[repo] = `${w.registry.host}/${repo}@${pushed.digest}`;
  return images[repo]!;
}

async function attest(v: Version, ref: string, type: string, predicate: unknown, key = w.trusted.key): Promise<void> {
  const file = predicateFile(`${COSIGN_TYPE[type]}-${Math.random().toString(36).slice(2)}`, predicate);
  if (v === 2) await w.cosign.attest2(key, ref, COSIGN_TYPE[type]!, file);
  else await w.cosign.attest3(key, ref, COSIGN_TYPE[type]!, file);
}

function policy(name: string, requirement: string): string {
  return w.policy(
    `${name}.yaml`,
    `version: 1
default: reject
scopes:
  "${w.registry.host}":
${requirement}`,
  );
}

const attested = (predicateType: string, extra = '', key = w.trusted.pub) => `    - type: sigstoreAttested
      predicateType: ${predicateType}
      keyPath: ${key}
${extra}`;

async function check(policyFile: string, ref: string, explain = false): Promise<CheckJson> {
  const r = await sigguardCheck(['--policy', policyFile, '--json', ...(explain ? ['--explain'] : []), ref]);
  expect(r.verdict, r.stderr).toBeDefined();
  return r.verdict!;
}

const repo = (ref: string) => ref.slice(ref.indexOf('/') + 1, ref.indexOf('@'));
const digestOf = (ref: string) => ref.slice(ref.indexOf('@') + 1);

/** Rewrites each DSSE envelope of an image's `.att` layers (cosign 2). */
async function editAtt(ref: string, edit: (envelope: { payload: string; payloadType: string; signatures: unknown[] }) => unknown) {
  const tag = `${digestOf(ref).replace(':', '-')}.att`;
  const m = await w.push.getManifest(repo(ref), tag);
  const layers: OciDescriptor[] = [];
  for (const layer of m.json.layers) {
    const env = JSON.parse((await w.push.getBlob(repo(ref), layer.digest)).toString());
    const b = await w.push.blob(repo(ref), Buffer.from(JSON.stringify(edit(env))));
    layers.push({ ...layer, digest: b.digest, size: b.size });
  }
  await w.push.manifest(repo(ref), tag, { ...m.json, layers }, m.json.mediaType ?? m.mediaType);
}

/** The referrers tag index of an image (cosign 3 on a registry without the referrers API). */
async function referrers(ref: string): Promise<ImageIndexJson> {
  return (await w.push.getManifest<ImageIndexJson>(repo(ref), digestOf(ref).replace(':', '-'))).json;
}

/**
 * Rewrites the bundle referrers of `from` as referrers of `to` (same repository or another), each bundle through `edit`;
 * what is left of `to`'s referrers stays. The attack of a registry writer: copy or change what cosign attached.
 */
async function moveBundles(from: string, to: string, edit: (bundle: Record<string, unknown>) => unknown = (b) => b, keep = true) {
  const index = await referrers(from);
  const entries: OciDescriptor[] = [];
  const toSubject = await w.push.getManifest(repo(to), digestOf(to));
  for (const entry of index.manifests) {
    const m = (await w.push.getManifest<ImageManifestJson>(repo(from), entry.digest)).json;
    const layer = m.layers[0]!;
    const bundle = JSON.parse((await w.push.getBlob(repo(from), layer.digest)).toString());
    const b = await w.push.blob(repo(to), Buffer.from(JSON.stringify(edit(bundle))));
    await w.push.blob(repo(to), await w.push.getBlob(repo(from), m.config.digest));
    const next = {
      ...m,
      layers: [{ ...layer, digest: b.digest, size: b.size }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(to), size: toSubject.bytes.length },
    };
    const pushed = await w.push.manifest(repo(to), sha256(JSON.stringify(next)), next, 'application/vnd.oci.image.manifest.v1+json');
    entries.push({ ...entry, digest: pushed.digest, size: pushed.bytes.length });
  }
  let existing: OciDescriptor[] = [];
  if (keep)
    existing = await referrers(to).then(
      (i) => i.manifests,
      () => [],
    );
  await w.push.manifest(
    repo(to),
    digestOf(to).replace(':', '-'),
    { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [...existing, ...entries] },
    'application/vnd.oci.image.index.v1+json',
  );
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tamper = (payloadB64: string) => b64(Buffer.from(payloadB64, 'base64').toString().replace('acme', 'evil'));

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3);
  w = await makeWorld();
  await Promise.all(
    ([2, 3] as Version[]).map(async (v) => {
      await attest(v, await image(`good${v}`), PROV, GOOD);
      await attest(v, await image(`evil${v}`), PROV, EVIL);
      await attest(v, await image(`otherkey${v}`), PROV, GOOD, w.other.key);
      const sbom = await image(`sbom${v}`);
      await attest(v, sbom, SPDX, { spdxVersion: 'SPDX-2.3', name: 'app', packages: [] });
      await attest(v, sbom, CDX, { bomFormat: 'CycloneDX', specVersion: '1.5', components: [] });
      await attest(v, await image(`scan-clean${v}`), VULN, scan(['LOW', 'MEDIUM']));
      await attest(v, await image(`scan-critical${v}`), VULN, scan(['LOW', 'CRITICAL']));
      await attest(v, await image(`custom${v}`), CUSTOM, { ok: true });
      const mixed = await image(`mixed${v}`);
      await attest(v, mixed, PROV, EVIL);
      await attest(v, mixed, PROV, GOOD, w.other.key);
      await attest(v, mixed, SPDX, { spdxVersion: 'SPDX-2.3' });
      await attest(v, mixed, PROV, GOOD);
      const signed = await image(`signed-only${v}`);
      if (v === 2) await w.cosign.sign2(w.trusted.key, signed);
      else await w.cosign.sign3(w.trusted.key, signed);
      // attacks on what cosign attached
      await attest(v, await image(`tampered${v}`), PROV, GOOD);
      await image(`foreign${v}`);
    }),
  );
  // the predicate changed after signing: acme → evil in the signed payload
  await editAtt(images.tampered2!, (env) => ({ ...env, payload: tamper(env.payload) }));
  await moveBundles(
    images.tampered3!,
    images.tampered3!,
    (b) => {
      const env = b.dsseEnvelope as { payload: string };
      return { ...b, dsseEnvelope: { ...env, payload: tamper(env.payload) } };
    },
    false,
  );
  // good2's attestation (for good2's digest) copied under foreign2's .att tag; good3's bundles made referrers of foreign3
  const att = await w.push.getManifest(repo(images.good2!), `${digestOf(images.good2!).replace(':', '-')}.att`);
  for (const b of [att.json.config, ...att.json.layers])
    await w.push.blob(repo(images.foreign2!), await w.push.getBlob(repo(images.good2!), b.digest));
  await w.push.manifest(repo(images.foreign2!), `${digestOf(images.foreign2!).replace(':', '-')}.att`, att.json, att.mediaType);
  await moveBundles(images.good3!, images.foreign3!);
}, 240_000);
afterAll(async () => w?.stop());

describe.each([2, 3] as Version[])('attestations written by cosign %i', (v) => {
  const cosignSays = (ref: string, type: string) => w.cosign.verifyAttestation(v, w.trusted.pub, ref, COSIGN_TYPE[type]!);

  it('SLSA provenance by the trusted key whose builder the condition accepts: allowed', async () => {
    const verdict = await check(policy(`prov-${v}`, attested(PROV, `      condition: '${BUILDER_CONDITION}'\n`)), images[`good${v}`]!);
    expect(verdict.decision, verdict.reason).toBe('allow');
    expect(verdict.code).toBe('ALLOWED');
    expect(verdict.reason).toContain(`${v === 2 ? 'legacy' : 'bundle'} attestation ${PROV}`);
    expect((await cosignSays(images[`good${v}`]!, PROV)).reason).toBe('accepted');
  });

  it('provenance from another builder: ATTESTATION_REJECTED naming the condition', async () => {
    const verdict = await check(policy(`prov-${v}`, attested(PROV, `      condition: '${BUILDER_CONDITION}'\n`)), images[`evil${v}`]!);
    expect(verdict.decision).toBe('deny');
    expect(verdict.code).toBe('ATTESTATION_REJECTED');
    expect(verdict.reason).toContain('predicate.buildDefinition.buildType');
    expect(verdict.reason).toContain('evaluated to false');
    // cosign sees a valid attestation: only the condition refuses
    expect((await cosignSays(images[`evil${v}`]!, PROV)).reason).toBe('accepted');
  });

  it('the same without a condition: any trusted provenance is enough', async () => {
    expect((await check(policy(`prov-any-${v}`, attested(PROV)), images[`evil${v}`]!)).decision).toBe('allow');
  });

  it('attested by another key: NO_ATTESTATION, as cosign refuses it', async () => {
    const verdict = await check(policy(`prov-${v}`, attested(PROV)), images[`otherkey${v}`]!);
    expect(verdict.decision).toBe('deny');
    expect(verdict.code).toBe('NO_ATTESTATION');
    expect(verdict.reason).toContain('by a trusted signer');
    expect((await cosignSays(images[`otherkey${v}`]!, PROV)).ok).toBe(false);
  });

  it('an SBOM where provenance is required: NO_ATTESTATION (wrong predicate type), as cosign finds none of that type', async () => {
    const verdict = await check(policy(`prov-${v}`, attested(PROV)), images[`sbom${v}`]!);
    expect(verdict.code).toBe('NO_ATTESTATION');
    expect((await cosignSays(images[`sbom${v}`]!, PROV)).ok).toBe(false);
    expect((await cosignSays(images[`sbom${v}`]!, SPDX)).reason).toBe('accepted');
  });

  it('SBOM present (SPDX and CycloneDX, both required)', async () => {
    const both = policy(`sbom-${v}`, `${attested(SPDX)}${attested(CDX)}`);
    expect((await check(both, images[`sbom${v}`]!)).decision).toBe('allow');
    expect((await check(both, images[`good${v}`]!)).code).toBe('NO_ATTESTATION');
  });

  it('no critical vulnerabilities: a clean scan passes, a scan with a critical finding is rejected', async () => {
    const p = policy(
      `vuln-${v}`,
      attested(VULN, `      condition: 'predicate.scanner.result.vulnerabilities.all(x, x.severity != "CRITICAL")'\n`),
    );
    expect((await check(p, images[`scan-clean${v}`]!)).decision).toBe('allow');
    const critical = await check(p, images[`scan-critical${v}`]!);
    expect(critical.code).toBe('ATTESTATION_REJECTED');
  });

  it('a custom predicate, its Data a string', async () => {
    const p = policy(`custom-${v}`, attested(CUSTOM, `      condition: 'predicate.Data.contains("\\"ok\\":true")'\n`));
    expect((await check(p, images[`custom${v}`]!)).decision).toBe('allow');
  });

  it('several attestations (a failing builder, another key, an SBOM, a good one): the good one allows; explain lists each', async () => {
    const verdict = await check(
      policy(`prov-${v}`, attested(PROV, `      condition: '${BUILDER_CONDITION}'\n`)),
      images[`mixed${v}`]!,
      true,
    );
    expect(verdict.decision, verdict.reason).toBe('allow');
    const statuses = (verdict.attestations ?? []).map((a) => a.status).sort();
    expect(statuses).toEqual(['condition-false', 'untrusted', 'verified']);
    for (const a of verdict.attestations ?? []) expect(a.predicateType).toBe(PROV);
  });

  it('a signature is no attestation: a signed image without attestations is NO_ATTESTATION', async () => {
    const verdict = await check(policy(`prov-${v}`, attested(PROV)), images[`signed-only${v}`]!);
    expect(verdict.code).toBe('NO_ATTESTATION');
    expect((await cosignSays(images[`signed-only${v}`]!, PROV)).ok).toBe(false);
  });

  it('an attestation is no signature: an image with only SBOM attestations by the trusted key fails sigstoreSigned', async () => {
    const p = policy(
      `signed-${v}`,
      `    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n`,
    );
    const verdict = await check(p, images[`sbom${v}`]!);
    expect(verdict.decision).toBe('deny');
    expect(['NO_SIGNATURE', 'MALFORMED_SIGNATURE']).toContain(verdict.code);
    // cosign 2 agrees; cosign 3.1.1's `verify --key` accepts any bundle by the key, an SBOM attestation's too:
    // sigguard is stricter on purpose (its signature check wants cosign's signature predicate)
    expect((await w.cosign.verify(v, w.trusted.pub, images[`sbom${v}`]!)).ok).toBe(v === 3);
  });

  it('a tampered predicate (signed payload changed): NO_ATTESTATION, as cosign refuses it', async () => {
    const verdict = await check(policy(`prov-any-${v}`, attested(PROV)), images[`tampered${v}`]!);
    expect(verdict.decision).toBe('deny');
    expect(verdict.code).toBe('NO_ATTESTATION');
    expect((await cosignSays(images[`tampered${v}`]!, PROV)).ok).toBe(false);
  });

  it("another image's attestation attached here (its statement names the other digest): NO_ATTESTATION, as cosign refuses it", async () => {
    const verdict = await check(policy(`prov-any-${v}`, attested(PROV)), images[`foreign${v}`]!);
    expect(verdict.decision).toBe('deny');
    expect(verdict.code).toBe('NO_ATTESTATION');
    expect(verdict.reason).toContain(`statement names ${digestOf(images[`good${v}`]!)}`);
    expect((await cosignSays(images[`foreign${v}`]!, PROV)).ok).toBe(false);
  });

  it('signature and attestation both required: each is judged apart', async () => {
    const p = policy(
      `both-${v}`,
      `    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n${attested(PROV)}`,
    );
    expect((await check(p, images[`signed-only${v}`]!)).code).toBe('NO_ATTESTATION');
    expect((await check(p, images[`good${v}`]!)).decision).toBe('deny');
  });

  it("an attestation over the requirement's maxBytes is left unread: NO_ATTESTATION naming the cap", async () => {
    const big = await image(`big${v}`);
    await attest(v, big, SPDX, {
      spdxVersion: 'SPDX-2.3',
      packages: Array.from({ length: 64 }, (_, i) => ({ name: `pkg-${i}`, versionInfo: '1.0.0' })),
    });
    const verdict = await check(policy(`small-${v}`, attested(SPDX, '      maxBytes: 1024\n')), big);
    expect(verdict.code).toBe('NO_ATTESTATION');
    expect(verdict.reason).toMatch(/no readable https:\/\/spdx.dev\/Document attestation: attestation of \d+ bytes is larger than 1024/);
    expect((await check(policy(`default-cap-${v}`, attested(SPDX)), big)).decision).toBe('allow');
  });

  it('signatureFormats selects the format: the other version is not read', async () => {
    const other = v === 2 ? 'bundle' : 'legacy';
    const verdict = await check(policy(`fmt-${v}`, attested(PROV, `      signatureFormats: [${other}]\n`)), images[`good${v}`]!);
    expect(verdict.code).toBe('NO_ATTESTATION');
  });
});

describe('check --explain, the verdict cache, multi-arch', () => {
  it('--explain lists each attestation examined with its predicate type, signer and result', async () => {
    const p = policy('explain', attested(PROV, `      condition: '${BUILDER_CONDITION}'\n`));
    const r = await sigguard(['check', '--policy', p, '--explain', images.mixed2!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sigstoreAttested predicateType=${PROV}`);
    expect(r.stdout).toContain(`condition: ${BUILDER_CONDITION}`);
    expect(r.stdout).toMatch(new RegExp(`attestations: \\n  - legacy ${PROV.replace(/[./]/g, '\\$&')} on sha256:`));
    expect(r.stdout).toContain(`verified signer=${w.trusted.pub}`);
    expect(r.stdout).toContain('condition-false');
    expect(r.stdout).toContain('evaluated to false');
    expect(r.stdout).toMatch(/untrusted \[SIGNATURE\]/);
  });

  it('the condition is in the cache key: a cached allow never answers for a stricter condition', async () => {
    const config = w.config('att-cache.yaml');
    const run = async (p: string) => {
      const r = await sigguard(['check', '--json', '--cache', '--config', config, '--policy', p, images.good3!]);
      return JSON.parse(r.stdout) as CheckJson;
    };
    const lenient = policy(
      'cache-lenient',
      attested(PROV, `      condition: 'predicate.runDetails.builder.id.startsWith("https://github.com/")'\n`),
    );
    expect(await run(lenient)).toMatchObject({ decision: 'allow', cache: 'miss' });
    expect(await run(lenient)).toMatchObject({ decision: 'allow', cache: 'hit' });
    const strict = policy(
      'cache-strict',
      attested(PROV, `      condition: 'predicate.runDetails.builder.id == "https://github.com/other/builder"'\n`),
    );
    expect(await run(strict)).toMatchObject({ decision: 'deny', code: 'ATTESTATION_REJECTED', cache: 'miss' });
  });

  it("a multi-arch index: an attestation on the index, or on this node's platform manifest inside it, counts; one on another platform's does not", async () => {
    const amd = await w.push.image('multi-att', 'amd64', 'multi-att-amd64', 'amd64');
    const arm = await w.push.image('multi-att', 'arm64', 'multi-att-arm64', 'arm64');
    const index = await w.push.index('multi-att', 'v1', [
      { pushed: amd, arch: 'amd64' },
      { pushed: arm, arch: 'arm64' },
    ]);
    const ref = (d: string) => `${w.registry.host}/multi-att@${d}`;
    const p = policy('multi', attested(SPDX));
    const config = w.config('multi-amd64.yaml', 'platform: {os: linux, architecture: amd64}\n');
    const verdict = async () => {
      const r = await sigguardCheck(['--policy', p, '--config', config, '--json', ref(index.digest)]);
      return r.verdict!;
    };
    await attest(2, ref(arm.digest), SPDX, { spdxVersion: 'SPDX-2.3' });
    expect((await verdict()).code).toBe('NO_ATTESTATION');
    await attest(2, ref(amd.digest), SPDX, { spdxVersion: 'SPDX-2.3' });
    expect((await verdict()).decision).toBe('allow');
    const indexOnly = await w.push.index('multi-att', 'v2', [
      { pushed: arm, arch: 'arm64' },
      { pushed: amd, arch: 'amd64' },
    ]);
    await attest(3, ref(indexOnly.digest), SPDX, { spdxVersion: 'SPDX-2.3' });
    const r = await sigguardCheck(['--policy', p, '--config', config, '--json', ref(indexOnly.digest)]);
    expect(r.verdict?.decision, r.verdict?.reason).toBe('allow');
    expect(r.verdict?.reason).toContain('bundle attestation');
  });
});

describe('certificates (the local keyless setup: a private CA, a trusted root naming it)', () => {
  const ISSUER = 'https://issuer.example.com';
  const ALICE = 'alice@example.com';
  let keyless: string;
  let trustedRoot: string;
  const keylessRequirement = (root: string) =>
    attested(PROV, '', '').replace(
      '      keyPath: \n',
      `      keyless:\n        trustedRoot: ${root}\n        identities: [{issuer: "${ISSUER}", subject: "${ALICE}"}]\n        requireRekor: false\n        requireSCT: false\n`,
    );
  beforeAll(async () => {
    const pki = makePki(join(w.cosign.dir, 'pki'), 'sigguard test');
    const otherPki = makePki(join(w.cosign.dir, 'other-pki'), 'another');
    const alice = await w.cosign.keyPair('alice');
    const bob = await w.cosign.keyPair('bob');
    const mallory = await w.cosign.keyPair('mallory');
    const aliceLeaf = pki.leaf('alice', alice.pub, ALICE, ISSUER);
    const bobLeaf = pki.leaf('bob', bob.pub, 'bob@example.com', ISSUER);
    // alice's identity from a CA nobody trusts
    const malloryLeaf = otherPki.leaf('mallory', mallory.pub, ALICE, ISSUER);
    const file = predicateFile('keyless-prov', GOOD);
    for (const [who, key, leaf, root] of [
      ['alice', alice.key, aliceLeaf, pki.trustedRoot],
      ['bob', bob.key, bobLeaf, pki.trustedRoot],
      ['mallory', mallory.key, malloryLeaf, otherPki.trustedRoot],
    ] as const) {
      await w.cosign.attestCert2(key, leaf.cert, leaf.chain, await image(`${who}-legacy`), 'slsaprovenance1', file);
      await w.cosign.attestCert3(key, leaf.cert, leaf.chain, root, await image(`${who}-bundle`), 'slsaprovenance1', file);
    }
    trustedRoot = pki.trustedRoot;
    keyless = policy('keyless', keylessRequirement(trustedRoot));
  }, 120_000);

  it.each(['legacy', 'bundle'])('%s: the trusted identity from the trusted CA allows, with the condition', async (format) => {
    const p = policy(`keyless-cond-${format}`, `${keylessRequirement(trustedRoot)}      condition: '${BUILDER_CONDITION}'\n`);
    const verdict = await check(p, images[`alice-${format}`]!);
    expect(verdict.decision, verdict.reason).toBe('allow');
    expect(verdict.requirements[0]?.signer).toContain(ALICE);
  });

  it.each([
    ['bob-legacy', 'another identity'],
    ['bob-bundle', 'another identity'],
    ['mallory-legacy', 'the identity from another CA'],
    ['mallory-bundle', 'the identity from another CA'],
  ])('%s (%s): NO_ATTESTATION', async (repoName) => {
    const verdict = await check(keyless, images[repoName]!);
    expect(verdict.code, verdict.reason).toBe('NO_ATTESTATION');
    expect(verdict.reason).toContain(`no ${PROV} attestation by a trusted signer`);
    if (repoName.startsWith('bob')) expect(verdict.reason).toContain('bob@example.com');
  });

  it('a key requirement does not take a certificate-signed attestation by another key, nor the reverse', async () => {
    expect((await check(policy('prov-any-cert', attested(PROV)), images['alice-legacy']!)).code).toBe('NO_ATTESTATION');
    expect((await check(keyless, images.good2!)).code).toBe('NO_ATTESTATION');
  });
});

describe('policy validate', () => {
  it('reports a CEL type error with the file and the path', async () => {
    const p = policy('bad-cel', attested(PROV, `      condition: 'image.tag == "v1"'\n`));
    const r = await sigguard(['policy', 'validate', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${p}: scopes."${w.registry.host}"[0].condition: CEL: No such key: tag`);
    expect(r.stderr).toContain('[POLICY_INVALID]');
  });

  it("refuses cosign's signature predicate as an attestation type", async () => {
    const r = await sigguard(['policy', 'validate', policy('sign-pred', attested('https://sigstore.dev/cosign/sign/v1'))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cosign's signature, not an attestation");
  });

  it('crio-policy refuses an attestation requirement, or with --hook-fallback leaves its scope to the hook', async () => {
    const p = policy('crio', attested(PROV, `      condition: '${BUILDER_CONDITION}'\n`));
    const refused = await sigguard(['crio-policy', '--policy', p, '--out', join(w.cosign.dir, 'crio-refused')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `scopes."${w.registry.host}"[0]: sigstoreAttested (${PROV}): policy.json has no attestation requirement`,
    );
    expect(refused.stderr).toContain('[POLICY_INVALID]');
    const out = join(w.cosign.dir, 'crio-fallback');
    const handed = await sigguard(['crio-policy', '--policy', p, '--out', out, '--hook-fallback']);
    expect(handed.code, handed.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'policy.json'), 'utf8'));
    expect(json.transports.docker[w.registry.host]).toEqual([{ type: 'insecureAcceptAnything' }]);
  });

  it('accepts the three worked policies', async () => {
    const p = policy(
      'worked',
      `${attested(PROV, `      condition: '${BUILDER_CONDITION}'\n`)}${attested(SPDX)}${attested(VULN, `      condition: 'predicate.scanner.result.vulnerabilities.all(x, x.severity != "CRITICAL")'\n`)}`,
    );
    const r = await sigguard(['policy', 'validate', p]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
