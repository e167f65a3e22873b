/**
 * sigguard agent on a real containerd 2.1 node (the Kind layout), containerd run by a small
 * supervisor that starts it again when it exits — what systemd's Restart=always does on Kind and
 * Debian — so the agent's restart mechanism (`--restart signal`) is the one exercised here:
 *
 * - the agent syncs a ConfigMap-like folder to /etc/sigguard, installs the hook with install-node's
 *   code, restarts containerd once, and is ready; a signed pod runs, an unsigned one is refused;
 * - a changed policy takes effect within 10 s; an invalid one, or one that drops the agent's
 *   exemption, is refused, logged and counted, and the previous stays in force;
 * - the agent killed (SIGKILL) leaves hook and policy in place (a pod started meanwhile is still
 *   verified); started again, it changes nothing and does not restart containerd;
 * - a runtime handler added later is guarded at the next check, with one restart;
 * - /metrics counts exactly the decisions of the log; `--uninstall` puts the node's files back.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainerdNode, RUNC, containerdBins, launch, prepareNode } from '../support/node/containerd-node.js';
import { Kubelet } from '../support/node/kubelet.js';
import { ConfigMapVolume, agentOutput, httpGet, series, sleep, supervise, tearDownNode, until } from '../support/agent-node.js';
import { run } from '../support/cli.js';
import { snapshot } from '../support/snapshot.js';
import { ROOT, TOOLS, requireTools } from '../support/paths.js';
import { type World, makeWorld } from '../support/world.js';

const SEA = join(ROOT, 'build/out/sigguard-linux-amd64');
let w: World;
let node: ContainerdNode;
let kubelet: Kubelet;
let supervisor: ReturnType<typeof supervise>;
let dir: string;
let cm: ConfigMapVolume;
let etc: string;
let logFile: string;
let installPath: string;
let before: Record<string, string>;
let podN = 0;

const policy = (registryRule: string, exempt = '[sigguard-system, kube-system]') =>
  `version: 1\ndefault: reject\nexemptNamespaces: ${exempt}\nscopes:\n  "${w.registry.host}":\n${registryRule}`;
const SIGNED_RULE = () =>
  `    - type: sigstoreSigned\n      keyPath: ${etc}/keys/cosign.pub\n      signedIdentity: {type: matchRepository}\n`;
const documents = (policyText: string) => ({
  'policy.yaml': policyText,
  'config.yaml': `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  enabled: false\n`,
  'keys/cosign.pub': readFileSync(w.trusted.pub, 'utf8'),
});

interface AgentProc {
  child: ChildProcess;
  port: number;
  lines: Array<Record<string, unknown>>;
}

function agentArgs(extra: string[] = []): string[] {
  const bins = containerdBins('2.1');
  return [
    'agent',
    '--containerd-config',
    node.config,
    '--socket',
    node.socket,
    '--containerd',
    bins.containerd,
    '--ctr',
    bins.ctr,
    '--source',
    cm.dir,
    '--etc',
    etc,
    '--install-path',
    installPath,
    '--binary',
    SEA,
    '--log',
    logFile,
    '--restart',
    'signal',
    '--sync-interval',
    '1',
    '--check-interval',
    '2',
    // as the DaemonSet: the hooks ask the agent (src/agent/verify-server.ts) before they verify themselves
    '--hook-socket',
    join(dir, 'lib/agent/hook.sock'),
    ...extra,
  ];
}

async function startAgent(): Promise<AgentProc> {
  const child = spawn(join(ROOT, 'bin/sigguard'), [...agentArgs(), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = agentOutput(child);
  const a: AgentProc = {
    child,
    lines: out.lines,
    get port() {
      return out.port;
    },
  };
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`agent stderr: ${d}`));
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${JSON.stringify(a.lines)}`);
    if (a.port && (await get(a, '/readyz')).status === 200) return a;
    await sleep(200);
  }
  throw new Error(`agent not ready within 90 s: ${JSON.stringify(a.lines)}`);
}

const get = (a: AgentProc, path: string) => httpGet(a.port, path);

async function stopAgent(a: AgentProc, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((r) => a.child.once('exit', r));
  a.child.kill(signal);
  await exited;
}

const pod = (image: string, runtimeHandler = 'runc', namespace = 'default') =>
  kubelet.runPod({ image, name: `agent-pod-${++podN}`, namespace, runtimeHandler });

beforeAll(async () => {
  requireTools(RUNC, containerdBins('2.1').shim, SEA, join(TOOLS, 'bin/promtool'));
  w = await makeWorld();
  dir = mkdtempSync('/tmp/sga-');
  node = await prepareNode({ version: '2.1', registryHost: w.registry.host, aliasHost: w.registry.host, dir, layout: 'kind' });
  // a conf.d the node imports (as GPU toolkits add handlers), empty for now
  writeFileSync(
    node.config,
    readFileSync(node.config, 'utf8').replace(/^version = \d\n/m, (l) => `${l}imports = ["conf.d/*.toml"]\n`),
  );
  mkdirSync(join(dirname(node.config), 'conf.d'));
  await launch(node);
  supervisor = supervise(node);
  kubelet = new Kubelet(node);
  cm = new ConfigMapVolume(join(dir, 'cm'));
  etc = join(dir, 'etc/sigguard');
  logFile = join(dir, 'log/decisions.log');
  installPath = join(dir, 'opt/sigguard/bin/sigguard');
  before = snapshot(dirname(node.config));
}, 180_000);

afterAll(async () => {
  expect(await tearDownNode({ supervisor, node, kubelet, dir })).toEqual([]);
  await w?.stop();
}, 60_000);

describe('sigguard agent on a containerd 2.1 node', () => {
  it('installs, enforces, follows policy changes, refuses bad ones, survives its own death, guards a late handler, uninstalls exactly', async () => {
    cm.publish(documents(policy(SIGNED_RULE())));
    const pid0 = node.process?.pid;
    let agent = await startAgent();
    // installed: one restart through the supervisor
    expect(node.process?.pid).not.toBe(pid0);
    expect(supervisor.restarts).toBe(1);
    let metrics = (await get(agent, '/metrics')).text;
    expect(series(metrics, 'sigguard_runtime_restarts_total')).toBe(1);
    expect(series(metrics, 'sigguard_unguarded_runtime_handlers')).toBe(0);
    expect(series(metrics, 'sigguard_policy_sync_total{result="applied"}')).toBe(1);
    expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toContain('sigstoreSigned');
    const signed = w.ref('signed');
    const unsigned = w.ref('unsigned');
    const lastDecision = () => JSON.parse(readFileSync(logFile, 'utf8').trim().split('\n').pop()!) as Record<string, unknown>;
    for (const handler of ['runc', 'test-handler']) {
      expect((await pod(signed, handler)).ok, handler).toBe(true);
      // the hook entry names the agent's socket: the agent decided the allow (no verdict cache here)
      expect(lastDecision()).toMatchObject({ decision: 'allow', agent: 'decided' });
      const denied = await pod(unsigned, handler);
      expect(denied.ok).toBe(false);
      expect(denied.error).toContain('[NO_SIGNATURE]');
      // a deny is never the agent's: declined, the hook refused by its own verification
      expect(lastDecision()).toMatchObject({
        decision: 'deny',
        code: 'NO_SIGNATURE',
        agent: expect.stringMatching(/^not used: the agent declined: NO_SIGNATURE/),
      });
    }
    expect((await pod(unsigned, 'runc', 'sigguard-system')).ok).toBe(true); // the agent's own namespace stays exempt

    // a changed policy takes effect within 10 s
    const t0 = Date.now();
    cm.publish(documents(policy('    - type: reject\n')));
    await until('the new policy in /etc/sigguard', 10_000, () =>
      readFileSync(join(etc, 'policy.yaml'), 'utf8').includes('type: reject') ? true : undefined,
    );
    const took = Date.now() - t0;
    console.log(`agent: policy change in force after ${took} ms`);
    const rejected = await pod(signed, 'runc');
    expect(rejected.error).toContain('[POLICY_REJECT]');

    // invalid documents: refused, logged, counted; the previous stay in force
    cm.publish(documents(policy(SIGNED_RULE())));
    await until('policy back', 10_000, () =>
      readFileSync(join(etc, 'policy.yaml'), 'utf8').includes('sigstoreSigned') ? true : undefined,
    );
    const inForce = readFileSync(join(etc, 'policy.yaml'), 'utf8');
    for (const [i, bad] of [
      'version: 1\ndefault: accept\nbogus: [\n',
      policy('    - type: insecureAcceptAnything\n', '[kube-system]'), // drops sigguard-system
    ].entries()) {
      cm.publish(documents(bad));
      await until('refusal counted', 10_000, async () =>
        series((await get(agent, '/metrics')).text, 'sigguard_policy_sync_total{result="refused"}') === i + 1 ? true : undefined,
      );
      expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toBe(inForce);
      expect((await pod(unsigned)).error).toContain('[NO_SIGNATURE]');
    }
    expect(agent.lines.filter((l) => String(l.msg).includes('refused')).length).toBe(2);

    // killed: hook and policy stay; a container started meanwhile is verified (by the hook itself: its socket is gone)
    cm.publish(documents(policy(SIGNED_RULE())));
    await sleep(2500);
    await stopAgent(agent, 'SIGKILL');
    expect((await pod(unsigned)).error).toContain('[NO_SIGNATURE]');
    expect((await pod(signed)).ok).toBe(true);
    expect(lastDecision()).toMatchObject({ decision: 'allow', agent: expect.stringMatching(/^not used: agent socket: ECONNREFUSED/) });
    // started again while the ConfigMap holds a set it refuses: the set in force stays, the node stays guarded
    cm.publish(documents('version: 1\ndefault: accept\n'));
    const pid1 = node.process?.pid;
    agent = await startAgent();
    expect(node.process?.pid).toBe(pid1); // nothing changed: no restart
    metrics = (await get(agent, '/metrics')).text;
    expect(series(metrics, 'sigguard_runtime_restarts_total')).toBe(0);
    expect(series(metrics, 'sigguard_policy_sync_total{result="refused"}')).toBe(1);
    expect(readFileSync(join(etc, 'policy.yaml'), 'utf8')).toContain('sigstoreSigned');
    cm.publish(documents(policy(SIGNED_RULE())));

    // a handler added later: guarded at the next check (one restart)
    const opts = `  BinaryName = ${JSON.stringify(RUNC)}\n  Root = ${JSON.stringify(node.runcRoot)}\n  SystemdCgroup = false\n`;
    writeFileSync(
      join(dirname(node.config), 'conf.d/50-late.toml'),
      `version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.late]\n  runtime_type = "io.containerd.runc.v2"\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.late.options]\n${opts}`,
    );
    await until('late handler guarded', 30_000, async () =>
      series((await get(agent, '/metrics')).text, 'sigguard_runtime_restarts_total') === 1 ? true : undefined,
    );
    await until('containerd back', 30_000, async () => ((await get(agent, '/readyz')).status === 200 ? true : undefined));
    const late = await pod(unsigned, 'late');
    expect(late.ok).toBe(false);
    expect(late.error).toContain('[NO_SIGNATURE]');

    // /metrics: exactly the decisions of the log
    await sleep(1500);
    metrics = (await get(agent, '/metrics')).text;
    const records = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { decision: string; code: string });
    const expected = new Map<string, number>();
    for (const r of records) expected.set(`${r.decision}/${r.code}`, (expected.get(`${r.decision}/${r.code}`) ?? 0) + 1);
    for (const [key, count] of expected) {
      const [decision, code] = key.split('/');
      expect(series(metrics, `sigguard_decisions_total{decision="${decision}",code="${code}",enforced="true"}`), key).toBe(count);
    }
    expect(series(metrics, 'sigguard_hook_duration_seconds_count')).toBe(records.length);
    const lint = spawnSync(join(TOOLS, 'bin/promtool'), ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);

    // stopped (SIGTERM, as a rolling update does): the node keeps hook and policy
    await stopAgent(agent, 'SIGTERM');
    expect((await pod(unsigned)).error).toContain('[NO_SIGNATURE]');

    // uninstall: the node's files as they were
    rmSync(join(dirname(node.config), 'conf.d/50-late.toml'));
    const u = await run(join(ROOT, 'bin/sigguard'), [...agentArgs(), '--uninstall'], { timeoutMs: 90_000 });
    expect(u.code, u.stdout + u.stderr).toBe(0);
    expect(snapshot(dirname(node.config))).toEqual(before);
    expect(existsSync(installPath)).toBe(false);
    expect(readdirSync(etc)).toEqual([]);
    await until('containerd back', 30_000, async () => (node.process?.pid !== undefined ? true : undefined));
    await sleep(1000);
    expect((await pod(unsigned)).ok).toBe(true);
  }, 420_000);
});
