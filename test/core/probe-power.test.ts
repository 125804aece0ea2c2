import { describe, expect, it } from 'vitest';
import type { GateReport } from '../../src/report/types.js';
import { powerAtProbeCount, untargetedThresholds, type EvalRow, type Evidence } from '../../scripts/eval-summary.js';
import { DEFAULT_THRESHOLDS } from '../../src/core/policy.js';
import type { ZooCard } from '../../scripts/zoo.js';
import { calibration, ctx, dense, mask, quiet, T, tied } from '../helpers/evidence.js';

// Evidence whose verdict is known by construction (the rule's own tests check these verdicts):
// a mask a tenth of the others' → `backdoored`; nothing standing out → `clean`; the mask
// inversion inconclusive → `unassessed`.
const found = { dense: dense(tied(0, 0.2)), mask: mask([50, 40, 45, 60, 52, 48, 5, 47, 50, 49]) };
const inconclusive = { dense: dense(tied(0, 0.2)), mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49], true) };

function row(name: string, attack: string | null, probeImages: number, evidence: Omit<Evidence, 'context'>): EvalRow {
  const card = {
    name,
    domain: 'mnist',
    arch: 'cnn',
    head: 'logits',
    split: 'tuning',
    round: 2,
    outputs: 10,
    seed: 0,
    attack,
    poisonedTrainingImages: attack ? 600 : 0,
    cleanAccuracy: 0.98,
    attackSuccessRate: attack ? 0.99 : null,
    trainSeconds: 1,
    backend: 'cpu',
    testSet: 'mnist:test',
  } as ZooCard;
  const report = { data: { source: 'probes', count: probeImages, shape: [28, 28, 1] } } as GateReport;
  return { card, report, seconds: 1, evidence: { ...evidence, context: ctx({ probeImages }) } };
}

/** The same six tuning models scanned with `atCount` and with the benchmark's 256 probes. */
function benchmark(count: number) {
  const models: Array<[string, string | null, Omit<Evidence, 'context'>, Omit<Evidence, 'context'>]> = [
    ['cnn-badnets-t1', 'badnets', found, found], // caught at both counts
    ['cnn-wanet-t5', 'wanet', found, quiet], // caught with 256, missed with fewer
    ['cnn-blended-t2', 'blended', inconclusive, quiet], // unassessed with 256, missed with fewer
    ['cnn-all-to-all-t0', 'all-to-all', quiet, quiet], // a blind spot at both: 256 clears it too
    ['cnn-clean-s1', null, quiet, quiet],
    ['cnn-clean-s2', null, quiet, found],
  ];
  return {
    atCount: models.map(([name, attack, , fewer]) => row(name, attack, count, fewer)),
    at256: models.map(([name, attack, full]) => row(name, attack, 256, full)),
    /** The count's scans finding what 256's found. */
    unchanged: models.map(([name, attack, full]) => row(name, attack, count, full)),
  };
}

describe('power measured on fewer probe images (--fit-probe-power)', () => {
  it('lists the backdoors a count would clear that 256 probes do not, beside the shares flagged', () => {
    const { atCount, at256 } = benchmark(128);
    const entry = powerAtProbeCount(atCount, at256, { thresholds: T, calibration });
    expect(entry.probeImages).toBe(128);
    // Flagged at 128: the BadNets model and one clean model's false alarm.
    expect(entry.power.multiClass).toEqual({ detected: 1, of: 4, cleanFlagged: 1, cleanOf: 2 });
    expect(entry.clearedBackdoors).toEqual(['cnn-wanet-t5', 'cnn-blended-t2']);
  });

  it('lists none when the count catches what 256 catches', () => {
    const { unchanged, at256 } = benchmark(96);
    const entry = powerAtProbeCount(unchanged, at256, { thresholds: T, calibration });
    expect(entry.power.multiClass).toEqual({ detected: 2, of: 4, cleanFlagged: 0, cleanOf: 2 });
    expect(entry.clearedBackdoors).toEqual([]);
  });

  it('refuses to fit without a 256-probe scan of every backdoored tuning model', () => {
    const { atCount, at256 } = benchmark(64);
    expect(() => powerAtProbeCount(atCount, at256.slice(2), { thresholds: T, calibration })).toThrow(
      /no reference scan reading 256 probe images for cnn-badnets-t1, cnn-wanet-t5$/,
    );
    expect(() => powerAtProbeCount(atCount, atCount, { thresholds: T, calibration })).toThrow(/no reference scan reading 256 probe images for cnn-badnets-t1/);
  });
});

describe("the untargeted mask's thresholds (--fit)", () => {
  // Ten per-class masks whose smallest is 40 pixels; the untargeted mask 40·e^−v gives statistic v.
  const withStatistic = (name: string, v: number, numClasses = 10) => {
    const r = row(name, null, 256, {
      dense: quiet.dense,
      mask: { ...mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]), untargeted: { maskL1: 40 * Math.exp(-v), asr: 0.95 } },
    });
    return { ...r, evidence: { ...r.evidence!, context: { ...r.evidence!.context, numClasses } } };
  };
  it('come from the clean models it votes on, by the mask recipe (mean + 3 SD, largest + ¼, rounded up to a quarter)', () => {
    // −1, −0.5, 0, 0.6: mean −0.225, SD 0.685; suspicious ⌈4·max(1.830, 0.85)⌉/4 = 2, backdoored ⌈4·max(3.885, 2.5)⌉/4 = 4.
    const clean = [-1, -0.5, 0, 0.6].map((v, i) => withStatistic(`cnn-clean-s${i}`, v));
    // A model of more classes than the statistic votes on, and one scanned without the row, do not count.
    const many = withStatistic('signs100-cnn-clean-s1', 5, 100);
    const older = row('cnn-clean-s9', null, 256, quiet);
    expect(untargetedThresholds([...clean, many, older])).toEqual({ suspicious: 2, backdoored: 4 });
    expect(untargetedThresholds([older])).toEqual(DEFAULT_THRESHOLDS.untargetedMask);
  });
});
