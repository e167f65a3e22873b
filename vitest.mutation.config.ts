// The fast tiers only (unit and fixtures), for `make mutation`: Stryker runs them against each mutant.
import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Stryker runs this from a sandbox copy of the tree whose node_modules is a link to the real one:
// the real tree's .tools (cosign) is found through it.
const toolsDir = () =>
  process.env.SIGGUARD_TOOLS_DIR ?? resolve(dirname(realpathSync(resolve(import.meta.dirname, 'node_modules'))), '.tools');

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/fixtures/**/*.test.ts'],
    // spawns cosign for every signature it checks (seconds per mutant); make test-unit runs it
    // and the CRI wire and HTTP/2 tests, which touch none of the mutated folders
    exclude: ['test/unit/prehashed-cosign.test.ts', 'test/unit/cri-*.test.ts', 'test/unit/h2/**'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    env: { SIGGUARD_TOOLS_DIR: toolsDir() },
  },
});
