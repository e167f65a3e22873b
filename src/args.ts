/** Command-line parsing on node:util's parseArgs, with usage errors as SigguardErrors. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ReasonCode, SigguardError } from './errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SigguardError(ReasonCode.USAGE, `${command}: ${(err as Error).message} (see sigguard help)`);
  }
}

export function parseSeconds(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600)
    throw new SigguardError(ReasonCode.USAGE, `${flag} takes a number of seconds between 0 and 3600, not "${value}"`);
  return n;
}
