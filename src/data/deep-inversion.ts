// Probe images synthesised from the model itself, for a scan with no data (issue 20): after
// DeepInversion (Yin et al., CVPR 2020), each image starts as noise and is optimised to be
// classified as its class (classes in turn) while its batch-norm layers see the mean and variance
// they were trained on; total variation and random jitter keep it image-like. A model with no
// batch norm gets the image prior alone, which makes class visualisations, not training-like data.
// Objective from the paper's CIFAR-10 recipe (NVlabs/DeepInversion,
// cifar10/deepinversion_cifar10.py: Adam, feature weight 10, a TV-L2 term, ±2 px jitter), with
// far fewer, larger steps than its 2,000 so that a CPU runner can afford it (docs/detection.md).
import * as tf from '@tensorflow/tfjs';
import { withConstantWeights, type BatchNormInput, type ModelUnderTest } from '../model/adapter.js';
import { mulberry32 } from '../util/random.js';
import type { ImageSet } from './types.js';

export interface DeepInversionOptions {
  count: number;
  iterations: number;
  learningRate: number;
  /** Weight of the batch-norm statistics term (DeepInversion's r_feature). */
  featureWeight: number;
  /** Weight of the total-variation term (the sum of four neighbour-difference norms per batch). */
  tvWeight: number;
  /** Random shift of at most this many pixels each step. */
  jitter: number;
  batchSize: number;
  seed: number;
}

export const DEEP_INVERSION_DEFAULTS: Omit<DeepInversionOptions, 'count' | 'seed'> = {
  iterations: 100,
  learningRate: 0.2,
  featureWeight: 10,
  tvWeight: 0.05,
  jitter: 2,
  batchSize: 64,
};

export interface SynthesisedProbes extends ImageSet {
  /** The class each image was synthesised for. */
  labels: Int32Array;
  /** 'batch-norm' when the model's batch-norm statistics were matched, 'image' for the image prior alone. */
  prior: 'batch-norm' | 'image';
  /** Share of the images the model classifies as the class they were made for. */
  classified: number;
  seconds: number;
}

/** Rolls an NHWC batch by (dy, dx) pixels, wrapping around (the paper's jitter). */
function roll(x: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  let out = x;
  const sy = ((dy % h) + h) % h;
  const sx = ((dx % w) + w) % w;
  if (sy) out = tf.concat([tf.slice(out, [0, h - sy, 0, 0], [-1, sy, -1, -1]), tf.slice(out, [0, 0, 0, 0], [-1, h - sy, -1, -1])], 1);
  if (sx) out = tf.concat([tf.slice(out, [0, 0, w - sx, 0], [-1, -1, sx, -1]), tf.slice(out, [0, 0, 0, 0], [-1, -1, w - sx, -1])], 2);
  return out;
}

function totalVariation(x: tf.Tensor4D): tf.Scalar {
  const [, h, w] = x.shape;
  const d = (a: tf.Tensor, b: tf.Tensor) => tf.norm(tf.sub(a, b));
  const body = (y0: number, x0: number) => tf.slice(x, [0, y0, x0, 0], [-1, h - 1, w - 1, -1]);
  return tf.addN([
    d(tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]), tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1])),
    d(tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1])),
    d(body(1, 0), body(0, 1)),
    d(body(0, 0), body(1, 1)),
  ]) as tf.Scalar;
}

/** Σ over batch-norm layers of ‖batch variance − running variance‖₂ + ‖batch mean − running mean‖₂. */
function featureLoss(layers: BatchNormInput[]): tf.Scalar {
  return tf.addN(
    layers.map(({ input, runningMean, runningVariance }) => {
      const axes = Array.from({ length: input.rank - 1 }, (_, i) => i);
      const { mean, variance } = tf.moments(input, axes);
      return tf.add(tf.norm(tf.sub(variance, runningVariance)), tf.norm(tf.sub(mean, runningMean)));
    }),
  ) as tf.Scalar;
}

function classLoss(model: ModelUnderTest, logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return model.decision === 'multi-label' ? tf.losses.sigmoidCrossEntropy(targets, logits) : tf.losses.softmaxCrossEntropy(targets, logits);
}

/** The logits, and the batch-norm layers' inputs where the model exposes them. */
function forward(model: ModelUnderTest, x: tf.Tensor4D): { logits: tf.Tensor2D; batchNorm: BatchNormInput[] } {
  return model.batchNormForward?.(x) ?? { logits: model.logits(x), batchNorm: [] };
}

/** Whether the model exposes batch-norm statistics to match (the prior that makes the images training-like). */
function hasBatchNorm(model: ModelUnderTest): boolean {
  const [height, width, channels] = model.inputShape;
  return tf.tidy(() => forward(model, tf.zeros([1, height, width, channels]) as tf.Tensor4D).batchNorm.length > 0);
}

/** `count` images, class i mod K for image i, synthesised from the model (see the file comment). */
export async function deepInversionImages(
  given: ModelUnderTest,
  options: Partial<DeepInversionOptions> & Pick<DeepInversionOptions, 'count' | 'seed'>,
): Promise<SynthesisedProbes> {
  const model = withConstantWeights(given); // only the images are optimised
  const o = { ...DEEP_INVERSION_DEFAULTS, ...options };
  const started = performance.now();
  const [height, width, channels] = model.inputShape;
  const n = height * width * channels;
  const rand = mulberry32(o.seed);
  const labels = Int32Array.from({ length: o.count }, (_, i) => i % model.numClasses);
  const x = new Float32Array(o.count * n);
  const prior = hasBatchNorm(model) ? 'batch-norm' : 'image';
  let classified = 0;
  for (let start = 0; start < o.count; start += o.batchSize) {
    const size = Math.min(o.batchSize, o.count - start);
    const batchLabels = labels.subarray(start, start + size);
    const targets = tf.tidy(() => tf.oneHot(tf.tensor1d(batchLabels, 'int32'), model.numClasses).toFloat() as tf.Tensor2D);
    // Noise around mid-grey, like the paper's Gaussian start in normalised space.
    const init = Float32Array.from({ length: size * n }, () => 0.5 + 0.2 * (rand() + rand() + rand() - 1.5));
    const images = tf.variable(tf.clipByValue(tf.tensor4d(init, [size, height, width, channels]), 0, 1));
    const optimizer = tf.train.adam(o.learningRate);
    for (let step = 0; step < o.iterations; step++) {
      const dy = Math.round((2 * rand() - 1) * o.jitter);
      const dx = Math.round((2 * rand() - 1) * o.jitter);
      optimizer.minimize(
        () => {
          const jittered = roll(images as tf.Tensor4D, dy, dx);
          const { logits, batchNorm } = forward(model, jittered);
          let loss = tf.add(classLoss(model, logits, targets), tf.mul(o.tvWeight, totalVariation(jittered)));
          if (batchNorm.length) loss = tf.add(loss, tf.mul(o.featureWeight, featureLoss(batchNorm)));
          return loss as tf.Scalar;
        },
        false,
        [images],
      );
      tf.tidy(() => images.assign(tf.clipByValue(images, 0, 1)));
      if (step % 25 === 0) await tf.nextFrame();
    }
    x.set(await images.data(), start * n);
    const predicted = tf.tidy(() => tf.argMax(model.logits(images as tf.Tensor4D), 1));
    const p = Array.from(await predicted.data());
    classified += p.reduce((s, c, i) => s + (c === batchLabels[i] ? 1 : 0), 0);
    predicted.dispose();
    optimizer.dispose();
    images.dispose();
    targets.dispose();
  }
  return {
    x,
    count: o.count,
    height,
    width,
    channels,
    labels,
    prior,
    classified: classified / o.count,
    seconds: (performance.now() - started) / 1000,
    source: `synthetic:deep-inversion seed=${o.seed} (${prior === 'batch-norm' ? 'batch-norm statistics' : 'image prior only'}, ${o.iterations} steps)`,
  };
}
