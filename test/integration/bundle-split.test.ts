/**
 * The four bundles build/split.mjs makes (sigguard.cjs, sigguard-fast.cjs, sigguard-docs.cjs, sigguard-cold.cjs),
 * read as built: every module is carried by one bundle only (a second copy would be a second
 * SigguardError class for `instanceof`, a second kept-root, budget, single-flight or trace state, a
 * second registry connection pool), and every reference from one bundle to another names a module
 * the other gives out (a missing one is a refusal of every start that takes that path: a signed
 * image unstartable, found only when a start needs it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

const FILES = { main: 'sigguard.cjs', fast: 'sigguard-fast.cjs', docs: 'sigguard-docs.cjs', cold: 'sigguard-cold.cjs' } as const;
type Part = keyof typeof FILES;

function read(): Record<Part, string> {
  const out = {} as Record<Part, string>;
  for (const [part, name] of Object.entries(FILES) as Array<[Part, string]>) {
    const file = join(ROOT, 'build/out', name);
    expect(existsSync(file), `${file} missing: build first (node build/bundle.mjs)`).toBe(true);
    out[part] = readFileSync(file, 'utf8');
  }
  return out;
}

/** The modules a bundle carries: esbuild heads each with a `// path` comment. */
const modulesOf = (text: string): string[] => [...text.matchAll(/^\/\/ ((?:src|node_modules)\/\S+)$/gm)].map((m) => m[1]!);

/** The keys of the object literal of thunks that follows `head` (a bundle's exports, the main bundle's registry). */
function thunkKeys(text: string, head: string): Set<string> {
  const at = text.indexOf(head);
  expect(at, `${head} not found`).toBeGreaterThanOrEqual(0);
  const end = /\n\s*\};/.exec(text.slice(at));
  expect(end, `the end of ${head}`).not.toBeNull();
  const body = text.slice(at, at + end!.index);
  return new Set([...body.matchAll(/^\s+"([^"]+)": \(\) =>/gm)].map((m) => m[1]!));
}

const required = (text: string, prefix: string): Set<string> =>
  new Set([...text.matchAll(new RegExp(`require\\("${prefix}([^"]+)"\\)`, 'g'))].map((m) => m[1]!));

/** The cuts: coldModule("path", registry, "bundle") calls. */
const cutsOf = (text: string): Array<[string, string]> =>
  [...text.matchAll(/\.coldModule\("([^"]+)", [^,()]+(?:\(\))?, "(fast|docs|cold)"\)/g)].map((m) => [m[1]!, m[2]!]);

describe('the split bundles', () => {
  it('carry each module once', () => {
    const b = read();
    const seen = new Map<string, Part[]>();
    for (const part of Object.keys(FILES) as Part[]) {
      const mods = modulesOf(b[part]);
      expect(mods.length, `${part}: no module found`).toBeGreaterThan(0);
      for (const m of mods) seen.set(m, [...(seen.get(m) ?? []), part]);
    }
    const twice = [...seen].filter(([, parts]) => parts.length > 1).map(([m, parts]) => `${m} (${parts.join(', ')})`);
    expect(twice, 'modules carried by two bundles').toEqual([]);
    // the modules with state: once each (the main bundle's loader, errors and trace in it, which the others take them from)
    for (const m of ['src/errors.ts', 'src/trace.ts', 'src/cli/cold-loader.ts']) expect(seen.get(m), m).toEqual(['main']);
    for (const m of [
      'src/policy/kept-root.ts',
      'src/cache/single-flight.ts',
      'src/registry/http.ts',
      'src/registry/budget.ts',
      'src/deadline.ts',
    ]) {
      expect(seen.get(m)?.length, m).toBe(1);
    }
  });

  it('take from each other only what the other gives out', () => {
    const b = read();
    const registry = thunkKeys(b.main, '"sigguard-registry:registry"(');
    const exports: Record<'fast' | 'docs' | 'cold', Set<string>> = {
      fast: thunkKeys(b.fast, '// sigguard-fast-entry.js'),
      docs: thunkKeys(b.docs, '// sigguard-docs-entry.js'),
      cold: thunkKeys(b.cold, '// sigguard-cold-entry.js'),
    };
    const mainModules = new Set(modulesOf(b.main));
    for (const part of ['fast', 'docs', 'cold'] as const) {
      const fromMain = [...required(b[part], 'sigguard-main:')];
      if (part !== 'docs') expect(fromMain.length).toBeGreaterThan(0); // (YAML and the schemas need nothing of the main bundle)
      for (const p of fromMain) {
        expect(registry.has(p), `${part} takes ${p}, which the main bundle's registry lacks`).toBe(true);
        expect(mainModules.has(p), `${part} takes ${p}, which the main bundle does not carry`).toBe(true);
      }
    }
    // each takes only from those before it (main, fast, docs, cold)
    expect([...required(b.main, 'sigguard-(?:main|fast|docs):')], 'the main bundle takes nothing').toEqual([]);
    expect([...required(b.fast, 'sigguard-(?:fast|docs):')], 'the fast bundle takes from main only').toEqual([]);
    expect([...required(b.docs, 'sigguard-docs:')], 'the docs bundle takes nothing of its own').toEqual([]);
    for (const part of ['docs', 'cold'] as const)
      for (const p of required(b[part], 'sigguard-fast:'))
        expect(exports.fast.has(p), `${part} takes ${p}, which the fast bundle does not give out`).toBe(true);
    const fromDocs = [...required(b.cold, 'sigguard-docs:')];
    // one zod: its core in the docs bundle (with zod/mini, for the documents), the classic API in the cold one on that core
    expect(fromDocs, "the cold bundle takes zod's core from the docs bundle").toContain('node_modules/zod/v4/core/index.js');
    for (const p of fromDocs) expect(exports.docs.has(p), `cold takes ${p}, which the docs bundle does not give out`).toBe(true);
    // every cut names a module the bundle it loads gives out; the cold bundle cuts nothing
    const cuts = [...cutsOf(b.main), ...cutsOf(b.fast), ...cutsOf(b.docs)];
    expect(cuts.length).toBeGreaterThan(0);
    for (const [path, bundle] of cuts)
      expect(exports[bundle as 'fast' | 'docs' | 'cold'].has(path), `a cut to ${path} in ${bundle}`).toBe(true);
    // the later bundles' cuts load the cold bundle, but the fast one's to a hosts.toml's parser and
    // schema (the docs bundle: a start validating one loads no more than for the other documents)
    expect(cutsOf(b.docs).every(([, bundle]) => bundle === 'cold')).toBe(true);
    expect(cutsOf(b.fast).filter(([, bundle]) => bundle !== 'cold')).toEqual([['src/registry/hosts.ts', 'docs']]);
    expect(
      cutsOf(b.main)
        .filter(([, bundle]) => bundle === 'docs')
        .map(([p]) => p)
        .sort(),
    ).toEqual(['node_modules/yaml/dist/index.js', 'src/config/schema.ts', 'src/policy/schema.ts']);
    expect(cutsOf(b.cold)).toEqual([]);
    // and no bundle but the main one makes a dynamic import: compiled by vm.Script (cold-loader.ts),
    // an import() there fails at run time ("A dynamic import callback was not specified"), a
    // refusal of every start taking that path (`cache prime` priming a hosts.toml did, until it imported its parser statically)
    for (const part of ['fast', 'docs', 'cold'] as const) expect(b[part].match(/[^\w.$]import\(["'`]/g), part).toBeNull();
  });

  it("read an ES module taken from another bundle as that module (its default export is the module's default)", () => {
    const b = read();
    // `__toESM(x, 1)` reads x as Node reads CommonJS (default: the whole exports object); what a bundle
    // gives out for an ES module is its namespace: zod's English messages, which the classic API in
    // the cold bundle takes from the docs bundle (zod/mini's), were an object, not the function
    const asCommonJs = (text: string) =>
      [...text.matchAll(/__toESM\(require\("sigguard-(?:main|fast|docs):([^"]+)"\), 1\)/g)]
        .map((m) => m[1]!)
        .filter((p) => p.startsWith('src/') || p.startsWith('node_modules/zod/') || p.endsWith('.mjs'));
    for (const part of ['fast', 'docs', 'cold'] as const) expect(asCommonJs(b[part]), part).toEqual([]);
    expect(b.cold).toMatch(/__toESM\(require\("sigguard-docs:node_modules\/zod\/v4\/locales\/en\.js"\)\)/);
  });

  it('read every module taken from another bundle as what that bundle gives out: a namespace as an ES module, exports as CommonJS', () => {
    // review of f608a1a (build/split.mjs esmDefaults): not only src/ and zod, every path. The giver's
    // thunk says what it gives: `(init_x(), __toCommonJS(ns))` an ES module's namespace (its default
    // is the module's default: no flag), `require_x()` a CommonJS module's exports (Node's reading, the
    // whole object as the default: flag 1). A wrong one hands a default import the wrong thing.
    const b = read();
    const bodies = (text: string, head: string): Map<string, string> => {
      const at = text.indexOf(head);
      const body = text.slice(at, at + /\n\s*\};/.exec(text.slice(at))!.index);
      return new Map([...body.matchAll(/^\s+"([^"]+)": \(\) => (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    };
    const given = {
      main: bodies(b.main, '"sigguard-registry:registry"('),
      fast: bodies(b.fast, '// sigguard-fast-entry.js'),
      docs: bodies(b.docs, '// sigguard-docs-entry.js'),
    };
    const seen = { esm: 0, cjs: 0 };
    let sites = 0;
    for (const part of ['fast', 'docs', 'cold'] as const) {
      sites += b[part].split('__toESM(require("sigguard-').length - 1;
      for (const [, giver, path, flag] of b[part].matchAll(/__toESM\(require\("sigguard-(main|fast|docs):([^"]+)"\)(, 1)?\)/g)) {
        const thunk = given[giver as keyof typeof given].get(path!);
        expect(thunk, `${part} takes ${path} from ${giver}, which does not give it out`).toBeDefined();
        const esm = /^\(init_\w+\(\), __toCommonJS\(\w+\)\),?$/.test(thunk!);
        expect(esm || /^require_\w+\(\),?$/.test(thunk!), `${giver} gives ${path} as ${thunk}`).toBe(true);
        expect(
          flag === undefined,
          `${part} reads ${path} (${esm ? 'an ES module' : 'CommonJS'}) ${flag ? 'with' : 'without'} the node-mode flag`,
        ).toBe(esm);
        seen[esm ? 'esm' : 'cjs']++;
      }
    }
    expect(seen.esm + seen.cjs, 'every site read in one of the two forms').toBe(sites);
    // zod's core and English messages at least (the cold bundle's classic API on the docs bundle's core)
    expect(seen.esm).toBeGreaterThan(0);
  });
});
