/**
 * How a follower waits for the leader (src/cache/single-flight.ts): woken by the leader's verdict
 * and lock release, looking only now and then meanwhile (a node-boot storm's followers polling
 * every 20 ms spent more CPU than the verifications they waited for), and still taking over
 * the lock of a holder that died.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { singleFlight } from '../../src/cache/single-flight.js';

const KEY = 'f'.repeat(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-flight-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
    // polling every 20 ms looked ~50 times in a second; growing to 250 ms, about 9
    expect(peeks).toBeLessThan(20);
    // the leader stores its verdict (by rename, as VerdictStore does), then lets go of the lock
    verdict = 'allow';
    writeFileSync(join(dir, `${KEY}.json.tmp`), '{}');
    renameSync(join(dir, `${KEY}.json.tmp`), join(dir, `${KEY}.json`));
    rmSync(join(dir, `${KEY}.lock`));
    expect(await flight).toEqual({ kind: 'followed', verdict: 'allow' });
    expect(worked).toBe(false);
  });

  /** A follower that never sees a verdict, waiting at most `budgetMs`: what it ends up doing. */
  const unfollowed = (budgetMs: number) =>
    singleFlight(
      dir,
      KEY,
      Date.now() + budgetMs,
      () => undefined,
      async () => 'own',
    );

  it('takes over the lock of a holder that is gone, and leads', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${spawnSync('/bin/true').pid}\n`);
    expect(await unfollowed(30_000)).toEqual({ kind: 'led', result: 'own' });
  });

  it('verifies alone when the wait budget ends with the holder still at work', async () => {
    writeFileSync(join(dir, `${KEY}.lock`), `${process.pid}\n`);
    expect(await unfollowed(300)).toEqual({ kind: 'alone', result: 'own' });
  });
});
