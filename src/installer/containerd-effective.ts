/**
 * The configuration containerd actually loads: its main file merged with the
 * files `imports` names, by containerd's own rules, and the CRI runtime
 * handlers that result. Facts from containerd's source
 * (cmd/containerd/server/config/config.go — LoadConfig, resolveImports,
 * mergeConfig — in 1.7 services/server/config/config.go; the CRI runtime
 * plugin's config migration in 2.x), checked against `containerd config dump`
 * of 1.7 and 2.1 in test/integration/install-node.test.ts:
 *
 * - Load order: the main file, then breadth first the files each loaded file
 *   imports, in the order listed. A file already loaded is skipped (circular
 *   imports). An import is cleaned; a relative one is joined to the directory
 *   of the file importing it; one containing `*` is a glob (Go's
 *   filepath.Glob: sorted, `*` also matches a leading dot), any other is taken
 *   as it is — a missing one fails containerd's start.
 * - containerd 1.x: each plugin's section is REPLACED by the section of a later
 *   file that has one ("Replace entire sections instead of merging map's
 *   values"): a drop-in defining one runtime handler drops every other
 *   setting of the CRI plugin. Without a `containerd.runtimes` table the CRI
 *   plugin's default has one handler, `runc`; the deprecated tables
 *   `containerd.untrusted_workload_runtime` and `containerd.default_runtime`
 *   (with a runtime_type) are the handlers `untrusted` and `default`.
 * - containerd 2.x: plugin sections are merged deeply, a later file's value
 *   replacing an earlier one (tables merged key by key; arrays, strings — even
 *   empty ones — replaced). A file without a version (or version 1) has its
 *   plugins' short names migrated. `runc` (the CRI plugin's default) always
 *   exists, whatever else is configured. When the merged version is 2, the CRI
 *   plugin's migration takes `io.containerd.grpc.v1.cri`'s `containerd` keys
 *   that `io.containerd.cri.v1.runtime`'s `containerd` table lacks.
 * - The merged `version` is the last non-zero one.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ReasonCode, SigguardError } from '../errors.js';

export type Table = Record<string, unknown>;
/** How containerd merges: 1.x (plugin sections replaced) or 2.x (deep merge). */
export type Semantics = '1.x' | '2.x';

export const CRI_V2 = 'io.containerd.grpc.v1.cri';
export const CRI_V3 = 'io.containerd.cri.v1.runtime';
export const DEFAULT_HANDLER = 'runc';

export const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

const fail = (message: string) => new SigguardError(ReasonCode.CONFIG_INVALID, message);

/** Where the files come from: the disk, or (tests, plans) an overlay. `undefined`: no such file. */
export interface ConfigFs {
  read(path: string): string | undefined;
  /** The names in a directory (any order), or [] when it cannot be read. */
  list(dir: string): string[];
  exists(path: string): boolean;
}

export const diskFs: ConfigFs = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fail(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  },
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  exists: (path) => existsSync(path),
};

/** Go's filepath.Clean for slash paths. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** One path element against a Go filepath.Match pattern element (`*`, `?`, `[...]`, `\` escapes). */
function elementRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw fail(`bad glob pattern in imports: ${pattern}`);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\]\\^]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 's');
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const hasMeta = (s: string) => /[*?[\\]/.test(s);

/** filepath.Glob: matches sorted within each directory, directories in order. */
export function goGlob(pattern: string, fs: ConfigFs): string[] {
  const parts = pattern.split('/');
  let found = [parts[0] === '' ? '/' : parts[0]!];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const next: string[] = [];
    for (const dir of found) {
      if (!hasMeta(part)) {
        next.push(posix.join(dir, part));
        continue;
      }
      const re = elementRegex(part);
      for (const name of [...fs.list(dir)].sort()) if (re.test(name)) next.push(posix.join(dir, name));
    }
    found = next;
  }
  // a literal last element must exist to match
  return found.filter((p) => fs.exists(p));
}

export function resolveImports(parent: string, imports: string[], fs: ConfigFs): string[] {
  const out: string[] = [];
  for (const raw of imports) {
    let path = goClean(raw);
    if (!path.startsWith('/')) path = posix.join(posix.dirname(parent), path);
    if (path.includes('*')) out.push(...goGlob(path, fs));
    else out.push(path);
  }
  return out;
}

export interface LoadedFile {
  path: string;
  /** Who imported it (undefined: the main file). */
  importedBy?: string;
  config: Table;
  /** `version` as written (0: none). */
  version: number;
}

export function parseConfig(text: string, path: string): Table {
  try {
    return parseToml(text) as Table;
  } catch (err) {
    throw fail(`containerd config ${path} is not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** The files containerd loads, in the order it merges them. */
export function loadOrder(main: string, fs: ConfigFs = diskFs): LoadedFile[] {
  const loaded = new Set<string>();
  const pending: Array<{ path: string; importedBy?: string }> = [{ path: main }];
  const out: LoadedFile[] = [];
  while (pending.length > 0) {
    const { path, importedBy } = pending.shift()!;
    if (loaded.has(path)) continue;
    const text = fs.read(path);
    if (text === undefined) {
      throw fail(
        importedBy
          ? `${path}, imported by ${importedBy}, does not exist (containerd would not start)`
          : `containerd config ${path} does not exist`,
      );
    }
    const config = parseConfig(text, path);
    const imports = config.imports ?? [];
    if (!Array.isArray(imports) || imports.some((i) => typeof i !== 'string')) throw fail(`${path}: imports must be a list of paths`);
    const version = config.version ?? 0;
    if (typeof version !== 'number' || !Number.isInteger(version)) throw fail(`${path}: version must be a number`);
    out.push({ path, ...(importedBy ? { importedBy } : {}), config, version });
    loaded.add(path);
    for (const p of resolveImports(path, imports as string[], fs)) pending.push({ path: p, importedBy: path });
    if (out.length > 1000) throw fail(`${main}: more than 1000 imported files`);
  }
  return out;
}

/** containerd 2.x's v1 plugin-name migration (names without a dot). */
function v1PluginName(name: string): string {
  if (name.includes('.')) return name;
  const core: Record<string, string> = {
    cri: 'io.containerd.grpc.v1.cri',
    cgroups: 'io.containerd.monitor.v1.cgroups',
    linux: 'io.containerd.runtime.v1.linux',
    scheduler: 'io.containerd.gc.v1.scheduler',
    bolt: 'io.containerd.metadata.v1.bolt',
    task: 'io.containerd.runtime.v2.task',
    opt: 'io.containerd.internal.v1.opt',
    restart: 'io.containerd.internal.v1.restart',
    tracing: 'io.containerd.internal.v1.tracing',
    otlp: 'io.containerd.tracing.processor.v1.otlp',
    aufs: 'io.containerd.snapshotter.v1.aufs',
    btrfs: 'io.containerd.snapshotter.v1.btrfs',
    devmapper: 'io.containerd.snapshotter.v1.devmapper',
    native: 'io.containerd.snapshotter.v1.native',
    overlayfs: 'io.containerd.snapshotter.v1.overlayfs',
    zfs: 'io.containerd.snapshotter.v1.zfs',
  };
  if (core[name]) return core[name]!;
  if (name.endsWith('-service')) return `io.containerd.service.v1.${name}`;
  if (name === 'windows' || name === 'windows-lcow') return `io.containerd.snapshotter.v1.${name}`;
  return `io.containerd.grpc.v1.${name}`;
}

/** 2.x: tables merged key by key, anything else replaced by the later value. */
export function deepMerge(to: Table, from: Table): Table {
  const out: Table = { ...to };
  for (const [k, v] of Object.entries(from)) {
    const cur = out[k];
    out[k] = isTable(cur) && isTable(v) ? deepMerge(cur, v) : structuredClone(v);
  }
  return out;
}

export interface Handler {
  name: string;
  /** The effective base_runtime_spec ('' counts as none). */
  baseSpec?: string;
  /** containerd's default handler, present without being configured (or only partly). */
  implicit: boolean;
  /** The files that say something about this handler. */
  definedIn: string[];
  /** 1.x's deprecated `containerd.untrusted_workload_runtime` / `containerd.default_runtime` table it comes from. */
  legacyTable?: 'untrusted_workload_runtime' | 'default_runtime';
}

export interface Effective {
  semantics: Semantics;
  files: LoadedFile[];
  version: number;
  /** The merged plugins table. */
  plugins: Table;
  /** Where the handlers containerd uses are, as a key path under `plugins`. */
  runtimesPath: string[];
  /** 1.x: the file whose CRI section is the one containerd uses (undefined: none has one). */
  criSource?: string;
  handlers: Handler[];
}

function at(t: unknown, path: string[]): unknown {
  let cur = t;
  for (const k of path) {
    if (!isTable(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** Merges the loaded files as containerd `semantics` does and lists the runtime handlers. */
export function effective(files: LoadedFile[], semantics: Semantics): Effective {
  let plugins: Table = {};
  let version = semantics === '2.x' ? 3 : 0;
  const criSources: Record<string, string> = {};
  const perFile: Array<{ path: string; plugins: Table }> = [];
  for (const f of files) {
    let fp = isTable(f.config.plugins) ? f.config.plugins : {};
    let v = f.version;
    if (semantics === '2.x' && (v === 0 || v === 1)) {
      fp = Object.fromEntries(Object.entries(fp).map(([k, val]) => [v1PluginName(k), val]));
      v = version;
    }
    if (v !== 0) version = v;
    perFile.push({ path: f.path, plugins: fp });
    if (semantics === '1.x') {
      plugins = { ...plugins };
      for (const [k, val] of Object.entries(fp)) {
        plugins[k] = structuredClone(val);
        criSources[k] = f.path;
      }
    } else plugins = deepMerge(plugins, fp);
  }

  let runtimesPath: string[];
  let runtimes: unknown;
  let implicitRunc: boolean;
  if (semantics === '1.x') {
    runtimesPath = [CRI_V2, 'containerd', 'runtimes'];
    runtimes = at(plugins, runtimesPath);
    implicitRunc = runtimes === undefined;
  } else {
    const v3 = [CRI_V3, 'containerd', 'runtimes'];
    const v2 = [CRI_V2, 'containerd', 'runtimes'];
    runtimesPath = version >= 3 || at(plugins, v3) !== undefined ? v3 : v2;
    runtimes = at(plugins, runtimesPath);
    implicitRunc = true;
  }
  if (runtimes !== undefined && !isTable(runtimes)) throw fail(`containerd config: plugins.${runtimesPath.join('.')} is not a table`);
  const handlers: Handler[] = [];
  for (const [name, h] of Object.entries(runtimes ?? {})) {
    if (!isTable(h)) throw fail(`containerd config: runtime handler ${name} is not a table`);
    const spec = h.base_runtime_spec;
    const definedIn =
      semantics === '1.x'
        ? criSources[CRI_V2]
          ? [criSources[CRI_V2]]
          : []
        : perFile.filter((p) => at(p.plugins, [...runtimesPath, name]) !== undefined).map((p) => p.path);
    handlers.push({ name, ...(typeof spec === 'string' && spec !== '' ? { baseSpec: spec } : {}), implicit: false, definedIn });
  }
  if (semantics === '1.x') {
    // 1.x's CRI plugin turns these deprecated tables (when they have a runtime_type) into the
    // handlers `untrusted` (pods annotated io.kubernetes.cri.untrusted-workload) and `default`
    for (const [table, name] of [
      ['untrusted_workload_runtime', 'untrusted'],
      ['default_runtime', 'default'],
    ] as const) {
      const t = at(plugins, [CRI_V2, 'containerd', table]);
      if (!isTable(t) || typeof t.runtime_type !== 'string' || t.runtime_type === '') continue;
      const i = handlers.findIndex((x) => x.name === name);
      if (i >= 0) handlers.splice(i, 1);
      const spec = t.base_runtime_spec;
      handlers.push({
        name,
        ...(typeof spec === 'string' && spec !== '' ? { baseSpec: spec } : {}),
        implicit: false,
        definedIn: criSources[CRI_V2] ? [criSources[CRI_V2]] : [],
        legacyTable: table,
      });
    }
  }
  const runc = handlers.find((h) => h.name === DEFAULT_HANDLER);
  if (implicitRunc && runc) runc.implicit = true;
  if (implicitRunc && !runc) handlers.push({ name: DEFAULT_HANDLER, implicit: true, definedIn: [] });
  handlers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    semantics,
    files,
    version,
    plugins,
    runtimesPath,
    ...(semantics === '1.x' && criSources[CRI_V2] ? { criSource: criSources[CRI_V2] } : {}),
    handlers,
  };
}

/** Which merge rules a containerd binary applies, from its `--version` line ("containerd <module> <version> ..."). */
export function semanticsFromVersion(line: string): Semantics | undefined {
  const v = line.trim().split(/\s+/)[2] ?? '';
  const m = /^v?(\d+)\.\d+/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) >= 2 ? '2.x' : '1.x';
}
