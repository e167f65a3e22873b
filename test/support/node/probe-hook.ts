/**
 * Builds the probe hook (probe-hook-main.ts) into one CommonJS file run by the
 * pinned Node, and gives the OCI hook entry that runs it against a node.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from '../paths.js';
import type { ContainerdNode, OciHook } from './containerd-node.js';
import { CRI_API_PROTO } from './cri-peer.js';

export const PINNED_NODE = join(ROOT, `node_modules/node-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}/bin/node`);

/** Bundles the probe into `<node.dir>/probe/probe-hook.cjs`; returns the hook entry and where its records go. */
export async function probeHook(node: ContainerdNode): Promise<{ hook: OciHook; outDir: string }> {
  const dir = join(node.dir, 'probe');
  const outDir = join(dir, 'out');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(dir, 'probe-hook.cjs');
  await build({
    entryPoints: [join(ROOT, 'test/support/node/probe-hook-main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    logLevel: 'warning',
  });
  return { hook: { path: PINNED_NODE, args: ['node', outfile, node.socket, outDir, CRI_API_PROTO], timeout: 10 }, outDir };
}
