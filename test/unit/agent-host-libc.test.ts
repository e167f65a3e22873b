/**
 * The agent's check that the executable it puts on the host will run there (src/agent/host-libc.ts):
 * its loader, libraries and the symbol versions it needs, against a host root. The real executable
 * (build/out/sigguard-linux-amd64) and this machine's libraries, read the way binutils' readelf
 * reads them (the two compared); then host roots that would make every container start fail: an
 * older glibc, no libstdc++, libraries of another machine, links that point outside the root, a
 * malformed libc. And the agent itself: such a host gets neither the executable nor the hook.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { hostProblems, readElf, resolveIn, runtimeRoot } from '../../src/agent/host-libc.js';
import { Agent } from '../../src/agent/run.js';
import { testAgentOptions } from '../support/agent-options.js';
import { EM_AARCH64, elfBytes, writeElf } from '../support/elf-writer.js';
import { ROOT, requireTools } from '../support/paths.js';

const SEA = join(ROOT, 'build/out/sigguard-linux-amd64');
const LIBDIR = '/lib/x86_64-linux-gnu';
const dir = mkdtempSync(join(tmpdir(), 'sigguard-host-libc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What binutils' readelf says: NEEDED libraries, and the versions needed per file. */
function readelf(file: string): { needed: string[]; verneed: Record<string, string[]> } {
  const d = execFileSync('readelf', ['-dW', file], { encoding: 'utf8' });
  const needed = [...d.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] as string);
  const v = execFileSync('readelf', ['-VW', file], { encoding: 'utf8' });
  const verneed: Record<string, string[]> = {};
  let current: string | undefined;
  for (const line of v.slice(v.indexOf('Version needs section')).split('\n')) {
    const f = /File: (\S+)/.exec(line);
    if (f) current = f[1] as string;
    const n = /Name: (\S+)/.exec(line);
    if (n && current) verneed[current] = [...(verneed[current] ?? []), n[1] as string];
  }
  for (const k of Object.keys(verneed)) verneed[k]?.sort();
  return { needed, verneed };
}

let n = 0;
/** A host root holding copies of this machine's libraries the executable needs, the loader linked as on Debian. */
function hostRoot(edit?: (root: string) => void): string {
  const root = join(dir, `root-${++n}`);
  mkdirSync(join(root, LIBDIR.slice(1)), { recursive: true });
  mkdirSync(join(root, 'lib64'));
  for (const lib of readElf(SEA).needed) copyFileSync(join(LIBDIR, lib), join(root, LIBDIR.slice(1), lib));
  // an absolute link, as Debian's /lib64/ld-linux-x86-64.so.2: resolved inside the root
  symlinkSync(`${LIBDIR}/ld-linux-x86-64.so.2`, join(root, 'lib64/ld-linux-x86-64.so.2'));
  edit?.(root);
  return root;
}
const at = (root: string, lib: string) => join(root, LIBDIR.slice(1), lib);

describe('reading ELF files', () => {
  it('reads what readelf reads from the real executable: its NEEDED libraries and the versions it needs', () => {
    requireTools(SEA, '/usr/bin/readelf');
    const mine = readElf(SEA);
    const theirs = readelf(SEA);
    expect(mine.needed).toEqual(theirs.needed);
    expect(Object.fromEntries([...mine.verneed].map(([k, v]) => [k, [...v].sort()]))).toEqual(theirs.verneed);
    expect(mine.interp).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(mine.verneed.get('libc.so.6')?.has('GLIBC_2.2.5')).toBe(true);
  });

  it('reads the versions the host’s libc defines (readelf -V’s definitions)', () => {
    const defs = readElf(join(LIBDIR, 'libc.so.6')).verdef;
    const v = execFileSync('readelf', ['-VW', join(LIBDIR, 'libc.so.6')], { encoding: 'utf8' });
    const section = v.slice(v.indexOf('Version definition section'), v.indexOf('Version needs section'));
    const theirs = new Set(
      [...section.matchAll(/Rev: \d+\s+Flags: \S+\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)/g)].map((m) => m[1] as string),
    );
    expect(defs).toEqual(theirs);
    expect(defs.has('GLIBC_2.27')).toBe(true);
  });

  it('malformed files are errors, never a crash or a pass', () => {
    const f = join(dir, 'truncated.so');
    writeFileSync(f, elfBytes({ verdef: { soname: 'libc.so.6', versions: ['GLIBC_2.2.5'] } }).subarray(0, 80));
    expect(() => readElf(f)).toThrow(/outside the file/);
    writeFileSync(f, 'not an ELF file at all');
    expect(() => readElf(f)).toThrow(/not an ELF file/);
  });

  it('resolves links inside the root: an absolute target starts at the root, .. never climbs above it', () => {
    const root = join(dir, 'links');
    mkdirSync(join(root, 'a/b'), { recursive: true });
    writeFileSync(join(root, 'a/b/real'), 'x');
    symlinkSync('/a/b/real', join(root, 'abs'));
    symlinkSync('../../../../../../../etc/hostname', join(root, 'a/b/climb'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
    expect(resolveIn(root, '/abs')).toBe(join(root, 'a/b/real'));
    expect(resolveIn(root, '/a/b/climb')).toBeUndefined(); // would be the agent's own /etc/hostname
    expect(resolveIn(root, '/loop1')).toBeUndefined();
    expect(resolveIn(root, '/a/../a/b/real')).toBe(join(root, 'a/b/real'));
  });
});

describe('will the executable run on the host?', () => {
  it('on this machine, and on a root with the same libraries: yes', () => {
    requireTools(SEA);
    expect(hostProblems(SEA, '/')).toEqual([]);
    expect(hostProblems(SEA, hostRoot())).toEqual([]);
  });

  it('a host whose glibc is older than the executable needs: refused, the missing versions named', () => {
    // glibc 2.17's versions (CentOS 7's): the executable needs newer ones
    const old = [
      'GLIBC_2.2.5',
      'GLIBC_2.3',
      'GLIBC_2.3.2',
      'GLIBC_2.3.3',
      'GLIBC_2.3.4',
      'GLIBC_2.4',
      'GLIBC_2.9',
      'GLIBC_2.10',
      'GLIBC_2.12',
      'GLIBC_2.14',
      'GLIBC_2.16',
      'GLIBC_2.17',
    ];
    const root = hostRoot((r) => writeElf(at(r, 'libc.so.6'), { verdef: { soname: 'libc.so.6', versions: old } }));
    const needed = [...(readElf(SEA).verneed.get('libc.so.6') ?? [])].filter((v) => !old.includes(v));
    expect(needed).toContain('GLIBC_2.27');
    const problems = hostProblems(SEA, root);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^the host's ${LIBDIR}/libc\\.so\\.6 lacks (GLIBC_2\\.[0-9.]+, )*GLIBC_2\\.27\\b`));
    for (const v of needed) expect(problems[0]).toContain(v);
  });

  it('an executable needing a glibc newer than any (GLIBC_2.99): refused', () => {
    const exe = join(dir, 'future-exe');
    writeElf(exe, {
      interp: '/lib64/ld-linux-x86-64.so.2',
      needed: ['libc.so.6'],
      verneed: { 'libc.so.6': ['GLIBC_2.2.5', 'GLIBC_2.99'] },
    });
    expect(hostProblems(exe, '/')).toEqual([`the host's ${LIBDIR}/libc.so.6 lacks GLIBC_2.99, which the executable needs`]);
  });

  it('a host without libstdc++ (a minimal node OS): refused', () => {
    const root = hostRoot((r) => rmSync(at(r, 'libstdc++.so.6')));
    expect(hostProblems(SEA, root).join('\n')).toMatch(/the host has no libstdc\+\+\.so\.6 for this machine/);
  });

  it('a host without the loader, or with a loader link pointing outside the root: refused', () => {
    expect(
      hostProblems(
        SEA,
        hostRoot((r) => rmSync(join(r, 'lib64/ld-linux-x86-64.so.2'))),
      ).join('\n'),
    ).toMatch(/the host has no \/lib64\/ld-linux-x86-64\.so\.2/);
    const climbing = hostRoot((r) => {
      rmSync(join(r, 'lib64/ld-linux-x86-64.so.2'));
      rmSync(at(r, 'ld-linux-x86-64.so.2'));
      // through /proc/PID/root the kernel would follow this to the agent's own loader
      symlinkSync('../../../../../../../../lib64/ld-linux-x86-64.so.2', join(r, 'lib64/ld-linux-x86-64.so.2'));
    });
    expect(hostProblems(SEA, climbing).join('\n')).toMatch(/the host has no \/lib64\/ld-linux-x86-64\.so\.2/);
  });

  it('a libc of another machine where the x86-64 one should be: refused (the loader would skip it)', () => {
    const root = hostRoot((r) =>
      writeElf(at(r, 'libc.so.6'), { machine: EM_AARCH64, verdef: { soname: 'libc.so.6', versions: ['GLIBC_2.17', 'GLIBC_2.27'] } }),
    );
    expect(hostProblems(SEA, root).join('\n')).toMatch(/the host has no libc\.so\.6 for this machine/);
  });

  it('a malformed libc, an unreadable root, a non-ELF executable: refused with the reason', () => {
    const root = hostRoot((r) => writeFileSync(at(r, 'libc.so.6'), readFileSync(at(r, 'libc.so.6')).subarray(0, 100)));
    expect(hostProblems(SEA, root).join('\n')).toMatch(/the host has no libc\.so\.6 for this machine/);
    expect(hostProblems(SEA, join(dir, 'no-such-root')).length).toBeGreaterThan(0);
    const script = join(dir, 'script');
    writeFileSync(script, '#!/bin/sh\n');
    expect(hostProblems(script, '/')).toEqual([expect.stringMatching(/not an ELF file/)]);
  });
});

describe('which root is the host’s', () => {
  /** A /proc with the given roots (links) and processes (cmdline, all uids 0). */
  function fakeProc(roots: Record<string, string>, procs: Record<string, string[]> = {}): string {
    const proc = join(dir, `proc-${++n}`);
    for (const [pid, target] of Object.entries(roots)) {
      mkdirSync(join(proc, pid), { recursive: true });
      symlinkSync(target, join(proc, pid, 'root'));
    }
    for (const [pid, argv] of Object.entries(procs)) {
      mkdirSync(join(proc, pid), { recursive: true });
      writeFileSync(join(proc, pid, 'cmdline'), `${argv.join('\0')}\0`);
      writeFileSync(join(proc, pid, 'status'), 'Name:\tcontainerd\nUid:\t0\t0\t0\t0\n');
    }
    return proc;
  }

  it('the root of the runtime process reading the config (the hook runs in its mount namespace)', () => {
    const proc = fakeProc(
      { self: join(dir, 'a'), '1': '/', '42': '/' },
      { '42': ['/usr/bin/containerd', '--config', '/etc/k/config.toml'] },
    );
    expect(runtimeRoot('/etc/k/config.toml', 'containerd', proc)).toBe(`${proc}/42/root`);
  });

  it('no runtime process seen: PID 1’s root, unless that is the agent’s own (no hostPID: its own image’s libraries would prove nothing)', () => {
    mkdirSync(join(dir, 'image-root'), { recursive: true });
    expect(runtimeRoot('/etc/k/config.toml', 'containerd', fakeProc({ self: join(dir, 'image-root'), '1': '/' }))).toMatch(/\/1\/root$/);
    expect(() =>
      runtimeRoot('/etc/k/config.toml', 'containerd', fakeProc({ self: join(dir, 'image-root'), '1': join(dir, 'image-root') })),
    ).toThrow(/PID 1 shares the agent's own root.*hostPID.*--host-root/);
  });
});

describe('the agent on a host its executable would not run on', () => {
  it('copies nothing and hooks nothing in, says why, and is not ready', async () => {
    requireTools(SEA);
    const base = join(dir, 'agent');
    mkdirSync(join(base, 'containerd'), { recursive: true });
    const spec = `${JSON.stringify({ ociVersion: '1.1.0', process: {}, hooks: {} })}\n`;
    writeFileSync(join(base, 'containerd/runc.json'), spec);
    writeFileSync(
      join(base, 'containerd/config.toml'),
      'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "runc.json"\n',
    );
    const root = hostRoot((r) => rmSync(at(r, 'libstdc++.so.6')));
    const lines: string[] = [];
    const o = testAgentOptions(base, { binary: SEA, hostRoot: root });
    const a = new Agent(o, pino({ base: null }, { write: (line: string) => void lines.push(line) }));
    a.state.policyValid = true;
    await expect(a.install()).rejects.toThrow(/would not run on this host.*libstdc\+\+\.so\.6/);
    expect(existsSync(o.installPath)).toBe(false);
    expect(readFileSync(join(base, 'containerd/runc.json'), 'utf8')).toBe(spec);
    expect(a.ready).toBe(false);
  });
});
