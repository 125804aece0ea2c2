import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // tfjs keeps global backend state; one file per process keeps tests independent.
    poolOptions: { forks: { singleFork: false } },
    // The JSON file feeds the plain closing line that .ci/run prints (scripts/test-summary.mjs).
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
