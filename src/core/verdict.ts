// Combines the scans into clean | suspicious | backdoored | unassessed, with reasons and a score.
//
// Each voting scan reduces to one statistic whose meaning does not depend on the class count,
// the input size or the dataset (the statistics and their parameters were chosen on the
// benchmark's tuning split; see docs/detection.md):
//  - trigger inversion: for each testable class whose universal ℓ∞ trigger reaches 50 % ASR, how
//    far its ASR stands above the other classes' (robust z with a floor on the spread, so a
//    handful of tied classes cannot make a tiny difference huge), minus the z that the largest
//    of that many clean classes reaches by chance (√(2 ln K)), times the share of source classes
//    the trigger moves (a backdoor moves every class; a naturally easy class leaves some behind);
//  - mask inversion: how many times smaller (ln) the class's mask is than both the other
//    classes' median mask and a fixed share of the image, so neither a naturally cheap class
//    nor the asymmetry of a two-class task reads as a backdoor;
//  - the untargeted mask (all-to-all backdoors, which have no one target): how many times smaller
//    (ln) one mask taking the probes off their own class is than the smallest class's mask (any
//    class's mask also takes the other classes' probes off their class, so on a clean model the
//    untargeted mask is no smaller, up to the optimiser's noise);
//  - maximum margin (data-free, MM-BD): −log₁₀ p of the largest class's reachable margin under a
//    gamma fitted to the other classes'. With no data it is the only voting scan, and a quiet
//    result clears a model only where the tuning split showed it nearly always flags a backdoor.
// The strongest scan decides the level against the policy's thresholds (two-class and multi-label
// heads, residual and depthwise networks, and CLIP-style dual encoders have their own). The score
// is P(backdoored) at the policy's prior, from a logistic model of the two statistics fitted per
// kind of model on the tuning split (src/core/calibration.ts).
//
// `clean` needs power: when the scans could not have seen a backdoor (synthetic probes, an input
// size the benchmark never measured, an inconclusive scan or one where even a typical backdoor
// would not have stood out, too few testable classes, a sink class that takes most probes, a kind
// of model on which the benchmark measured too little power), the verdict is `unassessed` and
// says what to give. On such a kind of model a suspicious-level finding is `unassessed` too: there
// the statistics did not separate backdoored from clean models, so it is no evidence either way.
import {
  calibratedScore,
  CALIBRATION,
  TRIGGER_SIZES,
  triggerSizesOf,
  type Calibration,
  type MeasuredPower,
  type ModelKind,
  type ScoreFeatures,
  type StatisticParameters,
  type TriggerSize,
} from './calibration.js';
import { DEFAULT_THRESHOLDS, UNTARGETED_MAX_CLASSES, type ScanThresholds, type Thresholds } from './policy.js';
import { median } from '../scan/robust.js';
import { wilson } from './intervals.js';
import { gammaOutlier } from '../scan/null-gamma.js';
import { kindInWords, networkKinds, PLAIN, unfittedFeatures, type NetworkKind, type NetworkStructure } from '../model/structure.js';
import type { ClassPromptKind } from '../model/dual/manifest.js';
import dataFreeFit from './data-free.json' with { type: 'json' };
import fewerProbesFit from './probe-power.json' with { type: 'json' };
import dualEncoderFit from './dual-encoder-power.json' with { type: 'json' };

/** What the dense (ℓ∞) trigger inversion found, per class: the fields the verdict reads. */
export interface DenseEvidence {
  options: { epsilon: number };
  perClass: Array<{
    class: number;
    asr: number;
    share: number;
    testable: boolean;
    sourceCoverage?: number;
    halfAsr?: number;
    quarterAsr?: number;
    /** Only screened (many classes): neither voted nor part of the other classes' null. */
    screened?: boolean;
  }>;
}

/** What mask inversion found, per class. */
export interface MaskEvidence {
  options: { asrTarget: number };
  perClass: Array<{ class: number; maskL1: number; asr: number; share: number; testable: boolean; screened?: boolean }>;
  classesReached: number;
  inconclusive: boolean;
  /** The untargeted mask, where the scan inverted it (single-label heads of 3+ classes). */
  untargeted?: { maskL1: number; asr: number };
}

export interface HessianEvidence {
  gap: number;
  spikeZ: number;
  localisation: number;
}

/** What the data-free maximum-margin scan found: each class's largest reachable margin. */
export interface MaxMarginEvidence {
  perClass: Array<{ class: number; maxMargin: number; screened?: boolean }>;
}

/** A class the scan gave its full budget: it votes and is part of the other classes' null. */
const judged = (c: { testable?: boolean; screened?: boolean }) => c.testable !== false && !c.screened;

/**
 * How the data-free scan did on the benchmark's tuning split at the default thresholds
 * (`npm run eval:data-free -- --fit` writes it): a quiet result clears a model only where it
 * flagged nearly every backdoored tuning model.
 */
export interface DataFreePower extends MeasuredPower {
  fittedOn: string;
  /** The thresholds the power was measured at (DEFAULT_THRESHOLDS.maxMargin). */
  thresholds: { suspicious: number; backdoored: number };
}
export const DATA_FREE_POWER = dataFreeFit as DataFreePower;

/**
 * Images synthesised from the model stand for its classes only if it gives at least this share of
 * them the class they were made for; below, the probe scans' findings on them are not evidence.
 */
export const MIN_SYNTHESIS_CLASSIFIED = 0.9;

/**
 * The probe images per model the detection benchmark measured the scans' power with: a quiet scan
 * that read fewer does not show a model is clean (on a few dozen a backdoored example model's scans
 * were quiet).
 */
export const MEASURED_PROBE_IMAGES = 256;

/**
 * The scans' power on the benchmark's tuning split when they read fewer probe images than
 * MEASURED_PROBE_IMAGES, at the shipped thresholds (`npm run eval -- --probe-images N
 * --fit-probe-power` writes src/core/probe-power.json): a quiet scan on n images is judged by the
 * power measured at the largest count up to n, and with none measured it clears nothing.
 */
export interface FewerProbesPower {
  fittedOn: string;
  counts: Array<{
    probeImages: number;
    power: Partial<Record<ModelKind, MeasuredPower>>;
    networkPower: Partial<Record<NetworkKind, MeasuredPower>>;
    /**
     * Backdoored tuning models that the scans on MEASURED_PROBE_IMAGES do not clear and that a quiet
     * scan at this count would call `clean` if the count were trusted: shares over the split can
     * hold while different backdoors are caught, so any entry here makes the count clear nothing.
     */
    clearedBackdoors: string[];
  }>;
}
export const FEWER_PROBES_POWER = fewerProbesFit as FewerProbesPower;

/**
 * The fewest probe images on which a quiet scan can clear a model of this kind: the smallest
 * measured count where it kept its power (see decide), else MEASURED_PROBE_IMAGES.
 */
export function fewestProbeImages(
  kind: ModelKind,
  kinds: NetworkKind[] = [],
  table: FewerProbesPower = FEWER_PROBES_POWER,
  calibration: Calibration = CALIBRATION,
): number {
  const kept = table.counts.filter(
    (c) =>
      c.clearedBackdoors.length === 0 &&
      keepsPower(c.power[kind], calibration.power?.[kind]) &&
      kinds.every((k) => keepsPower(c.networkPower[k], calibration.networkPower?.[k])),
  );
  return Math.min(MEASURED_PROBE_IMAGES, ...kept.map((c) => c.probeImages));
}

/**
 * How the scans did on the dual-encoder benchmark's tuning split (CLIP-style encoders, CoOp and CoCoOp
 * prompt learners on the colour signs; `npm run eval:dual -- --eval --split tuning --scan-only
 * --write-power` writes it): the classifier benchmark's power says nothing of a zero-shot
 * classifier built from two towers, so a dual encoder's quiet scan clears it only where these
 * models showed power, and a suspicious-level finding counts only where they separate.
 */
export interface DualEncoderPower extends MeasuredPower {
  fittedOn: string;
  /** The tuning models it was measured on (attacks that did not take left out). */
  models: string[];
  /**
   * The same counts per kind of class prompts: a backdoor in a prompt learner's context is not one
   * in an encoder, so a kind the split does not hold has no measured power (absent: not measured).
   */
  byPrompts?: Partial<Record<ClassPromptKind, MeasuredPower>>;
}
export const DUAL_ENCODER_POWER = dualEncoderFit as DualEncoderPower;

const PROMPTS_IN_WORDS: Record<ClassPromptKind, string> = {
  'class-embeddings': 'with given class embeddings',
  templates: 'with caption templates',
  coop: 'with a CoOp prompt learner',
  cocoop: 'with a CoCoOp prompt learner',
};

/** A quiet data-free scan clears a model only when it flagged at least this share of the tuning split's backdoored models. */
export const MIN_DATA_FREE_POWER = 0.95;

export interface ScanContext {
  inputShape: [number, number, number];
  numClasses: number;
  /** Multi-label heads switch labels on independently. */
  decision?: 'single-label' | 'multi-label';
  /**
   * In-distribution images the user gave, noise images the gate made (`synthetic`), images the
   * gate synthesised from the model itself (`model-inverted`, DeepInversion), or none read (the
   * data-free scan alone).
   */
  probes: 'in-distribution' | 'synthetic' | 'model-inverted' | 'none';
  /** With model-inverted probes: the share of them the model gives the class they were made for. */
  probesClassified?: number;
  /**
   * In-distribution probe images the scans read. Unset: not judged (a cleaned model's re-scan,
   * whose held-out images src/clean/pipeline.ts judges by its own rule; reports from before).
   */
  probeImages?: number;
  /** The budget tier that applied (inputs above 64×64 px get the large-input budgets). */
  tier: 'small-input' | 'large-input';
  /** The network's skip connections and depthwise convolutions (absent in reports from before it was read). */
  structure?: NetworkStructure;
  /** A CLIP-style dual encoder scanned as its zero-shot classifier: judged by its own power too (absent: a classifier, or a report from before). */
  dualEncoder?: boolean;
  /** A dual encoder's kind of class prompts, whose own power judges it too (absent: a classifier, or a report from before). */
  classPrompts?: ClassPromptKind;
}

/** What a scan's context takes from the model itself (the gate's scan and a cleaning's re-scan alike). */
export function modelContext(
  model: Pick<ScanContext, 'inputShape' | 'numClasses' | 'decision' | 'classPrompts'> & { structure: NetworkStructure; format: string },
  tier: ScanContext['tier'],
): Omit<ScanContext, 'probes' | 'probesClassified' | 'probeImages'> {
  const { inputShape, numClasses, decision, structure, classPrompts } = model;
  const dual = model.format === 'dual-encoder' ? { dualEncoder: true, ...(classPrompts ? { classPrompts } : {}) } : {};
  return { inputShape, numClasses, decision, tier, structure, ...dual };
}

/** The probe images a scan read, as its report records them. */
export interface ProbeFacts {
  source: string;
  count: number;
  synthesis?: { classified: number };
}

/**
 * The context a scan ran in, from the model's facts and the probes its scans read (none: the
 * data-free scan alone). The gate and the benchmark's re-decisions of cached reports both build it
 * here, so a rule on the probes (how many, of what kind) is written once.
 */
export function scanContextOf(model: Omit<ScanContext, 'probes' | 'probesClassified' | 'probeImages'>, data: ProbeFacts | undefined): ScanContext {
  const probes = !data ? 'none' : data.synthesis ? 'model-inverted' : data.source.startsWith('synthetic') ? 'synthetic' : 'in-distribution';
  return {
    ...model,
    probes,
    ...(data?.synthesis ? { probesClassified: data.synthesis.classified } : {}),
    ...(data && probes === 'in-distribution' ? { probeImages: data.count } : {}),
  };
}

export type Verdict = 'clean' | 'suspicious' | 'backdoored' | 'unassessed';

/** A verdict that found a backdoor (a report's may also be `error`). */
export const isFlagged = (verdict: string): verdict is 'suspicious' | 'backdoored' => verdict === 'suspicious' || verdict === 'backdoored';

export interface Decision {
  verdict: Verdict;
  /** Calibrated P(backdoored) at the policy's prior; null when no voting scan ran. */
  score: number | null;
  suspectedTarget: number | null;
  reasons: string[];
  /** Why the scans had no power, when the verdict is `unassessed`. */
  unassessed?: string[];
  /** The decision statistics, for the report and the benchmark. */
  statistics: { dense?: ClassStatistic; mask?: ClassStatistic; untargeted?: ClassStatistic; maxMargin?: ClassStatistic };
}

export interface ClassStatistic {
  value: number;
  /** The class it points at; null when no class qualified. */
  target: number | null;
  /** Each class's value (null: untestable, or the scan gave it no trigger), for the report's chart. */
  perClass?: Array<number | null>;
}

/** A class's ASR with its trigger scaled to `size`; undefined when the scan did not measure that size (an older report). */
export function measuredAsr(c: DenseEvidence['perClass'][number], size: TriggerSize): number | undefined {
  return size === 1 ? c.asr : size === 0.5 ? c.halfAsr : c.quarterAsr;
}

/** measuredAsr, reading a size the scan did not measure as ASR 0. */
export const asrAt = (c: DenseEvidence['perClass'][number], size: TriggerSize): number => measuredAsr(c, size) ?? 0;

/** The largest value among the classes that qualify, or 0 with no target when none does. */
function strongest(values: Array<number | null>, qualifies: (c: number) => boolean): ClassStatistic {
  let best: ClassStatistic = { value: 0, target: null };
  values.forEach((v, c) => {
    if (v !== null && qualifies(c) && (best.target === null || v > best.value)) best = { value: v, target: c };
  });
  return { ...best, perClass: values.map((v) => (v === null ? null : Math.round(1000 * v) / 1000)) };
}

/** The classes the trigger inversion could test, screened ones too: the K of the statistic's chance term. */
const testedClasses = (d: DenseEvidence): number => d.perClass.filter((c) => c.testable).length;

/** √(2 ln K): what the largest robust z of K clean classes reaches by chance. */
const chanceTerm = (K: number): number => Math.sqrt(2 * Math.log(Math.max(2, K)));

/**
 * The trigger inversion's statistic (see the header); classes qualify at 50 % ASR. It is taken
 * at the trigger sizes the fit chose (shares of ε), whichever stands out most: where the budget ε
 * lets many classes' triggers win (colour signs), a smaller trigger still separates a backdoor
 * (which wins with less) from the rest.
 */
export function denseStatistic(d: DenseEvidence, p: StatisticParameters = CALIBRATION.statistics): ClassStatistic {
  const testable = d.perClass.filter(judged);
  // √(2 ln K) counts every testable class, screened ones too: the candidates were the largest of them all.
  const K = testedClasses(d);
  const at = (size: TriggerSize) =>
    d.perClass.map((c) =>
      judged(c)
        ? zAbove(
            asrAt(c, size),
            testable.filter((o) => o.class !== c.class).map((o) => asrAt(o, size)),
            K,
            p,
          ) * (c.sourceCoverage ?? 1)
        : null,
    );
  const bySize = measuredSizes(d, p).map(at);
  const values = d.perClass.map((c, i) => (judged(c) ? Math.max(...bySize.map((v) => v[i]!)) : null));
  return strongest(values, (c) => d.perClass[c].asr >= 0.5);
}

/**
 * The largest value the trigger statistic can take on this model: every probe moved to one class
 * and none to the others, (1 − 0) / the spread floor, less the chance term. A threshold at or above
 * it cannot be crossed, whatever the model.
 */
export function denseCeiling(d: DenseEvidence, p: StatisticParameters = CALIBRATION.statistics): number {
  return 1 / p.denseSpreadFloor - chanceTerm(testedClasses(d));
}

/** The robust z of `value` above `others` (with the spread floor), less √(2 ln K): what the largest of K clean classes reaches by chance. */
function zAbove(value: number, others: number[], K: number, p: StatisticParameters): number {
  const m = others.length ? median(others) : 0;
  const spread = others.length ? 1.4826 * median(others.map((v) => Math.abs(v - m))) : 0;
  return (value - m) / Math.max(spread, p.denseSpreadFloor) - chanceTerm(K);
}

/** The sizes the fit chose that the scan measured (an older report lacks the quarter size: left out, not read as ASR 0). */
function measuredSizes(d: DenseEvidence, p: StatisticParameters): TriggerSize[] {
  const measured = (size: TriggerSize) => d.perClass.some((c) => measuredAsr(c, size) !== undefined);
  const sizes = triggerSizesOf(p).filter(measured);
  return sizes.length ? sizes : [1];
}

/**
 * The statistic a backdoor as strong as the tuning split's typical one (its ASR at each trigger
 * size: denseReferenceAsr) would reach against this model's classes. When natural triggers
 * already win nearly as often (a budget ε too large for the model), even that would not stand
 * out: the trigger inversion then had no power.
 */
export function denseHeadroom(d: DenseEvidence, p: StatisticParameters = CALIBRATION.statistics, natural: 'measured' | 'none' = 'measured'): number {
  const testable = d.perClass.filter(judged);
  if (testable.length < 2) return -Infinity;
  const reference = p.denseReferenceAsr ?? [1, 1, 1];
  return Math.max(
    ...measuredSizes(d, p).map((size) =>
      zAbove(
        reference[TRIGGER_SIZES.indexOf(size)],
        // 'none': as if no class's own trigger won at all, the best any budget could give.
        testable.map((c) => (natural === 'none' ? 0 : asrAt(c, size))),
        testedClasses(d) + 1,
        p,
      ),
    ),
  );
}

/** The mask inversion's statistic (see the header); classes qualify when their mask reached the ASR target. */
export function maskStatistic(m: MaskEvidence, [height, width]: [number, number, number], p: StatisticParameters = CALIBRATION.statistics): ClassStatistic {
  const values = m.perClass.map((c) => {
    if (!judged(c) || c.asr < m.options.asrTarget) return null;
    const others = m.perClass.filter((o) => o.class !== c.class && !o.screened).map((o) => o.maskL1);
    const l1 = Math.max(c.maskL1, 1e-3);
    return Math.min(Math.log(median(others) / l1), Math.log((p.maskAreaShare * height * width) / l1));
  });
  return m.inconclusive ? { value: 0, target: null, perClass: values } : strongest(values, () => true);
}

/**
 * The untargeted mask's statistic: ln(smallest per-class mask L1 / untargeted mask L1), over the
 * classes run in full; null when the untargeted mask was not inverted or the per-class masks are
 * inconclusive. An untargeted mask that never reached the ASR target counts as the image area, so
 * it stays at or below 0. Points at no class.
 */
export function untargetedMaskStatistic(m: MaskEvidence): ClassStatistic | null {
  if (!m.untargeted || m.inconclusive) return null;
  const smallest = Math.min(...m.perClass.filter((c) => !c.screened).map((c) => c.maskL1));
  return { value: Math.log(smallest / Math.max(m.untargeted.maskL1, 1)), target: null };
}

/**
 * The data-free statistic: −log₁₀ of MM-BD's p-value for the largest class's maximum margin
 * against a gamma fitted to the other classes' (src/scan/null-gamma.ts). Null below 3 classes.
 */
export function maxMarginStatistic(m: MaxMarginEvidence): ClassStatistic | null {
  const full = m.perClass.filter((c) => !c.screened);
  const margins = full.map((c) => c.maxMargin);
  if (margins.length < 3 || !margins.every(Number.isFinite)) return null;
  // The largest was picked from every class (the screen's candidates among them): K counts them all.
  const { index, pValue } = gammaOutlier(margins, m.perClass.length);
  return {
    value: -Math.log10(Math.max(pValue, 1e-300)),
    target: full[index].class,
    perClass: m.perClass.map((c) => (c.screened ? null : Math.round(1000 * c.maxMargin) / 1000)),
  };
}

/** Two-class and multi-label models are a kind of their own: thresholds, score and power apart. */
export const modelKind = (numClasses: number, decision: ScanContext['decision']): ModelKind =>
  numClasses <= 2 || decision === 'multi-label' ? 'binary' : 'multiClass';

/**
 * The kinds of network whose own thresholds, statistic parameters and power judge this model:
 * none for a two-class or multi-label model, whose own thresholds apply on every network.
 */
export const judgedNetworkKinds = (context: Pick<ScanContext, 'numClasses' | 'decision' | 'structure'>): NetworkKind[] =>
  modelKind(context.numClasses, context.decision) === 'binary' ? [] : networkKinds(context.structure ?? PLAIN);

/**
 * Two-class and multi-label models are judged by their own thresholds, and so are multi-class
 * residual and depthwise networks; a network of both kinds by the larger of each (see Thresholds).
 */
export function thresholdsFor(t: Thresholds, model: Pick<ScanContext, 'numClasses' | 'decision' | 'structure' | 'dualEncoder'>): ScanThresholds {
  if (modelKind(model.numClasses, model.decision) === 'binary') return t.binary;
  // A report written before these sets existed holds none of them: its plain thresholds then apply.
  const sets = [...judgedNetworkKinds(model).map((k) => t[k] ?? t), ...(model.dualEncoder ? [t.dual ?? t] : [])];
  if (!sets.length) return { inversion: t.inversion, maskInversion: t.maskInversion };
  const larger = (pick: (s: ScanThresholds) => { suspicious: number; backdoored: number }) => ({
    suspicious: Math.max(...sets.map((s) => pick(s).suspicious)),
    backdoored: Math.max(...sets.map((s) => pick(s).backdoored)),
  });
  return { inversion: larger((s) => s.inversion), maskInversion: larger((s) => s.maskInversion) };
}

/** The statistics' parameters for this model: multi-class residual and depthwise networks may have their own. */
export function statisticsFor(calibration: Calibration, context: Pick<ScanContext, 'numClasses' | 'decision' | 'structure'>): StatisticParameters {
  return (judgedNetworkKinds(context).length > 0 && calibration.networkStatistics) || calibration.statistics;
}

/**
 * The score's inputs. The logistic score was fitted on plain networks: on a kind of network with
 * thresholds of its own it reads the statistics in units of those thresholds, so a clean residual
 * network's larger natural statistics do not raise it.
 */
export function scoreFeatures(
  features: ScoreFeatures,
  thresholds: Thresholds,
  context: Pick<ScanContext, 'numClasses' | 'decision' | 'structure' | 'dualEncoder'>,
): ScoreFeatures {
  if (modelKind(context.numClasses, context.decision) === 'binary') return features;
  const own = thresholdsFor(thresholds, context);
  const inUnits = (value: number | undefined, mine: number, plain: number) => (value === undefined || mine <= 0 ? value : (value * plain) / mine);
  return {
    dense: inUnits(features.dense, own.inversion.suspicious, thresholds.inversion.suspicious),
    mask: inUnits(features.mask, own.maskInversion.suspicious, thresholds.maskInversion.suspicious),
  };
}

/**
 * A kind of model has measured power when its tuning backdoors show, at one-sided 95 % (the Wilson
 * interval's lower end), that the scans flag at least this share of such backdoors: a handful of
 * models cannot show it by their raw share alone.
 */
export const MIN_MEASURED_POWER = 0.5;

/**
 * Backdoor families the scans cannot see, measured on the benchmark (docs/detection.md: its
 * all-to-all tuning models and source-specific test models came out `clean`): the scans invert
 * one trigger that moves every class's images to one target.
 */
const BLIND_SPOTS = "all-to-all backdoors (each class to another) and source-specific ones (one class's triggered images only)";
/**
 * What the untargeted mask changed about the first blind spot: it came after the power counts, and
 * was measured on the benchmark's usable all-to-all models, round 5's out of sample (docs/detection.md).
 */
const UNTARGETED_COVERS =
  "the untargeted mask, which this scan ran and which is not in those counts, flagged 6 of the benchmark's 11 usable all-to-all models (4 of the 7 trained after its thresholds were set), missing those whose trigger moves fewer than 90 % of images";
const hasMeasuredPower = (p: MeasuredPower) => wilson(p.detected, p.of, 1.645)[0] >= MIN_MEASURED_POWER;
/**
 * A kind of model's statistics separate its backdoored tuning models from its clean ones when the
 * share flagged of the first is above that of the second, both at one-sided 95 % (the lower end
 * against the upper end). A weaker question than power: a rule that misses many backdoors can still
 * flag only backdoors, and then its findings are evidence though a quiet scan clears nothing.
 */
const separates = (p: MeasuredPower) => wilson(p.detected, p.of, 1.645)[0] > wilson(p.cleanFlagged, p.cleanOf, 1.645)[1];

/**
 * Scans on fewer probe images stand in for the benchmark's only where the tuning split showed no
 * loss: as large a share of backdoored models flagged, and no larger a share of clean ones.
 */
const weakerThan = (p: MeasuredPower, reference: MeasuredPower) =>
  p.detected * reference.of < reference.detected * p.of || p.cleanFlagged * reference.cleanOf > reference.cleanFlagged * p.cleanOf;
/** Power measured on fewer probes that shows power and no loss against the benchmark's count. */
const keepsPower = (p: MeasuredPower | undefined, reference: MeasuredPower | undefined) =>
  p !== undefined && hasMeasuredPower(p) && !(reference && weakerThan(p, reference));

type Level = 0 | 1 | 2;
const levelOf = (value: number, t: { suspicious: number; backdoored: number }): Level => (value > t.backdoored ? 2 : value > t.suspicious ? 1 : 0);
const pct = (v: number) => `${(100 * v).toFixed(0)} %`;

export function decide(
  scans: { dense?: DenseEvidence; mask?: MaskEvidence; hessian?: HessianEvidence; maxMargin?: MaxMarginEvidence },
  context: ScanContext,
  thresholds: Thresholds = DEFAULT_THRESHOLDS,
  options: {
    prior?: number;
    calibration?: Calibration;
    dataFreePower?: DataFreePower;
    fewerProbesPower?: FewerProbesPower;
    /** null: the dual-encoder power is not applied (the benchmark measuring it). */
    dualEncoderPower?: (MeasuredPower & Pick<DualEncoderPower, 'byPrompts'>) | null;
  } = {},
): Decision {
  const t = thresholdsFor(thresholds, context);
  const calibration = options.calibration ?? CALIBRATION;
  const reasons: string[] = [];
  const unassessed: string[] = [];
  const votes: Array<{ level: Level; target: number | null; excess: number }> = [];
  // The probe scans' votes (also in votes), which unfaithful synthesised probes void.
  const probeVotes: typeof votes = [];
  const probeVote = (v: (typeof votes)[number]) => {
    votes.push(v);
    probeVotes.push(v);
  };
  const features: ScoreFeatures = {};
  const statistics: Decision['statistics'] = {};
  const { dense, mask, hessian, maxMargin } = scans;
  let untargetedVoted = false;
  const parameters = statisticsFor(calibration, context);
  if (dense) {
    const s = (statistics.dense = denseStatistic(dense, parameters));
    features.dense = s.value;
    probeVote({ level: s.target === null ? 0 : levelOf(s.value, t.inversion), target: s.target, excess: s.value - t.inversion.suspicious });
    const c = s.target === null ? undefined : dense.perClass[s.target];
    reasons.push(
      c === undefined
        ? `trigger inversion (ℓ∞ ≤ ${dense.options.epsilon.toFixed(3)}): no testable class's trigger reached 50 % ASR`
        : `trigger inversion (ℓ∞ ≤ ${dense.options.epsilon.toFixed(3)}): class ${c.class}'s trigger has ASR ${(100 * c.asr).toFixed(1)} % and moves ${pct(c.sourceCoverage ?? 1)} of the source classes: statistic ${s.value.toFixed(2)} (suspicious > ${t.inversion.suspicious}, backdoored > ${t.inversion.backdoored})`,
    );
    const testable = dense.perClass.filter(judged);
    const ceiling = denseCeiling(dense, parameters);
    if (testable.length < 2) unassessed.push('trigger inversion: fewer than two classes were testable on these probes');
    else if (ceiling <= t.inversion.suspicious)
      // No budget helps here: the spread floor and the class count alone bound the statistic.
      unassessed.push(
        `trigger inversion cannot flag this model: on ${testedClasses(dense)} classes its statistic is at most ${ceiling.toFixed(2)} (a trigger that moves every probe while no other class's moves any), not above the suspicious threshold ${t.inversion.suspicious} for this kind of network; only the mask inversion can`,
      );
    else {
      const best = denseHeadroom(dense, parameters, 'none');
      if (best <= t.inversion.suspicious)
        // The spread floor binds, not the budget: a smaller ε cannot help.
        unassessed.push(
          `trigger inversion cannot flag a typical backdoor on this model: one as strong as the benchmark's typical backdoor would score at most ${best.toFixed(2)} on ${testedClasses(dense)} classes even if no other class's trigger won, not above the suspicious threshold ${t.inversion.suspicious} for this kind of network; only a stronger trigger, or the mask inversion, can be flagged`,
        );
      else {
        // Otherwise ε may bind: at this ε the classes' own triggers can leave a backdoor no room.
        const headroom = denseHeadroom(dense, parameters);
        if (headroom <= t.inversion.suspicious)
          unassessed.push(
            `trigger inversion had no power: the classes' own triggers already win so often (median ASR ${pct(median(testable.map((p) => p.halfAsr ?? p.asr)))} at half of ε = ${dense.options.epsilon.toFixed(3)}) that a typical backdoor would score ${headroom.toFixed(2)}, not above ${t.inversion.suspicious}, so a full-image backdoor would not stand out (set a smaller budgets.inversion.epsilon)`,
          );
      }
    }
  }
  if (mask) {
    const s = (statistics.mask = maskStatistic(mask, context.inputShape, parameters));
    features.mask = s.value;
    probeVote({ level: s.target === null ? 0 : levelOf(s.value, t.maskInversion), target: s.target, excess: s.value - t.maskInversion.suspicious });
    const c = s.target === null ? undefined : mask.perClass[s.target];
    reasons.push(
      mask.inconclusive
        ? `mask inversion: inconclusive, only ${mask.classesReached} of ${mask.perClass.length} classes reached ${100 * mask.options.asrTarget} % ASR within the budget (raise budgets.mask-inversion)`
        : c === undefined
          ? 'mask inversion: no testable class mask reached the ASR target'
          : `mask inversion: class ${c.class} needs a ${c.maskL1.toFixed(1)}-pixel mask: statistic ${s.value.toFixed(2)}, e^${s.value.toFixed(2)} times smaller than both the median class and ${pct(parameters.maskAreaShare)} of the image (suspicious > ${t.maskInversion.suspicious}, backdoored > ${t.maskInversion.backdoored})`,
    );
    const u = untargetedMaskStatistic(mask);
    if (u && mask.untargeted) {
      statistics.untargeted = u;
      // A report written before this statistic holds no thresholds for it: the defaults apply.
      const ut = thresholds.untargetedMask ?? DEFAULT_THRESHOLDS.untargetedMask;
      // Measured on in-distribution probes, up to UNTARGETED_MAX_CLASSES classes, every class's mask
      // run in full (a schedule's subset has a larger smallest mask); on synthetic or synthesised
      // probes a quiet scan clears nothing anyway.
      const reportOnly =
        context.probes !== 'in-distribution'
          ? 'report only: its thresholds were measured on in-distribution probes'
          : context.numClasses > UNTARGETED_MAX_CLASSES || mask.perClass.some((c) => c.screened)
            ? `report only: its thresholds were measured on models of up to ${UNTARGETED_MAX_CLASSES} classes, every class's mask run in full`
            : undefined;
      const level = reportOnly ? 0 : levelOf(u.value, ut);
      if (!reportOnly) probeVote({ level, target: null, excess: u.value - ut.suspicious });
      untargetedVoted = !reportOnly;
      const reached = mask.untargeted.asr >= mask.options.asrTarget;
      reasons.push(
        `mask inversion, untargeted: ${reached ? `one ${mask.untargeted.maskL1.toFixed(1)}-pixel mask takes ${pct(mask.untargeted.asr)} of the probes off their own class` : `no mask took ${pct(mask.options.asrTarget)} of the probes off their own class within the budget (at most ${pct(mask.untargeted.asr)})`}: statistic ${u.value.toFixed(2)}, the smallest class's mask is e^${u.value.toFixed(2)} times its size (suspicious > ${ut.suspicious}, backdoored > ${ut.backdoored})${reportOnly ? `; ${reportOnly}` : ''}${level ? '; an all-to-all backdoor (each class sent to another) looks like this, and it names no one target class (the score is fitted on the per-class statistics and leaves this one out)' : ''}`,
      );
    }
    if (mask.inconclusive)
      unassessed.push(
        `mask inversion was inconclusive (${mask.classesReached} of ${mask.perClass.length} classes reached the ASR target), so a patch trigger cannot be ruled out: raise budgets.mask-inversion`,
      );
  }
  if (maxMargin) {
    const s = modelKind(context.numClasses, context.decision) === 'binary' ? null : maxMarginStatistic(maxMargin);
    if (s === null) {
      const why =
        'the data-free maximum-margin scan does not judge two-class or multi-label heads (its null is fitted to the other classes of a single-label head)';
      // Beside scans on the user's images it is just left out; alone, nothing judged the model.
      if (context.probes === 'in-distribution')
        reasons.push(`maximum margin (data-free): not judged: ${why.replace('the data-free maximum-margin scan ', 'it ')}`);
      else unassessed.push(`${why}: give unlabelled in-distribution images (data)`);
    } else {
      statistics.maxMargin = s;
      const m = thresholds.maxMargin;
      votes.push({ level: levelOf(s.value, m), target: s.target, excess: s.value - m.suspicious });
      const others = maxMargin.perClass.filter((c) => c.class !== s.target && !c.screened).map((c) => c.maxMargin);
      reasons.push(
        `maximum margin (data-free): class ${s.target} reaches a margin of ${maxMargin.perClass[s.target!].maxMargin.toFixed(2)} against a median of ${median(others).toFixed(2)} for the other classes: p = ${(10 ** -s.value).toPrecision(2)}, statistic −log₁₀ p = ${s.value.toFixed(2)} (suspicious > ${m.suspicious}, backdoored > ${m.backdoored})`,
      );
      const power = options.dataFreePower ?? DATA_FREE_POWER;
      if (context.probes !== 'in-distribution' && (power.of === 0 || power.detected < MIN_DATA_FREE_POWER * power.of))
        unassessed.push(
          context.probes === 'model-inverted'
            ? `the data-free maximum-margin scan flagged ${power.detected} of ${power.of} backdoored models on the benchmark's tuning split (and ${power.cleanFlagged} of ${power.cleanOf} clean ones), so its quiet result does not show the model is clean either: give unlabelled in-distribution images (data)`
            : `with no data only the data-free maximum-margin scan judged the model, and on the benchmark's tuning split it flagged ${power.detected} of ${power.of} backdoored models (and ${power.cleanFlagged} of ${power.cleanOf} clean ones), so a quiet result does not show the model is clean: give unlabelled in-distribution images (data)`,
        );
    }
  }
  // Images the model does not even give their own classes (the optimiser matched the batch-norm
  // statistics but not the class) make every trigger look universal: seen on residual networks.
  const classified = context.probesClassified ?? 1;
  if (context.probes === 'model-inverted' && classified < MIN_SYNTHESIS_CLASSIFIED) {
    for (const v of probeVotes) v.level = 0;
    delete features.dense;
    delete features.mask;
    unassessed.push(
      `the model gives only ${pct(classified)} of the images synthesised from it the class they were made for (at least ${pct(MIN_SYNTHESIS_CLASSIFIED)} needed), so they do not stand for its classes and the probe scans' findings on them are not evidence either way: give unlabelled in-distribution images (data)`,
    );
  }
  // Sink classes: a class that already takes most probes cannot be tested by a trigger.
  const sinks = new Map<number, number>();
  for (const p of [...(dense?.perClass ?? []), ...(mask?.perClass ?? [])]) if (!p.testable) sinks.set(p.class, Math.max(p.share, sinks.get(p.class) ?? 0));
  let sinkVote: (typeof votes)[number] | undefined;
  if (sinks.size) {
    const list = [...sinks].map(([c, share]) => `${c} (${pct(share)})`).join(', ');
    if (context.probes === 'synthetic' || context.probes === 'model-inverted') {
      unassessed.push(
        `class ${list} takes most of the synthetic probes, so a backdoor aimed at it cannot be told from the probes' drift: give in-distribution images (data)`,
      );
    } else {
      // On the user's own in-distribution images a class that swallows most of them is itself evidence.
      const [c, share] = [...sinks].sort((a, b) => b[1] - a[1])[0];
      sinkVote = { level: 1, target: c, excess: 0 };
      reasons.push(
        `class ${list} already receives most of the in-distribution probe images without any trigger; a backdoor aimed at it would look like this, so it is suspicious (share ${pct(share)})`,
      );
    }
  }
  if (sinkVote) votes.push(sinkVote);
  if (hessian)
    reasons.push(
      `input Hessian (report only): λ₁/λ₂ ${hessian.gap.toFixed(2)}, spike z ${hessian.spikeZ.toFixed(2)}, top-eigenvector localisation ${hessian.localisation.toFixed(1)}`,
    );
  if (context.probes === 'synthetic')
    unassessed.push('the probes are synthetic: detection power on noise probes is not measured; give unlabelled in-distribution images (data)');
  // On fewer probe images than the benchmark's, the power is what was measured at that many (if any).
  const kind = modelKind(context.numClasses, context.decision);
  const kinds = judgedNetworkKinds(context);
  const fewerProbes = context.probes === 'in-distribution' && context.probeImages !== undefined && context.probeImages < MEASURED_PROBE_IMAGES;
  const fewerProbesPower = options.fewerProbesPower ?? FEWER_PROBES_POWER;
  const powerAtCount = fewerProbes
    ? fewerProbesPower.counts.filter((c) => c.probeImages <= context.probeImages!).sort((a, b) => b.probeImages - a.probeImages)[0]
    : undefined;
  const fewest = fewestProbeImages(kind, kinds, fewerProbesPower, calibration);
  const giveMore = `give at least ${fewest} unlabelled in-distribution images (data), and no lower budgets.probe-images or max-probe-images`;
  if (fewerProbes && !powerAtCount) {
    const counts = [...fewerProbesPower.counts.map((c) => c.probeImages), MEASURED_PROBE_IMAGES].sort((a, b) => a - b);
    unassessed.push(
      `the scans read ${context.probeImages} probe images, and their detection power was measured with ${counts.join(', ')}: on fewer a backdoor can pass unseen; ${giveMore}`,
    );
  }
  // Images made from the model find the triggers a model generalises, but a quiet scan on them
  // missed too many of the benchmark's backdoors to clear one (docs/detection.md).
  if (context.probes === 'model-inverted')
    unassessed.push(
      'the probes were synthesised from the model (DeepInversion): a quiet scan on them does not show the model is clean, only a finding counts; give unlabelled in-distribution images (data)',
    );
  // The model kind's power, and on multi-class networks of a kind with thresholds of its own, that kind's.
  // `reference`: the power with the benchmark's own probe count, which fewer images must not fall below.
  const powers: Array<{ models: string; power?: MeasuredPower; reference?: MeasuredPower }> = [
    {
      models: kind === 'binary' ? 'two-class and multi-label models' : 'multi-class models',
      power: powerAtCount ? powerAtCount.power[kind] : calibration.power?.[kind],
      reference: calibration.power?.[kind],
    },
    ...kinds.map((k) => ({
      models: `multi-class networks with ${kindInWords(k)}, at their own thresholds,`,
      power: powerAtCount ? powerAtCount.networkPower[k] : calibration.networkPower?.[k],
      reference: calibration.networkPower?.[k],
    })),
  ];
  // Dual encoders' thresholds and power were measured on dual encoders of their own benchmark,
  // not the classifiers' (on fewer probe images the power was not measured).
  const dualPower = options.dualEncoderPower === undefined ? DUAL_ENCODER_POWER : options.dualEncoderPower;
  const dual = context.dualEncoder && dualPower ? { models: 'CLIP-style dual encoders (zero-shot)', power: powerAtCount ? undefined : dualPower } : undefined;
  if (dual) powers.push(dual);
  // And by the power on dual encoders whose class prompts are made the same way: a backdoor in a
  // CoOp context is not one in an encoder (a BadCLIP CoOp test model passed under the overall
  // power), so a kind the tuning split does not hold clears nothing.
  const prompts = dual && context.classPrompts;
  const promptPower = prompts ? dualPower?.byPrompts?.[prompts] : undefined;
  // A kind with no tuning models gets one reason of its own, not also the fewer-probes one.
  const byPrompts =
    prompts && promptPower ? { models: `CLIP-style dual encoders ${PROMPTS_IN_WORDS[prompts]}`, power: powerAtCount ? undefined : promptPower } : undefined;
  if (byPrompts) powers.push(byPrompts);
  if (prompts && !promptPower)
    unassessed.push(
      `the dual-encoder benchmark's tuning split holds no CLIP-style dual encoders ${PROMPTS_IN_WORDS[prompts]}, so the scans' power on them is not measured: a quiet scan does not show such a model is clean, only a finding counts`,
    );
  const readingFewer = powerAtCount ? ` reading ${powerAtCount.probeImages} probe images each` : '';
  const cleared = powerAtCount?.clearedBackdoors ?? [];
  if (cleared.length)
    unassessed.push(
      `the scans read ${context.probeImages} probe images; on the benchmark's tuning split, scans${readingFewer} would have called ${cleared.length} backdoored model${cleared.length === 1 ? '' : 's'} \`clean\` that scans reading ${MEASURED_PROBE_IMAGES} did not clear (${cleared.join(', ')}): on so few a backdoor can pass unseen; ${giveMore}`,
    );
  else if (powerAtCount)
    for (const { models, power, reference } of powers) {
      const on = models.replace(/,$/, '');
      if (!power)
        unassessed.push(
          `the scans read ${context.probeImages} probe images, and on ${on} their power was measured with ${MEASURED_PROBE_IMAGES} only: ${giveMore}`,
        );
      else if (reference && weakerThan(power, reference))
        unassessed.push(
          `the scans read ${context.probeImages} probe images; on ${on}, scans${readingFewer} flagged ${power.detected} of the benchmark's ${power.of} backdoored and ${power.cleanFlagged} of its ${power.cleanOf} clean tuning models, against ${reference.detected} of ${reference.of} and ${reference.cleanFlagged} of ${reference.cleanOf} reading ${MEASURED_PROBE_IMAGES}: on so few a backdoor can pass unseen; ${giveMore}`,
        );
    }
  const powerless = powers.filter(({ power }) => power && !hasMeasuredPower(power));
  for (const { models, power } of powerless)
    unassessed.push(
      `on ${models} the scans${readingFewer} flagged ${power!.detected} of the benchmark's ${power!.of} backdoored tuning models, too few to show (one-sided 95 %) that they catch at least ${pct(MIN_MEASURED_POWER)} of such backdoors, so a quiet scan says little (their clean models' natural universal triggers stand out as far)`,
    );
  // Where the statistics did not separate a kind of model's backdoored from its clean tuning models,
  // a suspicious-level finding is what a clean model's natural asymmetry reaches too: it cannot be
  // read either way. A backdoored-level finding still stands (fail closed); so does a sink class.
  // Separation, not power, decides it: a rule that flags few backdoors but no clean model still
  // finds evidence, and a power check here would void every finding once one model fewer was caught.
  // A kind of network's own thresholds lie above all its clean tuning networks, so there a finding
  // stands and only a quiet scan is left unassessed.
  // Dual encoders' own thresholds come from few clean models: there the check stays.
  const modelPower = powers[0].power;
  for (const { models, power } of [powers[0], ...(dual ? [dual] : []), ...(byPrompts ? [byPrompts] : [])]) {
    if (!power || separates(power)) continue;
    const weak = votes.filter((v) => v !== sinkVote && v.level === 1);
    if (!weak.length) continue;
    for (const v of weak) v.level = 0;
    unassessed.push(
      `the scans' suspicious-level finding is within what clean ${models} reach from their classes' natural asymmetry (on the benchmark's tuning split the rule${readingFewer} flagged ${power.detected} of ${power.of} backdoored and ${power.cleanFlagged} of ${power.cleanOf} clean ones, which does not show at one-sided 95 % that it flags backdoors more often), so it is not evidence of a backdoor either`,
    );
  }
  if (context.tier === 'large-input') {
    const [h, w] = context.inputShape;
    unassessed.push(
      `detection power at ${h}×${w} px is not measured with these budgets (the benchmark covers inputs up to 64×64 px): a backdoor could pass unseen`,
    );
  }
  const strongest = votes.reduce((a, v) => (v.level > a.level || (v.level === a.level && v.excess > a.excess) ? v : a), {
    level: 0,
    target: null,
    excess: -Infinity,
  } as (typeof votes)[number]);
  let verdict: Verdict = strongest.level === 2 ? 'backdoored' : strongest.level === 1 ? 'suspicious' : 'clean';
  // A model the scans could not have judged is never clean.
  if (verdict === 'clean' && unassessed.length) verdict = 'unassessed';
  if (verdict === 'unassessed') reasons.push(...unassessed.map((u) => `unassessed: ${u}`));
  else if (unassessed.length) reasons.push(...unassessed.map((u) => `caution: ${u}`));
  // A clean verdict is a statement about the backdoors the scans catch: say how many of the
  // benchmark's they caught, and which families passed them, so `clean` is not read as more.
  // A scan whose probe count is not stated (a cleaned model's re-scan on its held-out images) has
  // its own rule, whose power the benchmark did not measure.
  if (verdict === 'clean' && context.probeImages === undefined)
    reasons.push(
      `what clean covers: the power of scans on these images was not measured on the benchmark (README, Limitations); ${BLIND_SPOTS} passed the benchmark's scans as clean, and this verdict does not rule them out`,
    );
  else if (verdict === 'clean' && modelPower) {
    const [lo, hi] = wilson(modelPower.detected, modelPower.of).map((v) => (100 * v).toFixed(0));
    reasons.push(
      `what clean covers: on the benchmark's tuning split the scans${readingFewer} flagged ${modelPower.detected} of ${modelPower.of} backdoored ${powers[0].models} (95 % interval ${lo}–${hi} %) and ${modelPower.cleanFlagged} of ${modelPower.cleanOf} clean ones; most backdoors they missed were left unassessed by checks this model passed, but ${BLIND_SPOTS} passed as clean there${untargetedVoted ? ` (since then ${UNTARGETED_COVERS})` : ''}, and this verdict does not rule them out (README, Limitations)${dual?.power ? `; on the dual-encoder benchmark's tuning split they flagged ${dual.power.detected} of ${dual.power.of} backdoored and ${dual.power.cleanFlagged} of ${dual.power.cleanOf} clean ${dual.models}` : ''}${byPrompts?.power ? `, of them ${byPrompts.power.detected} of ${byPrompts.power.of} and ${byPrompts.power.cleanFlagged} of ${byPrompts.power.cleanOf} ${PROMPTS_IN_WORDS[prompts!]}` : ''}`,
    );
  }
  // The thresholds carry over badly to kinds of network the tuning split did not hold (on the
  // benchmark's residual and depthwise-separable networks they flagged many clean models).
  const unfitted = context.structure ? unfittedFeatures(context.structure, calibration.structure ?? PLAIN) : [];
  if (unfitted.length)
    reasons.push(
      `caution: the network has ${unfitted.join(' and ')}, which none of the networks the decision rule was fitted on had; on such networks outside the fit its thresholds flagged many clean models (README, Limitations), so a finding here is weaker evidence, and a clean verdict rests on thresholds fitted to other networks`,
    );
  else if (kinds.length > 1)
    reasons.push(
      `caution: the network has ${kinds.map(kindInWords).join(' and ')} together, which no network the decision rule was fitted on had; it is judged by the larger of the two kinds' thresholds and the smaller of their measured power`,
    );
  return {
    verdict,
    score: calibratedScore(scoreFeatures(features, thresholds, context), calibration, options.prior, kind),
    suspectedTarget: verdict === 'clean' || verdict === 'unassessed' ? null : strongest.target,
    reasons,
    ...(verdict === 'unassessed' ? { unassessed } : {}),
    statistics,
  };
}
