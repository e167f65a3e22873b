/**
 * A registry reached through a containerd hosts.toml (as Kind's local registry is): the first
 * verification validates the hosts.toml (TOML and its schema: the docs bundle, never the cold one),
 * the next ones take it from the document cache and load neither; a changed hosts.toml is validated again, an invalid
 * one refuses. The built executable against the real registry, the signed image allowed each time.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigguard } from '../support/cli.js';
import { type World, makeWorld } from '../support/world.js';

let w: World;
let policy: string;
let certs: string;
let config: string;

beforeAll(async () => {
  w = await makeWorld();
  policy = w.policy(
    'hosts-cache-policy.yaml',
    `version: 1\ndefault: reject\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n`,
  );
  certs = join(w.cosign.dir, 'certs.d');
  mkdirSync(join(certs, w.registry.host), { recursive: true });
  config = w.config('hosts-cache-config.yaml', `registry:\n  certsDir: ${certs}\n`);
}, 120_000);
afterAll(() => w?.stop());

const hostsToml = (text: string) => writeFileSync(join(certs, w.registry.host, 'hosts.toml'), text);
const check = () =>
  sigguard(['check', '--policy', policy, '--config', config, '--deadline', '20', w.ref('signed')], { env: { SIGGUARD_TRACE: '1' } });

describe('hosts.toml through the document cache', () => {
  it('validated once, then taken from the cache: no docs or cold bundle on the next verifications', async () => {
    hostsToml(`server = "http://${w.registry.host}"\n[host."http://${w.registry.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const first = await check();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr, 'TOML and its schema are in the docs bundle').not.toContain('cold bundle compiled');
    for (let i = 0; i < 2; i++) {
      const again = await check();
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('fast bundle compiled');
      expect(again.stderr, 'a hosts.toml validated before loads no cold bundle').not.toContain('cold bundle compiled');
      expect(again.stderr, 'nor the docs bundle (the policy and config cached too)').not.toContain('docs bundle compiled');
    }
  }, 60_000);

  it('a changed hosts.toml is validated again (the docs bundle), and still used', async () => {
    hostsToml(`# changed\nserver = "http://${w.registry.host}"\n`);
    const r = await check();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('docs bundle compiled');
    expect(r.stderr).not.toContain('cold bundle compiled');
  }, 60_000);

  it('an invalid hosts.toml refuses (exit 2), every time (never a cached one for another text)', async () => {
    const before = readFileSync(join(certs, w.registry.host, 'hosts.toml'), 'utf8');
    hostsToml(`server = "http://${w.registry.host}"\n[host."http://${w.registry.host}"]\n  capabilities = ["pull", "delete"]\n`);
    for (let i = 0; i < 2; i++) {
      const r = await check();
      expect(r.code, 'a configuration error: exit 2').toBe(2);
      expect(`${r.stdout}${r.stderr}`).toMatch(/invalid .*hosts\.toml.*CONFIG_INVALID/);
    }
    hostsToml(before);
    expect((await check()).code).toBe(0);
  }, 60_000);

  it('a hosts.toml not seen before, six verifications at once: one validates it, the others take what it put', async () => {
    hostsToml(`# six at once\nserver = "http://${w.registry.host}"\n`);
    const runs = await Promise.all(Array.from({ length: 6 }, () => check()));
    expect(runs.map((r) => r.code)).toEqual(Array(6).fill(0));
    const validating = runs.filter((r) => r.stderr.includes('docs bundle compiled')).length;
    expect(runs.filter((r) => r.stderr.includes('cold bundle compiled'))).toEqual([]);
    expect(validating).toBeGreaterThanOrEqual(1);
    expect(validating, 'verifications that validated the hosts.toml themselves').toBeLessThanOrEqual(2);
    // an invalid one at once: every verification refuses with its reason
    const before = readFileSync(join(certs, w.registry.host, 'hosts.toml'), 'utf8');
    hostsToml(`server = "http://${w.registry.host}"\n[host."http://${w.registry.host}"]\n  capabilities = ["pull", "push-all"]\n`);
    const bad = await Promise.all(Array.from({ length: 4 }, () => check()));
    for (const r of bad) {
      expect(r.code).toBe(2);
      expect(`${r.stdout}${r.stderr}`).toMatch(/invalid .*hosts\.toml.*CONFIG_INVALID/);
    }
    hostsToml(before);
  }, 60_000);
});
