// The hostile-input corpus through the CLI bundle: every case ends in exit code 2 with one error
// line naming the file and the cause, no stack trace, within a time bound, and nothing written
// anywhere but the report in the work directory (the corpus itself is left as it was).
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run.js';
import { writeHostileCorpus, type HostileCase } from './corpus.js';

/** Every path under `dir` with its size and mtime: a change anywhere shows up. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => path.join(e.parentPath, e.name))
    .map((f) => {
      const s = statSync(f, { throwIfNoEntry: false });
      return `${path.relative(dir, f)} ${s?.size ?? 'link'} ${s?.mtimeMs ?? ''}`;
    })
    .sort();
}

const CASE_SECONDS = 60;

describe('hostile inputs: exit 2, one line naming the file and the cause, nothing written elsewhere', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bg-hostile-'));
  const corpus = path.join(root, 'corpus');
  const cases: HostileCase[] = await writeHostileCorpus(corpus);
  const before = snapshot(corpus);

  it('covers every kind of hostile input the issue lists', () => {
    const kinds = new Set(cases.map((c) => c.name.split('/')[0]));
    expect([...kinds].sort()).toEqual(['bundle', 'data', 'dual', 'limits', 'model', 'onnx', 'policy']);
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const work = mkdtempSync(path.join(root, 'work-'));
    const t0 = performance.now();
    const result = await runCli(['scan', ...c.args, '--report', path.join(work, 'report.json')], {}, work);
    expect((performance.now() - t0) / 1000).toBeLessThan(CASE_SECONDS);
    expect(result.code).toBe(2);
    const output = `${result.stdout}${result.stderr}`;
    const errorLines = output.split('\n').filter((l) => c.expect.test(l));
    expect(errorLines, output).toHaveLength(1);
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
    // Only the report (which records the failure) may be written, and only here.
    expect(readdirSync(work).filter((f) => f !== 'report.json')).toEqual([]);
    expect(snapshot(corpus)).toEqual(before);
    expect(readdirSync(root).filter((f) => f !== 'corpus' && !f.startsWith('work-'))).toEqual([]);
  });
});
