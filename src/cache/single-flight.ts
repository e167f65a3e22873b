/**
 * Single flight across processes: N hooks for the same uncached image make
 * one verification. The first takes a per-key lock file naming its pid and its
 * deadline; the others wait for its verdict. A holder that will be done before
 * the follower's own deadline is followed to its end (in a node-boot storm the
 * leaders started first, so they end first: followers that gave up and verified
 * alone only added load, make bench's storm, issue 15); one that may outlive the
 * follower (a longer deadline, or a lock that names none) is followed for half
 * of what is left, then the follower verifies alone. A lock whose holder died,
 * whose holder's deadline has passed, or that is older than any hook may live is
 * removed, so a crashed, frozen or pid-reused holder never blocks a start.
 *
 * Waiting costs next to nothing: the leader listens on a unix socket next to its lock and ends its
 * followers' connections once its verdict is stored (src/cache/flight-wake.ts; the kernel ends them
 * if it dies), so a follower sleeps until then and looks at once; it also looks now and then (1 s
 * apart while connected, for a frozen or overdue holder; 500 ms when there is no socket to wait on:
 * a leader of an older version, a path too long for a socket), and never tries for a lock that is
 * still there. Polling every 20-100 ms instead, a storm's followers spent ~3.7 ms CPU per second
 * waited and took the last verdict up to a poll late (make bench's storm, issue 15). No inotify
 * watch: each would be an inotify instance of root's, 128 by default (fs.inotify.max_user_instances),
 * and a storm of 100–200 waiting hooks would take them from kubelet, containerd and systemd.
 */
import { type Stats, closeSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Bell, type Wait, listenForFollowers, waitForLeader, wakePath } from './flight-wake.js';

export const STALE_LOCK_MS = 30_000;
/** How long past its deadline a holder may take to store its verdict and let go of the lock. */
export const HOLDER_GRACE_MS = 500;
/** Between looks while connected to the leader's socket (it wakes us): for a frozen or overdue holder. */
const CONNECTED_POLL_MS = 1000;
/** Between looks when there is no leader's socket to wait on. */
export const SLOW_POLL_MS = 500;
/** Connects to one lock's socket (an ended connection is tried again: a peer that closes at once costs 3 looks, not a spin). */
const MAX_CONNECTS = 3;
/** The wait after a connect that failed (the leader between its lock and its listen, or at its end), then SLOW_POLL_MS. */
const CONNECT_RETRY_MS = [20, 100];

/**
 * Whether `pid` runs. A zombie does not: a leader that died has closed its socket and woken its
 * followers before its parent reaped it, and a follower must not wait for it until then.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Creates the lock with our pid already in it: written to a private file,
 * then hard-linked into place (link fails if the lock exists), so no other
 * process ever sees an empty lock and takes it for a dead one.
 */
function tryLock(file: string, endsAt: number): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${process.pid}\n${Math.round(endsAt)}\n`);
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

interface Holder {
  pid: number;
  /** The holder's deadline (ms epoch), when its lock names one. */
  endsAt?: number;
}

/** The lock's holder, or undefined if the lock is gone or unreadable. */
function holderOf(file: string): Holder | undefined {
  try {
    const [pidLine, endsLine] = readFileSync(file, 'utf8').split('\n');
    const pid = /^[1-9][0-9]{0,9}$/.test(pidLine ?? '') ? Number(pidLine) : 0;
    const endsAt = /^[1-9][0-9]{0,15}$/.test(endsLine ?? '') ? Number(endsLine) : undefined;
    return { pid, endsAt };
  } catch {
    return undefined;
  }
}

/** The lock as a follower last saw it: which file (inode, change time, size) and the holder it names. */
interface LockSeen {
  ino: number;
  ctimeMs: number;
  mtimeMs: number;
  size: number;
  holder: Holder | undefined;
}

/**
 * One look at the lock: a stat, and the holder read again only when the lock is another file or
 * was changed since `prev` (a follower looks every 20-100 ms for seconds: reading and parsing the
 * lock twice a look cost it more CPU than the rest of its wait). Undefined: no lock.
 */
function lookAt(file: string, prev: LockSeen | undefined): LockSeen | undefined {
  let st: Stats | undefined;
  try {
    st = statSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  if (st === undefined) return undefined;
  const same =
    prev !== undefined && prev.ino === st.ino && prev.ctimeMs === st.ctimeMs && prev.mtimeMs === st.mtimeMs && prev.size === st.size;
  return { ino: st.ino, ctimeMs: st.ctimeMs, mtimeMs: st.mtimeMs, size: st.size, holder: same ? prev.holder : holderOf(file) };
}

/**
 * Whether a lock is to be removed: its holder is gone, is past its own deadline (a frozen holder,
 * or its pid taken by another process), or the lock is older than STALE_LOCK_MS. An unreadable
 * lock (no holder) is left alone.
 */
function isStale(seen: LockSeen, now: number): boolean {
  const { holder } = seen;
  if (holder === undefined) return false;
  const overdue = holder.endsAt !== undefined && now > holder.endsAt + HOLDER_GRACE_MS;
  return holder.pid <= 0 || overdue || now - seen.mtimeMs > STALE_LOCK_MS || !alive(holder.pid);
}

/**
 * Until when a follower that started waiting at `since`, with its own deadline `endsAt`, waits for
 * `holder`: to the holder's end when that comes before the follower's own, else half of what is
 * left (the holder may not be done in time, and the follower must keep time to verify alone).
 */
export function followUntil(holder: Holder | undefined, since: number, endsAt: number): number {
  const half = since + Math.max(1, endsAt - since) / 2;
  if (holder?.endsAt === undefined) return half;
  const holderDone = holder.endsAt + HOLDER_GRACE_MS;
  return holderDone <= endsAt ? Math.max(half, holderDone) : half;
}

/** The wait before the next look after `tries` connects to a lock's socket, the last one failed. */
const retryDelay = (tries: number): number =>
  tries >= MAX_CONNECTS ? SLOW_POLL_MS : (CONNECT_RETRY_MS[Math.max(0, tries - 1)] ?? SLOW_POLL_MS);

/** Sleeps `ms` (at least 0), or less when `until` settles first; the timer never outlives it. */
function sleep(ms: number, until?: Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    until?.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export type Flight<T, V> = { kind: 'led'; result: T } | { kind: 'followed'; verdict: V } | { kind: 'alone'; result: T };

/**
 * Runs `work` under the lock for `key`, or waits for another holder's verdict
 * (`peek` returns it once written) as `followUntil` says for our deadline
 * `endsAt` (ms epoch), then runs `work` without the lock. `onceLed`: a follower woken by a
 * leader that ended without a verdict runs `work` alone at once instead of leading in turn (what
 * the leader could not make, none of the others can either: an invalid document).
 */
export async function singleFlight<T, V>(
  dir: string,
  key: string,
  endsAt: number,
  peek: () => V | undefined,
  work: () => Promise<T>,
  { onceLed = false }: { onceLed?: boolean } = {},
): Promise<Flight<T, V>> {
  const lock = join(dir, `${key}.lock`);
  const sock = wakePath(lock);
  const since = Date.now();
  let locked = false;
  try {
    locked = tryLock(lock, endsAt);
  } catch {
    return { kind: 'alone', result: await work() };
  }
  let seen = locked ? undefined : lookAt(lock, undefined);
  // the leader's socket: connects to it for the lock (inode) now seen, a connection that ended
  let wait: Wait | undefined;
  let tries = 0;
  let triesFor: number | undefined;
  try {
    while (!locked) {
      const verdict = peek();
      if (verdict !== undefined) return { kind: 'followed', verdict };
      const now = Date.now();
      const waitUntil = followUntil(seen?.holder, since, endsAt);
      if (now >= waitUntil) {
        wait?.close();
        wait = undefined;
        return { kind: 'alone', result: await work() };
      }
      // another lock is another leader: its socket gets its own tries
      if (seen?.ino !== triesFor) {
        triesFor = seen?.ino;
        tries = 0;
      }
      if (wait === undefined && seen !== undefined && tries < MAX_CONNECTS) {
        tries++;
        wait = waitForLeader(sock);
      }
      if (wait !== undefined) {
        await sleep(Math.min(CONNECTED_POLL_MS, waitUntil - now), wait.ended);
        if (wait.over()) {
          const rang = wait.connected();
          wait = undefined;
          // woken (the leader's verdict stored, or the leader gone): read the cache at once; a
          // connect that failed: wait a little before the next look (and try)
          if (rang) {
            const woken = peek();
            if (woken !== undefined) return { kind: 'followed', verdict: woken };
            // the leader ended (its lock gone) with nothing stored; a connection closed while the
            // lock is still there (a leader past its MAX_FOLLOWERS) is no end: waiting goes on
            if (onceLed && lookAt(lock, undefined) === undefined) return { kind: 'alone', result: await work() };
          } else await sleep(Math.min(retryDelay(tries), waitUntil - Date.now()));
        }
      } else {
        await sleep(Math.min(retryDelay(tries), waitUntil - now));
      }
      seen = lookAt(lock, seen);
      try {
        if (seen !== undefined && isStale(seen, Date.now())) {
          rmSync(lock, { force: true });
          seen = undefined;
        }
        // a lock still there is not tried for (that would write and link a file every look)
        if (seen === undefined) {
          locked = tryLock(lock, endsAt);
          if (!locked) seen = lookAt(lock, undefined);
        }
      } catch {
        // a lock that cannot be made (a full or broken folder): alone, as when the first try fails
        wait?.close();
        wait = undefined;
        return { kind: 'alone', result: await work() };
      }
    }
  } finally {
    wait?.close();
  }
  let bell: Bell | undefined;
  try {
    // the previous holder may have finished between our first look and taking the lock
    const verdict = peek();
    if (verdict !== undefined) return { kind: 'followed', verdict };
    // the lock is ours: followers may wait on our socket until the verdict is stored
    bell = listenForFollowers(sock);
    return { kind: 'led', result: await work() };
  } finally {
    // the socket goes while the lock is still ours (another leader's is never removed), the
    // followers are woken once the lock is gone (a follower finding neither verdict nor lock leads)
    bell?.stop();
    rmSync(lock, { force: true });
    bell?.ring();
  }
}
