/**
 * How a follower waits for the leader (src/cache/single-flight.ts): looking only now and then
 * (a node-boot storm's followers polling every 20 ms spent more CPU than the verifications they
 * waited for), with no inotify instance (root has 128; a storm's followers would take them from
 * kubelet and containerd), and still taking over the lock of a holder that died.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HOLDER_GRACE_MS, followUntil, singleFlight } from '../../src/cache/single-flight.js';

const KEY = 'f'.repeat(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-flight-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A follower that never sees a verdict, waiting at most `budgetMs`: what it ends up doing. */
const unfollowed = (budgetMs: number) =>
  singleFlight(
    dir,
    KEY,
    Date.now() + budgetMs,
    () => undefined,
    async () => 'own',
  );

describe('single flight: a follower waiting', () => {
  it("follows the leader's verdict once it lands, looking only now and then before", async () => {
    // the leader: this (live) process holds the lock
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n`);
    let verdict: string | undefined;
    let peeks = 0;
    let worked = false;
    const flight = singleFlight(
      dir,
      KEY,
      Date.now() + 30_000,
      () => {
        peeks++;
        return verdict;
      },
      async () => {
        worked = true;
        return 'own';
      },
    );
    await sleep(1000);
    // waiting holds no inotify instance (each follower of a storm would have taken one of root's)
    const inotify = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:inotify';
      } catch {
        return false;
      }
    });
    expect(inotify).toEqual([]);
    // polling every 20 ms looked ~50 times in a second; growing to 100 ms, about 13
    expect(peeks).toBeLessThan(20);
    // the leader stores its verdict (by rename, as VerdictStore does), then lets go of the lock
    verdict = 'allow';
    writeFileSync(join(dir, `${KEY}.json.tmp`), '{}');
    renameSync(join(dir, `${KEY}.json.tmp`), join(dir, `${KEY}.json`));
    rmSync(join(dir, `${KEY}.lock`));
    expect(await flight).toEqual({ kind: 'followed', verdict: 'allow' });
    expect(worked).toBe(false);
  });

  it('takes over the lock of a holder that is gone, and leads', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${spawnSync('/bin/true').pid}\n`);
    expect(await unfollowed(30_000)).toEqual({ kind: 'led', result: 'own' });
  });

  it('verifies alone when the wait budget ends with the holder still at work', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n`);
    expect(await unfollowed(300)).toEqual({ kind: 'alone', result: 'own' });
  });
});

describe('single flight: how long a follower follows', () => {
  const since = 1_000_000;
  const endsAt = since + 8000;

  it('follows a holder that ends before it to the holder’s end (a storm’s leaders started first)', () => {
    expect(followUntil({ pid: 1, endsAt: since + 7000 }, since, endsAt)).toBe(since + 7000 + HOLDER_GRACE_MS);
    // never less than half of what is left
    expect(followUntil({ pid: 1, endsAt: since + 1000 }, since, endsAt)).toBe(since + 4000);
  });

  it('follows a holder that may outlive it (or names no deadline) for half of what is left', () => {
    expect(followUntil({ pid: 1, endsAt: since + 7800 }, since, endsAt)).toBe(since + 4000);
    expect(followUntil({ pid: 1, endsAt: since + 60_000 }, since, endsAt)).toBe(since + 4000);
    expect(followUntil({ pid: 1 }, since, endsAt)).toBe(since + 4000);
    expect(followUntil(undefined, since, endsAt)).toBe(since + 4000);
  });

  it('keeps following a live holder whose deadline comes before its own, past half its budget', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    try {
      // the holder (this live process) ends 7 s from now, the follower's own deadline is 8 s away:
      // at half (4 s) it used to verify alone while the leader was still in time
      writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() + 7000}\n`);
      let verdict: string | undefined;
      let worked = false;
      const flight = singleFlight(
        dir,
        KEY,
        Date.now() + 8000,
        () => verdict,
        async () => {
          worked = true;
          return 'own';
        },
      );
      await vi.advanceTimersByTimeAsync(6000);
      expect(worked).toBe(false);
      verdict = 'allow';
      rmSync(join(dir, `${KEY}.lock`));
      await vi.advanceTimersByTimeAsync(300);
      expect(await flight).toEqual({ kind: 'followed', verdict: 'allow' });
      expect(worked).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('takes over the lock of a live holder past its own deadline (frozen, or its pid reused), and leads', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() - 2 * HOLDER_GRACE_MS}\n`);
    expect(await unfollowed(30_000)).toEqual({ kind: 'led', result: 'own' });
  });

  it('a lock naming a far deadline (forged, or a long check) is followed only for half, then it verifies alone', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() + 3_600_000}\n`);
    expect(await unfollowed(300)).toEqual({ kind: 'alone', result: 'own' });
  });

  it('garbage in the lock is a holder without a deadline', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n1e99\n`);
    expect(await unfollowed(300)).toEqual({ kind: 'alone', result: 'own' });
  });
});
