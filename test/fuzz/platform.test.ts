/**
 * Fuzzing the choice of the manifest that runs (src/engine/select-manifest.ts) over indexes near
 * a real multi-arch one, with a registry stand-in that serves their manifests and configs.
 * Properties: nothing but SigguardError; what is chosen is an entry of the index at hand; no
 * entry containerd would rank higher exists, and among equals the first in index order wins
 * (the order Go's stable sort keeps: a comparator that is not a strict weak order breaks this);
 * an entry without a platform is taken only when no entry's platform matches and its config
 * does; CRI-O's choice has exactly the node's config; with no runtime to ask, an index is
 * always refused.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Budget } from '../../src/registry/budget.js';
import { indexEntries, selectManifest } from '../../src/engine/select-manifest.js';
import { ReasonCode, SigguardError } from '../../src/errors.js';
import type { FetchedManifest, RegistryClient } from '../../src/registry/client.js';
import { MediaType } from '../../src/registry/oci-schema.js';
import type { Platform } from '../../src/registry/platform.js';
import { only } from '../../src/registry/platform-match.js';
import { TEST_TIMEOUT_MS, countedAsync, expectOnly, jsonNear, params, thrownAsync } from './fuzz-support.js';

const h = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const M = MediaType.OCI_MANIFEST;
const entry = (name: string, platform?: Record<string, unknown>, mediaType: string = M) => ({
  mediaType,
  digest: h(name),
  size: 500,
  ...(platform ? { platform } : {}),
});
const index = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_INDEX,
  manifests: [
    entry('x86_64', { os: 'linux', architecture: 'x86_64' }),
    entry('amd64', { os: 'linux', architecture: 'amd64' }),
    entry('amd64-v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }),
    entry('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry('aarch64', { os: 'linux', architecture: 'aarch64' }),
    entry('armv7', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry('armv6', { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry('386', { os: 'linux', architecture: '386' }),
    entry('features', { os: 'linux', architecture: 'amd64', 'os.features': ['sse4'] }),
    entry('windows', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }),
    entry('attestation', { os: 'unknown', architecture: 'unknown' }),
    entry('no-platform'),
    entry('nested', { os: 'linux', architecture: 'riscv64' }, MediaType.OCI_INDEX),
  ],
};
const nestedIndex = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_INDEX,
  manifests: [entry('riscv', { os: 'linux', architecture: 'riscv64' })],
};
/** What each manifest's config says (a manifest without a platform is judged by it). */
const configPlatform: Record<string, Record<string, string>> = { 'no-platform': { os: 'linux', architecture: 'amd64' } };

const manifestFor = (name: string) => ({
  schemaVersion: 2,
  mediaType: M,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: h(`config ${name}`), size: 100 },
  layers: [],
});
const names = [
  'x86_64',
  'amd64',
  'amd64-v3',
  'arm64',
  'aarch64',
  'armv7',
  'armv6',
  '386',
  'features',
  'windows',
  'attestation',
  'no-platform',
  'riscv',
];

function standIn(): RegistryClient {
  const docs = new Map<string, unknown>(names.map((n) => [h(n), manifestFor(n)]));
  docs.set(h('nested'), nestedIndex);
  const blobs = new Map<string, Buffer>(
    names.map((n) => [h(`config ${n}`), Buffer.from(JSON.stringify(configPlatform[n] ?? { os: 'linux', architecture: n }))]),
  );
  const fetched = (digest: string, json: unknown): FetchedManifest => ({
    digest,
    mediaType: (json as { mediaType?: string }).mediaType,
    bytes: Buffer.from(JSON.stringify(json)),
    json,
  });
  return {
    getManifest: async (_repo: unknown, ref: string) => (docs.has(ref) ? fetched(ref, docs.get(ref)) : undefined),
    getBlob: async (_repo: unknown, digest: string) => {
      const b = blobs.get(digest);
      if (!b) throw new SigguardError(ReasonCode.IMAGE_NOT_FOUND, `no blob ${digest}`);
      return b;
    },
    budget: Budget.unbounded(),
  } as unknown as RegistryClient;
}

const nodes: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'riscv64' },
  { os: 'linux', architecture: '386' },
];

describe('fuzz: the manifest that runs, chosen from an index', () => {
  it(
    'containerd: the best-ranked entry, first among equals; CRI-O: the node config exactly; no runtime: refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          jsonNear(index),
          fc.constantFrom(...nodes),
          fc.constantFrom(...names.map((n) => h(`config ${n}`))),
          countedAsync('platform.select', async (doc, platform, imageId) => {
            const client = standIn();
            const repo = { registry: 'localhost:5001', repository: 'app' };
            const top: FetchedManifest = {
              digest: h('top'),
              mediaType: MediaType.OCI_INDEX,
              bytes: Buffer.from(JSON.stringify(doc) ?? 'null'),
              json: doc,
            };
            const isSigguard = (e: unknown) => e instanceof SigguardError;

            // containerd's choice
            let chosen: Awaited<ReturnType<typeof selectManifest>> | undefined;
            expectOnly(
              await thrownAsync(async () => (chosen = await selectManifest(client, repo, top, true, { kind: 'containerd', platform }))),
              isSigguard,
              'SigguardError',
            );
            if (chosen && chosen.nested.length === 0) {
              const entries = indexEntries(doc, top.digest);
              const m = only(platform);
              // the chosen entry is one with the chosen digest (a mutant may list a digest twice)
              const problems = entries.flatMap((c, i) => {
                if (c.digest !== chosen!.platformDigest) return [];
                if (!c.platform)
                  return entries.some((e) => e.platform && m.match(e.platform))
                    ? [`${i}: a platform-less entry chosen over a matching one`]
                    : [''];
                if (!m.match(c.platform)) return [`${i}: its platform does not match the node`];
                for (const [j, e] of entries.entries()) {
                  if (!e.platform || !m.match(e.platform)) continue;
                  if (m.less(e.platform, c.platform)) return [`${i}: entry ${j} ranks above it`];
                  if (j < i && !m.less(c.platform, e.platform)) return [`${i}: entry ${j} ties with it and comes first`];
                }
                return [''];
              });
              expect(problems.length, 'chosen digest is not an entry of the index').toBeGreaterThan(0);
              expect(problems.includes(''), problems.join('; ')).toBe(true);
            }

            // CRI-O: the entry whose config is the node's image id, or NODE_IMAGE_MISMATCH
            let byId: Awaited<ReturnType<typeof selectManifest>> | undefined;
            expectOnly(
              await thrownAsync(async () => (byId = await selectManifest(client, repo, top, true, { kind: 'image-id', imageId }))),
              isSigguard,
              'SigguardError',
            );
            if (byId) expect(byId.configDigest).toBe(imageId);

            // no runtime to ask: an index is never verified as if one knew which entry runs
            const alone = await thrownAsync(() => selectManifest(client, repo, top, true, { kind: 'single-only' }));
            expect(alone).toBeInstanceOf(SigguardError);
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
