/**
 * `sigguard trust update` (src/trust/update.ts) against TUF repositories the tests make and sign
 * (test/support/tuf-repo.ts), read as a folder (air-gapped) and over loopback HTTP: a first
 * update and an already-current one; root rotation v1→v2→v3 with new keys and a threshold of 2;
 * and the refusals — expired timestamp, rollback of timestamp, snapshot and targets, a target
 * whose bytes do not match, a root signed below its threshold, a mirror that hangs — each with
 * its reason, the kept root and state untouched. Then what the hook reads
 * (src/policy/kept-root.ts): the hash against the signed targets metadata, root-only files, and
 * `public-good` as the newer of the built-in and the updated root, never an older fallback.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SigguardError } from '../../src/errors.js';
import { BUILT_IN_TARGETS, choosePublicGood, readKeptRoot, tufStatePath } from '../../src/policy/kept-root.js';
import { publicGoodTrustedRootBytes } from '../../src/policy/public-good.js';
import { trustUpdate } from '../../src/trust/update.js';
import { trustStatus } from '../../src/trust/status.js';
import { TufRepoFixture, serveFolder, tufSigner } from '../support/tuf-repo.js';

const BUILT_IN = publicGoodTrustedRootBytes();
/** A valid trusted root whose bytes differ per n (the built-in one, laid out otherwise). */
const rootBytes = (n: number): Buffer => Buffer.from(`${JSON.stringify(JSON.parse(BUILT_IN.toString('utf8')), null, n)}\n`);

const dirs: string[] = [];
const tempDir = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `sigguard-tuf-${name}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<SigguardError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SigguardError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

/** The kept root and state, byte for byte: what a refusal must leave as it was. */
const snapshotOf = (out: string) => ({ root: readFileSync(out), state: readFileSync(tufStatePath(out)) });

describe.each(['folder', 'http'] as const)('trust update from a TUF repository (%s)', (transport) => {
  let repo: TufRepoFixture;
  let out: string;
  let source: { mirror?: string; from?: string };
  let close: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    repo = new TufRepoFixture(tempDir('repo'));
    out = join(tempDir('out'), 'public-good.json');
    if (transport === 'http') {
      const served = await serveFolder(repo.dir);
      source = { mirror: served.url };
      close = served.close;
    } else {
      source = { from: repo.dir };
    }
  });
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  const update = (o: { timeoutMs?: number } = {}) =>
    trustUpdate({ ...source, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: o.timeoutMs ?? 10_000 });

  it('a first update writes the root and its TUF state; the next run is already current', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    const first = await update();
    expect(first).toMatchObject({ status: 'updated', rootVersion: 1, targetsVersion: 20, timestampVersion: 1 });
    expect(readFileSync(out)).toEqual(rootBytes(1));
    const kept = readKeptRoot(out);
    expect(kept.state).toBe('ok');
    if (kept.state === 'ok') expect(kept.root).toMatchObject({ targetsVersion: 20, rootVersion: 1, target: 'trusted_root.json' });
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    expect(await update()).toMatchObject({ status: 'current', timestampVersion: 2, targetsVersion: 20 });
  });

  it('follows root rotation v1 -> v2 -> v3 with new keys and a threshold of 2, then refuses the old keys', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) });
    await update();
    const two = [tufSigner(), tufSigner()];
    repo.rotate({ root: { signers: two, threshold: 2 }, targets: { signers: [tufSigner(), tufSigner()], threshold: 2 } });
    const three = [tufSigner(), tufSigner(), tufSigner()];
    repo.rotate({ root: { signers: three, threshold: 2 }, timestamp: { signers: [tufSigner()], threshold: 1 } });
    repo.publish({ 'trusted_root.json': rootBytes(2) });
    expect(await update()).toMatchObject({ status: 'updated', rootVersion: 3, targetsVersion: 2 });
    expect(readFileSync(out)).toEqual(rootBytes(2));
    // v3 trusted: timestamp metadata signed by the v1 timestamp key is refused now
    const before = snapshotOf(out);
    const v3Timestamp = repo.signers.timestamp;
    repo.signers.timestamp = [tufSigner()];
    repo.publish({ 'trusted_root.json': rootBytes(3) });
    repo.signers.timestamp = v3Timestamp;
    const e = await refusal(update());
    expect(e.code).toBe('TRUST_UPDATE_FAILED');
    expect(e.message).toMatch(/timestamp was signed by 0\/1 keys/);
    expect(snapshotOf(out)).toEqual(before);
  });

  it('refuses a root signed below its threshold', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) });
    await update();
    const before = snapshotOf(out);
    const old = repo.signers.root;
    const next = [tufSigner(), tufSigner()];
    // v2 wants 2 of its own keys; signed by the old key and only one new one
    repo.rotate({ root: { signers: next, threshold: 2 } }, [...old, next[0]!]);
    repo.publish({ 'trusted_root.json': rootBytes(2) });
    const e = await refusal(update());
    expect(e.code).toBe('TRUST_UPDATE_FAILED');
    expect(e.message).toMatch(/root was signed by 1\/2 keys/);
    expect(e.message).toContain('left as it was');
    expect(snapshotOf(out)).toEqual(before);
  });

  it('refuses an expired timestamp', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) });
    await update();
    const before = snapshotOf(out);
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { timestampExpiresInDays: -1 });
    const e = await refusal(update());
    expect(e.message).toMatch(/timestamp\.json is expired/);
    expect(snapshotOf(out)).toEqual(before);
  });

  it('refuses an expired timestamp on a first update too: nothing is written', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { timestampExpiresInDays: -1 });
    const e = await refusal(update());
    expect(e.message).toMatch(/expired/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(tufStatePath(out))).toBe(false);
  });

  it('refuses rollbacks of the timestamp, the snapshot and the targets against the kept state', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 5, snapshotVersion: 5, timestampVersion: 5 });
    await update();
    const before = snapshotOf(out);
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 6, snapshotVersion: 6, timestampVersion: 3 });
    expect((await refusal(update())).message).toMatch(/timestamp version 3 is less than current version 5/);
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 6, snapshotVersion: 4, timestampVersion: 6 });
    expect((await refusal(update())).message).toMatch(/snapshot version 4 is less than current version 5/);
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 3, snapshotVersion: 7, timestampVersion: 7 });
    expect((await refusal(update())).message).toMatch(/version 3 of targets\.json is less than current version 5/);
    expect(snapshotOf(out)).toEqual(before);
  });

  it('refuses a target whose bytes do not match its length and hashes', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) });
    await update();
    const before = snapshotOf(out);
    const evil = Buffer.from(rootBytes(2).toString('utf8').replace('rekor.sigstore.dev', 'rekor.evil.example'));
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { servedInstead: { 'trusted_root.json': evil } });
    const e = await refusal(update());
    expect(e.message).toMatch(/hash|length/i);
    expect(snapshotOf(out)).toEqual(before);
  });

  it('refuses a target that is not a trusted root, and a repository without the target', async () => {
    repo.publish({ 'trusted_root.json': Buffer.from('{"mediaType":"text/plain"}') });
    expect((await refusal(update())).message).toMatch(/not a valid trusted root/);
    repo.publish({ 'other.json': rootBytes(1) });
    expect((await refusal(update())).message).toMatch(/no target trusted_root\.json/);
    expect(existsSync(out)).toBe(false);
  });

  it('one update at a time: a live holder of the lock refuses, a dead one is broken', async () => {
    repo.publish({ 'trusted_root.json': rootBytes(1) });
    await update();
    const lock = `${tufStatePath(out)}.lock`;
    writeFileSync(lock, String(process.pid), { mode: 0o600 });
    expect((await refusal(update())).message).toMatch(new RegExp(`another trust update \\(pid ${process.pid}\\) is running`));
    writeFileSync(lock, '999999999', { mode: 0o600 });
    repo.publish({ 'trusted_root.json': rootBytes(2) });
    expect(await update()).toMatchObject({ status: 'updated' });
    expect(existsSync(lock)).toBe(false);
  });

  if (transport === 'http') {
    it('refuses a mirror that hangs, within its timeout', async () => {
      repo.publish({ 'trusted_root.json': rootBytes(1) });
      await update();
      const before = snapshotOf(out);
      await close?.();
      const hanging = await serveFolder(repo.dir, { hang: (p) => p === '/timestamp.json' });
      close = hanging.close;
      repo.publish({ 'trusted_root.json': rootBytes(2) });
      const started = Date.now();
      const e = await refusal(trustUpdate({ mirror: hanging.url, target: 'trusted_root.json', out, timeoutMs: 1500 }));
      expect(Date.now() - started).toBeLessThan(6000);
      expect(e.message).toMatch(/did not answer within 1\.5 s/);
      expect(snapshotOf(out)).toEqual(before);
    });
  }
});

describe('the kept root as the hook reads it', () => {
  async function keptRoot(targetsVersion: number, bytes = rootBytes(1)) {
    const repo = new TufRepoFixture(tempDir('repo'));
    repo.publish({ 'trusted_root.json': bytes }, { targetsVersion });
    const out = join(tempDir('out'), 'public-good.json');
    await trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    return out;
  }

  it("without --root a first update starts from the built-in public-good TUF root: another repository's metadata is refused", async () => {
    const repo = new TufRepoFixture(tempDir('repo'));
    repo.publish({ 'trusted_root.json': rootBytes(1) });
    const out = join(tempDir('out'), 'public-good.json');
    const e = await refusal(trustUpdate({ from: repo.dir, target: 'trusted_root.json', out, timeoutMs: 10_000 }));
    expect(e.message).toMatch(/timestamp was signed by 0\/1 keys/);
    expect(existsSync(out)).toBe(false);
  });

  it('the built-in root is the target of public-good TUF targets v14 (update BUILT_IN_TARGETS with @sigstore/tuf)', () => {
    expect(createHash('sha256').update(BUILT_IN).digest('hex')).toBe(BUILT_IN_TARGETS.sha256);
  });

  it('public-good is the updated root when its TUF targets version is higher, the built-in one otherwise', async () => {
    const newer = await keptRoot(20);
    expect(choosePublicGood(BUILT_IN, newer).origin).toMatchObject({ source: 'tuf', targetsVersion: 20 });
    expect(choosePublicGood(BUILT_IN, newer).bytes).toEqual(rootBytes(1));
    const older = await keptRoot(9);
    const chosen = choosePublicGood(BUILT_IN, older);
    expect(chosen.origin).toMatchObject({ source: 'built-in', targetsVersion: 14 });
    expect(chosen.origin.note).toMatch(/TUF targets v9, not newer/);
    expect(chosen.bytes).toEqual(BUILT_IN);
    expect(choosePublicGood(BUILT_IN, join(tempDir('none'), 'public-good.json')).origin).toEqual({
      source: 'built-in',
      targetsVersion: 14,
    });
  });

  it('an updated root that fails its checks is chosen with its problem, never the older built-in root', async () => {
    const tampered = await keptRoot(20);
    writeFileSync(tampered, rootBytes(3), { mode: 0o600 });
    expect(choosePublicGood(BUILT_IN, tampered).origin.problem).toMatch(/is not the \d+ of the signed targets metadata version 20/);

    const open = await keptRoot(20);
    chmodSync(open, 0o644);
    expect(choosePublicGood(BUILT_IN, open).origin.problem).toMatch(/mode 0644\) is open to group or others/);

    const noState = await keptRoot(20);
    rmSync(tufStatePath(noState));
    expect(choosePublicGood(BUILT_IN, noState).origin.problem).toMatch(/its TUF state .* is missing/);

    // no root at all (never written, or a first update between its renames: state, then root) is no updated root
    const noRoot = await keptRoot(20);
    rmSync(noRoot);
    expect(choosePublicGood(BUILT_IN, noRoot).origin).toEqual({ source: 'built-in', targetsVersion: 14 });

    const badState = await keptRoot(20);
    writeFileSync(tufStatePath(badState), '{"format":"sigguard-tuf-state/1"}', { mode: 0o600 });
    expect(choosePublicGood(BUILT_IN, badState).origin.problem).toMatch(/malformed \(mirror: expected a string\)/);
  });

  it('between the two renames of an update (new state, old root) the old root still counts, as what it was', async () => {
    const repo = new TufRepoFixture(tempDir('repo'));
    const out = join(tempDir('out'), 'public-good.json');
    const update = () => trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    await update();
    const old = snapshotOf(out);
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 21 });
    await update();
    const state = JSON.parse(readFileSync(tufStatePath(out), 'utf8')) as Record<string, unknown>;
    expect(state.previousTargets).toBeUndefined(); // only while an update is between its renames
    const oldTargets = (JSON.parse(old.state.toString('utf8')) as { metadata: { targets: string } }).metadata.targets;
    writeFileSync(tufStatePath(out), JSON.stringify({ ...state, previousTargets: oldTargets }), { mode: 0o600 });
    writeFileSync(out, old.root, { mode: 0o600 });
    const kept = readKeptRoot(out);
    expect(kept.state === 'ok' && kept.root.targetsVersion).toBe(20);
    // any other root is still refused
    writeFileSync(out, rootBytes(3), { mode: 0o600 });
    expect(readKeptRoot(out).state).toBe('invalid');
  });

  it('trust status: versions, expiries and keys; stale after maxAgeDays', async () => {
    const out = await keptRoot(20);
    const now = new Date();
    const fresh = trustStatus(out, true, 30, now);
    expect(fresh.problems).toEqual([]);
    expect(fresh.text).toMatch(/TUF root v1 .* targets v20/);
    expect(fresh.text).toMatch(/in use for public-good: the updated root \(TUF targets v20\)/);
    expect(fresh.text).toMatch(/Rekor\s+https:\/\/rekor\.sigstore\.dev: 2021-01-12 \.\. open/);
    const later = trustStatus(out, true, 30, new Date(now.getTime() + 31 * 86_400_000));
    expect(later.problems.join('; ')).toMatch(/fetched 31 days ago, more than trust\.maxAgeDays \(30\)/);
    const never = trustStatus(join(tempDir('none'), 'public-good.json'), true, 30, now);
    expect(never.problems.join('; ')).toMatch(/never been updated/);
  });
});
