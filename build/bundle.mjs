// Bundles src/cli/main.ts and its dependencies into one CommonJS file,
// build/out/sigguard.cjs (CommonJS: what a Node single executable runs).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { splitBuild } from './split.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();
} catch {
  // not a git checkout: keep "unknown"
}
// zod's `locales` namespace holds English only: sigguard reports zod's messages in English (zod sets
// `en` up from its own module, never through this namespace), and the other 63 languages were ~380 KB
// of the cold bundle that every start loading it compiled and evaluated.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    // named relative to the checkout: the bundles carry no path of the machine that built them
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /\/node_modules\/zod\/v4\/(classic|core|mini)\/[^/]+\.js$/.test(args.importer)
        ? { path: relative(root, join(dirname(args.importer), '../locales/index.js')), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      loader: 'js',
      resolveDir: join(root, dirname(args.path)),
    }));
  },
};
mkdirSync(join(root, 'build/out'), { recursive: true });
// Written in a folder of its own, then renamed into place: bin/sigguard runs the bundle when it is
// newer than the single executable, and a hook started while esbuild rewrote it in place ran a
// truncated (even empty: exit 0, silent) file — an allow without a decision.
const tmp = mkdtempSync(join(root, 'build/out/.bundle-'));
try {
  // sigguard-agent.cjs: `sigguard agent` and `metrics` (pino, prom-client), loaded only by those
  // commands (src/cli/agent-loader.ts; in the single executable, an asset) and never parsed by the hook
  const options = {
    plugins: [zodEnglishOnly],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifySyntax: true,
    legalComments: 'linked',
    logLevel: 'warning',
    define: {
      __SIGGUARD_VERSION__: JSON.stringify(pkg.version),
      __SIGGUARD_COMMIT__: JSON.stringify(commit),
    },
  };
  // sigguard.cjs (what a warm start needs), sigguard-fast.cjs (a verification by keys, loaded on a
  // miss) and sigguard-cold.cjs (the rest, loaded when needed): build/split.mjs
  await splitBuild(
    root,
    join(root, 'src/cli/main.ts'),
    join(tmp, 'sigguard.cjs'),
    join(tmp, 'sigguard-fast.cjs'),
    join(tmp, 'sigguard-docs.cjs'),
    join(tmp, 'sigguard-cold.cjs'),
    options,
  );
  for (const [entry, name] of [
    ['src/cli/agent.ts', 'sigguard-agent.cjs'],
    // sigguard-trust.cjs: `sigguard trust` (the TUF client, tuf-js), the same way: never parsed by the hook
    ['src/cli/trust.ts', 'sigguard-trust.cjs'],
  ]) {
    await build({ ...options, entryPoints: [join(root, entry)], outfile: join(tmp, name) });
  }
  // sigguard.cjs.LEGAL.txt: the notices of the four parts of the split (build/image.mjs ships this file)
  const legal = ['sigguard.cjs.LEGAL.txt', 'sigguard-fast.cjs.LEGAL.txt', 'sigguard-docs.cjs.LEGAL.txt', 'sigguard-cold.cjs.LEGAL.txt']
    .filter((n) => existsSync(join(tmp, n)))
    .map((n) => readFileSync(join(tmp, n), 'utf8'));
  writeFileSync(join(tmp, 'sigguard.cjs.LEGAL.txt'), legal.join('\n'));
  for (const name of readdirSync(tmp)) renameSync(join(tmp, name), join(root, 'build/out', name));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
