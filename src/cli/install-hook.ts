/** `sigguard install-hook --base-spec FILE [--uninstall] [--path BIN] [-- extra hook flags]` */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { ReasonCode, SigguardError } from '../errors.js';
import { installHook, uninstallHook } from '../installer/base-spec.js';
import { HOOK_STAGE, hookEntry } from '../installer/hook-entry.js';
import { parse } from './args.js';

export function runInstallHook(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    { 'base-spec': { type: 'string' }, uninstall: { type: 'boolean' }, path: { type: 'string' } },
    'install-hook',
  );
  const file = values['base-spec'];
  if (!file) throw new SigguardError(ReasonCode.USAGE, 'install-hook needs --base-spec FILE');
  let spec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    spec = parsed as Record<string, unknown>;
  } catch (err) {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read base spec ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (spec.hooks !== undefined && (typeof spec.hooks !== 'object' || spec.hooks === null || Array.isArray(spec.hooks))) {
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `base spec ${file}: "hooks" is not an object`);
  }
  const result = values.uninstall
    ? uninstallHook(spec)
    : installHook(spec, HOOK_STAGE, hookEntry(values.path, positionals));
  if (result.changed) {
    const tmp = `${file}.sigguard-tmp`;
    writeFileSync(tmp, `${JSON.stringify(result.spec, null, 2)}\n`, { mode: statSync(file).mode & 0o777 });
    renameSync(tmp, file);
  }
  const what = values.uninstall ? (result.changed ? 'removed from' : 'was not in') : result.changed ? 'added to' : 'already in';
  process.stdout.write(`sigguard hook ${what} ${file}\n`);
  return 0;
}
