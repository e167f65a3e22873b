// postject writes an executable with one write() of its ~110 MiB. On a kernel whose page cache
// keeps large folios (6.x, ext4), such a file stays cached in large folios, and a process mapping
// it gets whole folios mapped on each fault: measured, the same trivial single executable peaked at
// 62-73 MiB RSS written that way, 42 MiB written in 64 KiB writes, copied, or read back after
// eviction (what a node sees after an install or a reboot). So an executable is written again in
// 64 KiB writes (build/sea.mjs for sigguard's, bench/trivial-sea.ts for the bench's hello world),
// and the bench measures the executable as a node runs it.
import { chmodSync, closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

/** Rewrites `file` (mode 0755) in 64 KiB writes, through a temporary file renamed over it. */
export function rewriteInSmallWrites(file) {
  const bytes = readFileSync(file);
  const again = `${file}.w`;
  const fd = openSync(again, 'w', 0o755);
  try {
    for (let at = 0; at < bytes.length; at += 65536) writeSync(fd, bytes, at, Math.min(65536, bytes.length - at));
  } finally {
    closeSync(fd);
  }
  chmodSync(again, 0o755);
  renameSync(again, file);
}
