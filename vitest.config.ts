import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      // The black-box tests (test/attack) import the built package (`npm run build` first) as `#built`.
      { find: /^#built$/, replacement: fileURLToPath(new URL('./dist/index.js', import.meta.url)) },
      { find: /^#built\/ky$/, replacement: fileURLToPath(new URL('./dist/ky.js', import.meta.url)) },
      // Tests import the package by its name, as users do.
      { find: 'tokenkeeper', replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    environment: 'node',
    restoreMocks: true,
  },
});
