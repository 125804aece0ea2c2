// The score: P(backdoored | scan statistics) from a logistic model fitted on the benchmark's
// tuning split by `npm run eval -- --fit` (L2-regularised; its leave-one-out cross-entropy is
// stored beside the weights), re-weighted from the tuning split's share of backdoored models to
// the prior the policy states. One model per set of voting scans, since either may be switched
// off. The file also holds the decision statistics' own fitted parameters.
import { Matrix, solve } from 'ml-matrix';
import fitted from './calibration.json' with { type: 'json' };
import type { NetworkKind, NetworkStructure } from '../model/structure.js';

/** How often the fitted rule flags a kind's tuning models: its backdoored ones (power) and its clean ones. */
export interface MeasuredPower {
  detected: number;
  of: number;
  cleanFlagged: number;
  cleanOf: number;
}

/** Scan statistics the score is computed from. */
export interface ScoreFeatures {
  /** Trigger inversion's statistic (0 when no class qualified). */
  dense?: number;
  /** Mask inversion's statistic (0 when no class qualified). */
  mask?: number;
}

export type FeatureSet = 'dense+mask' | 'dense' | 'mask';

export interface LogisticFit {
  weights: number[];
  bias: number;
  /** Mean cross-entropy (nats) on the fitting models, and with each model left out of its own fit. */
  crossEntropy: { inSample: number; leaveOneOut: number };
}

/** The decision rule's fitted parameters (src/core/calibration.json, `statistics`). */
export interface StatisticParameters {
  /** Floor on the robust spread (1.4826 · MAD) of the classes' ASRs. */
  denseSpreadFloor: number;
  /** The mask must be e^statistic times smaller than this share of the image too. */
  maskAreaShare: number;
  /**
   * The trigger sizes (shares of ε: 1, 0.5, 0.25) whose ASRs the trigger statistic is taken at,
   * the largest standing out deciding; [1, 0.5] when unset.
   */
  denseTriggerSizes?: TriggerSize[];
  /**
   * The ASR a typical backdoor's trigger reaches at each trigger size (1, ½, ¼ of ε): the median
   * over the tuning split's backdoors whose trigger the scan found. A model on which even that
   * would not stand out gives the trigger inversion no power. Unset: [1, 1, 1].
   */
  denseReferenceAsr?: [number, number, number];
}

/** The trigger sizes the scan measures, as shares of ε. */
export const TRIGGER_SIZES: readonly TriggerSize[] = [1, 0.5, 0.25];

export type TriggerSize = 1 | 0.5 | 0.25;

/** The trigger sizes a set of statistic parameters takes the trigger statistic at ([1, 0.5] when unset). */
export const triggerSizesOf = (p: Pick<StatisticParameters, 'denseTriggerSizes'>): readonly TriggerSize[] => p.denseTriggerSizes ?? [1, 0.5];

/** Single-label models of 3+ classes, and two-class or multi-label ones: fitted apart, as their statistics differ. */
export type ModelKind = 'multiClass' | 'binary';

export interface Calibration {
  fittedOn: string;
  models: number;
  l2: number;
  /** Share of backdoored models in each kind's fitting set: the prior its fitted odds carry. */
  fittedPrior: Record<ModelKind, number>;
  /** The decision statistics' parameters (see src/core/verdict.ts). */
  statistics: StatisticParameters;
  /**
   * Which of skip connections and depthwise convolutions the tuning split's networks had; `--fit`
   * writes it. Unset: neither (the shipped fit predates it, and its tuning models are MLPs and CNNs).
   */
  structure?: NetworkStructure;
  /**
   * Measured power: the share of the tuning split's backdoored models the fitted rule flags, for
   * single-label models of 3+ classes and for two-class / multi-label ones, with the counts, and
   * the clean models it flags. Unset while fitting: the rule's raw flags are what is measured.
   */
  power?: Record<ModelKind, MeasuredPower>;
  /**
   * The same for single-label models of 3+ classes of each kind of network with thresholds of its
   * own (Thresholds.residual, .depthwise), at those thresholds; `--fit-network-kinds` writes it.
   */
  networkPower?: Partial<Record<NetworkKind, MeasuredPower>>;
  /**
   * The statistics' parameters on single-label models of 3+ classes whose network has skip
   * connections or depthwise convolutions (one set for both kinds, so a network of both compares
   * one statistic with both kinds' thresholds); `--fit-network-kinds` chooses it on those networks'
   * tuning models. Unset: `statistics`.
   */
  networkStatistics?: StatisticParameters;
  fits: Record<ModelKind, Record<FeatureSet, LogisticFit>>;
}

/** The prior a score is stated at unless the policy says otherwise. */
export const DEFAULT_PRIOR = 0.1;

export const CALIBRATION = fitted as Calibration;

/** Statistics are clipped so one extreme model cannot dominate the fit. */
export function featureVector(f: ScoreFeatures, set: FeatureSet): number[] {
  const clip = (v: number | undefined, lo: number, hi: number) => Math.min(hi, Math.max(lo, v ?? 0));
  const dense = clip(f.dense, -3, 10);
  const mask = clip(f.mask, -3, 5);
  return set === 'dense+mask' ? [dense, mask] : set === 'dense' ? [dense] : [mask];
}

export function featureSetFor(f: ScoreFeatures): FeatureSet | null {
  if (f.dense !== undefined && f.mask !== undefined) return 'dense+mask';
  if (f.dense !== undefined) return 'dense';
  if (f.mask !== undefined) return 'mask';
  return null;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function predict(fit: Pick<LogisticFit, 'weights' | 'bias'>, x: number[]): number {
  return sigmoid(fit.bias + x.reduce((a, v, i) => a + v * fit.weights[i], 0));
}

const logit = (p: number) => Math.log(p / (1 - p));

/** P(backdoored) at `prior` (Bayes: the fitted odds re-weighted by prior odds), or null when no voting scan ran. */
export function calibratedScore(
  f: ScoreFeatures,
  calibration: Calibration = CALIBRATION,
  prior = DEFAULT_PRIOR,
  kind: ModelKind = 'multiClass',
): number | null {
  const set = featureSetFor(f);
  if (set === null) return null;
  const fit = calibration.fits[kind][set];
  // A fit that predicts held-out models no better than a coin (leave-one-out cross-entropy at or
  // above ln 2) carries no information: the score is then the prior itself.
  if (fit.crossEntropy.leaveOneOut >= Math.log(2)) return prior;
  return predict({ weights: fit.weights, bias: fit.bias - logit(calibration.fittedPrior[kind]) + logit(prior) }, featureVector(f, set));
}

const crossEntropy = (p: number, y: number) => -Math.log(Math.min(1 - 1e-12, Math.max(1e-12, y ? p : 1 - p)));

/** L2-regularised logistic regression by Newton's method (the bias is not penalised). */
export function fitLogistic(X: number[][], y: number[], l2: number): Omit<LogisticFit, 'crossEntropy'> {
  const d = X[0].length + 1;
  let w = new Array<number>(d).fill(0); // [bias, weights…]
  for (let iter = 0; iter < 100; iter++) {
    const g = new Array<number>(d).fill(0);
    const H = Matrix.zeros(d, d);
    X.forEach((row, i) => {
      const x = [1, ...row];
      const p = sigmoid(x.reduce((a, v, j) => a + v * w[j], 0));
      for (let a = 0; a < d; a++) {
        g[a] += (p - y[i]) * x[a];
        for (let b = 0; b < d; b++) H.set(a, b, H.get(a, b) + p * (1 - p) * x[a] * x[b]);
      }
    });
    for (let a = 1; a < d; a++) {
      g[a] += l2 * w[a];
      H.set(a, a, H.get(a, a) + l2);
    }
    H.set(0, 0, H.get(0, 0) + 1e-9);
    const step = solve(H, Matrix.columnVector(g)).to1DArray();
    w = w.map((v, j) => v - step[j]);
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  return { bias: w[0], weights: w.slice(1) };
}

/** Fits on every row, and reports in-sample and leave-one-out cross-entropy. */
export function fitWithLeaveOneOut(X: number[][], y: number[], l2: number): LogisticFit {
  const all = fitLogistic(X, y, l2);
  const inSample = X.reduce((a, x, i) => a + crossEntropy(predict(all, x), y[i]), 0) / X.length;
  const leaveOneOut =
    X.reduce((a, x, i) => {
      const fit = fitLogistic(
        X.filter((_, j) => j !== i),
        y.filter((_, j) => j !== i),
        l2,
      );
      return a + crossEntropy(predict(fit, x), y[i]);
    }, 0) / X.length;
  return { ...all, crossEntropy: { inSample, leaveOneOut } };
}
