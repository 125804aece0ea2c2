// Memory-bounded batching must not change the optimisation: a step split into blocks whose
// gradients are summed gives the same trigger as the step done in one pass.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadProbeImages } from '../../src/data/sources.js';
import { selectBackend } from '../../src/engine/backend.js';
import { planRows } from '../../src/engine/memory.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { blocks, spans } from '../../src/scan/batching.js';
import { reconstructTriggers } from '../../src/scan/inversion.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { EXAMPLES, PROBE } from '../helpers/run.js';

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('memory-bounded batching', () => {
  it('covers every (class, image) row exactly once, within the row limit', () => {
    for (const [classes, images, rows] of [
      [10, 32, 7],
      [10, 32, 4],
      [3, 5, 100],
      [5, 8, 1],
    ]) {
      const seen = new Set<string>();
      for (const b of blocks(classes, images, rows)) {
        expect((b.c1 - b.c0) * (b.e - b.s)).toBeLessThanOrEqual(Math.max(rows, 1));
        for (let c = b.c0; c < b.c1; c++) for (let i = b.s; i < b.e; i++) seen.add(`${c}/${i}`);
      }
      expect(seen.size).toBe(classes * images);
    }
    expect(spans(10, 4)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
  });

  it('gives the same triggers and masks when a step is split into blocks', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const probe = loadProbeImages(PROBE, { shape: model.inputShape, maxImages: 32, seed: 0 });
    const split = { gradient: 7, forward: 9 };
    const whole = await reconstructTriggers(model, probe, { batchSize: 16 });
    const parts = await reconstructTriggers(model, probe, { batchSize: 16, rows: split });
    // Summation order differs, and Adam divides by √v: agreement to 1e-3 of a trigger bounded by ε = 0.15.
    expect(maxAbsDiff(whole.triggers, parts.triggers)).toBeLessThan(1e-3);
    expect(parts.perClass.map((p) => p.asr)).toEqual(whole.perClass.map((p) => p.asr));
    const mWhole = await reconstructMasks(model, probe, { epochs: 2, maxImages: 16, batchSize: 8 });
    const mParts = await reconstructMasks(model, probe, { epochs: 2, maxImages: 16, batchSize: 8, rows: split });
    expect(maxAbsDiff(mWhole.masks, mParts.masks)).toBeLessThan(1e-3);
    // The plan itself: a 28-px CNN needs about a megabyte per differentiated row: hundreds of rows fit.
    const plan = await planRows(model);
    expect(plan.gradientRowBytes).toBeGreaterThan(plan.forwardRowBytes);
    expect(plan.gradient).toBeGreaterThan(500);
    model.dispose();
  }, 120_000);
});
