/**
 * `sigguard install-node --containerd-config FILE [--uninstall] [--spec-dir DIR]
 *   [--state FILE] [--path BIN] [--ctr CTR] [-- hook flags]`
 *
 * Puts the hook into the base runtime spec of every runtime handler
 * containerd has (giving one to a handler without), records what it changed
 * in a state file, and on --uninstall takes back exactly that. Restarting
 * containerd is the caller's (install/install.sh).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { installHook, uninstallHook } from '../installer/base-spec.js';
import { type HandlerRecord, configVersion, handlers, planInstall, planUninstall } from '../installer/containerd-config.js';
import { HOOK_STAGE, hookEntry } from '../installer/hook-entry.js';
import { parse } from './args.js';

export const DEFAULT_STATE = '/etc/sigguard/installed.json';

const stateSchema = z.strictObject({
  containerdConfig: z.string(),
  records: z.array(
    z.strictObject({ handler: z.string(), specFile: z.string(), createdSpec: z.boolean(), setBaseSpec: z.boolean(), createdHandler: z.boolean() }),
  ),
});

function fail(message: string): SigguardError {
  return new SigguardError(ReasonCode.CONFIG_INVALID, message);
}

function atomicWrite(file: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.sigguard-tmp`;
  writeFileSync(tmp, text, { mode: existsSync(file) ? statSync(file).mode & 0o777 : mode });
  renameSync(tmp, file);
}

function readToml(file: string): Record<string, unknown> {
  try {
    return parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw fail(`cannot read containerd config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readSpec(file: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw fail(`cannot read base spec ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A default OCI spec for a handler that has none, from containerd's own `ctr oci spec`. */
function defaultSpec(ctr: string, handler: string): string {
  const r = spawnSync(ctr, ['oci', 'spec'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout.trim().startsWith('{')) {
    throw fail(`cannot make a base spec for runtime handler ${handler}: "${ctr} oci spec" failed (${r.error?.message ?? r.stderr.trim().split('\n')[0] ?? r.status})`);
  }
  return r.stdout;
}

function readState(file: string): z.infer<typeof stateSchema> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return stateSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    throw fail(`install state ${file} is unreadable; remove it or reinstall`);
  }
}

/** A re-install keeps what the first install created, so uninstall still removes it. */
function merge(old: HandlerRecord[] | undefined, now: HandlerRecord[]): HandlerRecord[] {
  return now.map((r) => {
    const o = old?.find((x) => x.handler === r.handler && x.specFile === r.specFile);
    return o ? { ...r, createdSpec: r.createdSpec || o.createdSpec, setBaseSpec: r.setBaseSpec || o.setBaseSpec, createdHandler: r.createdHandler || o.createdHandler } : r;
  });
}

export function runInstallNode(argv: string[]): number {
  const { values, positionals } = parse(
    argv,
    {
      'containerd-config': { type: 'string' },
      'spec-dir': { type: 'string' },
      state: { type: 'string' },
      path: { type: 'string' },
      ctr: { type: 'string' },
      uninstall: { type: 'boolean' },
    },
    'install-node',
  );
  const file = values['containerd-config'];
  if (!file) throw new SigguardError(ReasonCode.USAGE, 'install-node needs --containerd-config FILE');
  const stateFile = values.state ?? DEFAULT_STATE;
  const cfg = readToml(file);
  configVersion(cfg, file);

  if (values.uninstall) {
    const state = readState(stateFile);
    const records = state?.records ?? handlers(cfg, configVersion(cfg, file)).flatMap((h) => (h.baseSpec ? [{ handler: h.name, specFile: h.baseSpec, createdSpec: false, setBaseSpec: false, createdHandler: false }] : []));
    for (const r of records) {
      if (!existsSync(r.specFile)) continue;
      if (r.createdSpec) {
        rmSync(r.specFile, { force: true });
        continue;
      }
      const out = uninstallHook(readSpec(r.specFile));
      if (out.changed) atomicWrite(r.specFile, `${JSON.stringify(out.spec, null, 2)}\n`);
    }
    const plan = planUninstall(cfg, file, records);
    if (plan.changed) atomicWrite(file, `${stringifyToml(plan.config)}\n`);
    rmSync(stateFile, { force: true });
    process.stdout.write(`sigguard hook removed from ${records.length} runtime handler${records.length === 1 ? '' : 's'} of ${file}; restart containerd\n`);
    return 0;
  }

  const plan = planInstall(cfg, file, values['spec-dir'] ?? dirname(file), (p) => existsSync(p));
  const entry = hookEntry(values.path, positionals);
  for (const r of plan.records) {
    if (!existsSync(r.specFile)) atomicWrite(r.specFile, defaultSpec(values.ctr ?? 'ctr', r.handler));
    const out = installHook(readSpec(r.specFile), HOOK_STAGE, entry);
    if (out.changed) atomicWrite(r.specFile, `${JSON.stringify(out.spec, null, 2)}\n`);
  }
  if (plan.changed) atomicWrite(file, `${stringifyToml(plan.config)}\n`);
  const records = merge(readState(stateFile)?.records, plan.records);
  atomicWrite(stateFile, `${JSON.stringify({ containerdConfig: file, records }, null, 2)}\n`, 0o600);
  const list = records.map((r) => `${r.handler}: ${r.specFile}`).join(', ');
  process.stdout.write(`sigguard hook in ${records.length} runtime handler${records.length === 1 ? '' : 's'} of ${file} (${list}); restart containerd\n`);
  return 0;
}
