/**
 * A follower takes the leader's verdict however the two interleave: the leader dates its verdict
 * (verifiedAt) before it writes it (a write and a rename), so a start between the two sees no
 * verdict on its first read and, waiting, finds one dated before it started. It must still follow
 * it (cache hit) instead of verifying a second time (cache.test.ts's "one verification" burst saw
 * two misses on a loaded machine).
 *
 * No timing: cachedVerify reads the cache and looks once for the leader's verdict before its first
 * await, so the verdict written right after the call returns its promise is written exactly in
 * that window.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerdictStore } from '../../src/cache/store.js';
import { cachedVerify } from '../../src/engine/cached-verify.js';
import { keyOnlyImage } from '../support/key-only-image.js';
import { type DeadPort, deadPort } from '../support/ports.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

// the registry is down: a follower that verified after all would be refused, never allowed
let registry: DeadPort;
beforeAll(async () => {
  registry = await deadPort();
});
afterAll(async () => registry?.close());

describe('single flight: the leader dates its verdict before it writes it', () => {
  it('a start between the two follows the verdict (hit), it does not verify again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-follow-'));
    try {
      const host = registry.host;
      const { settings, policy, ref, config, scope, key } = await keyOnlyImage(dir, host, DIGEST);
      const store = new VerdictStore(settings.dir);
      expect(store.ensureDir()).toBe(true);
      // the leader: alive (this process), holding the lock, its verdict dated now
      writeFileSync(join(settings.dir, `${key}.lock`), `${process.pid}\n`, { mode: 0o600 });
      const verifiedAt = Date.now() - 1;
      const follower = cachedVerify(
        { ref, named: ref },
        { config, policy, signal: new AbortController().signal, cache: settings, allowTagResolution: false },
      );
      // the follower has read the cache (nothing) and looked for the leader's verdict once: now it lands
      store.write({
        key,
        decision: 'allow',
        code: 'ALLOWED',
        reason: 'verified by the leader',
        image: `${host}/app`,
        digest: DIGEST,
        configDigest: `sha256:${'c'.repeat(64)}`,
        scope,
        verifiedAt,
      });
      rmSync(join(settings.dir, `${key}.lock`));
      const { outcome, verdict } = await follower;
      expect(outcome).toMatchObject({ decision: 'allow', cache: 'hit', reason: 'verified by the leader' });
      expect(verdict).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
