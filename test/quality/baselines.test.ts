// The Neural Cleanse baseline (src/scan/neural-cleanse.ts: the bench compares trigger inversion
// with it; the gate does not run it) on a committed example model, in its own process. A slow
// quality evaluation: `npm run eval:quality`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, PROBE, REPO } from '../helpers/run.js';

describe('Neural Cleanse baseline', () => {
  // With the eval's budget NC finds this model's target (and misses others: see the README).
  it('finds the Blended target of an example model as a low-L1 outlier', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/helpers/neural-cleanse-check.ts', EXAMPLES.blendedCnn, PROBE], {
      cwd: REPO,
    });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { suspectedTarget: number | null; anomaly: number; maskL1: number[] };
    expect(r.suspectedTarget).toBe(4);
    expect(r.anomaly).toBeGreaterThan(2);
    expect(Math.min(...r.maskL1)).toBe(r.maskL1[4]);
  }, 300_000);
});
