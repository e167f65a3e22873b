/**
 * The agent's install on its node: the executable copied to the host path the hook entry names,
 * then the hook into every containerd runtime handler's base spec by `install-node`'s own code
 * (installNode, src/installer/node-install.ts), idempotent: a second run changes nothing and says so.
 * `checkHandlers` is install-node --check's test (every handler of the effective config hooked).
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_PATHS } from '../defaults.js';
import { checkTrustedPath, fileTrustEnforced } from '../document/file-trust.js';
import { DROP_IN_NAME, installNode, readState, semantics, uninstallNode } from '../installer/node-install.js';
import { diskFs } from '../installer/containerd-effective.js';
import { hookEntry } from '../installer/hook-entry.js';
import { checkNode } from '../installer/node-plan.js';
import { z } from '../zod.js';

export interface NodeOptions {
  containerdConfig: string;
  /** The executable to install (the agent's own, in the image: /sigguard). */
  binary: string;
  /** Where on the host it goes; the hook entry names this path. */
  installPath: string;
  /** /etc/sigguard on the host. */
  etc: string;
  /** The decision log the hook writes. */
  log: string;
  /**
   * The agent's socket for hooks (`--hook-socket`, src/agent/verify-server.ts): the hook entry names it
   * (`--agent`), and a hook asks the agent there before it validates or verifies anything itself.
   */
  hookSocket?: string;
  /** containerd and ctr (for `ctr oci spec` and the merge rules): `--containerd`, `--ctr`. */
  containerd?: string;
  ctr?: string;
}

/** What the agent put on the node besides install-node's own state (agent.json in `etc`). */
const agentStateSchema = z.strictObject({
  version: z.literal(1),
  binary: z.strictObject({ path: z.string(), existedBefore: z.boolean() }),
});

const stateFile = (o: NodeOptions) => join(o.etc, 'installed.json');
const agentStateFile = (etc: string) => join(etc, 'agent.json');
const preagentBinary = (path: string) => `${path}.sigguard-preagent`;
const bins = (o: NodeOptions) => [
  o.containerd ?? (o.ctr ? join(dirname(o.ctr), 'containerd') : 'containerd'),
  ...(o.containerd || !o.ctr ? [] : ['containerd']),
];

function sha256(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

/** The hook entry: the installed executable, and only the hook flags that differ from its defaults (the entry install.sh writes otherwise). */
export function agentHookEntry(o: NodeOptions): ReturnType<typeof hookEntry> {
  return hookEntry(o.installPath, hookFlags(o));
}

function hookFlags(o: NodeOptions): string[] {
  const flags: string[] = [];
  const policy = join(o.etc, 'policy.yaml');
  const config = join(o.etc, 'config.yaml');
  if (policy !== DEFAULT_PATHS.policy) flags.push('--policy', policy);
  if (config !== DEFAULT_PATHS.config) flags.push('--config', config);
  if (resolve(o.log) !== DEFAULT_PATHS.decisionLog) flags.push('--log', resolve(o.log));
  if (o.hookSocket) flags.push('--agent', resolve(o.hookSocket));
  return flags;
}

/** Puts the executable in place (atomically, only when it differs); true when it changed. */
export function installBinary(o: NodeOptions): boolean {
  const want = sha256(o.binary);
  if (want === undefined) throw new Error(`cannot read the executable to install, ${o.binary}`);
  if (sha256(o.installPath) === want) return trusted(o.installPath, false);
  const stateF = agentStateFile(o.etc);
  if (!existsSync(stateF)) {
    const existed = existsSync(o.installPath);
    if (existed && !existsSync(preagentBinary(o.installPath))) copyFileSync(o.installPath, preagentBinary(o.installPath));
    mkdirSync(o.etc, { recursive: true, mode: 0o755 });
    writeFileSync(stateF, `${JSON.stringify({ version: 1, binary: { path: o.installPath, existedBefore: existed } })}\n`, { mode: 0o600 });
  }
  mkdirSync(dirname(o.installPath), { recursive: true, mode: 0o755 });
  const tmp = `${o.installPath}.sigguard-tmp`;
  copyFileSync(o.binary, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, o.installPath);
  return trusted(o.installPath, true);
}

/** The hook runs the executable as root for every container: nobody but root may be able to replace it (every folder and link to it). */
function trusted(path: string, changed: boolean): boolean {
  if (fileTrustEnforced()) checkTrustedPath(path);
  return changed;
}

export interface HandlerReport {
  handlers: string[];
  unguarded: string[];
  stale?: string;
}

/** install-node --check: which handlers of the effective configuration lack the hook. */
export function checkHandlers(o: NodeOptions): HandlerReport {
  const file = resolve(o.containerdConfig);
  const { state } = readState(stateFile(o));
  const sem = semantics(bins(o), file, state?.containerdConfig === file ? state.semantics : undefined);
  const r = checkNode(diskFs, file, sem, state?.dropIn ?? join(dirname(file), DROP_IN_NAME));
  return {
    handlers: r.handlers.map((h) => h.name),
    unguarded: r.handlers.filter((h) => !h.guarded).map((h) => h.name),
    ...(r.stale ? { stale: r.stale } : {}),
  };
}

/** The hook into every handler's base spec; the containerd files written (empty: nothing changed). */
export function installHook(o: NodeOptions, warn: (m: string) => void): { written: string[]; handlers: string[] } {
  const file = resolve(o.containerdConfig);
  const r = installNode({
    file,
    stateFile: stateFile(o),
    dropIn: join(dirname(file), DROP_IN_NAME),
    specDir: dirname(file),
    entry: agentHookEntry(o),
    ctr: o.ctr ?? 'ctr',
    bins: bins(o),
    warn,
  });
  return { written: r.written, handlers: r.eff.handlers.map((h) => h.name) };
}

/** In `etc` while containerd may still hold the hook it was asked to drop (sigguard agent --uninstall before its restart). */
export const UNINSTALL_PENDING = 'agent-uninstall.json';

/** Has install-node's state (the hook in the base specs)? */
export const installedHook = (o: NodeOptions): boolean => existsSync(stateFile(o));

/** install-node --uninstall: the containerd files put back byte for byte (then restart containerd). */
export function uninstallHook(o: NodeOptions, warn: (m: string) => void): boolean {
  if (!existsSync(stateFile(o))) return false;
  uninstallNode({ file: resolve(o.containerdConfig), stateFile: stateFile(o), bins: bins(o), warn });
  return true;
}

/** The executable as it was before the agent (removed, or the node's own put back); after uninstallHook and the restart. */
export function removeBinary(etc: string): void {
  const stateF = agentStateFile(etc);
  if (!existsSync(stateF)) return;
  const parsed = agentStateSchema.safeParse(JSON.parse(readFileSync(stateF, 'utf8')));
  if (parsed.success) {
    const { path, existedBefore } = parsed.data.binary;
    if (existedBefore && existsSync(preagentBinary(path))) renameSync(preagentBinary(path), path);
    else if (!existedBefore) rmSync(path, { force: true });
  }
  rmSync(stateF, { force: true });
}
