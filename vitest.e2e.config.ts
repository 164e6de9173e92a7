import { defineConfig } from 'vitest/config';

/** Browser tests: real Chromium (playwright-core) against the demo auth server on 127.0.0.1. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One browser at a time: the scenarios measure timing and the machine has two cores.
    fileParallelism: false,
  },
});
