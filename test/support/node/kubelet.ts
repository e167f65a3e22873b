/**
 * Plays kubelet against a node's CRI socket: the calls kubelet makes to start
 * a one-container pod, with the arguments kubelet passes (host network, log
 * directory, cgroup parent, the image as `{image: <image id>,
 * user_specified_image: <pod spec string>}`), so the runtime — and an OCI hook
 * inside it — sees what it would see on a real node. The CRI calls go through
 * @grpc/grpc-js and CRI's own api.proto (cri-peer.ts), not sigguard's client.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ContainerConfig, type ContainerStatus, CriCallError, CriPeer, NOT_FOUND, type PodSandboxConfig } from './cri-peer.js';

export interface KubeletNode {
  socket: string;
  /** Where pod log directories go. */
  podLogDir: string;
  /** cgroupfs parent for pods (kubelet: /kubepods/...). */
  cgroupParent: string;
}

export interface PodSpec {
  /** The image as a pod spec names it. */
  image: string;
  namespace?: string;
  name: string;
  container?: string;
  command?: string[];
  args?: string[];
  /** kubelet's imagePullPolicy (default IfNotPresent: ImageStatus first, pull when absent). */
  pullPolicy?: 'Always' | 'IfNotPresent';
  /** The pod's runtime handler (a RuntimeClass's `handler`; default `runc`). */
  runtimeHandler?: string;
  /** A DaemonSet's node agent: the host's PID namespace, privileged, host paths mounted. */
  hostPID?: boolean;
  privileged?: boolean;
  mounts?: Array<{ containerPath: string; hostPath: string; readonly?: boolean }>;
}

export type Stage = 'pull' | 'sandbox' | 'create' | 'start';

export interface PodRun {
  ok: boolean;
  /** Where it failed. */
  stage?: Stage;
  /** The gRPC error message of the failed call (an OCI hook's refusal shows up here). */
  error?: string;
  /** The gRPC status name of the failed call. */
  code?: string;
  podId?: string;
  containerId?: string;
  /** What PullImage (or ImageStatus) returned: containerd's image id. */
  imageRef?: string;
  /** StartContainer's duration (ms), also when it failed. */
  startMs?: number;
  /** CreateContainer's duration (ms). */
  createMs?: number;
  /** The container's log file (CRI format). */
  logFile: string;
  sandboxConfig: PodSandboxConfig;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Kubelet {
  readonly cri: CriPeer;
  private readonly pods: PodRun[] = [];

  constructor(
    readonly node: KubeletNode,
    opts: { timeoutMs?: number } = {},
  ) {
    this.cri = new CriPeer(node.socket, opts.timeoutMs ?? 30_000);
  }

  /** Ensures the image (kubelet's EnsureImageExists); returns the image ref kubelet would put in the ImageSpec. */
  async ensureImage(image: string, policy: 'Always' | 'IfNotPresent', sandboxConfig?: PodSandboxConfig): Promise<string> {
    if (policy === 'IfNotPresent') {
      const st = await this.cri.imageStatus({ image });
      if (st.image) return st.image.id;
    }
    return this.cri.pullImage({ image, userSpecifiedImage: image }, sandboxConfig);
  }

  /** PullImage → RunPodSandbox → CreateContainer → StartContainer, the way kubelet calls them. */
  async runPod(spec: PodSpec): Promise<PodRun> {
    const namespace = spec.namespace ?? 'default';
    const container = spec.container ?? 'app';
    const uid = randomUUID();
    const logDirectory = join(this.node.podLogDir, `${namespace}_${spec.name}_${uid}`);
    const labels = { 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.uid': uid };
    const hostNetwork = { network: 'NODE', pid: spec.hostPID ? 'NODE' : 'CONTAINER', ipc: 'POD' } as const;
    const privileged = spec.privileged ? { privileged: true } : {};
    const sandboxConfig: PodSandboxConfig = {
      metadata: { name: spec.name, uid, namespace, attempt: 0 },
      // no hostname: a host-network pod shares the node's UTS namespace (runc refuses one otherwise)
      logDirectory,
      labels,
      annotations: { 'kubernetes.io/config.source': 'api', 'kubernetes.io/config.seen': new Date().toISOString() },
      linux: {
        cgroupParent: `${this.node.cgroupParent}/pod${uid}`,
        securityContext: { namespaceOptions: hostNetwork, ...privileged },
      },
    };
    const run: PodRun = { ok: false, logFile: join(logDirectory, container, '0.log'), sandboxConfig };
    this.pods.push(run);
    const fail = (stage: Stage, err: unknown): PodRun => {
      run.stage = stage;
      if (err instanceof CriCallError) {
        run.error = err.grpcMessage;
        run.code = err.codeName;
      } else {
        run.error = (err as Error).message;
      }
      return run;
    };

    try {
      run.imageRef = await this.ensureImage(spec.image, spec.pullPolicy ?? 'IfNotPresent', sandboxConfig);
    } catch (err) {
      return fail('pull', err);
    }
    try {
      run.podId = await this.cri.runPodSandbox(sandboxConfig, spec.runtimeHandler ?? 'runc');
    } catch (err) {
      return fail('sandbox', err);
    }
    const config: ContainerConfig = {
      metadata: { name: container, attempt: 0 },
      image: { image: run.imageRef, userSpecifiedImage: spec.image },
      ...(spec.command ? { command: spec.command } : {}),
      ...(spec.args ? { args: spec.args } : {}),
      envs: [{ key: 'KUBERNETES_SERVICE_HOST', value: Buffer.from('127.0.0.1') }],
      labels: { ...labels, 'io.kubernetes.container.name': container },
      annotations: {
        'io.kubernetes.container.hash': '0',
        'io.kubernetes.container.restartCount': '0',
        'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
        'io.kubernetes.container.terminationMessagePolicy': 'File',
        'io.kubernetes.pod.terminationGracePeriod': '30',
      },
      logPath: `${container}/0.log`,
      ...(spec.mounts ? { mounts: spec.mounts } : {}),
      linux: { securityContext: { namespaceOptions: hostNetwork, ...privileged } },
    };
    try {
      const t0 = performance.now();
      run.containerId = await this.cri.createContainer(run.podId, config, sandboxConfig);
      run.createMs = Math.round(performance.now() - t0);
    } catch (err) {
      return fail('create', err);
    }
    const t0 = performance.now();
    try {
      await this.cri.startContainer(run.containerId);
      run.startMs = Math.round(performance.now() - t0);
    } catch (err) {
      run.startMs = Math.round(performance.now() - t0);
      return fail('start', err);
    }
    run.ok = true;
    return run;
  }

  /** Polls ContainerStatus until the container has exited (or `timeoutMs`). */
  async waitExit(containerId: string, timeoutMs = 10_000): Promise<ContainerStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { status } = await this.cri.containerStatus(containerId);
      if (!status) throw new Error(`container ${containerId}: no status`);
      if (status.state === 'CONTAINER_EXITED') return status;
      if (Date.now() > deadline) throw new Error(`container ${containerId} still ${status.state} after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** The container's output: the CRI log lines (`<time> <stream> <F|P> <text>`) joined back into text. */
  logs(run: PodRun): string {
    if (!existsSync(run.logFile)) return '';
    let out = '';
    for (const line of readFileSync(run.logFile, 'utf8').split('\n')) {
      const m = /^\S+ (?:stdout|stderr) ([FP]) (.*)$/.exec(line);
      if (!m) continue;
      out += m[2] + (m[1] === 'F' ? '\n' : '');
    }
    return out;
  }

  /** Stops and removes every container and sandbox this kubelet made (idempotent, NOT_FOUND is fine). */
  async cleanup(): Promise<string[]> {
    const errors: string[] = [];
    const tolerate = async (what: string, f: () => Promise<void>) => {
      try {
        await f();
      } catch (err) {
        if (err instanceof CriCallError && err.code === NOT_FOUND) return;
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    for (const run of this.pods.splice(0)) {
      const { containerId, podId } = run;
      if (containerId) {
        // a shim that went away while containerd still tracks the task ("ttrpc: closed") fails one
        // StopContainer on a loaded node; kubelet stops again, and so does this
        await tolerate(`stop ${containerId}`, async () => {
          for (let attempt = 1; ; attempt++) {
            try {
              return await this.cri.stopContainer(containerId, 0);
            } catch (err) {
              if (attempt >= 5 || (err instanceof CriCallError && err.code === NOT_FOUND)) throw err;
              await new Promise((r) => setTimeout(r, 250));
            }
          }
        });
        // on a loaded node containerd may not have processed the task's exit yet when StopContainer
        // returns ("container is still running, to stop first"): stop and remove again, as kubelet retries
        await tolerate(`remove ${containerId}`, async () => {
          for (let attempt = 1; ; attempt++) {
            try {
              return await this.cri.removeContainer(containerId);
            } catch (err) {
              if (attempt >= 20 || !/still running/.test((err as Error).message)) throw err;
              await new Promise((r) => setTimeout(r, 250));
              await this.cri.stopContainer(containerId, 0).catch(() => undefined);
            }
          }
        });
      }
      if (podId) {
        await tolerate(`stop pod ${podId}`, () => this.cri.stopPodSandbox(podId));
        await tolerate(`remove pod ${podId}`, () => this.cri.removePodSandbox(podId));
      }
    }
    return errors;
  }

  close(): void {
    this.cri.close();
  }
}
