// Warp triggers (src/clean/warp.ts) on a WaNet-style zoo model and a clean control: the warp
// search finds a warp that sends nearly every digit to the WaNet model's target and few to the
// control's. How well warp unlearning cleans is measured in test/quality/cleaning.test.ts.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { withWarpCheck, type TriggerScan } from '../../src/clean/pipeline.js';
import { WARP_ASR_THRESHOLD, WARP_CHECK_SHIFT, warpImages } from '../../src/clean/warp.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { EXAMPLES } from '../helpers/run.js';
import { WANET, warpCheck as check } from '../helpers/warp.js';

beforeAll(async () => {
  await selectBackend({ choice: 'cpu', logger: new MemoryLogger() });
});

describe('warp triggers', () => {
  it('warps by bilinear sampling: a zero flow is the identity, a one-pixel flow shifts the image', () => {
    const x = tf.tensor4d(
      Float32Array.from({ length: 2 * 5 * 5 }, (_, i) => i),
      [2, 5, 5, 1],
    );
    expect(Array.from(warpImages(x, tf.zeros([5, 5, 2])).dataSync())).toEqual(Array.from(x.dataSync()));
    const right = warpImages(
      x,
      tf.tensor3d(
        Array.from({ length: 50 }, (_, i) => i % 2),
        [5, 5, 2],
      ),
    ).arraySync() as number[][][][];
    // Sampling at j + 1: each row reads its right neighbour (the last column clamps to the edge).
    expect(right[0][2].map((p) => p[0])).toEqual([11, 12, 13, 14, 14]);
  });

  it('keeps a warp-cleaned model flagged while fresh warps still work, whatever the voting scans say', () => {
    const scan = { decision: { verdict: 'clean', score: 0.1, suspectedTarget: null, reasons: ['scans: nothing found'] } } as unknown as TriggerScan;
    const stillWarped = withWarpCheck(scan, 5, 0.35).decision;
    expect(stillWarped.verdict).toBe('suspicious');
    expect(stillWarped.suspectedTarget).toBe(5);
    expect(stillWarped.reasons.at(-1)).toMatch(
      /warp check: after warp unlearning, a fresh warp of at most 2\.5 px still sends 35\.0 % of clean images to class 5 \(flagged from 20 %\)/,
    );
    const done = withWarpCheck(scan, 5, 0.08).decision;
    expect(done.verdict).toBe('clean');
    expect(done.reasons.at(-1)).toMatch(/fresh warps send at most 8\.0 %/);
  });

  it(`the warp check: a warp of at most ${WARP_CHECK_SHIFT} px sends nearly every digit to the WaNet model's target, few to the clean control's`, async () => {
    const [wanet, control] = await Promise.all([check(WANET, 5, 0, WARP_CHECK_SHIFT), check(EXAMPLES.cleanBn, 5, 0, WARP_CHECK_SHIFT)]);
    console.log(
      `${WARP_CHECK_SHIFT}-px warp ASR at class 5: WaNet model ${wanet.warpAsr.map((a: number) => (100 * a).toFixed(1)).join('/')} %, clean control ${control.warpAsr.map((a: number) => (100 * a).toFixed(1)).join('/')} %`,
    );
    expect(Math.max(...wanet.warpAsr)).toBeGreaterThan(Math.max(0.95, WARP_ASR_THRESHOLD));
    // A clean model answers so small a warp with its own answer (measured 3.9 % at class 5; at 2.5 px 65-69 %).
    expect(Math.max(...control.warpAsr)).toBeLessThan(0.2);
    for (const s of [...wanet.maxShift, ...control.maxShift]) expect(s).toBeLessThanOrEqual(WARP_CHECK_SHIFT + 1e-4);
  }, 300_000);
});
