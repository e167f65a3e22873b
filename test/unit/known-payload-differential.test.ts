/**
 * Review of f99ebd0 (a legacy signature's payload built, not fetched: src/discovery/known-payload.ts),
 * differentially: discoverLegacy with the built payload against discoverLegacy as it was (every
 * payload fetched), on the same `.sig` manifest and an honest registry that holds the payloads. For
 * any layer an attacker can list (the digest's case, spacing, trailing text or algorithm; sizes
 * off by one, zero, negative, fractional, as text or over the cap; media types that differ by case
 * or parameters; any annotations), both must find the same signatures with the same bytes and
 * annotations and the same unreadable layers with the same problems: the build may only skip a
 * fetch, never change what is found. A layer found without a fetch names exactly those bytes.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { discoverLegacy } from '../../src/discovery/legacy.js';
import type { FoundSignature } from '../../src/discovery/types.js';
import { ReasonCode, SigguardError } from '../../src/errors.js';
import { Budget } from '../../src/registry/budget.js';
import type { RegistryClient, Repository } from '../../src/registry/client.js';
import { MediaType } from '../../src/registry/oci-schema.js';
import { cosignPayload } from '../../src/discovery/known-payload.js';

/** knownPayload switched off: discoverLegacy as before f99ebd0 (every payload fetched). */
const known = vi.hoisted(() => ({ off: false }));
vi.mock('../../src/discovery/known-payload.js', async (original) => {
  const m = await original<typeof import('../../src/discovery/known-payload.js')>();
  return { ...m, knownPayload: (...a: Parameters<typeof m.knownPayload>) => (known.off ? undefined : m.knownPayload(...a)) };
});

/** A found signature as discoverLegacy makes it (the legacy format's payload and annotations). */
function legacy(s: FoundSignature): Extract<FoundSignature, { format: 'legacy' }> {
  if (s.format !== 'legacy') throw new Error(`${s.source}: not a legacy signature`);
  return s;
}

const hash = (algo: string, b: Buffer) => `${algo}:${createHash(algo).update(b).digest('hex')}`;
const IMAGE = `sha256:${'c'.repeat(64)}`;
const OTHER_IMAGE = `sha256:${'d'.repeat(64)}`;
const REPOS: Repository[] = [
  { registry: 'localhost:5001', repository: 'team/app' },
  { registry: 'docker.io', repository: 'library/busybox' },
];

/** The payloads an honest registry holds for the repository: cosign's own and its near misses. */
function payloadsFor(repo: Repository): Buffer[] {
  const name = `${repo.registry}/${repo.repository}`;
  const bare = cosignPayload(name, IMAGE);
  return [
    bare,
    cosignPayload(`index.docker.io/${repo.repository}`, IMAGE),
    cosignPayload(name, OTHER_IMAGE),
    cosignPayload(`${name}-other`, IMAGE),
    cosignPayload(`${name}:v1`, IMAGE),
    Buffer.from(bare.toString().replace('"optional":null', '"optional":{"creator":"ci"}')),
    Buffer.from(`${bare.toString()}\n`),
    Buffer.from(bare.toString().toUpperCase()),
  ];
}

/** A registry holding `blobs` (by sha256 and sha512), answering as RegistryClient.getBlob does. */
function registry(repo: Repository, layers: unknown[], blobs: Buffer[]) {
  const store = new Map<string, Buffer>();
  for (const b of blobs) for (const algo of ['sha256', 'sha512']) store.set(hash(algo, b), b);
  const fetched: string[] = [];
  const sig = { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: {}, layers };
  const bytes = Buffer.from(JSON.stringify(sig));
  const client = {
    budget: Budget.unbounded(),
    getManifest: async () => ({
      digest: hash('sha256', bytes),
      mediaType: MediaType.OCI_MANIFEST,
      bytes,
      json: JSON.parse(bytes.toString()),
    }),
    getBlob: async (r: Repository, digest: string, maxBytes: number) => {
      expect(r).toBe(repo);
      fetched.push(digest);
      const body = store.get(digest);
      if (body === undefined) throw new SigguardError(ReasonCode.REGISTRY_BAD_RESPONSE, `blob ${digest} missing (HTTP 404)`);
      if (body.length > maxBytes) throw new SigguardError(ReasonCode.RESPONSE_TOO_LARGE, `blob ${digest} over ${maxBytes}`);
      const algo = digest.slice(0, digest.indexOf(':'));
      if (hash(algo, body) !== digest) throw new SigguardError(ReasonCode.CONTENT_MISMATCH, `blob ${digest}`);
      return body;
    },
  } as unknown as RegistryClient;
  return { client, fetched };
}

/** A layer's digest as an attacker may write it, for a payload: tricks on case, spacing, algorithm. */
const digestOf = (payload: Buffer) =>
  fc
    .constantFrom(
      (d: string) => d.toUpperCase(),
      (d: string) => `sha256:${d.slice(7).toUpperCase()}`,
      (d: string) => ` ${d}`,
      (d: string) => `${d} `,
      (d: string) => `${d}\n`,
      (d: string) => `${d}0`,
      (d: string) => d.slice(0, -1),
      (d: string) => d.replace('sha256:', 'sha256::'),
      (d: string) => d.replace('sha256:', 'SHA256:'),
      () => hash('sha512', payload),
      () => hash('sha512', payload).toUpperCase(),
      () => hash('sha384', payload),
      () => `sha256:${'0'.repeat(64)}`,
    )
    .map((f) => f(hash('sha256', payload)));

/** The value as cosign writes it, most of the time (so the variants meet cosign's payload one at a time), else a variant. */
const mostly = <T>(value: T, variants: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(value), weight: 3 }, { arbitrary: variants, weight: 1 });

const sizeOf = (payload: Buffer) =>
  fc.constantFrom<unknown>(
    payload.length - 1,
    payload.length + 1,
    0,
    -payload.length,
    payload.length + 0.5,
    String(payload.length),
    65 * 1024,
    Number.MAX_SAFE_INTEGER,
    undefined,
  );

const mediaType = fc.constantFrom<unknown>(
  MediaType.SIMPLE_SIGNING.toUpperCase(),
  `${MediaType.SIMPLE_SIGNING}; charset=utf-8`,
  ` ${MediaType.SIMPLE_SIGNING}`,
  'application/vnd.oci.image.layer.v1.tar',
  undefined,
);

const annotations = fc.option(
  fc.dictionary(fc.constantFrom('dev.cosignproject.cosign/signature', 'dev.sigstore.cosign/bundle', 'x'), fc.string(), { maxKeys: 3 }),
  { nil: undefined },
);

function layer(repo: Repository) {
  const [bare, ...others] = payloadsFor(repo);
  return mostly(bare!, fc.constantFrom(...others)).chain((p) =>
    fc.record(
      {
        mediaType: mostly<unknown>(MediaType.SIMPLE_SIGNING, mediaType),
        digest: mostly(hash('sha256', p), digestOf(p)),
        size: mostly<unknown>(p.length, sizeOf(p)),
        annotations,
      },
      { requiredKeys: ['mediaType', 'digest', 'size'] },
    ),
  );
}

describe('knownPayload in discoverLegacy: the same findings as fetching every payload (review of f99ebd0)', () => {
  it('finds the same signatures and unreadable layers, byte for byte, for any layers listed, on an honest registry', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...REPOS).chain((repo) => fc.tuple(fc.constant(repo), fc.array(layer(repo), { minLength: 1, maxLength: 6 }))),
        async ([repo, layers]) => {
          const blobs = payloadsFor(repo);
          known.off = true;
          const before = registry(repo, layers, blobs);
          const expected = await discoverLegacy(before.client, repo, IMAGE);
          known.off = false;
          const now = registry(repo, layers, blobs);
          const got = await discoverLegacy(now.client, repo, IMAGE);
          expect(got).toEqual(expected);
          // what was not fetched was found, and names exactly its bytes
          const skipped = before.fetched.filter((d) => !now.fetched.includes(d));
          for (const s of got.signatures.map(legacy)) {
            const i = Number(/layer (\d+)$/.exec(s.source)![1]);
            const l = layers[i] as { digest: string; size: number; mediaType: string };
            if (!skipped.includes(l.digest)) continue;
            expect(l.mediaType).toBe(MediaType.SIMPLE_SIGNING);
            expect(hash('sha256', s.payload)).toBe(l.digest);
            expect(s.payload.length).toBe(l.size);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("cosign's own payload, on a registry without the blob: found without a fetch; any other layer fetched and unreadable", async () => {
    for (const repo of REPOS) {
      const names = [
        `${repo.registry}/${repo.repository}`,
        ...(repo.registry === 'docker.io' ? [`index.docker.io/${repo.repository}`] : []),
      ];
      for (const name of names) {
        const bare = cosignPayload(name, IMAGE);
        const own = { mediaType: MediaType.SIMPLE_SIGNING, digest: hash('sha256', bare), size: bare.length, annotations: { a: 'b' } };
        const others = [
          { ...own, size: bare.length + 1 },
          { ...own, mediaType: `${MediaType.SIMPLE_SIGNING}; x=y` },
          { ...own, digest: hash('sha512', bare) },
        ];
        const { client, fetched } = registry(repo, [own, ...others], []);
        const found = await discoverLegacy(client, repo, IMAGE);
        expect(found.signatures.map(legacy).map((s) => [s.source, s.payload.toString(), s.annotations])).toEqual([
          [`${IMAGE.replace(':', '-')}.sig layer 0`, bare.toString(), { a: 'b' }],
        ]);
        expect(found.unreadable.map((u) => u.source)).toEqual([1, 2, 3].map((i) => `${IMAGE.replace(':', '-')}.sig layer ${i}`));
        expect(fetched).toEqual([own.digest, hash('sha512', bare)]);
      }
    }
  });
});
