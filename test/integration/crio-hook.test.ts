/**
 * The hook on CRI-O. CRI-O's annotations carry no manifest digest (ImageRef is its storage
 * id), so the hook asks CRI-O's socket ImageStatus(image id) for the repo digests and keeps
 * the one in the pod's repository. There is no CRI-O here: a small CRI server on a unix
 * socket answers ImageStatus as CRI-O does (image id, repo tags, repo digests).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHook } from '../support/run-hook.js';
import { FakeCrio, crioState } from '../support/fake-crio.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let crio: FakeCrio;
let policy: string;
let config: string;
let n = 0;
/** image id → repo digests, as CRI-O would answer */
const images = { set: (id: string, repoDigests: string[]) => crio.images.set(id, { id, repoDigests }) };

beforeAll(async () => {
  requireTools(SIGGUARD);
  w = await makeWorld();
  policy = w.policy('crio-hook-policy.yaml', standardPolicy(w));
  crio = await FakeCrio.start();
  config = w.config('crio-hook-config.yaml', `node:\n  crioSocket: ${crio.socket}\n`);
}, 240_000);

afterAll(async () => {
  await crio?.close();
  await w?.stop();
});

/** The image id CRI-O gives an image: its config digest's hex. */
const configHex = async (repo: string): Promise<string> =>
  (await w.push.getManifest(repo, w.digests[repo]!)).json.config.digest.slice('sha256:'.length);

const hook = (imageName: string, imageId: string, cfg = config) =>
  runHook({ config: cfg, policy, log: join(w.cosign.dir, `crio-${n + 1}.log`), input: crioState(`crio-${++n}`, imageName, imageId) });

describe('the hook on CRI-O asks ImageStatus for the digest', () => {
  it('a tag is pinned to the repo digest in the pod’s repository: signed runs', async () => {
    // CRI-O's image id is the config digest's hex: the hook binds the verified manifest to it
    const id = await configHex('signed');
    images.set(id, [`quay.io/elsewhere/app@sha256:${'0'.repeat(64)}`, `${w.registry.host}/signed@${w.digests.signed}`]);
    const r = await hook(`${w.registry.host}/signed:v1`, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.d).toMatchObject({
      decision: 'allow',
      code: 'ALLOWED',
      runtime: 'cri-o',
      digest: w.digests.signed,
      namespace: 'default',
      pod: 'web',
    });
    expect(crio.asked.at(-1)).toBe(id);
  });

  it('unsigned content under the tag is refused', async () => {
    const id = await configHex('unsigned');
    images.set(id, [`${w.registry.host}/unsigned@${w.digests.unsigned}`]);
    const r = await hook(`${w.registry.host}/unsigned:v1`, id);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `sigguard: denied ${w.registry.host}/unsigned@${w.digests.unsigned}: no legacy or bundle signature found [NO_SIGNATURE]\n`,
    );
  });

  it('no repo digest in the pod’s repository is refused, naming what the node has', async () => {
    const id = 'c'.repeat(64);
    images.set(id, [`quay.io/elsewhere/app@sha256:${'0'.repeat(64)}`]);
    const r = await hook(`${w.registry.host}/signed:v1`, id);
    expect(r.code).toBe(1);
    expect(r.d).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
    expect(r.d.reason).toContain('quay.io/elsewhere/app@sha256:');
  });

  it('an image CRI-O does not have is refused', async () => {
    const r = await hook(`${w.registry.host}/signed:v1`, 'd'.repeat(64));
    expect(r.d).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
    expect(r.d.reason).toMatch(/the node has no image d{64}/);
  });

  it('no CRI-O socket: a tag is refused, never resolved silently at the registry', async () => {
    const noSocket = w.config('crio-nosocket.yaml', `node:\n  crioSocket: ${join(tmpdir(), 'no-such-crio.sock')}\n`);
    const r = await hook(`${w.registry.host}/signed:v1`, 'a'.repeat(64), noSocket);
    expect(r.d).toMatchObject({ decision: 'deny', code: 'NODE_LOOKUP_FAILED' });
  });
});
