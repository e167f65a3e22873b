/**
 * `make e2e` with KIND_CLUSTER naming a running Kind cluster set up by
 * `make kind-up sign-images install-kind` (the DaemonSet; or install-kind-sh, install.sh): first every e2e/manifests/*.yaml pod
 * as it is (its annotation e2e.sigguard.dev/expect says "allow CODE" or "deny
 * CODE"), then the cases of e2e/cases.ts through kubectl (pods made from
 * e2e/manifests/cases/pod.yaml, images pushed and signed under
 * localhost:5001/e2e/). Node-side steps (warn mode, registry down, containerd
 * restart, pre-pulling for the retag cases, the decision log) go through
 * `docker exec` / `docker stop` on the Kind node and registry containers. Where make install-kind
 * deployed the DaemonSet, then the agent cases of e2e/agent-cases.ts on that node (e2e/agent-kind.ts;
 * the uninstall case's removal is undone at the end).
 *
 * Environment (defaults in brackets):
 *   KIND_CLUSTER                      the cluster; kubectl context kind-$KIND_CLUSTER
 *   SIGGUARD_KIND_KEY                 [.keys/cosign.key; make: $(KIND_KEYS)/cosign.key] the cosign private key (empty password) the node policy trusts
 *   SIGGUARD_KIND_REGISTRY            [localhost:5001; make: $(KIND_REGISTRY)] the registry as pods and this workstation name it (plain HTTP)
 *   SIGGUARD_KIND_REGISTRY_CONTAINER  [kind-registry] its docker container
 *   SIGGUARD_KIND_NODE                [$KIND_CLUSTER-control-plane] the node container (pods are pinned to it)
 *   SIGGUARD_KIND_POLICY              [/etc/sigguard/policy.yaml] the hook's policy on the node
 *   SIGGUARD_KIND_LOG                 [/var/log/sigguard/decisions.log] the hook's decision log on the node
 *   SIGGUARD_KIND_DEADLINE            [8] the hook's --deadline on the node (seconds)
 *   SIGGUARD_KIND_CACHE               [/var/lib/sigguard/cache] the hook's verdict cache on the node (the registry-slow cases age it)
 * The node's policy is install/kind/policy.yaml's: the registry needs that key, signedIdentity
 * matchRepository; kube-system is exempt.
 *
 * Built by e2e/bundle.mjs into build/out/e2e/run-kind.cjs. Same output as the local runner.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { CACHE_DEFAULTS } from '../src/cache/verdict-cache.js';
import { HOOK_DEFAULTS } from '../src/defaults.js';
import { Cosign } from '../test/support/cosign.js';
import { ROOT } from '../test/support/paths.js';
import { Pusher } from '../test/support/push.js';
import { type Cluster, type Decision, type E2eCase, type PodRequest, type PodResult, CASES, expectRan, expectRefused } from './cases.js';
import { Cleanup, signalExitCode } from './cleanup.js';
import { AGENT_CASES } from './agent-cases.js';
import { kindAgentNode, patchPolicy } from './agent-kind.js';
import { type SignWith, moveTag, prepareImages, signImage } from './images.js';

const cluster = process.env.KIND_CLUSTER ?? '';
const env = {
  key: process.env.SIGGUARD_KIND_KEY ?? join(ROOT, '.keys/cosign.key'),
  registry: process.env.SIGGUARD_KIND_REGISTRY ?? 'localhost:5001',
  registryContainer: process.env.SIGGUARD_KIND_REGISTRY_CONTAINER ?? 'kind-registry',
  node: process.env.SIGGUARD_KIND_NODE ?? `${cluster}-control-plane`,
  policy: process.env.SIGGUARD_KIND_POLICY ?? HOOK_DEFAULTS.policy,
  log: process.env.SIGGUARD_KIND_LOG ?? HOOK_DEFAULTS.log,
  deadline: Number(process.env.SIGGUARD_KIND_DEADLINE ?? HOOK_DEFAULTS.deadlineSeconds),
  cache: process.env.SIGGUARD_KIND_CACHE ?? CACHE_DEFAULTS.dir,
};
const MANIFESTS = join(ROOT, 'e2e/manifests');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[], input?: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}
const kubectl = (args: string[], input?: string) => sh('kubectl', ['--context', `kind-${cluster}`, ...args], input);
const onNode = (args: string[], input?: string) => sh('docker', ['exec', ...(input !== undefined ? ['-i'] : []), env.node, ...args], input);

async function decisionFor(pod: string, namespace: string): Promise<Decision | undefined> {
  const text = await onNode(['cat', env.log]);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Decision)
    .filter((d) => d.pod === pod && d.namespace === namespace)
    .at(-1);
}

let podSeq = 0;
const created: Array<{ name: string; namespace: string }> = [];

/** Applies the pod template for `req`, waits until the container ran, runs, or was refused. */
async function runPod(req: PodRequest): Promise<PodResult> {
  const name = `${req.name}-${Date.now().toString(36)}-${++podSeq}`;
  const namespace = req.namespace ?? 'default';
  const pod = parseYaml(readFileSync(join(MANIFESTS, 'cases/pod.yaml'), 'utf8'));
  pod.metadata.name = name;
  pod.metadata.namespace = namespace;
  pod.spec.nodeName = env.node;
  const c = pod.spec.containers[0];
  c.image = req.image;
  c.imagePullPolicy = req.pullPolicy ?? 'IfNotPresent';
  if (req.longRunning) c.command = ['/bin/sleep', '300'];
  await kubectl(['apply', '-f', '-'], stringifyYaml(pod));
  created.push({ name, namespace });
  return waitPod(name, namespace, req.longRunning === true);
}

async function waitPod(name: string, namespace: string, longRunning: boolean, timeoutMs = 90_000): Promise<PodResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = JSON.parse(await kubectl(['get', 'pod', '-n', namespace, name, '-o', 'json']));
    const st = p.status?.containerStatuses?.[0]?.state ?? {};
    const result: PodResult = { name, namespace, ran: false };
    const finish = async (r: PodResult): Promise<PodResult> => {
      // the hook logs before it exits, so the line is there once the runtime reported the outcome
      const d = await decisionFor(name, namespace);
      if (d) r.decision = d;
      return r;
    };
    if (st.running && longRunning) return finish({ ...result, ran: true });
    if (st.terminated?.reason === 'Completed' || (st.terminated && st.terminated.exitCode === 0)) {
      return finish({ ...result, ran: true, output: await kubectl(['logs', '-n', namespace, name]) });
    }
    const message: string = st.terminated?.message ?? st.waiting?.message ?? '';
    if (
      message.includes('sigguard:') ||
      st.terminated?.reason === 'StartError' ||
      ['RunContainerError', 'CreateContainerError'].includes(st.waiting?.reason)
    ) {
      const events = await kubectl([
        'get',
        'events',
        '-n',
        namespace,
        '--field-selector',
        `involvedObject.name=${name}`,
        '-o',
        'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
      ]);
      const fromHook = [message, ...events.split('\n')].find((m) => m.includes('sigguard: denied'));
      return finish({ ...result, error: fromHook ?? (message || events.trim()) });
    }
    if (st.terminated) return finish({ ...result, error: `exited ${st.terminated.exitCode} (${st.terminated.reason}): ${message}` });
    if (['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName'].includes(st.waiting?.reason)) {
      return finish({ ...result, error: `${st.waiting.reason}: ${st.waiting.message}` });
    }
    if (Date.now() > deadline) throw new Error(`pod ${namespace}/${name} still ${JSON.stringify(st)} after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

async function waitRegistry(up: boolean): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const ok = await fetch(`http://${env.registry}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok === up) return;
    await sleep(500);
  }
  throw new Error(`registry ${env.registry} did not come ${up ? 'up' : 'down'}`);
}

/**
 * The verdict cache's clock on the node, moved as test/support/cache-clock.ts moves it locally:
 * every cached verdict's verifiedAt `ms` earlier, written back root-owned 0600 by rename.
 */
async function ageNodeCache(ms: number): Promise<void> {
  const names = (await onNode(['ls', '-1', env.cache])).split('\n').filter((f) => /^[0-9a-f]{64}\.json$/.test(f));
  if (names.length === 0) throw new Error(`no cached verdict in ${env.cache} on ${env.node} to age`);
  for (const name of names) {
    const file = `${env.cache}/${name}`;
    const e = JSON.parse(await onNode(['cat', file])) as { verifiedAt: number };
    e.verifiedAt -= ms;
    await onNode(['sh', '-c', `umask 077 && cat > '${file}.e2e' && mv '${file}.e2e' '${file}'`], JSON.stringify(e));
  }
}

/** Is the node's policy kept by sigguard's agent (make install-kind: the DaemonSet), a link into its ..data? */
async function agentManaged(): Promise<boolean> {
  const link = await onNode(['readlink', env.policy]).catch(() => '');
  return link.trim() === '..data/policy.yaml';
}

let savedConfigMapPolicy: string | undefined;
/**
 * The DaemonSet's node: the mode changed in the ConfigMap sigguard-policy, as an operator would (a
 * file written on the node would be put back by the agent within seconds), then waited for until the
 * agent has it in force on the node (kubelet's ConfigMap update delay: about a minute at most).
 */
async function setModeThroughConfigMap(mode: 'warn' | 'enforce'): Promise<void> {
  if (mode === 'enforce' && savedConfigMapPolicy === undefined) return;
  const cm = JSON.parse(await kubectl(['-n', 'sigguard-system', 'get', 'configmap', 'sigguard-policy', '-o', 'json']));
  let text: string;
  if (mode === 'warn') {
    savedConfigMapPolicy ??= cm.data['policy.yaml'] as string;
    const doc = parseYaml(savedConfigMapPolicy);
    doc.mode = 'warn';
    text = stringifyYaml(doc);
  } else {
    text = savedConfigMapPolicy as string;
    savedConfigMapPolicy = undefined;
  }
  await patchPolicy(kubectl, text);
  const deadline = Date.now() + 150_000;
  while ((await onNode(['cat', env.policy])) !== text) {
    if (Date.now() > deadline) throw new Error(`the agent did not put the ${mode} policy in force on ${env.node} within 150 s`);
    await sleep(1000);
  }
}

/** e2e/manifests/*.yaml as they are (make sign-images made their images): annotation e2e.sigguard.dev/expect = "allow|deny CODE". */
function manifestCases(): E2eCase[] {
  return readdirSync(MANIFESTS)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file): E2eCase[] => {
      const text = readFileSync(join(MANIFESTS, file), 'utf8');
      const doc = parseYaml(text);
      const [decision, code] = String(doc?.metadata?.annotations?.['e2e.sigguard.dev/expect'] ?? '').split(' ');
      if (doc?.kind !== 'Pod' || (decision !== 'allow' && decision !== 'deny') || !code) return [];
      return [
        {
          id: `manifest:${file.replace(/\.yaml$/, '')}`,
          expect: decision === 'allow' ? 'runs' : 'refused',
          code,
          title: `e2e/manifests/${file} as it is`,
          async run() {
            const name: string = doc.metadata.name;
            const namespace: string = doc.metadata.namespace ?? 'default';
            await kubectl(['delete', 'pod', '-n', namespace, name, '--ignore-not-found', '--wait=true']);
            await kubectl(['apply', '-f', '-'], text);
            created.push({ name, namespace });
            const r = await waitPod(name, namespace, doc.spec?.restartPolicy !== 'Never');
            const d = decision === 'allow' ? expectRan(r, code) : expectRefused(r, code);
            return `${decision === 'allow' ? 'ran' : 'refused'} [${d.code}] ${d.reason}`;
          },
        },
      ];
    });
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const cleanup = new Cleanup();
  let passed = 0;
  let failed = 0;
  const report = (ok: boolean, id: string, detail: string) => {
    if (cleanup.interrupted) return;
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? 'PASS' : 'FAIL'} kind ${id} — ${detail.replace(/\s+/g, ' ').trim()}`);
  };
  cleanup.onSignals((sig) => console.log(`\n${sig}: deleting the e2e pods`));
  cleanup.add('delete the e2e pods', async () => {
    for (const { name, namespace } of created.splice(0))
      await kubectl(['delete', 'pod', '-n', namespace, name, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  });
  try {
    if (!cluster) throw new Error('KIND_CLUSTER is not set');
    if (!env.key || !existsSync(env.key))
      throw new Error(`no cosign key at ${env.key} (make sign-images makes .keys/cosign.key; or set SIGGUARD_KIND_KEY)`);
    await kubectl(['get', 'node', env.node]);
    await onNode(['test', '-f', env.policy]).catch(() => {
      throw new Error(`no ${env.policy} on the Kind node ${env.node} (docker exec): is sigguard installed there?`);
    });
    await fetch(`http://${env.registry}/v2/`).catch(() => {
      throw new Error(`the registry ${env.registry} does not answer on this machine (SIGGUARD_KIND_REGISTRY)`);
    });
    cleanup.tempRoot('/tmp/sigguard-e2e-kind-');
    const cosign = await Cosign.create();
    const other = await cosign.keyPair('other');
    const push = new Pusher(env.registry);
    const sign = async (images: Array<{ image: string; with: SignWith }>) => {
      for (const { image, with: w } of images) await signImage(cosign, { trusted: env.key, other: other.key }, image, w);
    };
    const digests = await prepareImages(push, env.registry, { sign });
    let savedPolicy: string | undefined;
    const c: Cluster = {
      label: 'kind',
      hookDeadlineSeconds: env.deadline,
      digests,
      image: (repo, tag = 'v1') => `${env.registry}/${repo}:${tag}`,
      moveTag: (repo, from, to) => moveTag(push, repo, from, to),
      async pushSigned(repo, tag, marker) {
        const { digest } = await push.image(repo, tag, marker);
        await sign([{ image: `${env.registry}/${repo}@${digest}`, with: 'trusted' }]);
        return digest;
      },
      async pull(image) {
        await onNode(['crictl', 'pull', image]);
      },
      runPod,
      async isRunning(pod) {
        const out = await kubectl([
          'get',
          'pod',
          '-n',
          pod.namespace,
          pod.name,
          '-o',
          'jsonpath={.status.containerStatuses[0].state.running.startedAt}',
        ]);
        return out.trim() !== '';
      },
      async setMode(mode) {
        if (await agentManaged()) return setModeThroughConfigMap(mode);
        if (mode === 'warn') {
          savedPolicy ??= await onNode(['cat', env.policy]);
          const doc = parseYaml(savedPolicy);
          doc.mode = 'warn';
          await onNode(['sh', '-c', `cat > '${env.policy}.e2e' && mv '${env.policy}.e2e' '${env.policy}'`], stringifyYaml(doc));
        } else if (savedPolicy !== undefined) {
          await onNode(['sh', '-c', `cat > '${env.policy}.e2e' && mv '${env.policy}.e2e' '${env.policy}'`], savedPolicy);
          savedPolicy = undefined;
        }
      },
      async registryDown() {
        await sh('docker', ['stop', env.registryContainer]);
        await waitRegistry(false);
      },
      async registryUp() {
        await sh('docker', ['start', env.registryContainer]);
        await waitRegistry(true);
      },
      // paused, the registry container still takes connections (the kernel completes the
      // handshake) but answers nothing: slower than any `ms`, until it is unpaused
      async registrySlow() {
        await sh('docker', ['pause', env.registryContainer]);
      },
      async registryFast() {
        await sh('docker', ['unpause', env.registryContainer]).catch((err: Error) => {
          if (!/is not paused/.test(err.message)) throw err;
        });
      },
      async ageCache(ms) {
        await ageNodeCache(ms);
      },
      async restartRuntime() {
        await onNode(['systemctl', 'restart', 'containerd']);
        for (let i = 0; ; i++) {
          const ok = await onNode(['crictl', 'info']).then(
            () => true,
            () => false,
          );
          if (ok) break;
          if (i > 60) throw new Error('containerd did not come back on the Kind node');
          await sleep(500);
        }
      },
    };
    cleanup.add('restore the node policy', () => c.setMode('enforce'));
    cleanup.add('unpause the registry', () => c.registryFast());
    for (const k of [...manifestCases(), ...CASES]) {
      if (cleanup.interrupted) break;
      try {
        report(true, k.id, await k.run(c));
      } catch (err) {
        report(false, k.id, (err as Error).message);
      }
    }
    // the agent cases where make install-kind deployed the DaemonSet (they stop and restore its agent;
    // install.sh's nodes run `sigguard verifier` as a systemd service instead)
    if (!cleanup.interrupted && (await agentManaged())) {
      const n = await kindAgentNode({
        kubectl,
        onNode,
        runPod: c.runPod,
        image: c.image,
        node: env.node,
        registry: env.registry,
        log: env.log,
      });
      cleanup.add('the DaemonSet back after the uninstall case', () => n.restore());
      for (const k of AGENT_CASES) {
        if (cleanup.interrupted) break;
        try {
          report(true, k.id, await k.run(n));
        } catch (err) {
          report(false, k.id, (err as Error).message);
        }
      }
    }
  } catch (err) {
    report(false, 'setup', (err as Error).message);
  } finally {
    for (const e of await cleanup.run()) report(false, 'cleanup', e);
  }
  if (cleanup.interrupted) return signalExitCode(cleanup.interrupted);
  console.log(`# total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

main().then(
  (code) => {
    if (code < 130) process.exit(code);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
