// Warp triggers (WaNet-style backdoors): the additive and mask inversions only approximate a
// smooth geometric warp, and unlearning their approximation leaves the real warp working
// (most of the ASR was left after ONP rounds: docs/cleaning.md). Here the trigger is searched as a warp
// itself: a k×k grid of displacements, upsampled bilinearly (corner-aligned, as WaNet does),
// tanh-bounded to a few pixels, applied with bilinear sampling. Cleaning is adversarial: invert
// fresh warps on the current model, unlearn every warp found so far, repeat until fresh warps
// stop working. Measured on the zoo (scripts/experiments/warp-inversion.ts, npm run eval:clean).
import * as tf from '@tensorflow/tfjs';
import { withoutClass, type LabelledImageSet } from '../data/types.js';
import { withConstantWeights, type ModelUnderTest } from '../model/adapter.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { distillationPool, triggerAsr } from './training.js';
import type { RecoveredTrigger } from './triggers.js';
import { unlearnTriggers, type CleanLog, type UnlearnOptions } from './unlearn.js';
import { percent, plural } from '../util/words.js';

export interface WarpInversionOptions {
  /** Control grid side (WaNet's k). */
  grid: number;
  /** Largest displacement, pixels. */
  maxShift: number;
  steps: number;
  learningRate: number;
  /** Weight of the mean squared displacement (prefers small warps). */
  penalty: number;
  batchSize: number;
  seed: number;
}

export const DEFAULT_WARP_INVERSION: WarpInversionOptions = { grid: 4, maxShift: 2.5, steps: 150, learningRate: 0.05, penalty: 0.02, batchSize: 64, seed: 0 };

/**
 * The warp check that sends `auto` into the warp phase: a warp of at most WARP_CHECK_SHIFT px
 * sends at least WARP_ASR_THRESHOLD of the cleaning images to the target. Digits warp into some
 * classes easily once the warp may move pixels far: at 2.5 px, clean zoo models reach 1–17 % at
 * class 0 and 65–69 % at class 5, the other backdoored families 47–87 % at their targets (one
 * restart on bn-cnn-sig-t2 passed 90 %, and its warp phase cost 3 points it did not need). At
 * 1 px the WaNet models still reach 99.8–100 % (their inverted warps move 0.6–0.8 px), every
 * other model at most 9.3 % (scripts/experiments/warp-inversion.ts, README, cleaning).
 */
export const WARP_ASR_THRESHOLD = 0.9;
/** Largest displacement (px) of the warps the warp check inverts (see WARP_ASR_THRESHOLD). */
export const WARP_CHECK_SHIFT = 1;
/**
 * Every fine-tune of a model the warp check flagged (the warp phase, and in `auto` the later
 * pruning recovery and finishing round) distils at temperature 1, not DEFAULT_UNLEARN's 4: the
 * softer targets carried the teacher's answer to small warps back (the zoo's WaNet models kept
 * about twice the true-trigger ASR at T = 4: docs/cleaning.md).
 */
export const WARP_TUNING: Partial<UnlearnOptions> = { distillTemperature: 1 };

/** x [n,h,w,c] resampled at (i + dy, j + dx) with bilinear weights; differentiable in `flow` [h,w,2]. */
export function warpImages(x: tf.Tensor4D, flow: tf.Tensor3D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const f = flow.dataSync();
  const corners = [0, 1, 2, 3].map(() => new Int32Array(h * w));
  const offset = new Float32Array(h * w * 2);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const p = i * w + j;
      const sy = Math.min(h - 1, Math.max(0, i + f[p * 2]));
      const sx = Math.min(w - 1, Math.max(0, j + f[p * 2 + 1]));
      const y0 = Math.min(h - 2, Math.floor(sy));
      const x0 = Math.min(w - 2, Math.floor(sx));
      corners[0][p] = y0 * w + x0;
      corners[1][p] = y0 * w + x0 + 1;
      corners[2][p] = (y0 + 1) * w + x0;
      corners[3][p] = (y0 + 1) * w + x0 + 1;
      // Fractions = flow + this constant, so the gradient reaches the flow (clipping counts as constant).
      offset[p * 2] = sy - f[p * 2] - y0;
      offset[p * 2 + 1] = sx - f[p * 2 + 1] - x0;
    }
  return tf.tidy(() => {
    const t = tf.add(tf.reshape(flow, [h * w, 2]), tf.tensor2d(offset, [h * w, 2]));
    const ty = tf.reshape(tf.slice(t, [0, 0], [h * w, 1]), [1, h * w, 1]);
    const tx = tf.reshape(tf.slice(t, [0, 1], [h * w, 1]), [1, h * w, 1]);
    const flat = tf.reshape(x, [n, h * w, c]);
    const at = (k: number) => tf.gather(flat, tf.tensor1d(corners[k], 'int32'), 1);
    const out = tf.addN([
      tf.mul(tf.mul(tf.sub(1, ty), tf.sub(1, tx)), at(0)),
      tf.mul(tf.mul(tf.sub(1, ty), tx), at(1)),
      tf.mul(tf.mul(ty, tf.sub(1, tx)), at(2)),
      tf.mul(tf.mul(ty, tx), at(3)),
    ]);
    return tf.reshape(out, [n, h, w, c]) as tf.Tensor4D;
  });
}

export interface RecoveredWarp {
  trigger: RecoveredTrigger;
  /** Share of the set's non-target images the warp sends to the target. */
  asr: number;
  /** Largest displacement of the warp, pixels. */
  maxShift: number;
}

/** Searches the warp that sends the set's non-target images to `target`. */
export function invertWarp(model: ModelUnderTest, set: LabelledImageSet, target: number, options: Partial<WarpInversionOptions> = {}): RecoveredWarp {
  const opts = { ...DEFAULT_WARP_INVERSION, ...options };
  const [h, w, c] = model.inputShape;
  const net = withConstantWeights(model); // only the warp is optimised
  const others = withoutClass(set, target);
  const k = opts.grid;
  const normal = gaussian(mulberry32(opts.seed + 5));
  const grid = tf.variable(
    tf.tensor4d(
      Float32Array.from({ length: k * k * 2 }, () => 0.1 * normal()),
      [1, k, k, 2],
    ),
  );
  const flowOf = () => tf.tidy(() => tf.mul(tf.tanh(tf.reshape(tf.image.resizeBilinear(grid, [h, w], true), [h, w, 2])), opts.maxShift) as tf.Tensor3D);
  const optimizer = tf.train.adam(opts.learningRate);
  const rand = mulberry32(opts.seed);
  const n = h * w * c;
  for (let step = 0; step < opts.steps; step++) {
    const batch = Array.from({ length: Math.min(opts.batchSize, others.count) }, () => Math.floor(rand() * others.count));
    const xb = new Float32Array(batch.length * n);
    batch.forEach((b, r) => xb.set(others.x.subarray(b * n, (b + 1) * n), r * n));
    tf.tidy(() => {
      const x = tf.tensor4d(xb, [batch.length, h, w, c]);
      const yt = tf.oneHot(tf.fill([batch.length], target, 'int32'), model.numClasses);
      optimizer.minimize(
        () => {
          const flow = flowOf();
          const ce = tf.mean(tf.sum(tf.mul(yt, tf.neg(tf.logSoftmax(net.logits(warpImages(x, flow))))), -1));
          return tf.add(ce, tf.mul(opts.penalty, tf.mean(tf.square(flow)))) as tf.Scalar;
        },
        false,
        [grid],
      );
    });
  }
  optimizer.dispose();
  const flow = flowOf();
  grid.dispose();
  const trigger: RecoveredTrigger = { target, source: 'warp-inversion', stamp: (x) => warpImages(x, flow) };
  const maxShift = tf.tidy(() => tf.max(tf.abs(flow)).dataSync()[0]);
  return { trigger, asr: triggerAsr(model, set, trigger) ?? 0, maxShift };
}

export interface WarpUnlearnOptions {
  /** Adversarial rounds at most. */
  rounds: number;
  /** Fresh warps inverted per round (restarts from different seeds). */
  warpsPerRound: number;
  /** Unlearning epochs per round. */
  epochs: number;
  /** Stop once every fresh warp's ASR on the cleaning images is below this. */
  stopAsr: number;
  seed: number;
}

/** What warp unlearning reports: per round the fresh warps' ASRs and sizes, and what a last fresh warp reached. */
export interface WarpDetails {
  target: number;
  rounds: Array<{ freshAsr: number[]; maxShift: number[] }>;
  residualAsr: number;
}

export const DEFAULT_WARP_UNLEARN: WarpUnlearnOptions = { rounds: 8, warpsPerRound: 2, epochs: 3, stopAsr: 0.2, seed: 0 };

/**
 * Adversarial warp unlearning: unlearn the warps found so far (true labels, distillation from
 * the model as it came in), invert fresh ones on the updated model, and repeat while they work.
 */
export async function unlearnWarps(
  model: ModelUnderTest,
  data: LabelledImageSet,
  target: number,
  first: RecoveredWarp[],
  options: Partial<WarpUnlearnOptions> = {},
): Promise<CleanLog<WarpDetails> & { details: WarpDetails; residualAsr: number; warps: RecoveredTrigger[] }> {
  const opts = { ...DEFAULT_WARP_UNLEARN, ...options };
  const t0 = performance.now();
  const pool = distillationPool(model, data, 4, opts.seed);
  const found = first.map((w) => w.trigger);
  const rounds: WarpDetails['rounds'] = [];
  let steps = 0;
  let epochLoss: number[] = [];
  let residualAsr = Math.max(...first.map((w) => w.asr));
  for (let r = 0; r < opts.rounds && residualAsr >= opts.stopAsr; r++) {
    const log = await unlearnTriggers(model, data, found, { ...WARP_TUNING, region: false, epochs: opts.epochs, seed: opts.seed + r }, { pool });
    steps += log.steps;
    epochLoss = [...epochLoss, ...log.epochLoss];
    const fresh = Array.from({ length: opts.warpsPerRound }, (_, i) => invertWarp(model, data, target, { seed: opts.seed + 100 * (r + 1) + i }));
    found.push(...fresh.map((w) => w.trigger));
    residualAsr = Math.max(...fresh.map((w) => w.asr));
    rounds.push({ freshAsr: fresh.map((w) => w.asr), maxShift: fresh.map((w) => w.maxShift) });
  }
  // The last round's fresh warps still work a little (below stopAsr): unlearn them too.
  if (rounds.length) {
    const log = await unlearnTriggers(model, data, found, { ...WARP_TUNING, region: false, epochs: opts.epochs, seed: opts.seed + opts.rounds }, { pool });
    steps += log.steps;
    epochLoss = [...epochLoss, ...log.epochLoss];
  }
  return {
    method: 'warp-unlearn',
    summary: `adversarial warp unlearning at class ${target}: ${plural(rounds.length, 'round')}; a fresh warp then sent ${percent(residualAsr)} of clean images there`,
    options: opts,
    steps,
    epochLoss,
    seconds: (performance.now() - t0) / 1000,
    details: { target, rounds, residualAsr },
    residualAsr,
    warps: found,
  };
}
