/**
 * The documents containerd reads with Go's case-insensitive JSON decoder: a key that Go would
 * take for a field but JavaScript would not is refused, so the two never read different indexes.
 */
import { describe, expect, it } from 'vitest';
import { configDigestOf, indexEntries, refuseCaseVariants } from '../../src/engine/select-manifest.js';

const D = `sha256:${'a'.repeat(64)}`;
const entry = (extra: Record<string, unknown> = {}) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: D,
  size: 1,
  ...extra,
});
const index = (manifests: unknown[], extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests,
  ...extra,
});

describe('keys Go would read and JavaScript would not', () => {
  it.each([
    ['Platform on an entry', index([entry({ Platform: { os: 'linux', architecture: 'amd64' } })])],
    ['OS in a platform', index([entry({ platform: { os: 'linux', OS: 'windows', architecture: 'amd64' } })])],
    ['Architecture in a platform', index([entry({ platform: { os: 'linux', architecture: 'arm64', Architecture: 'amd64' } })])],
    ['VARIANT in a platform', index([entry({ platform: { os: 'linux', architecture: 'amd64', VARIANT: 'v2' } })])],
    ['OS.Features in a platform', index([entry({ platform: { os: 'linux', architecture: 'amd64', 'OS.Features': ['x'] } })])],
    ['Digest on an entry', index([entry({ Digest: `sha256:${'b'.repeat(64)}` })])],
    ['MediaType on an entry', index([entry({ MediaType: 'application/vnd.oci.image.index.v1+json' })])],
    ['Manifests next to manifests', index([entry()], { Manifests: [] })],
    ['a long s (ſ, folds to s in Go) in "oſ"', index([entry({ platform: { os: 'linux', architecture: 'amd64', oſ: 'windows' } })])],
  ])('%s: refused', (_, doc) => {
    expect(() => indexEntries(doc, D)).toThrow(expect.objectContaining({ code: 'REGISTRY_BAD_RESPONSE' }));
  });

  it('exact keys, unknown keys and annotations pass; platforms come out raw (normalised later)', () => {
    const doc = index(
      [
        entry({
          platform: { os: 'Linux', architecture: 'x86_64', 'os.features': ['b', 'a'] },
          annotations: { OS: 'annotation keys are data' },
        }),
        entry(),
      ],
      {
        annotations: { Manifests: 'data too' },
        extension: 1,
      },
    );
    const out = indexEntries(doc, D);
    expect(out[0]!.platform).toEqual({
      os: 'Linux',
      architecture: 'x86_64',
      variant: undefined,
      osVersion: undefined,
      osFeatures: ['b', 'a'],
    });
    expect(out[1]!.platform).toBeUndefined();
  });

  it('a platform missing os or architecture, or with null fields, is refused (never guessed)', () => {
    expect(() => indexEntries(index([entry({ platform: { architecture: 'amd64' } })]), D)).toThrow(
      expect.objectContaining({ code: 'REGISTRY_BAD_RESPONSE' }),
    );
    expect(() => indexEntries(index([entry({ platform: { os: 'linux', architecture: 'amd64', variant: null } })]), D)).toThrow(
      expect.objectContaining({ code: 'REGISTRY_BAD_RESPONSE' }),
    );
  });

  it('a manifest: its config digest, with the same rule for Config', () => {
    const m = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'x', digest: D, size: 1 },
      layers: [],
    };
    expect(configDigestOf(m, D)).toBe(D);
    expect(() => configDigestOf({ ...m, Config: { mediaType: 'x', digest: `sha256:${'b'.repeat(64)}`, size: 1 } }, D)).toThrow(
      expect.objectContaining({ code: 'REGISTRY_BAD_RESPONSE' }),
    );
    expect(() => configDigestOf({ ...m, config: { ...m.config, DIGEST: `sha256:${'b'.repeat(64)}` } }, D)).toThrow(
      expect.objectContaining({ code: 'REGISTRY_BAD_RESPONSE' }),
    );
  });

  it('refuseCaseVariants ignores non-objects', () => {
    expect(() => refuseCaseVariants(null, ['os'], 'x')).not.toThrow();
    expect(() => refuseCaseVariants(['OS'], ['os'], 'x')).not.toThrow();
  });
});
