import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { deepInversionImages } from '../../src/data/deep-inversion.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { LayersModelAdapter } from '../../src/model/adapter.js';
import { DEFAULT_GATE_JSON } from '../../src/model/gate-json.js';

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

const SHAPE = [8, 8, 1] as const;
const RUNNING = { mean: 0.3, variance: 0.01 };

/** Batch norm straight on the pixels, with running statistics set by hand, then a softmax head. */
function pixelNormModel(): LayersModelAdapter {
  const m = tf.sequential();
  m.add(tf.layers.batchNormalization({ inputShape: [...SHAPE] }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }));
  const bn = m.layers[0];
  bn.setWeights([tf.ones([1]), tf.zeros([1]), tf.fill([1], RUNNING.mean), tf.fill([1], RUNNING.variance)]);
  return new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'pixel-norm');
}

describe('DeepInversion probes', () => {
  it('exposes each batch-norm input beside its running statistics, in the same pass as the logits', () => {
    const model = pixelNormModel();
    const x = tf.randomUniform([4, ...SHAPE], 0, 1, 'float32', 5) as tf.Tensor4D;
    const { logits, batchNorm } = model.batchNormForward(x);
    // The layer sits on the pixels, so its input is the image itself; the logits are the plain path's.
    expect(batchNorm).toHaveLength(1);
    expect(Array.from(batchNorm[0].input.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(batchNorm[0].runningMean.dataSync()[0]).toBeCloseTo(RUNNING.mean, 6);
    expect(batchNorm[0].runningVariance.dataSync()[0]).toBeCloseTo(RUNNING.variance, 6);
    const plain = model.logits(x).dataSync();
    logits.dataSync().forEach((v, i) => expect(v).toBeCloseTo(plain[i], 5));
  });

  it("matches the images to the batch-norm layer's running mean and variance, and to their classes", async () => {
    // Closed form: with batch norm on the pixels, the statistics term is minimised exactly when
    // each batch's pixel mean and variance are the running ones.
    const model = pixelNormModel();
    // A step small enough to settle (the paper's 0.05); a larger one leaves the variance jittering above.
    const made = await deepInversionImages(model, { count: 48, seed: 1, batchSize: 16, iterations: 150, learningRate: 0.05 });
    expect(made.prior).toBe('batch-norm');
    expect(made.labels.slice(0, 4)).toEqual(Int32Array.from([0, 1, 2, 0]));
    const n = SHAPE[0] * SHAPE[1];
    for (let b = 0; b < 3; b++) {
      const pixels = made.x.subarray(b * 16 * n, (b + 1) * 16 * n);
      const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length;
      const variance = pixels.reduce((s, v) => s + (v - mean) ** 2, 0) / pixels.length;
      expect(mean).toBeGreaterThan(RUNNING.mean - 0.03);
      expect(mean).toBeLessThan(RUNNING.mean + 0.03);
      expect(variance).toBeGreaterThan(RUNNING.variance / 2);
      expect(variance).toBeLessThan(RUNNING.variance * 2);
    }
    expect(made.classified).toBeGreaterThan(0.8);
    expect(made.x.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('falls back to the image prior on a model without batch norm, and is deterministic by seed', async () => {
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [...SHAPE] }));
    m.add(tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }));
    const model = new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'plain');
    const a = await deepInversionImages(model, { count: 6, seed: 2, iterations: 20 });
    const b = await deepInversionImages(model, { count: 6, seed: 2, iterations: 20 });
    expect(a.prior).toBe('image');
    expect(a.source).toMatch(/image prior only/);
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
  });
});
