// Data-free detection after MM-BD (Wang, Xiang, Miller & Kesidis, IEEE S&P 2024): for each class
// c, the largest margin z_c − max_{j≠c} z_j the model reaches anywhere in the input box [0,1]^d,
// found by gradient ascent from random uniform images (30 per class in the paper). A backdoor
// makes its target reachable with an overwhelming margin from any input (the trigger dominates
// whatever else the image holds), so that class's maximum margin stands out from the others'.
// No images are needed. The paper's step is plain SGD at 0.01 on the logits, which depends on
// their scale; Adam is scale-free, so one budget serves models whose logits differ by orders of
// magnitude. Its null fits a gamma to the other classes' statistics (src/scan/null-gamma.ts).
import * as tf from '@tensorflow/tfjs';
import type { ModelUnderTest } from '../model/adapter.js';
import { mulberry32 } from '../util/random.js';
import { readAndDispose } from '../engine/read.js';
import { accumulatedStep, blocks, spans, UNLIMITED_ROWS, type RowLimits } from './batching.js';
import { classMajor, targetMargins } from './objective.js';
import { gammaOutlier } from './null-gamma.js';

export interface MaxMarginOptions {
  /** Random starting images per class. */
  inits: number;
  steps: number;
  learningRate: number;
  seed: number;
  rows: RowLimits;
  onProgress?: (done: number, total: number) => void;
  /** The classes to scan (all when absent); the result covers these only (see schedule.ts). */
  classes?: readonly number[];
}

/** The paper's 30 starts per class; steps and the Adam rate were chosen on the tuning split. */
export const DEFAULT_MAX_MARGIN: MaxMarginOptions = { inits: 30, steps: 100, learningRate: 0.05, seed: 0, rows: UNLIMITED_ROWS };

export interface MaxMarginResult {
  method: 'max-margin';
  options: MaxMarginOptions;
  /** Per class, the largest margin reached over its starts (for multi-label heads, the largest z_c). */
  perClass: Array<{
    class: number;
    maxMargin: number;
    /** Scanned at the screening budget only (many classes, see schedule.ts): reported, not voted. */
    screened?: boolean;
  }>;
  /** Class with the largest maximum margin (the verdict decides whether it stands out). */
  largestClass: number;
  /** P(a clean class's maximum reaches the largest one), from the gamma fitted to the others; null below 3 classes. */
  pValue: number | null;
  seconds: number;
}

type ClassMargin = MaxMarginResult['perClass'][number];

/**
 * The largest margin among the classes scanned in full (a schedule's screened ones are listed, not
 * judged) and its gamma p-value over all K classes. A function of the per-class entries alone, so
 * a merge of shards computes what one scan would.
 */
export function marginStatistics(perClass: ClassMargin[], K: number): Pick<MaxMarginResult, 'perClass' | 'largestClass' | 'pValue'> {
  const full = perClass.filter((p) => !p.screened);
  const largest = full.reduce((a, p) => (p.maxMargin > a.maxMargin ? p : a), full[0]);
  return {
    perClass,
    largestClass: largest.class,
    pValue:
      full.length >= 3
        ? gammaOutlier(
            full.map((p) => p.maxMargin),
            K,
          ).pValue
        : null,
  };
}

export async function maximumMargins(model: ModelUnderTest, options: Partial<MaxMarginOptions> = {}): Promise<MaxMarginResult> {
  const opts = { ...DEFAULT_MAX_MARGIN, ...options };
  const t0 = performance.now();
  const K = model.numClasses;
  const [H, W, C] = model.inputShape;
  const N = opts.inits;
  const classes = opts.classes ? [...opts.classes] : [...Array(K).keys()];
  const k = classes.length;
  const d = N * H * W * C;
  // One random stream over all classes in order, so a class starts where a scan of all classes starts it.
  const rand = mulberry32(opts.seed ^ 0x6d6d6264);
  const start = new Float32Array(k * d);
  const wanted = new Map(classes.map((c, j) => [c, j]));
  for (let c = 0, last = Math.max(...classes); c <= last; c++) {
    const j = wanted.get(c);
    if (j === undefined) for (let i = 0; i < d; i++) rand();
    else for (let i = 0; i < d; i++) start[j * d + i] = rand();
  }
  // Rows are class-major: the j-th class's starts are rows [j·N, (j+1)·N).
  const x = tf.variable(tf.tensor4d(start, [k * N, H, W, C]));
  const targets = classMajor(classes, N);
  const optimizer = tf.train.adam(opts.learningRate);
  const rowsOf = (s: number, e: number) => tf.slice(x, [s, 0, 0, 0], [e - s, H, W, C]) as tf.Tensor4D;
  for (let step = 0; step < opts.steps; step++) {
    // Rows are independent, so blocks of rows just split one sum.
    const parts = blocks(1, k * N, opts.rows.gradient).map(
      (b) => () => tf.sum(targetMargins(model.logits(rowsOf(b.s, b.e)), targets.slice(b.s, b.e), model.decision)) as tf.Scalar,
    );
    tf.tidy(() => {
      accumulatedStep(optimizer, [x], parts);
      x.assign(tf.clipByValue(x, 0, 1));
    });
    opts.onProgress?.(step + 1, opts.steps);
  }
  const best = new Float64Array(K).fill(-Infinity);
  for (const [s, e] of spans(k * N, opts.rows.forward)) {
    const m = await readAndDispose(tf.tidy(() => targetMargins(model.logits(rowsOf(s, e)), targets.slice(s, e), model.decision)));
    for (let i = s; i < e; i++) best[targets[i]] = Math.max(best[targets[i]], -m[i - s]);
  }
  optimizer.dispose();
  x.dispose();
  return {
    method: 'max-margin',
    options: opts,
    ...marginStatistics(
      classes.map((c) => ({ class: c, maxMargin: best[c] })),
      K,
    ),
    seconds: (performance.now() - t0) / 1000,
  };
}
