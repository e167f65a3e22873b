/**
 * The local end-to-end environment shared by `make e2e` (e2e/run-local.ts)
 * and `make demo` (e2e/demo.ts): a registry, cosign keys, the Kind-style
 * registry alias, and containerd nodes with sigguard installed into the base
 * runtime spec by `sigguard install-hook`, driven by the kubelet stand-in.
 * Everything registers its teardown with a Cleanup.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sigguard } from '../test/support/cli.js';
import { Cosign } from '../test/support/cosign.js';
import { COSIGN2, COSIGN3, ROOT, SIGGUARD, requireTools } from '../test/support/paths.js';
import { Pusher } from '../test/support/push.js';
import { holdPort } from '../test/support/ports.js';
import { Registry } from '../test/support/registry.js';
import type { Cleanup } from './cleanup.js';
import type { Decision, PodRequest, PodResult } from './cases.js';
import { PROVENANCE_CONDITION, PROVENANCE_TYPE, REPO, type SignWith, type Signer, signImage } from './images.js';
import {
  type ContainerdNode,
  type ContainerdVersion,
  RUNC,
  containerdBins,
  prepareNode,
  launch,
  restartNode,
  stopNode,
} from '../test/support/node/containerd-node.js';
import { Kubelet } from '../test/support/node/kubelet.js';

export function requireLocalTools(versions: readonly ContainerdVersion[]): void {
  requireTools(
    SIGGUARD,
    RUNC,
    COSIGN2,
    COSIGN3,
    ...versions.flatMap((v) => {
      const b = containerdBins(v);
      return [b.containerd, b.ctr, b.shim];
    }),
  );
}

export interface LocalEnv extends Signer {
  registry: Registry;
  cosign: Cosign;
  push: Pusher;
  trusted: { key: string; pub: string };
  other: { key: string; pub: string };
  /** The registry name pods use (`localhost:<port>`, Kind's localhost:5001); containerd reaches it through certs.d. */
  alias: string;
}

/**
 * Registry, cosign and two key pairs. `preferAliasPort`: use that alias port when it can be had
 * (the demo shows Kind's localhost:5001), else one of the system's choosing; either is held
 * for the whole run (test/support/ports.ts), relaying to the registry only while cosign signs.
 */
export async function startLocalEnv(cleanup: Cleanup, opts: { preferAliasPort?: number } = {}): Promise<LocalEnv> {
  const registry = await Registry.start();
  cleanup.add('stop the registry', () => {
    // Ctrl-C reaches the registry too (same process group); Registry.stop() checks only
    // exitCode, so for a registry already killed by a signal it would wait its full 5 s
    const proc = (registry as unknown as { proc?: ChildProcess }).proc;
    if (proc && proc.signalCode !== null) return;
    return registry.stop();
  });
  const cosign = await Cosign.create();
  const [trusted, other] = [await cosign.keyPair('trusted'), await cosign.keyPair('other')];
  const aliasPort = await holdPort(opts.preferAliasPort !== undefined ? { prefer: opts.preferAliasPort } : {});
  cleanup.add('close the alias port', () => aliasPort.close());
  const alias = `localhost:${aliasPort.port}`;
  return {
    registry,
    cosign,
    push: new Pusher(registry.host),
    trusted,
    other,
    alias,
    // As a Kind user signs on the workstation, where localhost:5001 IS the registry: the alias
    // port relays to the registry only while cosign runs.
    async sign(images: Array<{ image: string; with: SignWith }>) {
      aliasPort.open({ host: '127.0.0.1', port: registry.port });
      try {
        for (const { image, with: w } of images) await signImage(cosign, { trusted: trusted.key, other: other.key }, image, w);
      } finally {
        aliasPort.shut();
      }
    },
  };
}

/** The policy the local nodes run: the alias needs the trusted key, matchRepository; kube-system exempt. */
export function nodePolicy(env: LocalEnv, mode: 'enforce' | 'warn' = 'enforce'): string {
  return `version: 1
mode: ${mode}
default: reject
exemptNamespaces: [kube-system]
scopes:
  "${env.alias}":
    - type: sigstoreSigned
      keyPath: ${env.trusted.pub}
      signedIdentity: {type: matchRepository}
  "${env.alias}/${REPO.attested}":
    - type: sigstoreSigned
      keyPath: ${env.trusted.pub}
      signedIdentity: {type: matchRepository}
    - type: sigstoreAttested
      predicateType: ${PROVENANCE_TYPE}
      keyPath: ${env.trusted.pub}
      condition: '${PROVENANCE_CONDITION}'
`;
}

export interface SigguardNode {
  node: ContainerdNode;
  kubelet: Kubelet;
  policy: string;
  config: string;
  decisionLog: string;
  /** The hook's verdict cache (config `cache.dir`). */
  cacheDir: string;
  /** Runs a pod the way kubelet would; short-lived containers are waited for and their output read. */
  runPod(req: PodRequest): Promise<PodResult>;
  decisions(): Decision[];
  restart(): Promise<void>;
  /** kubelet cleanup and stopNode; idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs pods the way kubelet would on `kubelet`'s node, each with its decision-log line from `decisionLog`;
 * a name asked again becomes <name>-2, <name>-3...
 */
export function podRunner(kubelet: Kubelet, decisionLog: string): { runPod(req: PodRequest): Promise<PodResult>; decisions(): Decision[] } {
  const used = new Map<string, number>();
  const decisions = (): Decision[] => {
    let text = '';
    try {
      text = readFileSync(decisionLog, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Decision);
  };
  const runPod = async (req: PodRequest): Promise<PodResult> => {
    // the name as asked the first time, then <name>-2, <name>-3...
    const seen = (used.get(req.name) ?? 0) + 1;
    used.set(req.name, seen);
    const name = seen === 1 ? req.name : `${req.name}-${seen}`;
    const namespace = req.namespace ?? 'default';
    const r = await kubelet.runPod({
      image: req.image,
      name,
      namespace,
      ...(req.pullPolicy ? { pullPolicy: req.pullPolicy } : {}),
      ...(req.longRunning ? { command: ['/bin/sleep', '300'] } : {}),
    });
    const out: PodResult = { name, namespace, ran: r.ok, ...(r.startMs !== undefined ? { startMs: r.startMs } : {}) };
    if (r.containerId) out.containerId = r.containerId;
    if (!r.ok) out.error = `${r.stage}: ${r.error}`;
    if (r.ok && !req.longRunning) {
      const st = await kubelet.waitExit(r.containerId!, 10_000);
      out.output = kubelet.logs(r);
      if (st.exitCode !== 0) {
        out.ran = false;
        out.error = `exited ${st.exitCode}`;
      }
    }
    const d = r.containerId
      ? decisions()
          .filter((x) => x.containerId === r.containerId)
          .at(-1)
      : undefined;
    if (d) out.decision = d;
    return out;
  };

  return { runPod, decisions };
}

export interface NodeOptions {
  version: ContainerdVersion;
  /** The folder everything of this node goes in (under the run's temp root). */
  parent: string;
  policyText: string;
  deadlineSeconds: number;
  /** Before installing sigguard: run these images (already pulled or pulled now) once each, timing StartContainer. */
  baseline?: { images: string[]; runs: number };
}

/** A containerd node of `version`, sigguard installed in its base runtime spec. */
export async function startSigguardNode(
  env: LocalEnv,
  cleanup: Cleanup,
  opts: NodeOptions,
): Promise<{ sg: SigguardNode; baselineMs: number[] }> {
  const dir = mkdtempSync(join(opts.parent, `n${opts.version.replace('.', '')}-`));
  const node = await prepareNode({ version: opts.version, registryHost: env.registry.host, aliasHost: env.alias, dir });
  const kubelet = new Kubelet(node);
  let stopped = false;
  // a start or restart under way: a stop (Ctrl-C) waits for it, else containerd could be
  // launched again just after the stop and outlive the run
  let starting: Promise<void> = Promise.resolve();
  const start = (f: () => Promise<void>): Promise<void> => {
    if (stopped) return Promise.reject(new Error(`the containerd ${opts.version} node is stopped`));
    starting = f();
    return starting;
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await starting.catch(() => undefined);
    await kubelet.cleanup().catch(() => []);
    kubelet.close();
    await stopNode(node);
  };
  const stopStep = cleanup.add(`stop the containerd ${opts.version} node`, stop);
  await start(() => launch(node));

  const sgDir = join(dir, 'sigguard');
  mkdirSync(sgDir, { recursive: true });
  const decisionLog = join(sgDir, 'decisions.log');
  const config = join(sgDir, 'config.yaml');
  const policy = join(sgDir, 'policy.yaml');
  const cacheDir = join(sgDir, 'cache');
  writeFileSync(config, `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  dir: ${cacheDir}\n`);
  writeFileSync(policy, opts.policyText);

  const { runPod, decisions } = podRunner(kubelet, decisionLog);

  const baselineMs: number[] = [];
  if (opts.baseline) {
    for (const image of opts.baseline.images) {
      for (let i = 0; i < opts.baseline.runs; i++) {
        const r = await runPod({ name: 'baseline', image });
        if (!r.ran) throw new Error(`without sigguard, ${image} did not run: ${r.error}`);
        baselineMs.push(r.startMs!);
      }
    }
    const errors = await kubelet.cleanup();
    if (errors.length > 0) throw new Error(`cleanup after the baseline: ${errors.join('; ')}`);
  }

  const inst = await sigguard([
    'install-hook',
    '--base-spec',
    node.baseSpec,
    '--path',
    join(ROOT, 'bin/sigguard'),
    '--',
    '--policy',
    policy,
    '--log',
    decisionLog,
    '--config',
    config,
    '--deadline',
    String(opts.deadlineSeconds),
  ]);
  if (inst.code !== 0) throw new Error(`sigguard install-hook failed (${inst.code}): ${inst.stderr.trim()}`);
  await start(() => restartNode(node));

  const sg: SigguardNode = {
    node,
    kubelet,
    policy,
    config,
    decisionLog,
    cacheDir,
    runPod,
    decisions,
    restart: () => start(() => restartNode(node)),
    stop: () => cleanup.runStep(stopStep),
  };
  return { sg, baselineMs };
}

export const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
