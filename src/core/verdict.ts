// Combines the scans into clean | suspicious | backdoored with reasons (per-scan thresholds from
// the policy; the strongest scan decides) and a score in [0,1]: P(backdoored) from the logistic
// model fitted on the zoo (src/core/calibration.ts). The Hessian scan is reported, not voted.
import { calibratedScore, type ScoreFeatures } from './calibration.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from './policy.js';
import type { HessianResult } from '../scan/hessian.js';
import type { InversionResult } from '../scan/inversion.js';
import type { MaskInversionResult } from '../scan/mask-inversion.js';

export interface Decision {
  verdict: 'clean' | 'suspicious' | 'backdoored';
  /** Calibrated P(backdoored); null when no voting scan ran. */
  score: number | null;
  suspectedTarget: number | null;
  reasons: string[];
}

type Level = 0 | 1 | 2;
const levelOf = (value: number, t: { suspicious: number; backdoored: number }): Level => (value > t.backdoored ? 2 : value > t.suspicious ? 1 : 0);

export function decide(scans: { dense?: InversionResult; mask?: MaskInversionResult; hessian?: HessianResult }, t: Thresholds = DEFAULT_THRESHOLDS): Decision {
  const reasons: string[] = [];
  // Each voting scan's level, target, and how far past its suspicious threshold it is (ties).
  const votes: Array<{ level: Level; target: number | null; excess: number }> = [];
  const features: ScoreFeatures = {};
  const { dense, mask, hessian } = scans;
  if (dense) {
    const target = dense.suspectedTarget;
    features.dense = target === null ? 0 : dense.anomaly;
    votes.push({ level: target === null ? 0 : levelOf(dense.anomaly, t.inversion), target, excess: features.dense / t.inversion.suspicious });
    reasons.push(
      target === null
        ? `trigger inversion (ℓ∞ ≤ ${dense.options.epsilon.toFixed(3)}): no class trigger reached 50 % ASR`
        : `trigger inversion (ℓ∞ ≤ ${dense.options.epsilon.toFixed(3)}): class ${target} trigger has ASR ${(100 * dense.perClass[target].asr).toFixed(1)} %, anomaly ${dense.anomaly.toFixed(2)} (suspicious > ${t.inversion.suspicious}, backdoored > ${t.inversion.backdoored})`,
    );
  }
  if (mask) {
    const target = mask.suspectedTarget;
    features.mask = mask.ratio;
    votes.push({ level: target === null ? 0 : levelOf(mask.ratio, t.maskInversion), target, excess: mask.ratio / t.maskInversion.suspicious });
    reasons.push(
      target === null
        ? mask.inconclusive
          ? `mask inversion: inconclusive, only ${mask.classesReached} of ${mask.perClass.length} classes reached ${100 * mask.options.asrTarget} % ASR within the budget (raise budgets.mask-inversion)`
          : 'mask inversion: no class mask reached the ASR target'
        : `mask inversion: class ${target} needs a ${mask.perClass[target].maskL1.toFixed(1)}-pixel mask, e^${mask.ratio.toFixed(2)} times smaller than the median class (suspicious > e^${t.maskInversion.suspicious}, backdoored > e^${t.maskInversion.backdoored})`,
    );
  }
  // Classes that take most probes (each scan may use a different subset: report the larger share).
  const untestable = new Map<number, number>();
  for (const p of [...(dense?.perClass ?? []), ...(mask?.perClass ?? [])]) if (!p.testable) untestable.set(p.class, Math.max(p.share, untestable.get(p.class) ?? 0));
  if (untestable.size) {
    const list = [...untestable].map(([c, share]) => `${c} (${(100 * share).toFixed(0)} %)`).join(', ');
    reasons.push(`caution: class ${list} already receives most probe images, so a trigger for it cannot be told from the probes' drift; it is reported, not voted (give in-distribution probe data)`);
  }
  if (hessian) {
    reasons.push(`input Hessian (report only): λ₁/λ₂ ${hessian.gap.toFixed(2)}, spike z ${hessian.spikeZ.toFixed(2)}, top-eigenvector localisation ${hessian.localisation.toFixed(1)}`);
  }
  const strongest = votes.reduce((a, v) => (v.level > a.level || (v.level === a.level && v.excess > a.excess) ? v : a), { level: 0, target: null, excess: 0 } as (typeof votes)[number]);
  const verdict = strongest.level === 2 ? 'backdoored' : strongest.level === 1 ? 'suspicious' : 'clean';
  return { verdict, score: calibratedScore(features), suspectedTarget: verdict === 'clean' ? null : strongest.target, reasons };
}
