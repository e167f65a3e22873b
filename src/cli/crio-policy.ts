/**
 * `sigguard crio-policy --policy FILE --out DIR [--containers-image-version X.Y]
 *  [--hook-fallback] [--target-dir DIR] [--key-dir DIR]`: the CRI-O files for a
 * sigguard policy (src/crio/generate.ts), written to DIR. Warnings go to
 * stderr, one line each.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { generateCrioFiles } from '../crio/generate.js';
import { readPolicyInput } from '../crio/input.js';
import { NODE, OUT, OUT_ENTRIES } from '../crio/layout.js';
import { type ExistingFile, type TargetCheck, checkTargetDir } from '../crio/registries-d.js';
import { NEWEST_KNOWN, formatVersion, parseVersion } from '../crio/versions.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { compilePolicy } from '../policy/compile.js';
import { parse } from '../args.js';
import { DEFAULT_PATHS } from '../defaults.js';

/** The other *.yaml files of a node's registries.d folder (containers/image reads only `.yaml`). */
function readRegistriesD(dir: string): ExistingFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return [];
    throw new SigguardError(ReasonCode.CONFIG_INVALID, `cannot read --target-dir ${dir}: ${e.code ?? e.message}`);
  }
  const ours = OUT.registriesD.split('/').pop();
  return names
    .filter((n) => n.endsWith('.yaml') && n !== ours)
    .sort()
    .map((n) => {
      const path = join(dir, n);
      try {
        return { path, text: readFileSync(path, 'utf8') };
      } catch (err) {
        throw new SigguardError(
          ReasonCode.CONFIG_INVALID,
          `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    });
}

/** Replaces the generator's own entries in `out`; refuses a folder holding anything else. */
function writeOut(out: string, files: ReadonlyMap<string, string>): void {
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new SigguardError(ReasonCode.USAGE, `--out ${out} is not a folder`);
    const entries = readdirSync(out);
    const foreign = entries.filter((e) => !(OUT_ENTRIES as readonly string[]).includes(e));
    if (foreign.length > 0) {
      throw new SigguardError(
        ReasonCode.USAGE,
        `--out ${out} holds files sigguard did not write (${foreign.sort().join(', ')}): give an empty or new folder`,
      );
    }
    // Stale files must go: an old policies/<namespace>.json would keep exempting a namespace.
    for (const e of entries) rmSync(join(out, e), { recursive: true, force: true });
  }
  mkdirSync(join(out, OUT.namespacePolicies), { recursive: true });
  for (const [name, text] of files) {
    mkdirSync(dirname(join(out, name)), { recursive: true });
    writeFileSync(join(out, name), text, { mode: 0o644 });
  }
}

export function runCrioPolicy(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    {
      policy: { type: 'string' },
      out: { type: 'string' },
      'containers-image-version': { type: 'string' },
      'hook-fallback': { type: 'boolean' },
      'target-dir': { type: 'string' },
      'key-dir': { type: 'string' },
    },
    'crio-policy',
  );
  if (positionals.length > 0)
    throw new SigguardError(ReasonCode.USAGE, `crio-policy takes no positional arguments (got "${positionals[0]}")`);
  if (values.out === undefined) throw new SigguardError(ReasonCode.USAGE, 'crio-policy needs --out DIR (see sigguard help)');
  const keyDir = values['key-dir'];
  if (keyDir !== undefined && !isAbsolute(keyDir)) {
    throw new SigguardError(
      ReasonCode.USAGE,
      `--key-dir takes the absolute folder the policy's relative key paths are in on the node, not "${keyDir}"`,
    );
  }
  const target = values['containers-image-version'] !== undefined ? parseVersion(values['containers-image-version']) : NEWEST_KNOWN;
  const file = values.policy ?? DEFAULT_PATHS.policy;

  const { doc, input } = readPolicyInput(file);
  // Every key must read and parse, as `policy validate` checks: containers/image reads keys only at pull time.
  compilePolicy(doc, file);
  const result = generateCrioFiles(input, {
    source: file,
    keyBase: keyDir ?? dirname(resolve(file)),
    target,
    hookFallback: values['hook-fallback'] === true,
  });

  const warnings = [...result.warnings, ...result.handedToHook.map((h) => `${h.where}: ${h.why}`)];
  if (values['target-dir'] !== undefined) {
    let check: TargetCheck;
    try {
      check = checkTargetDir(result.sigstoreScopes, readRegistriesD(values['target-dir']));
    } catch (err) {
      if (err instanceof SigguardError) throw err;
      throw new SigguardError(ReasonCode.CONFIG_INVALID, (err as Error).message);
    }
    if (check.clashes.length > 0) {
      throw new SigguardError(
        ReasonCode.CONFIG_INVALID,
        check.clashes
          .map((c) => `registries.d key "${c.key}" is already defined in ${c.file} and would be defined again in ${NODE.registriesD}`)
          .join('; ') +
          ': a key may appear in only one file of registries.d, and containers/image refuses the whole folder otherwise (move that entry out of the other file)',
      );
    }
    warnings.push(...check.warnings);
  }

  writeOut(values.out, result.files);
  for (const w of warnings) process.stderr.write(`sigguard: warning: ${w}\n`);
  const namespaces = [...result.files.keys()].filter((n) => n.startsWith(`${OUT.namespacePolicies}/`)).length;
  process.stdout.write(
    `wrote ${values.out} for containers/image ${formatVersion(result.target)}: ${OUT.policyJson}, ${OUT.registriesD} (${result.sigstoreScopes.length} scopes verified), ` +
      `${namespaces} namespace policies, ${OUT.crioConf}, ${OUT.hooksD}${result.handedToHook.length > 0 ? `; ${result.handedToHook.length} rules left to the hook (see ${OUT.notes})` : ''}\n`,
  );
  return 0;
}
