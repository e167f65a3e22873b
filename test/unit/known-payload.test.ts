/**
 * A legacy signature's payload known without its blob fetch (src/discovery/known-payload.ts): only
 * bytes whose SHA-256 and size are exactly what the layer names are ever returned, so a layer can
 * never get a payload other than the one its blob would have to be.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cosignPayload, knownPayload } from '../../src/discovery/known-payload.js';
import { simpleSigningPayload } from '../support/simple-signing.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const layerOf = (b: Buffer | string) => ({ digest: sha(b), size: Buffer.byteLength(b) });
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const repoName = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*){0,2}$/);
const registry = fc.constantFrom('registry.example:5000', '127.0.0.1:5000', 'ghcr.io', 'docker.io');

describe('knownPayload', () => {
  it("builds cosign's payload as JSON with cosign's field order (the test support's payload, a generic JSON.stringify of the same fields)", () => {
    fc.assert(
      fc.property(registry, repoName, hex64, (reg, repo, hex) => {
        const digest = `sha256:${hex}`;
        expect(cosignPayload(`${reg}/${repo}`, digest).toString()).toBe(simpleSigningPayload(`${reg}/${repo}`, digest));
      }),
    );
  });

  it('returns exactly the bytes the layer names for its own repository and image, and nothing for any other', () => {
    fc.assert(
      fc.property(registry, repoName, repoName, hex64, hex64, (reg, repo, otherRepo, hex, otherHex) => {
        const digest = `sha256:${hex}`;
        const bytes = cosignPayload(`${reg}/${repo}`, digest);
        const layer = layerOf(bytes);
        expect(knownPayload(layer, { registry: reg, repository: repo }, digest)).toEqual(bytes);
        // another image, another repository: the layer's digest is not theirs, so it is fetched
        if (otherHex !== hex) expect(knownPayload(layer, { registry: reg, repository: repo }, `sha256:${otherHex}`)).toBeUndefined();
        if (otherRepo !== repo) expect(knownPayload(layer, { registry: reg, repository: otherRepo }, digest)).toBeUndefined();
      }),
    );
  });

  it('fetches what is not the bare payload: annotations, another identity or type, a size that differs, another algorithm', () => {
    const repo = { registry: 'registry.example:5000', repository: 'team/app' };
    const digest = `sha256:${'a'.repeat(64)}`;
    const bare = cosignPayload('registry.example:5000/team/app', digest);
    const annotated = Buffer.from(bare.toString().replace('"optional":null', '"optional":{"creator":"ci"}'));
    const otherType = Buffer.from(bare.toString().replace('cosign container image signature', 'atomic container signature'));
    const withTag = cosignPayload('registry.example:5000/team/app:v1', digest);
    for (const b of [annotated, otherType, withTag]) expect(knownPayload(layerOf(b), repo, digest)).toBeUndefined();
    // the digest is right but the size the descriptor claims is not the payload's: fetched, the blob fetch judges it
    expect(knownPayload({ digest: sha(bare), size: bare.length + 1 }, repo, digest)).toBeUndefined();
    expect(
      knownPayload({ digest: `sha512:${createHash('sha512').update(bare).digest('hex')}`, size: bare.length }, repo, digest),
    ).toBeUndefined();
    expect(knownPayload(layerOf(bare), repo, digest)).toEqual(bare);
  });

  it("knows Docker Hub's payload under go-containerregistry's name for it (index.docker.io), as cosign writes it", () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const byCosign = cosignPayload('index.docker.io/library/busybox', digest);
    expect(knownPayload(layerOf(byCosign), { registry: 'docker.io', repository: 'library/busybox' }, digest)).toEqual(byCosign);
    const plain = cosignPayload('docker.io/library/busybox', digest);
    expect(knownPayload(layerOf(plain), { registry: 'docker.io', repository: 'library/busybox' }, digest)).toEqual(plain);
    // that spelling only for Docker Hub
    const elsewhere = cosignPayload('index.docker.io/team/app', digest);
    expect(knownPayload(layerOf(elsewhere), { registry: 'ghcr.io', repository: 'team/app' }, digest)).toBeUndefined();
  });
});
