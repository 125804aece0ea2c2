import { describe, expect, it } from 'vitest';
import { CALIBRATION, calibratedScore, fitLogistic, fitWithLeaveOneOut } from '../../src/core/calibration.js';
import { mulberry32 } from '../../src/util/random.js';

describe('calibrated score', () => {
  it('recovers the coefficients of a known logistic model', () => {
    const rand = mulberry32(3);
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const x = [4 * rand() - 2, 4 * rand() - 2];
      X.push(x);
      y.push(rand() < 1 / (1 + Math.exp(-(0.5 + 2 * x[0] - 1 * x[1]))) ? 1 : 0);
    }
    const fit = fitLogistic(X, y, 1e-6);
    expect(fit.bias).toBeCloseTo(0.5, 0);
    expect(fit.weights[0]).toBeCloseTo(2, 0);
    expect(fit.weights[1]).toBeCloseTo(-1, 0);
  });

  it('reports a held-out cross-entropy no better than the in-sample one', () => {
    const X = [[0], [0.2], [0.4], [1.5], [2], [0.9], [1.1], [0.1]];
    const y = [0, 0, 0, 1, 1, 1, 0, 0];
    const fit = fitWithLeaveOneOut(X, y, 0.1);
    expect(fit.crossEntropy.leaveOneOut).toBeGreaterThanOrEqual(fit.crossEntropy.inSample);
  });

  it('the committed fit separates the zoo and rises with the evidence', () => {
    expect(CALIBRATION.models).toBeGreaterThanOrEqual(14);
    expect(CALIBRATION.fits['dense+mask'].crossEntropy.leaveOneOut).toBeLessThan(Math.log(2));
    const clean = calibratedScore({ dense: 0, mask: 0.7 })!;
    const mild = calibratedScore({ dense: 0, mask: 1.3 })!;
    const strong = calibratedScore({ dense: 30, mask: 2 })!;
    expect(clean).toBeLessThan(0.5);
    expect(mild).toBeGreaterThan(clean);
    expect(strong).toBeGreaterThan(0.9);
    expect(calibratedScore({})).toBeNull();
    expect(calibratedScore({ dense: 0 })).not.toBeNull();
  });
});
