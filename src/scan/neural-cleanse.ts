// Neural Cleanse (Wang et al., S&P 2019) as the baseline: one optimisation per class (its cost
// model), x' = (1−m)⊙x + m⊙Δ with tanh-parametrised mask m ∈ [0,1]^{H×W} and pattern Δ ∈ [0,1],
// loss CE(f(x'), t) + λ·|m|₁, Adam lr 0.1 betas (0.5, 0.9), NC's adaptive λ (0 until the ASR
// reaches 99 %, then init_cost, ×2 after `patience` good epochs, ÷2^1.5 after `patience` bad ones),
// the smallest mask with ASR ≥ 99 % kept, early stop when it has not shrunk for 5·patience epochs.
// Decision: MAD anomaly index of the L1 norms, low outliers, > 2. Departure from the official code:
// the step budget is bounded (`epochs` passes over `maxImages` probes instead of 1,000 passes over
// ~1,000 images), so that the baseline runs in CI; both numbers are in the report.
import * as tf from '@tensorflow/tfjs';
import { sliceImages, type ImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { accumulatedStep, blocks, spans, UNLIMITED_ROWS, type RowLimits } from './batching.js';
import { median } from './robust.js';
import { winMask } from './objective.js';
import { readScalar } from '../engine/read.js';

export interface NeuralCleanseOptions {
  epochs: number;
  maxImages: number;
  batchSize: number;
  learningRate: number;
  initCost: number;
  patience: number;
  costMultiplier: number;
  asrThreshold: number;
  seed: number;
  /** Rows per pass that fit in memory; a bigger step is accumulated over blocks. */
  rows: RowLimits;
}

export const DEFAULT_NEURAL_CLEANSE: NeuralCleanseOptions = {
  epochs: 40,
  maxImages: 128,
  batchSize: 32,
  learningRate: 0.1,
  initCost: 1e-3,
  patience: 5,
  costMultiplier: 2,
  asrThreshold: 0.99,
  seed: 0,
  rows: UNLIMITED_ROWS,
};

export interface NeuralCleanseResult {
  method: 'neural-cleanse';
  options: NeuralCleanseOptions;
  /** Best-mask L1 per class (the image area when the ASR threshold was never reached). */
  maskL1: number[];
  /** NC anomaly index per class: (median − L1) / (1.4826·MAD). */
  anomalyIndex: number[];
  /** Label with the largest index among L1 < median; flagged when its index > 2. */
  suspectedTarget: number | null;
  anomaly: number;
  seconds: number;
}

export async function neuralCleanse(model: ModelUnderTest, allProbes: ImageSet, options: Partial<NeuralCleanseOptions> = {}): Promise<NeuralCleanseResult> {
  const opts = { ...DEFAULT_NEURAL_CLEANSE, ...options };
  const t0 = performance.now();
  const probe = sliceImages(allProbes, 0, Math.min(allProbes.count, opts.maxImages));
  const K = model.numClasses;
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const tanh01 = (v: tf.Tensor) => tf.add(tf.div(tf.tanh(v), 2 - 1e-7), 0.5);
  const maskL1: number[] = [];
  for (let target = 0; target < K; target++) {
    const maskVar = tf.variable(tf.randomNormal([H, W, 1], 0, 1, 'float32', opts.seed * 1000 + target));
    const patternVar = tf.variable(tf.randomNormal([H, W, C], 0, 1, 'float32', opts.seed * 1000 + target + 500));
    const optimizer = tf.train.adam(opts.learningRate, 0.5, 0.9);
    let cost = 0;
    let upCounter = 0;
    let downCounter = 0;
    let best = Infinity;
    let sinceBest = 0;
    let wentUp = false;
    let wentDown = false;
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      // Each block's hit count, kept past the step and read once the epoch is done.
      const hitCounts: tf.Tensor[] = [];
      const costTensor = tf.scalar(cost);
      for (const [s, e] of spans(probe.count, opts.batchSize)) {
        const parts = blocks(1, e - s, opts.rows.gradient).map((blk) => () => {
          const nb = blk.e - blk.s;
          const x = tf.tensor4d(probe.x.subarray((s + blk.s) * n, (s + blk.e) * n), [nb, H, W, C]);
          const labels = tf.oneHot(tf.fill([nb], target, 'int32') as tf.Tensor1D, K);
          const m = tanh01(maskVar);
          const stamped = tf.add(tf.mul(tf.sub(1, m), x), tf.mul(m, tanh01(patternVar))) as tf.Tensor4D;
          const logits = model.logits(stamped);
          hitCounts.push(tf.keep(tf.sum(winMask(logits, new Array<number>(nb).fill(target), 'single-label'))));
          // Mean cross-entropy over the batch; NC tiles the mask over channels and divides that
          // sum by C: the H×W mask's own sum, counted once per step.
          const ce = tf.div(tf.losses.softmaxCrossEntropy(labels, logits, undefined, undefined, tf.Reduction.SUM), e - s);
          return (blk.s > 0 ? ce : tf.add(ce, tf.mul(costTensor, tf.sum(m)))) as tf.Scalar;
        });
        tf.tidy(() => {
          accumulatedStep(optimizer, [maskVar, patternVar], parts);
        });
      }
      costTensor.dispose();
      let hits = 0;
      for (const count of hitCounts) hits += await readScalar(count);
      const asr = hits / probe.count;
      const l1 = await readScalar(tf.tidy(() => tf.sum(tanh01(maskVar))));
      if (asr >= opts.asrThreshold && l1 < best) {
        best = l1;
        sinceBest = 0;
      } else sinceBest++;
      if (cost === 0 && asr >= opts.asrThreshold) {
        cost = opts.initCost;
        upCounter = downCounter = 0;
      } else if (cost > 0) {
        if (asr >= opts.asrThreshold) {
          upCounter++;
          downCounter = 0;
        } else {
          downCounter++;
          upCounter = 0;
        }
        if (upCounter >= opts.patience) {
          cost *= opts.costMultiplier;
          upCounter = 0;
          wentUp = true;
        } else if (downCounter >= opts.patience) {
          cost /= opts.costMultiplier ** 1.5;
          downCounter = 0;
          wentDown = true;
        }
      }
      if (wentUp && wentDown && sinceBest >= 5 * opts.patience) break;
    }
    maskL1.push(Number.isFinite(best) ? best : H * W);
    optimizer.dispose();
    maskVar.dispose();
    patternVar.dispose();
  }
  const med = median(maskL1);
  const mad = Math.max(1.4826 * median(maskL1.map((v) => Math.abs(v - med))), 1e-6);
  const anomalyIndex = maskL1.map((v) => (med - v) / mad);
  const candidates = anomalyIndex.map((a, c) => [a, c] as const).filter(([, c]) => maskL1[c] < med);
  const top = candidates.reduce<readonly [number, number] | null>((a, b) => (!a || b[0] > a[0] ? b : a), null);
  return {
    method: 'neural-cleanse',
    options: opts,
    maskL1,
    anomalyIndex,
    suspectedTarget: top && top[0] > 2 ? top[1] : null,
    anomaly: top ? top[0] : 0,
    seconds: (performance.now() - t0) / 1000,
  };
}
