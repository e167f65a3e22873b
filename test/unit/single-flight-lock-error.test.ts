/**
 * A follower whose holder let go tries for the lock itself; when the lock cannot be made then (the
 * cache folder full, removed, or broken: any error but "it exists"), the follower verifies alone,
 * as it does when its very first try fails (src/cache/single-flight.ts). A lock is only a way to
 * save work: failing to make one must never refuse a start (a signed image unstartable, in a
 * node-boot storm on a full disk, for every hook that happened to be waiting).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { singleFlight } from '../../src/cache/single-flight.js';

const KEY = 'f'.repeat(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-lockerr-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('single flight: a lock that cannot be made while following', () => {
  it('the holder lets go, the follower cannot write its lock: it verifies alone, in time', async () => {
    const lock = join(dir, `${KEY}.lock`);
    // a live holder (this process) naming no deadline: followed until it lets go
    writeFileSync(lock, `${process.pid}\n`);
    const t0 = Date.now();
    let worked = 0;
    const flight = singleFlight(
      dir,
      KEY,
      t0 + 6_000,
      () => undefined,
      async () => {
        worked++;
        return 'own';
      },
    );
    await sleep(200);
    // the follower's lock file cannot be written any more (what ENOSPC, EIO or a removed folder do to
    // the open): its own temporary file's path is taken by a directory, so openSync fails (EISDIR)
    mkdirSync(`${lock}.${process.pid}.tmp`);
    rmSync(lock);
    const r = await flight;
    expect(r).toEqual({ kind: 'alone', result: 'own' });
    expect(worked).toBe(1);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});
