/**
 * The node-boot storm alone (bench/storm.ts), without the rest of `make bench`: to compare
 * executables (a build before and after a change) on the storm's figures in the same conditions.
 *   $N e2e/bundle.mjs bench/storm-only.ts && $N build/out/e2e/storm-only.cjs
 * STORM_EXES: the executables, comma-separated (default build/out/sigguard), taken by turns
 * STORM_REPS (3) times; each turn is one runStorm: the single verifications, one storm with the
 * policy validated before and one with nothing cached, each next to its process floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDelayProxy } from '../test/support/bench/delay-proxy.js';
import { ROOT } from '../test/support/paths.js';
import { makeWorld } from '../test/support/world.js';
import { runStorm, stormImages } from './storm.js';

const EXES = (process.env.STORM_EXES ?? join(ROOT, 'build/out/sigguard')).split(',');
const REPS = Number(process.env.STORM_REPS ?? 3);

async function main(): Promise<void> {
  const w = await makeWorld();
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-storm-'));
  const proxy = await startDelayProxy(w.registry.host, 20);
  try {
    const images = await stormImages(w, 20, 2);
    for (let rep = 0; rep < REPS; rep++) {
      for (const [k, exe] of EXES.entries()) {
        const r = await runStorm({
          w,
          exe,
          dir: join(dir, `storm-${rep}-${k}`),
          proxy,
          delayMs: 20,
          signed: images.filter((i) => i.signed),
          unsigned: images.filter((i) => !i.signed),
          perImage: 5,
          reps: 1,
          curve: [],
        });
        for (const [what, x] of [
          ['policy validated', r.runs[0]!] as const,
          ['nothing cached', r.docsCold] as const,
          ['nothing cached, agent', r.agentCold] as const,
        ]) {
          console.log(
            `rep ${rep + 1} ${exe} (${what}): last decision ${x.lastDecisionMs} ms, floor ${x.floorMs} ms (target ${Math.round(1.2 * x.floorMs + 1000)} ms), CPU ${x.cpuMs} ms vs floor ${x.floorCpuMs} ms, ${x.requests} requests (singles ${r.singleRequests}), ${x.wrong} wrong${x.why ? ` (${x.why})` : ''}`,
          );
        }
      }
    }
  } finally {
    await proxy.close();
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
