/**
 * A verification that ran out of time says nothing about the image, and in a node-boot storm it is
 * mostly the node's own load: its refusal is not kept as a verdict (the other refusals are, for
 * denyBackoffSeconds). Kept, it refused every start of that image for 30 s after the storm, and
 * the followers waiting for the leader took it too. A registry that cannot be reached is still
 * kept, against a CrashLoop hammering it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerdictStore } from '../../src/cache/store.js';
import { startDeadline } from '../../src/deadline.js';
import { cachedVerify } from '../../src/engine/cached-verify.js';
import { keyOnlyImage } from '../support/key-only-image.js';
import { type DeadPort, deadPort } from '../support/ports.js';

const DIGEST = `sha256:${'b'.repeat(64)}`;

// a registry that takes every connection and never answers
let silent: Server;
const sockets = new Set<Socket>();
let silentHost: string;
let dead: DeadPort;
beforeAll(async () => {
  silent = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const addr = silent.address();
  silentHost = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  dead = await deadPort();
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  await dead?.close();
});

/** One cold verification of an image at `host` under a deadline of `ms`: its outcome and what the cache kept. */
async function verifyOnce(host: string, ms: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sg-deadline-cache-'));
  try {
    const { settings: cache, policy, ref, config, key } = await keyOnlyImage(dir, host, DIGEST);
    const deadline = startDeadline(Date.now() + ms, 'deadline exceeded');
    try {
      const { outcome } = await cachedVerify(
        { ref, named: ref },
        { config, policy, signal: deadline.signal, cache, allowTagResolution: false },
      );
      return { outcome, kept: new VerdictStore(cache.dir).read(key) };
    } finally {
      deadline.clear();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('verdicts kept: a deadline is not a verdict', () => {
  it('a verification that ran out of time is refused and not kept', async () => {
    const { outcome, kept } = await verifyOnce(silentHost, 400);
    expect(outcome).toMatchObject({ decision: 'deny', code: 'DEADLINE_EXCEEDED' });
    expect(kept).toBeUndefined();
  }, 30_000);

  it('a registry that cannot be reached is refused and kept for the back-off', async () => {
    const { outcome, kept } = await verifyOnce(dead.host, 5000);
    expect(outcome).toMatchObject({ decision: 'deny', code: 'REGISTRY_UNREACHABLE' });
    expect(kept).toMatchObject({ decision: 'deny', code: 'REGISTRY_UNREACHABLE' });
  }, 30_000);
});
