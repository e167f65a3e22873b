/**
 * Fuzzing manifests and indexes near real ones (an image manifest, a cosign `.sig` manifest,
 * a multi-arch index, a referrers index, a cosign 3 bundle referrer): the schemas never throw,
 * what they accept has valid digests, and signature discovery over them (with a registry
 * stand-in that serves the mutants) throws nothing but SigguardError and never attributes a
 * signature to an image other than the one asked about.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { discoverBundles } from '../../src/discovery/bundle.js';
import { discoverLegacy } from '../../src/discovery/legacy.js';
import { Budget } from '../../src/registry/budget.js';
import { SigguardError } from '../../src/errors.js';
import type { RegistryClient } from '../../src/registry/client.js';
import * as oci from '../../src/registry/oci-schema.js';
import { isValidDigest } from '../../src/reference/reference.js';
import { TEST_TIMEOUT_MS, counted, countedAsync, expectOnly, jsonNear, params, thrown, thrownAsync } from './fuzz-support.js';

const h = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const IMAGE = h('image');
const imageManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: h('config'), size: 1470 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: h('l1'), size: 2_123_456 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: h('l2'), size: 32 },
  ],
  annotations: { 'org.opencontainers.image.created': '2026-11-29T00:00:00Z' },
};
const sigManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: h('sigcfg'), size: 233 },
  layers: [
    {
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      digest: h('payload'),
      size: 250,
      annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ...', 'dev.sigstore.cosign/bundle': '{"SignedEntryTimestamp":"x"}' },
    },
  ],
};
const index = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: h('amd64'),
      size: 1000,
      platform: { os: 'linux', architecture: 'amd64' },
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: h('arm64'),
      size: 1000,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: h('att'),
      size: 800,
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      platform: { os: 'unknown', architecture: 'unknown' },
    },
  ],
};
const BUNDLE_MT = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const referrers = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: h('ref1'), size: 700, artifactType: BUNDLE_MT }],
};
const bundleReferrer = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: BUNDLE_MT,
  config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: h('{}'), size: 2 },
  layers: [{ mediaType: BUNDLE_MT, digest: h('bundle'), size: 4000 }],
  subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: IMAGE, size: 1234 },
};

function digestsIn(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) {
    v.forEach((x) => {
      digestsIn(x, out);
    });
  } else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) k === 'digest' && typeof x === 'string' ? out.push(x) : digestsIn(x, out);
  return out;
}

/** A registry stand-in: every manifest it is asked for is `doc`, every blob a fixed payload. */
function standIn(doc: unknown, referrersDoc: unknown): RegistryClient {
  // as the real client: a document that is no JSON object, or an ambiguous one, is refused there
  const fetched = (json: unknown) => {
    const bytes = Buffer.from(JSON.stringify(json) ?? 'null');
    const mediaType = oci.checkUnambiguous(json, undefined, 'fuzz manifest');
    return { digest: h(bytes.toString()), mediaType, bytes, json };
  };
  return {
    getManifest: async () => fetched(doc),
    getReferrers: async () => {
      const parsed = oci.indexSchema.safeParse(referrersDoc);
      return parsed.success ? parsed.data : undefined;
    },
    getBlob: async () => Buffer.from('{"critical":{}}'),
    budget: Budget.unbounded(),
  } as unknown as RegistryClient;
}

describe('fuzz: manifests and indexes', () => {
  it(
    'schemas: never a throw; what they accept has valid digests and a bounded list',
    () => {
      fc.assert(
        fc.property(
          jsonNear(imageManifest, sigManifest, index, referrers, bundleReferrer),
          fc.constantFrom(
            undefined,
            oci.MediaType.OCI_MANIFEST,
            oci.MediaType.OCI_INDEX,
            oci.MediaType.DOCKER_MANIFEST,
            oci.MediaType.DOCKER_LIST,
            'application/json',
          ),
          counted('oci.schemas', (doc, contentType) => {
            const m = oci.manifestSchema.safeParse(doc);
            const i = oci.indexSchema.safeParse(doc);
            if (m.success) {
              expect(digestsIn(m.data).every(isValidDigest)).toBe(true);
              expect(m.data.layers.length).toBeLessThanOrEqual(1000);
            }
            if (i.success) {
              expect(i.data.manifests.every((d) => isValidDigest(d.digest))).toBe(true);
              expect(i.data.manifests.length).toBeLessThanOrEqual(1000);
            }
            expect(typeof oci.isIndexMediaType(contentType, doc)).toBe('boolean');
            // the ambiguity check: a media type or a SigguardError, nothing else
            expectOnly(
              thrown(() => oci.checkUnambiguous(doc, contentType, 'fuzz')),
              (e) => e instanceof SigguardError,
              'SigguardError',
            );
          }),
        ),
        params(3),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'signature discovery over mutated .sig manifests, referrers and referrer manifests',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          jsonNear(sigManifest, bundleReferrer, referrers, imageManifest),
          jsonNear(referrers, index, {}),
          countedAsync('oci.discovery', async (doc, refs) => {
            const client = standIn(doc, refs);
            const repo = { registry: 'localhost:5001', repository: 'app' };
            for (const discover of [discoverLegacy, discoverBundles]) {
              let found: Awaited<ReturnType<typeof discoverLegacy>> | undefined;
              expectOnly(
                await thrownAsync(async () => (found = await discover(client, repo, IMAGE))),
                (e) => e instanceof SigguardError,
                'SigguardError',
              );
              if (!found) continue;
              for (const s of found.signatures) expect(s.subject).toBe(IMAGE);
              for (const u of found.unreadable) expect(u.problem.length).toBeGreaterThan(0);
              if (discover === discoverBundles && found.signatures.length > 0) {
                // a bundle is taken only from a manifest whose subject (if any) is this image
                const subject = (doc as { subject?: { digest?: unknown } } | null)?.subject?.digest;
                expect(subject === undefined || subject === IMAGE).toBe(true);
              }
            }
          }),
        ),
        params(2),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
