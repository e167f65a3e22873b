// The fast tiers only (unit and fixtures), for `make mutation`: Stryker runs them against each mutant.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Stryker runs this from a sandbox inside the tree (build/out/mutation/tmp/sandbox-*): the tree's
// .tools (cosign) is the nearest one above it.
const toolsDir = (): string => {
  if (process.env.SIGGUARD_TOOLS_DIR) return process.env.SIGGUARD_TOOLS_DIR;
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.tools', 'bin'))) return join(dir, '.tools');
    if (dirname(dir) === dir) return resolve(import.meta.dirname, '.tools');
  }
};

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/fixtures/**/*.test.ts'],
    // spawns cosign for every signature it checks (seconds per mutant); make test-unit runs it
    // and the CRI wire and HTTP/2 tests, which touch none of the mutated folders
    exclude: ['test/unit/prehashed-cosign.test.ts', 'test/unit/cri-*.test.ts', 'test/unit/h2/**'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // test certificates made once per spec for the whole run (test/support/x509-chains.ts)
    env: { SIGGUARD_TOOLS_DIR: toolsDir(), SIGGUARD_TEST_CERT_CACHE: join(toolsDir(), '..', 'build/out/mutation/cert-cache') },
  },
});
