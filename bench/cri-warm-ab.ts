/**
 * A/B of two sigguard executables on the warm hook path, interleaved (A B B A ...), RUNS each:
 *  - CRI-O: the hook asks ImageStatus on a CRI server (test/support/fake-crio.ts, grpc-js) and
 *    finds its verdict in the cache: module load + one CRI round trip + the cache;
 *  - containerd, digest in the annotation: module load + the cache (no CRI answer needed).
 * Per run: wall time and the SIGGUARD_TRACE marks (ms since the process started: `main` = the
 * code loaded, `node` = the runtime's answer in, `decided`); median and mean ± standard error of
 * each, and of the paired difference B − A. The marks are what resolves a 2 ms difference on a
 * busy machine: they leave out the fork/exec and the scheduler's noise before the process runs.
 *
 *   node e2e/bundle.mjs bench/cri-warm-ab.ts
 *   AB_A=/path/before/sigguard AB_B=/path/after/sigguard AB_RUNS=150 [AB_CASE=crio|containerd] node build/out/e2e/cri-warm-ab.cjs
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeCrio, crioState } from '../test/support/fake-crio.js';
import { makeWorld, standardPolicy } from '../test/support/world.js';
import { mean, median, se } from './stats.js';

const RUNS = Number(process.env.AB_RUNS ?? 150);
const A = process.env.AB_A!;
const B = process.env.AB_B!;

/** One run, wall time in ms (asynchronous: the CRI server answers from this process). */
type Sample = Record<string, number>;
const MARKS = ['main', 'node', 'decided', 'main→node', 'node→decided'];

function run(bin: string, args: string[], input: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(bin, args, { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, SIGGUARD_TRACE: '1' } });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${bin} exited ${code}: ${err}`));
      const sample: Sample = { wall: ms };
      for (const m of err.matchAll(/^sigguard-trace ([\d.]+) (\S+)$/gm)) sample[m[2]!] = Number(m[1]);
      // the intervals between marks leave out the process start, where most of the noise is
      if (sample.main !== undefined && sample.node !== undefined) sample['main→node'] = sample.node - sample.main;
      if (sample.node !== undefined && sample.decided !== undefined) sample['node→decided'] = sample.decided - sample.node;
      resolve(sample);
    });
    child.stdin.end(input);
  });
}

const f = (x: number) => x.toFixed(2);

async function main() {
  const w = await makeWorld();
  const crio = await FakeCrio.start();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'sigguard-ab-'));
    const policy = w.policy('ab-policy.yaml', standardPolicy(w));
    const manifest = await w.push.getManifest('signed', w.digests.signed!);
    const id = manifest.json.config.digest.slice('sha256:'.length);
    crio.images.set(id, { id, repoDigests: [`${w.registry.host}/signed@${w.digests.signed}`] });
    const cases = [
      {
        name: 'CRI-O (ImageStatus + warm cache)',
        cfg: `node:\n  crioSocket: ${crio.socket}\n`,
        input: crioState('ab', `${w.registry.host}/signed:v1`, id),
      },
      {
        name: 'containerd digest (warm cache, no CRI)',
        cfg: `node:\n  containerdSocket: ${join(dir, 'none.sock')}\n`,
        input: JSON.stringify({
          ociVersion: '1.2.0',
          id: 'ab',
          status: 'creating',
          pid: 1,
          bundle: '/nonexistent',
          annotations: {
            'io.kubernetes.cri.container-type': 'container',
            'io.kubernetes.cri.image-name': w.ref('signed'),
            'io.kubernetes.cri.sandbox-namespace': 'default',
          },
        }),
      },
    ];
    const only = process.env.AB_CASE; // 'crio' or 'containerd': one case only
    for (const c of cases.filter((x) => !only || x.name.toLowerCase().replace('-', '').startsWith(only))) {
      const args = (tag: string) => {
        const cfg = join(dir, `${tag}-${cases.indexOf(c)}.yaml`);
        writeFileSync(cfg, `cache:\n  dir: ${join(dir, `cache-${tag}-${cases.indexOf(c)}`)}\n${c.cfg}`);
        return ['hook', '--config', cfg, '--policy', policy, '--log', join(dir, `${tag}.log`)];
      };
      const [argsA, argsB] = [args('a'), args('b')];
      await run(A, argsA, c.input); // cold: fills the cache
      await run(B, argsB, c.input);
      const last = readFileSync(join(dir, 'b.log'), 'utf8').trim().split('\n').pop()!;
      if (!last.includes('"allow"')) throw new Error(`not an allow: ${last}`);
      const a: Sample[] = [];
      const b: Sample[] = [];
      for (let i = 0; i < RUNS; i++) {
        if (i % 2 === 0) {
          a.push(await run(A, argsA, c.input));
          b.push(await run(B, argsB, c.input));
        } else {
          b.push(await run(B, argsB, c.input));
          a.push(await run(A, argsA, c.input));
        }
      }
      console.log(`${c.name}, ${RUNS} interleaved runs each (ms):`);
      for (const k of ['wall', ...MARKS]) {
        const xa = a.map((x) => x[k]).filter((x) => x !== undefined) as number[];
        const xb = b.map((x) => x[k]).filter((x) => x !== undefined) as number[];
        if (xa.length !== RUNS || xb.length !== RUNS) continue;
        const d = xa.map((x, i) => xb[i]! - x);
        console.log(
          `  ${k.padEnd(13)} A median ${f(median(xa))}, mean ${f(mean(xa))} ± ${f(se(xa))} | ` +
            `B median ${f(median(xb))}, mean ${f(mean(xb))} ± ${f(se(xb))} | B − A median ${f(median(d))}, mean ${f(mean(d))} ± ${f(se(d))}`,
        );
      }
    }
  } finally {
    await crio.close();
    await w.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
