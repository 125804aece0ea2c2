import os from 'node:os';
import { defineConfig } from 'vitest/config';

/** What `npm test` and `npm run eval:quality` (vitest.quality.config.ts) share. */
export const sharedTestOptions = {
  testTimeout: 120_000,
  hookTimeout: 300_000,
  pool: 'forks',
  // tfjs keeps global backend state; one file per process keeps tests independent.
  poolOptions: { forks: { singleFork: false } },
  // Vitest's default (cores − 1) is one worker on a 2-core runner, and the slow files spend
  // their time in child processes that use one core each: one worker per core overlaps them.
  maxWorkers: Math.max(2, os.availableParallelism()),
  minWorkers: 1,
  reporters: ['default', 'json'],
} as const;

export default defineConfig({
  test: {
    ...sharedTestOptions,
    include: ['test/**/*.test.ts'],
    // The slow quality evaluations run on their own.
    exclude: ['test/quality/**', '**/node_modules/**'],
    // The JSON file feeds the plain closing line that .ci/run prints (scripts/test-summary.mjs).
    outputFile: { json: '.vitest-results.json' },
  },
});
