// The main bundle split in four (issue 15): build/out/sigguard.cjs, the single executable's main
// script, holds what a warm start needs (the hook up to the verdict cache, the decision log, the
// commands' dispatch); build/out/sigguard-fast.cjs holds what a verification by trusted keys runs
// (the registry client, discovery, the key-only fast path, `check`), loaded on a verdict-cache
// miss; build/out/sigguard-docs.cjs what validating a policy or configuration runs (YAML, zod, the
// schemas), loaded when a document is not in the document cache; build/out/sigguard-cold.cjs holds
// the rest (@sigstore/*, certificates, CEL, the other commands), loaded only when a start needs one
// of them. A new image signed by a key thus compiles ~0.1 MB of code, not ~2.5 MB, and a start
// that validates its documents ~0.6 MB more, not ~2 MB.
//
// Where: every dynamic `import()` in the main bundle's sources is a cut, except the few below that
// a warm hook takes; a cut to one of FAST's modules loads the fast bundle, to one of DOCS's the docs
// bundle, any other the cold one. Every dynamic `import()` in the fast and docs bundles' sources is
// a cut to the cold bundle, but the fast bundle's to FAST_TO_DOCS (the docs bundle). A cut becomes a stub that loads its bundle (src/cli/cold-loader.ts) and
// returns the module from it. A later bundle carries no copy of a module an earlier one has: it
// takes that bundle's instance (one SigguardError class, one kept-root state, one registry
// connection pool, one zod), through a registry of lazy requires the earlier bundle carries
// (`sigguard-main:<path>`, `sigguard-fast:<path>`, `sigguard-docs:<path>`). The order: main, fast,
// docs, cold; each takes from those before it. esbuild passes: main (to know its modules), fast,
// docs, cold (to know which modules of the others it uses), fast, docs and main again with those
// registries.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { build } from 'esbuild';

/** Dynamic imports kept inside the main bundle: what a warm hook start evaluates. */
const KEEP = new Set(['src/cli/hook.ts', 'src/cli/agent-loader.ts', 'src/hook/cri-images.ts', 'src/hook/node-digest.ts']);
/**
 * The main bundle's cuts that make the fast bundle (with what they import statically): the
 * verification a new image needs when its policy trusts keys, and `check`.
 */
export const FAST = new Set(['src/engine/session.ts', 'src/engine/requirements/sigstore-signed.ts', 'src/cli/check.ts']);
/** The main bundle's cuts that make the docs bundle: what validating a policy or a configuration loads. */
export const DOCS = new Set(['node_modules/yaml/dist/index.js', 'src/policy/schema.ts', 'src/config/schema.ts']);
/**
 * The fast bundle's cuts that go to the docs bundle, not the cold one: a registry's hosts.toml
 * (smol-toml and its schema), validated by a start that finds it in no document cache (with the
 * cold bundle it cost such a start ~15 ms: @sigstore, certificates and zod's classic API compiled
 * and evaluated for one small document).
 */
export const FAST_TO_DOCS = new Set(['src/registry/hosts.ts']);
/** Where the fast bundle's cut to `path` goes. */
const fastCutTo = (path) => (FAST_TO_DOCS.has(path) ? 'docs' : 'cold');
const LOADER = 'src/cli/cold-loader.ts';
export const MAIN_PREFIX = 'sigguard-main:';
export const FAST_PREFIX = 'sigguard-fast:';
export const DOCS_PREFIX = 'sigguard-docs:';

/**
 * esbuild escapes non-ASCII characters in literals and names, not in comments: one em dash in a
 * comment made V8 hold the whole 2.5 MB text as a two-byte string (5 MB of heap). Escaped as
 * \uXXXX (a comment reads the same, a literal or a name means the same), the text is ASCII.
 */
function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  const ascii = text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(file, ascii);
}

/**
 * A later bundle's ES module of a `"type": "module"` package (zod) that imports from a module an
 * earlier bundle holds reads it as Node reads CommonJS from such a module: esbuild writes
 * `__toESM(require(x), 1)`, whose default is the whole exports object. But what the earlier bundle
 * gives for an ES module is its namespace (marked __esModule), whose default is the module's default
 * export: for those the flag goes. (zod's English messages, shared by zod/mini in the docs bundle and
 * the classic API in the cold one, were otherwise the exports object, not the function.)
 */
function esmDefaults(file, esm) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/__toESM\(require\("(sigguard-(?:main|fast|docs):([^"]+))"\), 1\)/g, (all, id, path) =>
    esm.has(path) ? `__toESM(require(${JSON.stringify(id)}))` : all,
  );
  if (fixed !== text) writeFileSync(file, fixed);
}

/** A module of thunks, one lazy require per path: a bundle's exports, or the main bundle's registry. */
const thunks = (root, paths) =>
  `module.exports = {\n${[...paths]
    .sort()
    .map((p) => `  ${JSON.stringify(p)}: () => require(${JSON.stringify(`${root}/${p}`)}),\n`)
    .join('')}};\n`;

/** Resolves as esbuild would, without our plugin (the path relative to root, or undefined). */
async function resolved(b, args, rel, flag) {
  const r = await b.resolve(args.path, {
    kind: args.kind,
    importer: args.importer,
    resolveDir: args.resolveDir,
    pluginData: { [flag]: false },
  });
  return r.errors.length > 0 || r.external ? undefined : rel(r.path);
}

/**
 * Bundles `entry` as `mainOut`, `fastOut`, `docsOut` and `coldOut` with esbuild `options` (format
 * cjs, bundle). Returns the cuts of each bundle and the modules the later bundles take from the
 * earlier ones.
 */
export async function splitBuild(root, entry, mainOut, fastOut, docsOut, coldOut, options) {
  const rel = (p) => relative(root, p);
  const common = { ...options, absWorkingDir: root, metafile: true };
  const modulesOf = (r) => new Set(Object.keys(r.metafile.inputs).filter((p) => !p.includes(':')));
  /** Every ES module of a bundle (esmDefaults) */
  const esm = new Set();
  const noteEsm = (r) => {
    for (const [p, input] of Object.entries(r.metafile.inputs)) if (input.format === 'esm' && !p.includes(':')) esm.add(p);
  };
  /** The stub a cut becomes: the module from `bundle`, through the main bundle's loader. */
  const stub = (path, bundle, registry) => ({
    contents: `module.exports = require(${JSON.stringify(`${root}/${LOADER}`)}).coldModule(${JSON.stringify(path)}, ${registry}, ${JSON.stringify(bundle)});\n`,
    loader: 'js',
    resolveDir: root,
  });

  /** `bundleOf`: which later bundle a cut of the main bundle loads. */
  const main = async (registry, bundleOf) => {
    const cuts = new Set();
    const r = await build({
      ...common,
      entryPoints: [entry],
      outfile: mainOut,
      plugins: [
        ...(options.plugins ?? []),
        {
          name: 'sigguard-main-cuts',
          setup(b) {
            b.onResolve({ filter: /.*/ }, async (args) => {
              if (args.kind !== 'dynamic-import' || args.pluginData?.cut === false) return undefined;
              const path = await resolved(b, args, rel, 'cut');
              if (path === undefined || KEEP.has(path)) return undefined;
              cuts.add(path);
              return { path, namespace: 'sigguard-cut' };
            });
            b.onLoad({ filter: /.*/, namespace: 'sigguard-cut' }, (args) =>
              stub(args.path, bundleOf(args.path), "require('sigguard-registry')"),
            );
            b.onResolve({ filter: /^sigguard-registry$/ }, () => ({ path: 'registry', namespace: 'sigguard-registry' }));
            b.onLoad({ filter: /.*/, namespace: 'sigguard-registry' }, () => ({
              contents: thunks(root, registry),
              loader: 'js',
              resolveDir: root,
            }));
          },
        },
      ],
    });
    noteEsm(r);
    return { cuts, modules: modulesOf(r) };
  };

  /**
   * A later bundle: `entries` exported as thunks; `earlier` maps the earlier bundles' modules to their
   * prefix; `cutTo`, the bundle a dynamic import of a module not in it loads (none: no cuts).
   */
  const later = async (name, entries, out, earlier, cutTo) => {
    const used = new Map(earlier.map(([prefix]) => [prefix, new Set()]));
    const cuts = new Set();
    const r = await build({
      ...common,
      stdin: { contents: thunks(root, entries), resolveDir: root, sourcefile: `sigguard-${name}-entry.js`, loader: 'js' },
      outfile: out,
      plugins: [
        ...(options.plugins ?? []),
        {
          name: `sigguard-${name}-modules`,
          setup(b) {
            b.onResolve({ filter: /.*/ }, async (args) => {
              if (args.pluginData?.taken === false || args.kind === 'entry-point') return undefined;
              const path = await resolved(b, args, rel, 'taken');
              if (path === undefined) return undefined;
              for (const [prefix, modules] of earlier) {
                if (!modules.has(path)) continue;
                used.get(prefix).add(path);
                return { path: `${prefix}${path}`, external: true };
              }
              if (cutTo === undefined || args.kind !== 'dynamic-import') return undefined;
              cuts.add(path);
              return { path, namespace: 'sigguard-cut' };
            });
            // a cut of a later bundle reaches the main bundle's loader (one instance: it takes it as any main module)
            b.onLoad({ filter: /.*/, namespace: 'sigguard-cut' }, (args) => stub(args.path, cutTo(args.path), 'undefined'));
          },
        },
      ],
    });
    if (r.errors.length > 0) throw new Error(`${name} bundle failed`);
    noteEsm(r);
    return { cuts, modules: modulesOf(r), used };
  };

  const initially = (p) => (FAST.has(p) ? 'fast' : DOCS.has(p) ? 'docs' : 'cold');
  const first = await main(new Set(), initially);
  const fastEntries = [...first.cuts].filter((p) => FAST.has(p));
  const docsEntries = [...first.cuts].filter((p) => DOCS.has(p));
  for (const p of [...FAST, ...DOCS]) if (!first.cuts.has(p)) throw new Error(`split: ${p} is no cut of the main bundle`);
  const fast1 = await later('fast', fastEntries, fastOut, [[MAIN_PREFIX, first.modules]], fastCutTo);
  for (const p of FAST_TO_DOCS) if (!fast1.cuts.has(p)) throw new Error(`split: ${p} is no cut of the fast bundle`);
  const docsEarlier = (fastModules) => [
    [MAIN_PREFIX, first.modules],
    [FAST_PREFIX, fastModules],
  ];
  const toCold = () => 'cold';
  const docs1 = await later('docs', [...docsEntries, ...FAST_TO_DOCS], docsOut, docsEarlier(fast1.modules), toCold);
  const coldEntries = new Set([
    ...[...first.cuts].filter((p) => !FAST.has(p) && !DOCS.has(p)),
    ...[...fast1.cuts].filter((p) => !FAST_TO_DOCS.has(p)),
    ...docs1.cuts,
  ]);
  const cold = await later('cold', coldEntries, coldOut, [
    [MAIN_PREFIX, first.modules],
    [FAST_PREFIX, fast1.modules],
    [DOCS_PREFIX, docs1.modules],
  ]);
  // each exports what the main bundle's cuts and the later bundles take from it
  const fastExports = new Set([
    ...fastEntries,
    ...[...first.cuts].filter((p) => fast1.modules.has(p)),
    ...cold.used.get(FAST_PREFIX),
    ...docs1.used.get(FAST_PREFIX),
  ]);
  const fast = await later('fast', fastExports, fastOut, [[MAIN_PREFIX, first.modules]], fastCutTo);
  for (const p of fast.modules) if (!fast1.modules.has(p)) throw new Error(`split: ${p} joined the fast bundle in the second pass`);
  const docsExports = new Set([
    ...docsEntries,
    ...FAST_TO_DOCS,
    ...[...first.cuts].filter((p) => docs1.modules.has(p)),
    ...cold.used.get(DOCS_PREFIX),
  ]);
  const docs = await later('docs', docsExports, docsOut, docsEarlier(fast.modules), toCold);
  for (const p of docs.modules) if (!docs1.modules.has(p)) throw new Error(`split: ${p} joined the docs bundle in the second pass`);
  for (const p of docs.used.get(FAST_PREFIX))
    if (!fastExports.has(p)) throw new Error(`split: the docs bundle takes ${p}, which the fast one does not give`);
  const usedOfMain = new Set([...cold.used.get(MAIN_PREFIX), ...fast.used.get(MAIN_PREFIX), ...docs.used.get(MAIN_PREFIX)]);
  const second = await main(usedOfMain, (p) =>
    FAST.has(p) || fast.modules.has(p) ? 'fast' : DOCS.has(p) || docs.modules.has(p) ? 'docs' : 'cold',
  );
  for (const p of usedOfMain) if (!second.modules.has(p)) throw new Error(`split: ${p} left the main bundle in the second pass`);
  for (const f of [fastOut, docsOut, coldOut]) esmDefaults(f, esm);
  for (const f of [mainOut, fastOut, docsOut, coldOut]) asciiOnly(f);
  // the later bundles wrapped as src/cli/cold-loader.ts compiles them (its WRAPPER_HEAD/TAIL)
  for (const f of [fastOut, docsOut, coldOut])
    writeFileSync(f, `(function (exports, require, module, __filename, __dirname) {${readFileSync(f, 'utf8')}\n})`);
  return {
    cuts: [...first.cuts].sort(),
    fast: [...fast.modules].sort(),
    fastCuts: [...fast.cuts].sort(),
    docs: [...docs.modules].sort(),
    docsCuts: [...docs.cuts].sort(),
    shared: [...usedOfMain].sort(),
    sharedOfFast: [...new Set([...cold.used.get(FAST_PREFIX), ...docs.used.get(FAST_PREFIX)])].sort(),
    sharedOfDocs: [...cold.used.get(DOCS_PREFIX)].sort(),
  };
}
