/**
 * `make e2e` without a Kind cluster: every case of e2e/cases.ts against a
 * local Kind-like containerd node, containerd 1.7 then 2.1, sigguard
 * installed into the node's base runtime spec, pods started by the kubelet
 * stand-in over CRI. One registry and one set of signed images for both.
 *
 * Prints `PASS|FAIL <containerd version> <case> — <detail>` per case, `#`
 * lines with timings, and last `N passed, M failed`; exits 1 on any failure.
 * Ctrl-C stops the nodes and the registry and removes the temp folder.
 * SIGGUARD_E2E_VERSIONS=2.1 runs one containerd version only; SIGGUARD_E2E_CASES=id,id only those
 * cases (for a focused run; make e2e runs them all).
 *
 * Then, per version, the agent cases (e2e/agent-cases.ts, ids `daemonset-*` and `agent-*`) on a
 * second node without sigguard: the image `make image` builds (built here, build/image.mjs, into
 * the temp folder) run as the DaemonSet's privileged pod through CRI (e2e/agent-local.ts).
 *
 * Built by e2e/bundle.mjs into build/out/e2e/run-local.cjs (make e2e).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, type PodRequest, type PodResult, CASES } from './cases.js';
import { Cleanup, signalExitCode } from './cleanup.js';
import { REPO, moveTag, prepareImages } from './images.js';
import { type LocalEnv, type SigguardNode, median, nodePolicy, requireLocalTools, startLocalEnv, startSigguardNode } from './local-env.js';
import { type ContainerdVersion, nodeMounts, nodeProcesses } from '../test/support/node/containerd-node.js';
import { ageCachedVerdicts } from '../test/support/cache-clock.js';
import { SlowRegistry } from './slow-registry.js';
import { AGENT_CASES } from './agent-cases.js';
import { PROMTOOL, startAgentNode } from './agent-local.js';
import { run } from '../test/support/cli.js';
import { ROOT, requireTools } from '../test/support/paths.js';

const VERSIONS: readonly ContainerdVersion[] = (process.env.SIGGUARD_E2E_VERSIONS?.split(',') as ContainerdVersion[] | undefined) ?? [
  '1.7',
  '2.1',
];
const ONLY = process.env.SIGGUARD_E2E_CASES?.split(',');
const SELECTED = ONLY ? CASES.filter((c) => ONLY.includes(c.id)) : CASES;
const SELECTED_AGENT = ONLY ? AGENT_CASES.filter((c) => ONLY.includes(c.id)) : AGENT_CASES;
/**
 * The image of `make image` pinned by digest, as make install-kind's manifests name it: the name
 * `ctr images import` (so `kind load image-archive`) gives it from the archive's index.json.
 */
function agentImage(archive: string): string {
  const top = JSON.parse(execFileSync('tar', ['-xOf', archive, './index.json'], { encoding: 'utf8' })) as {
    manifests: Array<{ annotations?: Record<string, string> }>;
  };
  const name = top.manifests.map((m) => m.annotations?.['io.containerd.image.name']).find((n) => n?.includes('@sha256:'));
  if (name === undefined) throw new Error(`${archive}: no image named by digest in index.json`);
  return name;
}
const AGENT_CASE_TIMEOUT_MS = 150_000;
/** The hook's --deadline on the e2e nodes (the registry-down case must be refused within it). */
const DEADLINE_SECONDS = 3;
const CASE_TIMEOUT_MS = 60_000;

function localCluster(
  env: LocalEnv,
  sg: SigguardNode,
  version: ContainerdVersion,
  digests: Record<string, string>,
  pods: PodResult[],
): Cluster {
  let slow: SlowRegistry | undefined;
  return {
    label: version,
    hookDeadlineSeconds: DEADLINE_SECONDS,
    digests,
    image: (repo, tag = 'v1') => `${env.alias}/${repo}:${tag}`,
    moveTag: (repo, from, to) => moveTag(env.push, repo, from, to),
    async pushSigned(repo, tag, marker) {
      const { digest } = await env.push.image(repo, tag, marker);
      await env.sign([{ image: `${env.alias}/${repo}@${digest}`, with: 'trusted' }]);
      return digest;
    },
    async pull(image) {
      await sg.kubelet.ensureImage(image, 'Always');
    },
    async runPod(req: PodRequest) {
      const r = await sg.runPod(req);
      pods.push(r);
      return r;
    },
    async isRunning(pod) {
      if (!pod.containerId) return false;
      const st = await sg.kubelet.cri.containerStatus(pod.containerId);
      return st.status?.state === 'CONTAINER_RUNNING';
    },
    async setMode(mode) {
      writeFileSync(sg.policy, nodePolicy(env, mode));
    },
    registryDown: () => env.registry.stop(),
    registryUp: () => env.registry.start(),
    async registrySlow(ms) {
      if (slow) throw new Error('the registry is already slow');
      slow = await SlowRegistry.start({ certsDir: sg.node.certsDir, alias: env.alias, registryHost: env.registry.host, delayMs: ms });
    },
    async registryFast() {
      const s = slow;
      slow = undefined;
      await s?.fast();
    },
    async ageCache(ms) {
      ageCachedVerdicts(sg.cacheDir, ms);
    },
    restartRuntime: () => sg.restart(),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A Ctrl-C also kills the children in the foreground group (cosign, gzip): let the signal handler run before reporting. */
const settle = () => new Promise((r) => setTimeout(r, 100));

const oneLine = (err: unknown) =>
  String((err as Error)?.message ?? err)
    .replace(/\s+/g, ' ')
    .trim();

async function main(): Promise<number> {
  const t0 = performance.now();
  const cleanup = new Cleanup();
  let passed = 0;
  let failed = 0;
  const report = (ok: boolean, version: string, id: string, detail: string) => {
    if (cleanup.interrupted) return;
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? 'PASS' : 'FAIL'} ${version} ${id} — ${detail}`);
  };
  cleanup.onSignals((sig) => console.log(`\n${sig}: stopping the nodes and the registry, removing the temp folder`));
  try {
    requireLocalTools(VERSIONS);
    if (SELECTED_AGENT.length > 0) requireTools(PROMTOOL, join(ROOT, 'build/out/sigguard-linux-amd64'));
    const root = cleanup.tempRoot('/tmp/sigguard-e2e-');
    const env = await startLocalEnv(cleanup);
    let archive: string | undefined;
    if (SELECTED_AGENT.length > 0) {
      // make image, into the temp folder: the agent cases run the image of the executables just built
      const ti = performance.now();
      archive = join(root, 'sigguard-image.tar');
      const b = await run(process.execPath, [join(ROOT, 'build/image.mjs')], { env: { SIGGUARD_IMAGE_OUT: archive }, timeoutMs: 300_000 });
      if (b.code !== 0) throw new Error(`build/image.mjs: ${b.stderr.trim().split('\n').at(-1)}`);
      if (!cleanup.interrupted) console.log(`# image ${agentImage(archive)} built, ${((performance.now() - ti) / 1000).toFixed(1)} s`);
    }
    const digests = await prepareImages(env.push, env.alias, env);
    if (!cleanup.interrupted)
      console.log(
        `# registry ${env.registry.host} (pods name it ${env.alias}), images signed, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );

    for (const version of VERSIONS) {
      if (cleanup.interrupted) break;
      if (SELECTED.length > 0) await runCases(env, cleanup, root, version, digests, report);
      if (SELECTED_AGENT.length > 0 && archive !== undefined && !cleanup.interrupted)
        await runAgentCases(env, cleanup, root, version, archive, report);
    }
  } catch (err) {
    await settle();
    report(false, '-', 'setup', oneLine(err));
  } finally {
    const errors = await cleanup.run();
    for (const e of errors) report(false, '-', 'cleanup', e);
  }
  if (cleanup.interrupted) return signalExitCode(cleanup.interrupted);
  console.log(`# total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

type Report = (ok: boolean, version: string, id: string, detail: string) => void;

/** The agent cases, in order, on a fresh node of `version` without sigguard. */
async function runAgentCases(env: LocalEnv, cleanup: Cleanup, root: string, version: ContainerdVersion, archive: string, report: Report) {
  const tv = performance.now();
  let n: Awaited<ReturnType<typeof startAgentNode>>;
  try {
    n = await startAgentNode(env, cleanup, { version, parent: root, archive, imageName: agentImage(archive) });
  } catch (err) {
    await settle();
    report(false, version, 'agent-node-setup', oneLine(err));
    return;
  }
  for (const c of SELECTED_AGENT) {
    if (cleanup.interrupted) break;
    try {
      report(true, version, c.id, await withTimeout(c.run(n), AGENT_CASE_TIMEOUT_MS, c.id));
    } catch (err) {
      await settle();
      report(false, version, c.id, oneLine(err));
    }
  }
  try {
    await n.stop();
  } catch (err) {
    report(false, version, 'agent-node-teardown', oneLine(err));
  }
  if (!cleanup.interrupted) console.log(`# containerd ${version} agent node: ${((performance.now() - tv) / 1000).toFixed(1)} s`);
}

/** The cases of e2e/cases.ts on a node of `version` with sigguard installed by install-hook. */
async function runCases(
  env: LocalEnv,
  cleanup: Cleanup,
  root: string,
  version: ContainerdVersion,
  digests: Record<string, string>,
  report: Report,
): Promise<void> {
  const tv = performance.now();
  let sg: SigguardNode;
  let baselineMs: number[];
  try {
    ({ sg, baselineMs } = await startSigguardNode(env, cleanup, {
      version,
      parent: root,
      policyText: nodePolicy(env),
      deadlineSeconds: DEADLINE_SECONDS,
      baseline: { images: [`${env.alias}/${REPO.signed}:v1`], runs: 3 },
    }));
  } catch (err) {
    await settle();
    report(false, version, 'node-setup', oneLine(err));
    return;
  }
  const pods: PodResult[] = [];
  const cluster = localCluster(env, sg, version, digests, pods);
  for (const c of SELECTED) {
    if (cleanup.interrupted) break;
    try {
      report(true, version, c.id, await withTimeout(c.run(cluster), CASE_TIMEOUT_MS, c.id));
    } catch (err) {
      await settle();
      report(false, version, c.id, oneLine(err));
    }
  }
  await sg.stop();
  const left = { processes: nodeProcesses(sg.node), mounts: nodeMounts(sg.node) };
  if (left.processes.length + left.mounts.length > 0) report(false, version, 'node-teardown', `left behind: ${JSON.stringify(left)}`);
  const withHook = (cache: string) =>
    pods
      .filter((p) => p.ran && p.startMs !== undefined && p.decision?.code === 'ALLOWED' && p.decision.cache === cache)
      .map((p) => p.startMs!);
  const hookMs = pods.filter((p) => p.decision).map((p) => p.decision!.durationMs);
  const ms = (xs: number[]) => (xs.length > 0 ? `${median(xs)} ms` : '-');
  const took = ((performance.now() - tv) / 1000).toFixed(1);
  const timing =
    `# containerd ${version}: ${took} s; StartContainer median ${ms(baselineMs)} without sigguard, ` +
    `${ms(withHook('miss'))} with it (verified), ${ms(withHook('hit'))} (cached verdict); hook median ${ms(hookMs)}`;
  if (!cleanup.interrupted) console.log(timing);
}

main().then(
  (code) => process.exit(code), // after a signal too: main returns once the cleanup is done
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
