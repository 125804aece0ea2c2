// `npm run fuzz` on a small budget: the zeros hold, mutants really break and really load, and
// the harness itself sees a crash and a hang when they are injected.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runNode } from '../helpers/run.js';

async function fuzz(args: string[], env: Record<string, string> = {}) {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-fuzz-test-')), 'fuzz.json');
  const tsx = path.join(REPO, 'node_modules/tsx/dist/cli.mjs');
  const result = await runNode(path.relative(REPO, tsx), ['scripts/fuzz.ts', '--out', out, ...args], env);
  return { result, summary: JSON.parse(readFileSync(out, 'utf8')) };
}

describe('npm run fuzz', () => {
  it('120 mutants: no crash, hang, pass for unreadable input, unclear error or stray file', async () => {
    const { result, summary } = await fuzz(['--mutants', '120', '--seed', '7']);
    expect(summary).toMatchObject({
      mutants: 120,
      crashes: 0,
      hangs: 0,
      passesForUnreadable: 0,
      unclearErrors: 0,
      filesWrittenOutsideWork: 0,
      seedsChanged: false,
    });
    // The mutants exercise both sides: most are rejected, some still load, some policies stay valid.
    expect(summary.outcomes['model error']).toBeGreaterThan(40);
    expect(summary.outcomes['model unassessed']).toBeGreaterThan(0);
    expect(summary.outcomes['policy rejected']).toBeGreaterThan(0);
    expect(result.code).toBe(0);
  }, 120_000);

  it('sees an injected crash and an injected hang, and fails', async () => {
    const crash = await fuzz(['--mutants', '12', '--workers', '1'], { BG_FUZZ_INJECT: 'crash' });
    expect(crash.summary.crashes).toBe(1);
    // The dying worker's own words are kept: the exception and where it was thrown.
    expect(crash.summary.examples.crashes[0]).toMatchObject({
      code: expect.any(Number),
      stderr: expect.stringMatching(/worker uncaughtException: Error: injected crash\n\s+at /),
    });
    expect(crash.summary.mutants).toBe(12);
    expect(crash.result.code).toBe(1);
    const hang = await fuzz(['--mutants', '12', '--workers', '1', '--case-seconds', '3'], { BG_FUZZ_INJECT: 'hang' });
    expect(hang.summary.hangs).toBe(1);
    expect(hang.summary.mutants).toBe(12);
    expect(hang.result.code).toBe(1);
  }, 120_000);
});
