/**
 * The hook's warm path stays light: on a cache hit it evaluates no zod, YAML, sigstore,
 * verification or registry client code, and does not even load the cold bundle they live in
 * (build/split.mjs). Read off the built bundles themselves: copies whose lazy-module wrappers
 * (esbuild's __esm / __commonJS) report every module they evaluate, run as the hook on a
 * cached allow. No registry is reachable: a hit needs none.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { criAnnotations } from '../support/oci-bundle.js';
import { ROOT } from '../support/paths.js';
import { builtinsBeyondBoot, builtinsTracer, storeAllowVerdict, warmHookFiles } from '../support/warm-hook.js';

const BUNDLE = join(ROOT, 'build/out/sigguard.cjs');
const FAST = join(ROOT, 'build/out/sigguard-fast.cjs');
const DOCS = join(ROOT, 'build/out/sigguard-docs.cjs');
const COLD = join(ROOT, 'build/out/sigguard-cold.cjs');
const HEAD_OF_LAZY = ['var __esm = (fn, res, err) => function() {', 'var __commonJS = (cb, mod2) => function() {'];

/**
 * The bundle and the fast and cold bundles beside it, with every lazily evaluated module reported on stderr
 * as `sigguard-module <path>` when first evaluated.
 */
function tracedBundle(dir: string): string {
  for (const [from, name] of [
    [BUNDLE, 'sigguard-traced.cjs'],
    [FAST, 'sigguard-fast.cjs'],
    [DOCS, 'sigguard-docs.cjs'],
    [COLD, 'sigguard-cold.cjs'],
  ] as const) {
    let text = readFileSync(from, 'utf8');
    const [esm, cjs] = HEAD_OF_LAZY;
    expect(text).toContain(esm);
    text = text.replace(esm!, `${esm!}\n  if (fn) process.stderr.write("sigguard-module " + __getOwnPropNames(fn)[0] + "\\n");`);
    text = text.replace(cjs!, `${cjs!}\n  if (!mod2) process.stderr.write("sigguard-module " + __getOwnPropNames(cb)[0] + "\\n");`);
    writeFileSync(join(dir, name), text);
  }
  return join(dir, 'sigguard-traced.cjs');
}

/** Modules a warm start must not evaluate (each must be lazily wrapped in the bundle, or the trace could not see it). */
// (@sigstore/tuf's seeds.json is data, not code: the built-in trusted root that policy/trust.ts fingerprints)
const HEAVY = [
  /^node_modules\/zod\//,
  /^node_modules\/yaml\//,
  /^node_modules\/@sigstore\/(?!tuf\/seeds\.json$)/,
  /^node_modules\/sigstore\//,
  /^src\/verify\//,
  /^src\/registry\/client\.ts$/,
  /^src\/engine\/session\.ts$/,
  /^src\/engine\/verify-image\.ts$/,
  /^src\/discovery\//,
  /^node_modules\/@marcbachmann\//,
  // the TUF client: `trust update` only, never the hook (issue 13)
  /^node_modules\/tuf-js\//,
  /^node_modules\/@tufjs\//,
  /^src\/trust\//,
];

describe('the warm path', () => {
  it('a cache hit evaluates no zod, YAML, sigstore, verification or registry client code', async () => {
    expect(existsSync(BUNDLE), `${BUNDLE} missing: build first (node build/bundle.mjs)`).toBe(true);
    // with an attestation condition: a warm start does not load CEL either
    const { dir, policyFile, configFile } = warmHookFiles(
      'sigguard-warm-',
      'no-containerd.sock',
      (pub) =>
        `    - type: sigstoreAttested\n      predicateType: https://slsa.dev/provenance/v1\n      keyPath: ${pub}\n      condition: 'predicate.ok == true'\n`,
    );

    // the verdict a verification stored (a single manifest, its config known)
    const image = `127.0.0.1:9/app@sha256:${'a'.repeat(64)}`;
    await storeAllowVerdict(policyFile, configFile, image, `sha256:${'c'.repeat(64)}`);

    const traced = tracedBundle(dir);
    // and which of Node's own modules it loaded (node:crypto alone is some forty, ~5 ms: issue 15)
    const builtins = builtinsTracer(dir);
    const log = join(dir, 'decisions.log');
    const state = JSON.stringify({
      ociVersion: '1.2.0',
      id: 'warm-1',
      status: 'creating',
      pid: 1,
      bundle: '/nonexistent',
      annotations: criAnnotations(image),
    });
    const hook = (trace = true, bundle = traced) =>
      spawnSync(process.execPath, ['--require', builtins, bundle, 'hook', '--config', configFile, '--policy', policyFile, '--log', log], {
        input: state,
        env: trace
          ? { ...process.env, SIGGUARD_TRACE: '1' }
          : Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SIGGUARD_TRACE')),
        timeout: 30_000,
      });
    // the first start validates the configuration and the policy (zod, YAML) and keeps them validated: warm from the second on
    const first = hook();
    expect(first.status).toBe(0);
    expect(String(first.stderr)).toMatch(/^sigguard-module node_modules\/zod\//m);
    expect(String(first.stderr)).toContain('docs bundle compiled');
    expect(String(first.stderr)).toContain('cold bundle compiled'); // the policy's condition: CEL
    const r = hook();
    const out = String(r.stderr);
    const decision = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop()!);
    expect({ code: r.status, decision: decision.decision, cache: decision.cache }, out).toEqual({
      code: 0,
      decision: 'allow',
      cache: 'hit',
    });
    const evaluated = [...out.matchAll(/^sigguard-module (\S+)$/gm)].map((m) => m[1]!);
    expect(evaluated).toContain('src/engine/cached-verify.ts');
    expect(out).toMatch(/^sigguard-trace [\d.]+ decided$/m);
    const heavy = evaluated.filter((m) => HEAVY.some((re) => re.test(m)));
    expect(heavy, 'modules a cache hit must not evaluate').toEqual([]);
    expect(out, 'a cache hit loads no later bundle').not.toMatch(/(fast|docs|cold) bundle compiled/);
    // (the built bundle, untraced: the traces' own stderr stream and clock are not the hook's)
    const untraced = hook(false, BUNDLE);
    expect(untraced.status).toBe(0);
    const loaded = builtinsBeyondBoot(String(untraced.stderr), builtins);
    expect(loaded).toContain('os');
    expect(
      loaded.filter((m) => /^(crypto|internal\/crypto\/|perf_hooks|internal\/perf\/|stream$|internal\/streams\/|vm$|net$)/.test(m)),
      'built-in modules a cache hit must not load',
    ).toEqual([]);
    // the first start (documents not yet validated) did load the docs bundle, and evaluated zod and
    // YAML from it (so the trace would have seen them): they are in the docs bundle, the full
    // verification and CEL in the cold one, the registry client and the key-only fast path in the
    // fast one, each lazily wrapped and in no other bundle (build/split.mjs)
    const fast = readFileSync(FAST, 'utf8');
    const docs = readFileSync(DOCS, 'utf8');
    const cold = readFileSync(COLD, 'utf8');
    const main = readFileSync(BUNDLE, 'utf8');
    const where: Array<[string, string, string[]]> = [
      ['src/registry/client.ts', fast, [main, docs, cold]],
      ['src/engine/session.ts', fast, [main, docs, cold]],
      ['src/verify/fast-key.ts', fast, [main, docs, cold]],
      ['src/policy/schema.ts', docs, [main, fast, cold]],
      ['src/verify/verifier.ts', cold, [main, fast, docs]],
    ];
    for (const [m, inIt, notIn] of where) {
      expect(inIt).toContain(`"${m}"(`);
      for (const other of notIn) expect(other).not.toContain(`// ${m}\n`);
    }
    // no path of the machine that built them (the checkout's)
    for (const [name, text] of Object.entries({ main, fast, docs, cold }))
      expect(text.includes(ROOT), `${name} bundle names ${ROOT}`).toBe(false);
    // zod's messages in English only (build/bundle.mjs): none of its 63 other languages is carried
    expect(docs.match(/^\/\/ node_modules\/zod\/v4\/locales\/.*$/gm)).toEqual(['// node_modules/zod/v4/locales/en.js']);
    for (const [lib, inIt, others] of [
      // zod's core and zod/mini (the documents' schemas) in the docs bundle; its classic API (the
      // schemas of what a full verification reads) in the cold one, on that core
      ['zod/v4/core', docs, [main, fast, cold]],
      ['zod/v4/mini', docs, [main, fast, cold]],
      ['zod/v4/classic', cold, [main, fast, docs]],
      ['yaml', docs, [main, fast, cold]],
      ['@marcbachmann/cel-js', cold, [main, fast, docs]],
      ['@sigstore/verify', cold, [main, fast, docs]],
    ] as const) {
      expect(inIt).toMatch(new RegExp(`"node_modules/${lib}/[^"]+"\\(`));
      for (const other of others) expect(other).not.toContain(`// node_modules/${lib}/`);
    }
  }, 60_000);
});
