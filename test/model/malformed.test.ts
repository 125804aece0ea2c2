import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeMalformedModels, type MalformedCase } from '../helpers/malformed.js';
import { EXAMPLES, runCli } from '../helpers/run.js';

describe('malformed models: exit code 2 and a one-line error naming the cause', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bg-malformed-'));
  const cases: MalformedCase[] = await writeMalformedModels(root, EXAMPLES.cleanBn);

  it('covers at least ten distinct faults', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'bg-work-'));
    const report = path.join(work, 'report.json');
    const result = await runCli(['scan', c.dir, '--report', report, '--max-probe-images', '8'], {}, work);
    expect(result.code).toBe(2);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/: error \(/);
    expect(lines[0]).toMatch(c.expect);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // The report still records the failure, and nothing else was written.
    expect(readdirSync(work)).toEqual(['report.json']);
    expect(existsSync(report)).toBe(true);
  });
});
