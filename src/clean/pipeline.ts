// `backdoor-gate clean`: scan → clean → measure → re-scan → write the cleaned model beside (never
// over) the input. The user's small labelled clean set is split: 80 % to scan and clean with,
// 20 % held out to measure accuracy and the recovered trigger's ASR before and after, and to
// re-scan the cleaned model on: a re-scan of the images it was cleaned on would be optimistic.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { decide, isFlagged, MEASURED_PROBE_IMAGES, modelContext, type Decision } from '../core/verdict.js';
import { DEFAULT_PRIOR } from '../core/calibration.js';
import { budgetSettings, DEFAULT_MAX_ACCURACY_DROP, DEFAULT_THRESHOLDS, resolveBudgets, type BudgetSettings, type Thresholds } from '../core/policy.js';
import { DEEP_INVERSION_SPEC, loadLabelledImages, loadProbeImages } from '../data/sources.js';
import { concatImages, pickImages, sliceImages, type ImageSet, type LabelledImageSet } from '../data/types.js';
import { planRows } from '../engine/memory.js';
import { InputError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { writeGateJson } from '../model/gate-json.js';
import { loadModel } from '../model/load.js';
import { readLocalModel } from '../model/source.js';
import { DEFAULT_LIMITS, type ResourceLimits } from '../model/limits.js';
import { SCANS, withInputGradientsOnly } from '../scan/registry.js';
import type { RowLimits } from '../scan/batching.js';
import { d3 } from './d3.js';
import { DEFAULT_ONP, onpPrune } from './onp.js';
import { parRecover } from './par.js';
import { retuneTrial, type RetuneTrial } from './lasting.js';
import { accuracyCostOf, phaseClock, phasesText, type CleanPhase, type CleanReport, type Measurement } from './report.js';
import { pairedCounts } from '../core/intervals.js';
import { sauUnlearn, type SauDetails, type SauOptions } from './sau.js';
import { DEFAULT_DUAL_PAR, parDual } from './par-dual.js';
import { DualEncoderModel } from '../model/dual/adapter.js';
import { accuracyOf, predict, triggerAsr } from './training.js';
import { recoveredTriggers, type RecoveredTrigger } from './triggers.js';
import { INHERITED_REPAIR, PROMPT_REPAIR, TOWER_REPAIR, unlearnTriggers, type CleanLog, type UnlearnHooks, type UnlearnOptions } from './unlearn.js';
import {
  DEFAULT_WARP_INVERSION,
  DEFAULT_WARP_UNLEARN,
  invertWarp,
  unlearnWarps,
  WARP_ASR_THRESHOLD,
  WARP_CHECK_SHIFT,
  WARP_TUNING,
  type WarpDetails,
} from './warp.js';
import { TOOL_NAME, TOOL_VERSION } from '../version.js';

import { AUTO_METHOD, MIN_IMAGES_PER_CLASS, type CleanMethod } from './types.js';
import { percent } from '../util/words.js';
export { AUTO_METHOD, CLEAN_METHODS, MIN_IMAGES_PER_CLASS, type CleanMethod } from './types.js';

/**
 * ONP-style pruning edits tfjs layers; ONNX classifiers are cleaned by trigger unlearning. Dual
 * encoders: a prompt learner is repaired as CLIP-Inspector does (unlearning its recovered
 * trigger, only the prompt learner trained); encoders without one unlearn the trigger in both
 * towers, then PAR follows (see autoRound).
 */
export function autoMethodFor(model: ModelUnderTest): Exclude<CleanMethod, 'auto'> {
  return model.editableLayers ? AUTO_METHOD : 'unlearn';
}

/** A stage `auto` runs after autoMethodFor's method on the models it applies to. */
interface FollowingStage {
  name: string;
  appliesTo(model: ModelUnderTest): model is DualEncoderModel;
  run(
    model: DualEncoderModel,
    data: LabelledImageSet,
    triggers: RecoveredTrigger[],
    seed: number,
    hooks: UnlearnHooks,
    tuning: Partial<UnlearnOptions>,
  ): Promise<CleanLog>;
}

/** What follows autoMethodFor's method in one round of `auto`, in order (autoRound and autoRoundName read it). */
const FOLLOWING_STAGES: readonly FollowingStage[] = [
  {
    // A prompt learner's repair cannot remove a backdoor that lives in the encoders (one planted
    // in pretraining, which a clean prompt learner inherits), and the re-scan after it can be
    // quiet while that backdoor still works (docs/cleaning.md).
    name: 'unlearn (image tower)',
    appliesTo: (model): model is DualEncoderModel => model instanceof DualEncoderModel && model.hasPromptLearner,
    run: (model, data, triggers, seed, hooks, tuning) =>
      unlearnTriggers(model, data, triggers, { ...INHERITED_REPAIR, ...tuning, seed }, { ...hooks, variables: model.towerVariables().image }),
  },
  {
    // Dual encoders whose towers are trained (no prompt learner) and that can caption their
    // labels. On the colour-domain CLIP tuning models (poisoned in pretraining) each alone left one
    // of the two backdoors in place, PAR a patch and unlearning a Blended pattern; one after the
    // other removed both (docs/cleaning.md). Not with a prompt learner: PAR trains the text tower
    // its learned prompt was tuned on (on a CoCoOp tuning model it cost 4.8 points of zero-shot
    // accuracy).
    name: 'par',
    appliesTo: (model): model is DualEncoderModel =>
      model instanceof DualEncoderModel && !model.hasPromptLearner && model.hasTextEncoder && model.templates.length > 0,
    run: (model, data, triggers, seed) => cleanWith('par', model, data, triggers, seed),
  },
];

/** One round of `auto` on a recovered trigger: autoMethodFor's method, then the FOLLOWING_STAGES that apply. */
export async function autoRound(
  model: ModelUnderTest,
  data: LabelledImageSet,
  triggers: RecoveredTrigger[],
  seed: number,
  hooks: Pick<UnlearnHooks, 'alsoUnlearn'> = {},
  tuning: Partial<UnlearnOptions> = {},
): Promise<CleanLog> {
  const first = await cleanWith(autoMethodFor(model), model, data, triggers, seed, hooks, tuning);
  const stages: Array<[string, CleanLog]> = [[first.method, first]];
  for (const stage of FOLLOWING_STAGES) if (stage.appliesTo(model)) stages.push([stage.name, await stage.run(model, data, triggers, seed, hooks, tuning)]);
  if (stages.length === 1) return first;
  return {
    method: stages.map(([name]) => name).join(', then '),
    summary: stages.map(([, log]) => log.summary).join('; then '),
    options: Object.fromEntries(stages.map(([name, log]) => [name, log.options])),
    steps: stages.reduce((a, [, log]) => a + log.steps, 0),
    epochLoss: stages.flatMap(([, log]) => log.epochLoss),
    seconds: stages.reduce((a, [, log]) => a + log.seconds, 0),
    details: Object.fromEntries(stages.map(([name, log]) => [name, log.details ?? {}])),
  };
}

/** The name of what autoRound runs, for logs and reports. */
export const autoRoundName = (model: ModelUnderTest) =>
  [autoMethodFor(model), ...FOLLOWING_STAGES.filter((stage) => stage.appliesTo(model)).map((stage) => stage.name)].join(', then ');
/** Methods that start from the recovered trigger; the others need only clean data. */
const TRIGGER_METHODS: readonly string[] = ['unlearn', 'onp'];

/**
 * Below this held-out ASR the recovered trigger is not the backdoor (it sends too few clean images
 * to the target to be what made the model flagged): auto then cleans without it, by shared
 * adversarial unlearning.
 */
export const RECOVERED_TRIGGER_MIN_ASR = 0.5;

/** Rounds `auto` may take: clean, re-scan, and clean again what the re-scan still finds. */
export const AUTO_MAX_ROUNDS = 3;
/** Epochs of `auto`'s finishing round (see autoClean). */
export const FINISH_EPOCHS = 5;

export type TriggerScan = Awaited<ReturnType<typeof scanForTriggers>>;

/** What `auto` reports: its warp phases, its rounds (each with its method's own details), the finishing round and every phase's time. */
export interface AutoDetails {
  warpPhases: Array<WarpDetails & { asrBefore: number; seconds: number }>;
  rounds: Array<{ target: number; triggers: string[]; seconds: number; verdictAfter: string; details?: object }>;
  finish?: { target: number; epochs: number; seconds: number; verdictAfter?: string };
  phases: CleanPhase[];
}

/**
 * `auto`: clean the trigger the scan recovered with AUTO_METHOD, re-scan, and while the re-scan
 * still names a target, clean that one too (up to `maxRounds`). A recovered trigger is an
 * approximation of the real one; what survives one round is often found by the next scan.
 * Around the rounds, warp phases (warp.ts) for backdoors that answer to a smooth warp; after
 * them a finishing round of unlearning at the first target. The rounds scan `probe`; the last
 * scan, which judges the cleaned model, scans `judge` (images the cleaning never saw).
 */
export async function autoClean(
  model: ModelUnderTest,
  data: LabelledImageSet,
  probe: ImageSet,
  rows: RowLimits,
  first: TriggerScan,
  seed: number,
  policy: CleanPolicy = DEFAULT_CLEAN_POLICY,
  judge: ImageSet = probe,
  maxRounds = AUTO_MAX_ROUNDS,
): Promise<{ log: CleanLog<AutoDetails>; last: TriggerScan; phases: CleanPhase[]; steps: string[] }> {
  const t0 = performance.now();
  const method = autoRoundName(model);
  const rounds: AutoDetails['rounds'] = [];
  const warpPhases: AutoDetails['warpPhases'] = [];
  // What was done, a sentence a step, for the report a reviewer reads.
  const steps: string[] = [];
  let scan = first;
  let optimiserSteps = 0;
  let epochLoss: number[] = [];
  const add = (log: CleanLog) => {
    optimiserSteps += log.steps;
    epochLoss = [...epochLoss, ...log.epochLoss];
  };
  // Every phase's wall time, in order, for the report: where a slow cleaning spends it.
  const clock = phaseClock();
  const rescan = async (phase: string, images: ImageSet) => {
    const out = await scanForTriggers(model, images, rows, seed, policy);
    clock.stop(phase);
    return out;
  };
  // The warp phases and the finishing round were measured on classifiers only; dual encoders
  // (whose prompt-learner repair trains only the prompt) get the rounds alone.
  const classifierPhases = !(model instanceof DualEncoderModel);
  // Warp phase: invert two warps of at most `checkShift` px for the target; from `threshold` up,
  // clean adversarially, starting from warps as wide as the phase's fresh ones (starting from the
  // narrow check warps left less ASR but cost more accuracy than the bar allows: docs/cleaning.md).
  const target = first.decision.suspectedTarget;
  // Every warp the warp phases found is unlearned again in each later fine-tune, on every other
  // step: fine-tuning without them revived the warp (figures in docs/cleaning.md).
  const warps: RecoveredTrigger[] = [];
  const tuning = () => (warps.length ? WARP_TUNING : {});
  const warpPhase = async (threshold: number, checkShift: number): Promise<number | null> => {
    if (target === null) return null;
    const invert = (maxShift: number) => [0, 1].map((i) => invertWarp(model, data, target, { maxShift, seed: seed + 10 * warpPhases.length + i }));
    const checks = invert(checkShift);
    clock.stop('warp check');
    const strongest = Math.max(...checks.map((c) => c.asr));
    const checked = `warp check: fresh warps of at most ${checkShift} px sent ${percent(strongest)} of clean images to class ${target}`;
    if (strongest < threshold) {
      steps.push(`${checked} (under ${(100 * threshold).toFixed(0)} %: ${warpPhases.length ? 'no more warp unlearning' : 'not a warp backdoor'})`);
      return warpPhases.length ? strongest : null;
    }
    const { maxShift } = DEFAULT_WARP_INVERSION;
    const w = await unlearnWarps(model, data, target, checkShift === maxShift ? checks : invert(maxShift), { seed: seed + 1000 * warpPhases.length });
    clock.stop('warp unlearning');
    warps.push(...w.warps);
    add(w);
    steps.push(`${checked}; ${w.summary}`);
    warpPhases.push({ asrBefore: strongest, ...w.details, seconds: w.seconds });
    return w.residualAsr;
  };
  // First: a backdoor that answers to a small smooth warp of nearly every clean image is
  // WaNet-style, which the recovered triggers only approximate (pruning them costs accuracy,
  // leaves the warp).
  let residual = classifierPhases ? await warpPhase(WARP_ASR_THRESHOLD, WARP_CHECK_SHIFT) : null;
  if (residual !== null) scan = await rescan('scan', probe);
  for (let r = 0; r < maxRounds && scan.decision.verdict !== 'clean'; r++) {
    const t = scan.decision.suspectedTarget;
    const triggers = t === null ? [] : recoveredTriggers(model.inputShape, scan).filter((x) => x.target === t);
    if (t === null || !triggers.length) break;
    const log = await autoRound(model, data, triggers, seed + r, { alsoUnlearn: warps }, tuning());
    clock.stop(`round ${r + 1}`);
    add(log);
    scan = await rescan('scan', probe);
    steps.push(`round ${r + 1}: ${log.summary}; the re-scan: ${scan.decision.verdict}`);
    rounds.push({ target: t, triggers: triggers.map((x) => x.source), seconds: log.seconds, verdictAfter: scan.decision.verdict, details: log.details });
  }
  // Finishing round: the rounds stop once the re-scan is clean, but the first target's backdoor is
  // often still partly there (a clean re-scan is not proof). Unlearn, at that target, the triggers
  // a fresh scan recovers there (whatever its verdict) together with the first scan's, and the
  // warps a warp phase found. After a warp phase it trades some accuracy for a lower ASR, which we
  // keep (figures in docs/cleaning.md).
  let finish: AutoDetails['finish'];
  // Fine-tuning after a warp phase can revive the warp (it did before the warps were kept in it):
  // check again, and clean again what fresh warps reach.
  const warpedAgain = residual !== null && rounds.length > 0;
  // A scan after the finishing round that a later scan replaces (after the second warp check, or
  // of the judge's own images, as the clean pipeline always asks) would decide nothing: skipped.
  const judgedLater = warpedAgain || judge !== probe;
  if (classifierPhases && target !== null && rounds.length) {
    const fresh = recoveredTriggers(model.inputShape, atTarget(scan, target));
    const log = await unlearnTriggers(
      model,
      data,
      [...fresh, ...recoveredTriggers(model.inputShape, first).filter((x) => x.target === target)],
      { ...tuning(), epochs: FINISH_EPOCHS, seed: seed + 7 },
      { alsoUnlearn: warps },
    );
    clock.stop('finishing round');
    add(log);
    steps.push(`finishing round at class ${target}: ${log.summary}`);
    if (!judgedLater) scan = await rescan('scan', probe);
    finish = { target, epochs: FINISH_EPOCHS, seconds: log.seconds, ...(judgedLater ? {} : { verdictAfter: scan.decision.verdict }) };
  }
  if (warpedAgain) residual = (await warpPhase(DEFAULT_WARP_UNLEARN.stopAsr, DEFAULT_WARP_INVERSION.maxShift)) ?? residual;
  if (judgedLater) scan = await rescan('judging scan', judge);
  if (residual !== null && target !== null) scan = withWarpCheck(scan, target, residual);
  return {
    log: {
      method: 'auto',
      summary: steps.join('; '),
      options: { method, maxRounds },
      steps: optimiserSteps,
      epochLoss,
      seconds: (performance.now() - t0) / 1000,
      details: { warpPhases, rounds, ...(finish ? { finish } : {}), phases: clock.phases },
    },
    last: scan,
    phases: clock.phases,
    steps,
  };
}

/**
 * The scan as if it had named `target` (its triggers for that class, the verdict `verdict`): what
 * cleaning starts from when another scan found the target this one missed.
 */
export function atTarget(scan: TriggerScan, target: number, verdict: Decision['verdict'] = scan.decision.verdict): TriggerScan {
  return {
    dense: { ...scan.dense, suspectedTarget: target },
    mask: { ...scan.mask, suspectedTarget: target },
    decision: { ...scan.decision, verdict, suspectedTarget: target },
  };
}

/**
 * The re-scan's decision with the warp check in it, for a model the warp phase cleaned: it is
 * done only when fresh warps stopped working (below the phase's stopping ASR); otherwise the
 * model stays flagged, whatever the voting scans say.
 */
export function withWarpCheck(scan: TriggerScan, target: number, residualAsr: number): TriggerScan {
  const d = scan.decision;
  const pct = percent(residualAsr);
  const limit = `${100 * DEFAULT_WARP_UNLEARN.stopAsr} %`;
  if (residualAsr < DEFAULT_WARP_UNLEARN.stopAsr)
    return {
      ...scan,
      decision: {
        ...d,
        reasons: [
          ...d.reasons,
          `warp check: after warp unlearning, fresh warps send at most ${pct} of clean images to class ${target} (flagged from ${limit})`,
        ],
      },
    };
  return {
    ...scan,
    decision: {
      ...d,
      verdict: d.verdict === 'clean' ? 'suspicious' : d.verdict,
      suspectedTarget: d.suspectedTarget ?? target,
      reasons: [
        ...d.reasons,
        `warp check: after warp unlearning, a fresh warp of at most ${DEFAULT_WARP_INVERSION.maxShift} px still sends ${pct} of clean images to class ${target} (flagged from ${limit})`,
      ],
    },
  };
}

/** What sau needs: a frozen copy of the model as it was, and the policy's accuracy limit. */
export interface SauRun {
  reference: ModelUnderTest;
  /** Points of accuracy the policy lets cleaning cost (cleaning.max-accuracy-drop). */
  maxAccuracyDrop: number;
}

/** sau under the policy: its accuracy guard lets the cleaning set lose at most the policy's drop. */
export async function sauUnderPolicy(
  model: ModelUnderTest,
  data: LabelledImageSet,
  seed: number,
  run: SauRun,
  options: Partial<SauOptions> = {},
): Promise<CleanLog<SauDetails>> {
  return sauUnlearn(model, run.reference, data, { ...options, seed, maxAccuracyDrop: run.maxAccuracyDrop / 100 });
}

/** Runs one cleaning method on the model in place; `tuning` adjusts the trigger methods' fine-tunes. */
export async function cleanWith(
  method: Exclude<CleanMethod, 'auto'>,
  model: ModelUnderTest,
  data: LabelledImageSet,
  triggers: RecoveredTrigger[],
  seed: number,
  hooks: Pick<UnlearnHooks, 'alsoUnlearn'> = {},
  tuning: Partial<UnlearnOptions> = {},
  sau?: SauRun,
): Promise<CleanLog> {
  if (TRIGGER_METHODS.includes(method) && !triggers.length)
    throw new Error(`${method} needs the trigger the scan recovered, and the scan recovered none (verdict clean): use sau, d3 or par, or auto`);
  switch (method) {
    case 'sau':
      if (model instanceof DualEncoderModel) throw new Error('sau cleans classifiers; for a dual encoder use par or unlearn');
      if (!sau) throw new Error('sau needs a frozen copy of the model as it was');
      return await sauUnderPolicy(model, data, seed, sau);
    case 'unlearn':
      return await unlearnTriggers(
        model,
        data,
        triggers,
        { ...(model instanceof DualEncoderModel ? (model.hasPromptLearner ? PROMPT_REPAIR : TOWER_REPAIR) : {}), ...tuning, seed },
        hooks,
      );
    case 'onp':
      return await onpPrune(model, data, triggers, { seed, recovery: { ...DEFAULT_ONP.recovery, ...tuning } }, hooks);
    case 'd3':
      return await d3(model, data, { seed });
    case 'par':
      return model instanceof DualEncoderModel ? parDual(model, data, { seed: seed + DEFAULT_DUAL_PAR.seed }) : await parRecover(model, data, { seed });
  }
}

export interface CleanRequest {
  model: string;
  /** Labelled clean data spec (ImageFolder, x.npy + y.npy, mnist:…). */
  data: string;
  out: string;
  method: CleanMethod;
  seed: number;
  /** The user's policy (thresholds, prior, budgets, limits); the defaults when there is none. */
  policy: CleanPolicy;
  /**
   * Clean even when the scan names no target (the user knows the model was poisoned): the class
   * the scans rank most suspicious stands in, as for the benchmark's cleaned-by-mistake controls.
   */
  force?: boolean;
  /**
   * What the gate's scan of the probe data found (the action passes it; the CLI's --target): when the scan of the
   * labelled set names no target, auto cleans at this one. The labelled set is smaller than the
   * probes, and a quiet scan of it left flagged models uncleaned. A null target (a finding that
   * names no class: the untargeted mask) still counts as flagged, and auto cleans without a trigger.
   */
  flagged?: { verdict: 'suspicious' | 'backdoored'; target: number | null };
  /**
   * Unlabelled in-distribution images (the gate's probe data; never synthetic ones): labelled by
   * the model's own answers and added to the cleaning set. A labelled set of a few images per class
   * is too little to fine-tune on without losing accuracy; the model's answers on clean images
   * are what the distillation copies anyway, and no trigger is on them.
   */
  unlabelled?: string;
}

/** Splits every class 80/20 in the data's order (cleaning set, held-out set). */
export function splitHeldOut(set: LabelledImageSet, heldOutFraction = 0.2): [LabelledImageSet, LabelledImageSet] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < set.count; i++) {
    const list = byClass.get(set.labels[i]);
    if (list) list.push(i);
    else byClass.set(set.labels[i], [i]);
  }
  const train: number[] = [];
  const held: number[] = [];
  for (const idx of byClass.values()) {
    const k = Math.max(1, Math.round(idx.length * heldOutFraction));
    held.push(...idx.slice(0, k));
    train.push(...idx.slice(k));
  }
  return [pickImages(set, train), pickImages(set, held)];
}

/**
 * How the user's policy judges a model: the cleaning scans and the re-scan follow it, so a cleaned
 * model passes only by the thresholds (and budgets, and limits) the input was judged by.
 */
export interface CleanPolicy {
  thresholds: Thresholds;
  prior: number;
  budgets: BudgetSettings;
  limits: ResourceLimits;
  /** Points of held-out accuracy the cleaned model may lose and still pass. */
  maxAccuracyDrop: number;
}

export const DEFAULT_CLEAN_POLICY: CleanPolicy = {
  thresholds: DEFAULT_THRESHOLDS,
  prior: DEFAULT_PRIOR,
  budgets: budgetSettings({}),
  limits: DEFAULT_LIMITS,
  maxAccuracyDrop: DEFAULT_MAX_ACCURACY_DROP,
};

/**
 * The two voting scans and their verdict: what cleaning starts from and is checked by. The
 * policy's budgets for the model's size apply, except that trigger inversion reads every labelled
 * image (they are the probes here, and more of them recover a truer trigger to remove).
 */
export async function scanForTriggers(model: ModelUnderTest, probe: ImageSet, rows: RowLimits, seed: number, policy: CleanPolicy = DEFAULT_CLEAN_POLICY) {
  const resolved = resolveBudgets(policy.budgets, model.inputShape);
  const budgets = { ...resolved, inversion: { ...resolved.inversion, images: probe.count } };
  const input = withInputGradientsOnly({ model, probe, budgets, rows, seed, progress: () => () => undefined });
  const dense = await SCANS.inversion.run(input);
  const mask = await SCANS['mask-inversion'].run(input);
  // The labelled cleaning data is in-distribution by construction.
  return {
    dense,
    mask,
    decision: decide(
      { dense, mask },
      // The kind of model picks the thresholds and power, as in the gate's own scan.
      { ...modelContext(model, budgets.tier), probes: 'in-distribution' },
      policy.thresholds,
      { prior: policy.prior },
    ),
  };
}

/** `right`: which held-out images the model answers right (rightOn), whose share is its accuracy. */
function measure(model: ModelUnderTest, heldOut: LabelledImageSet, trigger: RecoveredTrigger | undefined, right: boolean[]): Measurement {
  return { heldOutAccuracy: right.filter(Boolean).length / heldOut.count, recoveredTriggerAsr: trigger ? triggerAsr(model, heldOut, trigger) : null };
}

/** Which held-out images the model answers right: paired before and after, they bound the cost. */
function rightOn(model: ModelUnderTest, heldOut: LabelledImageSet): boolean[] {
  return Array.from(predict(model, heldOut), (a, i) => a === heldOut.labels[i]);
}

/**
 * The unlabelled images worth cleaning with, if any. Synthetic images (noise, or made from the
 * model) are not in-distribution (they would teach the model its answers on them), and the
 * labelled data is not taken twice (its held-out fifth, which judges the cleaned model, must stay
 * unseen).
 */
export function usableUnlabelled(req: Pick<CleanRequest, 'unlabelled' | 'data'>): string | null {
  const spec = req.unlabelled?.trim();
  return spec && spec !== 'synthetic' && spec !== DEEP_INVERSION_SPEC && path.resolve(spec) !== path.resolve(req.data.trim()) ? spec : null;
}

/** One labelled set of both (same image shape). */
export function joinLabelled(a: LabelledImageSet, b: LabelledImageSet): LabelledImageSet {
  const labels = new Int32Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { ...concatImages(a, b, `${a.source} + ${b.source} (labelled by the model)`), labels };
}

/**
 * Unlabelled images the judging re-scan keeps for itself when the user gives at least twice as
 * many: the amount of probes the detection benchmark measured the scans' power with.
 */
export const JUDGE_PROBES = MEASURED_PROBE_IMAGES;

/**
 * The unlabelled images split into those cleaned with and those only the judging re-scan reads
 * (the last JUDGE_PROBES, none when fewer than twice that were given: cleaning keeps them all).
 */
export function holdBackForJudging(unlabelled: ImageSet): [ImageSet, ImageSet | null] {
  if (unlabelled.count < 2 * JUDGE_PROBES) return [unlabelled, null];
  const cut = unlabelled.count - JUDGE_PROBES;
  return [
    sliceImages(unlabelled, 0, cut),
    { ...sliceImages(unlabelled, cut, unlabelled.count), source: `${unlabelled.source} (the last ${JUDGE_PROBES}, held back for the re-scan)` },
  ];
}

/** The images a cleaning reads, as runClean splits them. */
export interface CleaningSets {
  /** The labelled images but the held-out fifth, and the unlabelled ones cleaned with (labelled by the model). */
  cleanSet: LabelledImageSet;
  /** The held-out fifth of the labelled images: the accuracy cost is measured on it. */
  heldOut: LabelledImageSet;
  /** Unlabelled images cleaned with, and those only the judging re-scan reads (holdBackForJudging). */
  unlabelled: ImageSet | null;
  heldBack: ImageSet | null;
  /** What the judging re-scan reads: the held-back images and the held-out fifth. */
  judge: ImageSet;
  /** The trial fine-tune's images: the held-out fifth, and the held-back images labelled by the model. */
  trialSet: LabelledImageSet;
}

/**
 * Splits the labelled and unlabelled images for cleaning `model`; call before it is cleaned, as
 * the unlabelled images take the uncleaned model's answers as labels.
 */
export function cleaningSets(model: ModelUnderTest, labelled: LabelledImageSet, unlabelledImages: ImageSet | null): CleaningSets {
  const [labelledPart, heldOut] = splitHeldOut(labelled);
  // With enough unlabelled images, some judge the cleaned model and are never cleaned with.
  const [unlabelled, heldBack] = unlabelledImages ? holdBackForJudging(unlabelledImages) : [null, null];
  return {
    cleanSet: unlabelled ? joinLabelled(labelledPart, { ...unlabelled, labels: predict(model, unlabelled) }) : labelledPart,
    heldOut,
    unlabelled,
    heldBack,
    judge: heldBack ? concatImages(heldBack, heldOut, `${heldBack.source} + ${heldOut.source} (held out)`) : heldOut,
    // A handful of held-out images cannot tell a revived trigger from noise.
    trialSet: heldBack ? joinLabelled(heldOut, { ...heldBack, labels: predict(model, heldBack) }) : heldOut,
  };
}

/** Images per class (labels are checked to be below `numClasses` before). */
function labelCounts(set: LabelledImageSet, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const l of set.labels) counts[l]++;
  return counts;
}

/** Held-out images per class that the re-scan was tested with (a fifth of 60 labelled per class). */
export const MIN_HELD_OUT_PER_CLASS = 12;

/**
 * The re-scan's decision, unless it says `clean` from fewer held-out images of some class than
 * it was tested with and without JUDGE_PROBES held-back probes: then it had too little to go on,
 * and the cleaned model is `unassessed`.
 */
export function judgedOnHeldOut(decision: Decision, heldOut: LabelledImageSet, numClasses: number, heldBackProbes = 0): Decision {
  const fewest = Math.min(...labelCounts(heldOut, numClasses));
  if (decision.verdict !== 'clean' || fewest >= MIN_HELD_OUT_PER_CLASS || heldBackProbes >= JUDGE_PROBES) return decision;
  const why = `the re-scan of the cleaned model read as few as ${fewest} held-out images of a class (tested with ${MIN_HELD_OUT_PER_CLASS}): give at least ${5 * MIN_HELD_OUT_PER_CLASS} labelled images per class, or at least ${2 * JUDGE_PROBES} unlabelled images (the last ${JUDGE_PROBES} then judge the cleaned model)`;
  return { ...decision, verdict: 'unassessed', unassessed: [why], reasons: [...decision.reasons, `unassessed: ${why}`] };
}

/**
 * A cleaned model whose trigger still comes back in the trial fine-tune after the round of shared
 * adversarial unlearning is not clean, whatever the re-scan says: its removal does not last.
 */
export function revivedInTrial(decision: Decision, trial: CleanReport['retuneTrial']): Decision {
  const last = trial?.sau?.after;
  if (!last?.relearned || decision.verdict === 'backdoored' || decision.verdict === 'suspicious') return decision;
  const why = `a one-epoch fine-tune of a copy brings the recovered trigger back to ${percent(last.asrRetuned)} of ${last.images} images it was not cleaned with, even after shared adversarial unlearning`;
  const { unassessed: _, ...rest } = decision;
  return { ...rest, verdict: 'suspicious', reasons: [...decision.reasons, why] };
}

/** The output must be new (or an empty directory): checked before minutes of cleaning, not after. */
function checkOutputIsNew(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory() || readdirSync(out).length)
    throw new InputError(out, 'already exists and is not an empty directory; refusing to write the cleaned model over it (choose another output directory)');
}

export async function runClean(req: CleanRequest, logger: Logger): Promise<CleanReport> {
  const started = performance.now();
  checkOutputIsNew(req.out);
  const { model, source, gate } = await loadModel(req.model, req.policy.limits);
  try {
    if (!model.canSave)
      throw new InputError(
        req.model,
        `is a ${model.format}: its weights are constants, so it cannot be cleaned (clean the ONNX or tfjs layers model it came from)`,
      );
    const labelled = loadLabelledImages(req.data, { shape: model.inputShape, maxImages: 100_000, seed: req.seed });
    if (req.flagged?.target != null && req.flagged.target >= model.numClasses)
      throw new InputError(req.model, `has ${model.numClasses} classes; the flagged target ${req.flagged.target} is not one of them`);
    const outside = labelled.labels.find((l) => l >= model.numClasses);
    if (outside !== undefined) throw new InputError(req.data, `holds label ${outside}, but the model has ${model.numClasses} classes`);
    const thin = labelCounts(labelled, model.numClasses)
      .map((c, k) => [k, c])
      .filter(([, c]) => c < MIN_IMAGES_PER_CLASS);
    if (thin.length) {
      throw new InputError(
        req.data,
        `has too few labelled clean images for cleaning: class ${thin.map(([k, c]) => `${k} has ${c}`).join(', ')}; give at least ${MIN_IMAGES_PER_CLASS} per class (60 per class is the tested amount)`,
      );
    }
    const unlabelledSpec = usableUnlabelled(req);
    const { cleanSet, heldOut, unlabelled, heldBack, judge, trialSet } = cleaningSets(
      model,
      labelled,
      unlabelledSpec ? loadProbeImages(unlabelledSpec, { shape: model.inputShape, maxImages: 1000, seed: req.seed }) : null,
    );
    const rows = await planRows(model);
    logger.info(
      `clean: scanning ${req.model} on the ${cleanSet.count} images it would be cleaned with${unlabelled ? ` (${unlabelled.count} of them labelled by the model)` : ''}`,
    );
    // The command's own steps and their times (report.timings), auto's inside it in log.details.phases.
    const clock = phaseClock();
    const scanned = await scanForTriggers(model, cleanSet, rows, req.seed, req.policy);
    clock.stop('scan');
    const flaggedTarget = scanned.decision.suspectedTarget === null ? (req.flagged?.target ?? null) : null;
    // The gate's scan flagged it with no class to clean at, and the labelled images' scan did not flag it.
    const flaggedWithoutTarget = req.flagged && req.flagged.target === null && !isFlagged(scanned.decision.verdict) ? req.flagged.verdict : null;
    const before =
      flaggedTarget !== null
        ? atTarget(scanned, flaggedTarget, req.flagged!.verdict)
        : flaggedWithoutTarget
          ? { ...scanned, decision: { ...scanned.decision, verdict: flaggedWithoutTarget } }
          : scanned;
    if (flaggedTarget !== null)
      logger.info(`clean: the labelled images' scan is ${scanned.decision.verdict}; cleaning at class ${flaggedTarget}, which the gate's scan flagged`);
    if (flaggedWithoutTarget)
      logger.info(
        `clean: the labelled images' scan is ${scanned.decision.verdict}; the gate's scan flagged the model (${flaggedWithoutTarget}) without naming a class`,
      );
    // Only the triggers of the class the verdict names: a clean model's smallest mask is no trigger,
    // unless the user forces cleaning; then the most suspicious class (smallest mask first) stands in.
    const forcedTarget = before.decision.suspectedTarget === null && req.force ? (before.mask.suspectedTarget ?? before.dense.suspectedTarget) : null;
    const target = before.decision.suspectedTarget ?? forcedTarget;
    const triggers = target === null ? [] : recoveredTriggers(model.inputShape, before).filter((t) => t.target === target);
    const rightBefore = rightOn(model, heldOut);
    const report: CleanReport = {
      schemaVersion: 1,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      input: { spec: req.model, digest: source.digest },
      method: req.method,
      ...(forcedTarget !== null ? { forcedTarget } : {}),
      ...(flaggedTarget !== null ? { flaggedTarget } : {}),
      ...(flaggedWithoutTarget ? { flaggedWithoutTarget } : {}),
      data: {
        source: labelled.source,
        cleanWith: cleanSet.count,
        heldOut: heldOut.count,
        ...(unlabelled ? { unlabelled: { source: unlabelled.source, images: unlabelled.count } } : {}),
        ...(heldBack ? { heldBackProbes: heldBack.count } : {}),
      },
      before: measure(model, heldOut, triggers[0], rightBefore),
      verdictBefore: scanned.decision.verdict,
      timings: clock.phases,
    };
    // auto: remove what the scans recovered. Cleaning without a trigger (shared adversarial
    // unlearning) when the model was flagged but no recovered trigger of its target works (none,
    // or one that sends too few held-out images there), and when the user forces cleaning of a
    // model the scan passed: the class standing in is only the most suspicious one, and pruning or
    // unlearning its trigger cost clean models up to 5.6 points where sau cost none
    // (docs/cleaning.md). A model nobody flagged is left as it is.
    const flagged = isFlagged(before.decision.verdict);
    const triggerWorks = triggers.length > 0 && (report.before.recoveredTriggerAsr ?? 0) >= RECOVERED_TRIGGER_MIN_ASR;
    const agnostic = req.method === 'auto' && !(model instanceof DualEncoderModel) && (flagged ? !triggerWorks : req.force === true);
    const method = req.method === 'auto' ? (agnostic ? 'sau' : triggers.length ? autoMethodFor(model) : null) : req.method;
    if (!method) {
      report.skipped = flagged
        ? `the model is ${before.decision.verdict}, but no trigger of a class was recovered, and auto cleans a dual encoder only with one (use --method par)`
        : req.force
          ? `the scan found no backdoor (verdict ${before.decision.verdict}) and recovered no trigger at any class to clean, even with --force (use --method sau, d3 or par)`
          : `the scan found no backdoor (verdict ${before.decision.verdict}), so auto leaves the model as it is (--force cleans it anyway)`;
      return report;
    }
    if (agnostic)
      logger.info(
        `clean: ${flagged ? (triggers.length ? `the recovered trigger sends only ${percent(report.before.recoveredTriggerAsr ?? 0)} of held-out images to class ${target}` : 'no trigger was recovered') : 'forced on a model the scan passed'}; cleaning without a trigger (shared adversarial unlearning)`,
      );
    // sau unlearns what fools the model and its frozen original alike: a second copy, never trained.
    const reference = method === 'sau' ? (await loadModel(req.model, req.policy.limits)).model : undefined;
    logger.info(`clean: ${req.method === 'auto' ? `auto (${agnostic ? method : `${autoRoundName(model)}, up to ${AUTO_MAX_ROUNDS} rounds`})` : method}`);
    let after: TriggerScan;
    // A forced clean is one round of the method: auto's rounds go on only while the re-scan flags.
    try {
      if (req.method === 'auto' && forcedTarget === null && !agnostic) {
        let phases: CleanPhase[];
        ({ log: report.log, last: after, phases, steps: report.steps } = await autoClean(model, cleanSet, cleanSet, rows, before, req.seed, req.policy, judge));
        for (const step of report.steps) logger.info(`clean: ${step}`);
        logger.info(`clean: auto took ${report.log.seconds.toFixed(0)} s: ${phasesText(phases)}`);
      } else {
        report.log =
          req.method === 'auto' && !agnostic
            ? await autoRound(model, cleanSet, triggers, req.seed)
            : await cleanWith(method, model, cleanSet, triggers, req.seed, {}, {}, reference && { reference, maxAccuracyDrop: req.policy.maxAccuracyDrop });
        report.steps = [report.log.summary];
        logger.info(`clean: ${report.log.summary}`);
        after = await scanForTriggers(model, judge, rows, req.seed, req.policy);
      }
      clock.stop('cleaning and re-scan');
      // Does the removal of a recovered trigger last? A trial fine-tune of a copy; if the trigger
      // comes back, unlearn the shared adversarial examples against the original, and try once
      // more. Not after sau: its trigger, if any, is one that did not work to begin with.
      if (req.method === 'auto' && !agnostic && triggers.length && !(model instanceof DualEncoderModel)) {
        const gateSpec = gate.found ? gate.spec : undefined;
        const trial = await retuneTrial(model, cleanSet, trialSet, triggers, req.seed, gateSpec);
        report.retuneTrial = trial;
        const trialStep = (t: RetuneTrial) =>
          `trial fine-tune of a copy: the recovered trigger's ASR on ${t.images} images it was not cleaned with ${(100 * t.asrCleaned).toFixed(1)} → ${(100 * t.asrRetuned).toFixed(1)} %: ${t.relearned ? 'it came back' : 'it did not come back'}`;
        report.steps?.push(trialStep(trial));
        logger.info(`clean: ${trialStep(trial)}${trial.relearned ? ', so shared adversarial unlearning follows' : ''}`);
        if (trial.relearned) {
          const original = reference ?? (await loadModel(req.model, req.policy.limits)).model;
          try {
            const sau = await sauUnderPolicy(
              model,
              cleanSet,
              req.seed,
              { reference: original, maxAccuracyDrop: req.policy.maxAccuracyDrop },
              // Distil from the model as cleaned, not from the original: the original's answers
              // taught the trigger back (docs/cleaning.md); the accuracy limit is on the whole cleaning.
              { distillFrom: 'model', accuracyBaseline: accuracyOf(original, cleanSet) },
            );
            const restored = sau.details?.restored;
            report.retuneTrial.sau = {
              seconds: sau.seconds,
              ...(typeof restored === 'string' ? { restored } : {}),
              after: await retuneTrial(model, cleanSet, trialSet, triggers, req.seed, gateSpec),
            };
            for (const step of [`then ${sau.summary}`, `then a second ${trialStep(report.retuneTrial.sau.after)}`]) {
              report.steps?.push(step);
              logger.info(`clean: ${step}`);
            }
          } finally {
            if (original !== reference) original.dispose();
          }
          after = await scanForTriggers(model, judge, rows, req.seed, req.policy);
        }
        clock.stop('trial fine-tune');
      }
    } finally {
      reference?.dispose();
    }
    const rightAfter = rightOn(model, heldOut);
    report.after = measure(model, heldOut, triggers[0], rightAfter);
    report.accuracyCost = accuracyCostOf(report.before, report.after, heldOut.count, req.policy.maxAccuracyDrop, pairedCounts(rightBefore, rightAfter));
    const judged = revivedInTrial(judgedOnHeldOut(after.decision, heldOut, model.numClasses, heldBack?.count ?? 0), report.retuneTrial);
    report.verdictAfter = judged.verdict;
    report.rescannedImages = after.dense.probeImages;
    report.reasonsAfter = judged.reasons;
    await model.save(req.out);
    // The cleaned model reads its inputs as the original did.
    if (gate.found) writeGateJson(req.out, gate.spec);
    const written = readLocalModel(req.out, DEFAULT_LIMITS);
    report.output = { dir: req.out, digest: written.digest };
    clock.stop('measure and write');
    report.totalSeconds = (performance.now() - started) / 1000;
    logger.info(`clean: took ${report.totalSeconds.toFixed(0)} s: ${phasesText(report.timings)}`);
    return report;
  } finally {
    model.dispose();
  }
}
