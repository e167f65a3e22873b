/**
 * sigguard agent with `--restart systemd` on a real containerd 2.1 node (the Kind layout). PID 1
 * here is not systemd: a real dbus-daemon (Debian's, a private configuration on a socket in a temp
 * dir) carries the agent's D-Bus calls to a stand-in that owns org.freedesktop.systemd1 and whose
 * RestartUnit restarts this containerd (test/support/fake-systemd.ts) — the agent's code path is
 * the one it takes on a node: install, RestartUnit over the bus, the job awaited, the CRI answering
 * with the hook.
 *
 * Once ready, `--remove-taint` takes the registration taint (only it) off the Node through a small
 * API server on loopback (test/support/fake-kube-api.ts).
 *
 * The first agent is killed while its restart job runs (the base specs written, containerd not yet
 * restarted): the next one owes that restart and makes it before it is ready. Its first job ends
 * "failed": the agent logs it, counts it on /metrics, keeps the hook files written and retries after
 * its backoff; the retry restarts containerd, which then refuses an unsigned pod. `--uninstall` restarts it the same way and leaves the node's files as they were.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigMapVolume, agentOutput, httpGet, series, sleep, tearDownNode, until } from '../support/agent-node.js';
import { run } from '../support/cli.js';
import { FakeApi, freshNode } from '../support/fake-kube-api.js';
import { FakeSystemd, startBus } from '../support/fake-systemd.js';
import { makePki } from '../support/tls.js';
import { type ContainerdNode, RUNC, containerdBins, launch, prepareNode, restartNode } from '../support/node/containerd-node.js';
import { Kubelet } from '../support/node/kubelet.js';
import { ROOT, requireTools } from '../support/paths.js';
import { snapshot } from '../support/snapshot.js';
import { type World, makeWorld } from '../support/world.js';

const SEA = join(ROOT, 'build/out/sigguard-linux-amd64');
let w: World;
let node: ContainerdNode;
let kubelet: Kubelet;
let dir: string;
let bus: Awaited<ReturnType<typeof startBus>>;
let systemd: FakeSystemd;
let agent: ChildProcess | undefined;

beforeAll(async () => {
  requireTools(RUNC, containerdBins('2.1').shim, SEA);
  w = await makeWorld();
  dir = mkdtempSync('/tmp/sgs-');
  node = await prepareNode({ version: '2.1', registryHost: w.registry.host, aliasHost: w.registry.host, dir, layout: 'kind' });
  await launch(node);
  kubelet = new Kubelet(node);
  bus = await startBus(dir);
  systemd = await FakeSystemd.onBus(bus.path);
}, 180_000);

afterAll(async () => {
  agent?.kill('SIGKILL');
  await systemd?.stop();
  await bus?.stop();
  expect(await tearDownNode({ supervisor: undefined, node, kubelet, dir })).toEqual([]);
  await w?.stop();
}, 60_000);

describe('sigguard agent --restart systemd on a containerd 2.1 node', () => {
  it('installs, restarts containerd through systemd over D-Bus (a restart owed by a killed agent, a failed job retried with backoff), removes the taint once ready, enforces, uninstalls exactly', async () => {
    const before = snapshot(dirname(node.config));
    const cm = new ConfigMapVolume(join(dir, 'cm'));
    const etc = join(dir, 'etc/sigguard');
    cm.publish({
      'policy.yaml': `version: 1\ndefault: reject\nexemptNamespaces: [sigguard-system, kube-system]\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${etc}/keys/cosign.pub\n      signedIdentity: {type: matchRepository}\n`,
      'config.yaml': `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  enabled: false\n`,
      'keys/cosign.pub': readFileSync(w.trusted.pub, 'utf8'),
    });
    // systemd's side: the first job never ends (the agent is killed meanwhile), the second fails,
    // then each restarts containerd and ends "done"
    let restartedAt = 0;
    systemd.onRestart = async () => {
      if (systemd.restarts.length === 1) return 'never';
      if (systemd.restarts.length === 2) return { result: 'failed' };
      await restartNode(node);
      restartedAt = Date.now();
      return { result: 'done' };
    };
    // the API server, for --remove-taint: the node registered with the taint
    mkdirSync(join(dir, 'sa'));
    const pki = makePki(join(dir, 'sa'));
    writeFileSync(join(dir, 'sa/token'), 'agent-token\n');
    writeFileSync(join(dir, 'sa/ca.crt'), pki.ca);
    const api = new FakeApi('agent-token');
    const apiPort = await api.start(pki);
    api.node = freshNode([
      { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' },
      { key: 'sigguard.dev/not-ready', effect: 'NoSchedule' },
    ]);
    const bins = containerdBins('2.1');
    const args = [
      'agent',
      ...['--containerd-config', node.config, '--socket', node.socket, '--containerd', bins.containerd, '--ctr', bins.ctr],
      ...['--source', cm.dir, '--etc', etc, '--install-path', join(dir, 'opt/sigguard/bin/sigguard'), '--binary', SEA],
      ...['--log', join(dir, 'log/decisions.log'), '--restart', 'systemd', '--systemd-bus', `system:${bus.path}`],
      ...['--sync-interval', '1', '--check-interval', '60'],
      ...['--remove-taint', 'sigguard.dev/not-ready', '--service-account-dir', join(dir, 'sa')],
    ];
    const pid0 = node.process?.pid;
    const start = (nodeName: Record<string, string> = { NODE_NAME: 'node-1' }) =>
      spawn(join(ROOT, 'bin/sigguard'), [...args, '--listen', '127.0.0.1:0'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(apiPort), ...nodeName },
      });
    // killed between writing the base specs and containerd's restart (its job never ends); without
    // NODE_NAME, which --remove-taint needs only once ready: the install goes ahead all the same
    const first = start({});
    agent = first;
    await until('restart asked', 30_000, () => (systemd.restarts.length === 1 ? true : undefined));
    const gone = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await gone;
    expect(node.process?.pid).toBe(pid0); // containerd still runs on the specs without the hook
    expect(api.requests).toEqual([]); // never ready: the taint was not touched
    // the next agent owes that restart: it restarts containerd (a failed job, the retry) before it is ready
    const child = start();
    agent = child;
    const out = agentOutput(child);
    const lines = out.lines;
    const t0 = Date.now();
    while ((await httpGet(out.port, '/readyz')).status !== 200) {
      if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`agent not ready: ${JSON.stringify(lines)}`);
      await sleep(200);
    }
    const took = Date.now() - t0;
    console.log(`agent --restart systemd: ready after ${took} ms (an owed restart: one failed job, one retry)`);
    expect(systemd.restarts).toEqual(Array(3).fill('containerd.service replace'));
    expect(took).toBeGreaterThanOrEqual(4500); // the retry waited for the backoff (5 s)
    expect(node.process?.pid).not.toBe(pid0);
    const failure = lines.find((l) => l.msg === 'runtime restart failed: the hook files stay written; retried with backoff');
    expect(String(failure?.err)).toContain('the restart job of containerd.service');
    expect(String(failure?.err)).toContain('ended "failed"');
    const metrics = (await httpGet(out.port, '/metrics')).text;
    expect(series(metrics, 'sigguard_runtime_restart_failures_total{mechanism="systemd"}')).toBe(1);
    expect(series(metrics, 'sigguard_runtime_restarts_total')).toBe(1);
    expect(series(metrics, 'sigguard_unguarded_runtime_handlers')).toBe(0);

    // ready: the registration taint removed, only it, and only after containerd answered with the hook
    await until('taint removed', 10_000, () => (api.node.spec.taints?.length === 1 ? true : undefined));
    expect(api.node.spec.taints).toEqual([{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }]);
    const patch = api.requests.find((r) => r.method === 'PATCH');
    expect(patch?.at).toBeGreaterThanOrEqual(restartedAt);
    await api.stop();
    await until('taint counted', 5000, async () =>
      series((await httpGet(out.port, '/metrics')).text, 'sigguard_registration_taint_removals_total{result="removed"}') === 1
        ? true
        : undefined,
    );

    // containerd answers with the hook
    expect((await kubelet.runPod({ image: w.ref('signed'), name: 'sd-signed', namespace: 'default', runtimeHandler: 'runc' })).ok).toBe(
      true,
    );
    const denied = await kubelet.runPod({ image: w.ref('unsigned'), name: 'sd-unsigned', namespace: 'default', runtimeHandler: 'runc' });
    expect(denied.error).toContain('[NO_SIGNATURE]');

    // stopped: the hook stays; uninstall restarts containerd through systemd without it
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    agent = undefined;
    const u = await run(join(ROOT, 'bin/sigguard'), [...args, '--uninstall'], { timeoutMs: 90_000 });
    expect(u.code, u.stdout + u.stderr).toBe(0);
    expect(systemd.restarts.length).toBe(4);
    expect(snapshot(dirname(node.config))).toEqual(before);
    expect((await kubelet.runPod({ image: w.ref('unsigned'), name: 'sd-after', namespace: 'default', runtimeHandler: 'runc' })).ok).toBe(
      true,
    );
  }, 300_000);
});
