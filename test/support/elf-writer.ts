/**
 * Writes small ELF64 little-endian files with just what dynamic linking reads — a PT_INTERP, DT_NEEDED
 * entries, symbol versions needed (.gnu.version_r) or defined (.gnu.version_d) — to stand in for a
 * host's libc.so.6 of another age, or an executable needing versions no libc has (the agent's
 * host-libc check, src/agent/host-libc.ts). Layout per the System V gABI and the LSB.
 */
import { writeFileSync } from 'node:fs';

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export interface ElfSpec {
  machine?: number;
  interp?: string;
  needed?: string[];
  /** library -> versions needed from it */
  verneed?: Record<string, string[]>;
  /** versions defined (the first entry, the file's own name, is added as the base version) */
  verdef?: { soname: string; versions: string[] };
}

export function elfBytes(spec: ElfSpec): Buffer {
  const strs: string[] = [];
  const strtab = ['\0'];
  let strLen = 1;
  const str = (s: string): number => {
    const at = strs.indexOf(s);
    if (at >= 0) return strtab.slice(0, at + 1).reduce((n, x) => n + Buffer.byteLength(x), 0);
    const off = strLen;
    strs.push(s);
    strtab.push(`${s}\0`);
    strLen += Buffer.byteLength(s) + 1;
    return off;
  };
  // dynamic
  const dyn: Buffer[] = [];
  for (const lib of spec.needed ?? []) {
    const e = Buffer.alloc(16);
    e.writeBigUInt64LE(1n, 0);
    e.writeBigUInt64LE(BigInt(str(lib)), 8);
    dyn.push(e);
  }
  dyn.push(Buffer.alloc(16)); // DT_NULL
  // verneed
  const vn: Buffer[] = [];
  const files = Object.entries(spec.verneed ?? {});
  files.forEach(([lib, versions], i) => {
    const h = Buffer.alloc(16);
    h.writeUInt16LE(1, 0);
    h.writeUInt16LE(versions.length, 2);
    h.writeUInt32LE(str(lib), 4);
    h.writeUInt32LE(16, 8);
    h.writeUInt32LE(i === files.length - 1 ? 0 : 16 + 16 * versions.length, 12);
    vn.push(h);
    versions.forEach((v, j) => {
      const a = Buffer.alloc(16);
      a.writeUInt16LE(j + 2, 6);
      a.writeUInt32LE(str(v), 8);
      a.writeUInt32LE(j === versions.length - 1 ? 0 : 16, 12);
      vn.push(a);
    });
  });
  // verdef
  const vd: Buffer[] = [];
  const defs = spec.verdef ? [spec.verdef.soname, ...spec.verdef.versions] : [];
  defs.forEach((name, i) => {
    const d = Buffer.alloc(28);
    d.writeUInt16LE(1, 0);
    d.writeUInt16LE(i === 0 ? 1 : 0, 2);
    d.writeUInt16LE(i + 1, 4);
    d.writeUInt16LE(1, 6);
    d.writeUInt32LE(20, 12);
    d.writeUInt32LE(i === defs.length - 1 ? 0 : 28, 16);
    d.writeUInt32LE(str(name), 20);
    vd.push(d);
  });
  const dynstr = Buffer.from(strtab.join(''), 'latin1');
  const shstr = Buffer.from('\0.dynstr\0.dynamic\0.gnu.version_r\0.gnu.version_d\0.shstrtab\0', 'latin1');
  const interp = spec.interp !== undefined ? Buffer.from(`${spec.interp}\0`, 'latin1') : undefined;

  const parts: Buffer[] = [];
  let offset = 64 + (interp ? 56 : 0);
  const place = (b: Buffer) => {
    const at = offset;
    parts.push(b);
    offset += b.length;
    return at;
  };
  const interpAt = interp ? place(interp) : 0;
  const dynstrAt = place(dynstr);
  const dynamic = Buffer.concat(dyn);
  const dynamicAt = place(dynamic);
  const verneed = Buffer.concat(vn);
  const verneedAt = place(verneed);
  const verdef = Buffer.concat(vd);
  const verdefAt = place(verdef);
  const shstrAt = place(shstr);
  const shoff = offset;

  const header = Buffer.alloc(64);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = 2;
  header[5] = 1;
  header[6] = 1;
  header.writeUInt16LE(3, 16); // ET_DYN
  header.writeUInt16LE(spec.machine ?? EM_X86_64, 18);
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(interp ? 64n : 0n, 32);
  header.writeBigUInt64LE(BigInt(shoff), 40);
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(interp ? 1 : 0, 56);
  header.writeUInt16LE(64, 58);
  header.writeUInt16LE(6, 60);
  header.writeUInt16LE(5, 62);
  const ph = Buffer.alloc(interp ? 56 : 0);
  if (interp) {
    ph.writeUInt32LE(3, 0); // PT_INTERP
    ph.writeBigUInt64LE(BigInt(interpAt), 8);
    ph.writeBigUInt64LE(BigInt(interp.length), 32);
  }
  const sh = (name: number, type: number, at: number, size: number, link = 0, info = 0) => {
    const b = Buffer.alloc(64);
    b.writeUInt32LE(name, 0);
    b.writeUInt32LE(type, 4);
    b.writeBigUInt64LE(BigInt(at), 24);
    b.writeBigUInt64LE(BigInt(size), 32);
    b.writeUInt32LE(link, 40);
    b.writeUInt32LE(info, 44);
    return b;
  };
  const shdrs = [
    Buffer.alloc(64),
    sh(1, 3, dynstrAt, dynstr.length),
    sh(9, 6, dynamicAt, dynamic.length, 1),
    sh(18, 0x6ffffffe, verneedAt, verneed.length, 1, files.length),
    sh(33, 0x6ffffffd, verdefAt, verdef.length, 1, defs.length),
    sh(48, 3, shstrAt, shstr.length),
  ];
  return Buffer.concat([header, ph, ...parts, ...shdrs]);
}

export function writeElf(file: string, spec: ElfSpec): void {
  writeFileSync(file, elfBytes(spec), { mode: 0o755 });
}
