// `npm run eval:quality`: the slow end-to-end quality evaluations (test/quality), with the main
// suite's pool and timeouts. CI runs them after `npm test`.
import { defineConfig } from 'vitest/config';
import { sharedTestOptions } from './vitest.config.js';

export default defineConfig({
  test: {
    ...sharedTestOptions,
    include: ['test/quality/**/*.test.ts'],
    outputFile: { json: '.vitest-quality-results.json' },
  },
});
