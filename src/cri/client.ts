/**
 * A minimal CRI v1 client (runtime.v1.RuntimeService and ImageService) over a
 * unix socket: what the hook needs to ask containerd about a container, and
 * what the test node needs to play kubelet. Built-in modules only.
 *
 *   const cri = new CriClient('/run/containerd/containerd.sock', { timeoutMs: 2000 });
 *   const { status } = await cri.containerStatus(id);
 *   cri.close();
 */
import { type CallOptions, CriError, GrpcStatus, type GrpcClientOptions, GrpcUnixClient } from './grpc.js';
import {
  type AuthConfig,
  type ContainerConfig,
  type ContainerStatusResponse,
  type Image,
  type ImageSpec,
  type PodSandboxConfig,
  type VersionResponse,
  encode,
  readContainerStatusResponse,
  readImage,
  readVersionResponse,
  writeAuthConfig,
  writeContainerConfig,
  writeImageSpec,
  writePodSandboxConfig,
} from './messages.js';
import { ProtoMessage } from './protobuf.js';

export { CriError, GrpcStatus, type CallOptions, type GrpcClientOptions } from './grpc.js';
export type * from './messages.js';
export { NamespaceMode } from './messages.js';

const RUNTIME = '/runtime.v1.RuntimeService/';
const IMAGE = '/runtime.v1.ImageService/';

export interface ImageStatusResponse {
  /** Undefined when the runtime does not have the image. */
  image: Image | undefined;
  info: Record<string, string>;
}

export class CriClient {
  private readonly grpc: GrpcUnixClient;

  constructor(
    readonly socketPath: string,
    opts: GrpcClientOptions = {},
  ) {
    this.grpc = new GrpcUnixClient(socketPath, opts);
  }

  /**
   * One call, its answer decoded and read by `read`: nested messages decode lazily, so reading
   * is where a malformed answer shows, and it too becomes a CriError (INTERNAL).
   */
  private async unary<T = ProtoMessage>(path: string, request: Buffer, opts?: CallOptions, read: (m: ProtoMessage) => T = (m) => m as T): Promise<T> {
    const body = await this.grpc.call(path, request, opts);
    try {
      return read(ProtoMessage.decode(body));
    } catch (err) {
      throw new CriError(GrpcStatus.INTERNAL, `malformed response: ${(err as Error).message}`, path.slice(path.lastIndexOf('/') + 1));
    }
  }

  /** Closes the connection. */
  close(): void {
    this.grpc.close();
  }

  // ---------------------------------------------------------------- RuntimeService

  async version(opts?: CallOptions): Promise<VersionResponse> {
    // VersionRequest { version = 1 }
    return this.unary(`${RUNTIME}Version`, encode((w) => w.string(1, 'v1')), opts, readVersionResponse);
  }

  /** RunPodSandboxRequest { config = 1; runtime_handler = 2 } → { pod_sandbox_id = 1 } */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string, opts?: CallOptions): Promise<string> {
    const req = encode((w) => w.message(1, (c) => writePodSandboxConfig(c, config)).string(2, runtimeHandler));
    return this.unary(`${RUNTIME}RunPodSandbox`, req, opts, (m) => m.string(1));
  }

  /** StopPodSandboxRequest { pod_sandbox_id = 1 } */
  async stopPodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    await this.unary(`${RUNTIME}StopPodSandbox`, encode((w) => w.string(1, podSandboxId)), opts);
  }

  /** RemovePodSandboxRequest { pod_sandbox_id = 1 } */
  async removePodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    await this.unary(`${RUNTIME}RemovePodSandbox`, encode((w) => w.string(1, podSandboxId)), opts);
  }

  /** CreateContainerRequest { pod_sandbox_id = 1; config = 2; sandbox_config = 3 } → { container_id = 1 } */
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig, opts?: CallOptions): Promise<string> {
    const req = encode((w) =>
      w
        .string(1, podSandboxId)
        .message(2, (c) => writeContainerConfig(c, config))
        .message(3, (c) => writePodSandboxConfig(c, sandboxConfig)),
    );
    return this.unary(`${RUNTIME}CreateContainer`, req, opts, (m) => m.string(1));
  }

  /** StartContainerRequest { container_id = 1 } */
  async startContainer(containerId: string, opts?: CallOptions): Promise<void> {
    await this.unary(`${RUNTIME}StartContainer`, encode((w) => w.string(1, containerId)), opts);
  }

  /** StopContainerRequest { container_id = 1; timeout = 2 (s) } */
  async stopContainer(containerId: string, timeoutSeconds = 0, opts?: CallOptions): Promise<void> {
    await this.unary(`${RUNTIME}StopContainer`, encode((w) => w.string(1, containerId).int(2, timeoutSeconds)), opts);
  }

  /** RemoveContainerRequest { container_id = 1 } */
  async removeContainer(containerId: string, opts?: CallOptions): Promise<void> {
    await this.unary(`${RUNTIME}RemoveContainer`, encode((w) => w.string(1, containerId)), opts);
  }

  /** ContainerStatusRequest { container_id = 1; verbose = 2 } → ContainerStatusResponse */
  async containerStatus(containerId: string, verbose = false, opts?: CallOptions): Promise<ContainerStatusResponse> {
    const req = encode((w) => w.string(1, containerId).bool(2, verbose));
    return this.unary(`${RUNTIME}ContainerStatus`, req, opts, readContainerStatusResponse);
  }

  // ---------------------------------------------------------------- ImageService

  /**
   * PullImageRequest { image = 1; auth = 2; sandbox_config = 3 } → { image_ref = 1 }.
   * containerd answers with the image id (sha256 of the config).
   */
  async pullImage(image: ImageSpec, auth?: AuthConfig, sandboxConfig?: PodSandboxConfig, opts?: CallOptions): Promise<string> {
    const req = encode((w) =>
      w
        .message(1, (m) => writeImageSpec(m, image))
        .message(2, auth && ((m) => writeAuthConfig(m, auth)))
        .message(3, sandboxConfig && ((m) => writePodSandboxConfig(m, sandboxConfig))),
    );
    return this.unary(`${IMAGE}PullImage`, req, opts, (m) => m.string(1));
  }

  /** ImageStatusRequest { image = 1; verbose = 2 } → { image = 1; info = 2 } */
  async imageStatus(image: ImageSpec, verbose = false, opts?: CallOptions): Promise<ImageStatusResponse> {
    const req = encode((w) => w.message(1, (m) => writeImageSpec(m, image)).bool(2, verbose));
    return this.unary(`${IMAGE}ImageStatus`, req, opts, (res) => {
      const img = res.message(1);
      // a runtime without the image answers with no image, or (containerd) an empty one
      return { image: img && img.string(1) !== '' ? readImage(img) : undefined, info: res.map(2) };
    });
  }

  /** ListImagesRequest { filter = 1 { image = 1 } } → { images = 1 } */
  async listImages(filter?: ImageSpec, opts?: CallOptions): Promise<Image[]> {
    const req = encode((w) => w.message(1, filter && ((f) => f.message(1, (m) => writeImageSpec(m, filter)))));
    return this.unary(`${IMAGE}ListImages`, req, opts, (m) => m.messages(1).map(readImage));
  }

  /** RemoveImageRequest { image = 1 } */
  async removeImage(image: ImageSpec, opts?: CallOptions): Promise<void> {
    await this.unary(`${IMAGE}RemoveImage`, encode((w) => w.message(1, (m) => writeImageSpec(m, image))), opts);
  }
}
