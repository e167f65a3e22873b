/**
 * The registry's documents are checked by hand on the cold path (registry/oci-schema.ts, the
 * platforms of engine/select-manifest.ts, registry/credentials.ts's config.json), no longer with
 * zod: each is compared here with the zod schema it replaced (kept below as the reference), on
 * valid documents and on mutated ones (fast-check). Same acceptance, same fields returned.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPlatform } from '../../src/engine/select-manifest.js';
import { isValidDigest } from '../../src/reference/reference.js';
import { authEntries } from '../../src/registry/credentials.js';
import { descriptorSchema, indexSchema, manifestSchema } from '../../src/registry/oci-schema.js';
import { z } from '../../src/zod.js';

// the zod schemas as they were (registry/oci-schema.ts, select-manifest.ts, credentials.ts before issue 15)
const zDescriptor = z.object({
  mediaType: z.string(),
  digest: z.string().refine(isValidDigest, { message: 'not a valid digest' }),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).optional(),
});
const zManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: zDescriptor,
  layers: z.array(zDescriptor).max(1000),
  subject: zDescriptor.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const zIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(zDescriptor).max(1000),
  annotations: z.record(z.string(), z.string()).optional(),
});
const zPlatform = z.object({
  os: z.string(),
  architecture: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
});
const zConfigPlatform = zPlatform.partial();
const zAuth = z.object({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
});
const zDockerConfig = z.object({ auths: z.record(z.string(), zAuth).optional() });

const DIGEST = `sha256:${'0'.repeat(64)}`;
const desc = (over: Record<string, unknown> = {}) => ({ mediaType: 'application/x', digest: DIGEST, size: 10, ...over });

/** A value, or a replacement from a small menu of wrong and odd ones. */
const odd = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    '',
    'x',
    0,
    -1,
    1.5,
    2,
    2 ** 53,
    -0,
    Number.POSITIVE_INFINITY,
    true,
    [],
    {},
    ['a'],
    { a: 'b' },
    { a: 1 },
    DIGEST,
    `sha256:${'0'.repeat(63)}`,
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
/** A document mutated at one of its paths (the value replaced, or removed with undefined). */
function mutate(doc: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null) return copy;
    at = next as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

const same = (lite: { success: boolean; data?: unknown }, ref: { success: boolean; data?: unknown }, input: unknown) => {
  expect(lite.success, JSON.stringify(input)).toBe(ref.success);
  if (ref.success) expect(lite.data).toEqual(ref.data);
};

const DESC_PATHS: Array<Array<string>> = [
  ['mediaType'],
  ['digest'],
  ['size'],
  ['annotations'],
  ['annotations', 'k'],
  ['artifactType'],
  ['platform'],
  ['platform', 'os'],
  ['platform', 'architecture'],
  ['platform', 'variant'],
  ['extra'],
];
const validManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: desc(),
  layers: [desc({ annotations: { k: 'v' } }), desc({ platform: { os: 'linux', architecture: 'amd64' } })],
  subject: desc(),
  annotations: { a: 'b' },
};
const validIndex = {
  schemaVersion: 2,
  manifests: [desc({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }), desc({ artifactType: 'x' })],
  annotations: {},
};

describe('OCI documents checked by hand, as by the zod schemas they replace', () => {
  it('descriptors', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DESC_PATHS), odd, (path, value) => {
        const input = mutate(desc({ annotations: { k: 'v' }, platform: { os: 'linux', architecture: 'amd64' } }), path, value);
        same(descriptorSchema.safeParse(input), zDescriptor.safeParse(input), input);
      }),
      { numRuns: 600 },
    );
    for (const input of [desc(), desc({ size: -0 }), desc({ size: 2 ** 53 }), desc({ annotations: { __proto__: 'x' } }), null, [], 'x'])
      same(descriptorSchema.safeParse(input), zDescriptor.safeParse(input), input);
  });

  it('manifests', () => {
    const paths: Array<Array<string | number>> = [
      ['schemaVersion'],
      ['mediaType'],
      ['artifactType'],
      ['config'],
      ['layers'],
      ['subject'],
      ['annotations'],
      ['annotations', 'a'],
      ...DESC_PATHS.map((p) => ['config', ...p]),
      ...DESC_PATHS.map((p) => ['layers', 1, ...p]),
      ...DESC_PATHS.map((p) => ['subject', ...p]),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...paths), odd, (path, value) => {
        const input = mutate(validManifest, path, value);
        same(manifestSchema.safeParse(input), zManifest.safeParse(input), input);
      }),
      { numRuns: 800 },
    );
    for (const n of [1000, 1001]) {
      const input = { ...validManifest, layers: Array.from({ length: n }, () => desc()) };
      same(manifestSchema.safeParse(input), zManifest.safeParse(input), `${n} layers`);
    }
  });

  it('indexes', () => {
    const paths: Array<Array<string | number>> = [
      ['schemaVersion'],
      ['mediaType'],
      ['manifests'],
      ['manifests', 0],
      ['annotations'],
      ...DESC_PATHS.map((p) => ['manifests', 0, ...p]),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...paths), odd, (path, value) => {
        const input = mutate(validIndex, path, value);
        same(indexSchema.safeParse(input), zIndex.safeParse(input), input);
      }),
      { numRuns: 500 },
    );
    for (const n of [1000, 1001]) {
      const input = { ...validIndex, manifests: Array.from({ length: n }, () => desc()) };
      same(indexSchema.safeParse(input), zIndex.safeParse(input), `${n} entries`);
    }
  });

  it('any JSON at all', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (input) => {
        same(descriptorSchema.safeParse(input), zDescriptor.safeParse(input), input);
        same(manifestSchema.safeParse(input), zManifest.safeParse(input), input);
        same(indexSchema.safeParse(input), zIndex.safeParse(input), input);
      }),
      { numRuns: 300 },
    );
  });

  it('platforms of index entries (os and architecture required) and of image configs (all optional)', () => {
    const valid = { os: 'linux', architecture: 'amd64', variant: 'v8', 'os.version': '10', 'os.features': ['a'] };
    const paths = [['os'], ['architecture'], ['variant'], ['os.version'], ['os.features'], ['os.features', 0], ['other']];
    const toRaw = (p: z.infer<typeof zConfigPlatform>) => ({
      os: p.os ?? '',
      architecture: p.architecture ?? '',
      variant: p.variant,
      osVersion: p['os.version'],
      osFeatures: p['os.features'],
    });
    fc.assert(
      fc.property(fc.constantFrom(...paths), odd, fc.boolean(), (path, value, partial) => {
        const input = mutate(valid, path, value);
        const ref = (partial ? zConfigPlatform : zPlatform).safeParse(input);
        const lite = readPlatform(input, partial);
        expect(lite !== undefined, JSON.stringify(input)).toBe(ref.success);
        if (ref.success) expect(lite).toEqual(toRaw(ref.data));
      }),
      { numRuns: 600 },
    );
    for (const input of [null, [], 'x', {}, { os: 'linux' }])
      for (const partial of [true, false])
        expect(readPlatform(input, partial) !== undefined).toBe(
          zConfigPlatform.safeParse(input).success && (partial || zPlatform.safeParse(input).success),
        );
  });

  it("a config.json's auths", () => {
    const valid = { auths: { 'r.io': { auth: 'dTpw', username: 'u', password: 'p', identitytoken: 't', email: 'e' } }, credsStore: 'x' };
    const paths = [
      ['auths'],
      ['auths', 'r.io'],
      ['auths', 'r.io', 'auth'],
      ['auths', 'r.io', 'username'],
      ['auths', 'r.io', 'password'],
      ['auths', 'r.io', 'identitytoken'],
      ['auths', 'other'],
      ['x'],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...paths), odd, (path, value) => {
        const input = mutate(valid, path, value);
        const ref = zDockerConfig.safeParse(input);
        const lite = authEntries(input);
        expect(lite !== undefined, JSON.stringify(input)).toBe(ref.success);
        if (ref.success) expect(lite).toEqual(Object.entries(ref.data.auths ?? {}));
      }),
      { numRuns: 500 },
    );
    for (const input of [null, [], 'x', {}, { auths: null }, { auths: [] }])
      expect(authEntries(input) !== undefined, JSON.stringify(input)).toBe(zDockerConfig.safeParse(input).success);
  });
});
