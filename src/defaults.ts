/**
 * Where sigguard looks for things on a node, unless a flag or the configuration says
 * otherwise. Defined here only: the hook, `check`, `cache`, `install-node` and the
 * configuration's defaults all read these.
 */
export const DEFAULT_PATHS = {
  policy: '/etc/sigguard/policy.yaml',
  config: '/etc/sigguard/config.yaml',
  /** What `install-node` changed on the node (for uninstall). */
  installState: '/etc/sigguard/installed.json',
  /** The verdict and document caches. */
  cacheDir: '/var/lib/sigguard/cache',
  decisionLog: '/var/log/sigguard/decisions.log',
  /** Where `sigguard trust update` keeps the public-good trusted root and its TUF state. */
  trustPublicGood: '/var/lib/sigguard/trust/public-good.json',
  /** The agent's socket for hooks (`sigguard agent --hook-socket`, `sigguard hook --agent`). */
  agentSocket: '/var/lib/sigguard/agent/hook.sock',
  /** containerd's registry host folders (hosts.toml, CA files). */
  certsDir: '/etc/containerd/certs.d',
} as const;

/** The hook's defaults: its files, and how long it may take to decide. */
export const HOOK_DEFAULTS = {
  config: DEFAULT_PATHS.config,
  policy: DEFAULT_PATHS.policy,
  log: DEFAULT_PATHS.decisionLog,
  deadlineSeconds: 8,
};
