// Cleaning, first cut (issue 4 is open): D3's invariants and trigger unlearning's effect, on the
// committed example models with the bundled probe digits as the small clean labelled set.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { d3, headKernel } from '../../src/clean/d3.js';
import { accuracyOf, perClassSubset, predict } from '../../src/clean/training.js';
import { recoveredTriggers } from '../../src/clean/triggers.js';
import { unlearnTriggers } from '../../src/clean/unlearn.js';
import { loadLabelledImages } from '../../src/data/sources.js';
import { sliceImages, withoutClass, type LabelledImageSet } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { reconstructTriggers } from '../../src/scan/inversion.js';
import { EXAMPLES, PROBE } from '../helpers/run.js';

let digits: LabelledImageSet;
beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  digits = loadLabelledImages(PROBE, { shape: [28, 28, 1], maxImages: 256, seed: 0 });
});

describe('D3', () => {
  it('pushes the head away from its backdoored weights on the sphere of its initial norm', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const head = headKernel(model);
    expect(head.shape).toEqual([64, 10]);
    const w0 = head.clone();
    const norm0 = tf.norm(w0).dataSync()[0];
    const log = d3(model, perClassSubset(digits, 12), { epochs: 4, batchSize: 64 });
    expect(log.steps).toBe(4 * 2);
    expect(tf.norm(head).dataSync()[0]).toBeCloseTo(norm0, 3);
    // Far from where it started: a random warm start on the sphere is about √2·‖W⁰‖ away.
    expect(tf.norm(tf.sub(head, w0)).dataSync()[0]).toBeGreaterThan(norm0);
    expect(log.epochLoss.every(Number.isFinite)).toBe(true);
    model.dispose();
  }, 120_000);
});

describe('trigger unlearning', () => {
  it('makes the recovered trigger stop working on held-out digits', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const probe = sliceImages(digits, 0, 128);
    const found = reconstructTriggers(model, probe);
    expect(found.suspectedTarget).toBe(4);
    const [trigger] = recoveredTriggers(model.inputShape, { dense: found });
    const others = withoutClass(sliceImages(digits, 128, 256), 4);
    const asr = () => predict(model, others, (x) => trigger.stamp(x)).filter((p) => p === 4).length / others.count;
    const before = asr();
    const heldoutAccuracy = accuracyOf(model, sliceImages(digits, 128, 256));
    const clean = sliceImages(digits, 0, 128);
    unlearnTriggers(model, clean, [trigger], { epochs: 5 });
    // Held-out digits (the second half), stamped with the same recovered trigger.
    expect(before).toBeGreaterThan(0.5);
    expect(asr()).toBeLessThan(before / 4);
    // Tuned on 128 digits only, it loses some accuracy (measured: ~97 → ~89 %); the eval's
    // 600-image runs are in the README.
    expect(accuracyOf(model, sliceImages(digits, 128, 256))).toBeGreaterThan(heldoutAccuracy - 0.12);
    model.dispose();
  }, 120_000);
});
