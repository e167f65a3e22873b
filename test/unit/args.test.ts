/**
 * src/args.ts reads the plain shapes of a command line itself (a hook start's flags) and leaves
 * every other to node:util's parseArgs: for any argv, parse() gives parseArgs's values and
 * positionals, or its error as a USAGE SigguardError (fast-check over flags of both kinds, `=`
 * forms, values that look like flags, `--`, short flags, unknown names, `__proto__`, missing values).
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, plainParse } from '../../src/args.js';
import { ReasonCode, SigguardError, oneLine } from '../../src/errors.js';

const HOOK = { config: { type: 'string' }, policy: { type: 'string' }, log: { type: 'string' }, deadline: { type: 'string' } } as const;
const CHECK = { ...HOOK, json: { type: 'boolean' }, explain: { type: 'boolean' } } as const;
const WITH_SHORT = { ...HOOK, verbose: { type: 'boolean', short: 'v' } } as const;

function viaNode(argv: string[], options: object): unknown {
  try {
    const r = parseArgs({ args: argv, options: options as never, allowPositionals: true, strict: true });
    return { values: { ...(r.values as object) }, positionals: r.positionals };
  } catch (err) {
    // as the usage error says it: on one line
    return { error: oneLine(`x: ${(err as Error).message} (see sigguard help)`) };
  }
}

function viaOurs(argv: string[], options: object): unknown {
  try {
    const r = parse(argv, options as never, 'x');
    return { values: { ...(r.values as object) }, positionals: r.positionals };
  } catch (err) {
    expect(err).toBeInstanceOf(SigguardError);
    expect((err as SigguardError).code).toBe(ReasonCode.USAGE);
    return { error: (err as Error).message };
  }
}

const token = fc.constantFrom(
  '--config',
  '--policy',
  '--log',
  '--deadline',
  '--json',
  '--explain',
  '--config=/etc/x.yaml',
  '--json=true',
  '--policy=',
  '--nope',
  '--__proto__',
  '--constructor',
  '--',
  '-',
  '-v',
  '-x',
  '--verbose',
  '/etc/sigguard/policy.yaml',
  'registry.example/app:v1',
  '-5',
  '--=x',
  'a=b',
);

describe('parse: parseArgs’s result, read without it for the plain shapes', () => {
  it('a hook’s command line is read without parseArgs, as parseArgs reads it', () => {
    const argv = ['--config', '/etc/sigguard/config.yaml', '--policy', '/etc/sigguard/policy.yaml', '--log=/var/log/sigguard.log'];
    expect(plainParse(argv, HOOK)).toBeDefined();
    expect(viaOurs(argv, HOOK)).toEqual(viaNode(argv, HOOK));
  });

  it('the same values, positionals or error as parseArgs for any argv (fast-check)', () => {
    for (const options of [HOOK, CHECK, WITH_SHORT]) {
      fc.assert(
        fc.property(fc.array(token, { maxLength: 8 }), (argv) => {
          expect(viaOurs(argv, options)).toEqual(viaNode(argv, options));
        }),
        { numRuns: 3000 },
      );
    }
  });

  it('leaves to parseArgs what it does not read itself', () => {
    for (const argv of [
      ['--config'],
      ['--config', '--policy', 'x'],
      ['--', 'a'],
      ['-v'],
      ['--json=true'],
      ['--nope', 'x'],
      ['--__proto__', 'x'],
    ]) {
      expect(plainParse(argv, CHECK), JSON.stringify(argv)).toBeUndefined();
    }
    // options with a short name, a default or several values: parseArgs reads them all
    expect(plainParse(['--config', 'a'], WITH_SHORT)).toBeUndefined();
  });
});
