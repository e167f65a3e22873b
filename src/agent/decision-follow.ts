/**
 * Follows the decision log the hook appends to (one JSON line per decision), as `tail -F` would:
 * every complete line once, from the start of the file, across rotation (the file renamed away and
 * a new one created: the rest of the old one is read first, through the descriptor still open) and
 * truncation (the file shorter than what was read: read again from its start). Optionally rotates
 * the log itself by size, keeping `keep` older files (decisions.log.1 … .N).
 */
import { StringDecoder } from 'node:string_decoder';
import { type Stats, closeSync, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';

const CHUNK = 1 << 16;
const MAX_LINE = 1 << 20;

export interface FollowOptions {
  /** Rotate when the log is larger than this (0: never). */
  maxBytes?: number;
  /** Older files kept when rotating (decisions.log.1 … .keep). */
  keep?: number;
}

export class DecisionLogFollower {
  private fd: number | undefined;
  private ino: number | undefined;
  private offset = 0;
  private partial = '';
  private decoder = new StringDecoder('utf8');
  /** Lines seen (complete lines handed to onLine). */
  lines = 0;
  rotations = 0;

  constructor(
    readonly file: string,
    private readonly onLine: (line: string) => void,
    private readonly opts: FollowOptions = {},
  ) {}

  /** Reads what was appended since the last poll; rotates when the log is over its size. */
  poll(): void {
    let st: Stats | undefined;
    try {
      st = statSync(this.file);
    } catch {
      st = undefined;
    }
    if (this.fd !== undefined && (st === undefined || st.ino !== this.ino)) {
      // rotated away (or removed): finish the old file through the open descriptor, then switch
      this.drain();
      this.close();
    }
    if (this.fd === undefined && st !== undefined) {
      try {
        this.fd = openSync(this.file, 'r');
      } catch {
        return;
      }
      this.ino = fstatSync(this.fd).ino;
      this.offset = 0;
      this.partial = '';
      this.decoder = new StringDecoder('utf8');
    }
    if (this.fd === undefined) return;
    this.drain();
    const max = this.opts.maxBytes ?? 0;
    if (max > 0 && this.offset > max) {
      this.rotate();
      this.poll(); // the hook may have appended to the old file meanwhile; a new one appears at its next decision
    }
  }

  private drain(): void {
    if (this.fd === undefined) return;
    const size = fstatSync(this.fd).size;
    if (size < this.offset) {
      // truncated (copytruncate, or `: > decisions.log`): what is there now is new
      this.offset = 0;
      this.partial = '';
      this.decoder = new StringDecoder('utf8');
    }
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = readSync(this.fd, buf, 0, CHUNK, this.offset);
      if (n <= 0) break;
      this.offset += n;
      const text = this.partial + this.decoder.write(buf.subarray(0, n));
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      if (this.partial.length > MAX_LINE) this.partial = ''; // not a decision line: dropped
      for (const line of parts) {
        if (line.trim() === '') continue;
        this.lines++;
        this.onLine(line);
      }
    }
  }

  private rotate(): void {
    const keep = Math.max(1, this.opts.keep ?? 5);
    rmSync(`${this.file}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    renameSync(this.file, `${this.file}.1`);
    this.rotations++;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.ino = undefined;
  }
}
