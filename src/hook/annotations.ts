/**
 * What the runtimes tell a hook about a Kubernetes container, through
 * annotations: containerd's CRI plugin (`io.kubernetes.cri.*`) and CRI-O
 * (`io.kubernetes.cri-o.*`).
 *
 * - containerd 2.x puts the pod spec's raw string in `image-name` (`nginx`),
 *   containerd 1.7 one of the image's names (a tag or a digest reference).
 * - CRI-O: `Image` is what kubelet passed (often an image id), `ImageName` one
 *   name of the image, `ImageRef` CRI-O's storage id (not a manifest digest).
 */
export const Annotation = {
  CRI_CONTAINER_TYPE: 'io.kubernetes.cri.container-type',
  CRI_IMAGE_NAME: 'io.kubernetes.cri.image-name',
  CRI_SANDBOX_NAMESPACE: 'io.kubernetes.cri.sandbox-namespace',
  CRI_SANDBOX_NAME: 'io.kubernetes.cri.sandbox-name',
  CRI_CONTAINER_NAME: 'io.kubernetes.cri.container-name',
  CRI_SANDBOX_ID: 'io.kubernetes.cri.sandbox-id',
  CRIO_CONTAINER_TYPE: 'io.kubernetes.cri-o.ContainerType',
  CRIO_IMAGE: 'io.kubernetes.cri-o.Image',
  CRIO_IMAGE_NAME: 'io.kubernetes.cri-o.ImageName',
  CRIO_IMAGE_REF: 'io.kubernetes.cri-o.ImageRef',
  CRIO_NAMESPACE: 'io.kubernetes.cri-o.Namespace',
  CRIO_POD_NAME: 'io.kubernetes.pod.name',
  CRIO_CONTAINER_NAME: 'io.kubernetes.container.name',
  K8S_POD_NAMESPACE: 'io.kubernetes.pod.namespace',
  K8S_POD_NAME: 'io.kubernetes.pod.name',
  K8S_CONTAINER_NAME: 'io.kubernetes.container.name',
} as const;

export interface ContainerContext {
  runtime: 'containerd' | 'cri-o' | 'none';
  /** True for a pod sandbox (pause) container. */
  sandbox: boolean;
  namespace: string | undefined;
  pod: string | undefined;
  container: string | undefined;
  /** The image as the annotations name it (not yet parsed). */
  image: string | undefined;
  /** CRI-O: what kubelet passed (an image id or a name). */
  imageId: string | undefined;
}

export function readContext(a: Record<string, string>): ContainerContext {
  if (a[Annotation.CRI_CONTAINER_TYPE] !== undefined) {
    return {
      runtime: 'containerd',
      sandbox: a[Annotation.CRI_CONTAINER_TYPE] === 'sandbox',
      namespace: a[Annotation.CRI_SANDBOX_NAMESPACE],
      pod: a[Annotation.CRI_SANDBOX_NAME],
      container: a[Annotation.CRI_CONTAINER_NAME],
      image: a[Annotation.CRI_IMAGE_NAME],
      imageId: undefined,
    };
  }
  if (a[Annotation.CRIO_CONTAINER_TYPE] !== undefined) {
    return {
      runtime: 'cri-o',
      sandbox: a[Annotation.CRIO_CONTAINER_TYPE] === 'sandbox',
      namespace: a[Annotation.CRIO_NAMESPACE] ?? a[Annotation.K8S_POD_NAMESPACE],
      pod: a[Annotation.K8S_POD_NAME],
      container: a[Annotation.K8S_CONTAINER_NAME],
      image: a[Annotation.CRIO_IMAGE_NAME],
      imageId: a[Annotation.CRIO_IMAGE],
    };
  }
  return {
    runtime: 'none',
    sandbox: false,
    namespace: undefined,
    pod: undefined,
    container: undefined,
    image: undefined,
    imageId: undefined,
  };
}
