/**
 * A minimal CRI v1 client (runtime.v1.RuntimeService and ImageService) over a
 * unix socket: the calls the hook makes to ask containerd or CRI-O about a
 * container and its image. Built-in modules only; the messages are generated
 * from src/cri/proto/sigguard-cri.proto (src/cri/gen/, `make proto`).
 *
 *   const cri = new CriClient('/run/containerd/containerd.sock', { timeoutMs: 2000 });
 *   const { status } = await cri.containerStatus(id);
 *   cri.close();
 *
 * The calls only a kubelet makes (RunPodSandbox … RemoveImage) are not here: the
 * test node's kubelet (e2e/node/kubelet.ts) uses @grpc/grpc-js with CRI's own api.proto.
 */
import { type Init, type MethodInfo, encodeMessage, decodeMessage } from './codec.js';
import {
  type ContainerStatusResponse,
  type Image,
  type ImageSpec,
  ImageService,
  RuntimeService,
  type VersionResponse,
} from './gen/sigguard-cri.js';
import { type CallOptions, CriError, GrpcStatus, type GrpcClientOptions, GrpcUnixClient } from './grpc.js';

export { CriError, GrpcStatus, type CallOptions, type GrpcClientOptions } from './grpc.js';
export type { ContainerStatus, ContainerStatusResponse, Image, ImageSpec, VersionResponse } from './gen/sigguard-cri.js';
export { ContainerState } from './gen/sigguard-cri.js';

export interface ImageStatusResult {
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

  /** One call; a malformed answer becomes a CriError (INTERNAL) too. */
  private async unary<I extends object, O extends object>(method: MethodInfo<I, O>, request: Init<I>, opts?: CallOptions): Promise<O> {
    const body = await this.grpc.call(method.path, encodeMessage(method.input, request), opts);
    try {
      return decodeMessage(method.output, body);
    } catch (err) {
      throw new CriError(GrpcStatus.INTERNAL, `malformed response: ${(err as Error).message}`, method.path.slice(method.path.lastIndexOf('/') + 1));
    }
  }

  /** Closes the connection. */
  close(): void {
    this.grpc.close();
  }

  async version(opts?: CallOptions): Promise<VersionResponse> {
    return this.unary(RuntimeService.Version, { version: 'v1' }, opts);
  }

  async containerStatus(containerId: string, verbose = false, opts?: CallOptions): Promise<ContainerStatusResponse> {
    return this.unary(RuntimeService.ContainerStatus, { containerId, verbose }, opts);
  }

  async imageStatus(image: Init<ImageSpec>, verbose = false, opts?: CallOptions): Promise<ImageStatusResult> {
    const res = await this.unary(ImageService.ImageStatus, { image, verbose }, opts);
    // a runtime without the image answers with no image, or (containerd) an empty one
    return { image: res.image && res.image.id !== '' ? res.image : undefined, info: res.info };
  }
}
