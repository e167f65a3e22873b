/**
 * sigstoreAttested through the hook on a containerd node (1.7 and 2.1, driven over CRI as
 * kubelet drives it, sigguard in the base runtime spec): an image with SLSA provenance that
 * passes the condition runs (cosign 2's `.att` and cosign 3's bundle), one whose provenance
 * fails it and one with a signature but no attestation are refused at StartContainer, with
 * sigguard's reason in the error the pod reports.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../src/hook/decision-log.js';
import { sigguard } from '../support/cli.js';
import { type ContainerdNode, RUNC, containerdBins, launch, nodeMounts, prepareNode, stopNode } from '../support/node/containerd-node.js';
import { Kubelet } from '../support/node/kubelet.js';
import { COSIGN2, COSIGN3, ROOT, SIGGUARD, requireTools } from '../support/paths.js';
import { type World, makeWorld } from '../support/world.js';

const VERSIONS = ['1.7', '2.1'] as const;
const PROV = 'https://slsa.dev/provenance/v1';
const CONDITION = 'predicate.runDetails.builder.id.startsWith("https://github.com/acme/")';

let w: World;
const refs: Record<string, string> = {};

beforeAll(async () => {
  requireTools(SIGGUARD, COSIGN2, COSIGN3, RUNC, ...VERSIONS.flatMap((v) => [containerdBins(v).containerd, containerdBins(v).shim]));
  w = await makeWorld();
  const predicate = (builder: string) => {
    const file = join(w.cosign.dir, `prov-${builder.replace(/\W/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify({ buildDefinition: { buildType: 'https://example.com/build/v1' }, runDetails: { builder: { id: builder } } }),
    );
    return file;
  };
  const good = predicate('https://github.com/acme/builder');
  const evil = predicate('https://github.com/evil/builder');
  const image = async (repo: string) => {
    refs[repo] = `${w.registry.host}/${repo}@${(await w.push.image(repo, 'v1', repo)).digest}`;
    return refs[repo]!;
  };
  await w.cosign.attest2(w.trusted.key, await image('prov-legacy'), 'slsaprovenance1', good);
  await w.cosign.attest3(w.trusted.key, await image('prov-bundle'), 'slsaprovenance1', good);
  await w.cosign.attest2(w.trusted.key, await image('prov-evil'), 'slsaprovenance1', evil);
  refs.signed = w.ref('signed');
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

describe.each(VERSIONS)('containerd %s node with sigguard requiring provenance', (version) => {
  let node: ContainerdNode;
  let kubelet: Kubelet;
  let dir: string;
  let log: string;
  let n = 0;

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/sga-'); // short: the socket path must fit a sockaddr_un
    node = await prepareNode({ version, registryHost: w.registry.host, aliasHost: `localhost:${w.registry.port}`, dir });
    const sg = join(dir, 'sigguard');
    log = join(sg, 'decisions.log');
    const config = join(dir, 'sigguard-config.yaml');
    writeFileSync(
      config,
      `registry:\n  certsDir: ${node.certsDir}\nnode:\n  containerdSocket: ${node.socket}\ncache:\n  dir: ${join(sg, 'cache')}\n`,
    );
    const policy = w.policy(
      `att-node-${version}.yaml`,
      `version: 1
default: reject
exemptNamespaces: [kube-system]
scopes:
  "${w.registry.host}":
    - type: sigstoreAttested
      predicateType: ${PROV}
      keyPath: ${w.trusted.pub}
      condition: '${CONDITION}'
`,
    );
    const args = ['install-hook', '--base-spec', node.baseSpec, '--path', join(ROOT, 'bin/sigguard'), '--'];
    const inst = await sigguard([...args, '--policy', policy, '--log', log, '--config', config]);
    expect(inst.code, inst.stderr).toBe(0);
    await launch(node);
    kubelet = new Kubelet(node);
  }, 90_000);

  afterAll(async () => {
    if (!node) return;
    if (kubelet) await kubelet.cleanup();
    kubelet?.close();
    await stopNode(node);
    if (nodeMounts(node).length === 0 && !process.env.SIGGUARD_KEEP_NODE) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const pod = (image: string) => kubelet.runPod({ image, name: `att-${++n}`, namespace: 'default' });
  const lastDecision = (): DecisionRecord => JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);

  it.each(['prov-legacy', 'prov-bundle'])('%s: provenance from the trusted builder, by the trusted key: runs', async (repo) => {
    const r = await pod(refs[repo]!);
    expect(r.ok, `${r.stage}: ${r.error}`).toBe(true);
    const st = await kubelet.waitExit(r.containerId!, 10_000);
    expect(st.exitCode).toBe(0);
    expect(kubelet.logs(r)).toBe(`${repo}\n`);
    expect(lastDecision()).toMatchObject({ decision: 'allow', code: 'ALLOWED', digest: refs[repo]!.split('@')[1] });
  });

  it('provenance from another builder: refused at StartContainer with ATTESTATION_REJECTED in the error', async () => {
    const r = await pod(refs['prov-evil']!);
    expect(r.ok).toBe(false);
    expect(r.stage).toBe('start');
    expect(r.error).toContain(`sigguard: denied ${refs['prov-evil']}`);
    expect(r.error).toContain('evaluated to false [ATTESTATION_REJECTED]');
    expect(lastDecision()).toMatchObject({ decision: 'deny', enforced: true, code: 'ATTESTATION_REJECTED' });
  });

  it('signed but without provenance: refused with NO_ATTESTATION', async () => {
    const r = await pod(refs.signed!);
    expect(r.ok).toBe(false);
    expect(r.error).toContain(`no legacy or bundle attestation of ${PROV} found [NO_ATTESTATION]`);
    expect(lastDecision()).toMatchObject({ decision: 'deny', code: 'NO_ATTESTATION' });
  });

  it('a cached allow serves the next start of the same digest', async () => {
    const r = await pod(refs['prov-bundle']!);
    expect(r.ok, r.error).toBe(true);
    expect(lastDecision()).toMatchObject({ decision: 'allow', cache: 'hit' });
  });
});
