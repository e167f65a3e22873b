/**
 * Review of DocCache.validateOnce (a5db6d4), the attack and failure cases its own tests leave
 * out: a leader killed mid-validation or frozen never keeps a follower past its deadline (it
 * validates alone, soon); a value in docs/ that is not root's 0600 file is taken by no one; a
 * policy that validates but does not build (a key that is not one) refuses every caller of a
 * storm with its own error and is not kept, while a valid one is kept and built by each.
 * These tests run as root (another user's file is made with lchown).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOC_WAIT_MS, DocCache } from '../../src/cache/doc-cache.js';
import { loadPolicy } from '../../src/policy/load.js';
import { VERSION_INFO } from '../../src/version.js';

const NOBODY = 65534;
let dir: string;
let children: ChildProcess[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-doc-once-review-'));
  mkdirSync(join(dir, 'docs'), { mode: 0o700 });
  children = [];
});
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The lock a validateOnce of `text` takes (doc-cache.ts: 128 bits of the document's key). */
const lockOf = (kind: string, text: string) =>
  join(
    dir,
    'docs',
    `v-${createHash('sha256').update(`${VERSION_INFO.version}\0${VERSION_INFO.commit}\0${kind}\0${text}`).digest('hex').slice(0, 32)}`,
  );

/** A child process (node) that runs `code`; resolves once it printed "ready". */
function child(code: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve) => c.stdout?.on('data', (d) => String(d).includes('ready') && resolve(c)));
}

/** A leader in another process: its lock at `lock` (its pid, a deadline a minute off) and its wake socket. */
const leaderAt = (lock: string) =>
  child(
    `const fs = require('node:fs'); fs.writeFileSync(${JSON.stringify(`${lock}.lock`)}, process.pid + '\\n' + (Date.now() + 60000) + '\\n');
     require('node:net').createServer(() => {}).listen(${JSON.stringify(`${lock}.wake`)}, () => console.log('ready'));`,
  );

describe('validateOnce: a leader that fails to end', () => {
  it('a leader killed mid-validation (the kernel closes its wake socket): the follower validates at once', async () => {
    const lock = lockOf('policy', 'text');
    const leader = await leaderAt(lock);
    let runs = 0;
    const started = Date.now();
    const got = new DocCache(dir, { endsAt: started + 10_000 }).validateOnce('policy', 'text', async () => {
      runs++;
      return { ok: 1 };
    });
    setTimeout(() => leader.kill('SIGKILL'), 300);
    await expect(got).resolves.toEqual({ ok: 1 });
    expect(runs).toBe(1);
    // woken by the kernel, not by a look half a deadline later (5 s)
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(new DocCache(dir).get('policy', 'text')).toEqual({ ok: 1 });
  });

  it('a frozen leader (alive, its deadline after ours): the follower validates alone at half of what it has left', async () => {
    const lock = lockOf('config', 'text');
    const frozen = await child(`console.log('ready'); setInterval(() => {}, 1000);`);
    writeFileSync(`${lock}.lock`, `${frozen.pid}\n${Date.now() + 60_000}\n`);
    let runs = 0;
    const started = Date.now();
    const got = await new DocCache(dir, { endsAt: started + 2_000 }).validateOnce('config', 'text', async () => {
      runs++;
      return 'v';
    });
    const took = Date.now() - started;
    expect(got).toBe('v');
    expect(runs).toBe(1);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(2_000); // within its own deadline
  });
});

describe('validateOnce: a follower keeps its deadline for the verification', () => {
  it(`a stuck leader (alive, a deadline far off) keeps a follower with 8 s left at most ${DOC_WAIT_MS} ms, not until its own end`, async () => {
    const lock = lockOf('policy', 'stuck');
    const stuck = await child(`console.log('ready'); setInterval(() => {}, 1000);`);
    writeFileSync(`${lock}.lock`, `${stuck.pid}\n${Date.now() + 60_000}\n`);
    const started = Date.now();
    const got = await new DocCache(dir, { endsAt: started + 8_000 }).validateOnce('policy', 'stuck', async () => 'mine');
    expect(got).toBe('mine');
    expect(Date.now() - started).toBeLessThan(DOC_WAIT_MS + 1_000);
  });

  it('a connection the leader closes while its lock is still there (past its follower cap) is no end: the follower waits on and takes the value', async () => {
    const lock = lockOf('policy', 'capped');
    // a live leader whose socket drops every follower at once (as past MAX_FOLLOWERS), and which
    // puts its value 600 ms later
    const leader = await child(
      `const fs = require('node:fs'); fs.writeFileSync(${JSON.stringify(`${lock}.lock`)}, process.pid + '\\n' + (Date.now() + 60000) + '\\n');
       require('node:net').createServer((c) => c.destroy()).listen(${JSON.stringify(`${lock}.wake`)}, () => console.log('ready'));`,
    );
    let runs = 0;
    setTimeout(() => {
      new DocCache(dir).put('policy', 'capped', { from: 'leader' });
      leader.kill('SIGKILL');
    }, 600);
    const got = await new DocCache(dir, { endsAt: Date.now() + 8_000 }).validateOnce('policy', 'capped', async () => {
      runs++;
      return { from: 'follower' };
    });
    expect(got).toEqual({ from: 'leader' });
    expect(runs).toBe(0);
  });
});

describe('validateOnce: what a follower takes is read by the full key, never by the lock', () => {
  it('a leader under the same lock name that stores a value for another text: the follower validates its own', async () => {
    // two texts sharing a lock (the lock names 128 bits of the key): the one that leads stores the
    // other text's value, then ends; the follower it wakes reads its own text's key and finds nothing
    const lock = lockOf('policy', 'mine');
    const leader = await leaderAt(lock);
    const got = new DocCache(dir, { endsAt: Date.now() + 10_000 }).validateOnce('policy', 'mine', async () => ({ text: 'mine' }));
    setTimeout(() => {
      new DocCache(dir).put('policy', 'theirs', { text: 'theirs' });
      leader.kill('SIGKILL');
    }, 200);
    await expect(got).resolves.toEqual({ text: 'mine' });
    expect(new DocCache(dir).get('policy', 'theirs')).toEqual({ text: 'theirs' });
  });
});

describe('validateOnce: only root’s own 0600 files are taken', () => {
  for (const [what, spoil] of [
    ['open to others (0644)', (f: string) => chmodSync(f, 0o644)],
    ['another user’s', (f: string) => lchownSync(f, NOBODY, NOBODY)],
  ] as const) {
    it(`a value in docs/ ${what}: validated again, never taken`, async () => {
      new DocCache(dir).put('policy', 'text', { planted: true });
      const file = readdirSync(join(dir, 'docs')).find((f) => f.endsWith('.json'));
      expect(file).toBeDefined();
      spoil(join(dir, 'docs', file!));
      const results = await Promise.all(
        [1, 2, 3].map(() =>
          new DocCache(dir, { endsAt: Date.now() + 10_000 }).validateOnce('policy', 'text', async () => ({ real: true })),
        ),
      );
      for (const r of results) expect(r).toEqual({ real: true });
    });
  }
});

describe('loadPolicy with the hook’s document cache (a deadline)', () => {
  const policyWith = (keyPath: string) =>
    `version: 1\ndefault: reject\nscopes:\n  "registry.example":\n    - type: sigstoreSigned\n      keyPath: ${keyPath}\n`;

  it('a key that is not one: every caller of a storm refuses with the key error, nothing is kept', async () => {
    const key = join(dir, 'bad.pub');
    writeFileSync(key, '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
    const file = join(dir, 'policy.yaml');
    const text = policyWith(key);
    writeFileSync(file, text);
    const endsAt = Date.now() + 10_000;
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => loadPolicy(file, new DocCache(dir, { endsAt }))));
    const reasons = results.map((r) => (r.status === 'rejected' ? String((r.reason as Error).message) : 'loaded'));
    expect(new Set(reasons).size, reasons.join('\n')).toBe(1);
    expect(reasons[0]).toMatch(/bad\.pub/);
    expect(new DocCache(dir).get('policy', text)).toBeUndefined();
  });

  it('without a deadline (check, cache prime, the agent): as before, no lock; a key that is not one is not kept', async () => {
    const key = join(dir, 'bad.pub');
    writeFileSync(key, '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, policyWith(key));
    await expect(loadPolicy(file, new DocCache(dir))).rejects.toThrow(/bad\.pub/);
    expect(new DocCache(dir).get('policy', policyWith(key))).toBeUndefined();
    expect(readdirSync(join(dir, 'docs'))).toEqual([]);
  });

  it('a valid policy: every caller builds it (its keys read by each), and it is kept', async () => {
    const key = join(dir, 'good.pub');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const file = join(dir, 'policy.yaml');
    const text = policyWith(key);
    writeFileSync(file, text);
    const endsAt = Date.now() + 10_000;
    const policies = await Promise.all(Array.from({ length: 6 }, () => loadPolicy(file, new DocCache(dir, { endsAt }))));
    for (const p of policies) {
      const req = p.scopes.get('registry.example')?.[0];
      expect(req?.type).toBe('sigstoreSigned');
    }
    expect(new DocCache(dir).get('policy', text)).toBeDefined();
    expect(readdirSync(join(dir, 'docs')).filter((f) => !f.endsWith('.json'))).toEqual([]);
  });
});
