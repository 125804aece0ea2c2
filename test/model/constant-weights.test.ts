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
function convModel({ batchNorm = true } = {}): LayersModelAdapter {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }));
  if (batchNorm) m.add(tf.layers.batchNormalization());
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: init(2) }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'tanh', kernelInitializer: init(3), biasInitializer: 'ones' }));
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', padding: 'same', kernelInitializer: init(4) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 5, activation: 'softmax', kernelInitializer: init(5) }));
  return new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'conv-model');
}

/** Random batch-norm statistics, scales and shifts, so that a fold done wrong shows. */
function randomiseBatchNorms(model: tf.LayersModel): void {
  let seed = 100;
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [c] = layer.getWeights()[0].shape;
    // gamma, beta, moving mean, moving variance (positive)
    layer.setWeights([
      tf.randomUniform([c], 0.5, 2, 'float32', seed++),
      tf.randomUniform([c], -1, 1, 'float32', seed++),
      tf.randomUniform([c], -0.5, 0.5, 'float32', seed++),
      tf.randomUniform([c], 0.2, 3, 'float32', seed++),
    ]);
  }
}

/**
 * Batch norms after a linear convolution with bias, after one without bias, after a convolution
 * whose output is also added back (a skip), and after a ReLU: only the first two can be folded.
 */
function batchNormModel(): LayersModelAdapter {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const input = tf.input({ shape: [12, 12, 3] });
  const bn = () => tf.layers.batchNormalization();
  const conv = (filters: number, seed: number, useBias = true) =>
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias, kernelInitializer: init(seed) });
  let x = bn().apply(conv(6, 1).apply(input)) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(bn().apply(conv(6, 2, false).apply(x))) as tf.SymbolicTensor;
  const skipped = conv(6, 3, false).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add().apply([skipped, bn().apply(skipped) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  x = bn().apply(tf.layers.reLU().apply(x)) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  // Logits out, so that tfjs' own forward pass of the model is the reference.
  const out = tf.layers.dense({ units: 5, kernelInitializer: init(5) }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  randomiseBatchNorms(m);
  return new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'batch-norm-model');
}

/** Largest |a − b| over the largest |b|. */
function relativeError(a: number[], b: number[]): number {
  const scale = Math.max(...b.map(Math.abs));
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale;
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
  return {
    logits: Array.from(logits),
    gradient: Array.from(gradient),
    kernels: new Set(profile.kernels.map((k) => k.name)),
    batchNorms: profile.kernels.filter((k) => k.name === 'FusedBatchNorm').length,
  };
}

describe('a layers model with its weights held constant', () => {
  beforeAll(async () => {
    await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  });

  it("gives tfjs's own logits and input gradients, bit for bit, without computing filter gradients", async () => {
    const model = convModel({ batchNorm: false });
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

  it("folds the batch norms that alone follow a linear convolution: tfjs' own logits and input gradients to float precision", async () => {
    const model = batchNormModel();
    const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    // The reference: tfjs running the model as it is, 4 batch norms forward and 4 again under the gradient's tape.
    const reference = await pass({ logits: (input) => model.model.apply(input) as tf.Tensor2D }, x);
    expect(reference.batchNorms).toBe(8);
    for (const folded of [await pass(model, x), await pass(withConstantWeights(model), x)]) {
      // The skip's and the one after a ReLU still run.
      expect(folded.batchNorms).toBe(4);
      expect(relativeError(folded.logits, reference.logits)).toBeLessThan(1e-5);
      expect(relativeError(folded.gradient, reference.gradient)).toBeLessThan(1e-5);
    }
  });

  it("trains through the fold: the kernels', scales' and shifts' gradients are tfjs' own to float precision", async () => {
    const model = batchNormModel();
    const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
    const vars = model.trainableVariables();
    const loss = (logits: () => tf.Tensor) => () => tf.sum(tf.square(logits())) as tf.Scalar;
    const reference = tf.variableGrads(
      loss(() => model.model.apply(x) as tf.Tensor),
      vars,
    ).grads;
    let folded: Record<string, tf.Tensor> = {};
    const profile = await tf.profile(() => {
      folded = tf.variableGrads(
        loss(() => model.logits(x)),
        vars,
      ).grads;
    });
    expect(profile.kernels.filter((k) => k.name === 'FusedBatchNorm').length).toBe(2);
    // Every conv kernel, dense weight and batch norm's γ and β.
    expect(Object.keys(folded).sort()).toEqual(Object.keys(reference).sort());
    expect(Object.keys(reference).length).toBe(vars.length);
    for (const name of Object.keys(reference)) {
      const [a, b] = [Array.from(folded[name].dataSync()), Array.from(reference[name].dataSync())];
      expect(relativeError(a, b), name).toBeLessThan(1e-4);
    }
  });

  it("reads the batch norms' own inputs through the view (DeepInversion's statistics), bit for bit", () => {
    const model = batchNormModel();
    const x = tf.randomUniform([3, 12, 12, 3], 0, 1, 'float32', 10) as tf.Tensor4D;
    const plain = model.batchNormForward(x);
    const held = withConstantWeights(model).batchNormForward!(x);
    expect(held.batchNorm.length).toBe(4);
    held.batchNorm.forEach((b, i) => expect(Array.from(b.input.dataSync())).toEqual(Array.from(plain.batchNorm[i].input.dataSync())));
    expect(Array.from(held.logits.dataSync())).toEqual(Array.from(plain.logits.dataSync()));
  });

  it('normalises with the batch in training mode through the view: no fold', () => {
    const model = batchNormModel();
    const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const weights = model.model.getWeights().map((w) => w.clone());
    const plain = Array.from(model.logits(x, { training: true }).dataSync());
    // Training mode moved the running statistics; start the view from the same ones.
    model.model.setWeights(weights);
    const held = Array.from(withConstantWeights(model).logits(x, { training: true }).dataSync());
    expect(held).toEqual(plain);
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
