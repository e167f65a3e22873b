// Bundles src/cli/main.ts and its dependencies into one CommonJS file,
// build/out/sigguard.cjs (CommonJS: what a Node single executable runs).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // not a git checkout: keep "unknown"
}
mkdirSync(join(root, 'build/out'), { recursive: true });
await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(root, 'build/out/sigguard.cjs'),
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
});
