/**
 * `sigguard cache prime`: the hook's policy and config validated into the hook's document cache by
 * the built executable (install.sh runs it after an install), as the hook with the same flags would
 * cache them; a policy the hook would refuse is refused here too (exit 2, its reason) and not cached.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sigguard } from '../support/cli.js';

let dir: string;
let policy: string;
let config: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sigguard-prime-'));
  const pub = join(dir, 'cosign.pub');
  writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
  policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1\ndefault: reject\nscopes:\n  "registry.example":\n    - type: sigstoreSigned\n      keyPath: ${pub}\n      signedIdentity: {type: matchRepository}\n`,
  );
  config = join(dir, 'config.yaml');
  writeFileSync(config, `cache:\n  dir: ${join(dir, 'cache')}\n`);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The policies validated into the cache folder (the executable keys them by its own version and commit). */
const cachedPolicies = () => {
  const docs = join(dir, 'cache', 'docs');
  return existsSync(docs) ? readdirSync(docs).filter((f) => /^policy-[0-9a-f]{64}\.json$/.test(f)) : [];
};

describe('sigguard cache prime', () => {
  it('validates the policy into the cache folder the config names, exit 0', async () => {
    expect(cachedPolicies()).toEqual([]);
    const r = await sigguard(['cache', 'prime', '--policy', policy, '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('the policy and config are validated for the hook\n');
    expect(cachedPolicies()).toHaveLength(1);
  });

  it('a policy the hook would refuse: exit 2 with its reason, nothing cached', async () => {
    writeFileSync(policy, `${readFileSync(policy, 'utf8')}allowEverything: true\n`);
    const r = await sigguard(['cache', 'prime', '--policy', policy, '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sigguard: .*allowEverything.*\[POLICY_INVALID\]\n$/);
    expect(cachedPolicies()).toEqual([]);
  });

  it('--policy belongs to prime only', async () => {
    const r = await sigguard(['cache', 'list', '--policy', policy, '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--policy is for cache prime/);
  });
});
