// What every cleaner shares: shuffled mini-batches of the small clean labelled set, the
// cross-entropy of the model's logits, and accuracy/ASR measured through the model adapter.
import * as tf from '@tensorflow/tfjs';
import { imageSize, type ImageSet, type LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';

export interface EpochOptions {
  epochs: number;
  batchSize: number;
  seed: number;
}

/** Calls `step` on every shuffled mini-batch, epoch by epoch, inside tf.tidy. */
export function forEachBatch(data: LabelledImageSet, numClasses: number, opts: EpochOptions, step: (x: tf.Tensor4D, y: tf.Tensor2D, epoch: number, indices: number[]) => void): void {
  const n = imageSize(data);
  const rand = mulberry32(opts.seed * 7919 + 13);
  const order = [...Array(data.count).keys()];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, rand);
    for (let s = 0; s < data.count; s += opts.batchSize) {
      const idx = order.slice(s, s + opts.batchSize);
      const bx = new Float32Array(idx.length * n);
      idx.forEach((i, k) => bx.set(data.x.subarray(i * n, (i + 1) * n), k * n));
      tf.tidy(() => {
        const x = tf.tensor4d(bx, [idx.length, data.height, data.width, data.channels]);
        // float32: int32 one-hots would truncate soft targets concatenated to them.
        const y = tf.cast(tf.oneHot(tf.tensor1d(idx.map((i) => data.labels[i]), 'int32'), numClasses), 'float32') as tf.Tensor2D;
        step(x, y, epoch, idx);
      });
    }
  }
}

/** Per-sample cross-entropy of the model's logits. */
export function crossEntropyPerSample(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)) as tf.Tensor1D;
}

export function predict(model: ModelUnderTest, set: ImageSet, transform?: (x: tf.Tensor4D) => tf.Tensor4D, batch = 250): Int32Array {
  const n = imageSize(set);
  const out = new Int32Array(set.count);
  for (let s = 0; s < set.count; s += batch) {
    const e = Math.min(set.count, s + batch);
    out.set(tf.tidy(() => {
      const x = tf.tensor4d(set.x.subarray(s * n, e * n), [e - s, set.height, set.width, set.channels]);
      return tf.argMax(model.logits(transform ? transform(x) : x), -1).dataSync() as Int32Array;
    }), s);
  }
  return out;
}

/** Softmax outputs [count × K] of the model as it is now (inference mode). */
export function predictProbabilities(model: ModelUnderTest, set: ImageSet, batch = 250): Float32Array {
  const n = imageSize(set);
  const out = new Float32Array(set.count * model.numClasses);
  for (let s = 0; s < set.count; s += batch) {
    const e = Math.min(set.count, s + batch);
    out.set(tf.tidy(() => tf.softmax(model.logits(tf.tensor4d(set.x.subarray(s * n, e * n), [e - s, set.height, set.width, set.channels]))).dataSync() as Float32Array), s * model.numClasses);
  }
  return out;
}

export function accuracyOf(model: ModelUnderTest, set: LabelledImageSet): number {
  const pred = predict(model, set);
  return pred.reduce((a, p, i) => a + (p === set.labels[i] ? 1 : 0), 0) / set.count;
}

/** A first-class labelled subset: images whose label is not `target` (the ones a trigger can flip). */
export function withoutClass(set: LabelledImageSet, target: number): LabelledImageSet {
  const n = imageSize(set);
  const keep = [...Array(set.count).keys()].filter((i) => set.labels[i] !== target);
  const x = new Float32Array(keep.length * n);
  keep.forEach((i, k) => x.set(set.x.subarray(i * n, (i + 1) * n), k * n));
  return { ...set, x, count: keep.length, labels: Int32Array.from(keep.map((i) => set.labels[i])) };
}

/** The first `perClass` images of each class, in the set's order: the small clean set a user has. */
export function perClassSubset(set: LabelledImageSet, perClass: number): LabelledImageSet {
  const n = imageSize(set);
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (let i = 0; i < set.count; i++) {
    const c = set.labels[i];
    if ((taken.get(c) ?? 0) < perClass) {
      taken.set(c, (taken.get(c) ?? 0) + 1);
      keep.push(i);
    }
  }
  const x = new Float32Array(keep.length * n);
  keep.forEach((i, k) => x.set(set.x.subarray(i * n, (i + 1) * n), k * n));
  return { ...set, x, count: keep.length, labels: Int32Array.from(keep.map((i) => set.labels[i])), source: `${set.source} (${perClass} per class)` };
}
