// The benchmark's numbers from cached scan evidence: the shipped decision rule applied per model,
// and (with --fit) the rule's parameters, thresholds and score fitted on the tuning split, the
// statistics' parameters chosen on tuning and validation. Rates come with 95 % Wilson intervals;
// the test split is what the README reports.
import { writeFileSync } from 'node:fs';
import {
  CALIBRATION,
  calibratedScore,
  featureVector,
  fitWithLeaveOneOut,
  type Calibration,
  type FeatureSet,
  type MeasuredPower,
  type ModelKind,
  type ScoreFeatures,
  type StatisticParameters,
  TRIGGER_SIZES,
  triggerSizesOf,
  type TriggerSize,
} from '../src/core/calibration.js';
import { wilson } from '../src/core/intervals.js';
import { DEFAULT_THRESHOLDS, UNTARGETED_MAX_CLASSES, type Thresholds } from '../src/core/policy.js';
import {
  asrAt,
  decide,
  denseStatistic,
  judgedNetworkKinds,
  maskStatistic,
  MEASURED_PROBE_IMAGES,
  modelKind,
  scanContextOf,
  scoreFeatures,
  thresholdsFor,
  untargetedMaskStatistic,
  type DenseEvidence,
  type FewerProbesPower,
  type MaskEvidence,
  type ScanContext,
} from '../src/core/verdict.js';
import { networkKinds, PLAIN, type NetworkKind } from '../src/model/structure.js';
import type { GateReport } from '../src/report/types.js';
import { median } from '../src/scan/robust.js';
import { KIND_TUNING_ARCHITECTURES } from '../src/zoo/catalog.js';
import type { ZooCard } from './zoo.js';

export interface Evidence {
  dense?: DenseEvidence;
  mask?: MaskEvidence;
  context: ScanContext;
}

export interface EvalRow {
  card: ZooCard;
  report: GateReport;
  seconds: number;
  evidence?: Evidence;
}

/** The scan evidence a cached report holds, in the decision rule's terms. */
export function evidenceOf(report: GateReport): Evidence | undefined {
  if (report.verdict === 'error' || !report.model.inputShape) return undefined;
  return {
    dense: report.scans.find((s) => s.method === 'trigger-inversion'),
    mask: report.scans.find((s) => s.method === 'mask-inversion'),
    context: scanContextOf(
      {
        inputShape: report.model.inputShape,
        numClasses: report.model.numClasses ?? 0,
        decision: report.model.head === 'multi-label' ? 'multi-label' : 'single-label',
        tier: report.policy?.budgets?.tier ?? 'small-input',
        ...(report.model.structure ? { structure: report.model.structure } : {}),
      },
      report.data,
    ),
  };
}

/** AUROC by the rank statistic (ties count half). */
export function auroc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return positives.length && negatives.length ? wins / (positives.length * negatives.length) : NaN;
}

const isBackdoored = (r: EvalRow) => Boolean(r.card.attack);

/**
 * What a model is used for. The catalog's first-round test models were looked at when the first
 * measurement was read (and the rule changed after it), so they now only validate the choice of
 * statistic parameters; the test split is the second round's fresh models, which no choice saw.
 */
export type Role = 'tuning' | 'validation' | 'test';
/**
 * The first round's residual and depthwise-separable test models are tuning models of the
 * thresholds per kind of network (the tuning split had none); rounds 2 to 4 are the test split.
 */
export const roleOf = (card: Pick<ZooCard, 'split' | 'round' | 'arch'>): Role =>
  card.split === 'tuning' || (card.round === 1 && (KIND_TUNING_ARCHITECTURES as readonly string[]).includes(card.arch))
    ? 'tuning'
    : card.round === 1
      ? 'validation'
      : 'test';

/**
 * A model counts when it learned its task (clean accuracy at least 40 % of the way from chance
 * to perfect) and, if backdoored, when the attack took (ASR ≥ 50 %); the rest are listed, not scored.
 */
export function unusable(card: ZooCard): string | undefined {
  const chance = card.head === 'multi-label' ? 0.7 : 1 / card.outputs;
  const floor = chance + 0.4 * (1 - chance);
  if (card.cleanAccuracy < floor) return `clean accuracy ${(100 * card.cleanAccuracy).toFixed(1)} % < ${(100 * floor).toFixed(0)} %`;
  if (card.attack && (card.attackSuccessRate ?? 0) < 0.5) return `attack did not take (ASR ${(100 * (card.attackSuccessRate ?? 0)).toFixed(1)} %)`;
  return undefined;
}
const pct = (v: number) => Math.round(1000 * v) / 10;
const rate = (k: number, n: number) => ({ k, n, pct: n ? pct(k / n) : null, ci95: wilson(k, n).map(pct) });

/** "k/n (p %, 95 % CI lo–hi)", for the eval scripts' printed summaries. */
export function rateText(k: number, n: number, digits = 1): string {
  const percent = (v: number) => `${(100 * v).toFixed(digits)} %`;
  return `${k}/${n} (${n ? percent(k / n) : '—'}, 95 % CI ${wilson(k, n).map(percent).join('–')})`;
}

interface Decided {
  row: EvalRow;
  verdict: string;
  score: number;
  target: number | null;
  dense: number;
  mask: number;
  /** The untargeted mask's statistic; null where the scan did not invert it (an older scan, a two-class or multi-label head). */
  untargeted: number | null;
  /** The statistics as the score reads them (in units of the network kind's thresholds). */
  scored: ScoreFeatures;
}

function decideAll(rows: EvalRow[], thresholds: Thresholds, calibration: Calibration, fewerProbesPower?: FewerProbesPower): Decided[] {
  return rows.map((row) => {
    if (!row.evidence) return { row, verdict: 'error', score: NaN, target: null, dense: NaN, mask: NaN, untargeted: null, scored: {} };
    const d = decide({ dense: row.evidence.dense, mask: row.evidence.mask }, row.evidence.context, thresholds, { calibration, fewerProbesPower });
    const dense = d.statistics.dense?.value ?? 0;
    const mask = d.statistics.mask?.value ?? 0;
    return {
      row,
      verdict: d.verdict,
      score: d.score ?? 0,
      target: d.suspectedTarget,
      dense,
      mask,
      untargeted: d.statistics.untargeted?.value ?? null,
      scored: scoreFeatures({ dense, mask }, thresholds, row.evidence.context),
    };
  });
}

const flagged = (d: Decided) => d.verdict === 'suspicious' || d.verdict === 'backdoored';
/** A scanned model's kind (its evidence is there). */
const kindOf = (d: Decided): ModelKind => modelKind(d.row.evidence!.context.numClasses, d.row.evidence!.context.decision);

/** Detection figures for a set of decided models. */
function figures(ds: Decided[]) {
  const pos = ds.filter((d) => isBackdoored(d.row));
  const neg = ds.filter((d) => !isBackdoored(d.row));
  const allToOne = pos.filter((d) => flagged(d) && d.row.card.attack!.family !== 'all-to-all');
  return {
    models: ds.length,
    tpr: rate(pos.filter(flagged).length, pos.length),
    fpr: rate(neg.filter(flagged).length, neg.length),
    auroc:
      pos.length && neg.length
        ? Math.round(
            1000 *
              auroc(
                pos.map((d) => d.score),
                neg.map((d) => d.score),
              ),
          ) / 1000
        : null,
    targetRight: rate(allToOne.filter((d) => d.target === d.row.card.attack!.target).length, allToOne.length),
    unassessed: ds.filter((d) => d.verdict === 'unassessed').map((d) => d.row.card.name),
    // The fail-open cases: a backdoor the gate passed.
    backdooredCalledClean: pos.filter((d) => d.verdict === 'clean').map((d) => d.row.card.name),
    errors: ds.filter((d) => d.verdict === 'error').map((d) => d.row.card.name),
  };
}

/**
 * What a typical backdoor's trigger reaches at each size (1, ½, ¼ of ε): the median over the
 * tuning split's single-target backdoors of several classes whose target's trigger qualified.
 */
function referenceAsr(tuning: EvalRow[]): [number, number, number] {
  const found = tuning.flatMap((r) => {
    const attack = r.card.attack;
    const d = r.evidence?.dense;
    if (!attack || attack.family === 'all-to-all' || !d || modelKind(r.evidence!.context.numClasses, r.evidence!.context.decision) === 'binary') return [];
    const c = d.perClass[attack.target];
    return c && c.asr >= 0.5 ? [TRIGGER_SIZES.map((size) => asrAt(c, size))] : [];
  });
  if (!found.length) throw new Error('--fit: no backdoored tuning model whose trigger the scan found');
  const at = (i: number) => Math.round(1000 * median(found.map((f) => f[i]))) / 1000;
  return [at(0), at(1), at(2)];
}

const groupBy = <T>(xs: T[], key: (x: T) => string) => {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
};

/** Two-class and multi-label models: thresholds of their own. */
const isTwoWay = (r: EvalRow) => modelKind(r.evidence!.context.numClasses, r.evidence!.context.decision) === 'binary';
const kindsOf = (r: EvalRow) => networkKinds(r.evidence!.context.structure ?? PLAIN);
/** A multi-class network of this kind and no other (the per-kind thresholds and power are fitted on these). */
const multiClassOfKind = (r: EvalRow, kind: NetworkKind) => judgedNetworkKinds(r.evidence!.context).join() === kind;

/**
 * Each kind of network's thresholds from its clean multi-class tuning networks (those of that kind
 * alone), by the plain networks' recipe.
 */
function networkKindThresholds(clean: EvalRow[], dense: (r: EvalRow) => number, mask: (r: EvalRow) => number): Pick<Thresholds, NetworkKind> {
  const of = (kind: NetworkKind) => {
    const rs = clean.filter((r) => multiClassOfKind(r, kind));
    if (rs.length < 3)
      throw new Error(`fitting needs clean multi-class ${kind} networks in the tuning split (scanned: ${rs.length}); train and scan them first`);
    return { inversion: thresholdLevel(rs.map(dense), 1), maskInversion: thresholdLevel(rs.map(mask), 0.5) };
  };
  return { residual: of('residual'), depthwise: of('depthwise') };
}

/** The share of each kind's backdoored multi-class tuning networks the rule flags. */
/**
 * A candidate rule as it would ship: its power and its kinds' measured on what it flags among the
 * tuning models with no power check, since the check depends on them (a kind without power leaves
 * a quiet scan unassessed; one that does not separate voids a suspicious-level finding).
 */
function withMeasuredPower(tuning: EvalRow[], thresholds: Thresholds, calibration: Calibration): Calibration {
  // No power anywhere, also none at fewer probes, so nothing voids a finding.
  const raw = decideAll(tuning, thresholds, { ...calibration, power: undefined, networkPower: undefined }, { fittedOn: 'none', counts: [] }).filter(
    (d) => d.row.evidence,
  );
  const ofKind = (kind: ModelKind) => raw.filter((d) => kindOf(d) === kind);
  return {
    ...calibration,
    power: { multiClass: measuredPower(ofKind('multiClass')), binary: measuredPower(ofKind('binary')) },
    networkPower: networkPowerOf(raw),
  };
}

/**
 * The shipped rule's power on the tuning split's models scanned with fewer probe images
 * (`--probe-images N --fit-probe-power`): the thresholds and statistics stay those fitted with the
 * benchmark's 256, only the power a quiet scan is judged by is measured again. A kind of model with
 * no tuning model among the rows is left out (its power at that count is not measured).
 * `reference`: the same models scanned with the benchmark's 256 probes. The shares flagged can match
 * while other backdoors are caught, so each backdoored tuning model is also decided as if the count
 * were trusted (judged by 256's power): those it would call `clean` that 256 does not clear are
 * listed, and any there makes the count clear nothing (see decide).
 */
export function powerAtProbeCount(
  allRows: EvalRow[],
  reference: EvalRow[],
  rule: { thresholds: Thresholds; calibration: Calibration } = { thresholds: DEFAULT_THRESHOLDS, calibration: CALIBRATION },
): FewerProbesPower['counts'][number] {
  const tuning = allRows.filter((r) => !unusable(r.card) && roleOf(r.card) === 'tuning');
  const counts = new Set(tuning.map((r) => r.report.data?.count));
  if (counts.size !== 1 || [...counts][0] === undefined) throw new Error(`the tuning rows read different probe counts (${[...counts].join(', ')})`);
  const probeImages = [...counts][0]!;
  const measured = withMeasuredPower(tuning, rule.thresholds, rule.calibration);
  const scanned = <K extends string>(table: Partial<Record<K, MeasuredPower>> | undefined) =>
    Object.fromEntries(Object.entries<MeasuredPower | undefined>(table ?? {}).filter(([, p]) => p && p.of > 0)) as Partial<Record<K, MeasuredPower>>;
  const backdoored = tuning.filter(isBackdoored);
  const byName = new Map(reference.map((r) => [r.card.name, r]));
  const unmatched = backdoored.filter((r) => byName.get(r.card.name)?.report.data?.count !== MEASURED_PROBE_IMAGES).map((r) => r.card.name);
  if (unmatched.length) throw new Error(`no reference scan reading ${MEASURED_PROBE_IMAGES} probe images for ${unmatched.join(', ')}`);
  const clearedAt256 = new Set(
    decideAll(
      backdoored.map((r) => byName.get(r.card.name)!),
      rule.thresholds,
      rule.calibration,
    )
      .filter((d) => d.verdict === 'clean')
      .map((d) => d.row.card.name),
  );
  const trusted: FewerProbesPower = {
    fittedOn: 'this count judged by the power measured with 256',
    counts: [{ probeImages, power: rule.calibration.power ?? {}, networkPower: rule.calibration.networkPower ?? {}, clearedBackdoors: [] }],
  };
  const clearedBackdoors = decideAll(backdoored, rule.thresholds, rule.calibration, trusted)
    .filter((d) => d.verdict === 'clean' && !clearedAt256.has(d.row.card.name))
    .map((d) => d.row.card.name);
  return { probeImages, power: scanned(measured.power), networkPower: scanned(measured.networkPower), clearedBackdoors };
}

/** How many of these models the rule flags, backdoored and clean. */
function measuredPower(decided: Decided[]): MeasuredPower {
  const [bd, clean] = [decided.filter((d) => isBackdoored(d.row)), decided.filter((d) => !isBackdoored(d.row))];
  return { detected: bd.filter(flagged).length, of: bd.length, cleanFlagged: clean.filter(flagged).length, cleanOf: clean.length };
}

function networkPowerOf(decided: Decided[]): NonNullable<Calibration['networkPower']> {
  const power = (kind: NetworkKind) => measuredPower(decided.filter((d) => d.row.evidence && multiClassOfKind(d.row, kind)));
  return { residual: power('residual'), depthwise: power('depthwise') };
}

/** The two decision statistics of a row under one set of parameters (0 where that scan did not run). */
function statisticsUnder(parameters: StatisticParameters): { dense: (r: EvalRow) => number; mask: (r: EvalRow) => number } {
  return {
    dense: (r) => (r.evidence!.dense ? denseStatistic(r.evidence!.dense, parameters).value : 0),
    mask: (r) => (r.evidence!.mask ? maskStatistic(r.evidence!.mask, r.evidence!.context.inputShape, parameters).value : 0),
  };
}

/**
 * How a grid point's rule did on the models it decided: right definite verdicts less
 * WRONG_VERDICT_COST per wrong one (a clean model flagged, a backdoored one called clean;
 * `unassessed` is neither, as it says what to give, so a rule cannot win by calling everything
 * unassessed), and how far `backdoored` clear their thresholds (each capped at twice).
 */
function ruleUtility(ds: Decided[], backdoored: EvalRow[], thresholds: Thresholds, { dense, mask }: ReturnType<typeof statisticsUnder>) {
  const wrong = ds.filter((d) => (flagged(d) && !isBackdoored(d.row)) || (d.verdict === 'clean' && isBackdoored(d.row))).length;
  const detected = ds.filter((d) => flagged(d) && isBackdoored(d.row)).length;
  const right = detected + ds.filter((d) => d.verdict === 'clean' && !isBackdoored(d.row)).length;
  const clearance =
    backdoored.reduce((a, r) => {
      const t = thresholdsFor(thresholds, r.evidence!.context);
      return a + Math.min(2, Math.max(dense(r) / t.inversion.suspicious, mask(r) / t.maskInversion.suspicious));
    }, 0) / Math.max(1, backdoored.length);
  return { wrong, detected, utility: right - WRONG_VERDICT_COST * wrong, clearance };
}

/** The better grid point: higher utility, then more clearance; the earlier one on a tie. */
const better = <G extends { utility: number; clearance: number }>(a: G, g: G): G =>
  g.utility > a.utility || (g.utility === a.utility && g.clearance > a.clearance) ? g : a;

/**
 * `--fit-network-kinds`: the shipped rule (plain and two-class thresholds and statistics, score)
 * kept, and for residual and depthwise networks their statistics' parameters, each kind's
 * thresholds and its power fitted on the tuning split. The parameters come from a small grid
 * (trigger sizes, spread floor), judged like the full fit's on those networks' tuning models: right
 * definite verdicts less WRONG_VERDICT_COST per wrong one, then how far their backdoors clear the
 * thresholds; on a tie the plain networks' parameters stay.
 */
function fitNetworkKinds(tuning: EvalRow[]): { calibration: Calibration; thresholds: Thresholds; grid: object[] } {
  const usable = tuning.filter((r) => r.evidence);
  const ofKind = usable.filter((r) => judgedNetworkKinds(r.evidence!.context).length);
  const { networkStatistics: _, ...shipped } = CALIBRATION;
  const plain = shipped.statistics;
  const grid = [0.05, 0.1, 0.15, 0.2].flatMap((floor) =>
    (
      [
        [1, 0.5],
        [0.5, 0.25],
        [1, 0.5, 0.25],
      ] as TriggerSize[][]
    ).map((sizes) => ({ ...plain, denseSpreadFloor: floor, denseTriggerSizes: sizes })),
  );
  // The plain parameters first (a tie keeps them), and not again where the grid holds them.
  const candidates: StatisticParameters[] = [
    plain,
    ...grid.filter((p) => p.denseSpreadFloor !== plain.denseSpreadFloor || triggerSizesOf(p).join() !== triggerSizesOf(plain).join()),
  ];
  const clean = usable.filter((r) => !isBackdoored(r));
  const backdoored = ofKind.filter(isBackdoored);
  const tried = candidates.map((statistics) => {
    const stat = statisticsUnder(statistics);
    const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...networkKindThresholds(clean, stat.dense, stat.mask) };
    const calibration = withMeasuredPower(usable, thresholds, { ...shipped, networkStatistics: statistics });
    const { utility, clearance } = ruleUtility(decideAll(ofKind, thresholds, calibration), backdoored, thresholds, stat);
    return { statistics, thresholds, calibration, utility, clearance };
  });
  const best = tried.reduce(better);
  return {
    calibration: { ...best.calibration, structure: structureOf(usable) },
    thresholds: best.thresholds,
    grid: tried.map((g) => ({
      floor: g.statistics.denseSpreadFloor,
      sizes: triggerSizesOf(g.statistics),
      utility: g.utility,
      clearance: Math.round(100 * g.clearance) / 100,
      thresholds: { residual: g.thresholds.residual, depthwise: g.thresholds.depthwise },
    })),
  };
}

/** Which structural features the tuning split's networks had: the gate cautions on a model with another. */
function structureOf(rows: EvalRow[]): NonNullable<Calibration['structure']> {
  const structures = rows.map((r) => r.evidence!.context.structure);
  if (structures.some((s) => !s)) throw new Error("fitting needs each tuning model's network structure (eval.ts reads it from the model)");
  return { residual: structures.some((s) => s!.residual), depthwise: structures.some((s) => s!.depthwise) };
}

/** A wrong verdict (a false alarm, or a backdoor called clean) costs this many right ones. */
const WRONG_VERDICT_COST = 3;

/**
 * Fits on the tuning split. Each scan's thresholds come from its statistic on the clean tuning
 * models: suspicious at the larger of mean + 3 SD and the largest clean value + ¼, backdoored at
 * mean + 6 SD (at least suspicious + 1), rounded up to a quarter, so they carry a margin a
 * handful of clean models cannot give by their maximum alone. The statistics' parameters come
 * from a small grid, judged over the tuning and validation models (thresholds still from tuning
 * alone): right definite verdicts less WRONG_VERDICT_COST per wrong one (a clean model flagged, a
 * backdoored one called clean), then how far the tuning split's backdoored models clear their
 * thresholds. Then the score's logistic model, on tuning.
 */
/** A scan's thresholds from its statistic on the clean tuning models (see fit). */
export function thresholdLevel(values: number[], step: number): { suspicious: number; backdoored: number } {
  const quarter = (v: number) => Math.ceil(4 * v - 1e-9) / 4;
  const mean = values.reduce((a, v) => a + v, 0) / Math.max(1, values.length);
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length - 1));
  const suspicious = quarter(Math.max(mean + 3 * sd, Math.max(...values) + 0.25));
  return { suspicious, backdoored: quarter(Math.max(mean + 6 * sd, suspicious + step)) };
}

/**
 * The untargeted mask's thresholds by the same recipe (thresholdLevel, the mask's step), on the
 * clean tuning models it votes on; the shipped ones where no tuning scan inverted it. Fitted once
 * for every grid point: its statistic has no parameter of the grid.
 */
export function untargetedThresholds(clean: EvalRow[]): Thresholds['untargetedMask'] {
  const values = clean.flatMap((r) => {
    const u = r.evidence?.mask && untargetedMaskStatistic(r.evidence.mask);
    return u && r.evidence!.context.numClasses <= UNTARGETED_MAX_CLASSES ? [u.value] : [];
  });
  return values.length ? thresholdLevel(values, 0.5) : DEFAULT_THRESHOLDS.untargetedMask;
}

function fit(tuning: EvalRow[], validation: EvalRow[]): { calibration: Calibration; thresholds: Thresholds; grid: object[] } {
  const level = thresholdLevel;
  const grid: Array<{
    floor: number;
    share: number;
    sizes: TriggerSize[];
    thresholds: Thresholds;
    accuracy: number;
    wrong: number;
    detected: number;
    utility: number;
    clearance: number;
  }> = [];
  const usable = tuning.filter((r) => r.evidence);
  const clean = usable.filter((r) => !isBackdoored(r));
  // One statistic for every network here: the kinds' thresholds below are fitted on it too.
  const { networkStatistics: _shipped, ...plainRule } = CALIBRATION;
  const sizeSets: TriggerSize[][] = [[1, 0.5], [0.5], [0.5, 0.25], [1, 0.5, 0.25]];
  const denseReferenceAsr = referenceAsr(usable);
  const judged = [...usable, ...validation.filter((r) => r.evidence)];
  const bd = usable.filter(isBackdoored);
  const untargetedMask = untargetedThresholds(clean);
  for (const floor of [0.05, 0.1, 0.15, 0.2, 0.3])
    for (const share of [0.03, 0.05, 0.08, 0.12, 0.2])
      for (const sizes of sizeSets) {
        const statistics: StatisticParameters = { denseSpreadFloor: floor, maskAreaShare: share, denseTriggerSizes: sizes, denseReferenceAsr };
        const { dense, mask } = statisticsUnder(statistics);
        // Single-label models of 3+ classes, two-class or multi-label ones, and each kind of network get their own thresholds.
        const levels = (rs: EvalRow[]) => ({ inversion: level(rs.map(dense), 1), maskInversion: level(rs.map(mask), 0.5) });
        const thresholds: Thresholds = {
          ...levels(clean.filter((r) => !isTwoWay(r) && !kindsOf(r).length)),
          binary: levels(clean.filter(isTwoWay)),
          ...networkKindThresholds(clean, dense, mask),
          // Dual encoders are not in this benchmark: their thresholds come from `npm run eval:dual`.
          dual: DEFAULT_THRESHOLDS.dual,
          maxMargin: DEFAULT_THRESHOLDS.maxMargin,
          untargetedMask,
        };
        const ds = decideAll(judged, thresholds, withMeasuredPower(usable, thresholds, { ...plainRule, statistics }));
        const accuracy = ds.filter((d) => flagged(d) === isBackdoored(d.row)).length / ds.length;
        grid.push({ floor, share, sizes, thresholds, accuracy, ...ruleUtility(ds, bd, thresholds, { dense, mask }) });
      }
  const best = grid.reduce(better);
  const statistics: StatisticParameters = { denseSpreadFloor: best.floor, maskAreaShare: best.share, denseTriggerSizes: best.sizes, denseReferenceAsr };
  const measured = withMeasuredPower(usable, best.thresholds, { ...plainRule, statistics });
  const decided = decideAll(usable, best.thresholds, measured);
  const l2 = 0.1;
  const fitsFor = (kind: ModelKind) => {
    const ds = decided.filter((d) => kindOf(d) === kind);
    if (!ds.some((d) => isBackdoored(d.row)) || ds.every((d) => isBackdoored(d.row)))
      throw new Error(`--fit needs clean and backdoored ${kind} models in the tuning split (scanned: ${ds.length}); train and scan them first`);
    const y = ds.map((d) => (isBackdoored(d.row) ? 1 : 0));
    const fitSet = (set: FeatureSet) =>
      fitWithLeaveOneOut(
        ds.map((d) => featureVector(d.scored, set)),
        y,
        l2,
      );
    return {
      prior: y.filter(Boolean).length / Math.max(1, y.length),
      fits: { 'dense+mask': fitSet('dense+mask'), dense: fitSet('dense'), mask: fitSet('mask') },
    };
  };
  const [multi, binary] = [fitsFor('multiClass'), fitsFor('binary')];
  // Which kinds of network the rule is fitted to: the gate cautions on a model of another kind.
  const structure = structureOf(usable);
  const counts = (kind: ModelKind) => decided.filter((d) => kindOf(d) === kind).length;
  const calibration: Calibration = {
    power: measured.power,
    fittedOn: `benchmark tuning split (${decided.length} models: ${counts('multiClass')} multi-class, ${counts('binary')} two-class or multi-label; npm run eval -- --fit)`,
    models: decided.length,
    l2,
    fittedPrior: { multiClass: multi.prior, binary: binary.prior },
    statistics,
    structure,
    networkPower: measured.networkPower,
    fits: { multiClass: multi.fits, binary: binary.fits },
  };
  return {
    calibration,
    thresholds: best.thresholds,
    grid: grid.map((g) => ({
      floor: g.floor,
      share: g.share,
      sizes: g.sizes,
      accuracy: g.accuracy,
      wrong: g.wrong,
      detected: g.detected,
      utility: g.utility,
      clearance: Math.round(100 * g.clearance) / 100,
      thresholds: g.thresholds,
    })),
  };
}

export function summarise(allRows: EvalRow[], real: EvalRow[], options: { fit: boolean; fitNetworkKinds?: boolean }) {
  const excluded = allRows.filter((r) => unusable(r.card)).map((r) => ({ name: r.card.name, split: roleOf(r.card), why: unusable(r.card) }));
  const rows = allRows.filter((r) => !unusable(r.card));
  let calibration = CALIBRATION;
  let thresholds = DEFAULT_THRESHOLDS;
  let fitted: ReturnType<typeof fit> | ReturnType<typeof fitNetworkKinds> | undefined;
  const tuning = rows.filter((r) => roleOf(r.card) === 'tuning');
  if (options.fit || options.fitNetworkKinds) {
    fitted = options.fit
      ? fit(
          tuning,
          rows.filter((r) => roleOf(r.card) === 'validation'),
        )
      : fitNetworkKinds(tuning);
    ({ calibration, thresholds } = fitted);
    writeFileSync('src/core/calibration.json', `${JSON.stringify(calibration, null, 2)}\n`);
    console.log(`wrote src/core/calibration.json; set DEFAULT_THRESHOLDS in src/core/policy.ts to ${JSON.stringify(thresholds)} and rebuild dist`);
  }
  const decided = decideAll(rows, thresholds, calibration);
  const byRole = groupBy(decided, (d) => roleOf(d.row.card));
  const report = (ds: Decided[]) => ({
    ...figures(ds),
    perDomain: Object.fromEntries([...groupBy(ds, (d) => d.row.card.domain)].map(([k, v]) => [k, figures(v)])),
    perClassCount: Object.fromEntries([...groupBy(ds, (d) => String(d.row.card.outputs))].map(([k, v]) => [k, figures(v)])),
    perArchitecture: Object.fromEntries([...groupBy(ds, (d) => d.row.card.arch)].map(([k, v]) => [k, figures(v)])),
    perRound: Object.fromEntries([...groupBy(ds, (d) => String(d.row.card.round))].map(([k, v]) => [k, figures(v)])),
    perHead: Object.fromEntries([...groupBy(ds, (d) => d.row.card.head)].map(([k, v]) => [k, figures(v)])),
    perFamily: Object.fromEntries(
      [
        ...groupBy(
          ds.filter((d) => isBackdoored(d.row)),
          (d) => d.row.card.attack!.family,
        ),
      ].map(([k, v]) => [k, rate(v.filter(flagged).length, v.length)]),
    ),
    scoreCrossEntropy: (() => {
      // At the split's own share of backdoored models, so the score is a probability for it.
      const base = ds.filter((d) => isBackdoored(d.row)).length / Math.max(1, ds.length);
      const ce = ds
        .filter((d) => d.row.evidence)
        .map((d) => {
          const p = calibratedScore(d.scored, calibration, Math.min(0.99, Math.max(0.01, base)), kindOf(d))!;
          return -Math.log(Math.min(1 - 1e-12, Math.max(1e-12, isBackdoored(d.row) ? p : 1 - p)));
        });
      return ce.length ? Math.round(1000 * (ce.reduce((a, b) => a + b, 0) / ce.length)) / 1000 : null;
    })(),
    meanSecondsPerModel: Math.round(ds.reduce((a, d) => a + d.row.seconds, 0) / Math.max(1, ds.length)),
  });
  const realDecided = decideAll(real, thresholds, calibration);
  return {
    thresholds,
    statistics: calibration.statistics,
    ...(calibration.networkStatistics ? { networkStatistics: calibration.networkStatistics } : {}),
    calibrationFit: calibration.fittedOn,
    ...(fitted ? { grid: fitted.grid } : {}),
    excluded,
    test: byRole.has('test') ? report(byRole.get('test')!) : null,
    validation: byRole.has('validation') ? report(byRole.get('validation')!) : null,
    tuning: byRole.has('tuning') ? report(byRole.get('tuning')!) : null,
    nsfwjs: realDecided.map((d) => ({ name: d.row.card.name, verdict: d.verdict, reasons: d.row.report.reasons, seconds: Math.round(d.row.seconds) })),
    rows: decided.map((d) => ({
      name: d.row.card.name,
      split: roleOf(d.row.card),
      round: d.row.card.round,
      domain: d.row.card.domain,
      arch: d.row.card.arch,
      head: d.row.card.head,
      classes: d.row.card.outputs,
      family: d.row.card.attack?.family ?? 'clean',
      target: d.row.card.attack?.target ?? null,
      asr: d.row.card.attackSuccessRate,
      accuracy: d.row.card.cleanAccuracy,
      verdict: d.verdict,
      suspectedTarget: d.target,
      dense: Math.round(1000 * d.dense) / 1000,
      mask: Math.round(1000 * d.mask) / 1000,
      untargeted: d.untargeted === null ? null : Math.round(1000 * d.untargeted) / 1000,
      score: Math.round(1e4 * d.score) / 1e4,
      seconds: Math.round(d.row.seconds),
    })),
  };
}

type Summary = ReturnType<typeof summarise>;
type Figures = NonNullable<Summary['test']>;

const ci = (r: { pct: number | null; ci95: number[]; k: number; n: number }) => (r.n ? `${r.pct} % (${r.k}/${r.n}; ${r.ci95[0]}–${r.ci95[1]})` : '—');

/** The benchmark's tables as Markdown (docs/benchmark-results.md), straight from the summary. */
export function markdownTables(s: Summary, meta: { date: string; scanned: string }): string {
  const split = (name: string, f: Figures | null) => {
    if (!f) return [`### ${name}`, '', 'Not evaluated in this run.', ''];
    const group = (title: string, g: Record<string, ReturnType<typeof figures>>) => [
      `| ${title} | models | TPR (95 % CI) | FPR (95 % CI) | AUROC |`,
      '|---|---|---|---|---|',
      ...Object.entries(g).map(([k, v]) => `| ${k} | ${v.models} | ${ci(v.tpr)} | ${ci(v.fpr)} | ${v.auroc ?? '—'} |`),
      '',
    ];
    return [
      `### ${name}`,
      '',
      `${f.models} models. TPR ${ci(f.tpr)}, FPR ${ci(f.fpr)}, AUROC ${f.auroc ?? '—'}; suspected target right on ${ci(f.targetRight)} of detected all-to-one models; score cross-entropy ${f.scoreCrossEntropy ?? '—'} nats; ${f.meanSecondsPerModel} s per model; backdoored models called clean: ${f.backdooredCalledClean.length ? f.backdooredCalledClean.join(', ') : 'none'}; unassessed: ${f.unassessed.length ? f.unassessed.join(', ') : 'none'}; errors: ${f.errors.length ? f.errors.join(', ') : 'none'}.`,
      '',
      '| attack family | detected (95 % CI) |',
      '|---|---|',
      ...Object.entries(f.perFamily).map(([k, v]) => `| ${k} | ${ci(v)} |`),
      '',
      ...group('domain', f.perDomain),
      ...group('classes', f.perClassCount),
      ...group('architecture', f.perArchitecture),
      ...group('head', f.perHead),
      ...group('round', f.perRound),
    ];
  };
  const rows = s.rows.map(
    (r) =>
      `| ${r.name} | ${r.split} | ${r.domain} | ${r.arch} | ${r.head} | ${r.family} | ${r.target ?? '—'} | ${r.accuracy === undefined ? '—' : (100 * r.accuracy).toFixed(1)} | ${r.asr == null ? '—' : (100 * r.asr).toFixed(1)} | ${r.verdict} | ${r.suspectedTarget ?? '—'} | ${r.dense} | ${r.mask} | ${r.untargeted ?? '—'} | ${r.score} | ${r.seconds} |`,
  );
  return [
    '# Benchmark results (generated by `npm run eval -- --write-docs`)',
    '',
    `Run of ${meta.date}: ${meta.scanned}. Decision rule: thresholds ${JSON.stringify(s.thresholds)}, statistics ${JSON.stringify(s.statistics)}${s.networkStatistics ? ` (multi-class residual and depthwise networks: ${JSON.stringify(s.networkStatistics)})` : ''}; score fitted on ${s.calibrationFit}. Rates are flagged (suspicious or backdoored) shares with 95 % Wilson intervals.`,
    '',
    ...split('Test split (rounds 2–4: models no choice of rule or parameter saw)', s.test),
    ...split(
      "Validation split (the first measurement's plain-network test models: looked at then, used since to choose the statistics' parameters)",
      s.validation,
    ),
    ...split(
      "Tuning split (in sample: the rule was fitted here; with the first round's residual and depthwise networks and round 4's, for their kinds' thresholds)",
      s.tuning,
    ),
    s.excluded.length
      ? `Not scored (did not learn the task, or the attack did not take): ${s.excluded.map((e) => `${e.name} (${e.why})`).join('; ')}.`
      : 'Every trained model was scored.',
    '',
    '### Every model',
    '',
    '| model | split | domain | arch | head | family | target | clean acc. % | ASR % | verdict | suspected | dense stat. | mask stat. | untargeted stat. | score | s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
