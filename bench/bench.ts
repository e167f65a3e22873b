/**
 * `make bench`: sigguard side by side with `cosign verify` on the same signed images in
 * the same run, each many times; medians, min/max, ratios to cosign, peak RSS. Not a
 * test: no assertions, numbers to read. Results: bench/results.json.
 *
 *  - cosign verify --key (2.5.0 legacy, 3.1.1 bundle), sigguard check, the hook on a cold
 *    cache (nothing cached), for a new image (no verdict; the validated policy and config
 *    cached, as on a node already running) and on a warm verdict cache;
 *  - a trivial Node single executable (bench/trivial-sea.ts): the floor of any Node executable;
 *  - StartContainer on the local containerd node: no hook, hook cold, new image, warm, `sigguard
 *    version` as the hook (the process floor as a hook: what any start of the executable costs),
 *    and the shell hook sigguard replaces (bench/shell-hook.sh: jq + cosign verify --key on every start);
 *  - burst: 50 concurrent hooks on a cold cache for one image: wall time and registry
 *    requests against one single verification's;
 *  - the node-boot storm and its curve (bench/storm.ts), drawn into bench/storm.svg;
 *  - a table of issue 15's targets, each figure beside its target, met or not.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ContainerdNode, restartNode, startNode, stopNode, writeBaseSpec } from '../test/support/node/containerd-node.js';
import { Kubelet } from '../test/support/node/kubelet.js';
import { sigguard } from '../test/support/cli.js';
import { COSIGN2, COSIGN3, ROOT, SIGGUARD, requireTools } from '../test/support/paths.js';
import { freePort } from '../test/support/registry.js';
import { makeWorld } from '../test/support/world.js';
import { startDelayProxy } from '../test/support/bench/delay-proxy.js';
import { runStorm, stormImages } from './storm.js';
import { stormSvg } from '../test/support/bench/storm-svg.js';
import { type TargetRow, atMost, median, ratioInterval, targetTable } from '../test/support/bench/targets.js';
import { trivialSea } from './trivial-sea.js';
import { type Verifier, startVerifier } from '../test/support/agent-socket.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const BURST = Number(process.env.BENCH_BURST ?? 50);
const TIME = '/usr/bin/time';
/** jq for the shell hook: Debian's, which build/tools.sh installs (make bench runs it first). */
const JQ_DIR = '/usr/bin';
const STORM_DELAY_MS = 20;
const STORM_REPS = Number(process.env.BENCH_STORM_REPS ?? 2);
const CURVE = (process.env.BENCH_CURVE ?? '1,10,50,100,200').split(',').map(Number);
/**
 * The single executable itself where it is current (bin/sigguard is a shell wrapper that execs
 * it: one more process start per run), else the wrapper (which then runs the bundle).
 */
const EXE = (() => {
  const sea = join(ROOT, 'build/out/sigguard');
  const cjs = join(ROOT, 'build/out/sigguard.cjs');
  return existsSync(sea) && existsSync(cjs) && statSync(sea).mtimeMs >= statSync(cjs).mtimeMs ? sea : SIGGUARD;
})();

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
  /** The median over runs of each run's peak RSS (issue 15's RSS figure). */
  medianRssMb: number;
  failures: number;
  /**
   * Every run's time (ms), round by round: sample i of every row is from the same round. A run
   * that failed is NaN (null in results.json): its round gives the ratio's interval no pair.
   */
  samplesMs: number[];
}

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
    medianRssMb: round(median(samples.map((s) => s.rssKb)) / 1024),
    failures: samples.filter((s) => s.code !== expectCode).length,
    samplesMs: samples.map((x) => (x.code === expectCode ? round(x.ms, 2) : Number.NaN)),
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
  const lines = [
    '| | median ms | min–max ms | × cosign 2.5 | 95% interval | median peak RSS MB | × cosign RSS |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    // the time ratio's 95% interval, each run paired with cosign's of the same round (targets.ts)
    const i = r === baseline ? undefined : ratioInterval(r.samplesMs, baseline.samplesMs);
    lines.push(
      `| ${r.name} | ${r.medianMs} | ${r.minMs}–${r.maxMs} | ${round(r.medianMs / baseline.medianMs, 2)} | ${i ? `${i[0].toFixed(2)}–${i[1].toFixed(2)}` : '—'} | ${r.medianRssMb} | ${round(r.medianRssMb / baseline.medianRssMb, 2)} |${r.failures ? ` (${r.failures} failed)` : ''}`,
    );
  }
  return lines.join('\n');
}

interface StartFigures {
  overheadColdMs: number;
  overheadNewImageMs: number;
  overheadWarmMs: number;
  overheadWarmAgentMs: number;
  overheadVersionInRoundMs: number;
  warmAgentBeyondVersionMs: number | undefined;
  overheadShellHookMs: number;
  overheadColdAgentMs: number;
  overheadNewImageAgentMs: number;
  overheadVersionHookMs: number;
}

/** Issue 15's targets against this run's figures (every ratio is within this run). */
function targets(verify: Stats[], storm: Awaited<ReturnType<typeof runStorm>>, start: StartFigures): TargetRow[] {
  const by = (name: string): Stats => {
    const r = verify.find((v) => v.name === name);
    if (!r) throw new Error(`no figure ${name}`);
    return r;
  };
  const cosign = by('cosign 2.5.0 verify (legacy)');
  const floor = by('sigguard version (process floor)');
  const ms = (x: number) => `${round(x)} ms`;
  const mb = (x: number) => `${round(x)} MB`;
  // with the ratio's 95% interval: each run of the row paired with cosign's in the same round
  const time = (name: string, what: string, limit: number) =>
    atMost(what, ms(by(name).medianMs), by(name).medianMs, cosign.medianMs, limit, 'cosign 2.5', {
      xs: by(name).samplesMs,
      base: cosign.samplesMs,
    });
  const rss = (name: string, what: string) =>
    atMost(what, mb(by(name).medianRssMb), by(name).medianRssMb, cosign.medianRssMb, 1.3, "cosign 2.5's");
  const stormLimit = 1.2 * storm.floorMs + 1000;
  const hello = by('trivial Node SEA (hello world)');
  // Every installer runs the hook with --agent (the DaemonSet's agent, install.sh's verifier
  // service): that is the hook's cold path the targets are for. The hook alone (install.sh
  // --no-verifier, a node without systemd, the verifier down) is its fallback: reported beside.
  const alone = (row: TargetRow): TargetRow => ({
    ...row,
    what: `hook alone (fallback): ${row.what}`,
    target: `— (reported; ${row.target} is for the hook as installed, asking the agent)`,
    met: undefined,
  });
  return [
    time('hook + agent, cold cache (legacy)', 'hook + agent, cold cache (legacy)', 1.5),
    time('hook + agent, cold cache (bundle)', 'hook + agent, cold cache (bundle)', 1.5),
    time('hook + agent, new image (legacy)', 'hook + agent, new image (legacy)', 1.5),
    time('hook + agent, new image (bundle)', 'hook + agent, new image (bundle)', 1.5),
    time('sigguard check (legacy)', 'check (legacy)', 1.5),
    time('sigguard check (bundle)', 'check (bundle)', 1.5),
    {
      what: 'check (bundle) vs cosign 3.1.1 on the same image (cosign 2.5 finds no signature on it)',
      figure: `${ms(by('sigguard check (bundle)').medianMs)} vs ${ms(by('cosign 3.1.1 verify (bundle)').medianMs)}`,
      ratio: by('sigguard check (bundle)').medianMs / by('cosign 3.1.1 verify (bundle)').medianMs,
      interval: ratioInterval(by('sigguard check (bundle)').samplesMs, by('cosign 3.1.1 verify (bundle)').samplesMs),
      target: '— (reported: the rows are against cosign 2.5 on the legacy image, as the issue measures)',
    },
    alone(time('hook, cold cache (legacy)', 'cold cache (legacy)', 1.5)),
    alone(time('hook, cold cache (bundle)', 'cold cache (bundle)', 1.5)),
    alone(time('hook, new image (legacy; policy validated)', 'new image (legacy; policy validated)', 1.5)),
    alone(time('hook, new image (bundle; policy validated)', 'new image (bundle; policy validated)', 1.5)),
    time('hook + agent, warm cache', 'hook + agent, warm cache', 1.1),
    alone(time('hook, warm cache', 'warm cache', 1.1)),
    rss('hook + agent, warm cache', 'peak RSS, warm hook + agent (median of runs)'),
    rss('hook + agent, cold cache (legacy)', 'peak RSS, cold hook + agent legacy (median of runs)'),
    rss('hook + agent, cold cache (bundle)', 'peak RSS, cold hook + agent bundle (median of runs)'),
    rss('hook + agent, new image (legacy)', 'peak RSS, new-image hook + agent legacy (median of runs)'),
    rss('hook + agent, new image (bundle)', 'peak RSS, new-image hook + agent bundle (median of runs)'),
    alone(rss('hook, warm cache', 'peak RSS, warm hook (median of runs)')),
    alone(rss('hook, cold cache (legacy)', 'peak RSS, cold hook legacy (median of runs)')),
    alone(rss('hook, cold cache (bundle)', 'peak RSS, cold hook bundle (median of runs)')),
    alone(rss('hook, new image (legacy; policy validated)', 'peak RSS, new-image hook legacy (median of runs)')),
    alone(rss('hook, new image (bundle; policy validated)', 'peak RSS, new-image hook bundle (median of runs)')),
    {
      what: `storm: wrong verdicts (${storm.starts} hooks, ${storm.unsignedImages} to refuse)`,
      figure: String(storm.wrong),
      target: '0',
      met: storm.wrong === 0,
    },
    atMost(
      `storm: registry requests (${storm.signedImages + storm.unsignedImages} images)`,
      `${storm.requests}`,
      storm.requests,
      storm.singleRequests,
      1.1,
      `single verifications (${storm.singleRequests})`,
    ),
    {
      what: `storm: time to the last decision (${storm.starts} at once, policy validated before)`,
      figure: ms(storm.lastDecisionMs),
      ratio: storm.lastDecisionMs / storm.floorMs,
      target: `≤ 1.2× floor + 1 s = ${ms(stormLimit)} (floor ${ms(storm.floorMs)})`,
      met: storm.lastDecisionMs <= stormLimit,
    },
    {
      what: 'storm: CPU time of the hooks vs the floor (all processes together, median run)',
      figure: `${round(median(storm.runs.map((r) => r.cpuMs)) / 1000, 2)} s vs ${round(median(storm.runs.map((r) => r.floorCpuMs)) / 1000, 2)} s`,
      ratio: median(storm.runs.map((r) => r.cpuMs)) / median(storm.runs.map((r) => r.floorCpuMs)),
      target: '— (reported: what the time ratio tends to on a quiet machine)',
    },
    alone({
      what: 'storm, nothing cached at all (first start after an install or upgrade)',
      figure: `${ms(storm.docsCold.lastDecisionMs)}, ${storm.docsCold.requests} requests, ${storm.docsCold.wrong} wrong`,
      ratio: storm.docsCold.lastDecisionMs / storm.docsCold.floorMs,
      target: `≤ 1.2× floor + 1 s = ${ms(1.2 * storm.docsCold.floorMs + 1000)}`,
    }),
    {
      what: 'storm, nothing cached, hooks asking the agent (a verifier started just before)',
      figure: `${ms(storm.agentCold.lastDecisionMs)}, ${storm.agentCold.requests} requests (${round(storm.agentCold.requests / storm.singleRequests, 2)}× singles), ${storm.agentCold.wrong} wrong`,
      ratio: storm.agentCold.lastDecisionMs / storm.agentCold.floorMs,
      target: `≤ 1.2× floor + 1 s = ${ms(1.2 * storm.agentCold.floorMs + 1000)}; requests ≤ 1.1× singles; 0 wrong`,
      met:
        storm.agentCold.wrong === 0 &&
        storm.agentCold.lastDecisionMs <= 1.2 * storm.agentCold.floorMs + 1000 &&
        storm.agentCold.requests <= 1.1 * storm.singleRequests,
    },
    atMost(
      'StartContainer overhead, warm, hook + agent',
      `+${ms(start.overheadWarmAgentMs)}`,
      start.overheadWarmAgentMs,
      floor.medianMs,
      1.2,
      `process floor (${ms(floor.medianMs)})`,
    ),
    alone(
      atMost('StartContainer overhead, warm', `+${ms(start.overheadWarmMs)}`, start.overheadWarmMs, floor.medianMs, 1.2, 'process floor'),
    ),
    {
      what: "StartContainer, warm, hook + agent minus `sigguard version` as the hook, same rounds (the hook's own part of a start)",
      figure:
        start.warmAgentBeyondVersionMs === undefined
          ? '— (a start failed)'
          : `${start.warmAgentBeyondVersionMs >= 0 ? '+' : ''}${ms(start.warmAgentBeyondVersionMs)} (version as the hook +${ms(start.overheadVersionInRoundMs)})`,
      ratio: start.warmAgentBeyondVersionMs === undefined ? undefined : start.warmAgentBeyondVersionMs / floor.medianMs,
      target: '— (reported: the warm row above less what any hook of this executable costs a start, measured beside it)',
    },
    {
      what: 'StartContainer overhead of `sigguard version` as the hook (the process floor as a hook)',
      figure: `+${ms(start.overheadVersionHookMs)}`,
      ratio: start.overheadVersionHookMs / floor.medianMs,
      target: '— (reported: the least any hook of this executable adds; the rows above and below are against the floor itself)',
    },
    atMost(
      'StartContainer overhead, cold, hook + agent',
      `+${ms(start.overheadColdAgentMs)}`,
      start.overheadColdAgentMs,
      floor.medianMs,
      2,
      'process floor',
    ),
    atMost(
      'StartContainer overhead, new image, hook + agent',
      `+${ms(start.overheadNewImageAgentMs)}`,
      start.overheadNewImageAgentMs,
      floor.medianMs,
      2,
      'process floor',
    ),
    alone(
      atMost('StartContainer overhead, cold', `+${ms(start.overheadColdMs)}`, start.overheadColdMs, floor.medianMs, 2, 'process floor'),
    ),
    alone(
      atMost(
        'StartContainer overhead, new image (policy validated)',
        `+${ms(start.overheadNewImageMs)}`,
        start.overheadNewImageMs,
        floor.medianMs,
        2,
        'process floor',
      ),
    ),
    atMost(
      'StartContainer overhead, warm, hook + agent, vs shell hook',
      `+${ms(start.overheadWarmAgentMs)}`,
      start.overheadWarmAgentMs,
      start.overheadShellHookMs,
      0.8,
      `jq + cosign hook (+${ms(start.overheadShellHookMs)})`,
    ),
    alone(
      atMost(
        'StartContainer overhead, warm, vs shell hook',
        `+${ms(start.overheadWarmMs)}`,
        start.overheadWarmMs,
        start.overheadShellHookMs,
        0.8,
        'jq + cosign hook',
      ),
    ),
    atMost(
      'StartContainer overhead, cold, hook + agent, vs shell hook',
      `+${ms(start.overheadColdAgentMs)}`,
      start.overheadColdAgentMs,
      start.overheadShellHookMs,
      1.2,
      'jq + cosign hook',
    ),
    atMost(
      'StartContainer overhead, new image, hook + agent, vs shell hook',
      `+${ms(start.overheadNewImageAgentMs)}`,
      start.overheadNewImageAgentMs,
      start.overheadShellHookMs,
      1.2,
      'jq + cosign hook',
    ),
    alone(
      atMost(
        'StartContainer overhead, cold, vs shell hook',
        `+${ms(start.overheadColdMs)}`,
        start.overheadColdMs,
        start.overheadShellHookMs,
        1.2,
        'jq + cosign hook',
      ),
    ),
    alone(
      atMost(
        'StartContainer overhead, new image, vs shell hook',
        `+${ms(start.overheadNewImageMs)}`,
        start.overheadNewImageMs,
        start.overheadShellHookMs,
        1.2,
        'jq + cosign hook',
      ),
    ),
    {
      what: 'process floor vs a trivial Node SEA',
      figure: `${ms(floor.medianMs)} vs ${ms(hello.medianMs)}`,
      ratio: floor.medianMs / hello.medianMs,
      target: '— (reported)',
    },
  ];
}

async function main(): Promise<void> {
  const started = Date.now();
  requireTools(COSIGN2, COSIGN3, join(JQ_DIR, 'jq'), TIME);
  const w = await makeWorld();
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-bench-'));
  let node: ContainerdNode | undefined;
  let nodeAgent: Verifier | undefined;
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
    /** A new image on a node already running: no verdict (nor lock), the validated documents kept (docs/). */
    const clearVerdicts = () => {
      for (const f of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
        if (/^[0-9a-f]{64}\.(json|lock)$/.test(f)) rmSync(join(cacheDir, f), { force: true });
      }
    };

    // the node's agent answering hooks (`hook --agent`): `sigguard verifier`, the agent's socket alone
    mkdirSync(join(dir, 'agent'), { mode: 0o700 });
    const agent = await startVerifier(join(dir, 'agent', 'hook.sock'), config, policy);
    const agentArgs = [...hookArgs, '--agent', agent.socket];
    // and one for the warm hook's configuration: the warm hook as installed asks it first
    mkdirSync(join(dir, 'warm-agent'), { mode: 0o700 });
    const warmVerifier = await startVerifier(join(dir, 'warm-agent', 'hook.sock'), warmConfig, policy);
    const warmAgentArgs = [...warmArgs, '--agent', warmVerifier.socket];
    const hello = await trivialSea();
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
        { name: 'sigguard check (legacy)', run: () => once(EXE, ['check', '--policy', policy, '--config', config, w.ref('signed')]) },
        {
          name: 'sigguard check (bundle)',
          run: () => once(EXE, ['check', '--policy', policy, '--config', config, w.ref('signed-bundle')]),
        },
        { name: 'hook, cold cache (legacy)', before: clearCache, run: () => once(EXE, hookArgs, state('signed')) },
        { name: 'hook, cold cache (bundle)', before: clearCache, run: () => once(EXE, hookArgs, state('signed-bundle')) },
        { name: 'hook, new image (legacy; policy validated)', before: clearVerdicts, run: () => once(EXE, hookArgs, state('signed')) },
        {
          name: 'hook, new image (bundle; policy validated)',
          before: clearVerdicts,
          run: () => once(EXE, hookArgs, state('signed-bundle')),
        },
        { name: 'hook + agent, cold cache (legacy)', before: clearCache, run: () => once(EXE, agentArgs, state('signed')) },
        { name: 'hook + agent, cold cache (bundle)', before: clearCache, run: () => once(EXE, agentArgs, state('signed-bundle')) },
        { name: 'hook + agent, new image (legacy)', before: clearVerdicts, run: () => once(EXE, agentArgs, state('signed')) },
        { name: 'hook + agent, new image (bundle)', before: clearVerdicts, run: () => once(EXE, agentArgs, state('signed-bundle')) },
        { name: 'hook, warm cache', run: () => once(EXE, warmArgs, state('signed')) },
        { name: 'hook + agent, warm cache', run: () => once(EXE, warmAgentArgs, state('signed')) },
        { name: 'sigguard version (process floor)', run: () => once(EXE, ['version']) },
        { name: 'trivial Node SEA (hello world)', run: () => once(hello, []) },
      ],
      RUNS,
    );
    await agent.stop();
    await warmVerifier.stop();
    const cosign2 = verify[0]!;
    console.log(`\n${table(verify, cosign2)}`);

    // burst: N hooks at once on a cold cache for one image
    clearCache();
    const before = w.registry.requests().length;
    await once(EXE, hookArgs, state('signed-bundle'));
    const single = w.registry.requests().length - before;
    clearCache();
    const b0 = w.registry.requests().length;
    const t0 = performance.now();
    const burst = await Promise.all(Array.from({ length: BURST }, () => once(EXE, hookArgs, state('signed-bundle'))));
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

    // the node-boot storm: 20 uncached signed images × 5 containers (+2 unsigned), all at once,
    // behind a proxy adding 20 ms per request; then the curve over other numbers of starts
    const proxy = await startDelayProxy(w.registry.host, STORM_DELAY_MS);
    let storm: Awaited<ReturnType<typeof runStorm>>;
    try {
      const images = await stormImages(w, 20, 2);
      storm = await runStorm({
        w,
        exe: EXE,
        dir: join(dir, 'storm'),
        proxy,
        delayMs: STORM_DELAY_MS,
        signed: images.filter((i) => i.signed),
        unsigned: images.filter((i) => !i.signed),
        perImage: 5,
        reps: STORM_REPS,
        curve: CURVE,
      });
    } finally {
      await proxy.close();
    }
    console.log(
      `\nstorm (verdict cache empty, policy and config validated by an earlier start, as after a reboot): ${storm.starts} hooks at once (${storm.signedImages} signed images × 5, ${storm.unsignedImages} unsigned), +${STORM_DELAY_MS} ms per registry request, ${STORM_REPS} runs: last decision ${storm.lastDecisionMs} ms (floor: ${storm.starts} × sigguard version at once, ${storm.floorMs} ms), ${storm.requests} registry requests (singles: ${storm.singleRequests}) = ${storm.requestRatio}×, ${storm.wrong} wrong verdicts, CPU ${round(median(storm.runs.map((r) => r.cpuMs)) / 1000, 2)} s (floor ${round(median(storm.runs.map((r) => r.floorCpuMs)) / 1000, 2)} s), peak total RSS ${storm.peakRssMb} MB (floor ${storm.floorPeakRssMb} MB)`,
    );
    const dc = storm.docsCold;
    console.log(
      `storm with nothing cached at all (first start after an install or upgrade): last decision ${dc.lastDecisionMs} ms (floor ${dc.floorMs} ms), ${dc.requests} registry requests, ${dc.wrong} wrong${dc.why ? ` (${dc.why})` : ''}, peak total RSS ${dc.peakRssMb} MB`,
    );
    const ac = storm.agentCold;
    console.log(
      `storm with nothing cached, the hooks asking the agent: last decision ${ac.lastDecisionMs} ms (floor ${ac.floorMs} ms), ${ac.requests} registry requests, ${ac.wrong} wrong${ac.why ? ` (${ac.why})` : ''}, CPU ${round(ac.cpuMs / 1000, 2)} s (floor ${round(ac.floorCpuMs / 1000, 2)} s; the agent's own not counted), peak total RSS ${ac.peakRssMb} MB`,
    );
    for (const r of storm.runs) if (r.why) console.log(`  a wrong verdict: ${r.why}`);
    for (const c of storm.curve) {
      console.log(
        `  ${String(c.starts).padStart(3)} starts / ${String(c.images).padStart(2)} images: last decision ${c.hookMs} ms (floor ${c.floorMs} ms), CPU ${round(c.cpuMs / 1000, 2)} s (floor ${round(c.floorCpuMs / 1000, 2)} s), peak total RSS ${c.hookRssMb} MB (floor ${c.floorRssMb} MB), ${c.requests} requests (singles ${c.singleRequests}), ${c.wrong} wrong`,
      );
    }
    writeFileSync(
      join(ROOT, 'bench/storm.svg'),
      stormSvg(
        storm.curve,
        `make bench ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; cold cache, +${STORM_DELAY_MS} ms per registry request; RSS: sampled sum over live processes`,
      ),
    );

    // StartContainer on the local containerd node (2.1), Kind's layout: the runtime handler `runc`
    // has the base spec and so the hook, Kind's `test-handler` has none. Each round starts a
    // container without a hook, then the hooked ones in a fixed order; each hooked start is paired
    // with its round's start without a hook, so each overhead is measured against a start made
    // under the same machine load: sigguard (cold, then warm), then the shell hook.
    const alias = `localhost:${await freePort()}`;
    // a third handler, `version-hook`, whose base spec's hook is `sigguard version`: the floor as a
    // hook, started in the same rounds as sigguard's hook with the agent (see versionInRound)
    const nodeDir = mkdtempSync('/tmp/sgb-');
    const versionSpec = join(nodeDir, 'version-base.json');
    node = await startNode({
      version: '2.1',
      registryHost: w.registry.host,
      aliasHost: alias,
      dir: nodeDir,
      layout: 'kind',
      extraHandlers: { 'version-hook': versionSpec },
    });
    const kubelet = new Kubelet(node);
    const image = w.ref('signed');
    let pods = 0;
    const startOnce = async (runtimeHandler: 'runc' | 'test-handler' | 'version-hook'): Promise<number | undefined> => {
      const r = await kubelet.runPod({ image, name: `bench-${pods++}`, command: ['/bin/true'], runtimeHandler });
      await kubelet.cleanup();
      return r.ok ? r.startMs : undefined;
    };
    /**
     * `runs` rounds of: a start without a hook, then one hooked start per `hooked` entry (its
     * `before` first). `diffs[k]`: each round's hooked start minus the start without a hook right
     * before it (rounds where both started), the pairing the overheads are the median of.
     */
    const paired = async (
      runs: number,
      hooked: Array<(() => void) | 'version-hook'>,
    ): Promise<{ bare: number[]; hooked: number[][]; diffs: number[][] }> => {
      const out = { bare: [] as number[], hooked: hooked.map(() => [] as number[]), diffs: hooked.map(() => [] as number[]) };
      for (let i = 0; i < runs; i++) {
        const b = await startOnce('test-handler');
        if (b !== undefined) out.bare.push(b);
        for (const [k, before] of hooked.entries()) {
          if (before !== 'version-hook') before();
          const t = await startOnce(before === 'version-hook' ? 'version-hook' : 'runc');
          if (t !== undefined) out.hooked[k]!.push(t);
          if (t !== undefined && b !== undefined) out.diffs[k]!.push(t - b);
        }
      }
      return out;
    };
    /** The overhead of hooked entry k: the median of its rounds' paired differences (a round where either start failed has none). */
    const overhead = (p: { diffs: number[][] }, k: number): number => {
      const d = p.diffs[k]!;
      if (d.length === 0) throw new Error(`StartContainer: no round where both the start without a hook and hooked start ${k} started`);
      return round(median(d));
    };
    // as many rounds as the other rows have runs: with half as many, the warm row's median moved
    // between 1.10x and 1.36x the floor from one run of the bench to the next
    const startRuns = Math.max(5, RUNS);
    await startOnce('test-handler');
    await startOnce('runc');
    const nodeConfig = join(dir, 'node-config.yaml');
    writeFileSync(
      nodeConfig,
      `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  dir: ${cacheDir}\n`,
    );
    /** The hook into the node's base spec, with these hook flags after the usual ones. */
    const installHook = async (...extra: string[]) => {
      const inst = await sigguard([
        'install-hook',
        '--base-spec',
        node!.baseSpec,
        '--path',
        join(ROOT, 'build/out/sigguard'),
        '--',
        '--policy',
        policy,
        '--log',
        join(dir, 'node-decisions.log'),
        '--config',
        nodeConfig,
        ...extra,
      ]);
      if (inst.code !== 0) throw new Error(inst.stderr);
    };
    await installHook();
    await restartNode(node);
    await startOnce('runc');
    const sg = await paired(startRuns, [clearCache, clearVerdicts, () => {}]);
    const [cold, newImage, warm] = sg.hooked as [number[], number[], number[]];
    // the same hook entry naming the node's agent (`--agent`), the agent answering on its socket
    mkdirSync(join(dir, 'node-agent'), { mode: 0o700 });
    nodeAgent = await startVerifier(join(dir, 'node-agent', 'hook.sock'), nodeConfig, policy);
    await installHook('--agent', nodeAgent.socket);
    {
      const s = JSON.parse(readFileSync(node.baseSpec, 'utf8')) as { hooks: { createRuntime: Array<{ args: string[] }> } };
      s.hooks.createRuntime = s.hooks.createRuntime.map((h) => ({ ...h, args: [h.args[0]!, 'version'] }));
      writeFileSync(versionSpec, `${JSON.stringify(s, null, 2)}\n`);
    }
    await restartNode(node);
    await startOnce('runc');
    await startOnce('version-hook');
    const sga = await paired(startRuns, [clearCache, clearVerdicts, () => {}, 'version-hook']);
    const [coldAgent, newImageAgent, warmAgent] = sga.hooked as [number[], number[], number[]];
    /** Each round's warm start with the agent minus its `sigguard version` start: the hook's own part of a warm start. */
    const warmBeyondVersion =
      sga.hooked[2]!.length === startRuns && sga.hooked[3]!.length === startRuns
        ? round(median(sga.hooked[2]!.map((t, i) => t - sga.hooked[3]![i]!)))
        : undefined;
    await nodeAgent.stop();
    nodeAgent = undefined;
    // the process floor as a hook: the same executable and stage, `sigguard version` (reads nothing, exits 0)
    const hookedSpec = readFileSync(node.baseSpec, 'utf8');
    const spec = JSON.parse(hookedSpec) as { hooks: { createRuntime: Array<{ args: string[] }> } };
    spec.hooks.createRuntime = spec.hooks.createRuntime.map((h) => ({ ...h, args: [h.args[0]!, 'version'] }));
    writeFileSync(node.baseSpec, `${JSON.stringify(spec, null, 2)}\n`);
    await restartNode(node);
    await startOnce('runc');
    const vh = await paired(startRuns, [() => {}]);
    const versionHook = vh.hooked[0]!;
    // the baseline: bench/shell-hook.sh in sigguard's place (createRuntime), cosign 2.5 on every start;
    // first, that it verifies at all: the signed image let through, the unsigned one refused
    const shellHook = join(ROOT, 'bench/shell-hook.sh');
    const shellEnv = { HOME: env.HOME, PATH: `${JQ_DIR}:/usr/sbin:/usr/bin:/sbin:/bin` };
    for (const [repo, allow] of [
      ['signed', true],
      ['unsigned', false],
    ] as const) {
      const r = await once(shellHook, [w.trusted.pub, COSIGN2], state(repo), shellEnv);
      if ((r.code === 0) !== allow) throw new Error(`bench/shell-hook.sh gave exit ${r.code} for ${repo}`);
    }
    writeBaseSpec(node, {
      createRuntime: [
        {
          path: shellHook,
          args: ['shell-hook.sh', w.trusted.pub, COSIGN2],
          env: Object.entries(shellEnv).map(([k, v]) => `${k}=${v}`),
        },
      ],
    });
    await restartNode(node);
    await startOnce('runc');
    const sh = await paired(startRuns, [() => {}]);
    const shell = sh.hooked[0]!;
    const start = {
      containerd: '2.1',
      runs: startRuns,
      noHookMedianMs: round(median([...sg.bare, ...sh.bare])),
      /** The starts without a hook paired with sigguard's, and with the shell hook's. */
      noHookBesideSigguardMedianMs: round(median(sg.bare)),
      noHookBesideShellHookMedianMs: round(median(sh.bare)),
      hookColdMedianMs: round(median(cold)),
      hookNewImageMedianMs: round(median(newImage)),
      hookWarmMedianMs: round(median(warm)),
      shellHookMedianMs: round(median(shell)),
      overheadColdMs: overhead(sg, 0),
      /** With the hook entry naming the node's agent (`--agent`), its own rounds beside starts without a hook. */
      hookColdAgentMedianMs: round(median(coldAgent)),
      hookNewImageAgentMedianMs: round(median(newImageAgent)),
      hookWarmAgentMedianMs: round(median(warmAgent)),
      noHookBesideAgentMedianMs: round(median(sga.bare)),
      overheadColdAgentMs: overhead(sga, 0),
      overheadNewImageAgentMs: overhead(sga, 1),
      overheadWarmAgentMs: overhead(sga, 2),
      /** `sigguard version` as the hook, in the same rounds as the agent's (the `version-hook` handler). */
      overheadVersionInRoundMs: overhead(sga, 3),
      /** The median of each of those rounds' warm start with the agent minus its `sigguard version` start (undefined: a start failed). */
      warmAgentBeyondVersionMs: warmBeyondVersion,
      overheadNewImageMs: overhead(sg, 1),
      overheadWarmMs: overhead(sg, 2),
      overheadShellHookMs: overhead(sh, 0),
      versionHookMedianMs: round(median(versionHook)),
      noHookBesideVersionHookMedianMs: round(median(vh.bare)),
      overheadVersionHookMs: overhead(vh, 0),
      /**
       * The same overheads as the difference of the two medians (hooked starts', starts without a
       * hook's), how the bench computed them until 2026-11-30: for comparison with earlier runs.
       */
      /** How many rounds each overhead is the median of (a round where either start failed is left out). */
      pairs: {
        cold: sg.diffs[0]!.length,
        newImage: sg.diffs[1]!.length,
        warm: sg.diffs[2]!.length,
        coldAgent: sga.diffs[0]!.length,
        newImageAgent: sga.diffs[1]!.length,
        warmAgent: sga.diffs[2]!.length,
        shellHook: sh.diffs[0]!.length,
        versionHook: vh.diffs[0]!.length,
      },
      unpaired: {
        cold: round(median(cold) - median(sg.bare)),
        newImage: round(median(newImage) - median(sg.bare)),
        warm: round(median(warm) - median(sg.bare)),
        coldAgent: round(median(coldAgent) - median(sga.bare)),
        newImageAgent: round(median(newImageAgent) - median(sga.bare)),
        warmAgent: round(median(warmAgent) - median(sga.bare)),
        shellHook: round(median(shell) - median(sh.bare)),
        versionHook: round(median(versionHook) - median(vh.bare)),
      },
      failed: {
        noHook: 4 * startRuns - sg.bare.length - sga.bare.length - vh.bare.length - sh.bare.length,
        cold: startRuns - cold.length,
        coldAgent: startRuns - coldAgent.length,
        newImageAgent: startRuns - newImageAgent.length,
        warmAgent: startRuns - warmAgent.length,
        newImage: startRuns - newImage.length,
        warm: startRuns - warm.length,
        shellHook: startRuns - shell.length,
        versionHook: startRuns - versionHook.length,
      },
    };
    console.log(
      `\nStartContainer (containerd 2.1, ${startRuns} each, each round beside a start without a hook): hook cold ${start.hookColdMedianMs} ms, new image (policy validated) ${start.hookNewImageMedianMs} ms, warm ${start.hookWarmMedianMs} ms, no hook beside them ${start.noHookBesideSigguardMedianMs} ms: +${start.overheadColdMs} / +${start.overheadNewImageMs} / +${start.overheadWarmMs}; shell hook (jq + cosign 2.5) ${start.shellHookMedianMs} ms, no hook beside it ${start.noHookBesideShellHookMedianMs} ms: +${start.overheadShellHookMs}; \`sigguard version\` as the hook ${start.versionHookMedianMs} ms, no hook beside it ${start.noHookBesideVersionHookMedianMs} ms: +${start.overheadVersionHookMs}; with the agent: cold ${start.hookColdAgentMedianMs} ms, new image ${start.hookNewImageAgentMedianMs} ms, warm ${start.hookWarmAgentMedianMs} ms, no hook beside them ${start.noHookBesideAgentMedianMs} ms: +${start.overheadColdAgentMs} / +${start.overheadNewImageAgentMs} / +${start.overheadWarmAgentMs} (overheads: medians of each round's paired difference; as differences of the medians ${JSON.stringify(start.unpaired)}); failed starts ${JSON.stringify(start.failed)}`,
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
      storm,
      startContainer: start,
      targets: targets(verify, storm, start),
      durationS: round((Date.now() - started) / 1000),
    };
    writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nissue 15's targets:\n${targetTable(results.targets)}`);
    console.log(`\nresults: bench/results.json, bench/storm.svg (${results.durationS} s)`);
  } finally {
    await nodeAgent?.stop();
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
