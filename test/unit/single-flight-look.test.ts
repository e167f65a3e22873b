/**
 * A waiting follower stats the lock on each look and reads the holder it names again only when
 * the lock is another file or was changed (src/cache/single-flight.ts: reading and parsing it
 * twice a look cost a storm's followers more CPU than the rest of their wait). The holder it
 * follows must still be the lock's current one: a lock replaced by a dead or overdue holder's is
 * broken and taken, whichever way it was replaced.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { singleFlight } from '../../src/cache/single-flight.js';

const KEY = 'e'.repeat(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-look-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A follower with 30 s of its own that never sees a verdict; when it ended, and how. */
const follower = () => {
  const t0 = Date.now();
  return singleFlight(
    dir,
    KEY,
    Date.now() + 30_000,
    () => undefined,
    async () => Date.now() - t0,
  );
};
const deadPid = () => spawnSync('/bin/true').pid;

describe('single flight: a follower looks at the lock as it is now', () => {
  it('a lock replaced (another file) by a dead holder’s is taken, not followed as the live one before it', async () => {
    // a live holder (this process) that ends in 10 s: followed to its end
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() + 10_000}\n`);
    const flight = follower();
    await sleep(300);
    writeFileSync(join(dir, 'next'), `${deadPid()}\n${Date.now() + 10_000}\n`);
    renameSync(join(dir, 'next'), join(dir, `${KEY}.lock`));
    const r = await flight;
    expect(r.kind).toBe('led');
    expect(r.kind === 'led' && r.result).toBeLessThan(3000);
  });

  it('a lock rewritten in place with an overdue holder is taken', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() + 10_000}\n`);
    const flight = follower();
    await sleep(300);
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() - 5000}\n`);
    const r = await flight;
    expect(r.kind).toBe('led');
    expect(r.kind === 'led' && r.result).toBeLessThan(3000);
  });

  it('a live holder left as it is keeps being followed', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n${Date.now() + 1500}\n`);
    const r = await follower();
    // followed to the holder's end and grace (2 s), then the lock is broken and taken
    expect(r.kind).toBe('led');
    expect(r.kind === 'led' && r.result).toBeGreaterThanOrEqual(1900);
  });
});
