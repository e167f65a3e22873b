/**
 * The node-boot storm of `make bench` (issue 15): hooks for many uncached images started all at
 * once, as a kubelet starts a node's pods after a reboot, against a registry behind a delaying
 * proxy (test/support/bench/delay-proxy.ts). Measured in one run, next to the process floor (as many
 * `sigguard version` processes started at once):
 *
 *  - single verifications: each image alone on an empty cache, the registry requests it makes;
 *  - the storm (20 signed images × 5 containers, plus unsigned images refused), `reps` times:
 *    every verdict, the registry requests against the singles' sum, the time until the last
 *    decision against the floor's, peak total RSS (test/support/bench/rss-sampler.ts);
 *  - the curve: the same at other numbers of starts (fewer images below 20 starts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostsToml } from '../test/support/node/containerd-node.js';
import type { World } from '../test/support/world.js';
import { type Verifier, startVerifier } from '../test/support/agent-socket.js';
import type { DelayProxy } from '../test/support/bench/delay-proxy.js';
import { RssSampler } from '../test/support/bench/rss-sampler.js';
import type { CurvePoint } from '../test/support/bench/storm-svg.js';

export interface StormImage {
  repo: string;
  /** `<registry host>/<repo>@<digest>` (the hooks reach the registry through the proxy: hosts.toml). */
  ref: string;
  signed: boolean;
}

export interface Launched {
  /** Time until the last process ended (ms since the first spawn). */
  lastMs: number;
  /** Processes whose exit code was not the expected one. */
  wrong: number;
  /** The first wrong one's stderr (its last line), to say why. */
  why?: string;
  peakRssMb: number;
  rssSamples: number;
  /** CPU time (user + system) the processes used together, ms. */
  cpuMs: number;
}

/** CPU time of this process's waited-for children so far (ms): /proc/self/stat cutime + cstime (100 Hz ticks). */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

interface Launch {
  args: string[];
  input: string;
  allow: boolean;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Runs `n` jobs with at most `width` at a time. */
async function pool<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return out;
}

/**
 * Pushes `signed` images signed with the world's trusted key — by turns cosign 2.5 (legacy `.sig`)
 * and cosign 3.1 (bundle referrer) — and `unsigned` ones, each with its own content (distinct
 * digests).
 */
export async function stormImages(w: World, signed: number, unsigned: number): Promise<StormImage[]> {
  const stamp = Date.now().toString(36);
  return pool(signed + unsigned, 4, async (i) => {
    const isSigned = i < signed;
    const repo = `storm/${isSigned ? 'signed' : 'unsigned'}-${i}`;
    const { digest } = await w.push.image(repo, 'v1', `${repo} ${stamp}`);
    const direct = `${w.registry.host}/${repo}@${digest}`;
    if (isSigned) await (i % 2 === 0 ? w.cosign.sign2(w.trusted.key, direct) : w.cosign.sign3(w.trusted.key, direct));
    return { repo, ref: direct, signed: isSigned };
  });
}

/** Starts every launch at once; waits for all; times the last exit and samples total RSS. */
export async function launchAll(exe: string, launches: Launch[]): Promise<Launched> {
  const sampler = new RssSampler(20);
  let wrong = 0;
  let why: string | undefined;
  let last = 0;
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  sampler.start();
  await Promise.all(
    launches.map(
      (l) =>
        new Promise<void>((resolve) => {
          const child = spawn(exe, l.args, { stdio: ['pipe', 'ignore', 'pipe'] });
          sampler.track(child.pid);
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          child.on('error', (err) => {
            stderr += err.message;
          });
          child.on('close', (code) => {
            last = Math.max(last, performance.now() - t0);
            sampler.untrack(child.pid);
            if ((code === 0) !== l.allow) {
              wrong++;
              why ??= `exit ${code}: ${stderr.trim().split('\n').pop()}`;
            }
            resolve();
          });
          child.stdin.on('error', () => {});
          child.stdin.end(l.input);
        }),
    ),
  );
  const rss = sampler.stop();
  return {
    lastMs: round(last),
    wrong,
    ...(why ? { why } : {}),
    peakRssMb: rss.peakMb,
    rssSamples: rss.samples,
    cpuMs: childrenCpuMs() - cpu0,
  };
}

export interface StormSetup {
  w: World;
  exe: string;
  dir: string;
  proxy: DelayProxy;
  /** The delay the proxy adds to each request (ms), for the record. */
  delayMs: number;
  signed: StormImage[];
  unsigned: StormImage[];
  /** Containers per signed image in the storm (issue 15: 5). */
  perImage: number;
  reps: number;
  curve: number[];
}

export interface StormRun {
  lastDecisionMs: number;
  floorMs: number;
  requests: number;
  wrong: number;
  why?: string;
  peakRssMb: number;
  floorPeakRssMb: number;
  /** CPU time all the hooks used together, and all the floor's processes (ms). */
  cpuMs: number;
  floorCpuMs: number;
}

export interface StormResult {
  delayMsPerRequest: number;
  signedImages: number;
  unsignedImages: number;
  starts: number;
  /** Requests of one cold verification per image, each alone on an empty cache, summed (signed and unsigned). */
  singleRequests: number;
  singleRequestsPerImage: number[];
  singleColdHookMedianMs: number;
  /** The storm on a node that has run sigguard before (validated documents cached), `reps` times. */
  runs: StormRun[];
  /** The storm once more with nothing cached at all (the first start after an install or upgrade). */
  docsCold: StormRun;
  /** And with nothing cached, the hooks asking the node's agent (`hook --agent`, `sigguard verifier`). */
  agentCold: StormRun;
  /** Medians over the runs; requests and wrong: the worst run. */
  lastDecisionMs: number;
  floorMs: number;
  requests: number;
  requestRatio: number;
  wrong: number;
  peakRssMb: number;
  floorPeakRssMb: number;
  peakInFlight: number;
  curve: Array<CurvePoint & { requests: number; singleRequests: number; wrong: number; cpuMs: number; floorCpuMs: number }>;
}

export async function runStorm(s: StormSetup): Promise<StormResult> {
  const { w, exe, dir, proxy } = s;
  mkdirSync(dir, { recursive: true });
  const policy = w.policy(
    'storm-policy.yaml',
    `version: 1\ndefault: reject\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n`,
  );
  // the registry's name, reached through the proxy as a node's containerd would be told to (hosts.toml)
  const certsDir = join(dir, 'certs.d');
  mkdirSync(join(certsDir, w.registry.host), { recursive: true });
  writeFileSync(join(certsDir, w.registry.host, 'hosts.toml'), hostsToml(`http://${proxy.host}`));
  let serial = 0;
  /**
   * Hook arguments over a fresh cache of their own (no containerd: the annotation's digest is
   * used), without a verdict for any storm image. `docs: 'warm'`: the cache already holds the
   * validated policy and config, as on a node rebooting (the cache is on disk,
   * /var/lib/sigguard/cache) — one hook for an image outside the storm put them there.
   * `docs: 'cold'`: nothing at all, as on the first start after an install or an upgrade.
   */
  const freshHook = async (docs: 'warm' | 'cold'): Promise<string[]> => {
    const tag = `run-${serial++}`;
    const config = join(dir, `${tag}.yaml`);
    writeFileSync(
      config,
      `registry:\n  certsDir: ${certsDir}\ncache:\n  dir: ${join(dir, `${tag}.cache`)}\nnode:\n  containerdSocket: ${join(dir, 'no-containerd.sock')}\n`,
    );
    const args = ['hook', '--config', config, '--policy', policy, '--log', join(dir, `${tag}.log`)];
    if (docs === 'warm') {
      const primer = { repo: 'signed', ref: w.ref('signed'), signed: true };
      const r = await launchAll(exe, [{ args, input: state(primer, 0), allow: true }]);
      if (r.wrong) throw new Error(`storm: priming the cache failed: ${r.why}`);
    }
    return args;
  };
  function state(img: StormImage, n: number): string {
    return JSON.stringify({
      ociVersion: '1.2.0',
      id: `storm-${n}`,
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: {
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.image-name': img.ref,
        'io.kubernetes.cri.sandbox-namespace': 'default',
      },
    });
  }
  /** `starts` hooks over `images` by turns (a kubelet starts pods in no image order), on one fresh cache. */
  const hooks = async (images: StormImage[], starts: number, docs: 'warm' | 'cold' = 'warm'): Promise<Launch[]> => {
    const args = await freshHook(docs);
    return Array.from({ length: starts }, (_, n) => {
      const img = images[n % images.length]!;
      return { args, input: state(img, n), allow: img.signed };
    });
  };
  const versions = (n: number): Launch[] => Array.from({ length: n }, () => ({ args: ['version'], input: '', allow: true }));

  // one cold verification per image, alone
  const all = [...s.signed, ...s.unsigned];
  const singleRequestsPerImage: number[] = [];
  const singleMs: number[] = [];
  for (const img of all) {
    const launches = await hooks([img], 1);
    const before = proxy.requests();
    const r = await launchAll(exe, launches);
    if (r.wrong) throw new Error(`storm: the single verification of ${img.ref} gave a wrong verdict: ${r.why}`);
    singleRequestsPerImage.push(proxy.requests() - before);
    singleMs.push(r.lastMs);
  }
  const singlesOf = (images: StormImage[]) => images.reduce((sum, img) => sum + singleRequestsPerImage[all.indexOf(img)]!, 0);

  // the storm, reps times, each next to its floor
  const starts = s.signed.length * s.perImage + s.unsigned.length;
  const stormOnce = async (docs: 'warm' | 'cold', withAgent = false): Promise<StormRun> => {
    const floor = await launchAll(exe, versions(starts));
    const launches = await hooks(s.signed, s.signed.length * s.perImage, docs);
    // the unsigned images' starts go among the others, on the same cache
    let args = launches[0]!.args;
    s.unsigned.forEach((img, k) => {
      launches.splice(Math.floor(((k + 1) * launches.length) / (s.unsigned.length + 1)), 0, {
        args,
        input: state(img, 1000 + k),
        allow: false,
      });
    });
    // the node's agent answering the hooks (`hook --agent`), for this run's documents
    let agent: Verifier | undefined;
    if (withAgent) {
      const sockDir = join(dir, `agent-${serial++}`);
      mkdirSync(sockDir, { mode: 0o700 });
      agent = await startVerifier(join(sockDir, 'hook.sock'), args[args.indexOf('--config') + 1]!, policy);
      args = [...args, '--agent', agent.socket];
      for (const l of launches) l.args = args;
    }
    const before = proxy.requests();
    const storm = await launchAll(exe, launches);
    await agent?.stop();
    return {
      lastDecisionMs: storm.lastMs,
      floorMs: floor.lastMs,
      requests: proxy.requests() - before,
      wrong: storm.wrong,
      ...(storm.why ? { why: storm.why } : {}),
      peakRssMb: storm.peakRssMb,
      floorPeakRssMb: floor.peakRssMb,
      cpuMs: storm.cpuMs,
      floorCpuMs: floor.cpuMs,
    };
  };
  const runs: StormRun[] = [];
  for (let i = 0; i < s.reps; i++) runs.push(await stormOnce('warm'));
  const docsCold = await stormOnce('cold');
  const agentCold = await stormOnce('cold', true);

  // the curve: time and peak total RSS against the number of starts
  const curve: StormResult['curve'] = [];
  for (const n of s.curve) {
    const images = s.signed.slice(0, Math.min(s.signed.length, n));
    const floor = await launchAll(exe, versions(n));
    const launches = await hooks(images, n);
    const before = proxy.requests();
    const r = await launchAll(exe, launches);
    curve.push({
      starts: n,
      images: images.length,
      hookMs: r.lastMs,
      floorMs: floor.lastMs,
      hookRssMb: r.peakRssMb,
      floorRssMb: floor.peakRssMb,
      requests: proxy.requests() - before,
      singleRequests: singlesOf(images),
      wrong: r.wrong,
      cpuMs: r.cpuMs,
      floorCpuMs: floor.cpuMs,
    });
  }

  const singleRequests = singlesOf(all);
  const requests = Math.max(...runs.map((r) => r.requests));
  return {
    delayMsPerRequest: s.delayMs,
    signedImages: s.signed.length,
    unsignedImages: s.unsigned.length,
    starts,
    singleRequests,
    singleRequestsPerImage,
    singleColdHookMedianMs: round(median(singleMs)),
    runs,
    docsCold,
    agentCold,
    lastDecisionMs: round(median(runs.map((r) => r.lastDecisionMs))),
    floorMs: round(median(runs.map((r) => r.floorMs))),
    requests,
    requestRatio: round(requests / singleRequests, 2),
    wrong: Math.max(...runs.map((r) => r.wrong)),
    peakRssMb: round(median(runs.map((r) => r.peakRssMb))),
    floorPeakRssMb: round(median(runs.map((r) => r.floorPeakRssMb))),
    peakInFlight: proxy.peakInFlight(),
    curve,
  };
}
