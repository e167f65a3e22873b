/**
 * The agent cases (e2e/agent-cases.ts) on a Kind cluster where `make install-kind` deployed the
 * DaemonSet: the agent pod of one node (SIGGUARD_KIND_NODE), found by the DaemonSet's label; its
 * endpoints through the API server's pod proxy; the ConfigMap changed with kubectl, each change
 * waited for until kubelet has updated the pod's mounted file (the 10 s count starts there, as the
 * issue words it); the node's files read through `docker exec`; containerd's restarts from
 * systemd's ExecMainStartTimestampMonotonic. The uninstall case deletes the DaemonSet and runs
 * the uninstall manifest; restore() applies the install again, leaving the cluster as it was found.
 *
 * Written for e2e/run-kind.ts; it cannot run without a Kind cluster.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ROOT } from '../test/support/paths.js';
import type { AgentNode, AgentPolicy } from './agent-cases.js';
import { lintMetrics } from './agent-local.js';
import type { Decision, PodRequest, PodResult } from './cases.js';

export interface KindAccess {
  kubectl(args: string[], input?: string): Promise<string>;
  onNode(args: string[], input?: string): Promise<string>;
  runPod(req: PodRequest): Promise<PodResult>;
  image(repo: string, tag?: string): string;
  /** The node container (= the Kubernetes node name). */
  node: string;
  /** The registry as pods name it (localhost:5001). */
  registry: string;
  /** The hook's decision log on the node. */
  log: string;
}

const NS = 'sigguard-system';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** make install-kind's pinned kustomizations, else the overlays as they are. */
const deployDir = (which: 'install' | 'uninstall') => {
  const pinned = join(ROOT, 'build/out/kind-deploy', which);
  return existsSync(join(pinned, 'kustomization.yaml')) ? pinned : join(ROOT, which === 'install' ? 'deploy/kind' : 'deploy/uninstall');
};

/** The ConfigMap sigguard-policy's policy.yaml replaced by `text`. */
export async function patchPolicy(kubectl: KindAccess['kubectl'], text: string): Promise<void> {
  const patch = JSON.stringify({ data: { 'policy.yaml': text } });
  await kubectl(['-n', NS, 'patch', 'configmap', 'sigguard-policy', '--type', 'merge', '-p', patch]);
}

interface PodInfo {
  name: string;
  uid: string;
  ready: boolean;
  exitCode: number | undefined;
}

export interface KindAgentNode extends AgentNode {
  /** The cluster as found: the DaemonSet applied again after the uninstall case. */
  restore(): Promise<void>;
}

export async function kindAgentNode(k: KindAccess): Promise<KindAgentNode> {
  const pods = async (app: string): Promise<PodInfo[]> => {
    const list = JSON.parse(await k.kubectl(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/name=${app}`, '-o', 'json'])) as {
      items: Array<{
        metadata: { name: string; uid: string; deletionTimestamp?: string };
        spec: { nodeName?: string };
        status?: {
          conditions?: Array<{ type: string; status: string }>;
          containerStatuses?: Array<{ state?: { terminated?: { exitCode: number } } }>;
        };
      }>;
    };
    return list.items
      .filter((p) => p.spec.nodeName === k.node && p.metadata.deletionTimestamp === undefined)
      .map((p) => ({
        name: p.metadata.name,
        uid: p.metadata.uid,
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
        exitCode: p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode,
      }));
  };
  const agentPod = async () => (await pods('sigguard')).find((p) => p.ready);
  const startedAt = async () =>
    (await k.onNode(['systemctl', 'show', 'containerd', '-p', 'ExecMainStartTimestampMonotonic', '--value'])).trim();

  const cm = JSON.parse(await k.kubectl(['-n', NS, 'get', 'configmap', 'sigguard-policy', '-o', 'json'])) as {
    data: Record<string, string>;
  };
  const original = cm.data['policy.yaml'] as string;
  const texts: Record<AgentPolicy, () => string> = {
    signed: () => original,
    reject: () => {
      const doc = parseYaml(original);
      doc.scopes[k.registry] = [{ type: 'reject' }];
      return stringifyYaml(doc);
    },
    invalid: () => 'version: 1\ndefault: accept\nbogus: [\n',
    'no-exemption': () => {
      const doc = parseYaml(original);
      doc.exemptNamespaces = (doc.exemptNamespaces as string[]).filter((n) => n !== NS);
      return stringifyYaml(doc);
    },
  };

  let alive = (await agentPod()) !== undefined;
  let killed: string | undefined;
  let uninstalled = false;
  let restarts = 0;
  let lastStart = await startedAt();
  const sha = async (): Promise<Record<string, string>> => {
    const out = await k.onNode(['sh', '-c', 'cd /etc/containerd && find . -type f -exec sha256sum {} + | sort -k 2']);
    return Object.fromEntries(
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [hash, file] = l.split(/\s+/, 2);
          return [(file as string).replace(/^\.\//, ''), hash as string];
        }),
    );
  };
  const proxy = async (pod: string, path: string) => {
    try {
      return { status: 200, text: await k.kubectl(['get', '--raw', `/api/v1/namespaces/${NS}/pods/${pod}:9464/proxy${path}`]) };
    } catch (err) {
      return { status: /\b503\b|ServiceUnavailable/.test((err as Error).message) ? 503 : 0, text: '' };
    }
  };

  const n: KindAgentNode = {
    label: 'kind',
    runtimeFilesBefore: undefined,
    image: k.image,
    runPod: k.runPod,
    async publish(kind) {
      const text = texts[kind]();
      await patchPolicy(k.kubectl, text);
      const pod = await agentPod();
      if (pod === undefined) return;
      // kubelet updates a ConfigMap volume within about a minute: wait for the pod's file itself
      const file = `/var/lib/kubelet/pods/${pod.uid}/volumes/kubernetes.io~configmap/policy/policy.yaml`;
      for (const deadline = Date.now() + 150_000; (await k.onNode(['cat', file]).catch(() => '')) !== text; await sleep(500)) {
        if (Date.now() > deadline) throw new Error(`kubelet did not update ${file} on ${k.node} within 150 s`);
      }
    },
    async startAgent() {
      if (uninstalled) await n.restore();
      for (const deadline = Date.now() + 180_000; ; await sleep(1000)) {
        const pod = await agentPod();
        if (pod !== undefined && pod.uid !== killed && (await proxy(pod.name, '/readyz')).status === 200) break;
        if (Date.now() > deadline) throw new Error(`no ready sigguard pod on ${k.node} within 180 s`);
      }
      alive = true;
    },
    agentRunning: () => alive,
    async killAgent() {
      const pod = await agentPod();
      if (pod === undefined) return;
      killed = pod.uid;
      alive = false;
      await k.kubectl(['-n', NS, 'delete', 'pod', pod.name, '--grace-period=0', '--force', '--wait=false']);
    },
    async uninstall() {
      uninstalled = true;
      await k.kubectl(['-n', NS, 'delete', 'daemonset', 'sigguard', '--ignore-not-found', '--wait=true']);
      await k.kubectl(['apply', '-k', deployDir('uninstall')]);
      for (const deadline = Date.now() + 180_000; ; await sleep(1000)) {
        const [pod] = await pods('sigguard-uninstall');
        if (pod?.ready) return 0; // --stay: ready once done
        if (pod?.exitCode !== undefined) return pod.exitCode;
        if (Date.now() > deadline) throw new Error(`the uninstall pod on ${k.node} not done within 180 s`);
      }
    },
    async get(path) {
      const pod = await agentPod();
      return pod === undefined ? { status: 0, text: '' } : proxy(pod.name, path);
    },
    policyInForce: () => k.onNode(['cat', '/etc/sigguard/policy.yaml']),
    runtimeFiles: sha,
    runtimeFilesNaming: async (word) =>
      (await k.onNode(['grep', '-rl', word, '/etc/containerd']).catch(() => '')).split('\n').filter(Boolean),
    async runtimeRestarts() {
      const now = await startedAt();
      if (now !== lastStart) restarts++;
      lastStart = now;
      return restarts;
    },
    hookExecutableInstalled: () =>
      k.onNode(['test', '-e', '/opt/sigguard/bin/sigguard']).then(
        () => true,
        () => false,
      ),
    etcEntries: async () => (await k.onNode(['ls', '-A', '/etc/sigguard']).catch(() => '')).split('\n').filter(Boolean),
    async decisions() {
      const text = await k.onNode(['cat', k.log]).catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Decision);
    },
    lintMetrics: async (text) => lintMetrics(text),
    async restore() {
      if (!uninstalled) return;
      uninstalled = false;
      await k.kubectl(['delete', '-k', deployDir('uninstall'), '--ignore-not-found']);
      await k.kubectl(['apply', '-k', deployDir('install')]);
      await k.kubectl(['-n', NS, 'rollout', 'status', 'daemonset', 'sigguard', '--timeout=180s']);
    },
  };
  // make install-kind installed it before this run: what the node looks like with the hook
  if (alive) n.installed = await sha();
  return n;
}
