/**
 * The hook's decision before any registry work (src/hook/decide.ts) and what it reads from the
 * runtimes' annotations (src/hook/annotations.ts): every branch, with the attack cases — a
 * sandbox or exempt namespace claimed by the wrong runtime's keys, an empty image, annotations of
 * both runtimes.
 */
import { describe, expect, it } from 'vitest';
import { Annotation, type ContainerContext, readContext } from '../../src/hook/annotations.js';
import { triage } from '../../src/hook/decide.js';
import { compilePolicy } from '../../src/policy/compile.js';

const policy = (extra: Record<string, unknown> = {}) =>
  compilePolicy({ version: 1, exemptNamespaces: ['kube-system'], scopes: {}, ...extra }, '/etc/sigguard/policy.yaml');
const IMAGE = 'registry.example/app@sha256:' + '1'.repeat(64);

const containerd = (over: Record<string, string> = {}) => ({
  [Annotation.CRI_CONTAINER_TYPE]: 'container',
  [Annotation.CRI_IMAGE_NAME]: IMAGE,
  [Annotation.CRI_SANDBOX_NAMESPACE]: 'default',
  [Annotation.CRI_SANDBOX_NAME]: 'pod-1',
  [Annotation.CRI_CONTAINER_NAME]: 'app',
  ...over,
});
const crio = (over: Record<string, string> = {}) => ({
  [Annotation.CRIO_CONTAINER_TYPE]: 'container',
  [Annotation.CRIO_IMAGE_NAME]: IMAGE,
  [Annotation.CRIO_IMAGE]: 'sha256:' + 'a'.repeat(64),
  [Annotation.CRIO_NAMESPACE]: 'default',
  [Annotation.K8S_POD_NAME]: 'pod-1',
  [Annotation.K8S_CONTAINER_NAME]: 'app',
  ...over,
});

describe('readContext', () => {
  it('containerd: the io.kubernetes.cri.* keys', () => {
    expect(readContext(containerd())).toEqual<ContainerContext>({
      runtime: 'containerd',
      sandbox: false,
      namespace: 'default',
      pod: 'pod-1',
      container: 'app',
      image: IMAGE,
      imageId: undefined,
    });
    expect(readContext(containerd({ [Annotation.CRI_CONTAINER_TYPE]: 'sandbox' })).sandbox).toBe(true);
  });

  it('CRI-O: ImageName is the image, Image the id kubelet passed; the namespace from CRI-O, else the pod label', () => {
    expect(readContext(crio())).toEqual<ContainerContext>({
      runtime: 'cri-o',
      sandbox: false,
      namespace: 'default',
      pod: 'pod-1',
      container: 'app',
      image: IMAGE,
      imageId: 'sha256:' + 'a'.repeat(64),
    });
    const { [Annotation.CRIO_NAMESPACE]: _, ...noNs } = crio();
    expect(readContext({ ...noNs, [Annotation.K8S_POD_NAMESPACE]: 'team-a' }).namespace).toBe('team-a');
    expect(readContext(crio({ [Annotation.CRIO_CONTAINER_TYPE]: 'sandbox' })).sandbox).toBe(true);
  });

  it('only the exact value "sandbox" makes a sandbox', () => {
    for (const t of ['Sandbox', 'sandbox ', 'podsandbox', '', 'container']) {
      expect(readContext(containerd({ [Annotation.CRI_CONTAINER_TYPE]: t })).sandbox, t).toBe(false);
      expect(readContext(crio({ [Annotation.CRIO_CONTAINER_TYPE]: t })).sandbox, t).toBe(false);
    }
  });

  it("a runtime's keys are read only with that runtime's container type: no mixing", () => {
    // containerd's type key present: CRI-O's keys (a claimed exempt namespace, a sandbox type) are ignored
    const mixed = readContext({
      ...containerd({ [Annotation.CRI_SANDBOX_NAMESPACE]: 'default' }),
      [Annotation.CRIO_CONTAINER_TYPE]: 'sandbox',
      [Annotation.CRIO_NAMESPACE]: 'kube-system',
    });
    expect(mixed).toMatchObject({ runtime: 'containerd', sandbox: false, namespace: 'default' });
    // no containerd type: CRI-O's keys, and containerd's ignored
    const crioOnly = readContext({ ...crio(), [Annotation.CRI_IMAGE_NAME]: 'evil.example/x:v1' });
    expect(crioOnly).toMatchObject({ runtime: 'cri-o', image: IMAGE });
  });

  it('without either type key: not a Kubernetes container, whatever else it says', () => {
    const { [Annotation.CRI_CONTAINER_TYPE]: _, ...rest } = containerd({ [Annotation.CRI_SANDBOX_NAMESPACE]: 'kube-system' });
    expect(readContext(rest)).toEqual<ContainerContext>({
      runtime: 'none',
      sandbox: false,
      namespace: undefined,
      pod: undefined,
      container: undefined,
      image: undefined,
      imageId: undefined,
    });
    expect(readContext({}).runtime).toBe('none');
  });
});

describe('triage', () => {
  it('a Kubernetes container with an image is verified', () => {
    expect(triage(readContext(containerd()), policy())).toEqual({ action: 'verify', image: IMAGE });
    expect(triage(readContext(crio()), policy())).toEqual({ action: 'verify', image: IMAGE });
  });

  it('a sandbox is allowed without verification', () => {
    expect(triage(readContext(containerd({ [Annotation.CRI_CONTAINER_TYPE]: 'sandbox' })), policy())).toMatchObject({
      action: 'allow',
      code: 'SANDBOX_CONTAINER',
    });
  });

  it('an exempt namespace is allowed; a namespace of a similar name is not', () => {
    expect(triage(readContext(containerd({ [Annotation.CRI_SANDBOX_NAMESPACE]: 'kube-system' })), policy())).toMatchObject({
      action: 'allow',
      code: 'EXEMPT_NAMESPACE',
      reason: 'namespace kube-system is exempt',
    });
    for (const ns of ['kube-system-x', 'Kube-System', 'kube', ' kube-system', '']) {
      expect(triage(readContext(containerd({ [Annotation.CRI_SANDBOX_NAMESPACE]: ns })), policy()), ns).toMatchObject({ action: 'verify' });
    }
  });

  it('no namespace annotation is not an exempt one', () => {
    const { [Annotation.CRI_SANDBOX_NAMESPACE]: _, ...noNs } = containerd();
    // (a policy file cannot name "" as a namespace; the compiled policy is given one all the same)
    expect(() => policy({ exemptNamespaces: [''] })).toThrow(/exemptNamespaces\[0\]/);
    expect(triage(readContext(noNs), { ...policy(), exemptNamespaces: ['kube-system', ''] })).toMatchObject({ action: 'verify' });
  });

  it('a Kubernetes container naming no image is refused (MISSING_IMAGE), empty or absent', () => {
    expect(triage(readContext(containerd({ [Annotation.CRI_IMAGE_NAME]: '' })), policy())).toMatchObject({
      action: 'deny',
      code: 'MISSING_IMAGE',
      reason: 'the containerd annotations name no image',
    });
    const { [Annotation.CRIO_IMAGE_NAME]: _, ...noImage } = crio();
    expect(triage(readContext(noImage), policy())).toMatchObject({
      action: 'deny',
      code: 'MISSING_IMAGE',
      reason: 'the cri-o annotations name no image',
    });
  });

  it('a sandbox or an exempt namespace decides before the image is looked at', () => {
    expect(
      triage(readContext(containerd({ [Annotation.CRI_CONTAINER_TYPE]: 'sandbox', [Annotation.CRI_IMAGE_NAME]: '' })), policy()),
    ).toMatchObject({ action: 'allow' });
    expect(
      triage(readContext(crio({ [Annotation.CRIO_NAMESPACE]: 'kube-system', [Annotation.CRIO_IMAGE_NAME]: '' })), policy()),
    ).toMatchObject({ action: 'allow', code: 'EXEMPT_NAMESPACE' });
  });

  it('non-Kubernetes containers: allow, deny, or verify (which has no image: refused)', () => {
    const none = readContext({});
    expect(triage(none, policy({ nonKubernetes: 'allow' }))).toMatchObject({ action: 'allow', code: 'NON_KUBERNETES_ALLOWED' });
    expect(triage(none, policy({ nonKubernetes: 'deny' }))).toMatchObject({ action: 'deny', code: 'NON_KUBERNETES_DENIED' });
    expect(triage(none, policy({ nonKubernetes: 'verify' }))).toMatchObject({ action: 'deny', code: 'MISSING_IMAGE' });
    // the default is not an allow
    expect(triage(none, policy()).action).toBe('deny');
  });

  it('exemptNamespaces do not reach non-Kubernetes containers', () => {
    const none: ContainerContext = { ...readContext({}), namespace: 'kube-system' };
    expect(triage(none, policy({ nonKubernetes: 'deny' }))).toMatchObject({ action: 'deny' });
  });
});
