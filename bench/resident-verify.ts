/**
 * What a new image's verification costs a process that is already running (issue 15's next step:
 * the hook asking the node's agent): the engine in this process, its modules, node:crypto and the
 * key already loaded, the policy validated once, each verification a fresh one (no verdict cache),
 * side by side with `cosign verify --key` 2.5 on the same registry, interleaved.
 *
 *   node e2e/bundle.mjs bench/resident-verify.ts && node build/out/e2e/resident-verify.cjs   (RUNS=30)
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { cachedVerify } from '../src/engine/cached-verify.js';
import { loadPolicy } from '../src/policy/load.js';
import { parseReference } from '../src/reference/reference.js';
import { COSIGN2 } from '../test/support/paths.js';
import { tempDir } from '../test/support/temp.js';
import { makeWorld, standardPolicy } from '../test/support/world.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const w = await makeWorld();
  try {
    const dir = tempDir('sigguard-resident-');
    const policyFile = w.policy('resident.yaml', standardPolicy(w));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, `node:\n  containerdSocket: ${join(dir, 'none.sock')}\n`);
    const config = await loadConfig(configFile);
    const policy = await loadPolicy(policyFile);
    const once = async (repo: string): Promise<number> => {
      const ref = parseReference(w.ref(repo));
      const t0 = performance.now();
      const { outcome } = await cachedVerify(
        { ref, named: ref },
        { config, policy, signal: new AbortController().signal, cache: undefined, allowTagResolution: false },
      );
      const ms = performance.now() - t0;
      if (outcome.decision !== 'allow') throw new Error(`${repo}: ${outcome.code} ${outcome.reason}`);
      return ms;
    };
    const first = await once('signed');
    const runs = Number(process.env.RUNS ?? 30);
    const legacy: number[] = [];
    const bundle: number[] = [];
    const cosign: number[] = [];
    const env = { ...process.env, HOME: join(w.cosign.dir, 'home') };
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      spawnSync(COSIGN2, ['verify', '--key', w.trusted.pub, '--insecure-ignore-tlog', w.ref('signed')], { env });
      cosign.push(performance.now() - t0);
      legacy.push(await once('signed'));
      bundle.push(await once('signed-bundle'));
    }
    const c = median(cosign);
    console.log(`first verification in this process: ${first.toFixed(1)} ms (modules, node:crypto, the key)`);
    console.log(
      `then, median of ${runs}: legacy ${median(legacy).toFixed(1)} ms (${(median(legacy) / c).toFixed(2)}× cosign), bundle ${median(bundle).toFixed(1)} ms (${(median(bundle) / c).toFixed(2)}×); cosign 2.5 ${c.toFixed(1)} ms`,
    );
  } finally {
    await w.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
