import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
    // the temporary folders of test/support (registries, cosign, runtime bundles) removed after each file
    setupFiles: ['test/support/temp-cleanup.ts'],
  },
});
