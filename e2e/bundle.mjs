// Bundles the e2e runners and the demo (TypeScript, with the `.js` import
// suffixes Node's own type stripping does not resolve) into CommonJS files run
// by the pinned Node: build/out/e2e/{run-local,run-kind,demo}.cjs (and bench.cjs for make bench).
// `__dirname` in the sources (test/support/paths.ts finds the repository with
// it) is replaced by each source file's own folder, so paths stay what they
// are under vitest.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const names = process.argv.length > 2 ? process.argv.slice(2) : ['run-local', 'run-kind', 'demo'];

const sourceDirname = {
  name: 'source-dirname',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const text = await readFile(args.path, 'utf8');
      return { contents: text.replaceAll('__dirname', JSON.stringify(dirname(args.path))), loader: 'ts' };
    });
  },
};

await build({
  // a bare name is e2e/<name>.ts; a path (bench/bench.ts) is taken from the repository root
  entryPoints: Object.fromEntries(
    names.map((n) => (n.includes('/') ? [basename(n, '.ts'), join(root, n)] : [n, join(root, 'e2e', `${n}.ts`)])),
  ),
  outdir: join(root, 'build/out/e2e'),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  packages: 'external',
  logLevel: 'warning',
  plugins: [sourceDirname],
});
