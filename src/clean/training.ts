// What every cleaner shares: shuffled mini-batches of the small clean labelled set, the
// cross-entropy of the model's logits, and accuracy/ASR measured through the model adapter.
import * as tf from '@tensorflow/tfjs';
import { imageSize, pickImages, withoutClass, type ImageSet, type LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import type { RecoveredTrigger } from './triggers.js';

export interface EpochOptions {
  epochs: number;
  batchSize: number;
  seed: number;
}

/**
 * Calls `step` on every shuffled mini-batch, epoch by epoch, inside tf.tidy. It yields to the event
 * loop after each batch: a cleaning runs for minutes, and a host that must stay responsive meanwhile
 * (the action's progress lines, a test runner's RPC, which times out after 60 s) would otherwise
 * starve.
 */
export async function forEachBatch(
  data: LabelledImageSet,
  numClasses: number,
  opts: EpochOptions,
  step: (x: tf.Tensor4D, y: tf.Tensor2D, epoch: number, indices: number[]) => void,
  afterEpoch?: (epoch: number) => void,
): Promise<void> {
  const rand = mulberry32(opts.seed * 7919 + 13);
  const order = [...Array(data.count).keys()];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, rand);
    for (let s = 0; s < data.count; s += opts.batchSize) {
      const idx = order.slice(s, s + opts.batchSize);
      const batch = pickImages(data, idx);
      tf.tidy(() => {
        const x = tf.tensor4d(batch.x, [idx.length, data.height, data.width, data.channels]);
        // float32: int32 one-hots would truncate soft targets concatenated to them.
        const y = tf.cast(tf.oneHot(tf.tensor1d(batch.labels, 'int32'), numClasses), 'float32') as tf.Tensor2D;
        step(x, y, epoch, idx);
      });
      await tf.nextFrame();
    }
    afterEpoch?.(epoch);
  }
}

/** Per-sample cross-entropy of the model's logits. */
export function crossEntropyPerSample(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)) as tf.Tensor1D;
}

/** `f` on the set in batches, its `width` values per image written into `out`. */
function batched<A extends Int32Array | Float32Array>(set: ImageSet, out: A, width: number, f: (x: tf.Tensor4D) => tf.Tensor, batch = 250): A {
  const n = imageSize(set);
  for (let s = 0; s < set.count; s += batch) {
    const e = Math.min(set.count, s + batch);
    // Written inside tidy: a typed array returned from it is walked element by element.
    tf.tidy(() => {
      out.set(f(tf.tensor4d(set.x.subarray(s * n, e * n), [e - s, set.height, set.width, set.channels])).dataSync() as A, s * width);
    });
  }
  return out;
}

export function predict(model: ModelUnderTest, set: ImageSet, transform?: (x: tf.Tensor4D) => tf.Tensor4D): Int32Array {
  return batched(set, new Int32Array(set.count), 1, (x) => tf.argMax(model.logits(transform ? transform(x) : x), -1));
}

/** Log-softmax outputs [count × K] of the model as it is now (inference mode). */
export function predictLogProbabilities(model: ModelUnderTest, set: ImageSet): Float32Array {
  return batched(set, new Float32Array(set.count * model.numClasses), model.numClasses, (x) => tf.logSoftmax(model.logits(x)));
}

export function accuracyOf(model: ModelUnderTest, set: LabelledImageSet): number {
  const pred = predict(model, set);
  return pred.reduce((a, p, i) => a + (p === set.labels[i] ? 1 : 0), 0) / set.count;
}

/** Fraction of `images` (none of the target class) the stamped trigger sends to its target. */
export function sentToTarget(model: ModelUnderTest, images: ImageSet, trigger: RecoveredTrigger): number {
  return predict(model, images, (x) => trigger.stamp(x)).filter((p) => p === trigger.target).length / images.count;
}

/** The trigger's ASR on the images not of its target; null when all are of the target. */
export function triggerAsr(model: ModelUnderTest, set: LabelledImageSet, trigger: RecoveredTrigger): number | null {
  const others = withoutClass(set, trigger.target);
  return others.count ? sentToTarget(model, others, trigger) : null;
}

/** Indices of the first `perClass` images of each class, in the set's order. */
export function perClassIndices(labels: ArrayLike<number>, perClass: number): number[] {
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if ((taken.get(c) ?? 0) < perClass) {
      taken.set(c, (taken.get(c) ?? 0) + 1);
      keep.push(i);
    }
  }
  return keep;
}

/** The first `perClass` images of each class, in the set's order: the small clean set a user has. */
export function perClassSubset(set: LabelledImageSet, perClass: number): LabelledImageSet {
  return { ...pickImages(set, perClassIndices(set.labels, perClass)), source: `${set.source} (${perClass} per class)` };
}

/**
 * What a cleaner distils from: the clean images plus `views` mixups of each with another clean
 * image (λ ~ U(0,1)), with the model's log-softmax outputs on all of them (logs, as the
 * distillation's temperature divides them), taken before cleaning changes it. 600 images pin
 * the model down only on themselves; the mixups also hold it in between, which is what keeps
 * clean accuracy while a trigger is unlearned or neurons pruned.
 * Only mixups of clean images: noisy views were tried and re-taught a noise-like (Blended)
 * trigger, since the backdoored teacher answers noise partly with the target.
 */
export interface DistillationPool {
  /** views + 1 images per clean image: view v of image i is at v * count + i (view 0 = the image). */
  images: ImageSet;
  logProbabilities: Float32Array;
  views: number;
}

export function distillationPool(model: ModelUnderTest, clean: ImageSet, views = 4, seed = 0): DistillationPool {
  const n = imageSize(clean);
  const rand = mulberry32(seed * 31 + 7);
  const x = new Float32Array((views + 1) * clean.count * n);
  x.set(clean.x.subarray(0, clean.count * n));
  for (let v = 1; v <= views; v++) {
    for (let i = 0; i < clean.count; i++) {
      const out = x.subarray((v * clean.count + i) * n, (v * clean.count + i + 1) * n);
      const a = clean.x.subarray(i * n, (i + 1) * n);
      const j = Math.floor(rand() * clean.count);
      const b = clean.x.subarray(j * n, (j + 1) * n);
      const lam = rand();
      for (let p = 0; p < n; p++) out[p] = lam * a[p] + (1 - lam) * b[p];
    }
  }
  const images = { ...clean, x, count: (views + 1) * clean.count, source: `${clean.source} + ${views} augmented views` };
  return { images, logProbabilities: predictLogProbabilities(model, images), views };
}

/** Pool rows for clean-image indices: the images themselves and two of their views, cycling by epoch. */
export function poolRows(pool: DistillationPool, count: number, indices: readonly number[], epoch: number): number[] {
  const rows = [...indices];
  const views = Math.min(2, pool.views);
  for (let k = 0; k < views; k++) {
    const v = 1 + ((epoch * views + k) % pool.views);
    rows.push(...indices.map((i) => v * count + i));
  }
  return rows;
}
