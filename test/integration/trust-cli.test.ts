/**
 * `sigguard trust update` and `trust status` run as the built single executable (the TUF client
 * bundled into it), against TUF repositories the tests sign (test/support/tuf-repo.ts), as a
 * folder and over loopback HTTP: exit 0 saying updated or already current, exit 1 with one line
 * and the reason code on a refusal with the kept files untouched; `trust status` and
 * `policy validate --config` on fresh and stale material; the hook's decision log naming the
 * trust root a keyless scope uses.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tufStatePath } from '../../src/policy/kept-root.js';
import { publicGoodTrustedRootBytes } from '../../src/policy/public-good.js';
import { sigguard } from '../support/cli.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { SIGGUARD, requireTools } from '../support/paths.js';
import { TufRepoFixture, serveFolder } from '../support/tuf-repo.js';
import { keylessPolicyYaml } from '../support/keyless-shard.js';

const target = (n: number) => Buffer.from(`${JSON.stringify(JSON.parse(publicGoodTrustedRootBytes().toString('utf8')), null, n)}\n`);

let dir: string;
let repo: TufRepoFixture;
let out: string;
let config: string;
let policy: string;

beforeAll(() => {
  requireTools(SIGGUARD);
  dir = mkdtempSync(join(tmpdir(), 'sigguard-trust-cli-'));
  repo = new TufRepoFixture(join(dir, 'repo'));
  out = join(mkdtempSync(join(dir, 'kept-')), 'public-good.json');
  config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    `trust:\n  publicGood: ${out}\n  maxAgeDays: 30\ncache:\n  enabled: false\nnode:\n  containerdSocket: ${join(dir, 'none.sock')}\n`,
  );
  policy = join(dir, 'policy.yaml');
  writeFileSync(policy, keylessPolicyYaml('127.0.0.1:9'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kept = () => ({ root: readFileSync(out), state: readFileSync(tufStatePath(out)) });

describe('sigguard trust (the built executable)', () => {
  it('updates from a folder, then says it is already current', async () => {
    repo.publish({ 'trusted_root.json': target(1) }, { targetsVersion: 20 });
    const first = await sigguard(['trust', 'update', '--from', repo.dir, '--root', repo.initialRoot, '--config', config]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^updated: .*public-good\.json from file:.* \(TUF root v1, timestamp v1, snapshot v1, targets v20\)\n$/);
    expect(readFileSync(out)).toEqual(target(1));
    repo.publish({ 'trusted_root.json': target(1) }, { targetsVersion: 20 });
    const again = await sigguard(['trust', 'update', '--from', repo.dir, '--config', config]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already current: .* targets v20\)\n$/);
  });

  it('updates over loopback HTTP; refuses an expired timestamp with one line, exit 1, the kept files untouched', async () => {
    const served = await serveFolder(repo.dir);
    try {
      repo.publish({ 'trusted_root.json': target(2) }, { targetsVersion: 21 });
      const ok = await sigguard(['trust', 'update', '--mirror', served.url, '--config', config]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^updated: .* from http:\/\/127\.0\.0\.1:\d+ .*targets v21\)\n$/);
      const before = kept();
      repo.publish({ 'trusted_root.json': target(3) }, { timestampExpiresInDays: -1 });
      const refused = await sigguard(['trust', 'update', '--mirror', served.url, '--config', config]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(
        /^sigguard: trust update from http:\/\/127\.0\.0\.1:\d+ refused: .*timestamp\.json is expired; .* left as it was \[TRUST_UPDATE_FAILED\]\n$/,
      );
      expect(kept()).toEqual(before);
    } finally {
      await served.close();
    }
  });

  it('refuses a plain-http mirror that is not on loopback (usage, exit 2)', async () => {
    const r = await sigguard(['trust', 'update', '--mirror', 'http://tuf.example.com', '--out', join(dir, 'x.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/only https \(or http to a loopback address\) \[USAGE\]/);
  });

  it('trust status and policy validate: current, then stale once the fetch is older than maxAgeDays', async () => {
    const status = await sigguard(['trust', 'status', '--config', config]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/in use for public-good: the updated root \(TUF targets v21\)/);
    expect(status.stdout).toMatch(/status: current\n$/);
    const valid = await sigguard(['policy', 'validate', policy, '--config', config]);
    expect(valid.code, valid.stderr).toBe(0);
    expect(valid.stderr).toBe('');

    const state = JSON.parse(readFileSync(tufStatePath(out), 'utf8')) as { fetchedAt: string };
    state.fetchedAt = new Date(Date.now() - 40 * 86_400_000).toISOString();
    writeFileSync(tufStatePath(out), JSON.stringify(state), { mode: 0o600 });
    const stale = await sigguard(['trust', 'status', '--config', config]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(
      /^sigguard: trust material is not current: fetched 40 days ago, more than trust\.maxAgeDays \(30\) \[TRUST_STALE\]\n$/,
    );
    const warned = await sigguard(['policy', 'validate', policy, '--config', config]);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(
      /^sigguard: warning: scopes\."127\.0\.0\.1:9"\[0\]: trusted root public-good \(TUF targets v21 .* is stale: fetched 40 days ago/,
    );
  });

  it("the hook's decision log names the trust root of a keyless scope", async () => {
    const log = join(dir, 'decisions.log');
    const state = JSON.stringify({
      ociVersion: '1.2.0',
      id: 'trust-1',
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(`127.0.0.1:9/app@sha256:${'a'.repeat(64)}`),
    });
    const r = await sigguard(['hook', '--config', config, '--policy', policy, '--log', log, '--deadline', '5'], { input: state });
    expect(r.code).toBe(1);
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!) as { scope: string; trustRoot: string };
    expect(line.scope).toBe('127.0.0.1:9');
    expect(line.trustRoot).toMatch(/^public-good \(TUF targets v21 from http:\/\/127\.0\.0\.1:\d+, fetched /);
  });

  it("check --explain names the trust root, as each requirement's trust does", async () => {
    const image = `127.0.0.1:9/app@sha256:${'a'.repeat(64)}`;
    const r = await sigguard(['check', '--config', config, '--policy', policy, '--explain', '--deadline', '5', image]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/trust=trusted root public-good \(TUF targets v21 from http:\/\/127\.0\.0\.1:\d+, fetched /);
    expect(r.stdout).toMatch(/^trust root: public-good \(TUF targets v21 from http:\/\/127\.0\.0\.1:\d+, fetched .*\)$/m);
  });
});
