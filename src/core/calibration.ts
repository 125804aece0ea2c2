// The score: P(backdoored | scan statistics) from a logistic model fitted on the zoo by
// `npm run eval -- --fit-calibration` (L2-regularised; its leave-one-out cross-entropy is stored
// beside the weights). One model per set of voting scans, since either may be switched off.
import { Matrix, solve } from 'ml-matrix';
import fitted from './calibration.json' with { type: 'json' };

/** Scan statistics the score is computed from. */
export interface ScoreFeatures {
  /** Trigger inversion's anomaly (0 when no trigger was valid). */
  dense?: number;
  /** Mask inversion's ln(median L1 / smallest L1). */
  mask?: number;
}

export type FeatureSet = 'dense+mask' | 'dense' | 'mask';

export interface LogisticFit {
  weights: number[];
  bias: number;
  /** Mean cross-entropy (nats) on the fitting models, and with each model left out of its own fit. */
  crossEntropy: { inSample: number; leaveOneOut: number };
}

export interface Calibration {
  fittedOn: string;
  models: number;
  l2: number;
  fits: Record<FeatureSet, LogisticFit>;
}

export const CALIBRATION = fitted as Calibration;

/** The anomaly can be huge (MAD near 0); its log keeps one model from dominating the fit. */
export function featureVector(f: ScoreFeatures, set: FeatureSet): number[] {
  const dense = Math.log1p(Math.max(0, f.dense ?? 0));
  const mask = f.mask ?? 0;
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

/** Calibrated score in [0, 1], or null when no voting scan ran. */
export function calibratedScore(f: ScoreFeatures, calibration: Calibration = CALIBRATION): number | null {
  const set = featureSetFor(f);
  return set === null ? null : predict(calibration.fits[set], featureVector(f, set));
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
      const fit = fitLogistic(X.filter((_, j) => j !== i), y.filter((_, j) => j !== i), l2);
      return a + crossEntropy(predict(fit, x), y[i]);
    }, 0) / X.length;
  return { ...all, crossEntropy: { inSample, leaveOneOut } };
}
