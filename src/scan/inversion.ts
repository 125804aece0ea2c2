// Trigger inversion in the style of CLIP-Inspector (Jindal et al., CVPR 2026 Findings), for
// classifiers: per class c an additive trigger δ_c, ||δ_c||∞ ≤ ε, minimising the margin loss
// mean_x [max_{j≠c} z_j(x+δ_c) − z_c(x+δ_c)] over unlabelled probe images (Adam, step 0.1,
// batch 32, one epoch), then each trigger's attack success rate (ASR) and a MAD anomaly score
// across classes. All classes are optimised together as one [K, H, W, C] tensor.
import * as tf from '@tensorflow/tfjs';
import type { ImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { accumulatedStep, blocks, spans, UNLIMITED_ROWS, type RowLimits } from './batching.js';
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
  /** Rows per pass that fit in memory; a step bigger than that is accumulated over blocks. */
  rows: RowLimits;
}

/** CLIP-Inspector's defaults (step 0.1, batch 32, one epoch). ε is ours: 4/255 suits 224-px CLIP; small nets need more. */
export const DEFAULT_INVERSION: InversionOptions = { epsilon: 0.15, learningRate: 0.1, batchSize: 32, epochs: 1, maxClassesPerChunk: 16, seed: 0, rows: UNLIMITED_ROWS };

/**
 * A class that already receives more than half the probe images cannot be tested with them: the
 * probes sit in or near its region (out-of-distribution probes drift to one "sink" class, e.g.
 * nsfwjs' Neutral for synthetic images), so a small trigger sends the rest there on a clean
 * model too. Such classes are reported, never voted; in-distribution probes avoid them.
 */
export const MAX_TESTABLE_SHARE = 0.5;

export interface ClassInversion {
  class: number;
  /** Fraction of probe images (not already predicted as the class) sent to the class by its trigger. */
  asr: number;
  /** Mean margin loss of the final trigger (negative = the trigger wins on average). */
  loss: number;
  /** MAD anomaly score of the ASR across classes. */
  anomaly: number;
  /** Fraction of probe images the model already assigns to the class without a trigger. */
  share: number;
  /** False when the class already takes most probes: its ASR, measured on the rest, says little. */
  testable: boolean;
}

export interface InversionResult {
  method: 'trigger-inversion';
  options: InversionOptions;
  probeImages: number;
  perClass: ClassInversion[];
  /** Class with the largest anomaly score among testable classes' triggers with ASR ≥ 50 %. */
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
      for (const [s, e] of spans(probe.count, opts.batchSize)) {
        // Loss: mean margin over the chunk's classes × the batch's images, summed block by block.
        const parts = blocks(chunk.length, e - s, opts.rows.gradient).map((b) => () => {
          const d = tf.slice(delta, [b.c0, 0, 0, 0], [b.c1 - b.c0, H, W, C]) as tf.Tensor4D;
          const margins = marginLosses(model.logits(stamp(images(s + b.s, s + b.e), d)), chunk.slice(b.c0, b.c1), b.e - b.s, K);
          return tf.div(tf.sum(margins), chunk.length * (e - s)) as tf.Scalar;
        });
        tf.tidy(() => {
          accumulatedStep(optimizer, [delta], parts);
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
  for (const [s, e] of spans(probe.count, opts.batchSize)) {
    const clean = new Int32Array(e - s);
    for (const [a, z] of spans(e - s, opts.rows.forward)) clean.set(tf.tidy(() => tf.argMax(model.logits(images(s + a, s + z)), -1).dataSync()), a);
    for (const b of blocks(K, e - s, opts.rows.forward)) {
      const nb = b.e - b.s;
      const chunk = classes.slice(b.c0, b.c1);
      tf.tidy(() => {
        const logits = model.logits(stamp(images(s + b.s, s + b.e), tf.slice(deltaAll, [b.c0, 0, 0, 0], [chunk.length, H, W, C])));
        const pred = tf.argMax(logits, -1).dataSync();
        const margins = marginLosses(logits, chunk, nb, K).dataSync();
        chunk.forEach((c, j) => {
          for (let i = 0; i < nb; i++) {
            loss[c] += margins[j * nb + i];
            if (clean[b.s + i] === c) continue; // already the class: says nothing about the trigger
            eligible[c]++;
            if (pred[j * nb + i] === c) hits[c]++;
          }
        });
      });
    }
  }
  deltaAll.dispose();
  const asr = classes.map((c) => (eligible[c] ? hits[c] / eligible[c] : 0));
  const anomalies = madScores(asr);
  const perClass = classes.map((c) => {
    const share = 1 - eligible[c] / probe.count;
    return { class: c, asr: asr[c], loss: loss[c] / probe.count, anomaly: anomalies[c], share, testable: share <= MAX_TESTABLE_SHARE };
  });
  const valid = perClass.filter((p) => p.asr >= 0.5 && p.testable);
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
