// Trigger inversion in the style of CLIP-Inspector (Jindal et al., CVPR 2026 Findings), for
// classifiers: per class c an additive trigger δ_c, ||δ_c||∞ ≤ ε, minimising the margin loss
// mean_x [max_{j≠c} z_j(x+δ_c) − z_c(x+δ_c)] over unlabelled probe images (Adam, step 0.1,
// batch 32, one epoch), then each trigger's attack success rate (ASR) and a MAD anomaly score
// across classes. All classes are optimised together as one [K, H, W, C] tensor.
import * as tf from '@tensorflow/tfjs';
import type { ImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { accumulatedStep, blocks, spans, UNLIMITED_ROWS, type RowLimits } from './batching.js';
import { classMajor, presentClasses, targetMargins, winMask, type Decision } from './objective.js';
import { readAndDispose } from '../engine/read.js';
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
  /** The classes to invert (all when absent); the result covers these only (see schedule.ts). */
  classes?: readonly number[];
  /** Called after each optimisation step with (steps done, steps in all), for progress lines. */
  onProgress?: (done: number, total: number) => void;
}

/** CLIP-Inspector's defaults (step 0.1, batch 32, one epoch). ε is ours: 4/255 suits 224-px CLIP; small nets need more. */
export const DEFAULT_INVERSION: InversionOptions = {
  epsilon: 0.15,
  learningRate: 0.1,
  batchSize: 32,
  epochs: 1,
  maxClassesPerChunk: 16,
  seed: 0,
  rows: UNLIMITED_ROWS,
};

/**
 * A class that already receives more than half the probe images cannot be tested with them: the
 * probes sit in or near its region (out-of-distribution probes drift to one "sink" class, e.g.
 * nsfwjs' Neutral for synthetic images), so a small trigger sends the rest there on a clean
 * model too. Such classes are not voted by the trigger scans (the verdict weighs them itself).
 * A binary task or a label of a multi-label task may hold most of the images naturally, so
 * there only a class holding nine in ten is untestable.
 */
export function maxTestableShare(numClasses: number, decision: Decision): number {
  return numClasses <= 2 || decision === 'multi-label' ? 0.9 : 0.5;
}

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
  /** ASR of the same trigger scaled to half its size: how much of the ε budget the class needs. */
  halfAsr: number;
  /** ASR of the trigger at a quarter of its size: with halfAsr, the smallest size that wins. */
  quarterAsr: number;
  /**
   * The lowest ASR over source classes (the probes' own predicted classes, those with at least
   * 3 eligible probes): a backdoor moves every class, a naturally easy target leaves some behind.
   */
  minSourceAsr: number;
  /** Share of those source classes whose probes the trigger moves at least half of. */
  sourceCoverage: number;
  /** Inverted at the screening budget only (many classes, see schedule.ts): reported, not voted. */
  screened?: boolean;
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

/** x (B images) stamped with every class's trigger: [K*B, H, W, C], clipped to [0,1]. */
function stamp(x: tf.Tensor4D, delta: tf.Tensor4D): tf.Tensor4D {
  const [k] = delta.shape;
  const [b, h, w, c] = x.shape;
  const xs = tf.add(tf.expandDims(x, 0), tf.expandDims(delta, 1)) as tf.Tensor5D; // [K, B, H, W, C]
  return tf.clipByValue(tf.reshape(xs, [k * b, h, w, c]), 0, 1) as tf.Tensor4D;
}

/**
 * The statistics across classes: each class's MAD anomaly of the ASR among the classes inverted
 * in full (a schedule's screened ones keep theirs), and the most anomalous valid trigger. A
 * function of the per-class entries alone, so a merge of shards computes what one scan would.
 */
export function triggerStatistics<T extends Omit<ClassInversion, 'anomaly'> & { anomaly?: number }>(
  entries: readonly T[],
): { perClass: Array<T & { anomaly: number }>; suspectedTarget: number | null; anomaly: number } {
  const full = entries.filter((p) => !p.screened);
  const anomalies = new Map(madScores(full.map((p) => p.asr)).map((a, j) => [full[j].class, a]));
  const perClass = entries.map((p) => ({ ...p, anomaly: anomalies.get(p.class) ?? p.anomaly ?? 0 }));
  const valid = perClass.filter((p) => !p.screened && p.asr >= 0.5 && p.testable);
  const best = valid.reduce<(typeof perClass)[number] | null>((a, p) => (!a || p.anomaly > a.anomaly ? p : a), null);
  return { perClass, suspectedTarget: best ? best.class : null, anomaly: best ? best.anomaly : 0 };
}

export async function reconstructTriggers(model: ModelUnderTest, probe: ImageSet, options: Partial<InversionOptions> = {}): Promise<InversionResult> {
  const opts = { ...DEFAULT_INVERSION, ...options };
  const t0 = performance.now();
  const K = model.numClasses;
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const triggers = new Float32Array(K * n);
  const loss = new Float64Array(K);
  const classes = opts.classes ? [...opts.classes] : [...Array(K).keys()];
  // Triggers of the classes inverted, in `classes` order ([k, H, W, C]); `triggers` is by class id.
  const inverted = new Float32Array(classes.length * n);
  const images = (s: number, e: number) => tf.tensor4d(probe.x.subarray(s * n, e * n), [e - s, H, W, C]);

  // Scaled by a constant of the model, not by the chunk's own size: Adam's ε makes the step depend
  // on the gradient's scale, and a class must step alike whichever classes share its chunk.
  const perStep = Math.min(K, opts.maxClassesPerChunk);
  const steps = Math.ceil(classes.length / opts.maxClassesPerChunk) * opts.epochs * Math.ceil(probe.count / opts.batchSize);
  let done = 0;
  for (let c0 = 0; c0 < classes.length; c0 += opts.maxClassesPerChunk) {
    const chunk = classes.slice(c0, c0 + opts.maxClassesPerChunk);
    const delta = tf.variable(tf.zeros([chunk.length, H, W, C]));
    const optimizer = tf.train.adam(opts.learningRate);
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (const [s, e] of spans(probe.count, opts.batchSize)) {
        // Loss: the margin summed over the chunk's classes, averaged over images, block by block.
        const parts = blocks(chunk.length, e - s, opts.rows.gradient).map((b) => () => {
          const d = tf.slice(delta, [b.c0, 0, 0, 0], [b.c1 - b.c0, H, W, C]) as tf.Tensor4D;
          const margins = targetMargins(model.logits(stamp(images(s + b.s, s + b.e), d)), classMajor(chunk.slice(b.c0, b.c1), b.e - b.s), model.decision);
          return tf.div(tf.sum(margins), perStep * (e - s)) as tf.Scalar;
        });
        tf.tidy(() => {
          accumulatedStep(optimizer, [delta], parts);
          delta.assign(tf.clipByValue(delta, -opts.epsilon, opts.epsilon));
        });
        opts.onProgress?.(++done, steps);
      }
    }
    inverted.set(await delta.data(), c0 * n);
    optimizer.dispose();
    delta.dispose();
  }

  // Evaluate every trigger, at full, half and quarter size, on every probe image.
  const hits = new Float64Array(K);
  const halfHits = new Float64Array(K);
  const quarterHits = new Float64Array(K);
  const eligible = new Float64Array(K);
  // Per target class, per source class (the probe's own prediction): [eligible, hits].
  const bySource = Array.from({ length: K }, () => new Map<number, [number, number]>());
  classes.forEach((c, j) => triggers.set(inverted.subarray(j * n, (j + 1) * n), c * n));
  const deltaAll = tf.tensor4d(inverted, [classes.length, H, W, C]);
  for (const [s, e] of spans(probe.count, opts.batchSize)) {
    const clean: number[][] = [];
    for (const [a, z] of spans(e - s, opts.rows.forward)) {
      const logits = tf.tidy(() => model.logits(images(s + a, s + z)));
      clean.push(...(await presentClasses(logits, model.decision)));
      logits.dispose();
    }
    for (const b of blocks(classes.length, e - s, opts.rows.forward)) {
      const nb = b.e - b.s;
      const chunk = classes.slice(b.c0, b.c1);
      const targets = classMajor(chunk, nb);
      // One tidy per pass, so two passes' activations are never held at once.
      const pass = async (scale: number) => {
        const [won, margins] = tf.tidy(() => {
          const d = tf.mul(tf.slice(deltaAll, [b.c0, 0, 0, 0], [chunk.length, H, W, C]), scale) as tf.Tensor4D;
          const logits = model.logits(stamp(images(s + b.s, s + b.e), d));
          return [winMask(logits, targets, model.decision), targetMargins(logits, targets, model.decision)];
        });
        return { won: Array.from(await readAndDispose(won), (w) => w > 0), margins: await readAndDispose(margins) };
      };
      const { won, margins } = await pass(1);
      const halfWon = (await pass(0.5)).won;
      const quarterWon = (await pass(0.25)).won;
      chunk.forEach((c, j) => {
        for (let i = 0; i < nb; i++) {
          loss[c] += margins[j * nb + i];
          const present = clean[b.s + i];
          if (present.includes(c)) continue; // already the class: says nothing about the trigger
          eligible[c]++;
          const source = present[0] ?? -1;
          const tally = bySource[c].get(source) ?? [0, 0];
          tally[0]++;
          if (won[j * nb + i]) {
            hits[c]++;
            tally[1]++;
          }
          if (halfWon[j * nb + i]) halfHits[c]++;
          if (quarterWon[j * nb + i]) quarterHits[c]++;
          bySource[c].set(source, tally);
        }
      });
    }
  }
  deltaAll.dispose();
  const perClass = classes.map((c) => {
    const share = 1 - eligible[c] / probe.count;
    const asr = eligible[c] ? hits[c] / eligible[c] : 0;
    const sources = [...bySource[c].values()].filter(([n]) => n >= 3).map(([n, h]) => h / n);
    return {
      class: c,
      asr,
      loss: loss[c] / probe.count,
      share,
      testable: share <= maxTestableShare(K, model.decision),
      halfAsr: eligible[c] ? halfHits[c] / eligible[c] : 0,
      quarterAsr: eligible[c] ? quarterHits[c] / eligible[c] : 0,
      minSourceAsr: sources.length ? Math.min(...sources) : asr,
      sourceCoverage: sources.length ? sources.filter((a) => a >= 0.5).length / sources.length : Number(asr >= 0.5),
    };
  });
  return {
    method: 'trigger-inversion',
    options: opts,
    probeImages: probe.count,
    ...triggerStatistics(perClass),
    triggers,
    seconds: (performance.now() - t0) / 1000,
  };
}
