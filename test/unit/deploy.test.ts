/**
 * deploy/: the kustomize base, the Kind overlay and the uninstall manifest, rendered with
 * `kubectl kustomize` and every object validated offline against the Kubernetes schemas
 * (kubernetes-models); then what sigguard itself needs of them: the agent's policy accepted by the
 * agent's own validation (exemption included), the host paths it needs and no others, probes on
 * the agent's endpoints, the metrics port named `metrics`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, ServiceAccount } from 'kubernetes-models/v1';
import { ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateGeneration } from '../../src/agent/config-sync.js';
import { NODE as CRIO_NODE } from '../../src/crio/layout.js';
import { ROOT, TOOLS, requireTools } from '../support/paths.js';

/** Debian's kubectl, fetched by build/tools.sh (never the machine's own). */
const KUBECTL = join(TOOLS, 'bin/kubectl');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

function render(dir: string): K8sObject[] {
  requireTools(KUBECTL);
  const text = execFileSync(KUBECTL, ['kustomize', isAbsolute(dir) ? dir : join(ROOT, dir)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject);
}

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': ValidatingAdmissionPolicy,
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': ValidatingAdmissionPolicyBinding,
};

function validateAll(objects: K8sObject[]): void {
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    expect(Model, `${o.apiVersion} ${o.kind}: no schema here`).toBeDefined();
    expect(() => new (Model as new (o: K8sObject) => { validate(): void })(o).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
  }
}

// the parts of a DaemonSet these checks read
interface Pod {
  hostPID?: boolean;
  priorityClassName?: string;
  tolerations?: Array<{ operator?: string }>;
  containers: Array<{
    args: string[];
    ports?: Array<{ name: string; containerPort: number }>;
    livenessProbe?: { httpGet: { path: string; port: string } };
    readinessProbe?: { httpGet: { path: string; port: string } };
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    volumeMounts: Array<{ name: string; mountPath: string }>;
  }>;
  volumes: Array<{ name: string; hostPath?: { path: string }; configMap?: { name: string; items?: Array<{ key: string; path: string }> } }>;
}
const podOf = (ds: K8sObject) => (ds.spec as { template: { spec: Pod } }).template.spec;
const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name) as K8sObject;

/** The ConfigMap's documents laid out as the agent's volume mount would, validated as the agent does. */
async function agentAccepts(cm: K8sObject, items?: Array<{ key: string; path: string }>): Promise<void> {
  const data = cm.data as Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'sigguard-deploy-'));
  try {
    for (const [key, text] of Object.entries(data)) {
      const path = join(dir, items?.find((i) => i.key === key)?.path ?? key);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }
    // the keys the policy names come from sigguard-keys: a stand-in public key where one is named
    mkdirSync(join(dir, 'keys'), { recursive: true });
    writeFileSync(
      join(dir, 'keys/cosign.pub'),
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }),
    );
    await validateGeneration(dir, '/etc/sigguard', 'sigguard-system');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deploy/: the manifests', () => {
  it('the base renders to valid objects: namespace, ConfigMap sigguard-policy, DaemonSet sigguard as the issue lays out', async () => {
    const objects = render('deploy');
    validateAll(objects);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ClusterRole/sigguard-agent',
      'ClusterRoleBinding/sigguard-agent',
      'ConfigMap/sigguard-policy',
      'DaemonSet/sigguard',
      'Namespace/sigguard-system',
      'ServiceAccount/sigguard',
      'ValidatingAdmissionPolicy/sigguard-agent-node-taint',
      'ValidatingAdmissionPolicyBinding/sigguard-agent-node-taint',
    ]);
    const clusterScoped = [
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ];
    for (const o of objects) expect(o.metadata.namespace, o.kind).toBe(clusterScoped.includes(o.kind) ? undefined : 'sigguard-system');
    const pod = podOf(find(objects, 'DaemonSet', 'sigguard'));
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.hostPID).toBe(true); // the restart mechanism signals the host's containerd
    // the node's network and resolver: the agent decides starts for hooks and must reach registries as they do
    expect((pod as { hostNetwork?: boolean }).hostNetwork).toBe(true);
    expect((pod as { dnsPolicy?: string }).dnsPolicy).toBe('Default');
    const [agent] = pod.containers;
    expect(agent?.args[0]).toBe('agent');
    // systemd restarts containerd (its private socket mounted below); the registration taint comes off once ready,
    // with the service account whose patch the ValidatingAdmissionPolicy narrows (deploy-taint-policy.test.ts)
    expect(agent?.args).toEqual(expect.arrayContaining(['--restart=systemd', '--remove-taint=sigguard.dev/not-ready']));
    // the hooks ask the agent on its socket, under the host path mounted at the same place (lib-sigguard)
    expect(agent?.args).toContain('--hook-socket=/var/lib/sigguard/agent/hook.sock');
    expect((pod as { serviceAccountName?: string }).serviceAccountName).toBe('sigguard');
    expect((agent as { env?: unknown[] }).env).toContainEqual({
      name: 'NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
    expect(find(objects, 'ClusterRole', 'sigguard-agent').rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    ]);
    expect(find(objects, 'ClusterRoleBinding', 'sigguard-agent').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'sigguard', namespace: 'sigguard-system' },
    ]);
    expect(agent?.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    expect(agent?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(agent?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(agent?.resources?.requests).toBeDefined();
    expect(agent?.resources?.limits?.memory).toBeDefined();
    // the host paths it needs and nothing more
    expect(pod.volumes.flatMap((v) => (v.hostPath ? [v.hostPath.path] : [])).sort()).toEqual([
      '/etc/containerd',
      '/etc/sigguard',
      '/opt/sigguard',
      '/run/containerd',
      '/run/systemd/private', // --restart systemd: systemd's own D-Bus socket
      '/var/lib/sigguard', // trust update's kept public-good root (issue 13)
      '/var/log/sigguard',
    ]);
    // each mounted where the agent's defaults look, on the same path as on the host
    for (const v of pod.volumes.filter((x) => x.hostPath)) {
      expect(agent?.volumeMounts.find((m) => m.name === v.name)?.mountPath).toBe(v.hostPath?.path);
    }
    await agentAccepts(find(objects, 'ConfigMap', 'sigguard-policy'));
  });

  it('the Kind overlay: Kind policy and hosts.toml in the ConfigMap, accepted by the agent; the rest is the base', async () => {
    const objects = render('deploy/kind');
    validateAll(objects);
    const cm = find(objects, 'ConfigMap', 'sigguard-policy');
    expect(Object.keys(cm.data as object).sort()).toEqual(['config.yaml', 'hosts.toml', 'policy.yaml']);
    const pod = podOf(find(objects, 'DaemonSet', 'sigguard'));
    const items = pod.volumes.find((v) => v.configMap?.name === 'sigguard-policy')?.configMap?.items;
    expect(items?.find((i) => i.key === 'hosts.toml')?.path).toBe('certs.d/localhost:5001/hosts.toml');
    await agentAccepts(cm, items);
  });

  it('the CRI-O overlay: the agent with --runtime crio, the host paths CRI-O’s files live under and no containerd path; its uninstall likewise', async () => {
    const base = podOf(find(render('deploy'), 'DaemonSet', 'sigguard'));
    const containerdOnly = (a: string) => /^--(containerd-config|containerd|ctr|restart)=/.test(a);
    const crioArgs = ['--crio-config=/etc/crio/crio.conf', '--runtime=crio', '--socket=/var/run/crio/crio.sock', '--restart=signal:SIGHUP'];
    const hostPaths = (pod: Pod) => pod.volumes.flatMap((v) => (v.hostPath ? [v.hostPath.path] : []));
    const crioPaths = ['/etc/crio', '/var/run/crio', '/etc/containers/registries.d', '/usr/share/containers/oci/hooks.d'];
    const check = (pod: Pod, baseArgs: string[], basePaths: string[]) => {
      const [agent] = pod.containers;
      // the base's arguments, containerd's swapped for CRI-O's (a base that moves them fails to render: test ops)
      expect([...(agent?.args ?? [])].sort()).toEqual([...baseArgs.filter((a) => !containerdOnly(a)), ...crioArgs].sort());
      const paths = hostPaths(pod);
      // neither containerd's paths nor systemd's socket (CRI-O is reloaded by a signal)
      const notCrio = (p: string) => p.includes('containerd') || p.startsWith('/run/systemd');
      expect(paths.filter(notCrio)).toEqual([]);
      expect(paths.sort()).toEqual([...basePaths.filter((p) => !notCrio(p)), ...crioPaths].sort());
      for (const v of pod.volumes.filter((x) => x.hostPath)) {
        expect(agent?.volumeMounts.find((m) => m.name === v.name)?.mountPath, v.name).toBe(v.hostPath?.path);
      }
      // every file the agent writes on a CRI-O node (src/crio/layout.ts) lies under a mounted host path
      for (const file of Object.values(CRIO_NODE)) {
        expect(
          paths.some((p) => file.startsWith(`${p}/`)),
          file,
        ).toBe(true);
      }
    };
    const objects = render('deploy/crio');
    validateAll(objects);
    check(podOf(find(objects, 'DaemonSet', 'sigguard')), base.containers[0]?.args ?? [], hostPaths(base));
    await agentAccepts(find(objects, 'ConfigMap', 'sigguard-policy'));

    const baseUninstall = podOf(find(render('deploy/uninstall'), 'DaemonSet', 'sigguard-uninstall'));
    const uninstall = render('deploy/crio/uninstall');
    validateAll(uninstall);
    const pod = podOf(find(uninstall, 'DaemonSet', 'sigguard-uninstall'));
    expect(pod.containers[0]?.args.slice(0, 3)).toEqual(['agent', '--uninstall', '--stay']);
    check(pod, baseUninstall.containers[0]?.args ?? [], hostPaths(baseUninstall));
  });

  it('make install-kind pins the image by digest (build/kind-deploy.mjs): both DaemonSets run docker.io/library/sigguard@sha256:... of the archive', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigguard-kind-deploy-'));
    try {
      const digest = `sha256:${'ab'.repeat(32)}`;
      const archive = (name: string, digests: string[]) => {
        const layout = join(dir, `${name}-layout`);
        mkdirSync(layout);
        const manifests = digests.map((d, i) => ({
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: d,
          size: 1,
          annotations: { 'io.containerd.image.name': i === 0 ? 'docker.io/library/sigguard:0.1.0' : `docker.io/library/sigguard@${d}` },
        }));
        writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
        execFileSync('tar', ['-cf', join(dir, `${name}.tar`), '-C', layout, '.']);
        return join(dir, `${name}.tar`);
      };
      const kindDeploy = (tar: string) =>
        spawnSync(process.execPath, [join(ROOT, 'build/kind-deploy.mjs'), tar, join(dir, 'out')], { encoding: 'utf8' });
      const r = kindDeploy(archive('good', [digest, digest]));
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`docker.io/library/sigguard@${digest}`);
      for (const [sub, ds] of [
        ['install', 'sigguard'],
        ['uninstall', 'sigguard-uninstall'],
      ] as const) {
        const objects = render(join(dir, 'out', sub));
        validateAll(objects);
        const images = podOf(find(objects, 'DaemonSet', ds)).containers.map((c) => (c as { image?: string }).image);
        expect(images).toEqual([`docker.io/library/sigguard@${digest}`]);
      }
      // an archive naming two different images: no guess at which one to pin
      const bad = kindDeploy(archive('two', [digest, `sha256:${'cd'.repeat(32)}`]));
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toContain('expected one image index');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the uninstall manifest runs agent --uninstall on every node, with the same host paths for what it reverses', () => {
    const objects = render('deploy/uninstall');
    validateAll(objects);
    const pod = podOf(find(objects, 'DaemonSet', 'sigguard-uninstall'));
    expect(pod.containers[0]?.args.slice(0, 3)).toEqual(['agent', '--uninstall', '--stay']);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.volumes.flatMap((v) => (v.hostPath ? [v.hostPath.path] : [])).sort()).toEqual([
      '/etc/containerd',
      '/etc/sigguard',
      '/opt/sigguard',
      '/run/containerd',
    ]);
  });
});
