/**
 * The Kind path without Kind: e2e/kind/install-kind.sh and uninstall-kind.sh, and the installer
 * they run on each node (install/install.sh), against a local containerd node laid out like a
 * Kind node (test/support/node/containerd-node.ts, layout 'kind': /etc/containerd/config.toml with Kind's
 * runc and test-handler runtimes, cri-base.json with Kind's createContainer hook, certs.d,
 * /run/containerd/containerd.sock — all under the node folder).
 *
 * The scripts run for real with PATH=e2e/kind/standins:$PATH: `kind get nodes` names the one
 * local node, `docker cp`/`docker exec` forward to its folder (exec runs the node's installer with
 * SIGGUARD_ROOT=<node folder>), `systemctl restart containerd` inside exec calls back into this
 * test, which restarts the node with the harness's restartNode, and `kubectl wait` waits for the
 * node's containerd. The images come from e2e/kind/sign-images.sh; the pods from
 * e2e/manifests/*.yaml, run the way kubelet runs them (test/support/node/kubelet.ts).
 *
 * The node's policy and config are install/kind/{policy,config}.yaml with their node paths put
 * under the node folder and localhost:5001 replaced by this test's registry alias.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  type ContainerdNode,
  RUNC,
  containerdBins,
  launch,
  nodeMounts,
  nodeProcesses,
  prepareNode,
  restartNode,
  stopNode,
} from '../support/node/containerd-node.js';
import { forwardPort } from '../support/node/forward.js';
import { Kubelet } from '../support/node/kubelet.js';
import { standinVerifier } from '../support/node/standin-verifier.js';
import { effective, loadOrder } from '../../src/installer/containerd-effective.js';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
import { type Run, run, sigguard } from '../support/cli.js';
import { COSIGN2, ROOT, SIGGUARD, requireTools } from '../support/paths.js';
import { Registry } from '../support/registry.js';
import { tableAt } from '../support/toml.js';

const VERSIONS = ['2.1', '1.7'] as const;
const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;
const STANDINS = join(ROOT, 'e2e/kind/standins');
const NODE_NAME = 'sigguard-control-plane';
const SHELLCHECK = '/usr/bin/shellcheck';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

let registry: Registry;
let alias: string;
let tmp: string;
let keys: string;

/** The scripts shellcheck must accept: every file in install/ and e2e/kind/ that is a shell script. */
function scripts(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (readFileSync(p, 'utf8').startsWith('#!/usr/bin/env bash') || readFileSync(p, 'utf8').startsWith('#!/bin/sh')) out.push(p);
    }
  };
  walk(join(ROOT, 'install'));
  walk(join(ROOT, 'e2e/kind'));
  return out.sort();
}

beforeAll(async () => {
  requireTools(
    SIGGUARD,
    join(ROOT, `build/out/sigguard-linux-${ARCH}`),
    RUNC,
    COSIGN2,
    SHELLCHECK,
    '/usr/bin/curl',
    ...VERSIONS.flatMap((v) => Object.values(containerdBins(v)).slice(1)),
  );
  tmp = mkdtempSync('/tmp/sgk-');
  keys = join(tmp, 'keys');
  registry = await Registry.start();
  // As on the workstation, where localhost:5001 IS the registry: push and sign under the alias
  // name (forwarded only for this); the node reaches it through certs.d/<alias>/hosts.toml.
  const fwd = await forwardPort(0, { host: '127.0.0.1', port: registry.port });
  alias = `localhost:${fwd.port}`;
  try {
    mkdirSync(join(tmp, 'home'));
    const r = await run('bash', [join(ROOT, 'e2e/kind/sign-images.sh'), '--registry', alias, '--keys', keys], {
      env: { HOME: join(tmp, 'home') },
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    console.log(`sign-images.sh:\n${r.stdout}`);
  } finally {
    await fwd.close();
  }
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  if (tmp && !process.env.SIGGUARD_KEEP_NODE) rmSync(tmp, { recursive: true, force: true });
});

it('shellcheck accepts every script in install/ and e2e/kind/ (stand-ins included)', () => {
  const files = scripts();
  expect(files.map((f) => f.slice(ROOT.length + 1))).toEqual(
    expect.arrayContaining([
      'install/install.sh',
      'e2e/kind/kind-up.sh',
      'e2e/kind/install-kind.sh',
      'e2e/kind/uninstall-kind.sh',
      'e2e/kind/sign-images.sh',
      'e2e/kind/standins/docker',
      'e2e/kind/standins/kind',
      'e2e/kind/standins/kubectl',
      'e2e/kind/standins/node/systemctl',
    ]),
  );
  for (const f of files) expect(statSync(f).mode & 0o111, `${f} is not executable`).not.toBe(0);
  // shellcheck's findings go to stdout, its own failures (a file it cannot read, a bad option) to
  // stderr: either, or a non-zero exit, is a failure
  const r = spawnSync(SHELLCHECK, ['--external-sources', ...files], { encoding: 'utf8' });
  expect(r.error, `${SHELLCHECK} did not run`).toBeUndefined();
  expect({ status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
    status: 0,
    signal: null,
    stdout: '',
    stderr: '',
  });
});

it('the shipped Kind policy validates and keeps the cluster alive: Kubernetes and Kind images accepted, the local registry signed, the rest rejected', async () => {
  const policy = join(tmp, 'kind-policy.yaml');
  writeFileSync(
    policy,
    readFileSync(join(ROOT, 'install/kind/policy.yaml'), 'utf8').replaceAll('/etc/sigguard/keys/cosign.pub', join(keys, 'cosign.pub')),
  );
  const v = await sigguard(['policy', 'validate', policy]);
  expect(v.code, v.stderr).toBe(0);
  expect(v.stdout).toContain('is valid: 4 scopes, 3 keys, default reject, mode enforce');
  const text = readFileSync(join(ROOT, 'install/kind/policy.yaml'), 'utf8');
  const doc = parseYaml(text);
  expect(doc.exemptNamespaces).toEqual(expect.arrayContaining(['kube-system', 'local-path-storage']));
  expect(doc.scopes['localhost:5001']).toEqual([
    { type: 'sigstoreSigned', keyPath: '/etc/sigguard/keys/cosign.pub', signedIdentity: { type: 'matchRepository' } },
  ]);
  const digest = `sha256:${'ab'.repeat(32)}`;
  const verdicts: Record<string, string> = {};
  for (const image of [
    'registry.k8s.io/pause',
    'registry.k8s.io/coredns/coredns',
    'docker.io/kindest/kindnetd',
    'docker.io/kindest/local-path-provisioner',
    'docker.io/library/busybox',
    'quay.io/x/y',
  ]) {
    const r = await sigguard(['check', '--json', '--policy', policy, `${image}@${digest}`], { timeoutMs: 20_000 });
    verdicts[image] = JSON.parse(r.stdout).code;
  }
  expect(verdicts).toEqual({
    'registry.k8s.io/pause': 'POLICY_ACCEPT',
    'registry.k8s.io/coredns/coredns': 'POLICY_ACCEPT',
    'docker.io/kindest/kindnetd': 'POLICY_ACCEPT',
    'docker.io/kindest/local-path-provisioner': 'POLICY_ACCEPT',
    'docker.io/library/busybox': 'POLICY_REJECT',
    'quay.io/x/y': 'POLICY_REJECT',
  });
  const config = parseYaml(readFileSync(join(ROOT, 'install/kind/config.yaml'), 'utf8'));
  expect(config).toMatchObject({
    registry: { certsDir: '/etc/containerd/certs.d' },
    node: { containerdSocket: '/run/containerd/containerd.sock' },
  });
});

interface Manifest {
  file: string;
  name: string;
  namespace: string;
  image: string;
  command: string[];
  expect: { decision: 'allow' | 'deny'; code: string };
}

function manifests(): Manifest[] {
  const dir = join(ROOT, 'e2e/manifests');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const doc = parseYaml(readFileSync(join(dir, file), 'utf8'));
      const [decision, code] = String(doc.metadata.annotations['e2e.sigguard.dev/expect']).split(' ');
      const c = doc.spec.containers[0];
      return {
        file,
        name: doc.metadata.name,
        namespace: doc.metadata.namespace,
        image: c.image,
        command: c.command,
        expect: { decision, code },
      } as Manifest;
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(VERSIONS)('Kind scripts on a containerd %s node', (version) => {
  let node: ContainerdNode;
  let kubelet: Kubelet;
  let R: string; // the node's root
  let server: Server;
  let restarts = 0;
  let env: Record<string, string>;
  let standinLog: string;
  let policy: string;
  let config: string;
  let before: { config: string; spec: string };
  let n = 0;

  const script = (name: string, args: string[]): Promise<Run> =>
    run('bash', [join(ROOT, 'e2e/kind', name), ...args], { env, timeoutMs: 180_000 });
  const installKind = (policyFile = policy) =>
    script('install-kind.sh', ['--cluster', 'sigguard', '--policy', policyFile, '--config', config, '--keys', keys, '--wait', '30']);
  const decisions = (): DecisionRecord[] => {
    const log = join(R, 'var/log/sigguard/decisions.log');
    return existsSync(log)
      ? readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .map((l): DecisionRecord => JSON.parse(l))
      : [];
  };
  const verifier = standinVerifier(() => R);
  const verifierPid = verifier.pid;
  const stopVerifier = verifier.kill;
  const agentSocket = () => join(R, 'var/lib/sigguard/agent/hook.sock');
  const unitFile = () => join(R, 'etc/systemd/system/sigguard-verifier.service');
  /** install/install.sh run as `docker exec NODE` runs it, with the node's files already in place. */
  const installSh = (args: string[], extraEnv: Record<string, string> = {}) =>
    run('bash', [join(ROOT, 'install/install.sh'), ...args], {
      env: { ...env, ...extraEnv, PATH: `${join(STANDINS, 'node')}:${containerdBins(version).dir}:${process.env.PATH}`, SIGGUARD_ROOT: R },
      timeoutMs: 120_000,
    });
  const reinstallArgs = [
    '--binary',
    '/usr/local/bin/sigguard',
    '--policy',
    '/etc/sigguard/policy.yaml',
    '--keys',
    '/etc/sigguard/keys',
    '--config',
    '/etc/sigguard/config.yaml',
    '--wait',
    '30',
  ];
  const underRoot = (text: string) => text.replace(/(?<=[\s"'[])\/(etc|run|var)\//g, `${R}/$1/`);

  /** Runs a pod; when it started, waits (bounded) until it printed its marker. */
  const runPod = async (image: string, namespace = 'default', extra: { runtimeHandler?: string; command?: string[] } = {}) => {
    const r = await kubelet.runPod({ image, name: `pod-${++n}`, namespace, ...extra });
    if (r.ok) {
      const marker = `${image.split('/').pop()!.split(':')[0]!.split('@')[0]}\n`;
      for (let i = 0; i < 100 && !kubelet.logs(r).includes(marker); i++) await sleep(100);
      expect(kubelet.logs(r)).toContain(marker);
    }
    return r;
  };

  beforeAll(async () => {
    R = mkdtempSync('/tmp/sgk-'); // short: the socket path must fit a sockaddr_un
    node = await prepareNode({ version, registryHost: registry.host, aliasHost: alias, dir: R, layout: 'kind' });
    mkdirSync(join(R, 'tmp'));
    mkdirSync(join(R, 'run/systemd/system'), { recursive: true }); // booted with systemd, as a Kind node is
    // `systemctl restart containerd` on the node (standins/node/systemctl) comes back here
    server = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/restart') {
        res.writeHead(404).end();
        return;
      }
      restarts++;
      restartNode(node, 30_000).then(
        () => res.writeHead(200).end('containerd restarted\n'),
        (err: Error) => res.writeHead(500).end(`restart failed: ${err.message}\n`),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const outside = mkdtempSync(join(tmp, `node-${version}-`));
    const restartScript = join(outside, 'restart-containerd');
    writeFileSync(
      restartScript,
      `#!/bin/sh\n# the test's restart of its containerd node (restartNode)\nexec curl -fsS --max-time 60 -X POST http://127.0.0.1:${port}/restart\n`,
      { mode: 0o755 },
    );
    standinLog = join(outside, 'standin.log');
    env = {
      PATH: `${STANDINS}:${process.env.PATH}`,
      STANDIN_CLUSTER: 'sigguard',
      STANDIN_NODE_NAME: NODE_NAME,
      STANDIN_NODE_ROOT: R,
      STANDIN_NODE_PATH: containerdBins(version).dir,
      STANDIN_RESTART: restartScript,
      STANDIN_LOG: standinLog,
    };
    policy = join(outside, 'policy.yaml');
    writeFileSync(policy, underRoot(readFileSync(join(ROOT, 'install/kind/policy.yaml'), 'utf8')).replaceAll('localhost:5001', alias));
    config = join(outside, 'config.yaml');
    writeFileSync(config, underRoot(readFileSync(join(ROOT, 'install/kind/config.yaml'), 'utf8')));
    await launch(node);
    kubelet = new Kubelet(node);
    before = { config: readFileSync(node.config, 'utf8'), spec: readFileSync(node.baseSpec, 'utf8') };
  }, 120_000);

  afterAll(async () => {
    server?.close();
    if (!node) return;
    stopVerifier();
    const errors = kubelet ? await kubelet.cleanup() : [];
    kubelet?.close();
    const forced = await stopNode(node);
    console.log(
      `containerd ${version}: ${restarts} restarts through systemctl; cleanup errors ${JSON.stringify(errors)}, forced ${JSON.stringify(forced)}`,
    );
    expect(nodeProcesses(node)).toEqual([]);
    expect(nodeMounts(node)).toEqual([]);
    if (!process.env.SIGGUARD_KEEP_NODE) rmSync(R, { recursive: true, force: true });
  }, 60_000);

  it('the node is Kind-shaped, and without sigguard an unsigned pod runs', async () => {
    expect(node.config).toBe(join(R, 'etc/containerd/config.toml'));
    expect(node.socket).toBe(join(R, 'run/containerd/containerd.sock'));
    const cri = version === '1.7' ? 'io.containerd.grpc.v1.cri' : 'io.containerd.cri.v1.runtime';
    const runtimes = tableAt(parseToml(before.config), 'plugins', cri, 'containerd', 'runtimes');
    expect(Object.keys(runtimes ?? {}).sort()).toEqual(['runc', 'test-handler']);
    const handler = tableAt(runtimes, 'test-handler');
    expect(handler).toBeDefined();
    expect(handler?.base_runtime_spec).toBeUndefined();
    const r = await runPod(`${alias}/sigguard-e2e/unsigned:v1`);
    expect(r.ok, r.error).toBe(true);
  });

  it('install-kind.sh installs on the node through the stand-ins: files under the root, the hook in every handler, containerd restarted', async () => {
    const r = await installKind();
    console.log(`install-kind.sh (containerd ${version}):\n${r.stdout}${r.stderr}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`== ${NODE_NAME} (${execFileSync('uname', ['-m']).toString().trim()}): installing sigguard`);
    expect(r.stdout).toContain('sigguard installed on 1 node(s) of sigguard');
    // the files, under the node root; the public key only; the staging folder gone
    const bin = join(R, 'usr/local/bin/sigguard');
    expect(readFileSync(bin).equals(readFileSync(join(ROOT, `build/out/sigguard-linux-${ARCH}`)))).toBe(true);
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    expect(readdirSync(join(R, 'etc/sigguard')).sort()).toEqual([
      'config.yaml',
      'installed-files',
      'installed.json',
      'keys',
      'policy.yaml',
    ]);
    expect(readdirSync(join(R, 'etc/sigguard/keys'))).toEqual(['cosign.pub']);
    expect(readFileSync(join(R, 'etc/sigguard/policy.yaml'), 'utf8')).toBe(readFileSync(policy, 'utf8'));
    expect(readFileSync(join(R, 'etc/sigguard/installed-files'), 'utf8').trim().split('\n')).toEqual([
      '/usr/local/bin/sigguard',
      '/etc/sigguard/policy.yaml',
      '/etc/sigguard/config.yaml',
      '/etc/sigguard/keys/cosign.pub',
      '/etc/systemd/system/sigguard-verifier.service',
    ]);
    expect(existsSync(join(R, 'tmp/sigguard-install'))).toBe(false);
    // the hook: first in createRuntime, naming the files under the root; Kind's own hook kept
    const spec = JSON.parse(readFileSync(node.baseSpec, 'utf8'));
    expect(spec.hooks.createRuntime).toEqual([
      {
        path: bin,
        args: [
          'sigguard',
          'hook',
          '--policy',
          join(R, 'etc/sigguard/policy.yaml'),
          '--log',
          join(R, 'var/log/sigguard/decisions.log'),
          '--config',
          join(R, 'etc/sigguard/config.yaml'),
          '--agent',
          agentSocket(),
        ],
        timeout: 10,
      },
    ]);
    // the verifier: a systemd unit with the hook's own files, enabled, started, listening
    expect(readFileSync(unitFile(), 'utf8')).toContain(
      `\nExecStart=${bin} verifier --socket ${agentSocket()} --policy ${join(R, 'etc/sigguard/policy.yaml')} --config ${join(R, 'etc/sigguard/config.yaml')}\n`,
    );
    if (existsSync(SYSTEMD_ANALYZE)) {
      const v = spawnSync(SYSTEMD_ANALYZE, ['verify', unitFile()], { encoding: 'utf8' });
      expect({ code: v.status, stderr: v.stderr }).toEqual({ code: 0, stderr: '' });
    } else console.log(`no ${SYSTEMD_ANALYZE} here: the unit is not checked by systemd`);
    expect(verifierPid()).toBeDefined();
    expect(statSync(agentSocket()).isSocket()).toBe(true);
    expect(statSync(agentSocket()).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain(`sigguard-verifier.service listens on ${agentSocket()}: the hook asks it first`);
    expect(spec.hooks.createContainer).toEqual([{ path: node.kindHook }]);
    // Kind's test-handler had no base spec: it has one now, with the hook — on 2.x through
    // sigguard's drop-in, which config.toml imports; on 1.x (which would let a drop-in replace the
    // whole CRI section) by one line under its table in config.toml. Nothing else changed.
    const dropIn = join(R, 'etc/containerd/sigguard-handlers.toml');
    const specLine = `      base_runtime_spec = ${JSON.stringify(join(R, 'etc/containerd/sigguard-base-test-handler.json'))}\n`;
    expect(readFileSync(node.config, 'utf8')).toBe(
      version === '1.7'
        ? before.config.replace(/\.test-handler\]\n/, (l) => `${l}${specLine}`)
        : before.config.replace(/^version = \d\n/m, (l) => `${l}imports = [${JSON.stringify(dropIn)}]\n`),
    );
    const handlers = effective(loadOrder(node.config), version === '1.7' ? '1.x' : '2.x').handlers;
    expect(handlers.find((h) => h.name === 'test-handler')?.baseSpec).toBe(join(R, 'etc/containerd/sigguard-base-test-handler.json'));
    expect(JSON.parse(readFileSync(join(R, 'etc/containerd/sigguard-base-test-handler.json'), 'utf8')).hooks.createRuntime[0].path).toBe(
      bin,
    );
    // what the scripts asked of kind, docker, systemctl and kubectl
    const calls = readFileSync(standinLog, 'utf8').trim().split('\n');
    expect(calls).toEqual([
      'kind get nodes --name sigguard',
      `docker exec ${NODE_NAME} uname -m`,
      `docker exec ${NODE_NAME} rm -rf /tmp/sigguard-install`,
      expect.stringMatching(new RegExp(`^docker cp /\\S+/${NODE_NAME}/sigguard-install ${NODE_NAME}:/tmp/sigguard-install$`)),
      `docker exec ${NODE_NAME} /tmp/sigguard-install/install.sh --binary /tmp/sigguard-install/sigguard --policy /tmp/sigguard-install/policy.yaml --keys /tmp/sigguard-install/keys --containerd-config /etc/containerd/config.toml --config /tmp/sigguard-install/config.yaml`,
      'systemctl daemon-reload',
      'systemctl enable sigguard-verifier.service',
      'systemctl reset-failed sigguard-verifier.service',
      'systemctl restart sigguard-verifier.service',
      'systemctl is-active --quiet sigguard-verifier.service',
      'systemctl restart containerd',
      `docker exec ${NODE_NAME} rm -rf /tmp/sigguard-install`,
      'kubectl --context kind-sigguard wait --for=condition=Ready nodes --all --timeout=30s',
    ]);
    expect(restarts).toBe(1);
  });

  it("the pods of e2e/manifests: signed runs, unsigned, wrong key and wrong repository are refused with sigguard's reason, kube-system is exempt", async () => {
    const ms = manifests();
    expect(ms.map((m) => m.file)).toEqual([
      'exempt-namespace-pod.yaml',
      'signed-pod.yaml',
      'unsigned-pod.yaml',
      'wrong-key-pod.yaml',
      'wrong-repository-pod.yaml',
    ]);
    const seen: string[] = [];
    for (const m of ms) {
      expect(m.image.startsWith('localhost:5001/')).toBe(true);
      const image = m.image.replace('localhost:5001', alias);
      const r = await runPod(image, m.namespace, { command: m.command });
      const d = decisions().at(-1);
      seen.push(
        `${m.file}: ${r.ok ? 'started' : `refused at ${r.stage}: ${r.error}`} (decision ${d?.decision} ${d?.code}, agent ${d?.agent})`,
      );
      expect(d).toMatchObject({ decision: m.expect.decision, code: m.expect.code, image, namespace: m.namespace, runtime: 'containerd' });
      // the verifier install.sh started decided the signed start; every denial is the hook's own
      if (m.expect.code === 'ALLOWED') expect(d?.agent).toBe('decided');
      if (m.expect.decision === 'deny') expect(d?.agent).toMatch(/^not used: the agent declined: /);
      if (m.expect.decision === 'allow') {
        expect(r.ok, `${m.file}: ${r.error}`).toBe(true);
      } else {
        expect(r.ok).toBe(false);
        expect(r.stage).toBe('start');
        // the refusal names the repository and the digest the node runs (the tag resolved over CRI)
        const repo = image.replace(/:v1$/, '').replace(/[.:/]/g, '\\$&');
        expect(r.error).toMatch(new RegExp(`sigguard: denied ${repo}@sha256:[0-9a-f]{64}: .* \\[${m.expect.code}\\]`));
      }
    }
    console.log(`containerd ${version}:\n${seen.join('\n')}`);
  });

  it("a pod on the other runtime handler (Kind's test-handler) is checked too", async () => {
    const unsigned = await runPod(`${alias}/sigguard-e2e/unsigned:v1`, 'default', { runtimeHandler: 'test-handler' });
    expect(unsigned.ok).toBe(false);
    expect(unsigned.error).toContain('[NO_SIGNATURE]');
    const signed = await runPod(`${alias}/sigguard-e2e/signed:v1`, 'default', { runtimeHandler: 'test-handler' });
    expect(signed.ok, signed.error).toBe(true);
  });

  it('install.sh --no-verifier stops the verifier and takes its unit out, and the hook decides alone; installed again, the verifier is back', async () => {
    const alone = await installSh([...reinstallArgs, '--no-verifier']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout).toContain('sigguard-verifier.service stopped and removed');
    expect(verifierPid()).toBeUndefined();
    expect(existsSync(unitFile())).toBe(false);
    expect(existsSync(agentSocket())).toBe(false);
    expect(readFileSync(join(R, 'etc/sigguard/installed-files'), 'utf8')).not.toContain('sigguard-verifier');
    const spec = JSON.parse(readFileSync(node.baseSpec, 'utf8'));
    expect(spec.hooks.createRuntime[0].args).not.toContain('--agent');
    rmSync(join(R, 'var/lib/sigguard/cache'), { recursive: true, force: true }); // no verdict kept: the hook verifies
    const signed = await runPod(`${alias}/sigguard-e2e/signed:v1`);
    expect(signed.ok, signed.error).toBe(true);
    expect(decisions().at(-1)).toMatchObject({ decision: 'allow' });
    expect(decisions().at(-1)?.agent).toBeUndefined();

    const back = await installSh(reinstallArgs);
    expect(back.code, back.stderr).toBe(0);
    expect(verifierPid()).toBeDefined();
    expect(readFileSync(join(R, 'etc/sigguard/installed-files'), 'utf8').trim().split('\n').at(-1)).toBe(
      '/etc/systemd/system/sigguard-verifier.service',
    );
    expect(JSON.parse(readFileSync(node.baseSpec, 'utf8')).hooks.createRuntime[0].args.slice(-2)).toEqual(['--agent', agentSocket()]);
  });

  it('a verifier that does not come up fails the install in one line, stopped; the hook still enforces by itself', async () => {
    const r = await installSh([...reinstallArgs.slice(0, -1), '2'], { STANDIN_VERIFIER_EXEC: '/bin/false' });
    expect(r.code).toBe(1);
    const own = r.stderr.split('\n').filter((l) => l.startsWith('install.sh:'));
    expect(own).toEqual([
      `install.sh: sigguard-verifier.service did not start: it does not listen on ${agentSocket()} within 2s (journalctl -u sigguard-verifier.service says why; the new files are in place and the hook decides alone; install.sh --no-verifier installs without the service)`,
    ]);
    expect(verifierPid()).toBeUndefined();
    rmSync(join(R, 'var/lib/sigguard/cache'), { recursive: true, force: true });
    const unsigned = await runPod(`${alias}/sigguard-e2e/unsigned:v1`);
    expect(unsigned.error).toContain('[NO_SIGNATURE]');
    const signed = await runPod(`${alias}/sigguard-e2e/signed:v1`);
    expect(signed.ok, signed.error).toBe(true);
    expect(decisions().at(-1)).toMatchObject({ decision: 'allow', agent: expect.stringMatching(/^not used: /) });
  });

  it('a re-install is idempotent; a broken policy fails in one line and leaves the working install alone', async () => {
    const specBefore = readFileSync(node.baseSpec, 'utf8');
    const again = await installKind();
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(node.baseSpec, 'utf8')).toBe(specBefore);
    expect(JSON.parse(readFileSync(join(R, 'etc/sigguard/installed.json'), 'utf8')).specs).toEqual([
      expect.objectContaining({ handlers: ['runc'], created: false }),
      expect.objectContaining({ handlers: ['test-handler'], created: true }),
    ]);

    const broken = join(tmp, `broken-${version}.yaml`);
    writeFileSync(broken, readFileSync(policy, 'utf8').replace('keyPath:', 'keyPathh:'));
    const restartsBefore = restarts;
    const r = await installKind(broken);
    expect(r.code).not.toBe(0);
    const own = r.stderr.split('\n').filter((l) => l.startsWith('install.sh:'));
    expect(own).toHaveLength(1);
    expect(own[0]).toMatch(
      /^install\.sh: policy \S+\/tmp\/sigguard-install\/policy\.yaml is not valid on this node: sigguard: invalid policy .*keyPathh.* \[POLICY_INVALID\] \(the previous files are back\)$/,
    );
    expect(r.stderr).toContain(`install-kind.sh: installing on node ${NODE_NAME} failed`);
    expect(readFileSync(join(R, 'etc/sigguard/policy.yaml'), 'utf8')).toBe(readFileSync(policy, 'utf8'));
    expect(readFileSync(node.baseSpec, 'utf8')).toBe(specBefore);
    expect(restarts).toBe(restartsBefore);
    expect(existsSync(join(R, 'tmp/sigguard-install'))).toBe(false);
    // the verifier, stopped while the files changed, runs again with the previous ones
    expect(verifierPid()).toBeDefined();
    // and still enforcing
    const unsigned = await runPod(`${alias}/sigguard-e2e/unsigned:v1`);
    expect(unsigned.error).toContain('[NO_SIGNATURE]');
  });

  it('uninstall-kind.sh takes everything back: config and base spec as before, the files gone, unsigned pods run again', async () => {
    const r = await script('uninstall-kind.sh', ['--cluster', 'sigguard', '--wait', '30']);
    console.log(`uninstall-kind.sh (containerd ${version}):\n${r.stdout}${r.stderr}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('sigguard uninstalled from 1 node(s) of sigguard');
    expect(readFileSync(node.config, 'utf8')).toBe(before.config); // byte for byte
    expect(readFileSync(node.baseSpec, 'utf8')).toBe(before.spec);
    expect(existsSync(join(R, 'etc/containerd/sigguard-handlers.toml'))).toBe(false);
    expect(existsSync(join(R, 'etc/containerd/sigguard-base-test-handler.json'))).toBe(false);
    expect(existsSync(join(R, 'usr/local/bin/sigguard'))).toBe(false);
    expect(existsSync(join(R, 'etc/sigguard'))).toBe(false);
    expect(existsSync(join(R, 'tmp/sigguard-uninstall'))).toBe(false);
    // the verifier stopped, its unit gone, its socket with it
    expect(verifierPid()).toBeUndefined();
    expect(existsSync(unitFile())).toBe(false);
    expect(existsSync(agentSocket())).toBe(false);
    // the decision log is the hook's data: it stays
    expect(decisions().length).toBeGreaterThan(0);
    const count = decisions().length;
    for (const handler of ['runc', 'test-handler']) {
      const p = await runPod(`${alias}/sigguard-e2e/unsigned:v1`, 'default', { runtimeHandler: handler });
      expect(p.ok, `${handler}: ${p.error}`).toBe(true);
    }
    expect(decisions().length).toBe(count);
  });
});
