import { defineConfig } from 'vitest/config';

// The packed-package check installs the tarball's dependencies: it runs on its own
// (npm run test:package, and in .ci/run), not in every npm test.
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
  },
});
