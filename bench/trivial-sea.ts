/**
 * The floor of any Node single executable: a hello-world SEA built the way build/sea.mjs builds
 * sigguard (the pinned Node, stripped as sea.mjs caches it in build/cache, a V8 code cache, no
 * snapshot, postject), so `make bench` can time it next to `sigguard version` in the same run.
 * Built once into build/out/bench/ and reused while this file and the Node binary are unchanged.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { rewriteInSmallWrites } from '../build/small-writes.mjs';
import { ROOT } from '../test/support/paths.js';

const HELLO = "process.stdout.write('hello\\n');\n";
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Path of the hello-world executable (built if missing or stale). */
export async function trivialSea(): Promise<string> {
  const node = join(ROOT, `node_modules/node-linux-${process.arch}/bin/node`);
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '');
  // the stripped copy build/sea.mjs keeps (what sigguard's executable is made of), else the binary itself
  const stripped = join(ROOT, `build/cache/node-linux-${process.arch}-${version}.stripped`);
  const base = existsSync(stripped) ? stripped : node;
  const dir = join(ROOT, 'build/out/bench');
  const exe = join(dir, 'hello-sea');
  const stampFile = join(dir, 'hello-sea.stamp');
  const stamp = createHash('sha256').update('64k-writes').update(HELLO).update(base).update(version).update(SENTINEL).digest('hex');
  if (existsSync(exe) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return exe;

  mkdirSync(dir, { recursive: true });
  const main = join(dir, 'hello.cjs');
  const blob = join(dir, 'hello.blob');
  const config = join(dir, 'hello-sea-config.json');
  writeFileSync(main, HELLO);
  writeFileSync(
    config,
    JSON.stringify({
      main,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: true,
      execArgvExtension: 'none',
    }),
  );
  // the blob must come from the Node it is injected into
  const gen = spawnSync(node, ['--experimental-sea-config', config], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`trivial SEA: node --experimental-sea-config failed: ${gen.stderr}`);
  const tmp = `${exe}.${process.pid}.tmp`;
  copyFileSync(base, tmp);
  chmodSync(tmp, 0o755);
  const { inject } = createRequire(join(ROOT, 'package.json'))('postject') as {
    inject: (file: string, name: string, data: Buffer, opts: { sentinelFuse: string }) => Promise<void>;
  };
  const warn = console.warn;
  console.warn = () => {}; // postject's notes about Node's ELF note sections
  try {
    await inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SENTINEL });
  } finally {
    console.warn = warn;
  }
  // written again in 64 KiB writes, as sigguard's executable is (build/small-writes.mjs)
  rewriteInSmallWrites(tmp);
  const check = spawnSync(tmp, [], { encoding: 'utf8' });
  if (check.stdout !== 'hello\n') {
    rmSync(tmp, { force: true });
    throw new Error(`trivial SEA: the built executable printed ${JSON.stringify(check.stdout)} ${check.stderr}`);
  }
  renameSync(tmp, exe);
  writeFileSync(stampFile, stamp);
  return exe;
}
