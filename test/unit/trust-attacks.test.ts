/**
 * `sigguard trust update` and the kept root under attack (issue 13's review): a mirror that holds
 * no TUF key but serves what it likes — endless bodies, metadata of one version under another's
 * name (mix-and-match), a target served only under its plain name (consistent snapshots) — each
 * refused with the kept root and state untouched, by the update's own caps rather than its
 * deadline; and the hook's reading of a kept root whose folder someone else can write: a root that
 * went missing there is no reason to fall back to the older built-in one.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SigguardError } from '../../src/errors.js';
import { choosePublicGood, readKeptRoot, tufStatePath } from '../../src/policy/kept-root.js';
import { publicGoodTrustedRootBytes } from '../../src/policy/public-good.js';
import { trustUpdate } from '../../src/trust/update.js';
import { TufRepoFixture, serveFolder } from '../support/tuf-repo.js';

const BUILT_IN = publicGoodTrustedRootBytes();
const rootBytes = (n: number): Buffer => Buffer.from(`${JSON.stringify(JSON.parse(BUILT_IN.toString('utf8')), null, n)}\n`);

const base = mkdtempSync(join(tmpdir(), 'sigguard-tuf-attack-'));
const tempDir = (name: string) => mkdtempSync(join(base, `${name}-`));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The SigguardError `p` is refused with. */
const refusal = (p: Promise<unknown>): Promise<SigguardError> =>
  p.then(
    () => Promise.reject(new Error('expected a refusal')),
    (err: unknown) => (err instanceof SigguardError ? err : Promise.reject(err)),
  );

const snapshotOf = (out: string) => ({ root: readFileSync(out), state: readFileSync(tufStatePath(out)) });

/** Serves `dir` on loopback, except that `endless(path)` answers 200 with a body that never ends; counts the bytes written. */
async function endlessMirror(dir: string, endless: (path: string) => boolean) {
  const files = await serveFolder(dir);
  let written = 0;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!endless(path)) {
      fetch(`${files.url}${path}`).then(
        async (r) => {
          res.writeHead(r.status);
          res.end(Buffer.from(await r.arrayBuffer()));
        },
        () => res.destroy(),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) written += chunk.length;
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    written: () => written,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await files.close();
    },
  };
}

describe('trust update against a mirror that holds no TUF key', () => {
  async function updated() {
    const repo = new TufRepoFixture(tempDir('repo'));
    const out = join(tempDir('out'), 'public-good.json');
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    await trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    return { repo, out, before: snapshotOf(out) };
  }

  it.each([
    ['timestamp.json', '/timestamp.json', /Max length reached/],
    ['the target', '/targets/', /Max length reached/],
  ])('an endless %s is cut at its cap, refused by the cap (not the 30 s deadline), the kept files untouched', async (_, prefix, reason) => {
    const { repo, out, before } = await updated();
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 21 });
    const mirror = await endlessMirror(repo.dir, (p) => p.startsWith(prefix));
    try {
      const e = await refusal(trustUpdate({ mirror: mirror.url, target: 'trusted_root.json', out, timeoutMs: 30_000 }));
      expect(e.code).toBe('TRUST_UPDATE_FAILED');
      expect(e.message).toMatch(reason);
      expect(e.message).not.toMatch(/did not answer/);
      expect(e.message).not.toContain('\n');
      expect(snapshotOf(out)).toEqual(before);
    } finally {
      await mirror.close();
    }
  });

  it('mix-and-match: an older snapshot or targets metadata served under the newer version name is refused', async () => {
    const { repo, out, before } = await updated();
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 21, snapshotVersion: 2, timestampVersion: 2 });
    copyFileSync(join(repo.dir, '1.snapshot.json'), join(repo.dir, '2.snapshot.json'));
    const update = () => trustUpdate({ from: repo.dir, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    expect((await refusal(update())).message).toMatch(/Snapshot version doesn't match timestamp/);
    expect(snapshotOf(out)).toEqual(before);
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 22, snapshotVersion: 3, timestampVersion: 3 });
    copyFileSync(join(repo.dir, '20.targets.json'), join(repo.dir, '22.targets.json'));
    expect((await refusal(update())).message).toMatch(/Version 20 of targets does not match snapshot version 22/);
    expect(snapshotOf(out)).toEqual(before);
  });

  it('consistent snapshots: the target is fetched only under its hash-prefixed name', async () => {
    const { repo, out, before } = await updated();
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 21 });
    const prefixed = join(repo.dir, 'targets', `${createHash('sha256').update(rootBytes(2)).digest('hex')}.trusted_root.json`);
    // the right bytes under the plain name only: not taken
    copyFileSync(prefixed, join(repo.dir, 'targets', 'trusted_root.json'));
    rmSync(prefixed);
    const e = await refusal(trustUpdate({ from: repo.dir, target: 'trusted_root.json', out, timeoutMs: 10_000 }));
    expect(e.message).toMatch(/HTTP 404/);
    expect(snapshotOf(out)).toEqual(before);
  });
});

describe('the kept root, as the hook reads it, in a folder someone else can write', () => {
  it('a root missing beside its TUF state in a folder open to others is no reason to use the built-in root', async () => {
    const repo = new TufRepoFixture(tempDir('repo'));
    const out = join(tempDir('out'), 'public-good.json');
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    await trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    expect(choosePublicGood(BUILT_IN, out).origin).toMatchObject({ source: 'tuf', targetsVersion: 20 });
    // whoever can write the folder removes the newer root: the older built-in root must not come back
    chmodSync(join(out, '..'), 0o777);
    rmSync(out);
    expect(existsSync(tufStatePath(out))).toBe(true);
    const chosen = choosePublicGood(BUILT_IN, out);
    expect(chosen.origin.source).toBe('tuf');
    expect(chosen.origin.problem).toMatch(/mode 0777\) is open to group or others/);
    expect(readKeptRoot(out).state).toBe('invalid');
    // the same folder closed again: a missing root there is a first update between its renames (state, then root)
    chmodSync(join(out, '..'), 0o700);
    expect(choosePublicGood(BUILT_IN, out).origin).toEqual({ source: 'built-in', targetsVersion: 14 });
  });
});

describe('trust update into a folder whose path someone else can write', () => {
  it('is refused before anything is written: the hook would refuse the kept files, and whoever writes the parent could move the folder away (no root, the built-in one)', async () => {
    if (process.geteuid?.() !== 0) throw new Error('this test runs as root (file trust is enforced for root only)');
    const repo = new TufRepoFixture(tempDir('repo'));
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    const parent = tempDir('open-parent');
    chmodSync(parent, 0o777);
    const out = join(parent, 'trust', 'public-good.json');
    const e = await refusal(trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 }));
    expect(e.code).toBe('TRUST_UPDATE_FAILED');
    expect(e.message).toMatch(/writable by group and others without the sticky bit/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(tufStatePath(out))).toBe(false);
    expect(existsSync(`${tufStatePath(out)}.lock`)).toBe(false);
  });
});

describe('an update cut short between its renames, then one that fails there too', () => {
  it('the root on disk keeps matching the state: the targets it matched are the ones kept as previous', async () => {
    const repo = new TufRepoFixture(tempDir('repo'));
    const out = join(tempDir('out'), 'public-good.json');
    const update = () => trustUpdate({ from: repo.dir, root: repo.initialRoot, target: 'trusted_root.json', out, timeoutMs: 10_000 });
    repo.publish({ 'trusted_root.json': rootBytes(1) }, { targetsVersion: 20 });
    await update();
    const v20 = snapshotOf(out);
    const t20 = (JSON.parse(v20.state.toString('utf8')) as { metadata: { targets: string } }).metadata.targets;
    repo.publish({ 'trusted_root.json': rootBytes(2) }, { targetsVersion: 21 });
    await update();
    // cut short (killed) after its first rename: the new state (v21, previous v20) beside the v20 root
    const s21 = JSON.parse(readFileSync(tufStatePath(out), 'utf8')) as Record<string, unknown>;
    writeFileSync(tufStatePath(out), JSON.stringify({ ...s21, previousTargets: t20 }), { mode: 0o600 });
    writeFileSync(out, v20.root, { mode: 0o600 });
    expect(readKeptRoot(out)).toMatchObject({ state: 'ok', root: { targetsVersion: 20 } });
    // the next update fails writing the root (its temporary file cannot be made): the v20 root must still count
    repo.publish({ 'trusted_root.json': rootBytes(3) }, { targetsVersion: 22 });
    const blocker = `${out}.${process.pid}.tmp`;
    mkdirSync(blocker);
    expect((await refusal(update())).code).toBe('TRUST_UPDATE_FAILED');
    expect(readFileSync(out)).toEqual(v20.root);
    expect(readKeptRoot(out)).toMatchObject({ state: 'ok', root: { targetsVersion: 20 } });
    rmSync(blocker, { recursive: true });
    expect(await update()).toMatchObject({ status: 'updated', targetsVersion: 22 });
    expect(readKeptRoot(out)).toMatchObject({ state: 'ok', root: { targetsVersion: 22 } });
  });
});
