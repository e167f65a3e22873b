/**
 * The policy side of issue 10 through bin/sigguard against a real registry:
 * - denyDigests: a tag, an index and a platform manifest that resolve to a denied digest are
 *   refused by `check` and by the hook, even with a fresh cached allow and with the registry
 *   down (stale-if-error), and under insecureAcceptAnything; a digest scope does not do this;
 * - bundles under exactRepository (a bundle names no repository);
 * - a JSON policy with a duplicate key, and a policy any user can write (the hook runs as root).
 */
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageCachedVerdicts } from '../support/cache-clock.js';
import { sigguard, sigguardCheck } from '../support/cli.js';
import { runHook } from '../support/run-hook.js';
import { FakeCrio, crioState } from '../support/fake-crio.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let n = 0;
let index: string;
let platformDigest: string;
let otherPlatformDigest: string;
/** The config digest's hex of this node's entry: CRI-O's image id for it. */
let platformImageId: string;
let crio: FakeCrio;
/** No CRI socket: the hook verifies the digest the pod names. */
const NO_CRI = 'node:\n  containerdSocket: /nonexistent/containerd.sock\n';
/** The fake CRI-O, which tells the hook the image id of an index's entry. */
const CRIO = () => `node:\n  containerdSocket: /nonexistent/containerd.sock\n  crioSocket: ${crio.socket}\n`;

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  const amd = await w.push.image('multi', 'amd64', 'multi-amd64', 'amd64');
  const arm = await w.push.image('multi', 'arm64', 'multi-arm64', 'arm64');
  index = (
    await w.push.index('multi', 'v1', [
      { pushed: amd, arch: 'amd64' },
      { pushed: arm, arch: 'arm64' },
    ])
  ).digest;
  const [mine, other] = process.arch === 'arm64' ? [arm, amd] : [amd, arm];
  [platformDigest, otherPlatformDigest] = [mine.digest, other.digest];
  platformImageId = (JSON.parse(mine.bytes.toString()) as { config: { digest: string } }).config.digest.replace('sha256:', '');
  crio = await FakeCrio.start();
  crio.images.set(platformImageId, { id: platformImageId, repoDigests: [`${w.registry.host}/multi@${index}`] });
  await w.cosign.sign2(w.trusted.key, `${w.registry.host}/multi@${index}`);
}, 240_000);
afterAll(async () => {
  await crio?.close();
  await w?.stop();
});

const deny = (digests: string[]) => `denyDigests: [${digests.map((d) => `"${d}"`).join(', ')}]\n`;
const policyDenying = (name: string, digests: string[]) => w.policy(`${name}-${++n}.yaml`, standardPolicy(w, deny(digests)));
const check = (policy: string, image: string) => sigguardCheck(['--policy', policy, '--json', image]);

const state = (image: string) =>
  JSON.stringify({
    ociVersion: '1.2.0',
    id: `c${++n}`,
    status: 'creating',
    pid: 1,
    bundle: '/nonexistent',
    annotations: criAnnotations(image),
  });

/** The hook for a Kubernetes container of `image` on containerd (no CRI socket), or on CRI-O (the fake) for an index. */
function hook(image: string, config: string, policy: string) {
  const log = join(w.cosign.dir, `deny-${++n}.log`);
  const input = image.includes(index) ? crioState(`c${n}`, image, platformImageId) : state(image);
  return runHook({ config, policy, log, input });
}

async function registryDown<T>(f: () => Promise<T>): Promise<T> {
  await w.registry.stop();
  try {
    return await f();
  } finally {
    await w.registry.start();
  }
}

describe('denyDigests: check', () => {
  it('refuses a tag that resolves to a denied digest (the signature is good)', async () => {
    const tag = `${w.registry.host}/signed:v1`;
    expect((await check(w.policy(`plain-${++n}.yaml`, standardPolicy(w)), tag)).verdict).toMatchObject({ decision: 'allow' });
    const r = await check(policyDenying('tag', [w.digests.signed!]), tag);
    expect(r.code).toBe(1);
    expect(r.verdict).toMatchObject({
      decision: 'deny',
      code: 'DIGEST_DENIED',
      digest: w.digests.signed,
      reason: `${w.digests.signed} is revoked (the policy's denyDigests lists it)`,
    });
  });

  it('refuses an index whose digest is denied, by tag or by digest', async () => {
    for (const image of [`${w.registry.host}/multi:v1`, `${w.registry.host}/multi@${index}`]) {
      expect((await check(policyDenying('index', [index]), image)).verdict).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    }
  });

  it("refuses an index whose entry for this node's platform is denied; another platform's entry does not matter", async () => {
    const image = `${w.registry.host}/multi:v1`;
    expect((await check(policyDenying('platform', [platformDigest]), image)).verdict).toMatchObject({
      decision: 'deny',
      code: 'DIGEST_DENIED',
      reason: expect.stringContaining(platformDigest),
    });
    expect((await check(policyDenying('other-platform', [otherPlatformDigest]), image)).verdict).toMatchObject({
      decision: 'allow',
      code: 'ALLOWED',
    });
  });

  it('applies under insecureAcceptAnything where the digest is known', async () => {
    const p = w.policy(
      `accept-${++n}.yaml`,
      `version: 1\ndefault: accept\n${deny([w.digests.unsigned!])}scopes:\n  "${w.registry.host}":\n    - type: insecureAcceptAnything\n`,
    );
    expect((await check(p, w.ref('unsigned'))).verdict).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    expect((await check(p, w.ref('otherkey'))).verdict).toMatchObject({ decision: 'allow', code: 'POLICY_ACCEPT' });
  });

  it('a digest scope (reject) does not stop the tag; policy validate says so and points at denyDigests', async () => {
    const p = w.policy(
      `digest-scope-${++n}.yaml`,
      `${standardPolicy(w)}  "${w.registry.host}/signed@${w.digests.signed}":\n    - type: reject\n`,
    );
    expect((await check(p, `${w.registry.host}/signed:v1`)).verdict).toMatchObject({ decision: 'allow' });
    expect((await check(p, w.ref('signed'))).verdict).toMatchObject({ decision: 'deny', code: 'POLICY_REJECT' });
    const v = await sigguard(['policy', 'validate', p]);
    expect(v.code).toBe(0);
    expect(v.stderr).toMatch(
      new RegExp(
        `sigguard: warning: scopes\\."[^"]+/signed@sha256:[0-9a-f]+": a digest scope matches only images named by that digest .* list ${w.digests.signed} in denyDigests\\n`,
      ),
    );
  });
});

describe('denyDigests: crio-policy', () => {
  it('refuses the policy (exit 2); --hook-fallback leaves it to the hook and says so in NOTES.txt', async () => {
    const p = policyDenying('crio', [w.digests.signed!]);
    const out = join(w.cosign.dir, `crio-out-${++n}`);
    const refused = await sigguard(['crio-policy', '--policy', p, '--out', out]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /cannot enforce denyDigests: denyDigests \(1\): policy\.json has no revocation list.*\[POLICY_INVALID\]\n$/,
    );
    const handed = await sigguard(['crio-policy', '--policy', p, '--out', out, '--hook-fallback']);
    expect(handed.code, handed.stderr).toBe(0);
    expect(handed.stderr).toMatch(/sigguard: warning: denyDigests: .*the hook refuses those digests at every container start/);
    expect(readFileSync(join(out, 'NOTES.txt'), 'utf8')).toMatch(/Handed to the hook[\s\S]*denyDigests/);
  });
});

describe('denyDigests: the hook and its verdict cache', () => {
  it('a fresh cached allow does not outlive a revocation of the digest, with the registry up or down', async () => {
    const config = w.config(`hook-${++n}.yaml`, NO_CRI);
    const plain = w.policy(`plain-${++n}.yaml`, standardPolicy(w));
    const revoked = policyDenying('hook', [w.digests.signed!]);
    expect((await hook(w.ref('signed'), config, plain)).d).toMatchObject({ decision: 'allow', cache: 'miss' });
    expect((await hook(w.ref('signed'), config, plain)).d).toMatchObject({ decision: 'allow', cache: 'hit' });
    const r = await hook(w.ref('signed'), config, revoked);
    expect(r.code).toBe(1);
    expect(r.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED', digest: w.digests.signed });
    expect(r.stderr).toMatch(/revoked \(the policy's denyDigests lists it\) \[DIGEST_DENIED\]/);
    await registryDown(async () => {
      expect((await hook(w.ref('signed'), config, plain)).d).toMatchObject({ decision: 'allow', cache: 'hit' });
      expect((await hook(w.ref('signed'), config, revoked)).d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
    });
  });

  it("an index's platform manifest revoked after a cached allow: refused on a hit, and with the registry down", async () => {
    const config = w.config(`hook-index-${++n}.yaml`, CRIO());
    const plain = w.policy(`plain-${++n}.yaml`, standardPolicy(w));
    const image = `${w.registry.host}/multi@${index}`;
    expect((await hook(image, config, plain)).d).toMatchObject({ decision: 'allow', cache: 'miss' });
    const revoked = policyDenying('hook-platform', [platformDigest]);
    const hit = await hook(image, config, revoked);
    expect(hit.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED', cache: 'hit', reason: expect.stringContaining(platformDigest) });
    await registryDown(async () => {
      expect((await hook(image, config, revoked)).d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
      expect((await hook(image, config, plain)).d).toMatchObject({ decision: 'allow', cache: 'hit' });
    });
  });

  it('stale-if-error never serves an allow for revoked content (index digest or platform manifest)', async () => {
    const config = w.config(`hook-stale-${++n}.yaml`, `  ttlSeconds: 1\n  maxStaleSeconds: 3600\n${CRIO()}`);
    const plain = w.policy(`plain-${++n}.yaml`, standardPolicy(w));
    const image = `${w.registry.host}/multi@${index}`;
    expect((await hook(image, config, plain)).d).toMatchObject({ decision: 'allow', cache: 'miss' });
    ageCachedVerdicts(`${config}.cache`, 1_500); // past the TTL, inside maxStale
    await registryDown(async () => {
      // the control: the stale allow is served while nothing is revoked
      expect((await hook(image, config, plain)).d).toMatchObject({ decision: 'allow', cache: 'stale' });
      const platform = await hook(image, config, policyDenying('stale-platform', [platformDigest]));
      expect(platform.code).toBe(1);
      expect(platform.d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED', cache: 'stale' });
      expect((await hook(image, config, policyDenying('stale-index', [index]))).d).toMatchObject({
        decision: 'deny',
        code: 'DIGEST_DENIED',
      });
    });
  });

  it('refuses a denied digest under insecureAcceptAnything without asking the registry', async () => {
    const config = w.config(`hook-accept-${++n}.yaml`, NO_CRI);
    const p = w.policy(
      `accept-${++n}.yaml`,
      `version: 1\n${deny([w.digests.unsigned!])}scopes:\n  "${w.registry.host}":\n    - type: insecureAcceptAnything\n`,
    );
    await registryDown(async () => {
      expect((await hook(w.ref('unsigned'), config, p)).d).toMatchObject({ decision: 'deny', code: 'DIGEST_DENIED' });
      expect((await hook(w.ref('otherkey'), config, p)).d).toMatchObject({ decision: 'allow', code: 'POLICY_ACCEPT' });
    });
  });
});

describe('bundles under identity rules', () => {
  it('exactRepository accepts no bundle unless signatureFormats lists it (a bundle names no repository)', async () => {
    const rule = (formats: string) =>
      `version: 1\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: exactRepository, dockerRepository: "${w.registry.host}/dev/app"}\n${formats}`;
    // the attack: an image signed (cosign 3 bundle, same key) for another repository, run from here
    const strict = await check(w.policy(`exact-${++n}.yaml`, rule('')), w.ref('signed-bundle'));
    expect(strict.verdict).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
    expect(strict.verdict?.requirements[0]?.signatureFormats).toEqual(['legacy']);
    const explicit = w.policy(`exact-bundle-${++n}.yaml`, rule('      signatureFormats: [legacy, bundle]\n'));
    expect((await check(explicit, w.ref('signed-bundle'))).verdict).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
    const v = await sigguard(['policy', 'validate', explicit]);
    expect(v.code).toBe(0);
    expect(v.stderr).toMatch(
      /sigguard: warning: scopes\.".*"\[0\]\.signatureFormats: signedIdentity exactRepository is checked on legacy signatures only/,
    );
  });
});

describe("the hook's own files", () => {
  it('refuses a JSON policy with a duplicate key (exit 2, naming file and key)', async () => {
    const p = w.policy(`dup-${++n}.json`, `{"version": 1, "default": "reject", "scopes": {}, "default": "accept"}`);
    const r = await check(p, w.ref('unsigned'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot parse ${p}: duplicate key "default"`);
  });

  it('refuses a world-writable default: accept policy owned by nobody: check exits 2, the hook refuses, a cached document too', async () => {
    const p = w.policy(`open-${++n}.yaml`, 'version: 1\ndefault: accept\n');
    const config = w.config(`open-config-${n}.yaml`, NO_CRI);
    // root's and 0644: read, and its validated document cached
    expect((await hook(w.ref('unsigned'), config, p)).d).toMatchObject({ decision: 'allow', code: 'POLICY_ACCEPT' });
    chmodSync(p, 0o666);
    chownSync(p, 65534, 65534);
    const c = await check(p, w.ref('unsigned'));
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(new RegExp(`refusing policy ${p}: owned by uid 65534, not root .*\\[POLICY_INVALID\\]`));
    // the same text, so the document cache holds it: the file is still checked
    const h = await hook(w.ref('unsigned'), config, p);
    expect(h.code).toBe(1);
    expect(h.d).toMatchObject({ decision: 'deny', code: 'POLICY_INVALID' });
    chownSync(p, 0, 0);
    expect((await hook(w.ref('unsigned'), config, p)).d).toMatchObject({
      decision: 'deny',
      code: 'POLICY_INVALID',
      reason: expect.stringContaining('writable by group and others (mode 0666)'),
    });
  });
});
