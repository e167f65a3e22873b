/**
 * What `sigguard install-node` changes on a containerd node, planned on an
 * overlay of the files (nothing is written until the whole plan holds):
 *
 * - every runtime handler of the EFFECTIVE configuration (config.toml merged
 *   with its imports, containerd-effective.ts) gets the hook in its base
 *   runtime spec: a handler with a spec has the hook spliced into that JSON
 *   (text-edit.ts); one without gets `<spec dir>/sigguard-base-<handler>.json`;
 * - the base_runtime_spec of handlers without one is set in sigguard's own
 *   drop-in, imported last from config.toml (one splice in `imports`); no
 *   other tool's file is touched. containerd 2.x merges plugin sections key by
 *   key, so the drop-in names only those keys. 1.x replaces the CRI plugin's
 *   section with a later file's: where that section is config.toml's own, one
 *   `base_runtime_spec` line goes under each such handler's table there;
 *   where it is another tool's drop-in, sigguard's drop-in carries a copy of
 *   the whole effective CRI section (and `--check` reports it stale when the
 *   file it was copied from changes);
 * - the plan is re-read through containerd's merge rules before anything is
 *   written: every handler must end up with a hooked base spec.
 *
 * The state records each splice, so uninstall puts back the original bytes.
 */
import { existsSync, mkdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { z } from '../zod.js';
import { ReasonCode, SigguardError } from '../errors.js';
import { uninstallHook } from './base-spec.js';
import {
  CRI_V2,
  type ConfigFs,
  DEFAULT_HANDLER,
  type Effective,
  type Semantics,
  type Table,
  diskFs,
  effective,
  isTable,
  loadOrder,
} from './containerd-effective.js';
import { HOOK_STAGE, type OciHook, isSigguardHook } from './hook-entry.js';
import { type TextEdit, addHookText, addImportText, setTableKeyText, undoEdit } from './text-edit.js';

const fail = (message: string) => new SigguardError(ReasonCode.CONFIG_INVALID, message);

const editSchema = z.strictObject({ offset: z.number().int().nonnegative(), removed: z.string(), inserted: z.string() });
export const stateSchema = z.strictObject({
  version: z.literal(2),
  containerdConfig: z.string(),
  semantics: z.enum(['1.x', '2.x']),
  /** sigguard's drop-in, when one was written. */
  dropIn: z.string().optional(),
  /** The splices made in config.toml, in order: the import of the drop-in, or (1.x, its CRI section there) base_runtime_spec lines. */
  configEdits: z.array(editSchema),
  specs: z.array(z.strictObject({ file: z.string(), handlers: z.array(z.string()), created: z.boolean(), edit: editSchema.optional() })),
});
export type InstallState = z.infer<typeof stateSchema>;

/** Files as they will be: the disk with pending writes (string) and removals (null) on top. */
export class Overlay implements ConfigFs {
  readonly changes = new Map<string, string | null>();
  constructor(private readonly base: ConfigFs = diskFs) {}
  read(path: string): string | undefined {
    if (this.changes.has(path)) return this.changes.get(path) ?? undefined;
    return this.base.read(path);
  }
  list(dir: string): string[] {
    const names = new Set(this.base.list(dir));
    for (const [p, v] of this.changes) {
      if (posix.dirname(p) !== dir) continue;
      if (v === null) names.delete(posix.basename(p));
      else names.add(posix.basename(p));
    }
    return [...names];
  }
  exists(path: string): boolean {
    if (this.changes.has(path)) return this.changes.get(path) !== null;
    return this.base.exists(path);
  }
  write(path: string, text: string): void {
    this.changes.set(path, text);
  }
  remove(path: string): void {
    this.changes.set(path, null);
  }
}

/** A view in which `path` reads as an empty file (sigguard's drop-in, to see the configuration without it). */
function without(fs: ConfigFs, path: string | undefined): ConfigFs {
  if (path === undefined) return fs;
  return { read: (p) => (p === path ? (fs.exists(p) ? '' : undefined) : fs.read(p)), list: (d) => fs.list(d), exists: (p) => fs.exists(p) };
}

/** Writes what the overlay holds: changed files atomically (mode kept), removals. */
export function flush(ov: Overlay): string[] {
  const written: string[] = [];
  for (const [path, text] of ov.changes) {
    if (text === null) {
      if (existsSync(path)) {
        rmSync(path, { force: true });
        written.push(path);
      }
      continue;
    }
    if (diskFs.read(path) === text) continue;
    // through a symlink (config.toml -> elsewhere): the link stays, its target changes
    const target = existsSync(path) ? realpathSync(path) : path;
    mkdirSync(dirname(target), { recursive: true });
    const tmp = `${target}.sigguard-tmp`;
    writeFileSync(tmp, text, { mode: existsSync(target) ? statSync(target).mode & 0o777 : 0o644 });
    renameSync(tmp, target);
    written.push(path);
  }
  return written;
}

export const specFileFor = (specDir: string, handler: string) =>
  `${specDir.replace(/\/+$/, '')}/sigguard-base-${handler.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`;

const q = (s: string) => JSON.stringify(s);

const DROP_IN_HEAD = `# Written by \`sigguard install-node\`, removed by \`sigguard install-node --uninstall\`: do not edit.
# The base runtime spec (with sigguard's hook) of the runtime handlers that had none.
`;

/** sigguard's drop-in for `eff` (the configuration without it): base specs for `needing`. */
export function renderDropIn(eff: Effective, needing: Array<{ name: string; specFile: string; legacyTable?: string }>): string {
  if (eff.semantics === '2.x') {
    const base = ['plugins', ...eff.runtimesPath].map(q).join('.');
    const tables = needing.map((h) => `[${base}.${q(h.name)}]\n  base_runtime_spec = ${q(h.specFile)}\n`);
    return `${DROP_IN_HEAD}\nversion = ${eff.version}\n\n${tables.join('\n')}`;
  }
  const section = structuredClone(isTable(eff.plugins[CRI_V2]) ? (eff.plugins[CRI_V2] as Table) : {});
  if (!isTable(section.containerd)) section.containerd = {};
  const ctr = section.containerd as Table;
  for (const h of needing) {
    if (h.legacyTable) {
      (ctr[h.legacyTable] as Table).base_runtime_spec = h.specFile;
      continue;
    }
    if (!isTable(ctr.runtimes)) ctr.runtimes = {};
    const runtimes = ctr.runtimes as Table;
    if (runtimes[h.name] === undefined) runtimes[h.name] = { runtime_type: 'io.containerd.runc.v2' }; // 1.x's implicit runc
    (runtimes[h.name] as Table).base_runtime_spec = h.specFile;
  }
  const from = eff.criSource ? `a copy of the CRI plugin's section of ${eff.criSource}` : "the CRI plugin's defaults";
  return `${DROP_IN_HEAD}# containerd 1.x replaces a plugin's whole section with a later file's: this is ${from}
# with those base specs added. Change that file, then run \`sigguard install-node\` again.

version = ${eff.version || 2}

${stringifyToml({ plugins: { [CRI_V2]: section } })}\n`;
}

export interface PlanOptions {
  config: string;
  semantics: Semantics;
  dropIn: string;
  specDir: string;
  entry: OciHook;
  /** A fresh base spec (`ctr oci spec`) for a handler without one. */
  defaultSpec: (handler: string) => string;
}

/** Plans an install onto `ov` (which already has any previous install taken back). */
export function planInstall(ov: Overlay, o: PlanOptions): { state: InstallState; eff: Effective } {
  const eff0 = effective(loadOrder(o.config, without(ov, o.dropIn)), o.semantics);
  const specOf = new Map<string, string>();
  for (const h of eff0.handlers) specOf.set(h.name, h.baseSpec ?? specFileFor(o.specDir, h.name));
  const needing = eff0.handlers
    .filter((h) => h.baseSpec === undefined)
    .map((h) => ({ name: h.name, specFile: specOf.get(h.name)!, ...(h.legacyTable ? { legacyTable: h.legacyTable } : {}) }));

  const configEdits: TextEdit[] = [];
  let dropIn = false;
  // 1.x with the CRI section in config.toml itself (or nowhere): a drop-in would have to copy and
  // shadow it, so the base_runtime_spec lines go under the handlers' own tables there
  const inMain =
    o.semantics === '1.x' && needing.length > 0 && (eff0.criSource === undefined || eff0.criSource === o.config)
      ? mainEdits(ov.read(o.config)!, needing)
      : undefined;
  if (inMain) {
    ov.write(o.config, inMain.text);
    configEdits.push(...inMain.edits);
  } else if (needing.length > 0) {
    dropIn = true;
    ov.write(o.dropIn, renderDropIn(eff0, needing));
    if (!loadOrder(o.config, ov).some((f) => f.path === o.dropIn)) {
      const r = addImportText(ov.read(o.config)!, o.dropIn);
      ov.write(o.config, r.text);
      configEdits.push(r.edit);
    }
  }

  const eff1 = effective(loadOrder(o.config, ov), o.semantics);
  const names0 = eff0.handlers.map((h) => h.name).join(',');
  const names1 = eff1.handlers.map((h) => h.name).join(',');
  if (names0 !== names1)
    throw fail(`sigguard's drop-in ${o.dropIn} would change the runtime handlers (${names0} -> ${names1}); not installed`);
  for (const h of eff1.handlers) {
    if (h.baseSpec !== specOf.get(h.name)) {
      throw fail(
        `cannot guard runtime handler ${h.name}: with sigguard's drop-in ${o.dropIn} its base spec would be ${h.baseSpec ?? 'none'}` +
          (o.semantics === '1.x' && eff1.criSource !== o.dropIn
            ? ` (${eff1.criSource} loads after the drop-in and replaces the CRI section)`
            : ''),
      );
    }
  }

  const specs: InstallState['specs'] = [];
  for (const file of new Set(specOf.values())) {
    const handlers = [...specOf].filter(([, f]) => f === file).map(([n]) => n);
    let text = ov.read(file);
    const created = text === undefined;
    if (text === undefined) text = o.defaultSpec(handlers[0]!);
    let r: ReturnType<typeof addHookText>;
    try {
      r = addHookText(text, HOOK_STAGE, o.entry);
    } catch (err) {
      throw fail(`base spec ${file} (runtime handler ${handlers.join(', ')}): ${(err as Error).message}`);
    }
    ov.write(file, r.text);
    specs.push({ file, handlers, created, ...(r.edit && !created ? { edit: r.edit } : {}) });
  }
  const state: InstallState = {
    version: 2,
    containerdConfig: o.config,
    semantics: o.semantics,
    ...(dropIn ? { dropIn: o.dropIn } : {}),
    configEdits,
    specs,
  };
  return { state, eff: eff1 };
}

/** Takes a recorded install back on `ov`; what cannot be spliced back exactly is said through `warn`. */
export function planUninstall(ov: Overlay, state: InstallState, warn: (m: string) => void): void {
  for (const s of state.specs) {
    const text = ov.read(s.file);
    if (text === undefined) continue;
    if (s.created) {
      ov.remove(s.file);
      continue;
    }
    if (!s.edit) continue;
    const back = undoEdit(text, s.edit);
    if (back !== undefined) {
      ov.write(s.file, back);
      continue;
    }
    // changed since install around sigguard's entry: take the entry out, re-serialising
    try {
      const out = uninstallHook(JSON.parse(text) as Record<string, unknown>);
      if (out.changed) {
        ov.write(s.file, `${JSON.stringify(out.spec, null, 2)}\n`);
        warn(`${s.file} changed since install: sigguard's hook taken out, the file re-serialised`);
      }
    } catch {
      warn(`${s.file} is no longer JSON: left as it is`);
    }
  }
  if (state.dropIn) ov.remove(state.dropIn);
  for (const e of [...state.configEdits].reverse()) {
    const text = ov.read(state.containerdConfig);
    const back = text === undefined ? undefined : undoEdit(text, e);
    if (back !== undefined) ov.write(state.containerdConfig, back);
    else warn(`${state.containerdConfig} no longer has ${JSON.stringify(e.inserted.trim())} as install left it: left as it is`);
  }
}

/** 1.x, CRI section in config.toml: base_runtime_spec set under each handler's table there (undefined: not possible textually). */
function mainEdits(
  text: string,
  needing: Array<{ name: string; specFile: string; legacyTable?: string }>,
): { text: string; edits: TextEdit[] } | undefined {
  const edits: TextEdit[] = [];
  for (const h of needing) {
    const table = ['plugins', CRI_V2, 'containerd', ...(h.legacyTable ? [h.legacyTable] : ['runtimes', h.name])];
    const r = setTableKeyText(text, table, 'base_runtime_spec', h.specFile, { runtime_type: 'io.containerd.runc.v2' }); // created: 1.x's implicit runc
    if (!r) return undefined;
    text = r.text;
    edits.push(r.edit);
  }
  return { text, edits };
}

export interface HandlerCheck {
  name: string;
  guarded: boolean;
  why?: string;
  baseSpec?: string;
  definedIn: string[];
}

/** Whether the base spec at `file` runs sigguard at its stage. */
function hooked(fs: ConfigFs, file: string): string | undefined {
  const text = fs.read(file);
  if (text === undefined) return `its base spec ${file} does not exist`;
  try {
    const spec = JSON.parse(text) as { hooks?: Record<string, unknown> };
    const list = spec.hooks?.[HOOK_STAGE];
    if (Array.isArray(list) && list.some(isSigguardHook)) return undefined;
    return `its base spec ${file} has no sigguard hook at ${HOOK_STAGE}`;
  } catch {
    return `its base spec ${file} is not JSON`;
  }
}

/** `install-node --check`: every handler of the effective configuration, guarded or why not; and a stale 1.x drop-in. */
export function checkNode(
  fs: ConfigFs,
  config: string,
  semantics: Semantics,
  dropIn: string | undefined,
): { handlers: HandlerCheck[]; stale?: string } {
  const eff = effective(loadOrder(config, fs), semantics);
  const handlers = eff.handlers.map((h): HandlerCheck => {
    const why = h.baseSpec === undefined ? 'it has no base_runtime_spec' : hooked(fs, h.baseSpec);
    return {
      name: h.name,
      guarded: why === undefined,
      ...(why ? { why } : {}),
      ...(h.baseSpec ? { baseSpec: h.baseSpec } : {}),
      definedIn: h.definedIn,
    };
  });
  let stale: string | undefined;
  if (semantics === '1.x' && dropIn && eff.files.some((f) => f.path === dropIn)) {
    const eff0 = effective(loadOrder(config, without(fs, dropIn)), semantics);
    const mine = eff.files.find((f) => f.path === dropIn)!.config;
    const section = (isTable(mine.plugins) && isTable(mine.plugins[CRI_V2]) ? mine.plugins[CRI_V2] : undefined) as Table | undefined;
    if (section && !sameAsCopied(section, eff0)) {
      stale = `sigguard's drop-in ${dropIn} holds a copy of the CRI plugin's section that differs from ${eff0.criSource ?? 'the defaults'} now (containerd 1.x uses the drop-in's): run install-node again`;
    }
  }
  return { handlers, ...(stale ? { stale } : {}) };
}

/** A 1.x drop-in's CRI section, less what sigguard added, against the section it was copied from. */
function sameAsCopied(section: Table, eff0: Effective): boolean {
  const copy = structuredClone(section);
  const runtimes = ((copy.containerd as Table | undefined)?.runtimes ?? {}) as Table;
  for (const h of eff0.handlers) {
    const r = h.legacyTable ? (copy.containerd as Table | undefined)?.[h.legacyTable] : runtimes[h.name];
    if (!isTable(r) || h.baseSpec !== undefined) continue;
    const origCtr0 = (eff0.plugins[CRI_V2] as Table | undefined)?.containerd as Table | undefined;
    const was = h.legacyTable ? origCtr0?.[h.legacyTable] : (origCtr0?.runtimes as Table | undefined)?.[h.name];
    if (isTable(was) && 'base_runtime_spec' in was)
      r.base_runtime_spec = was.base_runtime_spec; // an empty one
    else delete r.base_runtime_spec;
    if (h.implicit && h.name === DEFAULT_HANDLER && Object.keys(r).length === 1 && r.runtime_type === 'io.containerd.runc.v2')
      delete runtimes[h.name];
  }
  const ctr = copy.containerd as Table | undefined;
  const origCtr = (eff0.plugins[CRI_V2] as Table | undefined)?.containerd;
  if (ctr && Object.keys(runtimes).length === 0 && !(isTable(origCtr) && 'runtimes' in origCtr)) delete ctr.runtimes;
  if (ctr && Object.keys(ctr).length === 0 && !isTable((eff0.plugins[CRI_V2] as Table | undefined)?.containerd)) delete copy.containerd;
  const orig = isTable(eff0.plugins[CRI_V2]) ? eff0.plugins[CRI_V2] : {};
  return JSON.stringify(sortKeys(copy)) === JSON.stringify(sortKeys(orig));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isTable(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}
