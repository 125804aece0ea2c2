// Trigger inversion in the style of CLIP-Inspector (Jindal et al., CVPR 2026 Findings), for
// classifiers: per class c an additive trigger δ_c, ||δ_c||∞ ≤ ε, minimising the margin loss
// mean_x [max_{j≠c} z_j(x+δ_c) − z_c(x+δ_c)] over unlabelled probe images (Adam, step 0.1,
// batch 32, one epoch), then each trigger's attack success rate (ASR) and a MAD anomaly score
// across classes. All classes are optimised together as one [K, H, W, C] tensor.
import * as tf from '@tensorflow/tfjs';
import type { ImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { madScores } from './robust.js';

export interface InversionOptions {
  /** ℓ∞ bound of the additive trigger in pixel space [0,1]. */
  epsilon: number;
  learningRate: number;
  batchSize: number;
  epochs: number;
  /** Images per optimisation step is batchSize × classes; classes are chunked to bound memory. */
  maxClassesPerChunk: number;
  seed: number;
}

/** CLIP-Inspector's defaults (step 0.1, batch 32, one epoch). ε is ours: 4/255 suits 224-px CLIP; small nets need more. */
export const DEFAULT_INVERSION: InversionOptions = { epsilon: 0.15, learningRate: 0.1, batchSize: 32, epochs: 1, maxClassesPerChunk: 16, seed: 0 };

export interface ClassInversion {
  class: number;
  /** Fraction of probe images (not already predicted as the class) sent to the class by its trigger. */
  asr: number;
  /** Mean margin loss of the final trigger (negative = the trigger wins on average). */
  loss: number;
  /** MAD anomaly score of the ASR across classes. */
  anomaly: number;
}

export interface InversionResult {
  method: 'trigger-inversion';
  options: InversionOptions;
  probeImages: number;
  perClass: ClassInversion[];
  /** Class with the largest anomaly score among triggers with ASR ≥ 50 %. */
  suspectedTarget: number | null;
  /** Largest anomaly score among valid (ASR ≥ 50 %) triggers; 0 when none is valid. */
  anomaly: number;
  /** Reconstructed triggers, [K, H, W, C] flat, pixel-space offsets in [−ε, ε]. */
  triggers: Float32Array;
  seconds: number;
}

/** Margin loss per (class, image): max_{j≠c} z_j − z_c, for logits [K*B, K] laid out class-major. */
function marginLosses(logits: tf.Tensor2D, classes: number[], batch: number, numClasses: number): tf.Tensor1D {
  const target = tf.oneHot(tf.tensor1d(classes.flatMap((c) => new Array<number>(batch).fill(c)), 'int32'), numClasses);
  const zc = tf.sum(tf.mul(logits, target), -1);
  const others = tf.max(tf.sub(logits, tf.mul(target, 1e9)), -1);
  return tf.sub(others, zc) as tf.Tensor1D;
}

/** x (B images) stamped with every class's trigger: [K*B, H, W, C], clipped to [0,1]. */
function stamp(x: tf.Tensor4D, delta: tf.Tensor4D): tf.Tensor4D {
  const [k] = delta.shape;
  const [b, h, w, c] = x.shape;
  const xs = tf.add(tf.expandDims(x, 0), tf.expandDims(delta, 1)) as tf.Tensor5D; // [K, B, H, W, C]
  return tf.clipByValue(tf.reshape(xs, [k * b, h, w, c]), 0, 1) as tf.Tensor4D;
}

export function reconstructTriggers(model: ModelUnderTest, probe: ImageSet, options: Partial<InversionOptions> = {}): InversionResult {
  const opts = { ...DEFAULT_INVERSION, ...options };
  const t0 = performance.now();
  const K = model.numClasses;
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const triggers = new Float32Array(K * n);
  const loss = new Float64Array(K);
  const classes = [...Array(K).keys()];
  const images = (s: number, e: number) => tf.tensor4d(probe.x.subarray(s * n, e * n), [e - s, H, W, C]);

  for (let c0 = 0; c0 < K; c0 += opts.maxClassesPerChunk) {
    const chunk = classes.slice(c0, c0 + opts.maxClassesPerChunk);
    const delta = tf.variable(tf.zeros([chunk.length, H, W, C]));
    const optimizer = tf.train.adam(opts.learningRate);
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (let s = 0; s < probe.count; s += opts.batchSize) {
        const e = Math.min(probe.count, s + opts.batchSize);
        tf.tidy(() => {
          const x = images(s, e);
          optimizer.minimize(() => tf.mean(marginLosses(model.logits(stamp(x, delta as tf.Tensor4D)), chunk, e - s, K)) as tf.Scalar, false, [delta]);
          delta.assign(tf.clipByValue(delta, -opts.epsilon, opts.epsilon));
        });
      }
    }
    triggers.set(delta.dataSync(), c0 * n);
    optimizer.dispose();
    delta.dispose();
  }

  // Evaluate every trigger on every probe image.
  const hits = new Float64Array(K);
  const eligible = new Float64Array(K);
  const deltaAll = tf.tensor4d(triggers, [K, H, W, C]);
  for (let s = 0; s < probe.count; s += opts.batchSize) {
    const e = Math.min(probe.count, s + opts.batchSize);
    const b = e - s;
    tf.tidy(() => {
      const x = images(s, e);
      const clean = tf.argMax(model.logits(x), -1).dataSync();
      for (let c0 = 0; c0 < K; c0 += opts.maxClassesPerChunk) {
        const chunk = classes.slice(c0, c0 + opts.maxClassesPerChunk);
        const logits = model.logits(stamp(x, tf.slice(deltaAll, [c0, 0, 0, 0], [chunk.length, H, W, C])));
        const pred = tf.argMax(logits, -1).dataSync();
        const margins = marginLosses(logits, chunk, b, K).dataSync();
        chunk.forEach((c, j) => {
          for (let i = 0; i < b; i++) {
            loss[c] += margins[j * b + i];
            if (clean[i] === c) continue; // already the class: says nothing about the trigger
            eligible[c]++;
            if (pred[j * b + i] === c) hits[c]++;
          }
        });
      }
    });
  }
  deltaAll.dispose();
  const asr = classes.map((c) => (eligible[c] ? hits[c] / eligible[c] : 0));
  const anomalies = madScores(asr);
  const perClass = classes.map((c) => ({ class: c, asr: asr[c], loss: loss[c] / probe.count, anomaly: anomalies[c] }));
  const valid = perClass.filter((p) => p.asr >= 0.5);
  const best = valid.reduce<ClassInversion | null>((a, p) => (!a || p.anomaly > a.anomaly ? p : a), null);
  return {
    method: 'trigger-inversion',
    options: opts,
    probeImages: probe.count,
    perClass,
    suspectedTarget: best ? best.class : null,
    anomaly: best ? best.anomaly : 0,
    triggers,
    seconds: (performance.now() - t0) / 1000,
  };
}
