import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { LayersModelAdapter, withConstantWeights } from '../../src/model/adapter.js';
import { DEFAULT_GATE_JSON } from '../../src/model/gate-json.js';

/**
 * Convolutions tfjs differentiates through tf.fused.conv2d (linear with bias before a batch norm,
 * strided without bias, tanh) and one it does not (ReLU), a batch norm, a softmax head.
 */
function convModel(): LayersModelAdapter {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: init(2) }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'tanh', kernelInitializer: init(3), biasInitializer: 'ones' }));
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', padding: 'same', kernelInitializer: init(4) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 5, activation: 'softmax', kernelInitializer: init(5) }));
  return new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'conv-model');
}

/** Logits and the input gradient of their sum of squares, with the kernels that ran. */
async function pass(model: { logits(x: tf.Tensor4D): tf.Tensor2D }, x: tf.Tensor4D) {
  let logits: Float32Array = new Float32Array();
  let gradient: Float32Array = new Float32Array();
  const profile = await tf.profile(() => {
    logits = model.logits(x).dataSync() as Float32Array;
    gradient = tf
      .grad((input: tf.Tensor) => tf.sum(tf.square(model.logits(input as tf.Tensor4D))))(x)
      .dataSync() as Float32Array;
  });
  return { logits: Array.from(logits), gradient: Array.from(gradient), kernels: new Set(profile.kernels.map((k) => k.name)) };
}

describe('a layers model with its weights held constant', () => {
  beforeAll(async () => {
    await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  });

  it("gives tfjs's own logits and input gradients, bit for bit, without computing filter gradients", async () => {
    const model = convModel();
    const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const plain = await pass(model, x);
    const held = await pass(withConstantWeights(model), x);
    // The reference is tfjs's fused path, which computes the filter gradients as well.
    expect(plain.kernels.has('Conv2DBackpropFilter')).toBe(true);
    expect(held.kernels.has('Conv2DBackpropFilter')).toBe(false);
    expect(held.logits).toEqual(plain.logits);
    expect(held.gradient).toEqual(plain.gradient);
    expect(plain.gradient.some((g) => g !== 0)).toBe(true);
  });

  it('leaves the model trainable: weight gradients through the model itself, after the view was used', async () => {
    const model = convModel();
    const x = tf.randomUniform([2, 12, 12, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
    await pass(withConstantWeights(model), x);
    const vars = model.trainableVariables();
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.logits(x))) as tf.Scalar, vars);
    const firstKernel = model.model.layers[0].getWeights()[0];
    const grad = grads[vars.find((v) => v.shape.join() === firstKernel.shape.join())!.name];
    expect(grad).toBeDefined();
    expect(tf.max(tf.abs(grad)).dataSync()[0]).toBeGreaterThan(0);
  });
});
