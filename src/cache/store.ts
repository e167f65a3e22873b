/**
 * The node-local verdict store: one file per key in a root-only folder
 * (0700), files 0600, written by atomic rename, never read when their owner
 * or mode is wrong or their content does not parse: such a file is ignored
 * and replaced.
 */
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Infer, integer, literal, object, optional, string } from '../schema/lite.js';

// The lite schema, not zod: a cache hit must not pay zod's load (see schema/lite.ts).
export const entrySchema = object(
  {
    key: string({ pattern: /^[0-9a-f]{64}$/ }),
    decision: literal('allow', 'deny'),
    code: string(),
    reason: string(),
    /** A cached deny keeps its detail code (src/verify/detail.ts). */
    detailCode: optional(string({ pattern: /^[A-Z][A-Z0-9_]*$/ })),
    image: string(),
    digest: string(),
    /** The platform manifest of an index, so that denyDigests applies to a cached verdict too. */
    platformDigest: optional(string({ pattern: /^sha(?:256|512):[0-9a-f]+$/ })),
    /** Nested indexes between the index and the platform manifest, comma-separated: denyDigests applies to them too. */
    nestedDigests: optional(string({ pattern: /^sha(?:256|512):[0-9a-f]+(?:,sha(?:256|512):[0-9a-f]+){0,7}$/ })),
    /** The config of the verified manifest: a hit is bound to the node's image id like a fresh verdict. */
    configDigest: optional(string({ pattern: /^sha(?:256|512):[0-9a-f]+$/ })),
    scope: string(),
    signer: optional(string()),
    /** ms since the epoch */
    verifiedAt: integer({ min: 0 }),
  },
  { strict: true },
);
export type CacheEntry = Infer<typeof entrySchema>;

const uid = (): number => (typeof process.getuid === 'function' ? process.getuid() : 0);

/** Why a path may not be trusted (owner, mode, kind), or undefined. */
export function untrusted(path: string, kind: 'dir' | 'file'): string | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return 'missing';
  }
  if (kind === 'dir' ? !st.isDirectory() : !st.isFile()) return `not a ${kind === 'dir' ? 'directory' : 'regular file'}`;
  if (st.uid !== uid()) return `owned by uid ${st.uid}`;
  if ((st.mode & 0o077) !== 0) return `mode ${(st.mode & 0o777).toString(8)} is open to others`;
  return undefined;
}

export class VerdictStore {
  constructor(readonly dir: string) {}

  /** Creates the folder if needed; false when it exists but cannot be trusted. */
  ensureDir(): boolean {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch {
      return false;
    }
    return untrusted(this.dir, 'dir') === undefined;
  }

  private file(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  read(key: string): CacheEntry | undefined {
    if (untrusted(this.dir, 'dir') !== undefined) return undefined;
    const file = this.file(key);
    if (untrusted(file, 'file') !== undefined) return undefined;
    try {
      const parsed = entrySchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      if (!parsed.ok || parsed.value.key !== key) return undefined;
      return parsed.value;
    } catch {
      return undefined;
    }
  }

  /**
   * Written whole under a temporary name, then renamed: a reader sees the old entry or the new one.
   * Not fsynced: this is a cache, and an entry a crash cuts short does not parse (read() ignores
   * it: one more verification), while an fsync per verification waited on the node's disk (~0.5 ms
   * here, far more on a disk a node-boot storm keeps busy).
   */
  write(entry: CacheEntry): void {
    if (!this.ensureDir()) return;
    const tmp = join(this.dir, `.${entry.key}.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(entry));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file(entry.key));
  }

  list(): CacheEntry[] {
    if (untrusted(this.dir, 'dir') !== undefined) return [];
    const out: CacheEntry[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = /^([0-9a-f]{64})\.json$/.exec(name);
      if (!m) continue;
      const e = this.read(m[1]!);
      if (e) out.push(e);
    }
    return out.sort((a, b) => b.verifiedAt - a.verifiedAt);
  }

  /** Removes entries (all, or those for one digest); returns how many. */
  clear(digest?: string): number {
    let n = 0;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    for (const name of names) {
      const m = /^([0-9a-f]{64})\.(json|lock)$/.exec(name);
      if (!m) continue;
      if (digest !== undefined) {
        if (m[2] !== 'json') continue;
        const e = this.read(m[1]!);
        if (!e || e.digest !== digest) continue;
      }
      rmSync(join(this.dir, name), { force: true });
      if (m[2] === 'json') n++;
    }
    return n;
  }
}
