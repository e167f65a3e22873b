/**
 * The files sigguard decides with — the policy, the configuration, keys, CA certificates,
 * trusted roots — are trusted only if no one but root could have written them, as sudo
 * (sudoers) and sshd (StrictModes) require: running as root, a `default: accept` policy that
 * any user can write is anyone's allow. So, when sigguard runs as root, a file is read only if
 *
 * - it is a regular file owned by root (the effective uid), not writable by group or others;
 * - every folder the path goes through (every ancestor, and those a symbolic link leads
 *   through) is owned by root and not writable by group or others, unless sticky (as /tmp):
 *   whoever can write a folder can replace what is in it;
 * - every symbolic link on the way is owned by root.
 *
 * The path is resolved here component by component, as the kernel does, and the file read is
 * the one checked (same device and inode). Run as another user, sigguard reads files as they
 * are: that user can write its own files anyway.
 */
import { type Stats, closeSync, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** A file (or a folder or link on its path) someone other than root could have written. */
export class UntrustedFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem} (sigguard runs as root and reads only files that root alone can write)`);
    this.name = 'UntrustedFileError';
  }
}

const euid = (): number | undefined => (typeof process.geteuid === 'function' ? process.geteuid() : undefined);

/** Are files checked? Only when running as root. */
export function fileTrustEnforced(): boolean {
  return euid() === 0;
}

const MAX_LINKS = 40; // the kernel's limit (ELOOP)
const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');
const writers = (mode: number): string => [mode & 0o020 ? 'group' : '', mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');

function ownerProblem(st: Stats, owner: number): string | undefined {
  return st.uid === owner || st.uid === 0 ? undefined : `owned by uid ${st.uid}, not root`;
}

function folderProblem(dir: string, st: Stats, owner: number): string | undefined {
  if (!st.isDirectory()) return undefined; // the lookup below fails with ENOTDIR
  const owned = ownerProblem(st, owner);
  if (owned) return `its folder ${dir} is ${owned}`;
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0)
    return `its folder ${dir} (mode ${octal(st.mode)}) is writable by ${writers(st.mode)} without the sticky bit`;
  return undefined;
}

function fileProblem(st: Stats, owner: number, kind: 'file' | 'socket'): string | undefined {
  if (kind === 'socket') return st.isSocket() ? ownerProblem(st, owner) : 'not a unix socket';
  if (!st.isFile()) return 'not a regular file';
  const owned = ownerProblem(st, owner);
  if (owned) return owned;
  if ((st.mode & 0o022) !== 0) return `writable by ${writers(st.mode)} (mode ${octal(st.mode)})`;
  return undefined;
}

/**
 * Resolves `path` as the kernel would, checking every folder looked up in and every link
 * followed; returns the real path and its stat (`kind` socket: a unix socket, owned by root,
 * the agent's that the hook asks, src/hook/ask-agent.ts). Throws UntrustedFileError, or the file
 * system's own error (ENOENT, ENOTDIR, ELOOP…).
 */
export function checkTrustedPath(
  path: string,
  owner: number = euid() ?? 0,
  kind: 'file' | 'socket' = 'file',
): { real: string; stat: Stats } {
  const given = resolve(path);
  const pending = given.split('/').filter((p) => p !== '');
  let cur = '/';
  let links = 0;
  const checked = new Set<string>();
  const checkFolder = (dir: string) => {
    if (checked.has(dir)) return;
    const problem = folderProblem(dir, statSync(dir), owner);
    if (problem) throw new UntrustedFileError(given, problem);
    checked.add(dir);
  };
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur = resolve(cur, '..');
      continue;
    }
    checkFolder(cur);
    const next = join(cur, name);
    const st = lstatSync(next);
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw Object.assign(new Error(`${given}: too many symbolic links`), { code: 'ELOOP' });
      const owned = ownerProblem(st, owner);
      if (owned) throw new UntrustedFileError(given, `the symbolic link ${next} is ${owned}`);
      const target = readlinkSync(next);
      if (isAbsolute(target)) cur = '/';
      pending.unshift(...target.split('/').filter((p) => p !== ''));
      continue;
    }
    cur = next;
  }
  const stat = statSync(cur);
  // A socket's own folder gets no sticky-bit exception: the sticky bit keeps others from removing
  // root's entry, but a socket's name is free whenever its server stops or starts again (it
  // unlinks it), and anyone who can write the folder can bind it then. (Folders above keep it:
  // a root-owned folder in /tmp is never removed, and no one else may replace its entry.)
  const parent = dirname(cur);
  const pst = kind === 'socket' ? statSync(parent) : undefined;
  if (pst && (pst.mode & 0o022) !== 0)
    throw new UntrustedFileError(given, `its folder ${parent} (mode ${octal(pst.mode)}) is writable by ${writers(pst.mode)}`);
  const problem = fileProblem(stat, owner, kind);
  if (problem) throw new UntrustedFileError(given, cur === given ? problem : `${cur}, where it leads, is ${problem}`);
  return { real: cur, stat };
}

/**
 * Reads a file sigguard trusts: as root, only after checkTrustedPath, and only if the file
 * opened is the one checked. Throws UntrustedFileError or the file system's error.
 */
export function readTrustedFile(path: string): Buffer {
  if (!fileTrustEnforced()) return readFileSync(path);
  const { real, stat } = checkTrustedPath(path);
  const fd = openSync(real, 'r');
  try {
    const opened = fstatSync(fd);
    if (opened.dev !== stat.dev || opened.ino !== stat.ino)
      throw new UntrustedFileError(resolve(path), 'changed while it was being checked');
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The reason text for a read failure: the trust problem as it is, or the error code. */
export function readProblem(err: unknown): string {
  if (err instanceof UntrustedFileError)
    return `not trusted: ${err.problem} (sigguard runs as root and reads only files that root alone can write)`;
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
