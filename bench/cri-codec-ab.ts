/**
 * A/B of two source trees' CRI client alone (module load + one ImageStatus round trip), each run
 * a fresh process of the pinned Node, interleaved (A B B A ...): what the warm hook on CRI-O pays
 * for the CRI code, without the rest of the hook's start. Resolves differences of a fraction of a
 * millisecond where the whole-hook A/B (cri-warm-ab.ts) cannot on a busy machine.
 * The server is test/support/fake-crio.ts (grpc-js with CRI's own api.proto).
 *
 *   node e2e/bundle.mjs bench/cri-codec-ab.ts
 *   AB_A_TREE=/path/before AB_B_TREE=/path/after AB_RUNS=300 node build/out/e2e/cri-codec-ab.cjs
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { mean, median, se } from './stats.js';
import { FakeCrio } from '../test/support/fake-crio.js';

const RUNS = Number(process.env.AB_RUNS ?? 300);
const IMAGE = 'registry.example/app:v1';
const ID = 'ab'.repeat(32);

const child = (tree: string) => `
const t0 = performance.now();
const { CriClient } = require(${JSON.stringify(join(tree, 'src/cri/client.ts'))});
const t1 = performance.now();
(async () => {
  const c = new CriClient(process.argv[2], {});
  const r = await c.imageStatus({ image: process.argv[3] });
  const t2 = performance.now();
  if (!r.image || r.image.id !== process.argv[4]) throw new Error('wrong answer');
  process.stdout.write(t1 - t0 + ' ' + (t2 - t1) + '\\n');
  process.exit(0);
})();
`;

async function bundle(tree: string, dir: string, tag: string): Promise<string> {
  const entry = join(dir, `${tag}.ts`);
  writeFileSync(entry, child(tree));
  const out = join(dir, `${tag}.cjs`);
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'warning' });
  return out;
}

function run(file: string, socket: string): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [file, socket, IMAGE, ID], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${file} exited ${code}`));
      const [load, call] = out.trim().split(' ').map(Number);
      resolve([load!, call!]);
    });
  });
}

const f = (x: number) => x.toFixed(3);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-codec-ab-'));
  const a = await bundle(process.env.AB_A_TREE!, dir, 'a');
  const b = await bundle(process.env.AB_B_TREE!, dir, 'b');
  const crio = await FakeCrio.start();
  crio.images.set(IMAGE, { id: ID, repoDigests: [`registry.example/app@sha256:${'cd'.repeat(32)}`] });
  try {
    const xa: [number, number][] = [];
    const xb: [number, number][] = [];
    await run(a, crio.socket);
    await run(b, crio.socket);
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        xa.push(await run(a, crio.socket));
        xb.push(await run(b, crio.socket));
      } else {
        xb.push(await run(b, crio.socket));
        xa.push(await run(a, crio.socket));
      }
    }
    console.log(`CRI client, ${RUNS} interleaved fresh processes each (ms):`);
    for (const [k, i] of [
      ['load', 0],
      ['ImageStatus', 1],
      ['load + call', 2],
    ] as const) {
      const pick = (x: [number, number]) => (i === 2 ? x[0] + x[1] : x[i]);
      const va = xa.map(pick);
      const vb = xb.map(pick);
      const d = va.map((v, j) => vb[j]! - v);
      console.log(
        `  ${k.padEnd(12)} A median ${f(median(va))} | B median ${f(median(vb))} | B − A median ${f(median(d))}, mean ${f(mean(d))} ± ${f(se(d))}`,
      );
    }
  } finally {
    await crio.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
