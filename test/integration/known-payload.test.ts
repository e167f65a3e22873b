/**
 * cosign's legacy payload known without a fetch (src/discovery/known-payload.ts), against what the
 * real cosign 2.5 and cosign 3.1 (in its legacy format) write into a real registry: byte for byte
 * the same, a check that fetches no payload blob, and a payload with annotations (`cosign sign -a`)
 * still fetched and verified.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownPayload } from '../../src/discovery/known-payload.js';
import { sigguardCheck } from '../support/cli.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

describe("cosign's legacy payload, known without its blob", () => {
  let w: World;
  let policy: string;
  let annotated: string;
  let legacy3: string;
  beforeAll(async () => {
    w = await makeWorld();
    policy = w.policy('known-payload.yaml', standardPolicy(w));
    annotated = (await w.push.image('annotated', 'v1', 'annotated')).digest;
    await w.cosign.sign2(w.trusted.key, `${w.registry.host}/annotated@${annotated}`, ['-a', 'creator=ci']);
    legacy3 = (await w.push.image('legacy3', 'v1', 'legacy3')).digest;
    await w.cosign.sign3Legacy(w.trusted.key, `${w.registry.host}/legacy3@${legacy3}`);
  }, 120_000);
  afterAll(() => w?.stop());

  const layerOf = async (repo: string, digest: string) => (await w.push.getManifest(repo, sigTag(digest))).json.layers[0]!;

  it('is byte for byte the payload cosign 2.5 wrote for the image', async () => {
    const digest = w.digests.signed!;
    const layer = await layerOf('signed', digest);
    const blob = await w.push.getBlob('signed', layer.digest);
    expect(knownPayload(layer, { registry: w.registry.host, repository: 'signed' }, digest)).toEqual(blob);
  });

  it('is byte for byte the payload cosign 3.1 writes in its legacy format (--new-bundle-format=false)', async () => {
    const layer = await layerOf('legacy3', legacy3);
    const blob = await w.push.getBlob('legacy3', layer.digest);
    expect(knownPayload(layer, { registry: w.registry.host, repository: 'legacy3' }, legacy3)).toEqual(blob);
  });

  it('a check of the cosign-signed image allows without fetching the payload blob', async () => {
    const digest = w.digests.signed!;
    const layer = await layerOf('signed', digest);
    const r = await sigguardCheck(['--json', '--explain', '--policy', policy, w.ref('signed')]);
    expect(r.verdict?.decision, r.stderr).toBe('allow');
    const urls = (r.verdict?.requests ?? []).map((q) => q.url);
    expect(urls.some((u) => u.includes(`/manifests/${sigTag(digest)}`))).toBe(true);
    expect(urls.filter((u) => u.includes(`/blobs/${layer.digest}`))).toEqual([]);
  });

  it('a payload with annotations (cosign sign -a) is not the bare one: fetched, verified, allowed', async () => {
    const layer = await layerOf('annotated', annotated);
    expect(knownPayload(layer, { registry: w.registry.host, repository: 'annotated' }, annotated)).toBeUndefined();
    const r = await sigguardCheck(['--json', '--explain', '--policy', policy, `${w.registry.host}/annotated@${annotated}`]);
    expect(r.verdict?.decision, r.stderr).toBe('allow');
    expect((r.verdict?.requests ?? []).filter((q) => q.url.includes(`/blobs/${layer.digest}`))).toHaveLength(1);
  });
});
