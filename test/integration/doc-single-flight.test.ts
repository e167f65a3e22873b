/**
 * Hooks that start together with their documents not yet validated (after an upgrade, a policy
 * change): one of them parses and validates each document, the others take what it put
 * (src/cache/doc-cache.ts validateOnce), so a node-boot storm does not run YAML and zod in every
 * hook. Seen through the built bundle: only a hook that validates loads the docs bundle (zod,
 * YAML). A policy that accepts by scope: no registry is needed.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hookState } from '../support/oci-bundle.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const BUNDLE = join(ROOT, 'build/out/sigguard.cjs');

function hook(args: string[], id: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BUNDLE, 'hook', ...args], { env: { ...process.env, SIGGUARD_TRACE: '1' } });
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (code) => resolve({ code, stderr }));
    p.stdin.end(hookState(id, `127.0.0.1:9/app@sha256:${'a'.repeat(64)}`));
  });
}

describe('documents validated once for the hooks that start together', () => {
  it('eight hooks, nothing cached: all allowed, at most one validation of each document (the config, the policy)', async () => {
    const dir = tempDir('sigguard-docs-once-');
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `version: 1\ndefault: reject\nscopes:\n  "127.0.0.1:9":\n    - type: insecureAcceptAnything\n`);
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `cache:\n  dir: ${join(dir, 'cache')}\nnode:\n  containerdSocket: ${join(dir, 'no.sock')}\n# ${dir}\n`);
    const log = join(dir, 'decisions.log');
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => hook(['--config', config, '--policy', policy, '--log', log], `c-${i}`)),
    );
    expect(runs.map((r) => r.code)).toEqual(Array(8).fill(0));
    const decisions = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).code);
    expect(decisions).toEqual(Array(8).fill('POLICY_ACCEPT'));
    const validating = runs.filter((r) => /docs bundle compiled/.test(r.stderr)).length;
    expect(validating).toBeGreaterThanOrEqual(1);
    expect(validating).toBeLessThanOrEqual(2);
  }, 60_000);
});
