// When a cleaned model passes: its re-scan is clean and it lost no more held-out accuracy than the
// policy allows. Hand-made reports with numbers worked out here (k of n images), so the rule is
// checked against arithmetic, not against what the cleaners produced.
import { describe, expect, it } from 'vitest';
import { cleanedModelFailure, cleanedModelPasses } from '../../src/clean/report.js';
import { cleaningReport as report } from '../helpers/clean-report.js';

describe('a cleaned model passes by its re-scan and by the accuracy the policy lets it lose', () => {
  it('measures the cost in points on the held-out images: one of 50 is 2 points, a gain is negative', () => {
    expect(report(48, 47, 50, 2).accuracyCost).toMatchObject({ heldOutImages: 50, allowedPoints: 2, withinPolicy: true });
    expect(report(48, 47, 50, 2).accuracyCost!.points).toBeCloseTo(2, 10);
    expect(report(97, 99, 120, 0).accuracyCost!.points).toBeCloseTo(-200 / 120, 10);
  });

  it('passes at the limit and fails one image past it, naming the cost and the policy key', () => {
    // 95.0 → 93.0 % of 100 images: exactly the 2 points allowed (0.95 − 0.93 is not exactly 0.02 in floats).
    expect(cleanedModelPasses(report(95, 93, 100, 2))).toBe(true);
    expect(cleanedModelFailure(report(95, 93, 100, 2))).toBeUndefined();
    const over = report(95, 92, 100, 2);
    expect(cleanedModelPasses(over)).toBe(false);
    expect(cleanedModelFailure(over)).toBe("it loses 3.0 points of held-out accuracy, more than the policy's cleaning.max-accuracy-drop (2)");
    // A limit of 0: any image lost fails; none lost passes.
    expect(cleanedModelPasses(report(60, 59, 60, 0))).toBe(false);
    expect(cleanedModelPasses(report(60, 60, 60, 0))).toBe(true);
  });

  it('fails a flagged or unjudged re-scan whatever the accuracy, and a report with nothing written or no cost', () => {
    for (const verdict of ['suspicious', 'backdoored', 'unassessed'] as const) {
      expect(cleanedModelPasses(report(60, 60, 60, 2, verdict))).toBe(false);
      expect(cleanedModelFailure(report(60, 60, 60, 2, verdict))).toBe(`its re-scan is ${verdict}`);
    }
    const skipped = { ...report(60, 60, 60, 2), output: undefined, skipped: 'the scan found no backdoor' };
    expect(cleanedModelPasses(skipped)).toBe(false);
    expect(cleanedModelFailure(skipped)).toBe('the scan found no backdoor');
    // A report from before the cost was measured does not pass by default.
    expect(cleanedModelPasses({ ...report(60, 60, 60, 2), accuracyCost: undefined })).toBe(false);
  });
});
