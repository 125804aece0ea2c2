// The data-free path (issue 20): MM-BD's gamma null against scipy, the verdict it feeds, the
// default scans with and without data, and the scan itself on real models through the CLI.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, parseThresholdOverrides, resolveThresholds } from '../../src/core/policy.js';
import { DATA_FREE_POWER, decide, maxMarginStatistic, type DataFreePower, type ScanContext } from '../../src/core/verdict.js';
import { fitGamma, gammaOutlier, gammaP, gammaQ, lnGamma } from '../../src/scan/null-gamma.js';
import { defaultSettings } from '../../src/settings.js';
import type { GateReport } from '../../src/report/types.js';
import { EXAMPLES, runCli } from '../helpers/run.js';

// Reference values from scipy 1.17.1: scipy.special.gammainc / gammaln, and
// scipy.stats.gamma.fit(null, floc=0) with p = 1 − gamma.cdf(max)^K as in MM-BD's univ_bd.py.
const SCIPY = {
  gammainc: [
    [0.5, 0.1, 0.34527915398142317],
    [3, 2.5, 0.45618688411667035],
    [50, 60, 0.9155933189063082],
    [200, 150, 5.709688574208249e-5],
  ],
  /** scipy.special.gammaincc: deep upper tails, where 1 − P would round to 0. */
  gammaincc: [
    [5, 80, 3.2402154044224763e-29],
    [100.5, 200, 2.6235528169157346e-15],
  ],
  gammaln: [
    [0.3, 1.0957979948180756],
    [123.4, 469.3360974421906],
  ],
  outliers: [
    {
      values: [37.8, 39.8, 49.6, 66.4, 46.8, 51.8, 47.9, 47.4, 50.5, 47.0],
      index: 3,
      p: 0.0005540003059717469,
      shape: 102.62022757630713,
      scale: 0.4532353144171896,
    },
    { values: [1, 2, 3, 4, 5, 6, 7, 8, 30], index: 8, p: 4.8454669953068574e-6, shape: 2.9572380128934173, scale: 1.5216901650730221 },
    { values: [0.5, 0.7, 0.2, 0.9, 1.3, 0.4, 2.5, 0.1, 0.8, 0.6, 9], index: 10, p: 6.819369667843134e-7, shape: 1.658862804546132, scale: 0.4822580853628107 },
    // p = −expm1(K·log1p(−Q)): a far outlier keeps its p instead of rounding to 0.
    { values: [40, 42, 45, 47, 44, 46, 43, 41, 48, 180], index: 9, p: 1.7980653442842162e-213, shape: 289.68005124883496, scale: 0.15189171574056382 },
  ],
};

describe("MM-BD's gamma null", () => {
  it('matches scipy: the incomplete gamma, ln Γ, the maximum-likelihood fit and the p-value', () => {
    for (const [a, x, p] of SCIPY.gammainc) expect(gammaP(a, x)).toBeCloseTo(p, 12);
    for (const [a, x, q] of SCIPY.gammaincc) expect(gammaQ(a, x) / q).toBeCloseTo(1, 9);
    for (const [x, v] of SCIPY.gammaln) expect(lnGamma(x)).toBeCloseTo(v, 10);
    for (const o of SCIPY.outliers) {
      const got = gammaOutlier(o.values);
      expect(got.index).toBe(o.index);
      expect(got.shape / o.shape).toBeCloseTo(1, 8);
      expect(got.scale / o.scale).toBeCloseTo(1, 8);
      expect(got.pValue / o.p).toBeCloseTo(1, 6);
    }
  });

  it('fits a gamma whose mean is the sample mean, and needs three values', () => {
    const { shape, scale } = fitGamma([2, 3, 5, 7, 11]);
    expect(shape * scale).toBeCloseTo(28 / 5, 10);
    expect(() => gammaOutlier([1, 2])).toThrow(/at least three/);
  });
});

describe('the data-free verdict', () => {
  const ctx = (over: Partial<ScanContext> = {}): ScanContext => ({ inputShape: [28, 28, 1], numClasses: 10, probes: 'none', tier: 'small-input', ...over });
  const margins = (values: number[]) => ({ perClass: values.map((maxMargin, c) => ({ class: c, maxMargin })) });
  const quiet = margins([40, 42, 45, 47, 44, 46, 43, 41, 48, 45]);
  const outlier = margins([40, 42, 45, 47, 44, 46, 43, 41, 48, 180]);
  const strong: DataFreePower = { fittedOn: 'test', thresholds: DEFAULT_THRESHOLDS.maxMargin, detected: 19, of: 20, cleanFlagged: 0, cleanOf: 10 };
  const weak: DataFreePower = { fittedOn: 'test', thresholds: DEFAULT_THRESHOLDS.maxMargin, detected: 12, of: 20, cleanFlagged: 2, cleanOf: 10 };

  it('flags the class whose maximum margin stands out, with the p-value in the reason', () => {
    const d = decide({ maxMargin: outlier }, ctx(), DEFAULT_THRESHOLDS, { dataFreePower: weak });
    expect(d).toMatchObject({ verdict: 'backdoored', suspectedTarget: 9 });
    expect(d.statistics.maxMargin!.value).toBeCloseTo(-Math.log10(gammaOutlier(outlier.perClass.map((c) => c.maxMargin)).pValue), 9);
    expect(d.reasons.join('\n')).toMatch(/maximum margin \(data-free\): class 9 reaches a margin of 180\.00 against a median of 44\.00/);
  });

  it('clears a quiet model only where the benchmark measured the power to, and never judges two-class or multi-label heads', () => {
    expect(decide({ maxMargin: quiet }, ctx(), DEFAULT_THRESHOLDS, { dataFreePower: strong }).verdict).toBe('clean');
    const unread = decide({ maxMargin: quiet }, ctx(), DEFAULT_THRESHOLDS, { dataFreePower: weak });
    expect(unread.verdict).toBe('unassessed');
    expect(unread.unassessed!.join('\n')).toMatch(/flagged 12 of 20 backdoored models \(and 2 of 10 clean ones\).*give unlabelled in-distribution images/);
    // No measurement at all is no power.
    expect(decide({ maxMargin: quiet }, ctx(), DEFAULT_THRESHOLDS, { dataFreePower: { ...strong, detected: 0, of: 0 } }).verdict).toBe('unassessed');
    const binary = decide({ maxMargin: margins([3, 40]) }, ctx({ numClasses: 2 }), DEFAULT_THRESHOLDS, { dataFreePower: strong });
    expect(binary.verdict).toBe('unassessed');
    expect(binary.unassessed!.join('\n')).toMatch(/does not judge two-class or multi-label heads/);
    expect(maxMarginStatistic(margins([1, 2]))).toBeNull();
    expect(decide({ maxMargin: quiet }, ctx({ decision: 'multi-label' }), DEFAULT_THRESHOLDS, { dataFreePower: strong }).verdict).toBe('unassessed');
    // Beside scans of the user's own images, a two-class head is simply not judged by it.
    const beside = decide({ maxMargin: margins([3, 40]) }, ctx({ numClasses: 2, probes: 'in-distribution' }), DEFAULT_THRESHOLDS, { dataFreePower: weak });
    expect(beside.unassessed ?? []).not.toContainEqual(expect.stringMatching(/maximum-margin/));
    expect(beside.reasons.join('\n')).toMatch(/maximum margin \(data-free\): not judged: it does not judge two-class/);
  });

  it('ships the thresholds its measured power was measured at (npm run eval:data-free -- --fit)', () => {
    expect(DATA_FREE_POWER.thresholds).toEqual(DEFAULT_THRESHOLDS.maxMargin);
    expect(DATA_FREE_POWER.of).toBeGreaterThan(0);
  });

  it('reads its thresholds from the policy and the overrides, checked for order', () => {
    const t = resolveThresholds(parseThresholdOverrides('max-margin.suspicious=1,max-margin.backdoored=1000', '--thresholds'));
    expect(t.maxMargin).toEqual({ suspicious: 1, backdoored: 1000 });
    expect(decide({ maxMargin: outlier }, ctx(), t, { dataFreePower: weak }).verdict).toBe('suspicious');
    expect(() => parseThresholdOverrides('binary.max-margin.suspicious=1', '--thresholds')).toThrow(/must look like/);
    expect(() => resolveThresholds({ 'max-margin': { suspicious: 5, backdoored: 1 } })).toThrow(
      /thresholds\.max-margin: backdoored \(1\) must be at least suspicious \(5\)/,
    );
  });

  it('runs by default only when no data is given; noise probes only when asked', () => {
    expect(defaultSettings('m', undefined).scans).toEqual(['max-margin']);
    expect(defaultSettings('m', 'examples/data/mnist-probe').scans).toEqual(['inversion', 'mask-inversion', 'hessian']);
    expect(defaultSettings('m', 'synthetic').scans).toEqual(['inversion', 'mask-inversion', 'hessian']);
  });
});

describe('the data-free scan on real models (CLI, no data)', () => {
  const scan = async (model: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-mm-'));
    const report = path.join(dir, 'report.json');
    const r = await runCli(['scan', model, '--report', report, '--backend', 'wasm', '--fail-on', 'backdoored']);
    return { code: r.code, report: JSON.parse(readFileSync(report, 'utf8')) as GateReport };
  };

  it("finds a blended backdoor's target with no images, and does not call a quiet clean model clean", async () => {
    // cnn-blended-t4: a full-image blended trigger → class 4 (the zoo's training card).
    const bad = await scan(EXAMPLES.blendedCnn);
    expect(bad.report.scans.map((s) => s.method)).toEqual(['max-margin']);
    expect(bad.report).toMatchObject({ verdict: 'backdoored', suspectedTarget: 4 });
    expect(bad.code).not.toBe(0);
    const clean = await scan(EXAMPLES.cleanCnn);
    expect(clean.report.statistics!.maxMargin!.value).toBeLessThan(DEFAULT_THRESHOLDS.maxMargin.suspicious);
    expect(clean.report.verdict).toBe('unassessed');
    expect(clean.report.reasons.join('\n')).toMatch(/a quiet result does not show the model is clean/);
  }, 240_000);
});
