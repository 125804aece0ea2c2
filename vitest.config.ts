import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // tfjs keeps global backend state; one file per process keeps tests independent.
    poolOptions: { forks: { singleFork: false } },
    // Vitest's default (cores − 1) is one worker on a 2-core runner; the slow files spend their
    // time in child processes that use one core each, so one worker per core halves the wall time.
    maxWorkers: Math.max(2, os.availableParallelism()),
    minWorkers: 1,
    // The JSON file feeds the plain closing line that .ci/run prints (scripts/test-summary.mjs).
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
