/**
 * Will the executable the agent is about to put on the host run there? The hook is executed by the
 * runtime (runc, crun) in the runtime's own mount namespace, with the HOST's dynamic loader and
 * shared libraries, not the image's: an executable linked against a newer glibc (or a libstdc++ the
 * host lacks) would fail to start for every container, making the node unable to start any. So,
 * before the executable is copied over (an upgrade) and before the hook goes in, the agent reads:
 *
 *   - from the executable: its ELF interpreter (PT_INTERP), its DT_NEEDED libraries and the symbol
 *     versions it needs from each (.gnu.version_r: GLIBC_2.27, GLIBCXX_3.4.21, ...);
 *   - from the host's root: the interpreter and each library, looked up as the dynamic loader does
 *     in the system folders (and /etc/ld.so.conf.d), links resolved inside that root, and the
 *     versions each defines (.gnu.version_d), for the same machine and class;
 *
 * and refuses with every missing piece named. This is the loader's own test (a version needed and
 * not defined is "version `GLIBC_2.34' not found"), done without running anything on the host.
 * The ELF structures read are the System V ABI's and the LSB's (gABI ELF header, program and section
 * headers, dynamic section, Elf_Verneed/Elf_Vernaux, Elf_Verdef/Elf_Verdaux); every offset is
 * bounds-checked and a malformed file is a problem, never an exception that lets the install go on.
 */
import { closeSync, fstatSync, lstatSync, openSync, readSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { type Daemon, containerdPids } from './restart.js';

const PT_INTERP = 3;
const SHT_DYNAMIC = 6;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
const MAX_SECTION = 16 * 2 ** 20;
const EM = { x86_64: 62, aarch64: 183 } as const;

export interface ElfInfo {
  class: 32 | 64;
  machine: number;
  interp?: string;
  needed: string[];
  /** library file name -> the versions needed from it */
  verneed: Map<string, Set<string>>;
  /** the versions this file defines */
  verdef: Set<string>;
}

class ElfError extends Error {}

/** Reads the parts of an ELF file that dynamic linking depends on. */
export function readElf(file: string): ElfInfo {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (offset: number, length: number): Buffer => {
      if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > size || length > MAX_SECTION)
        throw new ElfError(`${file}: a structure at ${offset} (+${length}) lies outside the file`);
      const b = Buffer.alloc(length);
      if (length > 0 && readSync(fd, b, 0, length, offset) !== length) throw new ElfError(`${file}: short read at ${offset}`);
      return b;
    };
    if (size < 64) throw new ElfError(`${file} is not an ELF file (${size} bytes)`);
    const id = read(0, 16);
    if (id.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(`${file} is not an ELF file`);
    const is64 = id[4] === 2;
    if (id[4] !== 1 && id[4] !== 2) throw new ElfError(`${file}: unknown ELF class ${id[4]}`);
    if (id[5] !== 1 && id[5] !== 2) throw new ElfError(`${file}: unknown ELF data encoding ${id[5]}`);
    const le = id[5] === 1;
    const h = read(0, is64 ? 64 : 52);
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const machine = u16(h, 18);
    const phoff = word(h, is64 ? 32 : 28);
    const shoff = word(h, is64 ? 40 : 32);
    const phentsize = u16(h, is64 ? 54 : 42);
    const phnum = u16(h, is64 ? 56 : 44);
    const shentsize = u16(h, is64 ? 58 : 46);
    const shnum = u16(h, is64 ? 60 : 48);
    const info: ElfInfo = { class: is64 ? 64 : 32, machine, needed: [], verneed: new Map(), verdef: new Set() };

    if (phnum > 0 && phentsize < (is64 ? 56 : 32)) throw new ElfError(`${file}: program header entries too small`);
    for (let i = 0; i < phnum; i++) {
      const ph = read(phoff + i * phentsize, is64 ? 56 : 32);
      if (u32(ph, 0) !== PT_INTERP) continue;
      const data = read(word(ph, is64 ? 8 : 4), word(ph, is64 ? 32 : 16));
      info.interp = data.subarray(0, data.indexOf(0) < 0 ? data.length : data.indexOf(0)).toString('latin1');
    }

    if (shnum > 0 && shentsize < (is64 ? 64 : 40)) throw new ElfError(`${file}: section header entries too small`);
    const sections = Array.from({ length: shnum }, (_, i) => {
      const sh = read(shoff + i * shentsize, is64 ? 64 : 40);
      return {
        type: u32(sh, 4),
        offset: word(sh, is64 ? 24 : 16),
        size: word(sh, is64 ? 32 : 20),
        link: u32(sh, is64 ? 40 : 24),
        info: u32(sh, is64 ? 44 : 28),
      };
    });
    const strings = (index: number) => {
      const s = sections[index];
      if (s === undefined) throw new ElfError(`${file}: a section links to section ${index}, which does not exist`);
      const data = read(s.offset, s.size);
      return (at: number) => {
        if (at >= data.length) throw new ElfError(`${file}: a string at ${at} lies outside its table`);
        const end = data.indexOf(0, at);
        return data.subarray(at, end < 0 ? data.length : end).toString('latin1');
      };
    };
    for (const s of sections) {
      if (s.type === SHT_DYNAMIC) {
        const str = strings(s.link);
        const data = read(s.offset, s.size);
        const ent = is64 ? 16 : 8;
        for (let o = 0; o + ent <= data.length; o += ent) {
          const tag = word(data, o);
          if (tag === 0) break;
          if (tag === DT_NEEDED) info.needed.push(str(word(data, o + (is64 ? 8 : 4))));
        }
      } else if (s.type === SHT_GNU_VERNEED) {
        const str = strings(s.link);
        const data = read(s.offset, s.size);
        let at = 0;
        for (let i = 0; i < s.info; i++) {
          if (at + 16 > data.length) throw new ElfError(`${file}: .gnu.version_r entry ${i} lies outside its section`);
          const want = info.verneed.get(str(u32(data, at + 4))) ?? new Set<string>();
          info.verneed.set(str(u32(data, at + 4)), want);
          let aux = at + u32(data, at + 8);
          for (let j = 0; j < u16(data, at + 2); j++) {
            if (aux + 16 > data.length) throw new ElfError(`${file}: .gnu.version_r aux ${j} lies outside its section`);
            want.add(str(u32(data, aux + 8)));
            const next = u32(data, aux + 12);
            if (next === 0) break;
            aux += next;
          }
          const next = u32(data, at + 12);
          if (next === 0) break;
          at += next;
        }
      } else if (s.type === SHT_GNU_VERDEF) {
        const str = strings(s.link);
        const data = read(s.offset, s.size);
        let at = 0;
        for (let i = 0; i < s.info; i++) {
          if (at + 20 > data.length) throw new ElfError(`${file}: .gnu.version_d entry ${i} lies outside its section`);
          const aux = at + u32(data, at + 12);
          if (u16(data, at + 6) > 0) {
            if (aux + 8 > data.length) throw new ElfError(`${file}: .gnu.version_d aux lies outside its section`);
            info.verdef.add(str(u32(data, aux)));
          }
          const next = u32(data, at + 16);
          if (next === 0) break;
          at += next;
        }
      }
    }
    return info;
  } finally {
    closeSync(fd);
  }
}

/**
 * `path` as a process whose root is `root` sees it: every link resolved inside `root` (an absolute
 * target starts again at `root`, `..` never climbs above it); undefined when it does not exist.
 * (Through /proc/PID/root the kernel would resolve an absolute link against the agent's own root.)
 */
export function resolveIn(root: string, path: string): string | undefined {
  let todo = posix.normalize(path).split('/').filter(Boolean);
  let at: string[] = [];
  for (let hops = 0; todo.length > 0; ) {
    const name = todo.shift() as string;
    if (name === '.') continue;
    if (name === '..') {
      at.pop();
      continue;
    }
    const here = posix.join(root, ...at, name);
    const st = lstatSync(here, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (!st.isSymbolicLink()) {
      at.push(name);
      continue;
    }
    if (++hops > 40) return undefined;
    const target = readlinkSync(here);
    if (target.startsWith('/')) at = [];
    todo = [...target.split('/').filter(Boolean), ...todo];
  }
  return posix.join(root, ...at);
}

const TRIPLE: Record<number, string> = { [EM.x86_64]: 'x86_64-linux-gnu', [EM.aarch64]: 'aarch64-linux-gnu' };

/** The folders the dynamic loader searches on the host: /etc/ld.so.conf.d's, then the system's. */
function searchDirs(root: string, machine: number): string[] {
  const dirs: string[] = [];
  const confD = resolveIn(root, '/etc/ld.so.conf.d');
  if (confD !== undefined) {
    for (const name of readdirSync(confD)
      .filter((n) => n.endsWith('.conf'))
      .sort()) {
      try {
        for (const line of readFileSync(posix.join(confD, name), 'utf8').split('\n')) {
          const dir = line.replace(/#.*/, '').trim();
          if (dir.startsWith('/')) dirs.push(dir);
        }
      } catch {
        /* unreadable: skipped, as ldconfig would */
      }
    }
  }
  const triple = TRIPLE[machine];
  if (triple !== undefined) dirs.push(`/lib/${triple}`, `/usr/lib/${triple}`);
  dirs.push('/lib64', '/usr/lib64', '/lib', '/usr/lib');
  return [...new Set(dirs)];
}

/**
 * Why `executable` would not start on the host whose root is `root` (empty: it would, as far as
 * dynamic linking goes). `root` is the runtime's root as the agent sees it (/proc/PID/root).
 */
export function hostProblems(executable: string, root: string): string[] {
  let exe: ElfInfo;
  try {
    exe = readElf(executable);
  } catch (err) {
    return [`cannot read ${executable}: ${(err as Error).message}`];
  }
  if (exe.interp === undefined && exe.needed.length === 0) return []; // static
  try {
    return linkProblems(exe, root);
  } catch (err) {
    // an unreadable root (no hostPID, /proc/1/root closed to us): nothing known is nothing allowed
    return [`cannot read the host's files under ${root}: ${(err as Error).message} (--host-root names the runtime's root)`];
  }
}

function linkProblems(exe: ElfInfo, root: string): string[] {
  const problems: string[] = [];
  const fits = (info: ElfInfo) => info.machine === exe.machine && info.class === exe.class;
  if (exe.interp !== undefined) {
    const p = resolveIn(root, exe.interp);
    if (p === undefined) problems.push(`the host has no ${exe.interp} (the executable's loader)`);
    else {
      try {
        if (!fits(readElf(p))) problems.push(`the host's ${exe.interp} is for another machine or class`);
      } catch (err) {
        problems.push(`the host's ${exe.interp}: ${(err as Error).message}`);
      }
    }
  }
  const dirs = searchDirs(root, exe.machine);
  for (const lib of exe.needed) {
    let found: { path: string; info: ElfInfo } | undefined;
    for (const dir of dirs) {
      const p = resolveIn(root, posix.join(dir, lib));
      if (p === undefined) continue;
      try {
        const info = readElf(p);
        if (fits(info)) {
          found = { path: posix.join(dir, lib), info };
          break;
        }
      } catch {
        /* not a library for us: the loader skips it too */
      }
    }
    if (found === undefined) {
      problems.push(`the host has no ${lib} for this machine (searched ${dirs.join(', ')})`);
      continue;
    }
    const want = exe.verneed.get(lib);
    const missing = [...(want ?? [])].filter((v) => !found.info.verdef.has(v)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (missing.length > 0) problems.push(`the host's ${found.path} lacks ${missing.join(', ')}, which the executable needs`);
  }
  return problems;
}

/** Same directory (device and inode) behind two paths; false when either cannot be read. */
function sameDir(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * The runtime's root as the agent sees it: that of the root-owned `daemon` reading `config` (the hook
 * is executed in its mount namespace), else PID 1's. Refused when PID 1's root is the agent's own (a
 * pod without hostPID): the image's libraries would be checked instead of the host's.
 */
export function runtimeRoot(config: string, daemon: Daemon, proc = '/proc'): string {
  const [pid] = containerdPids(config, proc, daemon);
  if (pid !== undefined) return `${proc}/${pid}/root`;
  if (sameDir(`${proc}/1/root`, `${proc}/self/root`))
    throw new Error(
      `no ${daemon} process reading ${config} is visible and PID 1 shares the agent's own root: the host's loader and libraries cannot be checked (run the agent with hostPID, or name the runtime's root with --host-root)`,
    );
  return `${proc}/1/root`;
}
