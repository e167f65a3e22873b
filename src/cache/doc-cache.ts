/**
 * Validated policy and config documents, cached by the hash of their text (and of this
 * sigguard's version, since the schema is part of what was checked). Parsing YAML and
 * building the zod schemas costs a short-lived hook more than everything else it does on
 * a warm start; a document whose text has not changed needs neither. Same trust rules as
 * the verdict store: a root-only folder, 0600 files, anything else ignored.
 *
 * With the hook's deadline (`endsAt`), a document not yet cached is validated by one of the hooks
 * that start at the same time (single flight, cache/single-flight.ts, a lock per document in
 * `docs/`): after an upgrade (the version is in every key) a node-boot storm's hundred hooks each
 * parsed YAML and ran zod (~25 ms CPU each) before any verification (make bench's storm with
 * nothing cached, issue 15). A follower takes only what the leader put, read as any start reads
 * the cache; a leader whose document is invalid puts nothing, and the followers it wakes then
 * each find out for themselves, at once (not one after another).
 */
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DocKind, ValidatedDocuments } from '../document/validated.js';
import { sha256Hex } from '../hash.js';
import { VERSION_INFO } from '../version.js';
import { singleFlight } from './single-flight.js';
import { untrusted } from './store.js';

export type { DocKind };

/** The longest a hook waits for another's validation of a document (then validates alone). */
export const DOC_WAIT_MS = 2_000;

/** A validated document not written for this long is removed by prune() (the agent writes those in force again right after). */
export const DOC_MAX_AGE_MS = 7 * 24 * 3600_000;
/** A lock, wake socket or temporary file this old was left by a killed process (a hook lives for its deadline, seconds). */
export const DOC_LEFTOVER_MS = 3600_000;

const DOC_FILE = /^[a-z]+-[0-9a-f]{64}\.json$/;
const LEFTOVER = /^(?:v-[0-9a-f]{32}\.(?:lock|wake)(?:\.\d+\.tmp)?|[a-z]+-[0-9a-f]{64}\.json\.\d+\.tmp)$/;

export class DocCache implements ValidatedDocuments {
  /**
   * `endsAt`: the caller's deadline (ms epoch), to wait for another process's validation until; none: no waiting.
   * `onMiss`: called before a document not in the cache is validated; what it throws ends the load
   * (the hook asking the node's agent instead, src/hook/ask-agent.ts).
   */
  constructor(
    readonly dir: string,
    private readonly opts: { endsAt?: number; onMiss?: () => void } = {},
  ) {}

  private key(kind: DocKind, text: string): string {
    return sha256Hex(`${VERSION_INFO.version}\0${VERSION_INFO.commit}\0${kind}\0${text}`);
  }

  private file(kind: DocKind, text: string): string {
    return join(this.dir, 'docs', `${kind}-${this.key(kind, text)}.json`);
  }

  async validateOnce<T>(kind: DocKind, text: string, validate: () => Promise<T>): Promise<T> {
    this.opts.onMiss?.();
    const lead = async (): Promise<T> => {
      const value = await validate();
      this.put(kind, text, value);
      return value;
    };
    const docs = join(this.dir, 'docs');
    if (this.opts.endsAt === undefined) return lead();
    try {
      mkdirSync(docs, { recursive: true, mode: 0o700 });
    } catch {
      return lead();
    }
    if (untrusted(this.dir, 'dir') !== undefined || untrusted(docs, 'dir') !== undefined) return lead();
    // a short lock name (128 bits of the key): its wake socket's path must fit sun_path
    // a validation takes ~25 ms: a leader that has not put its value within DOC_WAIT_MS is stuck,
    // and a follower must keep its own deadline for the verification (the lock names this end too)
    const endsAt = Math.min(this.opts.endsAt, Date.now() + DOC_WAIT_MS);
    const flight = await singleFlight(docs, `v-${this.key(kind, text).slice(0, 32)}`, endsAt, () => this.get(kind, text), lead, {
      onceLed: true,
    });
    return flight.kind === 'followed' ? (flight.verdict as T) : flight.result;
  }

  get(kind: DocKind, text: string): unknown {
    const file = this.file(kind, text);
    if (untrusted(this.dir, 'dir') !== undefined || untrusted(join(this.dir, 'docs'), 'dir') !== undefined) return undefined;
    if (untrusted(file, 'file') !== undefined) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch {
      return undefined;
    }
  }

  /**
   * Removes from `docs/` what no start will read: documents not written for DOC_MAX_AGE_MS (those of
   * an earlier version or an earlier text: the version and the text are in every name, so nothing
   * else tells them apart) and what killed processes left (locks, wake sockets, temporary files
   * older than DOC_LEFTOVER_MS). Without it the folder only grew, one file per upgrade and per
   * edit of each document. The caller writes the documents in force right after (prime-documents.ts),
   * so an old one still in use is written again, not lost; a start that reads one while it is
   * removed validates it itself, as on a miss. Only names this cache writes, never a folder or a
   * symlink's target, and nothing in a folder that is not root's alone. Best effort: the count removed.
   */
  prune(now: number = Date.now()): number {
    const docs = join(this.dir, 'docs');
    if (untrusted(this.dir, 'dir') !== undefined || untrusted(docs, 'dir') !== undefined) return 0;
    let names: string[];
    try {
      names = readdirSync(docs);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const maxAge = DOC_FILE.test(name) ? DOC_MAX_AGE_MS : LEFTOVER.test(name) ? DOC_LEFTOVER_MS : undefined;
      if (maxAge === undefined) continue;
      try {
        const st = lstatSync(join(docs, name));
        if (st.isDirectory() || now - st.mtimeMs <= maxAge) continue;
        unlinkSync(join(docs, name));
        removed++;
      } catch {
        /* gone meanwhile, or not ours to remove */
      }
    }
    return removed;
  }

  /** Best effort: a cache that cannot be written only costs time. */
  put(kind: DocKind, text: string, value: unknown): void {
    try {
      mkdirSync(join(this.dir, 'docs'), { recursive: true, mode: 0o700 });
      if (untrusted(this.dir, 'dir') !== undefined || untrusted(join(this.dir, 'docs'), 'dir') !== undefined) return;
      const file = this.file(kind, text);
      const tmp = `${file}.${process.pid}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(value));
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    } catch {
      /* ignored */
    }
  }
}
