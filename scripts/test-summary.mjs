// Prints vitest's JSON results (one file or several, summed) as one plain closing line:
// "tests: N passed, N failed, N skipped". A missing file is a run that did not complete.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.vitest-results.json'];
const total = { passed: 0, failed: 0, skipped: 0 };
const missing = [];
for (const file of files) {
  if (!existsSync(file)) {
    missing.push(file);
    total.failed++;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  total.passed += r.numPassedTests;
  total.failed += r.numFailedTests;
  total.skipped += r.numPendingTests + r.numTodoTests;
}
const note = missing.length ? ` (no results file ${missing.join(', ')}: that test run did not complete)` : '';
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped${note}`);
