/**
 * The single-flight leader wakes its followers through a unix socket next to its lock
 * (src/cache/flight-wake.ts): at once when its verdict is stored, and (the kernel) when it dies.
 * The socket is only a "look now": whatever is at its path, and whatever it does, a follower takes
 * no verdict but the one its cache read returns, and never waits past its own deadline. Every
 * attack case here: a socket that never closes, closes at once, sends bytes, is stale, is too long
 * a path, is a regular file, a symbolic link or another user's, refuses (EACCES) or never connects.
 * These tests run as root (another user's socket is made with lchown).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CONNECT_TIMEOUT_MS, MAX_SOCKET_PATH_BYTES, listenForFollowers } from '../../src/cache/flight-wake.js';
import { SLOW_POLL_MS, singleFlight } from '../../src/cache/single-flight.js';

const KEY = 'd'.repeat(64);
const NOBODY = 65534;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let servers: Server[];
let children: ChildProcess[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-wake-'));
  servers = [];
  children = [];
});
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

const lockOf = (d = dir) => join(d, `${KEY}.lock`);
const sockOf = (d = dir) => join(d, `${KEY}.wake`);
/** A lock held by a live holder (this process), naming no deadline. */
const liveLock = (d = dir) => writeFileSync(lockOf(d), `${process.pid}\n`);

/** A socket server at `path` doing `onConn` with each connection; counts them. */
async function plant(path: string, onConn: (s: Socket) => void = () => {}): Promise<{ conns: () => number }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.on('error', () => {});
    onConn(s);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { conns: () => n };
}

/** A socket file nobody listens on: what a leader that crashed leaves (process.exit does not unlink it). */
function staleSocket(path: string): void {
  const r = spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
  ]);
  expect(r.status).toBe(0);
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** A follower with `budgetMs` of its own: its outcome, when it ended (ms after its start), how often it read the cache. */
async function follow(budgetMs: number, verdict: () => string | undefined, d = dir) {
  const t0 = Date.now();
  let peeks = 0;
  const flight = await singleFlight(
    d,
    KEY,
    t0 + budgetMs,
    () => {
      peeks++;
      return verdict();
    },
    async () => 'own',
  );
  return { flight, ms: Date.now() - t0, peeks };
}

/** A leader in this process: stores its verdict `ms` after taking the lock (`atStore` runs just before). */
function lead(ms: number, d = dir, atStore: () => void = () => {}) {
  const stored = { verdict: undefined as string | undefined, at: 0 };
  const flight = singleFlight(
    d,
    KEY,
    Date.now() + 30_000,
    () => stored.verdict,
    async () => {
      await sleep(ms);
      atStore();
      stored.verdict = 'allow';
      stored.at = Date.now();
      return 'led';
    },
  );
  return { stored, flight };
}

/** A verdict another process stores in `ms`: what reading the cache returns. */
function verdictIn(ms: number, verdict = 'allow'): () => string | undefined {
  let v: string | undefined;
  setTimeout(() => {
    v = verdict;
  }, ms);
  return () => v;
}

describe('single flight: the leader wakes its followers', () => {
  it('at once when its verdict is stored, each follower having read the cache a few times only', async () => {
    const leader = lead(1300);
    await sleep(50);
    expect(lstatSync(sockOf()).isSocket()).toBe(true);
    const followers = [0, 1, 2].map(async () => {
      const r = await follow(30_000, () => leader.stored.verdict);
      return { ...r, late: Date.now() - leader.stored.at };
    });
    expect(await leader.flight).toEqual({ kind: 'led', result: 'led' });
    for (const f of await Promise.all(followers)) {
      expect(f.flight).toEqual({ kind: 'followed', verdict: 'allow' });
      // looking every CONNECTED_POLL_MS only, it would have been ~0.75 s late
      expect(f.late).toBeLessThan(200);
      expect(f.peeks).toBeLessThanOrEqual(4);
    }
    // the leader leaves neither its socket nor its lock behind
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a leader that dies mid-verification wakes its followers (the kernel closes its socket): one takes over and verifies', async () => {
    // the leader in a process of its own: its lock (naming a deadline far enough) and its socket
    const leaderJs = `
      const fs = require('node:fs');
      fs.writeFileSync(${JSON.stringify(lockOf())}, process.pid + '\\n' + (Date.now() + 20000) + '\\n');
      require('node:net').createServer(() => {}).listen(${JSON.stringify(sockOf())}, () => console.log('ready'));`;
    const child = spawn(process.execPath, ['-e', leaderJs], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise((resolve) => child.stdout?.once('data', resolve));
    let killedAt = 0;
    const followers = [0, 1].map(async () => {
      const r = await follow(30_000, () => undefined);
      return { ...r, after: Date.now() - killedAt };
    });
    await sleep(400);
    killedAt = Date.now();
    child.kill('SIGKILL');
    const results = await Promise.all(followers);
    // one leads (its own verification), the other follows it or leads after it: no verdict from elsewhere
    expect(results.map((r) => r.flight.kind).sort()).toEqual(['led', 'led']);
    // looking every CONNECTED_POLL_MS only, the first would have seen the dead holder up to 1 s late
    // (and a zombie, not yet reaped, counts as dead)
    expect(Math.min(...results.map((r) => r.after))).toBeLessThan(300);
  });
});

describe('single flight: whatever is at the socket path, no verdict but the cache’s, no wait past the deadline', () => {
  it('a socket that never closes (a frozen leader): the follower verifies alone at half its budget', async () => {
    liveLock();
    const s = await plant(sockOf());
    const r = await follow(1200, () => undefined);
    expect(r.flight).toEqual({ kind: 'alone', result: 'own' });
    expect(r.ms).toBeGreaterThanOrEqual(590);
    expect(r.ms).toBeLessThan(1200);
    expect(s.conns()).toBe(1);
  });

  it('a socket that closes at once with no verdict stored: 3 connects, then looking now and then; nothing followed', async () => {
    liveLock();
    const s = await plant(sockOf(), (c) => c.destroy());
    const r = await follow(3000, () => undefined);
    expect(r.flight).toEqual({ kind: 'alone', result: 'own' });
    expect(r.ms).toBeLessThan(3000);
    expect(s.conns()).toBeLessThanOrEqual(3);
    // a spin would have read the cache thousands of times
    expect(r.peeks).toBeLessThan(12);
  });

  it('bytes from the socket (a forged "allow", a flood) are no verdict and are not kept', async () => {
    liveLock();
    const s = await plant(sockOf(), (c) => {
      c.write('{"decision":"allow","code":"ALLOWED"}\n');
      c.write(Buffer.alloc(8 << 20));
    });
    const rss0 = process.memoryUsage().rss;
    const r = await follow(2000, () => undefined);
    expect(r.flight).toEqual({ kind: 'alone', result: 'own' });
    expect(r.ms).toBeLessThan(2000);
    expect(s.conns()).toBeLessThanOrEqual(3);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(8 << 20);
  });

  it('a stale socket file (a crashed leader’s) with a live holder: the follower looks now and then and follows the verdict', async () => {
    liveLock();
    staleSocket(sockOf());
    const r = await follow(30_000, verdictIn(600));
    expect(r.flight).toEqual({ kind: 'followed', verdict: 'allow' });
    expect(r.ms).toBeLessThan(600 + SLOW_POLL_MS + 400);
  });

  it('a stale socket file and a dead holder: the follower takes the lock and listens on a socket of its own there', async () => {
    writeFileSync(lockOf(), `${spawnSync('/bin/true').pid}\n`);
    staleSocket(sockOf());
    const flight = await singleFlight(
      dir,
      KEY,
      Date.now() + 30_000,
      () => undefined,
      () =>
        new Promise<boolean>((resolve) => {
          const c = connect({ path: sockOf() });
          c.on('connect', () => {
            c.destroy();
            resolve(true);
          });
          c.on('error', () => resolve(false));
        }),
    );
    expect(flight).toEqual({ kind: 'led', result: true });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('no socket (a leader of an older version): the follower looks every SLOW_POLL_MS and follows', async () => {
    liveLock();
    const r = await follow(30_000, verdictIn(700));
    expect(r.flight).toEqual({ kind: 'followed', verdict: 'allow' });
    expect(r.ms).toBeLessThan(700 + SLOW_POLL_MS + 400);
    expect(r.peeks).toBeLessThan(10);
  });

  it('a cache folder whose socket path is too long for sun_path: no socket, the leader still leads and the follower follows', async () => {
    const deep = join(dir, 'x'.repeat(MAX_SOCKET_PATH_BYTES - dir.length));
    mkdirSync(deep);
    expect(Buffer.byteLength(sockOf(deep))).toBeGreaterThan(MAX_SOCKET_PATH_BYTES);
    let files: string[] = [];
    const leader = lead(600, deep, () => {
      files = readdirSync(deep);
    });
    await sleep(50);
    const r = await follow(30_000, () => leader.stored.verdict, deep);
    expect(await leader.flight).toEqual({ kind: 'led', result: 'led' });
    expect(files).toEqual([`${KEY}.lock`]);
    expect(r.flight).toEqual({ kind: 'followed', verdict: 'allow' });
  });

  it.each([
    ['a regular file', (p: string, _target: string) => writeFileSync(p, 'allow\n')],
    ['a symbolic link to a socket', (p: string, target: string) => symlinkSync(target, p)],
    [
      'another user’s socket',
      async (p: string) => {
        await plant(p, (c) => c.end('allow\n'));
        lchownSync(p, NOBODY, NOBODY);
      },
    ],
  ])('%s at the socket path is not connected to; the follower looks now and then and follows the cache’s verdict', async (_what, put) => {
    liveLock();
    // the attacker's socket: answers "allow" and closes at once
    const target = join(dir, 'attacker.sock');
    const attacker = await plant(target, (c) => c.end('allow\n'));
    await put(sockOf(), target);
    const r = await follow(30_000, verdictIn(300, 'deny'));
    expect(r.flight).toEqual({ kind: 'followed', verdict: 'deny' });
    expect(attacker.conns()).toBe(0);
  });

  it('a directory at the socket path: the leader cannot listen and still leads', async () => {
    mkdirSync(sockOf());
    writeFileSync(join(sockOf(), 'f'), 'x');
    const r = await singleFlight(
      dir,
      KEY,
      Date.now() + 30_000,
      () => undefined,
      async () => 'led',
    );
    expect(r).toEqual({ kind: 'led', result: 'led' });
  });
});

describe('single flight: a connect that fails in ways this root test cannot make happen for real', () => {
  /**
   * The pipe binding a follower waits with (src/cache/flight-wake.ts), faked: connect() completes
   * with `status` (a negative errno) after a turn, or never (undefined).
   */
  const fakePipe = (status: number | undefined) => {
    let connects = 0;
    class Pipe {
      connect(req: { oncomplete?: (s: number) => void }) {
        connects++;
        if (status !== undefined) setImmediate(() => req.oncomplete?.(status));
        return 0;
      }
      readStart() {
        return 0;
      }
      close() {}
      unref() {}
    }
    vi.spyOn(process as unknown as { binding(id: string): unknown }, 'binding').mockImplementation((id: string) => {
      if (id !== 'pipe_wrap') throw new Error(`unexpected binding ${id}`);
      return { Pipe, PipeConnectWrap: class {}, constants: { SOCKET: 0 } };
    });
    return () => connects;
  };

  it('EACCES (a non-root follower, a socket it may not write to): looking now and then, following the cache', async () => {
    liveLock();
    await plant(sockOf());
    const connects = fakePipe(-13);
    const r = await follow(30_000, verdictIn(700));
    expect(r.flight).toEqual({ kind: 'followed', verdict: 'allow' });
    expect(connects()).toBe(3);
    expect(r.ms).toBeLessThan(700 + SLOW_POLL_MS + 400);
  });

  it('a connect that never completes is given up after CONNECT_TIMEOUT_MS, and the deadline still holds', async () => {
    liveLock();
    await plant(sockOf());
    const connects = fakePipe(undefined);
    const r = await follow(1200, () => undefined);
    expect(r.flight).toEqual({ kind: 'alone', result: 'own' });
    expect(r.ms).toBeLessThan(1200);
    // ~600 ms of waiting: connects given up after 250 ms each, with 20 and 100 ms between
    expect(connects()).toBeGreaterThanOrEqual(2);
    expect(connects()).toBeLessThanOrEqual(3);
    expect(CONNECT_TIMEOUT_MS).toBeLessThan(600);
  });

  it('no pipe binding (another Node than the pinned one): no wait on the socket, looking now and then', async () => {
    liveLock();
    const s = await plant(sockOf());
    vi.spyOn(process as unknown as { binding(id: string): unknown }, 'binding').mockImplementation(() => {
      throw new Error('No such module');
    });
    const r = await follow(30_000, verdictIn(700));
    expect(r.flight).toEqual({ kind: 'followed', verdict: 'allow' });
    expect(s.conns()).toBe(0);
    expect(r.ms).toBeLessThan(700 + SLOW_POLL_MS + 400);
  });
});

describe('the leader’s socket (libuv’s pipe handle, not node:net)', () => {
  /** A follower as an attacker could write one: a plain client that says when its connection ends. */
  const client = async (path: string) => {
    const s = connect(path);
    let ended = false;
    s.on('error', () => {});
    s.on('close', () => {
      ended = true;
    });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return { s, ended: () => ended };
  };
  const until = async (cond: () => boolean, ms = 2000) => {
    const t0 = Date.now();
    while (!cond() && Date.now() - t0 < ms) await sleep(5);
    return cond();
  };

  it('keeps followers connected until it rings, then ends every one; stop removes the socket file', async () => {
    const bell = listenForFollowers(sockOf());
    expect(bell).toBeDefined();
    expect(lstatSync(sockOf()).isSocket()).toBe(true);
    const fs = await Promise.all([1, 2, 3].map(() => client(sockOf())));
    await sleep(50);
    expect(fs.map((f) => f.ended())).toEqual([false, false, false]);
    bell?.stop();
    expect(lstatSync(sockOf(), { throwIfNoEntry: false })).toBeUndefined();
    // stopping listens no more; the connected followers wait for the ring
    await sleep(30);
    expect(fs.map((f) => f.ended())).toEqual([false, false, false]);
    bell?.ring();
    expect(await until(() => fs.every((f) => f.ended()))).toBe(true);
  });

  it('a follower that sends bytes (a flood) is closed at once, the others are not', async () => {
    const bell = listenForFollowers(sockOf());
    const quiet = await client(sockOf());
    const loud = await client(sockOf());
    loud.s.write(Buffer.alloc(256 * 1024, 'a'));
    expect(await until(() => loud.ended())).toBe(true);
    await sleep(30);
    expect(quiet.ended()).toBe(false);
    bell?.stop();
    bell?.ring();
    expect(await until(() => quiet.ended())).toBe(true);
  });

  it('beyond its cap, a connection is closed at once; the slot of a follower that left is taken again', async () => {
    const bell = listenForFollowers(sockOf(), undefined, 2);
    const a = await client(sockOf());
    const b = await client(sockOf());
    const over = await client(sockOf());
    expect(await until(() => over.ended())).toBe(true);
    expect([a.ended(), b.ended()]).toEqual([false, false]);
    a.s.destroy();
    await sleep(50); // the leader sees it end
    const c = await client(sockOf());
    await sleep(50);
    expect(c.ended()).toBe(false);
    bell?.stop();
    bell?.ring();
    expect(await until(() => b.ended() && c.ended())).toBe(true);
  });

  it('no socket when it cannot be bound (no pipe binding, a path it cannot take): the leader leads without one', () => {
    expect(listenForFollowers(sockOf(), () => undefined)).toBeUndefined();
    expect(listenForFollowers(join(dir, 'no-such-dir', 'x.wake'))).toBeUndefined();
    expect(lstatSync(sockOf(), { throwIfNoEntry: false })).toBeUndefined();
  });

  it('ringing or stopping twice is harmless', async () => {
    const bell = listenForFollowers(sockOf());
    const f = await client(sockOf());
    bell?.ring();
    bell?.ring();
    bell?.stop();
    bell?.stop();
    expect(await until(() => f.ended())).toBe(true);
  });
});

describe('single flight with onceLed (documents: what the leader could not make, none can)', () => {
  const leaderStoringNothing = () =>
    singleFlight(
      dir,
      KEY,
      Date.now() + 30_000,
      () => undefined,
      async () => {
        await sleep(150);
        return 'led';
      },
    );

  it('a follower woken by a leader that stored nothing works alone at once; without it, it leads in turn', async () => {
    for (const onceLed of [true, false]) {
      const leader = leaderStoringNothing();
      await sleep(30);
      const follower = await singleFlight(
        dir,
        KEY,
        Date.now() + 30_000,
        () => undefined,
        async () => 'own',
        { onceLed },
      );
      expect(await leader).toEqual({ kind: 'led', result: 'led' });
      expect(follower).toEqual(onceLed ? { kind: 'alone', result: 'own' } : { kind: 'led', result: 'own' });
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});
