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
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ReasonCode, SigguardError } from '../errors.js';
import { configVersion } from '../installer/containerd-config.js';
import { diskFs, parseConfig } from '../installer/containerd-effective.js';
import { hookEntry } from '../installer/hook-entry.js';
import { DROP_IN_NAME, installNode, readState, semantics, uninstallNode } from '../installer/node-install.js';
import { checkNode } from '../installer/node-plan.js';
import { parse } from '../args.js';
import { DEFAULT_PATHS } from '../defaults.js';

const fail = (message: string) => new SigguardError(ReasonCode.CONFIG_INVALID, message);
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
    const n = uninstallNode({ file, stateFile, bins, warn });
    process.stdout.write(`sigguard hook removed from ${plural(n, 'base spec')} of ${file}; restart containerd\n`);
    return 0;
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
