/**
 * `sigguard install-node --containerd-config FILE [--uninstall | --check] [--spec-dir DIR]
 *   [--state FILE] [--path BIN] [--ctr CTR] [--containerd BIN] [--drop-in FILE] [-- hook flags]`
 *
 * Puts the hook into the base runtime spec of every runtime handler of the
 * configuration containerd actually loads (config.toml merged with its
 * imports: src/installer/containerd-effective.ts), giving handlers without one
 * a base spec through sigguard's own drop-in (src/installer/node-plan.ts),
 * records each change in a state file, and on --uninstall puts every file back
 * byte for byte. --check lists the handlers without the hook (a handler added
 * after install) and exits 1, for an agent or a timer. Restarting containerd
 * is the caller's (install/install.sh).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { uninstallHook } from '../installer/base-spec.js';
import { type HandlerRecord, configVersion, planUninstall as planLegacyUninstall } from '../installer/containerd-config.js';
import { type Semantics, diskFs, effective, loadOrder, parseConfig, semanticsFromVersion } from '../installer/containerd-effective.js';
import { hookEntry } from '../installer/hook-entry.js';
import { type InstallState, Overlay, checkNode, flush, planInstall, planUninstall, stateSchema } from '../installer/node-plan.js';
import { parse } from '../args.js';
import { DEFAULT_PATHS } from '../defaults.js';

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

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export function runInstallNode(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    {
      'containerd-config': { type: 'string' },
      'spec-dir': { type: 'string' },
      state: { type: 'string' },
      path: { type: 'string' },
      ctr: { type: 'string' },
      containerd: { type: 'string' },
      'drop-in': { type: 'string' },
      uninstall: { type: 'boolean' },
      check: { type: 'boolean' },
    },
    'install-node',
  );
  if (!values['containerd-config']) throw new SigguardError(ReasonCode.USAGE, 'install-node needs --containerd-config FILE');
  // absolute: base spec and drop-in paths written into containerd's files must not depend on a working directory
  const file = resolve(values['containerd-config']);
  if (values.uninstall && values.check)
    throw new SigguardError(ReasonCode.USAGE, 'install-node: --uninstall and --check exclude each other');
  const stateFile = values.state ?? DEFAULT_PATHS.installState;
  const dropIn = resolve(values['drop-in'] ?? join(dirname(file), DROP_IN_NAME));
  const ctr = values.ctr ?? 'ctr';
  const bins = [
    values.containerd ?? (values.ctr ? join(dirname(values.ctr), 'containerd') : 'containerd'),
    ...(values.containerd || !values.ctr ? [] : ['containerd']),
  ];
  if (!existsSync(file)) throw fail(`containerd config ${file} does not exist`);
  configVersion(parseConfig(readFileSync(file, 'utf8'), file), file);
  const warn = (m: string) => process.stderr.write(`sigguard: install-node: ${m}\n`);

  if (values.check) {
    const { state } = readState(stateFile);
    const sem = semantics(bins, file, state?.containerdConfig === file ? state.semantics : undefined);
    const r = checkNode(diskFs, file, sem, state?.dropIn ?? dropIn);
    const bad = r.handlers.filter((h) => !h.guarded);
    for (const h of bad) {
      process.stdout.write(
        `unguarded runtime handler ${h.name}: ${h.why}${h.definedIn.length ? ` (defined in ${h.definedIn.join(', ')})` : " (containerd's default)"}\n`,
      );
    }
    if (r.stale) process.stdout.write(`${r.stale}\n`);
    if (bad.length === 0 && !r.stale) {
      process.stdout.write(
        `all ${plural(r.handlers.length, 'runtime handler')} of ${file} run sigguard (${r.handlers.map((h) => h.name).join(', ')})\n`,
      );
      return 0;
    }
    if (bad.length > 0)
      process.stdout.write(
        `${bad.length} of ${plural(r.handlers.length, 'runtime handler')} unguarded: run sigguard install-node again and restart containerd\n`,
      );
    return 1;
  }

  if (values.uninstall) {
    const { state, legacy } = readState(stateFile);
    if (state) {
      const ov = new Overlay();
      planUninstall(ov, state, warn);
      flush(ov);
      rmSync(stateFile, { force: true });
      process.stdout.write(`sigguard hook removed from ${plural(state.specs.length, 'base spec')} of ${file}; restart containerd\n`);
      return 0;
    }
    return legacyUninstall(file, stateFile, legacy?.records, bins);
  }

  const entry = hookEntry(values.path, positionals);
  const { state, eff } = installNode({
    file,
    stateFile,
    dropIn,
    specDir: resolve(values['spec-dir'] ?? dirname(file)),
    entry,
    ctr,
    bins,
    warn,
  });
  const list = eff.handlers.map((h) => `${h.name}: ${h.baseSpec}`).join(', ');
  process.stdout.write(
    `sigguard hook in ${plural(eff.handlers.length, 'runtime handler')} of ${file} (${list})${state.dropIn ? `; base specs set in ${state.dropIn}` : state.configEdits.length > 0 ? `; base specs set in ${file}` : ''}; restart containerd\n`,
  );
  return 0;
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
  process.stdout.write(`sigguard hook removed from ${plural(specs.length, 'base spec')} of ${file}; restart containerd\n`);
  return 0;
}
