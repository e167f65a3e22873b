/**
 * A Kind-like containerd node (1.7 and 2.1, CRI plugin, runc shim) driven
 * over its CRI socket the way kubelet drives it, with sigguard installed into
 * the base runtime spec by `sigguard install-hook`. Pods name the registry
 * `localhost:<alias>` (Kind's localhost:5001); the alias port is held by the
 * test, relaying to the registry only while images are signed under that name,
 * else dropping (and counting) connections: the node and sigguard reach the
 * registry through certs.d/<alias>/hosts.toml.
 *
 * Also records, with a look-only probe hook, what a createRuntime hook can
 * learn inside StartContainer: the runtime's annotations and ContainerStatus.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
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
  writeBaseSpec,
} from '../support/node/containerd-node.js';
import { type PodRun, Kubelet } from '../support/node/kubelet.js';
import { probeHook } from '../support/node/probe-hook.js';
import { sigguard } from '../support/cli.js';
import { type HeldPort, holdPort } from '../support/ports.js';
import { ROOT, SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld } from '../support/world.js';

const VERSIONS = ['1.7', '2.1'] as const;

let w: World;
let alias: string;
/** The alias port, held for the whole file (no other process can take it between the signing steps). */
let aliasPort: HeldPort;

beforeAll(async () => {
  requireTools(SIGGUARD, RUNC, ...VERSIONS.flatMap((v) => [containerdBins(v).containerd, containerdBins(v).ctr, containerdBins(v).shim]));
  w = await makeWorld();
  // As a Kind user does on the workstation, where localhost:5001 IS the registry:
  // sign under the alias name (the port is forwarded only for this).
  aliasPort = await holdPort();
  alias = `localhost:${aliasPort.port}`;
  aliasPort.open({ host: '127.0.0.1', port: w.registry.port });
  try {
    await w.cosign.sign2(w.trusted.key, `${alias}/signed@${w.digests.signed}`);
  } finally {
    aliasPort.shut();
  }
}, 120_000);

afterAll(async () => {
  await aliasPort?.close();
  await w?.stop();
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

function decisions(log: string): DecisionRecord[] {
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l): DecisionRecord => JSON.parse(l));
}

describe.each(VERSIONS)('containerd %s node', (version) => {
  let node: ContainerdNode;
  let kubelet: Kubelet;
  let dir: string;
  let n = 0;
  const timings: { plain: number[]; sigguard: number[] } = { plain: [], sigguard: [] };

  const pod = (image: string): Promise<PodRun> => kubelet.runPod({ image, name: `pod-${++n}`, namespace: 'default' });

  /** Runs a pod that prints /marker; checks it ran and printed `marker`. */
  const runs = async (image: string, marker: string): Promise<PodRun> => {
    const r = await pod(image);
    expect(r.ok, `${image}: ${r.stage}: ${r.error}`).toBe(true);
    const st = await kubelet.waitExit(r.containerId!, 10_000);
    expect(st.exitCode).toBe(0);
    expect(kubelet.logs(r)).toBe(`${marker}\n`);
    return r;
  };

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/sgn-'); // short: the socket path must fit a sockaddr_un
    node = await prepareNode({ version, registryHost: w.registry.host, aliasHost: alias, dir });
    await launch(node);
    kubelet = new Kubelet(node);
  }, 60_000);

  afterAll(async () => {
    if (!node) return;
    const errors = kubelet ? await kubelet.cleanup() : [];
    kubelet?.close();
    const forced = await stopNode(node);
    const mounts = execFileSync('mount')
      .toString()
      .split('\n')
      .filter((l) => l.includes(node.dir));
    const left = nodeProcesses(node);
    console.log(
      `containerd ${version}: StartContainer median ${median(timings.plain)} ms without sigguard (${timings.plain.join(', ')}), ` +
        `${median(timings.sigguard)} ms with sigguard (${timings.sigguard.join(', ')}); ` +
        `cleanup errors ${JSON.stringify(errors)}, forced ${JSON.stringify(forced)}`,
    );
    expect(mounts).toEqual([]);
    expect(left).toEqual([]);
    // SIGGUARD_KEEP_NODE=1 keeps the folder (containerd.log, decisions.log, probe/out) for a look
    if (nodeMounts(node).length === 0 && !process.env.SIGGUARD_KEEP_NODE) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('without sigguard: pods start from the alias name (hosts.toml) and from the real host', async () => {
    const droppedBefore = aliasPort.dropped;
    const v = await kubelet.cri.version();
    expect(v).toMatchObject({ runtimeName: 'containerd', runtimeApiVersion: 'v1' });
    expect(v.runtimeVersion.startsWith(version)).toBe(true);
    for (const image of [
      `${alias}/signed:v1`,
      `${w.registry.host}/signed:v1`,
      `${alias}/unsigned:v1`,
      `${alias}/signed@${w.digests.signed}`,
    ]) {
      const r = await runs(image, image.includes('unsigned') ? 'unsigned' : 'signed');
      timings.plain.push(r.startMs!);
    }
    for (let i = 0; i < 2; i++) timings.plain.push((await runs(`${alias}/signed@${w.digests.signed}`, 'signed')).startMs!);
    const img = await kubelet.cri.imageStatus({ image: `${alias}/signed:v1` });
    expect(img.image?.repoTags).toContain(`${alias}/signed:v1`);
    expect(img.image?.repoDigests).toContain(`${alias}/signed@${w.digests.signed}`);
    expect((await kubelet.cri.listImages()).map((i) => i.id)).toContain(img.image!.id);
    // and nobody came to the alias port, which answered nothing (each connection dropped): containerd went through hosts.toml
    expect(aliasPort.dropped).toBe(droppedBefore);
  });

  it('a createRuntime hook sees the runtime annotations and can ask ContainerStatus inside StartContainer', async () => {
    const probe = await probeHook(node);
    writeBaseSpec(node, { createRuntime: [probe.hook] });
    await restartNode(node);
    const cases = {
      tag: `${alias}/signed:v1`,
      digest: `${alias}/signed@${w.digests.signed}`,
      // pulled by digest only: the image has no tag on the node
      digestOnly: `${alias}/signed-bundle@${w.digests['signed-bundle']}`,
    };
    const seen: Record<string, unknown> = {};
    for (const [name, image] of Object.entries(cases)) {
      const r = await runs(image, image.includes('bundle') ? 'signed-bundle' : 'signed');
      const rec = JSON.parse(readFileSync(join(probe.outDir, `${r.containerId}.json`), 'utf8'));
      expect(rec.error).toBeUndefined();
      expect(rec.containerStatus.id).toBe(r.containerId);
      expect(rec.containerStatus.state).toBe('CONTAINER_CREATED');
      expect(rec.annotations['io.kubernetes.cri.container-type']).toBe('container');
      seen[name] = {
        podSpec: image,
        'io.kubernetes.cri.image-name': rec.annotations['io.kubernetes.cri.image-name'],
        'status.image.image': rec.containerStatus.image?.image,
        'status.image.userSpecifiedImage': rec.containerStatus.image?.userSpecifiedImage,
        'status.imageRef': rec.containerStatus.imageRef,
        'status.imageId': rec.containerStatus.imageId,
        'info.config.image': rec.info?.info?.config?.image,
        containerStatusMs: rec.containerStatusMs,
      };
    }
    console.log(`containerd ${version}: what the hook sees\n${JSON.stringify(seen, null, 2)}`);
    // containerd applies base_runtime_spec to app containers only: the pause containers never ran the hook
    expect(readdirSync(probe.outDir).length).toBe(Object.keys(cases).length);
    writeBaseSpec(node);
    await restartNode(node);
  });

  it('with sigguard in the base spec: a signed digest starts, an unsigned one is refused at StartContainer, a tag is pinned by the node', async () => {
    const sg = join(dir, 'sigguard');
    const log = join(sg, 'decisions.log');
    const config = join(dir, 'sigguard-config.yaml');
    writeFileSync(
      config,
      `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  dir: ${join(sg, 'cache')}\n`,
    );
    const policyText = `version: 1
default: reject
exemptNamespaces: [kube-system]
scopes:
  "${alias}":
    - type: sigstoreSigned
      keyPath: ${w.trusted.pub}
      signedIdentity: {type: matchRepository}
  "${w.registry.host}":
    - type: sigstoreSigned
      keyPath: ${w.trusted.pub}
      signedIdentity: {type: matchRepository}
`;
    const policy = w.policy(`node-${version}.yaml`, policyText);
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
      log,
      '--config',
      config,
    ]);
    expect(inst.code, inst.stderr).toBe(0);
    const spec = JSON.parse(readFileSync(node.baseSpec, 'utf8'));
    expect(spec.hooks.createRuntime[0].path).toBe(join(ROOT, 'bin/sigguard'));
    expect(spec.hooks.createContainer).toEqual([{ path: node.kindHook }]);
    await restartNode(node);
    // a fresh image store, as on a node that never ran these images: containerd 1.7
    // names an image by whichever of its references comes first (see the next cases)
    expect(await kubelet.cleanup()).toEqual([]);
    for (const img of await kubelet.cri.listImages()) {
      if (!img.repoTags.includes(node.sandboxImage)) await kubelet.cri.removeImage({ image: img.id });
    }

    // signed, by digest, through the alias: allowed (a few times, for the timing)
    const digestRef = `${alias}/signed@${w.digests.signed}`;
    for (let i = 0; i < 5; i++) {
      const r = await runs(digestRef, 'signed');
      timings.sigguard.push(r.startMs!);
    }
    const allowed = decisions(log);
    expect(allowed.some((d) => d.code === 'SANDBOX_CONTAINER')).toBe(false); // pause containers never reach the hook
    expect(allowed.at(-1)).toMatchObject({
      decision: 'allow',
      code: 'ALLOWED',
      image: digestRef,
      digest: w.digests.signed,
      runtime: 'containerd',
      namespace: 'default',
    });
    console.log(`containerd ${version}: decision for a digest: ${JSON.stringify(allowed.at(-1))}`);

    // unsigned, by digest: refused, and the refusal is in StartContainer's error
    const unsignedRef = `${alias}/unsigned@${w.digests.unsigned}`;
    const denied = await pod(unsignedRef);
    expect(denied.ok).toBe(false);
    expect(denied.stage).toBe('start');
    expect(denied.error).toContain('sigguard: denied');
    expect(denied.error).toContain(`sigguard: denied ${unsignedRef}: no legacy or bundle signature found [NO_SIGNATURE]`);
    console.log(`containerd ${version}: StartContainer error for unsigned: [${denied.code}] ${denied.error}`);
    const st = await kubelet.cri.containerStatus(denied.containerId!);
    console.log(
      `containerd ${version}: the refused container: ${st.status?.state} exit ${st.status?.exitCode} reason "${st.status?.reason}"`,
    );

    // a bare tag (tagResolution: never): the hook takes the digest from the node (CRI ContainerStatus)
    const tagRef = `${alias}/signed:v1`;
    const tag = await pod(tagRef);
    const tagDecision = decisions(log).at(-1);
    console.log(`containerd ${version}: decision for a tag: ${JSON.stringify(tagDecision)}`);
    expect(tag.ok, tag.error).toBe(true);
    expect(tagDecision).toMatchObject({ decision: 'allow', code: 'ALLOWED', image: tagRef, digest: w.digests.signed });

    // the same digest pod again, now that the image also has a tag on the node: 1.7's
    // annotation now names the image's first tag, but sigguard judges the pod spec's name
    // (ContainerStatus verbose info: user_specified_image), on both versions
    const again = await runs(digestRef, 'signed');
    const againDecision = decisions(log).at(-1);
    console.log(`containerd ${version}: digest pod after a tag pull: decision=${JSON.stringify(againDecision)}`);
    expect(againDecision).toMatchObject({ decision: 'allow', digest: w.digests.signed, image: digestRef });
    expect(again.ok).toBe(true);

    // the same content also pulled under the registry's real name: 1.7's annotation then names
    // the image by its first repo tag in sort order — another registry, another policy scope
    // than the pod asked for. sigguard still judges the pod's own name and scope.
    await kubelet.ensureImage(`${w.registry.host}/signed:v1`, 'Always');
    await runs(digestRef, 'signed');
    const other = decisions(log).at(-1);
    console.log(`containerd ${version}: digest pod, image also under ${w.registry.host}: decision=${JSON.stringify(other)}`);
    expect(other).toMatchObject({ decision: 'allow', image: digestRef, scope: alias });
    console.log(
      `containerd ${version}: decision codes in order: ${decisions(log)
        .map((d) => d.code)
        .join(' ')}`,
    );
  });

  it('multi-arch: sigguard verifies the entry containerd runs, and refuses when the node runs another', async () => {
    const log = join(dir, 'sigguard', 'decisions.log');
    // E unsigned and M signed, both linux/amd64 images; A an arm64 one (never run here)
    const [E, M, A] = [
      await w.push.image('ma', 'e', 'E unsigned', 'amd64'),
      await w.push.image('ma', 'm', 'M signed', 'amd64'),
      await w.push.image('ma', 'a', 'A arm64', 'arm64'),
    ];
    const linux = (architecture: string, more: Record<string, unknown> = {}) => ({ os: 'linux', architecture, ...more });
    const index = async (tag: string, entries: Array<[typeof E, Record<string, unknown> | undefined]>) =>
      (
        await w.push.indexWith(
          'ma',
          tag,
          entries.map(([pushed, platform]) => ({ pushed, platform })),
          { 'org.example.case': tag },
        )
      ).digest;
    const attacks = {
      // containerd normalises x86_64 and keeps index order between equals: it runs E
      x86_64: await index('x86_64', [
        [E, linux('x86_64')],
        [M, linux('amd64')],
      ]),
      case: await index('case', [
        [E, { os: 'Linux', architecture: 'AMD64' }],
        [M, linux('amd64')],
      ]),
      variant: await index('variant', [
        [E, linux('amd64', { variant: 'v1' })],
        [M, linux('arm64')],
      ]),
      noPlatform: await index('no-platform', [
        [E, undefined],
        [M, linux('arm64')],
      ]),
      // containerd 1.7/2.1 ignore os.features (2.3 does not): they run E, sigguard's matcher picks M
      osFeatures: await index('os-features', [
        [E, linux('amd64', { 'os.features': ['x'] })],
        [M, linux('amd64')],
      ]),
    };
    const good = {
      platformSigned: await index('platform-signed', [
        [M, linux('amd64')],
        [A, linux('arm64')],
      ]),
      indexSigned: await index('index-signed', [
        [E, linux('amd64')],
        [A, linux('arm64')],
      ]),
    };
    aliasPort.open({ host: '127.0.0.1', port: w.registry.port });
    try {
      await w.cosign.sign2(w.trusted.key, `${alias}/ma@${M.digest}`);
      await w.cosign.sign2(w.trusted.key, `${alias}/ma@${good.indexSigned}`);
    } finally {
      aliasPort.shut();
    }
    const configOf = async (p: typeof E) => (await w.push.getManifest('ma', p.digest)).json.config.digest as string;
    const [cfgE, cfgM] = [await configOf(E), await configOf(M)];

    // The invariant: unsigned E never runs. Where containerd runs E, the start is refused; where it
    // runs M (containerd ≥ 2.3's os.features rule, or Debian's newer platforms package) M is allowed
    // because it is what was verified; a pull containerd itself refuses never starts anything.
    const mustDeny = new Set(['x86_64', 'case', 'variant']);
    for (const [name, digest] of Object.entries(attacks)) {
      const ref = `${alias}/ma@${digest}`;
      const r = await pod(ref);
      const d = decisions(log).at(-1);
      const runsId = r.stage === 'pull' ? undefined : (await kubelet.cri.imageStatus({ image: ref })).image?.id;
      const on = runsId === cfgE ? 'E' : runsId === cfgM ? 'M' : runsId;
      console.log(
        `containerd ${version}: multi-arch ${name}: node has ${on ?? '(not pulled)'}; ${r.ok ? 'started' : `refused at ${r.stage}`}; last decision [${d?.code}] ${d?.reason}; ${r.error ?? ''}`,
      );
      if (r.stage === 'pull') {
        expect(name).toBe('noPlatform'); // containerd 1.7 cannot pull an index whose only match has no platform
        continue;
      }
      expect(d?.image).toBe(ref);
      if (runsId === cfgE || mustDeny.has(name)) {
        expect(runsId, name).toBe(cfgE);
        expect(r.ok, `${name}: ${r.error}`).toBe(false);
        expect(r.stage).toBe('start');
        expect(d).toMatchObject({ decision: 'deny' });
        expect(['NODE_IMAGE_MISMATCH', 'NO_SIGNATURE']).toContain(d?.code);
      } else {
        expect(runsId, name).toBe(cfgM);
        expect(r.ok, `${name}: ${r.error}`).toBe(true);
        expect(d).toMatchObject({ decision: 'allow', code: 'ALLOWED' });
      }
    }
    for (const [name, digest] of Object.entries(good)) {
      const ref = `${alias}/ma@${digest}`;
      await runs(ref, name === 'platformSigned' ? 'M signed' : 'E unsigned');
      expect(decisions(log).at(-1), name).toMatchObject({ decision: 'allow', code: 'ALLOWED', image: ref });
    }
    // the allowed platform-signed index again: a cache hit, bound to the node's image id as well
    await runs(`${alias}/ma@${good.platformSigned}`, 'M signed');
    expect(decisions(log).at(-1)).toMatchObject({ decision: 'allow', cache: 'hit' });
    expect((await kubelet.cri.imageStatus({ image: `${alias}/ma@${good.platformSigned}` })).image?.id).toBe(cfgM);
  });
});
