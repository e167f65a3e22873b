/**
 * The fast and the cold bundle (build/split.mjs, src/cli/cold-loader.ts): what is not on a warm
 * start's path is loaded on a miss. One that is missing, corrupt, or lacks a module is a refusal
 * with a one-line reason (INTERNAL_ERROR, exit 1), never an allow; a code cache V8 rejects only
 * costs time. Run off copies of the built bundles (node + build/out/sigguard.cjs with or without
 * its sigguard-fast.cjs and sigguard-cold.cjs beside it), no registry: the refusal comes before
 * any registry request.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ASSETS,
  type BundleName,
  COLD_ASSET,
  WRAPPER_HEAD,
  WRAPPER_TAIL,
  coldModule,
  compileCold,
  evaluateCold,
} from '../../src/cli/cold-loader.js';
import { ReasonCode, SigguardError } from '../../src/errors.js';
import { criAnnotations } from '../support/oci-bundle.js';
import { ROOT } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const BUNDLE = join(ROOT, 'build/out/sigguard.cjs');
const LATER: Record<BundleName, string> = {
  fast: join(ROOT, 'build/out/sigguard-fast.cjs'),
  docs: join(ROOT, 'build/out/sigguard-docs.cjs'),
  cold: join(ROOT, 'build/out/sigguard-cold.cjs'),
};
const IMAGE = `127.0.0.1:9/app@sha256:${'a'.repeat(64)}`;

/** A folder with the main bundle and the later ones, but `broken`: none, or the given text as one. */
function install(broken?: { bundle: BundleName; text: string | undefined }): { dir: string; bin: string; policy: string; config: string } {
  for (const b of [BUNDLE, ...Object.values(LATER)]) expect(existsSync(b), `${b} missing: build first (node build/bundle.mjs)`).toBe(true);
  const dir = tempDir('sigguard-cold-');
  const bin = join(dir, 'sigguard.cjs');
  copyFileSync(BUNDLE, bin);
  for (const [name, file] of Object.entries(LATER) as Array<[BundleName, string]>) {
    if (broken?.bundle !== name) copyFileSync(file, join(dir, ASSETS[name].source));
    else if (broken.text !== undefined) writeFileSync(join(dir, ASSETS[name].source), broken.text);
  }
  const pub = join(dir, 'trusted.pub');
  writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
  const policy = join(dir, 'policy.yaml');
  // a broken cold bundle is met by a policy that needs it (its attestation condition: CEL); a key-only one never loads it
  const attested = `    - type: sigstoreAttested\n      predicateType: https://slsa.dev/provenance/v1\n      keyPath: ${pub}\n      condition: 'predicate.ok == true'\n`;
  writeFileSync(
    policy,
    `version: 1\ndefault: reject\nscopes:\n  "127.0.0.1:9":\n    - type: sigstoreSigned\n      keyPath: ${pub}\n${broken?.bundle === 'cold' ? attested : ''}`,
  );
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `cache:\n  dir: ${join(dir, 'cache')}\nnode:\n  containerdSocket: ${join(dir, 'no.sock')}\n`);
  return { dir, bin, policy, config };
}

function sigguard(bin: string, args: string[], input = '') {
  const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const BROKEN: Array<[string, (bundle: BundleName) => string | undefined]> = [
  ['missing', () => undefined],
  ['not JavaScript', () => 'this is { not javascript'],
  ['truncated', (bundle) => readFileSync(LATER[bundle], 'utf8').slice(0, 50_000)],
  ['without the modules the main bundle cuts to', () => `${WRAPPER_HEAD}module.exports = {};${WRAPPER_TAIL}`],
  ['not wrapped as the loader expects', () => 'module.exports = {};'],
  ['wrapping no function', () => '({})'],
  ['throwing when evaluated', () => 'throw new Error("boom");'],
];

/**
 * Which bundle each case loads first: `check` is in the fast bundle; its configuration and policy,
 * validated here for the first time, need the docs one (zod, YAML), and the policy's attestation
 * condition the cold one (CEL). The hook validates them first (docs, cold), then verifies (fast).
 */
const CHECK_NAMES: Record<BundleName, RegExp> = {
  fast: /^sigguard: cannot load sigguard's sigguard-fast\.cjs \(src\/cli\/check\.ts\): .+ \[INTERNAL_ERROR\]\n$/,
  docs: /^sigguard: cannot load sigguard's sigguard-docs\.cjs \((src|node_modules)\/[\w/.-]+\.[jt]s\): .+ \[INTERNAL_ERROR\]\n$/,
  cold: /^sigguard: cannot load sigguard's sigguard-cold\.cjs \(src\/policy\/condition\.ts\): .+ \[INTERNAL_ERROR\]\n$/,
};

for (const bundle of ['fast', 'docs', 'cold'] as const) {
  describe(`a ${bundle} bundle that cannot be loaded is a refusal`, () => {
    for (const [what, text] of BROKEN) {
      it(`${what}: check refuses with one line, exit 1`, () => {
        const w = install({ bundle, text: text(bundle) });
        const r = sigguard(w.bin, ['check', '--policy', w.policy, '--config', w.config, IMAGE]);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(CHECK_NAMES[bundle]);
        expect(r.stdout).toBe('');
      });

      it(`${what}: the hook on a miss denies, exit 1, and logs the denial`, () => {
        const w = install({ bundle, text: text(bundle) });
        const log = join(w.dir, 'decisions.log');
        const state = JSON.stringify({
          ociVersion: '1.2.0',
          id: 'c1',
          status: 'creating',
          pid: 1,
          bundle: '/nonexistent',
          annotations: criAnnotations(IMAGE),
        });
        const r = sigguard(w.bin, ['hook', '--config', w.config, '--policy', w.policy, '--log', log], state);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(
          new RegExp(`^sigguard: denied .*cannot load sigguard's sigguard-${bundle}\\.cjs .*\\[INTERNAL_ERROR\\]\n$`),
        );
        const decision = JSON.parse(readFileSync(log, 'utf8').trim());
        expect({ decision: decision.decision, code: decision.code }).toEqual({ decision: 'deny', code: 'INTERNAL_ERROR' });
      });
    }
  });
}

describe('the later bundles', () => {
  it('both intact beside it: the same check gets as far as the registry', () => {
    const w = install();
    const r = sigguard(w.bin, ['check', '--policy', w.policy, '--config', w.config, '--deadline', '5', IMAGE]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/sigguard-(fast|docs|cold)\.cjs/);
  });

  it('coldModule: an error with a reason code, never a module', () => {
    let thrown: unknown;
    try {
      coldModule('src/engine/session.ts', {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SigguardError);
    expect((thrown as SigguardError).code).toBe(ReasonCode.INTERNAL_ERROR);
    expect((thrown as SigguardError).message).toMatch(/^cannot load sigguard's sigguard-cold\.cjs \(src\/engine\/session\.ts\): /);
    thrown = undefined;
    try {
      coldModule('src/engine/session.ts', {}, 'fast');
    } catch (err) {
      thrown = err;
    }
    expect((thrown as SigguardError).code).toBe(ReasonCode.INTERNAL_ERROR);
    expect((thrown as SigguardError).message).toMatch(/^cannot load sigguard's sigguard-fast\.cjs \(src\/engine\/session\.ts\): /);
  });
});

describe('the code cache', () => {
  // Each text compiled once in this process: V8's in-process compilation cache would otherwise
  // answer a second compile of the same text and never look at the code cache given.
  const text = (n: string) =>
    `${WRAPPER_HEAD}module.exports = { "m": () => ({ answer: require("sigguard-main:src/x.ts").x + 1, sep: require("node:path").sep }) }; // ${n}${WRAPPER_TAIL}`;
  /** A code cache for the text, made by another process of this Node, as build/sea.mjs does. */
  const cacheFor = (source: string): Buffer => {
    const make = `process.stdout.write(new (require("node:vm").Script)(${JSON.stringify(source)}, { filename: ${JSON.stringify(COLD_ASSET)} }).createCachedData().toString("base64"))`;
    const r = spawnSync(process.execPath, ['-e', make], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return Buffer.from(r.stdout, 'base64');
  };
  const main = { 'src/x.ts': () => ({ x: 41 }) };

  it('made for exactly this text by this Node: accepted', () => {
    const compiled = compileCold(text('accepted'), cacheFor(text('accepted')));
    expect(compiled.cacheRejected).toBe(false);
    expect(evaluateCold(compiled, main).m!()).toEqual({ answer: 42, sep: '/' });
  });

  it('rejected (not a code cache, made for another text): compiled from the source, same result', () => {
    for (const [source, data] of [
      [text('junk'), Buffer.from('not a code cache at all')],
      [text('zeros'), Buffer.alloc(512)],
      [text('another text, longer'), cacheFor(text('other'))],
    ] as const) {
      const compiled = compileCold(source, data);
      expect(compiled.cacheRejected, source).toBe(true);
      expect(evaluateCold(compiled, main).m!()).toEqual({ answer: 42, sep: '/' });
    }
  });

  it('none given: compiled from the source', () => {
    const compiled = compileCold(text('none'), undefined);
    expect(compiled.cacheRejected).toBeUndefined();
    expect(evaluateCold(compiled, main).m!()).toEqual({ answer: 42, sep: '/' });
  });

  it('the cold bundle requires only the main bundle’s modules and Node built-ins', () => {
    const compiled = compileCold(`${WRAPPER_HEAD}module.exports = { m: () => require("yaml") };${WRAPPER_TAIL}`, undefined);
    expect(() => evaluateCold(compiled, main).m!()).toThrow(/cannot require yaml/);
    const absent = compileCold(
      `${WRAPPER_HEAD}module.exports = { m: () => require("sigguard-main:src/nope.ts") };${WRAPPER_TAIL}`,
      undefined,
    );
    expect(() => compileCold('module.exports = {};', undefined)).toThrow(/module is not defined/);
    expect(() => compileCold('({})', undefined)).toThrow(/not a wrapped bundle/);
    expect(() => evaluateCold(absent, main).m!()).toThrow(/the main bundle has no module src\/nope\.ts/);
  });

  it('the docs and cold bundles take modules of the fast one, the cold one of the docs one, and only those they have', () => {
    const source = `${WRAPPER_HEAD}module.exports = { m: () => require("sigguard-fast:src/y.ts").y, n: () => require("sigguard-fast:src/nope.ts") };${WRAPPER_TAIL}`;
    const fast = { 'src/y.ts': () => ({ y: 7 }) };
    // the fast bundle (no fast bundle behind it): not a module it can take
    expect(() => evaluateCold(compileCold(source, undefined, ASSETS.fast.source), main, undefined, ASSETS.fast.source).m!()).toThrow(
      /cannot require sigguard-fast:src\/y\.ts/,
    );
    const cold = evaluateCold(compileCold(`${source} // cold`, undefined), main, () => fast);
    expect(cold.m!()).toBe(7);
    expect(() => cold.n!()).toThrow(/the fast bundle has no module src\/nope\.ts/);
    const docs = evaluateCold(compileCold(`${source} // docs`, undefined, ASSETS.docs.source), main, () => fast, ASSETS.docs.source);
    expect(docs.m!()).toBe(7);
    const fromDocs = `${WRAPPER_HEAD}module.exports = { z: () => require("sigguard-docs:src/zod.ts").z };${WRAPPER_TAIL}`;
    // only a bundle given the docs bundle's modules takes them
    expect(() => evaluateCold(compileCold(fromDocs, undefined, ASSETS.docs.source), main, () => fast, ASSETS.docs.source).z!()).toThrow(
      /cannot require sigguard-docs:src\/zod\.ts/,
    );
    const z = { 'src/zod.ts': () => ({ z: 'zod' }) };
    expect(
      evaluateCold(
        compileCold(`${fromDocs} // cold`, undefined),
        main,
        () => fast,
        COLD_ASSET,
        () => z,
      ).z!(),
    ).toBe('zod');
  });
});
