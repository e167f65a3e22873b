/**
 * `sigguard agent [...]`: the DaemonSet's long-running mode (src/agent/run.ts), and
 * `sigguard metrics --log FILE [--listen ADDR]`: the same metrics from a decision log alone.
 * Loaded only for these commands: pino and prom-client never weigh on the hook's start.
 */
import { isSea } from 'node:sea';
import { pino } from 'pino';
import { parse, parseSeconds } from '../args.js';
import { DEFAULT_PATHS } from '../defaults.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { Agent, type AgentOptions } from '../agent/run.js';
import { DecisionLogFollower } from '../agent/decision-follow.js';
import { AgentMetrics } from '../agent/metrics.js';
import { parseRestart } from '../agent/restart.js';
import { startServer } from '../agent/server.js';
import { startVerifyServer } from '../agent/verify-server.js';
import { SERVICE_ACCOUNT_DIR, inClusterAccess, parseTaint } from '../agent/taint.js';

export const AGENT_DEFAULTS = {
  containerdConfig: '/etc/containerd/config.toml',
  socket: '/run/containerd/containerd.sock',
  crioSocket: '/var/run/crio/crio.sock',
  etc: '/etc/sigguard',
  installPath: '/opt/sigguard/bin/sigguard',
  namespace: 'sigguard-system',
  listen: ':9464',
  restart: 'signal',
  logKeep: 5,
  logMaxBytes: 64 * 2 ** 20,
};

const logger = () =>
  pino({ base: { component: 'sigguard-agent' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 1, sync: true }));

function count(value: string | undefined, flag: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new SigguardError(ReasonCode.USAGE, `${flag} takes a whole number of at least ${min}, not "${value}"`);
  return n;
}

/** `sigguard trust update` every --trust-interval seconds (default 0: never; 86400 daily), from the public-good mirror unless told otherwise. */
function trustOptions(v: Record<string, string | boolean | string[] | undefined>): Pick<AgentOptions, 'trust'> {
  const str = (k: string) => (typeof v[k] === 'string' ? v[k] : undefined);
  const seconds = count(str('trust-interval'), '--trust-interval', 0, 0);
  if (seconds === 0) return {};
  const trust: NonNullable<AgentOptions['trust']> = { intervalMs: seconds * 1000 };
  for (const [flag, key] of [
    ['trust-out', 'out'],
    ['trust-mirror', 'mirror'],
    ['trust-from', 'from'],
    ['trust-root', 'root'],
  ] as const) {
    const value = str(flag);
    if (value !== undefined) trust[key] = value;
  }
  return { trust };
}

const stopped = () =>
  new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });

export async function runAgent(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      runtime: { type: 'string' },
      'containerd-config': { type: 'string' },
      'crio-root': { type: 'string' },
      'crio-config': { type: 'string' },
      'containers-image-version': { type: 'string' },
      socket: { type: 'string' },
      source: { type: 'string', multiple: true },
      etc: { type: 'string' },
      'install-path': { type: 'string' },
      binary: { type: 'string' },
      log: { type: 'string' },
      'log-max-bytes': { type: 'string' },
      'log-keep': { type: 'string' },
      restart: { type: 'string' },
      'restart-timeout': { type: 'string' },
      'systemd-bus': { type: 'string' },
      'remove-taint': { type: 'string' },
      'service-account-dir': { type: 'string' },
      'sync-interval': { type: 'string' },
      'check-interval': { type: 'string' },
      namespace: { type: 'string' },
      listen: { type: 'string' },
      ctr: { type: 'string' },
      containerd: { type: 'string' },
      'trust-interval': { type: 'string' },
      'trust-mirror': { type: 'string' },
      'trust-from': { type: 'string' },
      'trust-root': { type: 'string' },
      'trust-out': { type: 'string' },
      'state-dir': { type: 'string' },
      'hook-socket': { type: 'string' },
      'host-root': { type: 'string' },
      once: { type: 'boolean' },
      uninstall: { type: 'boolean' },
      stay: { type: 'boolean' },
    },
    'agent',
  );
  if (positionals.length > 0) throw new SigguardError(ReasonCode.USAGE, `agent takes no arguments (got "${positionals[0]}")`);
  const binary = values.binary ?? (isSea() ? process.execPath : undefined);
  if (binary === undefined && !values.uninstall)
    throw new SigguardError(
      ReasonCode.USAGE,
      'agent needs --binary FILE (the executable to install) when not run as the single executable',
    );
  const runtime = values.runtime ?? 'containerd';
  if (runtime !== 'containerd' && runtime !== 'crio')
    throw new SigguardError(ReasonCode.USAGE, `--runtime takes containerd or crio, not "${runtime}"`);
  const o: AgentOptions = {
    runtime,
    crio: {
      root: values['crio-root'] ?? '/',
      config: values['crio-config'] ?? '/etc/crio/crio.conf',
      ...(values['containers-image-version'] ? { containersImageVersion: values['containers-image-version'] } : {}),
    },
    containerdConfig: values['containerd-config'] ?? AGENT_DEFAULTS.containerdConfig,
    socket: values.socket ?? (runtime === 'crio' ? AGENT_DEFAULTS.crioSocket : AGENT_DEFAULTS.socket),
    sources: values.source ?? [],
    etc: values.etc ?? AGENT_DEFAULTS.etc,
    installPath: values['install-path'] ?? AGENT_DEFAULTS.installPath,
    binary: binary ?? '',
    log: values.log ?? DEFAULT_PATHS.decisionLog,
    logMaxBytes: count(values['log-max-bytes'], '--log-max-bytes', AGENT_DEFAULTS.logMaxBytes, 0),
    logKeep: count(values['log-keep'], '--log-keep', AGENT_DEFAULTS.logKeep, 1),
    restart: parseRestart(values.restart ?? AGENT_DEFAULTS.restart, values['systemd-bus']),
    restartTimeoutMs: parseSeconds(values['restart-timeout'], '--restart-timeout', 60) * 1000,
    syncIntervalMs: parseSeconds(values['sync-interval'], '--sync-interval', 2) * 1000,
    checkIntervalMs: parseSeconds(values['check-interval'], '--check-interval', 60) * 1000,
    followIntervalMs: 1000,
    namespace: values.namespace ?? process.env.POD_NAMESPACE ?? AGENT_DEFAULTS.namespace,
    listen: values.listen === '' ? undefined : (values.listen ?? AGENT_DEFAULTS.listen),
    once: values.once ?? false,
    ...(values.ctr ? { ctr: values.ctr } : {}),
    ...(values.containerd ? { containerd: values.containerd } : {}),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    ...(values['hook-socket'] ? { hookSocket: values['hook-socket'] } : {}),
    ...(values['host-root'] ? { hostRoot: values['host-root'] } : {}),
    ...trustOptions(values),
    // once ready, the registration taint off this node (README "The node-join window"); the pod's service account
    ...(values['remove-taint'] && !values.uninstall
      ? {
          removeTaint: {
            taint: parseTaint(values['remove-taint']),
            access: () => inClusterAccess(process.env, values['service-account-dir'] ?? SERVICE_ACCOUNT_DIR),
          },
        }
      : {}),
  };
  const log = logger();
  const agent = new Agent(values.uninstall || o.once ? { ...o, listen: undefined } : o, log);
  if (values.uninstall) {
    const done = await agent.uninstall();
    if (!values.stay) return done ? 0 : 1;
    // the uninstall DaemonSet's pod: done, and ready (kubectl rollout status tells when every node is
    // clean); not ready while containerd awaits its restart (--restart none)
    const server = o.listen === undefined ? undefined : await startServer(o.listen, { metrics: agent.metrics, ready: done }, log);
    await stopped();
    await server?.close();
    return done ? 0 : 1;
  }
  await agent.start();
  if (o.once) {
    await agent.stop();
    return agent.ready ? 0 : 1;
  }
  agent.loop();
  await stopped();
  // stopping leaves the node as it is: hook, policy and executable stay (no window without enforcement)
  log.info('stopping; the hook and the policy stay on the node');
  await agent.stop();
  return 0;
}

/** sigguard metrics --log FILE [--listen ADDR]: every line already in the log, then what follows. */
export async function runMetrics(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { log: { type: 'string' }, listen: { type: 'string' } }, 'metrics');
  if (positionals.length > 0) throw new SigguardError(ReasonCode.USAGE, `metrics takes no arguments (got "${positionals[0]}")`);
  const log = logger();
  const metrics = new AgentMetrics();
  const follower = new DecisionLogFollower(values.log ?? DEFAULT_PATHS.decisionLog, (line) => metrics.countLine(line));
  follower.poll();
  // a hand-installed host: loopback unless told otherwise (the agent's pod listens on :9464 for Prometheus)
  const server = await startServer(values.listen ?? '127.0.0.1:9464', { metrics, ready: true }, log);
  const t = setInterval(() => follower.poll(), 1000);
  await stopped();
  clearInterval(t);
  await server.close();
  return 0;
}

/**
 * sigguard verifier [--socket FILE] [--config FILE] [--policy FILE]: the agent's socket for hooks
 * alone (src/agent/verify-server.ts), for a node whose hook entry names it (`hook --agent FILE`)
 * without the agent (install.sh's hosts, the bench): until SIGTERM.
 */
export async function runVerifier(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { socket: { type: 'string' }, config: { type: 'string' }, policy: { type: 'string' } },
    'verifier',
  );
  if (positionals.length > 0) throw new SigguardError(ReasonCode.USAGE, `verifier takes no arguments (got "${positionals[0]}")`);
  const log = logger();
  const server = await startVerifyServer(
    { socket: values.socket ?? DEFAULT_PATHS.agentSocket, config: values.config, policy: values.policy ?? DEFAULT_PATHS.policy },
    log,
  );
  await stopped();
  await server.close();
  log.info(server.stats, 'stopping');
  return 0;
}
