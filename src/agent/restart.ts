/**
 * How the agent restarts the node's containerd after the hook went into its base specs (containerd
 * reads base runtime specs when it starts). Named and chosen with `--restart`:
 *
 * - `signal` (default; `signal:SIGNAL` for another signal than SIGTERM): the signal goes to the
 *   containerd process that reads the agent's `--containerd-config` (found in /proc: the agent runs
 *   in the host's PID namespace, `hostPID: true`), and its supervisor starts it again — systemd's
 *   `Restart=always` in Kind's and Debian's containerd.service, or any supervisor that restarts it.
 *   containerd stops its own process only: shims and containers keep running.
 * - `command:ARGV` (a JSON array, or words split on spaces): runs ARGV, e.g. a node's own restart.
 * - `systemd` (`systemd:UNIT`; default unit containerd.service, crio.service for CRI-O): the host's
 *   systemd restarts the unit, asked over D-Bus (systemd.ts, `--systemd-bus`), and the agent waits
 *   for the restart job to end "done"; the runtime process that read the config before must be gone
 *   by then (else the unit is another daemon's and the runtime never read the new files).
 * - `none`: restarts nothing; the agent says a restart is needed and is not ready until then.
 *
 * Then the agent waits, bounded, until the CRI answers on the socket again.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { CriClient, CriError } from '../cri/client.js';
import { GrpcStatus } from '../cri/grpc.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { DEFAULT_SYSTEMD_BUS, type SystemdBus, checkUnitName, parseSystemdBus, restartUnit } from './systemd.js';

export type RestartMechanism =
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'command'; argv: string[] }
  | { kind: 'systemd'; unit: string | undefined; bus: SystemdBus }
  | { kind: 'none' };

const usage = (m: string) => new SigguardError(ReasonCode.USAGE, m);

export function parseRestart(spec: string, systemdBus = DEFAULT_SYSTEMD_BUS): RestartMechanism {
  if (spec === 'none') return { kind: 'none' };
  if (spec === 'systemd') return { kind: 'systemd', unit: undefined, bus: parseSystemdBus(systemdBus) };
  if (spec.startsWith('systemd:'))
    return { kind: 'systemd', unit: checkUnitName(spec.slice('systemd:'.length)), bus: parseSystemdBus(systemdBus) };
  if (spec === 'signal') return { kind: 'signal', signal: 'SIGTERM' };
  if (spec.startsWith('signal:')) {
    const signal = spec.slice('signal:'.length);
    if (!/^SIG[A-Z0-9]+$/.test(signal)) throw usage(`--restart signal:SIGNAL takes a signal name such as SIGTERM, not "${signal}"`);
    return { kind: 'signal', signal: signal as NodeJS.Signals };
  }
  if (spec.startsWith('command:')) {
    const rest = spec.slice('command:'.length).trim();
    let argv: unknown;
    try {
      argv = rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/).filter(Boolean);
    } catch {
      throw usage(`--restart command:[...] is not a JSON array of strings: ${rest}`);
    }
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string'))
      throw usage('--restart command:ARGV needs a command');
    return { kind: 'command', argv: argv as string[] };
  }
  throw usage(`--restart takes signal, signal:SIGNAL, systemd, systemd:UNIT, command:ARGV or none, not "${spec}"`);
}

export function describeRestart(m: RestartMechanism): string {
  return m.kind === 'signal'
    ? `signal ${m.signal} to containerd, restarted by its supervisor`
    : m.kind === 'command'
      ? `command ${m.argv.join(' ')}`
      : m.kind === 'systemd'
        ? `systemd RestartUnit ${m.unit ?? 'of the runtime'} over ${m.bus.kind}:${m.bus.path}`
        : 'none';
}

export type Daemon = 'containerd' | 'crio';
const DEFAULT_CONFIG: Record<Daemon, string> = { containerd: '/etc/containerd/config.toml', crio: '/etc/crio/crio.conf' };

/** The config file a containerd (or crio) command line reads (`--config X`, `-c X`, `--config=X`; else its default). */
export function configOfCommandLine(argv: string[], daemon: Daemon = 'containerd'): string {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if ((a === '--config' || a === '-c') && argv[i + 1] !== undefined) return resolve(argv[i + 1] as string);
    if (a.startsWith('--config=')) return resolve(a.slice('--config='.length));
  }
  return DEFAULT_CONFIG[daemon];
}

/** containerd's global flags that take a value (the daemon has flags only; `containerd config dump` is no daemon). */
const VALUE_FLAGS = new Set([
  '--config',
  '-c',
  '--log-level',
  '-l',
  '--address',
  '-a',
  '--root',
  '--state',
  '-r',
  '--runroot',
  '--config-dir',
  '-d',
  '--log',
  '--listen',
]);
function hasSubcommand(argv: string[]): boolean {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith('-')) return true;
  }
  return false;
}

/** Runs as root only (every uid of its status: real, effective, saved, fs)? A node user can start a process named containerd, never one as root. */
function runsAsRoot(proc: string, pid: string): boolean {
  try {
    const uids = /^Uid:\s+(.*)$/m
      .exec(readFileSync(`${proc}/${pid}/status`, 'latin1'))?.[1]
      ?.trim()
      .split(/\s+/);
    return uids !== undefined && uids.length === 4 && uids.every((u) => u === '0');
  } catch {
    return false; // gone meanwhile
  }
}

/** The pids of the root containerd (or crio) daemons reading `config` (not shims, not ctr, not `containerd config dump`, not a user's look-alike). */
export function containerdPids(config: string, proc = '/proc', daemon: Daemon = 'containerd'): number[] {
  const want = resolve(config);
  const pids: number[] = [];
  for (const entry of readdirSync(proc)) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`${proc}/${entry}/cmdline`, 'latin1').split('\0').filter(Boolean);
    } catch {
      continue; // gone meanwhile
    }
    if (argv.length === 0 || basename(argv[0] as string) !== daemon || hasSubcommand(argv)) continue;
    if (configOfCommandLine(argv, daemon) === want && runsAsRoot(proc, entry)) pids.push(Number(entry));
  }
  return pids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Does the CRI answer on `socket`? An answer is any gRPC status from the runtime (a probe id is NOT_FOUND). */
export async function criAnswers(socket: string, timeoutMs = 2000): Promise<boolean> {
  const cri = new CriClient(socket, { timeoutMs });
  try {
    await cri.containerStatus('sigguard-agent-probe');
    return true;
  } catch (err) {
    return err instanceof CriError && err.code !== GrpcStatus.UNAVAILABLE && err.code !== GrpcStatus.DEADLINE_EXCEEDED;
  } finally {
    cri.close();
  }
}

export async function waitForCri(socket: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await criAnswers(socket)) return;
    await sleep(200);
  }
  throw new SigguardError(
    ReasonCode.INTERNAL_ERROR,
    `containerd did not answer on ${socket} within ${Math.round(timeoutMs / 1000)} s after the restart`,
  );
}

/** Restarts containerd by `m`, then waits for its CRI. Returns false for `none` (nothing restarted). */
export async function restartRuntime(
  m: RestartMechanism,
  o: { containerdConfig: string; socket: string; timeoutMs: number; daemon?: Daemon; stopped?: () => void },
): Promise<boolean> {
  if (m.kind === 'none') return false;
  if (m.kind === 'systemd') {
    const daemon = o.daemon ?? 'containerd';
    const unit = m.unit ?? (daemon === 'crio' ? 'crio.service' : 'containerd.service');
    // the runtime reading the config (seen with hostPID) is gone once the job is done, or the unit is
    // another daemon's (Docker's containerd.service beside k3s's): its CRI answering proves nothing
    const runtime = containerdPids(o.containerdConfig, '/proc', daemon);
    await restartUnit({ bus: m.bus, unit, jobTimeoutMs: o.timeoutMs });
    const still = runtime.filter(alive);
    if (still.length > 0)
      throw new SigguardError(
        ReasonCode.INTERNAL_ERROR,
        `systemd restarted ${unit}, but the ${daemon} reading ${o.containerdConfig} (pid ${still.join(', ')}) still runs: ${unit} is not its unit (--restart systemd:UNIT)`,
      );
  } else if (m.kind === 'command') {
    const r = spawnSync(m.argv[0] as string, m.argv.slice(1), { encoding: 'utf8', timeout: o.timeoutMs });
    if (r.status !== 0) {
      const why = r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status ?? r.signal}`);
      throw new SigguardError(ReasonCode.INTERNAL_ERROR, `restart command ${m.argv.join(' ')} failed: ${why}`);
    }
  } else {
    const daemon = o.daemon ?? 'containerd';
    const pids = containerdPids(o.containerdConfig, '/proc', daemon);
    if (pids.length === 0) {
      throw new SigguardError(
        ReasonCode.INTERNAL_ERROR,
        `no ${daemon} process reads ${o.containerdConfig} (the agent needs the host's PID namespace to restart it: hostPID)`,
      );
    }
    for (const pid of pids) process.kill(pid, m.signal);
    const deadline = Date.now() + o.timeoutMs;
    // SIGHUP: CRI-O reloads its configuration in place (no exit to wait for)
    while (m.signal !== 'SIGHUP' && pids.some(alive)) {
      if (Date.now() > deadline)
        throw new SigguardError(ReasonCode.INTERNAL_ERROR, `containerd (pid ${pids.join(', ')}) did not stop on ${m.signal}`);
      await sleep(50);
    }
  }
  o.stopped?.(); // restarted (or reloaded): what is left is its CRI answering
  await waitForCri(o.socket, o.timeoutMs);
  return true;
}
