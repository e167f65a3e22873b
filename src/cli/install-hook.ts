/**
 * `sigguard install-hook (--base-spec FILE | --hooks-dir DIR) [--uninstall] [--path BIN] [-- extra hook flags]`
 * A base spec is containerd's; a hooks.d folder (oci-hooks(5)) is CRI-O's and podman's.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReasonCode, SigguardError } from '../errors.js';
import { installHook, uninstallHook } from '../installer/base-spec.js';
import { HOOKS_D_TEMPLATE, HOOK_STAGE, hookEntry } from '../installer/hook-entry.js';
import { parse } from '../args.js';

export function runInstallHook(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    { 'base-spec': { type: 'string' }, 'hooks-dir': { type: 'string' }, uninstall: { type: 'boolean' }, path: { type: 'string' } },
    'install-hook',
  );
  const file = values['base-spec'];
  const hooksDir = values['hooks-dir'];
  if ((file === undefined) === (hooksDir === undefined)) {
    throw new SigguardError(ReasonCode.USAGE, 'install-hook needs one of --base-spec FILE or --hooks-dir DIR');
  }
  if (hooksDir !== undefined) return writeHooksD(hooksDir, values.uninstall === true, values.path, positionals);
  if (file === undefined) return 2;
  let spec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    spec = parsed as Record<string, unknown>;
  } catch (err) {
    throw new SigguardError(
      ReasonCode.CONFIG_INVALID,
      `cannot read base spec ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (spec.hooks !== undefined && (typeof spec.hooks !== 'object' || spec.hooks === null || Array.isArray(spec.hooks))) {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `base spec ${file}: "hooks" is not an object`);
  }
  const result = values.uninstall ? uninstallHook(spec) : installHook(spec, HOOK_STAGE, hookEntry(values.path, positionals));
  if (result.changed) {
    const tmp = `${file}.sigguard-tmp`;
    writeFileSync(tmp, `${JSON.stringify(result.spec, null, 2)}\n`, { mode: statSync(file).mode & 0o777 });
    renameSync(tmp, file);
  }
  const what = values.uninstall ? (result.changed ? 'removed from' : 'was not in') : result.changed ? 'added to' : 'already in';
  process.stdout.write(`sigguard hook ${what} ${file}\n`);
  return 0;
}

/** Writes (or removes) DIR/sigguard.json: the hooks.d template with this binary's path and flags. */
function writeHooksD(dir: string, uninstall: boolean, path: string | undefined, extraArgs: string[]): number {
  const file = join(dir, 'sigguard.json');
  if (uninstall) {
    const had = existsSync(file);
    rmSync(file, { force: true });
    process.stdout.write(`sigguard hook ${had ? 'removed from' : 'was not in'} ${dir}\n`);
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify({ ...HOOKS_D_TEMPLATE, hook: hookEntry(path, extraArgs) }, null, 2)}\n`;
  const same = existsSync(file) && readFileSync(file, 'utf8') === text;
  if (!same) {
    writeFileSync(`${file}.sigguard-tmp`, text, { mode: 0o644 });
    renameSync(`${file}.sigguard-tmp`, file);
  }
  process.stdout.write(`sigguard hook ${same ? 'already in' : 'added to'} ${dir}\n`);
  return 0;
}
