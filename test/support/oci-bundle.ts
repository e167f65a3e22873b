/**
 * OCI bundles run by the real runtimes (runc, crun) with sigguard as their
 * createRuntime hook, the way containerd's CRI plugin would set them up.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Run, run } from './cli.js';
import { busyboxLayer } from './push.js';
import { tempDir } from './temp.js';

export interface HookSpec {
  path: string;
  args: string[];
  timeout?: number;
  env?: string[];
}

export interface BundleOptions {
  marker: string;
  annotations?: Record<string, string>;
  hook?: HookSpec;
  args?: string[];
}

const stateRoot = tempDir('sigguard-runtime-state-');
let counter = 0;

/** containerd CRI annotations for a container of a pod. */
export function criAnnotations(image: string, namespace = 'default', pod = 'demo', container = 'app'): Record<string, string> {
  return {
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.image-name': image,
    'io.kubernetes.cri.sandbox-namespace': namespace,
    'io.kubernetes.cri.sandbox-name': pod,
    'io.kubernetes.cri.container-name': container,
    'io.kubernetes.cri.sandbox-id': 'f'.repeat(64),
  };
}

/** The OCI state a runtime gives a createRuntime hook for container `id` with these annotations (no bundle on disk). */
export function ociState(id: string, annotations: Record<string, string>): string {
  return JSON.stringify({ ociVersion: '1.2.0', id, status: 'creating', pid: 1, bundle: '/nonexistent', annotations });
}

/** The OCI state containerd gives the hook for container `id` of a CRI pod running `image`. */
export function hookState(id: string, image: string): string {
  return ociState(id, criAnnotations(image));
}

export function makeBundle(opts: BundleOptions): string {
  const dir = tempDir('sigguard-bundle-');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  const layer = busyboxLayer(opts.marker);
  const gz = join(dir, 'layer.tar.gz');
  writeFileSync(gz, layer.gz);
  execFileSync('tar', ['-xzf', gz, '-C', rootfs]);
  execFileSync('runc', ['spec', '--rootless=false'], { cwd: dir });
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = opts.args ?? ['/bin/cat', '/marker'];
  spec.root = { path: 'rootfs', readonly: true };
  if (opts.annotations) spec.annotations = opts.annotations;
  if (opts.hook) {
    spec.hooks = {
      createRuntime: [
        { path: opts.hook.path, args: opts.hook.args, timeout: opts.hook.timeout ?? 10, ...(opts.hook.env ? { env: opts.hook.env } : {}) },
      ],
    };
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

/** Runs the bundle to completion with runc or crun; crun inside `unshare -m` without the hybrid cgroup v2 mount. */
export async function runBundle(runtime: 'runc' | 'crun', bundle: string): Promise<Run> {
  const id = `sigguard-test-${process.pid}-${++counter}`;
  const root = join(stateRoot, runtime);
  if (runtime === 'runc') {
    const r = await run('runc', ['--root', root, 'run', '--bundle', bundle, id], { timeoutMs: 60_000 });
    await run('runc', ['--root', root, 'delete', '--force', id]);
    return r;
  }
  const script = `umount /sys/fs/cgroup/unified 2>/dev/null || true; crun --root "$1" run --bundle "$2" "$3"; rc=$?; crun --root "$1" delete --force "$3" >/dev/null 2>&1; exit $rc`;
  return run('unshare', ['-m', 'sh', '-c', script, 'sh', root, bundle, id], { timeoutMs: 60_000 });
}
