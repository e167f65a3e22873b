/**
 * `make bench`: sigguard side by side with `cosign verify` on the same signed images in
 * the same run, each many times; medians, min/max, ratios to cosign, peak RSS. Not a
 * test: no assertions, numbers to read. Results: bench/results.json.
 *
 *  - cosign verify --key (2.5.0 legacy, 3.1.1 bundle), sigguard check, the hook on a cold
 *    and on a warm verdict cache;
 *  - StartContainer on the local containerd node: no hook, hook cold, hook warm;
 *  - burst: 50 concurrent hooks on a cold cache for one image: wall time and registry
 *    requests against one single verification's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ContainerdNode, restartNode, startNode, stopNode } from '../test/support/node/containerd-node.js';
import { Kubelet } from '../test/support/node/kubelet.js';
import { sigguard } from '../test/support/cli.js';
import { COSIGN2, COSIGN3, ROOT, SIGGUARD } from '../test/support/paths.js';
import { freePort } from '../test/support/registry.js';
import { makeWorld } from '../test/support/world.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 50);
const TIME = '/usr/bin/time';

interface Sample {
  ms: number;
  rssKb: number;
  code: number;
}

/** Runs a command once under /usr/bin/time (for peak RSS), timing wall clock around the spawn. */
function once(cmd: string, args: string[], input = '', env: Record<string, string> = {}): Promise<Sample> {
  const rssFile = join(tmpdir(), `sigguard-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: { ...process.env, ...env },
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      let rssKb = 0;
      try {
        rssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
        rmSync(rssFile, { force: true });
      } catch {
        /* no figure */
      }
      resolve({ ms, rssKb, code: code ?? 1 });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

interface Stats {
  name: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  peakRssMb: number;
  failures: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function stats(name: string, samples: Sample[], expectCode = 0): Stats {
  const ms = samples.map((s) => s.ms);
  return {
    name,
    runs: samples.length,
    medianMs: round(median(ms)),
    minMs: round(Math.min(...ms)),
    maxMs: round(Math.max(...ms)),
    peakRssMb: round(Math.max(...samples.map((s) => s.rssKb)) / 1024),
    failures: samples.filter((s) => s.code !== expectCode).length,
  };
}

/** Interleaves the candidates run by run, so machine noise spreads over all of them alike. */
async function interleave(cands: Array<{ name: string; run: () => Promise<Sample>; before?: () => void }>, runs: number): Promise<Stats[]> {
  const samples = new Map<string, Sample[]>(cands.map((c) => [c.name, []]));
  for (const c of cands) {
    c.before?.();
    await c.run(); // warm-up: page cache, first-run effects
  }
  for (let i = 0; i < runs; i++) {
    for (const c of cands) {
      c.before?.();
      samples.get(c.name)!.push(await c.run());
    }
  }
  return cands.map((c) => stats(c.name, samples.get(c.name)!));
}

function table(rows: Stats[], baseline: Stats): string {
  const lines = ['| | median ms | min–max ms | × cosign 2.5 | peak RSS MB | × cosign RSS |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.medianMs} | ${r.minMs}–${r.maxMs} | ${round(r.medianMs / baseline.medianMs, 2)} | ${r.peakRssMb} | ${round(r.peakRssMb / baseline.peakRssMb, 2)} |${r.failures ? ` (${r.failures} failed)` : ''}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const w = await makeWorld();
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-bench-'));
  let node: ContainerdNode | undefined;
  try {
    const env = { HOME: join(w.cosign.dir, 'home') };
    const policy = w.policy(
      'bench-policy.yaml',
      `version: 1\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n`,
    );
    const cacheDir = join(dir, 'cache');
    const config = join(dir, 'config.yaml');
    // no containerd here: the hook's CRI lookup fails fast and the digest in the annotation is used
    writeFileSync(config, `cache:\n  dir: ${cacheDir}\nnode:\n  containerdSocket: ${join(dir, 'no-containerd.sock')}\n`);
    const state = (repo: string) =>
      JSON.stringify({
        ociVersion: '1.2.0',
        id: 'bench',
        status: 'creating',
        pid: 1,
        bundle: '/nonexistent',
        annotations: {
          'io.kubernetes.cri.container-type': 'container',
          'io.kubernetes.cri.image-name': w.ref(repo),
          'io.kubernetes.cri.sandbox-namespace': 'default',
        },
      });
    const hookArgs = ['hook', '--config', config, '--policy', policy, '--log', join(dir, 'decisions.log')];
    // the warm hook has a cache of its own, which the cold runs' clearing never touches
    const warmConfig = join(dir, 'warm-config.yaml');
    writeFileSync(warmConfig, `cache:\n  dir: ${join(dir, 'warm-cache')}\nnode:\n  containerdSocket: ${join(dir, 'no-containerd.sock')}\n`);
    const warmArgs = ['hook', '--config', warmConfig, '--policy', policy, '--log', join(dir, 'warm-decisions.log')];
    const clearCache = () => rmSync(cacheDir, { recursive: true, force: true });

    console.log(`bench: ${RUNS} runs each, interleaved; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`);
    const verify = await interleave(
      [
        {
          name: 'cosign 2.5.0 verify (legacy)',
          run: () => once(COSIGN2, ['verify', '--key', w.trusted.pub, '--insecure-ignore-tlog', w.ref('signed')], '', env),
        },
        {
          name: 'cosign 3.1.1 verify (bundle)',
          run: () => once(COSIGN3, ['verify', '--key', w.trusted.pub, '--insecure-ignore-tlog', w.ref('signed-bundle')], '', env),
        },
        { name: 'sigguard check (legacy)', run: () => once(SIGGUARD, ['check', '--policy', policy, '--config', config, w.ref('signed')]) },
        {
          name: 'sigguard check (bundle)',
          run: () => once(SIGGUARD, ['check', '--policy', policy, '--config', config, w.ref('signed-bundle')]),
        },
        { name: 'hook, cold cache (legacy)', before: clearCache, run: () => once(SIGGUARD, hookArgs, state('signed')) },
        { name: 'hook, cold cache (bundle)', before: clearCache, run: () => once(SIGGUARD, hookArgs, state('signed-bundle')) },
        { name: 'hook, warm cache', run: () => once(SIGGUARD, warmArgs, state('signed')) },
        { name: 'sigguard version (process floor)', run: () => once(SIGGUARD, ['version']) },
      ],
      RUNS,
    );
    const cosign2 = verify[0]!;
    console.log(`\n${table(verify, cosign2)}`);

    // burst: N hooks at once on a cold cache for one image
    clearCache();
    const before = w.registry.requests().length;
    await once(SIGGUARD, hookArgs, state('signed-bundle'));
    const single = w.registry.requests().length - before;
    clearCache();
    const b0 = w.registry.requests().length;
    const t0 = performance.now();
    const burst = await Promise.all(Array.from({ length: BURST }, () => once(SIGGUARD, hookArgs, state('signed-bundle'))));
    const burstMs = performance.now() - t0;
    const burstRequests = w.registry.requests().length - b0;
    const burstResult = {
      hooks: BURST,
      wallMs: round(burstMs),
      failures: burst.filter((s) => s.code !== 0).length,
      registryRequests: burstRequests,
      singleVerificationRequests: single,
      ratio: round(burstRequests / single, 2),
    };
    console.log(
      `\nburst: ${BURST} concurrent hooks, cold cache: ${burstResult.wallMs} ms wall, ${burstRequests} registry requests (one verification: ${single}) = ${burstResult.ratio}×, ${burstResult.failures} failed`,
    );

    // StartContainer on the local containerd node (2.1): no hook, hook cold, hook warm
    const alias = `localhost:${await freePort()}`;
    node = await startNode({ version: '2.1', registryHost: w.registry.host, aliasHost: alias, dir: mkdtempSync('/tmp/sgb-') });
    const kubelet = new Kubelet(node);
    const image = w.ref('signed');
    const startTimes = async (n: number, before?: () => void): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        before?.();
        const r = await kubelet.runPod({ image, name: `bench-${i}`, command: ['/bin/true'] });
        if (r.ok && r.startMs !== undefined) out.push(r.startMs);
        await kubelet.cleanup();
      }
      return out;
    };
    const startRuns = Math.max(5, Math.round(RUNS / 2));
    await startTimes(2);
    const noHook = await startTimes(startRuns);
    const nodeConfig = join(dir, 'node-config.yaml');
    writeFileSync(
      nodeConfig,
      `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  dir: ${cacheDir}\n`,
    );
    const inst = await sigguard([
      'install-hook',
      '--base-spec',
      node.baseSpec,
      '--path',
      join(ROOT, 'build/out/sigguard'),
      '--',
      '--policy',
      policy,
      '--log',
      join(dir, 'node-decisions.log'),
      '--config',
      nodeConfig,
    ]);
    if (inst.code !== 0) throw new Error(inst.stderr);
    await restartNode(node);
    const cold = await startTimes(startRuns, clearCache);
    const warm = await startTimes(startRuns);
    const start = {
      containerd: '2.1',
      runs: startRuns,
      noHookMedianMs: round(median(noHook)),
      hookColdMedianMs: round(median(cold)),
      hookWarmMedianMs: round(median(warm)),
      overheadColdMs: round(median(cold) - median(noHook)),
      overheadWarmMs: round(median(warm) - median(noHook)),
    };
    console.log(
      `\nStartContainer (containerd 2.1, ${startRuns} each): no hook ${start.noHookMedianMs} ms, hook cold ${start.hookColdMedianMs} ms (+${start.overheadColdMs}), hook warm ${start.hookWarmMedianMs} ms (+${start.overheadWarmMs})`,
    );
    kubelet.close();

    const results = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      runs: RUNS,
      verify,
      ratios: Object.fromEntries(
        verify.map((r) => [r.name, { time: round(r.medianMs / cosign2.medianMs, 2), rss: round(r.peakRssMb / cosign2.peakRssMb, 2) }]),
      ),
      burst: burstResult,
      startContainer: start,
      durationS: round((Date.now() - started) / 1000),
    };
    writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nresults: bench/results.json (${results.durationS} s)`);
  } finally {
    if (node) await stopNode(node);
    await w.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
