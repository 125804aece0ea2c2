// Scan evidence built by hand for the decision rule's tests: a rule (thresholds, statistics'
// parameters, a calibration where every kind of model has measured power) and the per-class
// results the verdict reads, so a test states the evidence and the verdict it must give.
import { CALIBRATION } from '../../src/core/calibration.js';
import type { DenseEvidence, MaskEvidence, ScanContext } from '../../src/core/verdict.js';

export const levels = { inversion: { suspicious: 2, backdoored: 4 }, maskInversion: { suspicious: 1, backdoored: 1.5 } };
export const T = {
  ...levels,
  binary: { inversion: { suspicious: 3, backdoored: 5 }, maskInversion: { suspicious: 2.5, backdoored: 3 } },
  residual: { inversion: { suspicious: 4, backdoored: 8 }, maskInversion: { suspicious: 1.5, backdoored: 2 } },
  depthwise: { inversion: { suspicious: 6, backdoored: 7 }, maskInversion: { suspicious: 1.25, backdoored: 3 } },
  dual: { inversion: { suspicious: -0.5, backdoored: 0.5 }, maskInversion: { suspicious: 0.75, backdoored: 1.25 } },
  maxMargin: { suspicious: 2, backdoored: 6 },
  untargetedMask: { suspicious: 0.5, backdoored: 1 },
};
export const P = { denseSpreadFloor: 0.1, maskAreaShare: 0.08 };
/** The rule alone: every kind of model counts as having measured power here, and the fit saw plain networks only. */
export const calibration = {
  ...CALIBRATION,
  statistics: P,
  power: { multiClass: { detected: 19, of: 19, cleanFlagged: 0, cleanOf: 19 }, binary: { detected: 19, of: 19, cleanFlagged: 0, cleanOf: 19 } },
  networkPower: {},
  networkStatistics: undefined,
  structure: { residual: false, depthwise: false },
};
export const ctx = (over: Partial<ScanContext> = {}): ScanContext => ({
  inputShape: [28, 28, 1],
  numClasses: 10,
  probes: 'in-distribution',
  tier: 'small-input',
  ...over,
});
export const dense = (asr: number[], coverage = 1, share = asr.map(() => 0.1)): DenseEvidence => ({
  options: { epsilon: 0.15 },
  perClass: asr.map((a, c) => ({ class: c, asr: a, share: share[c], testable: share[c] <= 0.5, sourceCoverage: coverage })),
});
export const mask = (l1: number[], inconclusive = false, share = l1.map(() => 0.1)): MaskEvidence => ({
  options: { asrTarget: 0.9 },
  perClass: l1.map((v, c) => ({ class: c, maskL1: v, asr: 0.95, share: share[c], testable: share[c] <= 0.5 })),
  classesReached: inconclusive ? 2 : l1.length,
  inconclusive,
});
/** Ten classes' ASRs: class c at a, the others at 0.05. */
export const tied = (c: number, a: number) => Array.from({ length: 10 }, (_, k) => (k === c ? a : 0.05));
/** A quiet scan of a 10-class model: no trigger wins, no mask stands out. */
export const quiet = { dense: dense(tied(0, 0.2)), mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]) };
