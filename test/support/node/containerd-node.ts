/**
 * A Kind-like containerd node for the tests and the demo: containerd 1.7 or
 * 2.1 from .tools, its CRI plugin configured the way Kind configures it
 * (runc handler through the v2 shim, a base runtime spec with Kind's
 * createContainer hook, `restrict_oom_score_adj`, registry hosts from a
 * certs.d folder), everything — root, state, socket, runc root, logs — under
 * one folder. No CNI: pods use the host network.
 *
 * The Kind local-registry pattern: pods name `localhost:5001/app`
 * (`aliasHost`) while certs.d/localhost:5001/hosts.toml sends containerd to
 * the real registry (`registryHost`, here http://127.0.0.1:<port>).
 *
 *   const node = await startNode({ version: '2.1', registryHost, aliasHost, dir });
 *   ... new Kubelet(node).runPod(...) ...
 *   await stopNode(node);
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CriPeer } from './cri-peer.js';
import { ROOT } from '../paths.js';
import { Pusher } from '../push.js';

export type ContainerdVersion = '1.7' | '2.1';

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface NodeOptions {
  version: ContainerdVersion;
  /** host:port of the registry containerd really talks to (plain HTTP on loopback). */
  registryHost: string;
  /** The registry name pods use (Kind's `localhost:5001`); certs.d maps it to registryHost. */
  aliasHost: string;
  /** Extra OCI hooks for the base runtime spec, by stage (Kind's createContainer hook is always there). */
  baseSpecHooks?: Record<string, OciHook[]>;
  /** The folder for everything; created if missing. Keep it short: the socket path must fit 108 bytes. */
  dir: string;
  /** The sandbox (pause) image; default: pushed here as <registryHost>/sigguard-e2e/pause:3.10 (busybox `sleep 3600`). */
  sandboxImage?: string;
  /** How long to wait for the CRI to answer after a start (default 20 s). */
  startTimeoutMs?: number;
  /**
   * `flat` (default): every file directly in `dir`. `kind`: `dir` is the node's root, laid
   * out as on a Kind node — etc/containerd/{config.toml,cri-base.json,certs.d},
   * run/containerd/containerd.sock — and the config has Kind's second runtime handler
   * `test-handler` (no base spec), so install/install.sh with SIGGUARD_ROOT=dir finds
   * everything where it would on Kind.
   */
  layout?: 'flat' | 'kind';
  /**
   * More runtime handlers, runc again, each with a base runtime spec of its own (name → the spec
   * file, written by the caller before the node starts): the bench starts containers through two
   * hook entries in the same rounds without restarting containerd between them.
   */
  extraHandlers?: Record<string, string>;
}

export interface ContainerdNode {
  version: ContainerdVersion;
  dir: string;
  /** The CRI (and containerd API) socket. */
  socket: string;
  config: string;
  /** The base runtime spec containerd reads at start (Kind: /etc/containerd/cri-base.json). */
  baseSpec: string;
  /** containerd's hosts folder (Kind: /etc/containerd/certs.d). */
  certsDir: string;
  /** containerd's log (stdout and stderr, appended across restarts). */
  log: string;
  /** runc's state root used by the shim (`runc --root <runcRoot>/k8s.io list`). */
  runcRoot: string;
  /** The cgroup parent pods of this node go under (cgroupfs driver). */
  cgroupParent: string;
  /** Where Kubelet puts pod log directories. */
  podLogDir: string;
  sandboxImage: string;
  registryHost: string;
  aliasHost: string;
  /** Kind's createContainer hook stand-in (exits 0). */
  kindHook: string;
  bin: { containerd: string; ctr: string; shim: string };
  process: ChildProcess | undefined;
  /** /run/containerd did not exist before this node (the shims put their sockets in /run/containerd/s). */
  madeRunContainerd: boolean;
  /** See NodeOptions.layout (undefined: flat). */
  layout?: 'flat' | 'kind';
  /** See NodeOptions.extraHandlers. */
  extraHandlers?: Record<string, string>;
}

export const RUNC = '/usr/sbin/runc';

export function containerdBins(version: ContainerdVersion): { dir: string; containerd: string; ctr: string; shim: string } {
  const dir = resolve(ROOT, `.tools/containerd-${version}/bin`);
  return { dir, containerd: join(dir, 'containerd'), ctr: join(dir, 'ctr'), shim: join(dir, 'containerd-shim-runc-v2') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** TOML basic string. */
const q = (s: string) => JSON.stringify(s);

/** The extra handlers (NodeOptions.extraHandlers): runc again, each with its base spec. */
function extraHandlers(runtimes: string, runcRoot: string, handlers: Record<string, string> | undefined): string {
  return Object.entries(handlers ?? {})
    .map(
      ([name, spec]) => `
    [${runtimes}.${q(name)}]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = ${q(spec)}

      [${runtimes}.${q(name)}.options]
        BinaryName = ${q(RUNC)}
        Root = ${q(runcRoot)}
        SystemdCgroup = false
`,
    )
    .join('');
}

/** Kind's `test-handler` (the RuntimeClass tests' handler): runc again, without a base spec. */
function testHandler(runtimes: string, runcRoot: string): string {
  return `
    [${runtimes}.test-handler]
      runtime_type = "io.containerd.runc.v2"

      [${runtimes}.test-handler.options]
        BinaryName = ${q(RUNC)}
        Root = ${q(runcRoot)}
        SystemdCgroup = false
`;
}

/** What both config versions start with: folders, sockets, log level, plugins a test node does without. */
function commonHead(n: ContainerdNode, alsoDisabled: string[]): string {
  const disabled = [
    'io.containerd.internal.v1.opt',
    'io.containerd.internal.v1.tracing',
    'io.containerd.tracing.processor.v1.otlp',
    ...alsoDisabled,
    'io.containerd.snapshotter.v1.btrfs',
    'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.zfs',
    'io.containerd.snapshotter.v1.blockfile',
    'io.containerd.snapshotter.v1.overlayfs',
  ];
  return `root = ${q(join(n.dir, 'root'))}
state = ${q(join(n.dir, 'state'))}
disabled_plugins = [${disabled.map(q).join(', ')}]

[grpc]
  address = ${q(n.socket)}

[ttrpc]
  address = ${q(`${n.socket}.ttrpc`)}

[debug]
  level = "info"
`;
}

function configV2(n: ContainerdNode): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `# containerd 1.7 (config version 2), written by test/support/node/containerd-node.ts
version = 2
${commonHead(n, ['io.containerd.snapshotter.v1.aufs'])}
[${cri}]
  sandbox_image = ${q(n.sandboxImage)}
  restrict_oom_score_adj = true
  enable_cdi = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [${cri}.containerd]
    snapshotter = "native"
    default_runtime_name = "runc"

    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = ${q(n.baseSpec)}

      [${cri}.containerd.runtimes.runc.options]
        BinaryName = ${q(RUNC)}
        Root = ${q(n.runcRoot)}
        SystemdCgroup = false
${n.layout === 'kind' ? testHandler(`${cri}.containerd.runtimes`, n.runcRoot) : ''}${extraHandlers(`${cri}.containerd.runtimes`, n.runcRoot, n.extraHandlers)}
  [${cri}.cni]
    bin_dir = ${q(join(n.dir, 'cni/bin'))}
    conf_dir = ${q(join(n.dir, 'cni/net.d'))}

  [${cri}.registry]
    config_path = ${q(n.certsDir)}

[plugins."io.containerd.nri.v1.nri"]
  disable = true
`;
}

function configV3(n: ContainerdNode): string {
  const rt = "plugins.'io.containerd.cri.v1.runtime'";
  const img = "plugins.'io.containerd.cri.v1.images'";
  return `# containerd 2.x (config version 3), written by test/support/node/containerd-node.ts
version = 3
${commonHead(n, ['io.containerd.snapshotter.v1.erofs'])}
[${rt}]
  restrict_oom_score_adj = true
  enable_cdi = false

  [${rt}.containerd]
    default_runtime_name = "runc"

    [${rt}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = ${q(n.baseSpec)}

      [${rt}.containerd.runtimes.runc.options]
        BinaryName = ${q(RUNC)}
        Root = ${q(n.runcRoot)}
        SystemdCgroup = false
${n.layout === 'kind' ? testHandler(`${rt}.containerd.runtimes`, n.runcRoot) : ''}${extraHandlers(`${rt}.containerd.runtimes`, n.runcRoot, n.extraHandlers)}
  [${rt}.cni]
    bin_dirs = [${q(join(n.dir, 'cni/bin'))}]
    conf_dir = ${q(join(n.dir, 'cni/net.d'))}

[${img}]
  snapshotter = "native"

  [${img}.pinned_images]
    sandbox = ${q(n.sandboxImage)}

  [${img}.registry]
    config_path = ${q(n.certsDir)}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.nri.v1.nri']
  disable = true

# containerd 2.x unpacks pulled layers through the transfer service: without an
# unpack_config for the native snapshotter, images are fetched but never unpacked
[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]
  platform = ${q(`linux/${goArch()}`)}
  snapshotter = "native"
`;
}

/** containerd's hosts.toml for a registry host: plain HTTP to `origin` for pull and resolve. */
export function hostsToml(origin: string): string {
  return `# written by test/support/node/containerd-node.ts
server = ${q(origin)}

[host.${q(origin)}]
  capabilities = ["pull", "resolve"]
`;
}

/** Writes the base runtime spec: `ctr oci spec` + Kind's createContainer hook + extra hooks. */
export function writeBaseSpec(n: ContainerdNode, extraHooks: Record<string, OciHook[]> = {}): void {
  const spec = JSON.parse(execFileSync(n.bin.ctr, ['oci', 'spec']).toString());
  const hooks: Record<string, OciHook[]> = { createContainer: [{ path: n.kindHook }] };
  for (const [stage, list] of Object.entries(extraHooks)) hooks[stage] = [...list, ...(hooks[stage] ?? [])];
  spec.hooks = hooks;
  writeFileSync(n.baseSpec, `${JSON.stringify(spec, null, 2)}\n`);
}

/** The folder's layout and config files, without starting anything. */
export async function prepareNode(opts: NodeOptions): Promise<ContainerdNode> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const bins = containerdBins(opts.version);
  for (const b of [bins.containerd, bins.ctr, bins.shim, RUNC]) {
    if (!existsSync(b)) throw new Error(`missing ${b} (run make tools)`);
  }
  let sandboxImage = opts.sandboxImage;
  if (sandboxImage === undefined) {
    const repo = 'sigguard-e2e/pause';
    await new Pusher(opts.registryHost).image(repo, '3.10', 'pause', goArch(), ['/bin/sleep', '3600']);
    sandboxImage = `${opts.registryHost}/${repo}:3.10`;
  }
  const kind = opts.layout === 'kind';
  const n: ContainerdNode = {
    version: opts.version,
    dir,
    socket: kind ? join(dir, 'run/containerd/containerd.sock') : join(dir, 'containerd.sock'),
    config: kind ? join(dir, 'etc/containerd/config.toml') : join(dir, 'config.toml'),
    baseSpec: kind ? join(dir, 'etc/containerd/cri-base.json') : join(dir, 'cri-base.json'),
    certsDir: kind ? join(dir, 'etc/containerd/certs.d') : join(dir, 'certs.d'),
    log: join(dir, 'containerd.log'),
    runcRoot: join(dir, 'runc'),
    cgroupParent: `/sigguard-node-${basename(dir)}`,
    podLogDir: join(dir, 'pods'),
    sandboxImage,
    registryHost: opts.registryHost,
    aliasHost: opts.aliasHost,
    kindHook: join(dir, 'kind/bin/mount-product-files.sh'),
    bin: { containerd: bins.containerd, ctr: bins.ctr, shim: bins.shim },
    process: undefined,
    madeRunContainerd: !existsSync('/run/containerd'),
    ...(kind ? { layout: 'kind' as const } : {}),
    ...(opts.extraHandlers ? { extraHandlers: opts.extraHandlers } : {}),
  };
  if (Buffer.byteLength(`${n.socket}.ttrpc`) > 100) throw new Error(`node folder ${dir} is too long for a unix socket path`);
  for (const d of ['root', 'state', 'runc', 'pods', 'cni/bin', 'cni/net.d', 'kind/bin']) mkdirSync(join(dir, d), { recursive: true });
  for (const f of [n.socket, n.config]) mkdirSync(dirname(f), { recursive: true });
  writeFileSync(n.kindHook, "#!/bin/sh\n# stands in for Kind's /kind/bin/mount-product-files.sh\nexit 0\n");
  chmodSync(n.kindHook, 0o755);
  const origin = `http://${opts.registryHost}`;
  for (const host of new Set([opts.aliasHost, opts.registryHost])) {
    mkdirSync(join(n.certsDir, host), { recursive: true });
    writeFileSync(join(n.certsDir, host, 'hosts.toml'), hostsToml(origin));
  }
  writeBaseSpec(n, opts.baseSpecHooks);
  // an extra handler's spec the caller has not written yet: the base spec, until it does
  for (const spec of Object.values(opts.extraHandlers ?? {})) if (!existsSync(spec)) copyFileSync(n.baseSpec, spec);
  writeFileSync(n.config, opts.version === '1.7' ? configV2(n) : configV3(n));
  return n;
}

/** Starts containerd (its own process group) and waits until the CRI answers Version. */
export async function launch(n: ContainerdNode, timeoutMs = 20_000): Promise<void> {
  if (n.process && n.process.exitCode === null) throw new Error('containerd already running');
  const out = openSync(n.log, 'a');
  const child = spawn(n.bin.containerd, ['--config', n.config], {
    detached: true, // own process group: stopNode signals the group
    stdio: ['ignore', out, out],
    env: {
      // the runc v2 shim of this containerd line, before any other on PATH
      PATH: `${containerdBins(n.version).dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: process.env.HOME ?? '/root',
    },
  });
  closeSync(out);
  n.process = child;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`containerd ${n.version} exited (${child.exitCode ?? child.signalCode}): ${tail(n.log)}`);
    }
    if (existsSync(n.socket)) {
      // a fresh client per try: grpc-js backs off a connection that failed
      const cri = new CriPeer(n.socket, 1000);
      try {
        await cri.version();
        return;
      } catch {
        /* not serving yet */
      } finally {
        cri.close();
      }
    }
    await Promise.race([sleep(50), exited]);
  }
  throw new Error(`containerd ${n.version} did not answer on ${n.socket} within ${timeoutMs} ms: ${tail(n.log)}`);
}

export async function startNode(opts: NodeOptions): Promise<ContainerdNode> {
  const n = await prepareNode(opts);
  await launch(n, opts.startTimeoutMs);
  return n;
}

function tail(file: string, bytes = 3000): string {
  try {
    const t = readFileSync(file, 'utf8');
    return t.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

/** Stops containerd only (SIGTERM to its process group, SIGKILL after `graceMs`); shims and containers keep running. */
export async function stopContainerd(n: ContainerdNode, graceMs = 5000): Promise<void> {
  const p = n.process;
  n.process = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-p.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (p.exitCode === null && p.signalCode === null) {
    signal('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
}

/** Restarts containerd with the same folders and config (re-reads the base runtime spec). */
export async function restartNode(n: ContainerdNode, timeoutMs?: number): Promise<void> {
  await stopContainerd(n);
  await launch(n, timeoutMs);
}

/** Pids whose command line mentions the node folder (its shims), other than containerd itself. */
export function nodeProcesses(n: ContainerdNode): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(n.dir)) out.push(pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Mount points at or under the node folder, deepest first. */
export function nodeMounts(n: ContainerdNode): string[] {
  const points: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const path = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path === n.dir || path.startsWith(`${n.dir}/`)) points.push(path);
  }
  return points.reverse();
}

function runcIds(n: ContainerdNode, known: Array<{ root: string; id: string }> = []): Array<{ root: string; id: string }> {
  const out: Array<{ root: string; id: string }> = [...known];
  if (!existsSync(n.runcRoot)) return out;
  for (const ns of readdirSync(n.runcRoot)) {
    const root = join(n.runcRoot, ns);
    try {
      for (const id of readdirSync(root)) out.push({ root, id });
    } catch {
      /* not a folder */
    }
  }
  return out;
}

/**
 * Stops everything the node started: containerd (process group), every
 * container still known to runc (force-deleted), the shims (by pid, found by
 * the node folder in their command line), the mounts under the folder, and
 * the pods' cgroups. Returns what had to be cleaned by force, for a test to
 * report; never throws for an already clean node.
 */
export async function stopNode(n: ContainerdNode): Promise<{ containers: string[]; shims: number[]; mounts: string[] }> {
  await stopContainerd(n);
  const containers: string[] = [];
  const existing = runcIds(n);
  for (const { root, id } of existing) {
    containers.push(id);
    try {
      execFileSync(RUNC, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* keep going */
    }
  }
  const shims = nodeProcesses(n);
  for (const pid of shims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 40 && nodeProcesses(n).length > 0; i++) await sleep(50);
  // a killed shim leaves its socket: /run/containerd/s/<sha256 of "<containerd socket>/<namespace>/<id>">
  if (shims.length > 0) {
    for (const { root, id } of runcIds(n, existing)) {
      for (const suffix of ['', 'debug']) {
        const sock = join(
          '/run/containerd/s',
          createHash('sha256')
            .update(`${join(n.socket, basename(root), id)}${suffix}`)
            .digest('hex'),
        );
        try {
          if (lstatSync(sock).isSocket()) unlinkSync(sock);
        } catch {
          /* none */
        }
      }
    }
  }
  const mounts = nodeMounts(n);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* keep going */
    }
  }
  removeCgroups(n);
  // the shims' socket folder is containerd's default one; take it away if this node made it and left it empty
  if (n.madeRunContainerd) {
    for (const d of ['/run/containerd/s', '/run/containerd']) {
      try {
        rmdirSync(d);
      } catch {
        /* not empty, or another containerd's */
      }
    }
  }
  return { containers, shims, mounts };
}

/** rmdir the node's cgroup parent in every cgroup v1 hierarchy and the v2 tree (empty folders only). */
function removeCgroups(n: ContainerdNode): void {
  const base = '/sys/fs/cgroup';
  const candidates: string[] = [join(base, n.cgroupParent)];
  try {
    for (const h of readdirSync(base)) candidates.push(join(base, h, n.cgroupParent));
  } catch {
    return;
  }
  for (const dir of candidates) {
    if (!existsSync(dir)) continue;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      try {
        rmdirSync(d);
      } catch {
        /* busy or not empty */
      }
    };
    try {
      walk(dir);
    } catch {
      /* raced */
    }
  }
}

/** The executable of a pid (for tests checking nothing is left). */
export function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}
