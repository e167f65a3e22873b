/**
 * Single flight across processes: N hooks for the same uncached image make
 * one verification. The first takes a per-key lock file; the others wait for
 * its verdict until their own wait budget runs out, then verify themselves.
 * A lock whose holder died (or that is older than any hook may live) is
 * removed, so a crashed holder never blocks a start.
 *
 * Waiting costs next to nothing: a follower sleeps until the cache folder reports a change to its
 * key's verdict or lock (inotify), with a look every now and then that grows from 20 ms to 250 ms
 * (a dead holder, a missed event, a system out of inotify instances). Polling every 20 ms, 80
 * followers of a node-boot storm spent more CPU than the verifications they waited for (make
 * bench's storm, issue 15).
 */
import { type FSWatcher, closeSync, existsSync, linkSync, openSync, readFileSync, rmSync, statSync, watch, writeSync } from 'node:fs';
import { join } from 'node:path';

export const STALE_LOCK_MS = 30_000;
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 250;

/**
 * Wakes the waiting follower when `dir` reports a change to one of `names`; undefined where the
 * folder cannot be watched (then the follower only polls).
 */
function watchFor(dir: string, names: string[], wake: () => void): FSWatcher | undefined {
  try {
    const w = watch(dir, { persistent: false }, (_event, name) => {
      if (name === null || names.includes(String(name))) wake();
    });
    w.on('error', () => w.close());
    return w;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates the lock with our pid already in it: written to a private file,
 * then hard-linked into place (link fails if the lock exists), so no other
 * process ever sees an empty lock and takes it for a dead one.
 */
function tryLock(file: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes the lock if its holder is gone or it is older than STALE_LOCK_MS. */
function breakIfStale(file: string): void {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    const age = Date.now() - statSync(file).mtimeMs;
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid) || age > STALE_LOCK_MS) rmSync(file, { force: true });
  } catch {
    /* gone already */
  }
}

export type Flight<T, V> = { kind: 'led'; result: T } | { kind: 'followed'; verdict: V } | { kind: 'alone'; result: T };

/**
 * Runs `work` under the lock for `key`, or waits for another holder's verdict
 * (`peek` returns it once written) until `waitUntil` (ms epoch), then runs
 * `work` without the lock.
 */
export async function singleFlight<T, V>(
  dir: string,
  key: string,
  waitUntil: number,
  peek: () => V | undefined,
  work: () => Promise<T>,
): Promise<Flight<T, V>> {
  const lock = join(dir, `${key}.lock`);
  let locked = false;
  try {
    locked = tryLock(lock);
  } catch {
    return { kind: 'alone', result: await work() };
  }
  let wake: (() => void) | undefined;
  const watcher = locked ? undefined : watchFor(dir, [`${key}.json`, `${key}.lock`], () => wake?.());
  let poll = FIRST_POLL_MS;
  try {
    while (!locked) {
      const seen = peek();
      if (seen !== undefined) return { kind: 'followed', verdict: seen };
      const now = Date.now();
      if (now >= waitUntil) return { kind: 'alone', result: await work() };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(poll, waitUntil - now));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      poll = Math.min(MAX_POLL_MS, Math.round(poll * 1.5));
      breakIfStale(lock);
      // a lock still there is not tried for (that would write and link a file every look)
      if (!existsSync(lock)) locked = tryLock(lock);
    }
  } finally {
    watcher?.close();
  }
  try {
    // the previous holder may have finished between our first look and taking the lock
    const seen = peek();
    if (seen !== undefined) return { kind: 'followed', verdict: seen };
    return { kind: 'led', result: await work() };
  } finally {
    rmSync(lock, { force: true });
  }
}
