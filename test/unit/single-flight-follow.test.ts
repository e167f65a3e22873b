/**
 * A follower takes the leader's verdict however the two interleave: the leader dates its verdict
 * (verifiedAt) before it writes it (a write with fsync), so a start between the two sees no
 * verdict on its first read and, waiting, finds one dated before it started. It must still follow
 * it (cache hit) instead of verifying a second time (cache.test.ts's "one verification" burst saw
 * two misses on a loaded machine).
 *
 * No timing: cachedVerify reads the cache and looks once for the leader's verdict before its first
 * await, so the verdict written right after the call returns its promise is written exactly in
 * that window.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/key.js';
import { VerdictStore } from '../../src/cache/store.js';
import { loadConfig } from '../../src/config/load.js';
import { cachedVerify } from '../../src/engine/cached-verify.js';
import { scopeVerdict } from '../../src/engine/scope-verdict.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { parseReference } from '../../src/reference/reference.js';
import { type DeadPort, deadPort } from '../support/ports.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const KEY = Buffer.from(
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string,
).toString('base64');

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
      const settings = { dir: join(dir, 'cache'), ttlMs: 3_600_000, denyBackoffMs: 30_000, maxStaleMs: 0 };
      const host = registry.host;
      const policy = compilePolicy(
        {
          version: 1,
          default: 'reject',
          scopes: { [host]: [{ type: 'sigstoreSigned', keyData: KEY, signedIdentity: { type: 'matchRepository' } }] },
        },
        join(dir, 'p.yaml'),
      );
      const ref = parseReference(`${host}/app@${DIGEST}`);
      const config = await loadConfig(undefined);
      const { scope, requirements } = scopeVerdict(ref, ref, policy);
      const key = cacheKey(ref, DIGEST, scope, requirements, config.platform);
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
