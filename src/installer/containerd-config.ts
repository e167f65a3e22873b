/**
 * The config version check, and the uninstall of an install made by an
 * earlier sigguard (which set base_runtime_spec in config.toml itself and
 * re-serialised it): its state records what it changed. Current installs
 * are planned by node-plan.ts. Pure: TOML objects in, TOML objects out.
 */
import { ReasonCode, SigguardError } from '../errors.js';

type Table = Record<string, unknown>;

const RUNTIMES_PATH: Record<2 | 3, string[]> = {
  2: ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes'],
  3: ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes'],
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

/** Takes back what an earlier sigguard's install recorded (and only that), for its state files. */
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
