/**
 * install-node's work on a containerd node, shared by `sigguard install-node` (src/cli/install-node.ts)
 * and `sigguard agent` (src/agent/node.ts): the hook into the base runtime spec of every runtime
 * handler of the configuration containerd loads (node-plan.ts), the state recorded, and the exact
 * reversal. Nothing here prints; restarting containerd is the caller's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { uninstallHook } from './base-spec.js';
import { type HandlerRecord, configVersion, planUninstall as planLegacyUninstall } from './containerd-config.js';
import { type Semantics, effective, loadOrder, parseConfig, semanticsFromVersion } from './containerd-effective.js';
import type { hookEntry } from './hook-entry.js';
import { type InstallState, Overlay, flush, planInstall, planUninstall, stateSchema } from './node-plan.js';

export const DROP_IN_NAME = 'sigguard-handlers.toml';

/** The state an earlier sigguard wrote (config.toml re-serialised): still uninstallable. */
const legacyStateSchema = z.strictObject({
  containerdConfig: z.string(),
  records: z.array(
    z.strictObject({
      handler: z.string(),
      specFile: z.string(),
      createdSpec: z.boolean(),
      setBaseSpec: z.boolean(),
      createdHandler: z.boolean(),
    }),
  ),
});

function fail(message: string): SigguardError {
  return new SigguardError(ReasonCode.CONFIG_INVALID, message);
}

/** A default OCI spec for a handler that has none, from containerd's own `ctr oci spec`. */
export function defaultSpec(ctr: string, handler: string): string {
  const r = spawnSync(ctr, ['oci', 'spec'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout.trim().startsWith('{')) {
    throw fail(
      `cannot make a base spec for runtime handler ${handler}: "${ctr} oci spec" failed (${r.error?.message ?? r.stderr.trim().split('\n')[0] ?? r.status})`,
    );
  }
  return r.stdout;
}

/**
 * Which merge rules apply: asked of the containerd binary (`--containerd`,
 * else `containerd` next to `--ctr`, else on PATH). A version 3 config is
 * 2.x's whatever the binary; a version 2 config is read by both lines, so
 * there the binary must answer.
 */
export function semantics(bins: string[], configFile: string, recorded?: Semantics): Semantics {
  for (const bin of bins) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const s = r.status === 0 ? semanticsFromVersion(r.stdout) : undefined;
    if (s) return s;
  }
  if (recorded) return recorded; // what the binary said at install
  const version = configVersion(parseConfig(readFileSync(configFile, 'utf8'), configFile), configFile);
  if (version === 3) return '2.x';
  throw new SigguardError(
    ReasonCode.USAGE,
    `cannot tell which containerd reads ${configFile} (tried ${bins.join(', ')} --version): give --containerd BIN`,
  );
}

export function readState(file: string): { state?: InstallState; legacy?: z.infer<typeof legacyStateSchema> } {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw fail(`install state ${file} is unreadable; remove it or reinstall`);
  }
  const now = stateSchema.safeParse(raw);
  if (now.success) return { state: now.data };
  const old = legacyStateSchema.safeParse(raw);
  if (old.success) return { legacy: old.data };
  throw fail(`install state ${file} is unreadable; remove it or reinstall`);
}

/**
 * The install itself (also `sigguard agent`'s): the hook into every handler's base spec, the state
 * recorded; `written` lists the node files that changed (none when the node already had it all).
 */
export function installNode(o: {
  file: string;
  stateFile: string;
  dropIn: string;
  specDir: string;
  entry: ReturnType<typeof hookEntry>;
  ctr: string;
  bins: string[];
  warn: (m: string) => void;
}): ReturnType<typeof planInstall> & { written: string[] } {
  const { state: previous, legacy } = readState(o.stateFile);
  if (legacy) throw fail(`install state ${o.stateFile} is from an earlier sigguard: run install-node --uninstall with it first`);
  const sem = semantics(o.bins, o.file, previous?.semantics);
  const ov = new Overlay();
  if (previous) planUninstall(ov, previous, o.warn);
  const planned = planInstall(ov, {
    config: o.file,
    semantics: sem,
    dropIn: o.dropIn,
    specDir: o.specDir,
    entry: o.entry,
    defaultSpec: (h) => defaultSpec(o.ctr, h),
  });
  const written = flush(ov);
  const text = `${JSON.stringify(planned.state, null, 2)}\n`;
  if (!existsSync(o.stateFile) || readFileSync(o.stateFile, 'utf8') !== text) {
    mkdirSync(dirname(o.stateFile), { recursive: true });
    writeFileSync(`${o.stateFile}.sigguard-tmp`, text, { mode: 0o600 });
    renameSync(`${o.stateFile}.sigguard-tmp`, o.stateFile);
  }
  return { ...planned, written };
}

/** install-node --uninstall: every file put back as it was; how many base specs had the hook. */
export function uninstallNode(o: { file: string; stateFile: string; bins: string[]; warn: (m: string) => void }): number {
  const { state, legacy } = readState(o.stateFile);
  if (state) {
    const ov = new Overlay();
    planUninstall(ov, state, o.warn);
    flush(ov);
    rmSync(o.stateFile, { force: true });
    return state.specs.length;
  }
  return legacyUninstall(o.file, o.stateFile, legacy?.records, o.bins);
}

/** Uninstall without a current state: an earlier sigguard's records, or none (the hook out of every handler's base spec). */
function legacyUninstall(file: string, stateFile: string, records: HandlerRecord[] | undefined, bins: string[]): number {
  const cfg = parseConfig(readFileSync(file, 'utf8'), file);
  const specs = records
    ? records.map((r) => ({ file: r.specFile, created: r.createdSpec }))
    : effective(loadOrder(file), semantics(bins, file)).handlers.flatMap((h) => (h.baseSpec ? [{ file: h.baseSpec, created: false }] : []));
  const ov = new Overlay();
  for (const s of specs) {
    const text = ov.read(s.file);
    if (text === undefined) continue;
    if (s.created) {
      ov.remove(s.file);
      continue;
    }
    const out = uninstallHook(JSON.parse(text) as Record<string, unknown>);
    if (out.changed) ov.write(s.file, `${JSON.stringify(out.spec, null, 2)}\n`);
  }
  if (records) {
    const plan = planLegacyUninstall(cfg, file, records);
    if (plan.changed) ov.write(file, `${stringifyToml(plan.config)}\n`);
  }
  flush(ov);
  rmSync(stateFile, { force: true });
  return specs.length;
}
