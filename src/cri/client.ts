/**
 * A minimal CRI v1 client (runtime.v1.RuntimeService and ImageService) over a
 * unix socket: the two calls the hook makes to ask containerd or CRI-O about a
 * container (ContainerStatus) and its image (ImageStatus). Built-in modules only; the messages are generated
 * from src/cri/proto/sigguard-cri.proto (src/cri/gen/, `make proto`).
 *
 *   const cri = new CriClient('/run/containerd/containerd.sock', { signal: deadline.signal });
 *   const { status } = await cri.containerStatus(id);
 *   cri.close();
 *
 * The calls only a kubelet makes (RunPodSandbox … RemoveImage) are not here: the
 * test node's kubelet (test/support/node/kubelet.ts) uses @grpc/grpc-js with CRI's own api.proto.
 */
import { type Init, type MethodInfo, encodeMessage, decodeMessage } from './codec.js';
import { type ContainerImageFacts, decodeContainerImage } from './container-image.js';
import { type ContainerStatusResponse, type Image, type ImageSpec, ImageService, RuntimeService } from './gen/sigguard-cri.js';
import { type CallOptions, CriError, GrpcStatus, type GrpcClientOptions, GrpcUnixClient } from './grpc.js';
import { msLeft } from '../deadline.js';

export { CriError, GrpcStatus, GrpcUnixClient, type CallOptions, type GrpcClientOptions } from './grpc.js';
export type { ContainerStatus, ContainerStatusResponse, Image, ImageSpec } from './gen/sigguard-cri.js';
export type { ContainerImageFacts } from './container-image.js';
export { ContainerState } from './gen/sigguard-cri.js';

export interface ImageStatusResult {
  /** Undefined when the runtime does not have the image. */
  image: Image | undefined;
  info: Record<string, string>;
}

export interface CriClientOptions extends GrpcClientOptions {
  /**
   * The command's deadline (src/deadline.ts): it cancels every call, and what is left of it
   * is each call's grpc-timeout. Without it, calls get the transport's timeoutMs.
   */
  signal?: AbortSignal;
  /**
   * A connection the caller keeps across clients (a long-running process asking on every start):
   * this client's calls use it, and its close() leaves it open.
   */
  transport?: GrpcUnixClient;
}

export class CriClient {
  private readonly grpc: GrpcUnixClient;
  private readonly signal: AbortSignal | undefined;
  private readonly ownsTransport: boolean;

  constructor(
    readonly socketPath: string,
    opts: CriClientOptions = {},
  ) {
    this.grpc = opts.transport ?? new GrpcUnixClient(socketPath, opts);
    this.ownsTransport = opts.transport === undefined;
    this.signal = opts.signal;
  }

  /** A call's options under the client's deadline, unless the call brings its own. */
  private underDeadline(opts: CallOptions | undefined): CallOptions | undefined {
    const signal = this.signal;
    if (signal === undefined) return opts;
    const left = msLeft(signal);
    return { signal, ...(left === undefined ? {} : { timeoutMs: left }), ...opts };
  }

  /** One call; a malformed answer becomes a CriError (INTERNAL) too. */
  private async unary<I extends object, O extends object, R = O>(
    method: MethodInfo<I, O>,
    request: Init<I>,
    opts?: CallOptions,
    decode: (body: Buffer) => R = (body) => decodeMessage(method.output, body) as unknown as R,
  ): Promise<R> {
    // every call here is a lookup (ContainerStatus, ImageStatus): one the runtime's restart cut off goes out again
    const body = await this.grpc.call(method.path, encodeMessage(method.input, request), { lookup: true, ...this.underDeadline(opts) });
    try {
      return decode(body);
    } catch (err) {
      throw new CriError(
        GrpcStatus.INTERNAL,
        `malformed response: ${(err as Error).message}`,
        method.path.slice(method.path.lastIndexOf('/') + 1),
      );
    }
  }

  /** Closes the connection (not a transport the caller keeps). */
  close(): void {
    if (this.ownsTransport) this.grpc.close();
  }

  async containerStatus(containerId: string, verbose = false, opts?: CallOptions): Promise<ContainerStatusResponse> {
    return this.unary(RuntimeService.ContainerStatus, { containerId, verbose }, opts);
  }

  /**
   * ContainerStatus, verbose, read only for what runs: the image fields of the status and
   * containerd's info JSON (src/cri/container-image.ts), what the hook asks on every start.
   */
  async containerImage(containerId: string, opts?: CallOptions): Promise<ContainerImageFacts> {
    return this.unary(RuntimeService.ContainerStatus, { containerId, verbose: true }, opts, decodeContainerImage);
  }

  async imageStatus(image: Init<ImageSpec>, verbose = false, opts?: CallOptions): Promise<ImageStatusResult> {
    const res = await this.unary(ImageService.ImageStatus, { image, verbose }, opts);
    // a runtime without the image answers with no image, or (containerd) an empty one
    return { image: res.image && res.image.id !== '' ? res.image : undefined, info: res.info };
  }
}
