// The cleaning report and how the policy judges the cleaned model: pure (no tensors), so the
// action, the CLI and the report renderers share one rule for "the cleaned model passes".
import { pairedDifferenceInterval, type PairedCounts } from '../core/intervals.js';
import type { Decision } from '../core/verdict.js';
import type { RetuneTrial } from './lasting.js';
import type { CleanLog } from './unlearn.js';
import { percent } from '../util/words.js';

export interface CleanReport {
  schemaVersion: 1;
  tool: { name: string; version: string };
  input: { spec: string; digest: string };
  output?: { dir: string; digest: string };
  method: string;
  /** With --force on a model the scan passed: the class that stood in for the target. */
  forcedTarget?: number;
  /** The gate's target, cleaned at because the scan of the labelled set named none. */
  flaggedTarget?: number;
  /**
   * The gate's verdict on a model its scan flagged without naming a target (the untargeted mask),
   * when the scan of the labelled set did not flag it: cleaned without a trigger.
   */
  flaggedWithoutTarget?: 'suspicious' | 'backdoored';
  /** Why nothing was written, when nothing was. */
  skipped?: string;
  /**
   * auto's trial fine-tune of a copy of the cleaned model (lasting.ts); `sau`: the round of shared
   * adversarial unlearning that followed because the trigger came back on the copy (`restored`:
   * what its accuracy guard undid).
   */
  retuneTrial?: RetuneTrial & { sau?: { seconds: number; restored?: string; after: RetuneTrial } };
  /** heldBackProbes: unlabelled images only the judging re-scan read (pipeline.ts, holdBackForJudging). */
  data: { source: string; cleanWith: number; heldOut: number; unlabelled?: { source: string; images: number }; heldBackProbes?: number };
  before: Measurement;
  after?: Measurement;
  log?: CleanLog;
  /** What the cleaning did, a sentence a step, in order (auto's rounds, the trial fine-tune): the audit a reviewer reads. */
  steps?: string[];
  verdictBefore: Decision['verdict'];
  /** The re-scan's verdict on the cleaned model, from images it was not cleaned with (held out, held back). */
  verdictAfter?: Decision['verdict'];
  /** Probe images the re-scan read (none of them was cleaned with). */
  rescannedImages?: number;
  reasonsAfter?: string[];
  /** The held-out accuracy the cleaning cost, against what the policy allows. */
  accuracyCost?: AccuracyCost;
  /** The command's steps and their wall times, in order (auto's own phases: log.details.phases). */
  timings: CleanPhase[];
  /** From reading the model to writing the cleaned one (absent when nothing was cleaned). */
  totalSeconds?: number;
}

/** One step of a cleaning and its wall time. */
export interface CleanPhase {
  phase: string;
  seconds: number;
}

/** A lap timer: each stop(phase) records the time since the previous stop (or since the clock was made). */
export function phaseClock(): { phases: CleanPhase[]; stop(phase: string): void } {
  const phases: CleanPhase[] = [];
  let lap = performance.now();
  return {
    phases,
    stop(phase) {
      const now = performance.now();
      phases.push({ phase, seconds: (now - lap) / 1000 });
      lap = now;
    },
  };
}

/** "warp check 16 s, warp unlearning 95 s, …" for logs and reports. */
export const phasesText = (phases: readonly CleanPhase[]) => phases.map((p) => `${p.phase} ${p.seconds.toFixed(0)} s`).join(', ');

export interface AccuracyCost {
  /** Held-out accuracy before minus after, in percentage points (negative: it rose). */
  points: number;
  /** The policy's `cleaning.max-accuracy-drop`. */
  allowedPoints: number;
  /** The images it was measured on: one of them is 100 / heldOutImages points. */
  heldOutImages: number;
  /**
   * Two-sided 95 % interval of the points lost on images like these (Newcombe's paired method):
   * how far the held-out figure can be from the cost on the whole distribution. The policy
   * judges `points`; a wide interval says to give more labelled images.
   */
  interval95?: [number, number];
  /** Held-out images right before and wrong after, and the reverse. */
  changed?: { worse: number; better: number };
  withinPolicy: boolean;
}

/**
 * What cleaning cost, judged by the policy. The same held-out images before and after, so the
 * difference is paired; a cost over the limit fails however clean the re-scan (fail closed: a
 * model that unlearned part of its task is not shipped).
 */
export function accuracyCostOf(before: Measurement, after: Measurement, heldOutImages: number, allowedPoints: number, pairs?: PairedCounts): AccuracyCost {
  const points = 100 * (before.heldOutAccuracy - after.heldOutAccuracy);
  const paired = pairs
    ? {
        interval95: pairedDifferenceInterval(pairs).map((v) => 100 * v) as [number, number],
        changed: { worse: pairs.rightThenWrong, better: pairs.wrongThenRight },
      }
    : {};
  // Float noise must not fail an exact hit on the limit (1 image of 50 is exactly 2 points).
  return { points, allowedPoints, heldOutImages, ...paired, withinPolicy: points <= allowedPoints + 1e-9 };
}

/** A cleaned model passes when it was written, its re-scan is clean and its accuracy cost is within the policy. */
export function cleanedModelPasses(report: CleanReport): boolean {
  return cleanedModelFailure(report) === undefined;
}

/** Why a cleaned model does not pass (the one rule), for warnings and the exit message; undefined when it passes. */
export function cleanedModelFailure(report: CleanReport): string | undefined {
  if (!report.output) return report.skipped ?? 'nothing was written';
  if (report.verdictAfter !== 'clean') return `its re-scan is ${report.verdictAfter}`;
  const cost = report.accuracyCost;
  if (!cost?.withinPolicy)
    return `it loses ${cost ? cost.points.toFixed(1) : '?'} points of held-out accuracy, more than the policy's cleaning.max-accuracy-drop (${cost?.allowedPoints ?? '?'})`;
  return undefined;
}

export interface Measurement {
  /** Accuracy on the held-out part of the user's labelled data. */
  heldOutAccuracy: number;
  /** Held-out images (not of the target) the recovered trigger sends to the target. */
  recoveredTriggerAsr: number | null;
}

/** "method: held-out accuracy a → b, recovered-trigger ASR c → d": one line for logs and warnings. */
export function cleanSummary(report: CleanReport): string {
  const pct = (v: number | null | undefined) => (v == null ? 'n/a' : percent(v));
  return `${report.method}: held-out accuracy ${pct(report.before.heldOutAccuracy)} → ${pct(report.after?.heldOutAccuracy)}, recovered-trigger ASR ${pct(report.before.recoveredTriggerAsr)} → ${pct(report.after?.recoveredTriggerAsr)}`;
}
