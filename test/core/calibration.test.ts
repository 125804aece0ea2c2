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

  it('leaves each model out of its own fit', () => {
    // The last point sits on the positive side of the others' boundary: fitted with itself it is
    // explained, left out it is predicted wrong, so an honest leave-one-out cross-entropy is far
    // above the in-sample one (a fold that reused the full fit would give the same number).
    const X = [[-2], [-1.5], [-1], [1], [1.5], [2], [0.6]];
    const y = [0, 0, 0, 1, 1, 1, 0];
    const fit = fitWithLeaveOneOut(X, y, 1e-3);
    const alone = fitLogistic(X.slice(0, 6), y.slice(0, 6), 1e-3);
    const pLeftOut = 1 / (1 + Math.exp(-(alone.bias + alone.weights[0] * 0.6)));
    expect(pLeftOut).toBeGreaterThan(0.5);
    expect(fit.crossEntropy.leaveOneOut - fit.crossEntropy.inSample).toBeGreaterThan(0.1);
  });

  it('the committed fit comes from the tuning split, rises with the evidence and is stated at the prior', () => {
    expect(CALIBRATION.fittedOn).toMatch(/tuning split/);
    expect(CALIBRATION.models).toBeGreaterThanOrEqual(40);
    expect(CALIBRATION.fits.multiClass['dense+mask'].crossEntropy.leaveOneOut).toBeLessThan(Math.log(2));
    const quiet = calibratedScore({ dense: 0, mask: 0 })!;
    const strong = calibratedScore({ dense: 8, mask: 2 })!;
    expect(quiet).toBeLessThan(0.5);
    expect(strong).toBeGreaterThan(quiet);
    expect(calibratedScore({})).toBeNull();
    expect(calibratedScore({ dense: 0 })).not.toBeNull();
    // Where the fit has no skill held out, the score says nothing beyond the prior.
    const noSkill = {
      ...CALIBRATION,
      fits: {
        ...CALIBRATION.fits,
        binary: { ...CALIBRATION.fits.binary, 'dense+mask': { ...CALIBRATION.fits.binary['dense+mask'], crossEntropy: { inSample: 0.5, leaveOneOut: 0.8 } } },
      },
    };
    expect(calibratedScore({ dense: 9, mask: 4 }, noSkill, 0.1, 'binary')).toBe(0.1);
    // Bayes: changing the prior shifts the log-odds by exactly the prior's log-odds.
    const logit = (p: number) => Math.log(p / (1 - p));
    const f = { dense: 1.5, mask: 0.4 };
    expect(logit(calibratedScore(f, CALIBRATION, 0.5)!) - logit(calibratedScore(f, CALIBRATION, 0.1)!)).toBeCloseTo(logit(0.5) - logit(0.1), 9);
  });
});
