// What the mask experiments (mask-form.ts, trigger-features.ts) share: the scan's mask statistic
// (src/core/verdict.ts, plain parameters) on a cached record's per-class mask sizes and ASRs.
import { CALIBRATION } from '../../src/core/calibration.js';
import { maskStatistic } from '../../src/core/verdict.js';
import { DEFAULT_MASK_INVERSION } from '../../src/scan/mask-inversion.js';

/** The mask statistic of these classes' masks on an H×W image, and the class it points at. */
export function maskStatisticOf(l1: readonly number[], asr: readonly number[], [H, W]: [number, number]): { value: number; class: number } {
  const evidence = {
    options: { asrTarget: DEFAULT_MASK_INVERSION.asrTarget },
    perClass: l1.map((maskL1, c) => ({ class: c, maskL1, asr: asr[c], share: 0, testable: true })),
    classesReached: asr.filter((a) => a >= DEFAULT_MASK_INVERSION.asrTarget).length,
    inconclusive: false,
  };
  const s = maskStatistic(evidence, [H, W, 1], CALIBRATION.statistics);
  return { value: s.value, class: s.target ?? -1 };
}
