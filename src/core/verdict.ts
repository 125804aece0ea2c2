// Combines the scans into clean | suspicious | backdoored, with reasons and a score in [0,1].
// PRELIMINARY: thresholds were chosen by looking at the 14-model zoo (in-sample) and the score
// is a hand-set logistic, not yet a calibrated probability; see the README.
import type { HessianResult } from '../scan/hessian.js';
import type { InversionResult } from '../scan/inversion.js';
import type { MaskInversionResult } from '../scan/mask-inversion.js';

export interface Thresholds {
  /** Dense (ℓ∞) trigger: MAD anomaly of its ASR, among triggers with ASR ≥ 50 %. */
  denseSuspicious: number;
  denseBackdoored: number;
  /** Mask trigger: ln(median L1 / smallest L1). */
  maskSuspicious: number;
  maskBackdoored: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { denseSuspicious: 2, denseBackdoored: 4, maskSuspicious: 1.0, maskBackdoored: 1.4 };

export interface Decision {
  verdict: 'clean' | 'suspicious' | 'backdoored';
  score: number;
  suspectedTarget: number | null;
  reasons: string[];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function decide(scans: { dense?: InversionResult; mask?: MaskInversionResult; hessian?: HessianResult }, t: Thresholds = DEFAULT_THRESHOLDS): Decision {
  const reasons: string[] = [];
  const evidence: Array<{ level: 0 | 1 | 2; target: number | null; score: number }> = [];
  const { dense, mask, hessian } = scans;
  if (dense) {
    const target = dense.suspectedTarget;
    const asr = target === null ? 0 : dense.perClass[target].asr;
    const level = target === null ? 0 : dense.anomaly > t.denseBackdoored ? 2 : dense.anomaly > t.denseSuspicious ? 1 : 0;
    evidence.push({ level, target, score: target === null ? 0 : sigmoid(1.5 * (dense.anomaly - (t.denseSuspicious + t.denseBackdoored) / 2)) });
    reasons.push(
      target === null
        ? `trigger inversion (ℓ∞ ≤ ${dense.options.epsilon}): no class trigger reached 50 % ASR`
        : `trigger inversion (ℓ∞ ≤ ${dense.options.epsilon}): class ${target} trigger has ASR ${(100 * asr).toFixed(1)} %, anomaly ${dense.anomaly.toFixed(2)} (suspicious > ${t.denseSuspicious}, backdoored > ${t.denseBackdoored})`,
    );
  }
  if (mask) {
    const target = mask.suspectedTarget;
    const level = target === null ? 0 : mask.ratio > t.maskBackdoored ? 2 : mask.ratio > t.maskSuspicious ? 1 : 0;
    evidence.push({ level, target, score: sigmoid(8 * (mask.ratio - (t.maskSuspicious + t.maskBackdoored) / 2)) });
    reasons.push(
      target === null
        ? 'mask inversion: no class mask reached the ASR target'
        : `mask inversion: class ${target} needs a ${mask.perClass[target].maskL1.toFixed(1)}-pixel mask, e^${mask.ratio.toFixed(2)} times smaller than the median class (suspicious > e^${t.maskSuspicious}, backdoored > e^${t.maskBackdoored})`,
    );
  }
  if (hessian) {
    reasons.push(`input Hessian (report only): λ₁/λ₂ ${hessian.gap.toFixed(2)}, spike z ${hessian.spikeZ.toFixed(2)}, top-eigenvector localisation ${hessian.localisation.toFixed(1)}`);
  }
  const strongest = evidence.reduce((a, e) => (e.level > a.level || (e.level === a.level && e.score > a.score) ? e : a), { level: 0, target: null, score: 0 } as (typeof evidence)[number]);
  const verdict = strongest.level === 2 ? 'backdoored' : strongest.level === 1 ? 'suspicious' : 'clean';
  const score = Math.max(0, ...evidence.map((e) => e.score));
  return { verdict, score, suspectedTarget: verdict === 'clean' ? null : strongest.target, reasons };
}
