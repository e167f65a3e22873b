/**
 * The agent cases' node for `make e2e` without Kind (e2e/agent-cases.ts): a containerd node laid
 * out as Kind's, containerd kept running by a small supervisor (systemd's Restart=always, which the
 * agent's `--restart signal` relies on), the image of `make image` imported as `kind load
 * image-archive` imports it, and the agent run as deploy/base/daemonset.yaml runs it: a privileged
 * pod in sigguard-system through CRI, the host's PID namespace, the host paths it mounts (here the
 * test node's own paths, mounted where they are), the ConfigMap a folder kubelet-style.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigMapVolume, httpGet, supervise, tearDownNode } from '../test/support/agent-node.js';
import { type ContainerdVersion, containerdBins, launch, prepareNode } from '../test/support/node/containerd-node.js';
import { Kubelet, type PodRun } from '../test/support/node/kubelet.js';
import { TOOLS } from '../test/support/paths.js';
import { snapshot } from '../test/support/snapshot.js';
import type { AgentNode, AgentPolicy } from './agent-cases.js';
import type { Cleanup } from './cleanup.js';
import { type LocalEnv, podRunner } from './local-env.js';

export const PROMTOOL = join(TOOLS, 'bin/promtool');

/** `promtool check metrics` on the text: its complaints ('' when none). */
export function lintMetrics(text: string): string {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim() || (r.status === 0 ? '' : `exit ${r.status}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The policy documents of each kind, for `alias` (the registry pods name) and the node's /etc/sigguard. */
function policyText(kind: AgentPolicy, alias: string, etc: string): string {
  if (kind === 'invalid') return 'version: 1\ndefault: accept\nbogus: [\n';
  const exempt = kind === 'no-exemption' ? '[kube-system]' : '[sigguard-system, kube-system]';
  const rule =
    kind === 'reject'
      ? '    - type: reject\n'
      : `    - type: sigstoreSigned\n      keyPath: ${etc}/keys/cosign.pub\n      signedIdentity: {type: matchRepository}\n`;
  return `version: 1\ndefault: reject\nexemptNamespaces: ${exempt}\nscopes:\n  "${alias}":\n${kind === 'no-exemption' ? '    - type: insecureAcceptAnything\n' : rule}`;
}

export interface LocalAgentNode extends AgentNode {
  stop(): Promise<void>;
}

/** A node of `version` without sigguard, `archive` (of `make image`) imported into it; the agent's pods name it `imageName`. */
export async function startAgentNode(
  env: LocalEnv,
  cleanup: Cleanup,
  opts: { version: ContainerdVersion; parent: string; archive: string; imageName: string },
): Promise<LocalAgentNode> {
  const { version } = opts;
  const dir = mkdtempSync(join(opts.parent, `a${version.replace('.', '')}-`));
  const node = await prepareNode({ version, registryHost: env.registry.host, aliasHost: env.alias, dir, layout: 'kind' });
  let supervisor: ReturnType<typeof supervise> | undefined;
  const kubelet = new Kubelet(node);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const left = await tearDownNode({ supervisor, node, kubelet, dir });
    if (left.length > 0) throw new Error(`containerd ${version} agent node: processes left ${left.join(', ')}`);
  };
  const step = cleanup.add(`stop the containerd ${version} agent node`, stop);
  await launch(node);
  supervisor = supervise(node);

  const paths = { etc: join(dir, 'etc/sigguard'), opt: join(dir, 'opt/sigguard'), log: join(dir, 'var/log/sigguard') };
  for (const p of Object.values(paths)) mkdirSync(p, { recursive: true });
  const decisionLog = join(paths.log, 'decisions.log');
  const installPath = join(paths.opt, 'bin/sigguard');
  const cm = new ConfigMapVolume(join(dir, 'cm'));
  const config = `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  enabled: false\n`;
  const publish = async (kind: AgentPolicy) =>
    cm.publish({
      'policy.yaml': policyText(kind, env.alias, paths.etc),
      'config.yaml': config,
      'keys/cosign.pub': readFileSync(env.trusted.pub, 'utf8'),
    });

  // as `kind load image-archive` imports it (`ctr images import --all-platforms --digests`), into k8s.io
  execFileSync(
    node.bin.ctr,
    ['--address', node.socket, '-n', 'k8s.io', 'images', 'import', '--all-platforms', '--digests', '--snapshotter', 'native', opts.archive],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // the CRI's image store learns of an import by an event: until it has, kubelet would pull (from docker.io)
  for (const deadline = Date.now() + 30_000; ; await sleep(200)) {
    if ((await kubelet.cri.imageStatus({ image: opts.imageName }).catch(() => undefined))?.image) break;
    if (Date.now() > deadline) throw new Error(`the CRI does not know ${opts.imageName} 30 s after the import`);
  }
  const runtimeFiles = () => snapshot(dirname(node.config));
  const runtimeFilesBefore = runtimeFiles();
  const { runPod, decisions } = podRunner(kubelet, decisionLog);

  let podN = 0;
  let agent: { run: PodRun; port: number } | undefined;
  const agentPod = (args: string[]): Promise<PodRun> => {
    // the node's containerd and ctr (deploy/ reaches them through /proc/1/root): their real folder, links resolved
    const bins = { containerd: realpathSync(containerdBins(version).containerd), ctr: realpathSync(containerdBins(version).ctr) };
    const binDir = dirname(bins.ctr);
    const hostPaths = [dirname(node.config), dirname(node.socket), paths.etc, paths.opt, paths.log, binDir];
    return kubelet.runPod({
      image: opts.imageName,
      name: `sigguard-${++podN}`,
      namespace: 'sigguard-system',
      hostPID: true,
      privileged: true,
      mounts: [
        { containerPath: '/sources/policy', hostPath: cm.dir, readonly: true },
        ...hostPaths.map((p) => ({ containerPath: p, hostPath: p, readonly: p === binDir })),
      ],
      args: [
        'agent',
        '--source=/sources/policy',
        `--containerd-config=${node.config}`,
        `--socket=${node.socket}`,
        `--containerd=${bins.containerd}`,
        `--ctr=${bins.ctr}`,
        `--etc=${paths.etc}`,
        `--install-path=${installPath}`,
        `--log=${decisionLog}`,
        '--restart=signal',
        '--sync-interval=1',
        '--listen=127.0.0.1:0',
        ...args,
      ],
    });
  };
  const logsOf = (run: PodRun) => kubelet.logs(run);
  /** The port the agent's pod logged (pino: "serving /metrics, /healthz, /readyz"). */
  const portOf = (run: PodRun): number | undefined => {
    for (const line of logsOf(run).split('\n')) {
      try {
        const rec = JSON.parse(line) as { port?: number };
        if (typeof rec.port === 'number') return rec.port;
      } catch {
        /* not a log line */
      }
    }
    return undefined;
  };
  const criAnswers = (id: string): Promise<boolean> =>
    kubelet.cri.containerStatus(id).then(
      () => true,
      () => false,
    );
  const exited = async (id: string): Promise<number | undefined> => {
    try {
      const { status } = await kubelet.cri.containerStatus(id);
      return status?.state === 'CONTAINER_EXITED' ? status.exitCode : undefined;
    } catch {
      return undefined; // the runtime restarting
    }
  };

  const n: LocalAgentNode = {
    label: version,
    runtimeFilesBefore,
    image: (repo, tag = 'v1') => `${env.alias}/${repo}:${tag}`,
    runPod,
    publish,
    async startAgent() {
      const run = await agentPod([]);
      if (!run.ok) throw new Error(`the agent pod did not start: ${run.stage}: ${run.error}`);
      const deadline = Date.now() + 90_000;
      for (;;) {
        const port = portOf(run);
        if (port !== undefined && (await httpGet(port, '/readyz')).status === 200) {
          agent = { run, port };
          // as kubelet does after a runtime restart: calls again until the CRI connection is back
          while (!(await criAnswers(run.containerId as string))) {
            if (Date.now() > deadline) throw new Error('the agent is ready, but the CRI does not answer the kubelet');
            await sleep(200);
          }
          return;
        }
        const code = await exited(run.containerId as string);
        if (code !== undefined || Date.now() > deadline) {
          const last = logsOf(run).trim().split('\n').slice(-5).join(' | ');
          throw new Error(`the agent pod ${code !== undefined ? `exited ${code}` : 'not ready within 90 s'}: ${last}`);
        }
        await sleep(200);
      }
    },
    agentRunning: () => agent !== undefined,
    async killAgent() {
      if (!agent) return;
      await kubelet.cri.stopContainer(agent.run.containerId as string, 0);
      agent = undefined;
    },
    async uninstall() {
      const run = await agentPod(['--uninstall']);
      if (!run.ok) throw new Error(`the uninstall pod did not start: ${run.stage}: ${run.error}`);
      const deadline = Date.now() + 90_000;
      for (;;) {
        const code = await exited(run.containerId as string);
        if (code !== undefined) {
          // containerd restarted without the hook: wait for its CRI
          while (node.process?.pid === undefined && Date.now() < deadline) await sleep(100);
          return code;
        }
        if (Date.now() > deadline) throw new Error(`the uninstall pod still running after 90 s: ${logsOf(run).trim().split('\n').at(-1)}`);
        await sleep(200);
      }
    },
    get: (path) => (agent ? httpGet(agent.port, path) : Promise.resolve({ status: 0, text: '' })),
    policyInForce: async () => readFileSync(join(paths.etc, 'policy.yaml'), 'utf8'),
    runtimeFiles: async () => runtimeFiles(),
    runtimeFilesNaming: async (word) =>
      Object.entries(runtimeFiles())
        .filter(([, text]) => text.includes(word))
        .map(([f]) => f),
    runtimeRestarts: async () => supervisor?.restarts ?? 0,
    hookExecutableInstalled: async () => existsSync(installPath),
    etcEntries: async () => readdirSync(paths.etc),
    decisions: async () => decisions(),
    lintMetrics: async (text) => lintMetrics(text),
    stop: () => cleanup.runStep(step),
  };
  return n;
}
