/**
 * containerd's CRI configuration, as far as the installer touches it:
 * `base_runtime_spec` is per runtime handler, so the hook must go into the
 * base spec of EVERY handler (a pod with another RuntimeClass must not slip
 * past), and a handler without one gets one. containerd 1.7 (config version 2)
 * keeps handlers under `io.containerd.grpc.v1.cri`, 2.x (version 3) under
 * `io.containerd.cri.v1.runtime`. Pure: TOML objects in, TOML objects out.
 */
import { ReasonCode, SigguardError } from '../errors.js';

type Table = Record<string, unknown>;

const RUNTIMES_PATH: Record<2 | 3, string[]> = {
  2: ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes'],
  3: ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes'],
};
const DEFAULT_NAME_PATH: Record<2 | 3, string[]> = {
  2: ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'default_runtime_name'],
  3: ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'default_runtime_name'],
};

/** What install changed for one handler, so uninstall can take back exactly that. */
export interface HandlerRecord {
  handler: string;
  specFile: string;
  /** The spec file did not exist: sigguard wrote it (from `ctr oci spec`). */
  createdSpec: boolean;
  /** The handler had no base_runtime_spec: sigguard set it. */
  setBaseSpec: boolean;
  /** The handler itself did not exist (an empty config: containerd's implicit runc). */
  createdHandler: boolean;
}

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);

function clone<T>(v: T): T {
  return structuredClone(v);
}

export function configVersion(cfg: Table, file: string): 2 | 3 {
  const v = cfg.version;
  if (v === 2 || v === 3) return v;
  throw new SigguardError(
    ReasonCode.CONFIG_INVALID,
    `${file}: containerd config version ${v === undefined ? '(none, i.e. 1)' : String(v)} is not supported; sigguard edits versions 2 (containerd 1.7) and 3 (containerd 2.x)`,
  );
}

function tableAt(cfg: Table, path: string[], create: boolean): Table | undefined {
  let t: Table = cfg;
  for (const key of path) {
    const next = t[key];
    if (next === undefined) {
      if (!create) return undefined;
      t[key] = {};
    } else if (!isTable(next)) {
      throw new SigguardError(ReasonCode.CONFIG_INVALID, `containerd config: ${path.join('.')} is not a table`);
    }
    t = t[key] as Table;
  }
  return t;
}

function valueAt(cfg: Table, path: string[]): unknown {
  const parent = tableAt(cfg, path.slice(0, -1), false);
  return parent?.[path[path.length - 1]!];
}

/** The handlers' names, with the base spec each has (if any). */
export function handlers(cfg: Table, version: 2 | 3): Array<{ name: string; baseSpec: string | undefined }> {
  const runtimes = tableAt(cfg, RUNTIMES_PATH[version], false) ?? {};
  return Object.entries(runtimes)
    .filter(([, v]) => isTable(v))
    .map(([name, v]) => {
      const spec = (v as Table).base_runtime_spec;
      return { name, baseSpec: typeof spec === 'string' && spec !== '' ? spec : undefined };
    });
}

/**
 * Plans an install: every handler gets a base spec file (its own, or a new
 * `<specDir>/sigguard-base-<handler>.json`). The hook itself goes into the
 * spec files (install-hook's logic), not into this TOML.
 */
export function planInstall(cfg: Table, file: string, specDir: string, existingFiles: (path: string) => boolean): { config: Table; records: HandlerRecord[]; changed: boolean } {
  const version = configVersion(cfg, file);
  const next = clone(cfg);
  const records: HandlerRecord[] = [];
  let changed = false;
  const runtimes = tableAt(next, RUNTIMES_PATH[version], true)!;
  if (Object.keys(runtimes).filter((k) => isTable(runtimes[k])).length === 0) {
    // containerd's implicit default handler: make it explicit so it can have a base spec
    const name = typeof valueAt(next, DEFAULT_NAME_PATH[version]) === 'string' ? (valueAt(next, DEFAULT_NAME_PATH[version]) as string) : 'runc';
    runtimes[name] = { runtime_type: 'io.containerd.runc.v2' };
    records.push({ handler: name, specFile: '', createdSpec: false, setBaseSpec: false, createdHandler: true });
    changed = true;
  }
  for (const { name, baseSpec } of handlers(next, version)) {
    const existing = records.find((r) => r.handler === name);
    const record: HandlerRecord = existing ?? { handler: name, specFile: '', createdSpec: false, setBaseSpec: false, createdHandler: false };
    if (baseSpec !== undefined) {
      record.specFile = baseSpec;
      record.createdSpec = !existingFiles(baseSpec);
    } else {
      const specFile = `${specDir.replace(/\/+$/, '')}/sigguard-base-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`;
      (runtimes[name] as Table).base_runtime_spec = specFile;
      record.specFile = specFile;
      record.setBaseSpec = true;
      record.createdSpec = !existingFiles(specFile);
      changed = true;
    }
    if (!existing) records.push(record);
  }
  return { config: next, records, changed };
}

/** Takes back what planInstall recorded (and only that). */
export function planUninstall(cfg: Table, file: string, records: HandlerRecord[]): { config: Table; changed: boolean } {
  const version = configVersion(cfg, file);
  const next = clone(cfg);
  const runtimes = tableAt(next, RUNTIMES_PATH[version], false);
  let changed = false;
  if (runtimes === undefined) return { config: next, changed };
  for (const r of records) {
    const h = runtimes[r.handler];
    if (!isTable(h)) continue;
    if (r.createdHandler) {
      const { runtime_type: _t, base_runtime_spec: _b, ...rest } = h;
      if (Object.keys(rest).length === 0) {
        delete runtimes[r.handler];
        changed = true;
        continue;
      }
    }
    if (r.setBaseSpec && h.base_runtime_spec === r.specFile) {
      delete h.base_runtime_spec;
      changed = true;
    }
  }
  return { config: next, changed };
}
