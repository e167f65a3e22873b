/**
 * A small OCI push client for building test images (single-platform images
 * with busybox, multi-arch indexes, hand-made signature artefacts) in the
 * local registry.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSYBOX } from './paths.js';

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Pushed {
  digest: string;
  bytes: Buffer;
}

/** An OCI descriptor, as a manifest or an index lists it. */
export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

/** An OCI image manifest (or cosign's .sig manifest), as the registry serves it. */
export interface ImageManifestJson {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index (a multi-arch image, a referrers tag index), as the registry serves it. */
export interface ImageIndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: OciDescriptor[];
  annotations?: Record<string, string>;
}

export class Pusher {
  constructor(readonly host: string) {}

  async blob(repo: string, data: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256(data);
    const head = await fetch(`http://${this.host}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    if (head.status === 200) return { digest, size: data.length };
    const start = await fetch(`http://${this.host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status}`);
    const loc = new URL(start.headers.get('location')!, `http://${this.host}`);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(data), headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status} ${await put.text()}`);
    return { digest, size: data.length };
  }

  async manifest(repo: string, reference: string, doc: unknown, mediaType: string): Promise<Pushed> {
    const bytes = Buffer.from(JSON.stringify(doc));
    const res = await fetch(`http://${this.host}/v2/${repo}/manifests/${reference}`, {
      method: 'PUT',
      body: new Uint8Array(bytes),
      headers: { 'content-type': mediaType },
    });
    if (res.status !== 201) throw new Error(`manifest put ${repo}:${reference}: HTTP ${res.status} ${await res.text()}`);
    return { digest: sha256(bytes), bytes };
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    const res = await fetch(`http://${this.host}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
    if (res.status !== 202 && res.status !== 404) throw new Error(`manifest delete: HTTP ${res.status}`);
  }

  /**
   * A runnable image: busybox-static as /bin/busybox (+ sh, echo, sleep, cat links) and /marker.
   * `cmd` replaces the default Cmd (`cat /marker`), e.g. `['/bin/sleep', '3600']` for a pause image.
   */
  async image(
    repo: string,
    tag: string,
    marker: string,
    arch = 'amd64',
    cmd: string[] = ['/bin/sh', '-c', 'cat /marker'],
  ): Promise<Pushed> {
    const layer = busyboxLayer(marker);
    const l = await this.blob(repo, layer.gz);
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        config: { Cmd: cmd, Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      }),
    );
    const c = await this.blob(repo, config);
    return this.manifest(
      repo,
      tag,
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: c.digest, size: c.size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size }],
      },
      'application/vnd.oci.image.manifest.v1+json',
    );
  }

  /** A multi-arch index over already pushed platform manifests. */
  async index(repo: string, tag: string, entries: Array<{ pushed: Pushed; arch: string }>): Promise<Pushed> {
    return this.manifest(
      repo,
      tag,
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: entries.map((e) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: e.pushed.digest,
          size: e.pushed.bytes.length,
          platform: { os: 'linux', architecture: e.arch },
        })),
      },
      'application/vnd.oci.image.index.v1+json',
    );
  }

  /**
   * An index whose entries carry any platform object, or none (`platform: undefined`), as a
   * hostile or sloppy publisher writes them; `annotations` make otherwise equal indexes distinct.
   */
  async indexWith(
    repo: string,
    tag: string,
    entries: Array<{ pushed: Pushed; platform: Record<string, unknown> | undefined; extra?: Record<string, unknown> }>,
    annotations?: Record<string, string>,
  ): Promise<Pushed> {
    const manifests = entries.map((e) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: e.pushed.digest,
      size: e.pushed.bytes.length,
      ...(e.platform ? { platform: e.platform } : {}),
      ...e.extra,
    }));
    const doc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests,
      ...(annotations ? { annotations } : {}),
    };
    return this.manifest(repo, tag, doc, 'application/vnd.oci.image.index.v1+json');
  }

  /** A manifest or index; `T` says which the caller expects (an image manifest unless told). */
  async getManifest<T extends ImageManifestJson | ImageIndexJson = ImageManifestJson>(
    repo: string,
    reference: string,
  ): Promise<{ json: T; bytes: Buffer; mediaType: string }> {
    const res = await fetch(`http://${this.host}/v2/${repo}/manifests/${reference}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' },
    });
    if (res.status !== 200) throw new Error(`get manifest ${repo}:${reference}: HTTP ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { json: JSON.parse(bytes.toString()), bytes, mediaType: res.headers.get('content-type') ?? '' };
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await fetch(`http://${this.host}/v2/${repo}/blobs/${digest}`);
    if (res.status !== 200) throw new Error(`get blob: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

const layerCache = new Map<string, { gz: Buffer; diffId: string }>();

/** A gzipped tar layer with busybox and a marker file; made with tar(1), cached per marker. */
export function busyboxLayer(marker: string): { gz: Buffer; diffId: string } {
  const cached = layerCache.get(marker);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-layer-'));
  const root = join(dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  for (const app of ['sh', 'cat', 'echo', 'sleep', 'true']) execFileSync('ln', ['-s', 'busybox', join(root, 'bin', app)]);
  writeFileSync(join(root, 'marker'), `${marker}\n`);
  const tarFile = join(dir, 'layer.tar');
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', tarFile, '.']);
  const tar = readFileSync(tarFile);
  execFileSync('gzip', ['-n', '-9', tarFile]);
  const out = { gz: readFileSync(`${tarFile}.gz`), diffId: sha256(tar) };
  rmSync(dir, { recursive: true, force: true });
  layerCache.set(marker, out);
  return out;
}

/** Copies a manifest and every blob it names from one repository to another (what `crane copy` does). */
export async function copyManifest(p: Pusher, fromRepo: string, reference: string, toRepo: string, toReference: string): Promise<Pushed> {
  const m = await p.getManifest(fromRepo, reference);
  const blobs = [m.json.config, ...(m.json.layers ?? [])].filter(Boolean) as Array<{ digest: string }>;
  for (const b of blobs) await p.blob(toRepo, await p.getBlob(fromRepo, b.digest));
  return p.manifest(toRepo, toReference, m.json, m.json.mediaType ?? m.mediaType);
}

/** A layer of a cosign .sig manifest with the payload it names. */
export interface LegacySignatureLayer {
  layer: OciDescriptor;
  payload: Buffer;
}

/** Rewrites the cosign .sig manifest of an image: `edit` gets each layer and its payload, returns the new ones. */
export async function editLegacySignatures(
  p: Pusher,
  repo: string,
  imageDigest: string,
  edit: (layers: LegacySignatureLayer[]) => Promise<LegacySignatureLayer[]> | LegacySignatureLayer[],
): Promise<void> {
  const tag = `${imageDigest.replace(':', '-')}.sig`;
  const m = await p.getManifest(repo, tag);
  const current = await Promise.all(m.json.layers.map(async (layer) => ({ layer, payload: await p.getBlob(repo, layer.digest) })));
  const next = await edit(current);
  const layers = [];
  for (const { layer, payload } of next) {
    const b = await p.blob(repo, payload);
    layers.push({ ...layer, digest: b.digest, size: b.size });
  }
  await p.manifest(repo, tag, { ...m.json, layers }, m.json.mediaType ?? m.mediaType);
}
