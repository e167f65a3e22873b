/**
 * Multi-arch indexes against a real registry: sigguard verifies the entry containerd runs
 * (containerd/platforms Only + images.Manifest), not the first one whose raw os/architecture
 * equal the node's. The attack: an unsigned entry E that containerd runs, next to a signed M
 * that a naive matcher picks. Platform fixed to linux/amd64 by configuration.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguard, sigguardCheck } from '../support/cli.js';
import { FakeCrio, crioState } from '../support/fake-crio.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { COSIGN2, SIGGUARD, requireTools } from '../support/paths.js';
import type { Pushed } from '../support/push.js';
import { type World, makeWorld, standardPolicy } from '../support/world.js';

let w: World;
let policy: string;
let config: string;
const REPO = 'multiarch';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** name → pushed image; E unsigned, M signed (both linux/amd64 configs), A an arm64 config, S signed */
const img: Record<string, Pushed> = {};
const cfg: Record<string, string> = {};
const idx: Record<string, string> = {};

type Entry = [name: string, platform: Record<string, unknown> | undefined, extra?: Record<string, unknown>];

async function index(tag: string, entries: Entry[]): Promise<string> {
  const list = entries.map(([name, platform, extra]) => ({ pushed: img[name]!, platform, ...(extra ? { extra } : {}) }));
  // one digest per case (the same entries under two tags would be one index, signed or not)
  idx[tag] = (await w.push.indexWith(REPO, tag, list, { 'org.example.case': tag })).digest;
  return idx[tag]!;
}

const linux = (architecture: string, more: Record<string, unknown> = {}) => ({ os: 'linux', architecture, ...more });

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2);
  w = await makeWorld();
  policy = w.policy('multiarch-policy.yaml', standardPolicy(w));
  config = w.config(
    'multiarch-config.yaml',
    `platform: {os: linux, architecture: amd64}\nnode:\n  containerdSocket: ${join(w.cosign.dir, 'no-containerd.sock')}\n`,
  );
  img.E = await w.push.image(REPO, 'e', 'E unsigned', 'amd64');
  img.M = await w.push.image(REPO, 'm', 'M signed', 'amd64');
  img.A = await w.push.image(REPO, 'a', 'A arm64', 'arm64');
  for (const n of ['E', 'M', 'A']) cfg[n] = (await w.push.getManifest(REPO, img[n]!.digest)).json.config.digest;
  await w.cosign.sign2(w.trusted.key, `${w.registry.host}/${REPO}@${img.M!.digest}`);

  await index('x86_64-first', [
    ['E', linux('x86_64')],
    ['M', linux('amd64')],
  ]);
  await index('amd64-first', [
    ['M', linux('amd64')],
    ['E', linux('x86_64')],
  ]);
  await index('case', [
    ['E', { os: 'Linux', architecture: 'AMD64' }],
    ['M', linux('amd64')],
  ]);
  await index('variant-v1', [
    ['E', linux('amd64', { variant: 'v1' })],
    ['M', linux('amd64')],
  ]);
  await index('variant-v2', [
    ['E', linux('amd64', { variant: 'v2' })],
    ['M', linux('amd64')],
  ]);
  await index('386-first', [
    ['E', linux('386')],
    ['M', linux('amd64')],
  ]);
  await index('no-platform-first', [
    ['E', undefined],
    ['M', linux('arm64')],
  ]);
  await index('no-platform-last', [
    ['E', undefined],
    ['M', linux('amd64')],
  ]);
  await index('no-platform-foreign', [
    ['A', undefined],
    ['M', linux('arm64')],
  ]);
  await index('empty-os', [
    ['E', { os: '', architecture: 'amd64' }],
    ['M', linux('amd64')],
  ]);
  await index('os-features', [
    ['E', linux('amd64', { 'os.features': ['x'] })],
    ['M', linux('amd64')],
  ]);
  await index('key-case', [
    ['E', undefined, { Platform: linux('amd64') }],
    ['M', linux('amd64')],
  ]);
  await index('arm64-only', [['A', linux('arm64')]]);
  // the index itself signed: its signature covers whichever entry runs
  await index('signed-index', [
    ['E', linux('x86_64')],
    ['M', linux('amd64')],
  ]);
  await w.cosign.sign2(w.trusted.key, `${w.registry.host}/${REPO}@${idx['signed-index']}`);
  // nested: an index whose amd64 entry is an index
  const inner = await index('inner', [
    ['E', linux('x86_64')],
    ['M', linux('amd64')],
  ]);
  const innerBytes = (await w.push.getManifest(REPO, inner)).bytes;
  const outer = await w.push.manifest(
    REPO,
    'nested',
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_INDEX, digest: inner, size: innerBytes.length, platform: linux('amd64') }],
    },
    OCI_INDEX,
  );
  idx.nested = outer.digest;
}, 240_000);

afterAll(async () => w?.stop());

const check = (tag: string) => sigguardCheck(['--policy', policy, '--config', config, '--json', `${w.registry.host}/${REPO}@${idx[tag]}`]);

describe('sigguard check picks the entry containerd runs (linux/amd64)', () => {
  it.each([
    // [index, decision, code, the entry verified]
    ['x86_64-first', 'deny', 'NO_SIGNATURE', 'E'],
    ['amd64-first', 'allow', 'ALLOWED', 'M'],
    ['case', 'deny', 'NO_SIGNATURE', 'E'],
    ['variant-v1', 'deny', 'NO_SIGNATURE', 'E'],
    ['variant-v2', 'allow', 'ALLOWED', 'M'],
    ['386-first', 'allow', 'ALLOWED', 'M'],
    ['no-platform-first', 'deny', 'NO_SIGNATURE', 'E'],
    ['no-platform-last', 'allow', 'ALLOWED', 'M'],
    ['empty-os', 'deny', 'NO_SIGNATURE', 'E'],
    ['os-features', 'allow', 'ALLOWED', 'M'],
    ['signed-index', 'allow', 'ALLOWED', 'E'],
  ])('%s: %s %s (verifies %s)', async (tag, decision, code, entry) => {
    const r = await check(tag);
    expect(r.verdict, r.stderr).toMatchObject({
      decision,
      code,
      digest: idx[tag],
      platformDigest: img[entry]!.digest,
      configDigest: cfg[entry],
    });
  });

  it('nested index: containerd descends into the best entry, then picks again', async () => {
    const r = await check('nested');
    expect(r.verdict, r.stderr).toMatchObject({
      decision: 'deny',
      code: 'NO_SIGNATURE',
      platformDigest: img.E!.digest,
      configDigest: cfg.E,
    });
  });

  it('the best entry states no platform and its config is for another: no manifest for the node', async () => {
    const r = await check('no-platform-foreign');
    expect(r.verdict, r.stderr).toMatchObject({ decision: 'deny', code: 'IMAGE_NOT_FOUND' });
    expect(r.verdict?.reason).toContain('states no platform');
  });

  it('no entry for the platform at all: refused (containerd could not run it either)', async () => {
    const r = await check('arm64-only');
    expect(r.verdict, r.stderr).toMatchObject({ decision: 'deny', code: 'IMAGE_NOT_FOUND' });
    expect(r.verdict?.reason).toContain('no manifest for platform linux/amd64');
  });

  it('a key containerd would read case-insensitively ("Platform") is refused as ambiguous', async () => {
    const r = await check('key-case');
    expect(r.verdict, r.stderr).toMatchObject({ decision: 'deny', code: 'REGISTRY_BAD_RESPONSE' });
    expect(r.verdict?.reason).toContain('"Platform"');
  });

  it('--explain names the platform manifest verified and its config', async () => {
    const r = await sigguard([
      'check',
      '--policy',
      policy,
      '--config',
      config,
      '--explain',
      `${w.registry.host}/${REPO}@${idx['x86_64-first']}`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`(platform manifest ${img.E!.digest})`);
    expect(r.stdout).toContain(`config:   ${cfg.E} `);
  });

  it('a single manifest carries its config digest', async () => {
    const r = await sigguardCheck(['--policy', policy, '--config', config, '--json', `${w.registry.host}/${REPO}@${img.M!.digest}`]);
    expect(r.verdict, r.stderr).toMatchObject({ decision: 'allow', configDigest: cfg.M });
    expect(r.verdict?.platformDigest).toBeUndefined();
  });
});

describe('the hook without a runtime to ask', () => {
  let n = 0;
  async function hook(image: string) {
    const log = join(w.cosign.dir, `multiarch-hook-${++n}.log`);
    const state = JSON.stringify({
      ociVersion: '1.2.0',
      id: `ma${n}`,
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(image),
    });
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log], { input: state });
    return { ...r, d: JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) };
  }

  it('an annotation naming an index is refused: which entry runs cannot be known', async () => {
    for (const tag of ['amd64-first', 'signed-index']) {
      const r = await hook(`${w.registry.host}/${REPO}@${idx[tag]}`);
      expect(r.code).toBe(1);
      expect(r.d, r.stderr).toMatchObject({ decision: 'deny', code: 'NODE_LOOKUP_FAILED' });
      expect(r.d.reason).toContain('multi-arch index');
    }
  });

  it('an annotation naming a single manifest is verified as it is (and cached as such)', async () => {
    const first = await hook(`${w.registry.host}/${REPO}@${img.M!.digest}`);
    expect(first.d, first.stderr).toMatchObject({ decision: 'allow', code: 'ALLOWED', cache: 'miss' });
    const second = await hook(`${w.registry.host}/${REPO}@${img.M!.digest}`);
    expect(second.d).toMatchObject({ decision: 'allow', cache: 'hit' });
    const unsigned = await hook(`${w.registry.host}/${REPO}@${img.E!.digest}`);
    expect(unsigned.d).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE' });
  });
});

describe('the hook on CRI-O: the entry whose config is the runtime image id', () => {
  let crio: FakeCrio;
  let crioConfig: string;
  let n = 0;
  beforeAll(async () => {
    crio = await FakeCrio.start();
    crioConfig = w.config('multiarch-crio.yaml', `node:\n  crioSocket: ${crio.socket}\n`);
  });
  afterAll(async () => crio?.close());

  /** A CRI-O container of `image` (by tag or digest) whose image has the config of entry `entry`. */
  async function hook(image: string, entry: string, tag: string) {
    const id = cfg[entry]!.slice('sha256:'.length);
    crio.images.set(id, { id, repoDigests: [`${w.registry.host}/${REPO}@${idx[tag]}`] });
    const log = join(w.cosign.dir, `multiarch-crio-${++n}.log`);
    const r = await sigguard(['hook', '--config', crioConfig, '--policy', policy, '--log', log], {
      input: crioState(`crio-ma-${n}`, image, id),
    });
    return { ...r, d: JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) };
  }

  it('CRI-O runs E (containers/image does not normalise x86_64): E is verified and refused', async () => {
    const r = await hook(`${w.registry.host}/${REPO}:x86_64-first`, 'E', 'x86_64-first');
    expect(r.code).toBe(1);
    expect(r.d, r.stderr).toMatchObject({ decision: 'deny', code: 'NO_SIGNATURE', digest: idx['x86_64-first'] });
  });

  it('CRI-O runs M from the same index: M is signed, allowed', async () => {
    const r = await hook(`${w.registry.host}/${REPO}:x86_64-first`, 'M', 'x86_64-first');
    expect(r.d, r.stderr).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
  });

  it('named by digest: the image id still picks the entry; a signed index covers it', async () => {
    expect((await hook(`${w.registry.host}/${REPO}@${idx['amd64-first']}`, 'E', 'amd64-first')).d).toMatchObject({
      decision: 'deny',
      code: 'NO_SIGNATURE',
    });
    expect((await hook(`${w.registry.host}/${REPO}@${idx['signed-index']}`, 'E', 'signed-index')).d).toMatchObject({
      decision: 'allow',
      code: 'ALLOWED',
    });
  });

  it('an image id that is no entry of the index: NODE_IMAGE_MISMATCH', async () => {
    const r = await hook(`${w.registry.host}/${REPO}:x86_64-first`, 'A', 'x86_64-first');
    expect(r.d, r.stderr).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
  });

  it('a single manifest whose config is not the image id: NODE_IMAGE_MISMATCH, fresh and from the cache', async () => {
    // the runtime's image (E's config) claims M's repo digest: what was verified is not what runs
    const e = cfg.E!.slice('sha256:'.length);
    const m = cfg.M!.slice('sha256:'.length);
    crio.images.set(e, { id: e, repoDigests: [`${w.registry.host}/${REPO}@${img.M!.digest}`] });
    crio.images.set(m, { id: m, repoDigests: [`${w.registry.host}/${REPO}@${img.M!.digest}`] });
    const start = async (id: string) => {
      const log = join(w.cosign.dir, `multiarch-crio-${++n}.log`);
      const r = await sigguard(['hook', '--config', crioConfig, '--policy', policy, '--log', log], {
        input: crioState(`crio-ma-${n}`, `${w.registry.host}/${REPO}:m`, id),
      });
      return { ...r, d: JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) };
    };
    const fresh = await start(e);
    expect(fresh.d, fresh.stderr).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH', cache: 'miss' });
    expect(fresh.stderr).toContain(cfg.E);
    expect((await start(m)).d).toMatchObject({ decision: 'allow', code: 'ALLOWED', cache: 'hit' });
    const cached = await start(e);
    expect(cached.d, cached.stderr).toMatchObject({ decision: 'deny', code: 'NODE_IMAGE_MISMATCH' });
  });
});
