/**
 * A new image's start (verdict-cache miss, documents already validated, key-only verification)
 * loads only the built-in modules it uses (issue 15: each Node module it loads is CPU on every
 * such start). Guarded: node:cluster, child_process and dgram, which a net.Server's listen()
 * pulls in (the single-flight leader's wake socket listens with libuv's pipe handle instead), and
 * node:module with its source maps (the later bundles take built-ins with process.getBuiltinModule),
 * and node:http (the registry client speaks HTTP/1.1 itself, src/registry/http1.ts).
 * Run off the built bundles under the pinned Node (node + build/out/sigguard.cjs) against the
 * test registry.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hookState } from '../support/oci-bundle.js';
import { ROOT } from '../support/paths.js';
import { builtinsBeyondBoot, builtinsTracer } from '../support/warm-hook.js';
import { type World, makeWorld } from '../support/world.js';
import { tempDir } from '../support/temp.js';

const BUNDLE = join(ROOT, 'build/out/sigguard.cjs');

let w: World;
beforeAll(async () => {
  w = await makeWorld();
}, 120_000);
afterAll(() => w?.stop());

describe('a new image’s start', () => {
  it('verifies and stores its verdict without loading cluster, child_process, dgram, module or http', () => {
    const dir = tempDir('sigguard-newimg-');
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1\ndefault: reject\nscopes:\n  "${w.registry.host}":\n    - type: sigstoreSigned\n      keyPath: ${w.trusted.pub}\n      signedIdentity: {type: matchRepository}\n`,
    );
    const cache = join(dir, 'cache');
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `cache:\n  dir: ${cache}\nnode:\n  containerdSocket: ${join(dir, 'no.sock')}\n`);
    const builtins = builtinsTracer(dir);
    const log = join(dir, 'decisions.log');
    const hook = () =>
      spawnSync(process.execPath, ['--require', builtins, BUNDLE, 'hook', '--config', config, '--policy', policy, '--log', log], {
        input: hookState('new-1', w.ref('signed')),
        encoding: 'utf8',
        timeout: 30_000,
      });
    expect(hook().status).toBe(0); // validates and keeps the documents
    for (const f of readdirSync(cache)) if (/^[0-9a-f]{64}\.json$/.test(f)) rmSync(join(cache, f));
    const r = hook();
    const decision = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect({ code: r.status, decision: decision.decision, cache: decision.cache }, r.stderr).toEqual({
      code: 0,
      decision: 'allow',
      cache: 'miss',
    });
    // beyond what the same bundle loads for `sigguard version`
    const loaded = builtinsBeyondBoot(r.stderr, builtins, [BUNDLE, 'version']);
    expect(loaded).toContain('crypto'); // it did verify
    expect(
      loaded.filter((m) =>
        /^(cluster|internal\/cluster\/|child_process|internal\/child_process|dgram|internal\/dgram|module|internal\/source_map\/|http|_http_|internal\/http)/.test(
          m,
        ),
      ),
      'built-in modules a new image’s start must not load',
    ).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
