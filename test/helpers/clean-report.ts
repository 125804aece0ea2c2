// A hand-made cleaning report: k of n held-out images right before and after, the policy's limit,
// the re-scan's verdict. For tests of the pass rule and its rendering, whose expected figures are
// worked out from k and n, not taken from a cleaner.
import { accuracyCostOf, type CleanReport } from '../../src/clean/report.js';

export function cleaningReport(
  correctBefore: number,
  correctAfter: number,
  of: number,
  allowed: number,
  verdictAfter: CleanReport['verdictAfter'] = 'clean',
): CleanReport {
  const before = { heldOutAccuracy: correctBefore / of, recoveredTriggerAsr: 1 };
  const after = { heldOutAccuracy: correctAfter / of, recoveredTriggerAsr: 0 };
  // The images lost are among those right before; none is gained (when accuracy falls).
  const pairs =
    correctAfter <= correctBefore
      ? { bothRight: correctAfter, rightThenWrong: correctBefore - correctAfter, wrongThenRight: 0, bothWrong: of - correctBefore }
      : { bothRight: correctBefore, rightThenWrong: 0, wrongThenRight: correctAfter - correctBefore, bothWrong: of - correctAfter };
  return {
    schemaVersion: 1,
    tool: { name: 'backdoor-gate', version: 'test' },
    input: { spec: 'm', digest: 'sha256:0' },
    output: { dir: 'cleaned', digest: 'sha256:1' },
    method: 'd3',
    data: { source: 'clean-data', cleanWith: 4 * of, heldOut: of },
    before,
    after,
    verdictBefore: 'backdoored',
    verdictAfter,
    accuracyCost: accuracyCostOf(before, after, of, allowed, pairs),
    timings: [],
  };
}
