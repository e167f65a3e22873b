/**
 * Command-line parsing on node:util's parseArgs, with usage errors as SigguardErrors.
 *
 * The plain shapes a hook start is given (`--flag value`, `--flag=value`, `--switch`, positionals)
 * are read here without it: node:util's parseArgs loads its module and runs cold on its first
 * call, ~0.5 ms of every container start (issue 15). Anything else (short flags, `--`, an unknown
 * or repeated-list option, a value that looks like a flag, a missing value) goes to parseArgs, so
 * its result and its errors are parseArgs's; test/unit/args.test.ts compares the two (fast-check).
 */
import type { ParseArgsConfig } from 'node:util';
import { ReasonCode, SigguardError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<T extends Options> = ReturnType<typeof import('node:util').parseArgs<{ options: T; allowPositionals: true; strict: true }>>;

/** parseArgs's reading of `argv`, when it is of the plain shapes above; undefined otherwise. */
export function plainParse(
  argv: readonly string[],
  options: Options,
): { values: Record<string, string | boolean>; positionals: string[] } | undefined {
  for (const o of Object.values(options)) if (o.short !== undefined || o.multiple === true || o.default !== undefined) return undefined;
  const values: Record<string, string | boolean> = Object.create(null);
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') return undefined;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!Object.hasOwn(options, name)) return undefined;
    const type = options[name]!.type;
    if (type === 'boolean') {
      if (eq >= 0) return undefined;
      values[name] = true;
    } else if (eq >= 0) {
      values[name] = arg.slice(eq + 1);
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('-')) return undefined;
      values[name] = value;
      i++;
    }
  }
  return { values, positionals };
}

export function parse<T extends Options>(argv: string[], options: T, command: string): Parsed<T> {
  const plain = plainParse(argv, options);
  if (plain !== undefined) return plain as unknown as Parsed<T>;
  try {
    return process.getBuiltinModule('node:util').parseArgs({ args: argv, options, allowPositionals: true, strict: true });
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
