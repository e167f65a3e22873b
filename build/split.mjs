// The main bundle split in two (issue 15): build/out/sigguard.cjs, the single executable's main
// script, holds what a warm start needs (the hook up to the verdict cache, the decision log, the
// commands' dispatch); build/out/sigguard-cold.cjs holds the rest (verification, registry client,
// zod schemas, YAML, CEL, the other commands), evaluated only when a start needs it.
//
// Where: every dynamic `import()` in the main bundle's sources is a cut, except the few below that
// a warm hook takes. A cut becomes a stub that loads the cold bundle (src/cli/cold-loader.ts) and
// returns the module from it. The cold bundle does not carry its own copy of a module the main
// bundle has: it takes the main bundle's instance (one SigguardError class, one kept-root state),
// through a registry of lazy requires the main bundle carries (`sigguard-main:<path>` in the cold
// bundle). Three esbuild passes: main (to know its modules), cold (to know which of them it uses),
// main again with that registry.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { build } from 'esbuild';

/** Dynamic imports kept inside the main bundle: what a warm hook start evaluates. */
const KEEP = new Set(['src/cli/hook.ts', 'src/cli/agent-loader.ts', 'src/hook/cri-images.ts', 'src/hook/node-digest.ts']);
const LOADER = 'src/cli/cold-loader.ts';
export const MAIN_PREFIX = 'sigguard-main:';

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
 * Bundles `entry` as `mainOut` and `coldOut` with esbuild `options` (format cjs, bundle).
 * Returns the cut modules (the cold bundle's entries) and the main modules the cold bundle uses.
 */
export async function splitBuild(root, entry, mainOut, coldOut, options) {
  const rel = (p) => relative(root, p);
  const main = async (registry) => {
    const cuts = new Set();
    const r = await build({
      ...options,
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: mainOut,
      metafile: true,
      plugins: [
        {
          name: 'sigguard-cold-cuts',
          setup(b) {
            b.onResolve({ filter: /.*/ }, async (args) => {
              if (args.kind !== 'dynamic-import' || args.pluginData?.cut === false) return undefined;
              const r = await b.resolve(args.path, {
                kind: args.kind,
                importer: args.importer,
                resolveDir: args.resolveDir,
                pluginData: { cut: false },
              });
              if (r.errors.length > 0 || r.external || KEEP.has(rel(r.path))) return undefined;
              cuts.add(rel(r.path));
              return { path: rel(r.path), namespace: 'sigguard-cut' };
            });
            b.onLoad({ filter: /.*/, namespace: 'sigguard-cut' }, (args) => ({
              contents: `module.exports = require(${JSON.stringify(`${root}/${LOADER}`)}).coldModule(${JSON.stringify(args.path)}, require('sigguard-registry'));\n`,
              loader: 'js',
              resolveDir: root,
            }));
            b.onResolve({ filter: /^sigguard-registry$/ }, () => ({ path: 'registry', namespace: 'sigguard-registry' }));
            b.onLoad({ filter: /.*/, namespace: 'sigguard-registry' }, () => ({
              contents: `module.exports = {\n${[...registry].map((p) => `  ${JSON.stringify(p)}: () => require(${JSON.stringify(`${root}/${p}`)}),\n`).join('')}};\n`,
              loader: 'js',
              resolveDir: root,
            }));
          },
        },
      ],
    });
    const modules = new Set(Object.keys(r.metafile.inputs).filter((p) => !p.includes(':')));
    return { cuts, modules };
  };

  const first = await main(new Set());
  const used = new Set();
  const cold = await build({
    ...options,
    absWorkingDir: root,
    stdin: {
      contents: `module.exports = {\n${[...first.cuts].map((p) => `  ${JSON.stringify(p)}: () => require(${JSON.stringify(`${root}/${p}`)}),\n`).join('')}};\n`,
      resolveDir: root,
      sourcefile: 'sigguard-cold-entry.js',
      loader: 'js',
    },
    outfile: coldOut,
    plugins: [
      {
        name: 'sigguard-main-modules',
        setup(b) {
          b.onResolve({ filter: /.*/ }, async (args) => {
            if (args.pluginData?.main === false || args.kind === 'entry-point') return undefined;
            const r = await b.resolve(args.path, {
              kind: args.kind,
              importer: args.importer,
              resolveDir: args.resolveDir,
              pluginData: { main: false },
            });
            if (r.errors.length > 0 || r.external || !first.modules.has(rel(r.path))) return undefined;
            used.add(rel(r.path));
            return { path: `${MAIN_PREFIX}${rel(r.path)}`, external: true };
          });
        },
      },
    ],
  });
  if (cold.errors.length > 0) throw new Error('cold bundle failed');
  const second = await main(used);
  for (const p of used) if (!second.modules.has(p)) throw new Error(`split: ${p} left the main bundle in the second pass`);
  for (const f of [mainOut, coldOut]) asciiOnly(f);
  // the cold bundle wrapped as src/cli/cold-loader.ts compiles it (its WRAPPER_HEAD/TAIL)
  writeFileSync(coldOut, `(function (exports, require, module, __filename, __dirname) {${readFileSync(coldOut, 'utf8')}\n})`);
  return { cuts: [...first.cuts].sort(), shared: [...used].sort() };
}
