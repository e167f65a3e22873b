/**
 * The test side's CRI: @grpc/grpc-js and @grpc/proto-loader over CRI's own api.proto (Kubernetes
 * 1.36, from Debian's golang-k8s-cri-api-dev; build/tools.sh puts it at .tools/cri-api/api.proto).
 * Nothing of sigguard's CRI code (src/cri, src/h2) is used here, so a bug in sigguard's codec or
 * transport cannot cancel out between the hook and the node playing kubelet.
 *
 * Messages are plain objects as proto-loader gives them: lowerCamelCase field names, enums as
 * their names, 64-bit integers as numbers, every field present (defaults filled in; an absent
 * message is null).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TOOLS } from '../paths.js';

/** CRI's api.proto as Debian ships it (build/tools.sh). */
export const CRI_API_PROTO = join(TOOLS, 'cri-api/api.proto');

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

interface RuntimeV1 {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

const loaded = new Map<string, RuntimeV1>();

/** The runtime.v1 package loaded from CRI's api.proto (once per process and file). */
export function criPackage(protoPath = CRI_API_PROTO): RuntimeV1 {
  const done = loaded.get(protoPath);
  if (done) return done;
  if (!existsSync(protoPath)) {
    throw new Error(`CRI api.proto missing at ${protoPath}: run \`make tools\` (build/tools.sh fetches golang-k8s-cri-api-dev)`);
  }
  const root = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, LOADER_OPTIONS)) as unknown as { runtime: { v1: RuntimeV1 } };
  loaded.set(protoPath, root.runtime.v1);
  return root.runtime.v1;
}

/** A failed call: the gRPC status and the server's message as sent. */
export class CriCallError extends Error {
  override name = 'CriCallError';
  readonly codeName: string;
  constructor(
    readonly code: number,
    readonly grpcMessage: string,
    readonly method: string,
  ) {
    const codeName = grpc.status[code] ?? `CODE_${code}`;
    super(`${method}: ${grpcMessage} [${codeName}]`);
    this.codeName = codeName;
  }
}

export const NOT_FOUND = grpc.status.NOT_FOUND;

export interface ImageSpec {
  image: string;
  annotations?: Record<string, string>;
  userSpecifiedImage?: string;
  runtimeHandler?: string;
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  spec: ImageSpec | null;
  pinned: boolean;
}

export interface ContainerStatus {
  id: string;
  metadata: { name: string; attempt: number } | null;
  state: 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  image: ImageSpec | null;
  imageRef: string;
  imageId: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
}

type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string; securityContext?: { namespaceOptions?: NamespaceOption; privileged?: boolean } };
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: ImageSpec;
  command?: string[];
  args?: string[];
  workingDir?: string;
  /** KeyValue.value is bytes in Kubernetes 1.36's api.proto (older ones said string: the same on the wire). */
  envs?: Array<{ key: string; value: Uint8Array }>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  mounts?: Array<{ containerPath: string; hostPath: string; readonly?: boolean }>;
  linux?: { securityContext?: { privileged?: boolean; namespaceOptions?: NamespaceOption; readonlyRootfs?: boolean } };
}

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** A kubelet's CRI client (RuntimeService and ImageService) on a unix socket. */
export class CriPeer {
  private readonly runtime: grpc.Client;
  private readonly images: grpc.Client;

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
    protoPath = CRI_API_PROTO,
  ) {
    const pkg = criPackage(protoPath);
    const creds = grpc.credentials.createInsecure();
    // a connection of its own (no process-wide subchannel pool): a node restarted on the same
    // socket path, or a socket not serving yet, does not leave this client in another's back-off
    this.runtime = new pkg.RuntimeService(`unix://${socketPath}`, creds, { 'grpc.use_local_subchannel_pool': 1 });
    this.images = new pkg.ImageService(`unix://${socketPath}`, creds, { channelOverride: this.runtime.getChannel() });
  }

  private call<T>(client: grpc.Client, method: string, req: object): Promise<T> {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (typeof fn !== 'function') throw new Error(`no CRI method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(new CriCallError(err.code, err.details, method[0]!.toUpperCase() + method.slice(1)));
        else resolve(res as T);
      });
    });
  }

  async version(): Promise<{ version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call(this.runtime, 'version', { version: 'v1' });
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string): Promise<string> {
    return (await this.call<{ podSandboxId: string }>(this.runtime, 'runPodSandbox', { config, runtimeHandler })).podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call(this.runtime, 'stopPodSandbox', { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call(this.runtime, 'removePodSandbox', { podSandboxId });
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ containerId: string }>(this.runtime, 'createContainer', { podSandboxId, config, sandboxConfig })).containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call(this.runtime, 'startContainer', { containerId });
  }

  async stopContainer(containerId: string, timeout = 0): Promise<void> {
    await this.call(this.runtime, 'stopContainer', { containerId, timeout });
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.call(this.runtime, 'removeContainer', { containerId });
  }

  async containerStatus(
    containerId: string,
    verbose = false,
  ): Promise<{ status: ContainerStatus | undefined; info: Record<string, string> }> {
    const res = await this.call<{ status: ContainerStatus | null; info: Record<string, string> }>(this.runtime, 'containerStatus', {
      containerId,
      verbose,
    });
    return { status: res.status ?? undefined, info: res.info };
  }

  /** PullImage; containerd answers with the image id. */
  async pullImage(image: ImageSpec, sandboxConfig?: PodSandboxConfig): Promise<string> {
    return (await this.call<{ imageRef: string }>(this.images, 'pullImage', { image, ...(sandboxConfig ? { sandboxConfig } : {}) }))
      .imageRef;
  }

  /** ImageStatus; no image (or containerd's empty one) is undefined. */
  async imageStatus(image: ImageSpec, verbose = false): Promise<{ image: Image | undefined; info: Record<string, string> }> {
    const res = await this.call<{ image: Image | null; info: Record<string, string> }>(this.images, 'imageStatus', { image, verbose });
    return { image: res.image?.id ? res.image : undefined, info: res.info };
  }

  async listImages(filter?: ImageSpec): Promise<Image[]> {
    return (await this.call<{ images: Image[] }>(this.images, 'listImages', filter ? { filter: { image: filter } } : {})).images;
  }

  async removeImage(image: ImageSpec): Promise<void> {
    await this.call(this.images, 'removeImage', { image });
  }

  close(): void {
    this.images.close();
    this.runtime.close();
  }
}
