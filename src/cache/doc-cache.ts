/**
 * Validated policy and config documents, cached by the hash of their text (and of this
 * sigguard's version, since the schema is part of what was checked). Parsing YAML and
 * building the zod schemas costs a short-lived hook more than everything else it does on
 * a warm start; a document whose text has not changed needs neither. Same trust rules as
 * the verdict store: a root-only folder, 0600 files, anything else ignored.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DocKind, ValidatedDocuments } from '../document/validated.js';
import { sha256Hex } from '../hash.js';
import { VERSION_INFO } from '../version.js';
import { untrusted } from './store.js';

export type { DocKind };

export class DocCache implements ValidatedDocuments {
  constructor(readonly dir: string) {}

  private file(kind: DocKind, text: string): string {
    const key = sha256Hex(`${VERSION_INFO.version}\0${VERSION_INFO.commit}\0${kind}\0${text}`);
    return join(this.dir, 'docs', `${kind}-${key}.json`);
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
