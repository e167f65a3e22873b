/**
 * The CRI v1 messages sigguard and its test node use, with the field numbers
 * of k8s.io/cri-api pkg/apis/runtime/v1/api.proto. Only the fields we read or
 * write are here; everything else is skipped when decoding.
 */
import { type ProtoMessage, ProtoWriter } from './protobuf.js';

/** NamespaceMode */
export const NamespaceMode = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;
export type NamespaceModeName = keyof typeof NamespaceMode;

/** ContainerState */
const CONTAINER_STATES = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

const NS_TO_MS = 1_000_000n;

// ------------------------------------------------------------------ shared

/** ImageSpec { image = 1; annotations = 2; user_specified_image = 18; runtime_handler = 19 } */
export interface ImageSpec {
  /** An image id, a digest reference or a name. */
  image: string;
  annotations?: Record<string, string>;
  /** What the pod spec said (kubelet passes it on CreateContainer). */
  userSpecifiedImage?: string;
  runtimeHandler?: string;
}

export function writeImageSpec(w: ProtoWriter, s: ImageSpec): void {
  w.string(1, s.image).map(2, s.annotations).string(18, s.userSpecifiedImage).string(19, s.runtimeHandler);
}

export function readImageSpec(m: ProtoMessage): ImageSpec {
  const spec: ImageSpec = { image: m.string(1) };
  const annotations = m.map(2);
  if (Object.keys(annotations).length > 0) spec.annotations = annotations;
  if (m.string(18)) spec.userSpecifiedImage = m.string(18);
  if (m.string(19)) spec.runtimeHandler = m.string(19);
  return spec;
}

/** NamespaceOption { network = 1; pid = 2; ipc = 3; target_id = 4 } */
export interface NamespaceOption {
  network?: NamespaceModeName;
  pid?: NamespaceModeName;
  ipc?: NamespaceModeName;
  targetId?: string;
}

function writeNamespaceOption(w: ProtoWriter, o: NamespaceOption): void {
  const mode = (m: NamespaceModeName | undefined) => (m === undefined ? undefined : NamespaceMode[m]);
  w.int(1, mode(o.network)).int(2, mode(o.pid)).int(3, mode(o.ipc)).string(4, o.targetId);
}

// ------------------------------------------------------------------ Version

/** VersionResponse { version = 1; runtime_name = 2; runtime_version = 3; runtime_api_version = 4 } */
export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export function readVersionResponse(m: ProtoMessage): VersionResponse {
  return { version: m.string(1), runtimeName: m.string(2), runtimeVersion: m.string(3), runtimeApiVersion: m.string(4) };
}

// ------------------------------------------------------------------ pod sandbox

/** PodSandboxMetadata { name = 1; uid = 2; namespace = 3; attempt = 4 } */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

/**
 * PodSandboxConfig { metadata = 1; hostname = 2; log_directory = 3; labels = 6;
 * annotations = 7; linux = 8 }, LinuxPodSandboxConfig { cgroup_parent = 1;
 * security_context = 2 }, LinuxSandboxSecurityContext { namespace_options = 1;
 * privileged = 6 }
 */
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    securityContext?: { namespaceOptions?: NamespaceOption; privileged?: boolean };
  };
}

export function writePodSandboxConfig(w: ProtoWriter, c: PodSandboxConfig): void {
  w.message(1, (m) => m.string(1, c.metadata.name).string(2, c.metadata.uid).string(3, c.metadata.namespace).int(4, c.metadata.attempt));
  w.string(2, c.hostname).string(3, c.logDirectory).map(6, c.labels).map(7, c.annotations);
  const linux = c.linux;
  if (linux) {
    w.message(8, (l) => {
      l.string(1, linux.cgroupParent);
      const sc = linux.securityContext;
      if (sc) {
        l.message(2, (s) => {
          if (sc.namespaceOptions) s.message(1, (n) => writeNamespaceOption(n, sc.namespaceOptions!));
          s.bool(6, sc.privileged);
        });
      }
    });
  }
}

// ------------------------------------------------------------------ containers

/**
 * ContainerConfig { metadata = 1 {name = 1; attempt = 2}; image = 2; command = 3;
 * args = 4; working_dir = 5; envs = 6 {key = 1; value = 2}; labels = 9;
 * annotations = 10; log_path = 11; linux = 15 }, LinuxContainerConfig
 * { security_context = 2 }, LinuxContainerSecurityContext { privileged = 2;
 * namespace_options = 3; readonly_rootfs = 7 }
 */
export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: ImageSpec;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: Array<{ key: string; value: string }>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Relative to the sandbox's log directory. */
  logPath?: string;
  linux?: {
    securityContext?: { privileged?: boolean; namespaceOptions?: NamespaceOption; readonlyRootfs?: boolean };
  };
}

export function writeContainerConfig(w: ProtoWriter, c: ContainerConfig): void {
  w.message(1, (m) => m.string(1, c.metadata.name).int(2, c.metadata.attempt));
  w.message(2, (m) => writeImageSpec(m, c.image));
  w.strings(3, c.command).strings(4, c.args).string(5, c.workingDir);
  w.messages(6, c.envs, (m, kv) => m.string(1, kv.key).string(2, kv.value));
  w.map(9, c.labels).map(10, c.annotations).string(11, c.logPath);
  const sc = c.linux?.securityContext;
  if (c.linux) {
    w.message(15, (l) => {
      if (sc) {
        l.message(2, (s) => {
          s.bool(2, sc.privileged);
          if (sc.namespaceOptions) s.message(3, (n) => writeNamespaceOption(n, sc.namespaceOptions!));
          s.bool(7, sc.readonlyRootfs);
        });
      }
    });
  }
}

/**
 * ContainerStatus { id = 1; metadata = 2; state = 3; created_at = 4; started_at = 5;
 * finished_at = 6; exit_code = 7; image = 8; image_ref = 9; reason = 10;
 * message = 11; labels = 12; annotations = 13; log_path = 15; image_id = 17 }
 */
export interface ContainerStatus {
  id: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  /** ms since the epoch (the CRI sends ns); 0 when not set. */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  /** The image as the runtime records it (containerd: a name, or the id). */
  image: ImageSpec | undefined;
  /** "Digested reference to the image in use." */
  imageRef: string;
  /** The image's id on the node (newer runtimes). */
  imageId: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
}

const nsToMs = (ns: bigint): number => Number(ns / NS_TO_MS);

export function readContainerStatus(m: ProtoMessage): ContainerStatus {
  const meta = m.message(2);
  const image = m.message(8);
  const state = m.int32(3);
  return {
    id: m.string(1),
    metadata: { name: meta?.string(1) ?? '', attempt: meta?.uint32(2) ?? 0 },
    state: CONTAINER_STATES[state] ?? 'CONTAINER_UNKNOWN',
    createdAt: nsToMs(m.int64(4)),
    startedAt: nsToMs(m.int64(5)),
    finishedAt: nsToMs(m.int64(6)),
    exitCode: m.int32(7),
    image: image ? readImageSpec(image) : undefined,
    imageRef: m.string(9),
    imageId: m.string(17),
    reason: m.string(10),
    message: m.string(11),
    labels: m.map(12),
    annotations: m.map(13),
    logPath: m.string(15),
  };
}

/** ContainerStatusResponse { status = 1; info = 2 } */
export interface ContainerStatusResponse {
  status: ContainerStatus | undefined;
  /** Verbose only: runtime-specific JSON strings (containerd: "info"). */
  info: Record<string, string>;
}

export function readContainerStatusResponse(m: ProtoMessage): ContainerStatusResponse {
  const s = m.message(1);
  return { status: s ? readContainerStatus(s) : undefined, info: m.map(2) };
}

// ------------------------------------------------------------------ images

/** Image { id = 1; repo_tags = 2; repo_digests = 3; size = 4; username = 6; spec = 7; pinned = 8 } */
export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  username: string;
  spec: ImageSpec | undefined;
  pinned: boolean;
}

export function readImage(m: ProtoMessage): Image {
  const spec = m.message(7);
  return {
    id: m.string(1),
    repoTags: m.strings(2),
    repoDigests: m.strings(3),
    size: Number(m.uint64(4)),
    username: m.string(6),
    spec: spec ? readImageSpec(spec) : undefined,
    pinned: m.bool(8),
  };
}

/** AuthConfig { username = 1; password = 2; auth = 3; server_address = 4; identity_token = 5; registry_token = 6 } */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

export function writeAuthConfig(w: ProtoWriter, a: AuthConfig): void {
  w.string(1, a.username).string(2, a.password).string(3, a.auth).string(4, a.serverAddress).string(5, a.identityToken).string(6, a.registryToken);
}

/** Encodes one message with a builder. */
export function encode(build: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter();
  build(w);
  return w.finish();
}
