// Every scan the gate runs, described once (like the ONNX `OPS` table): its name in the policy,
// its `method` in the report, its title in logs and findings, whether it votes, how it runs on
// the resolved budgets, and what its report summary keeps. The gate, the renderers and the
// findings read this table; a new scan is one entry here plus its module.
import { UNTARGETED_MAX_CLASSES, type ScanBudgets, type ScanName } from '../core/policy.js';
import type { ImageSet } from '../data/types.js';
import { sliceImages } from '../data/types.js';
import { withConstantWeights, type ModelUnderTest } from '../model/adapter.js';
import type { RowLimits } from './batching.js';
import { hessianSpectrum, type HessianOptions, type HessianResult } from './hessian.js';
import { reconstructTriggers, triggerStatistics, type InversionOptions, type InversionResult } from './inversion.js';
import { maskStatistics, reconstructMasks, type MaskInversionOptions, type MaskInversionResult } from './mask-inversion.js';
import { marginStatistics, maximumMargins, type MaxMarginOptions, type MaxMarginResult } from './max-margin.js';
import { combinePerClass, EmptyShare, mergeRows, mergeScreened, runScheduled, type ShardPlan } from './schedule.js';

/** The full results of the scans that ran, keyed as the verdict and the image renderers read them. */
export interface ScanResults {
  dense?: InversionResult;
  mask?: MaskInversionResult;
  hessian?: HessianResult;
  maxMargin?: MaxMarginResult;
}

/** Options as the report records them: callbacks (progress) are not data. */
type RecordedOptions<T> = { [K in keyof T as T[K] extends ((...args: never[]) => unknown) | undefined ? never : K]: T[K] };

/**
 * A scan's result without its large arrays, numbers rounded to 6 significant digits. JSON has no
 * Infinity or NaN: such a number is written as its name ("Infinity"), which renderers show as is.
 */
export type TriggerInversionSummary = Omit<InversionResult, 'triggers' | 'options'> & { options: RecordedOptions<InversionOptions> };
export type MaskInversionSummary = Omit<MaskInversionResult, 'masks' | 'patterns' | 'options'> & { options: RecordedOptions<MaskInversionOptions> };
export type HessianSummary = Omit<HessianResult, 'topEigenvector' | 'options'> & { options: RecordedOptions<HessianOptions> };
export type MaxMarginSummary = Omit<MaxMarginResult, 'options'> & { options: RecordedOptions<MaxMarginOptions> };
export type ScanSummary = TriggerInversionSummary | MaskInversionSummary | HessianSummary | MaxMarginSummary;
export type ScanMethod = ScanSummary['method'];

/** What a scan runs on. */
export interface ScanInput {
  model: ModelUnderTest;
  /** Probe images (synthetic ones when the user gave no data; the data-free scan reads none). */
  probe: ImageSet;
  budgets: ScanBudgets;
  rows: RowLimits;
  seed: number;
  /** A progress callback for a phase counted in `unit`s (steps, epochs). */
  progress: (phase: string, unit: string) => (done: number, total: number) => void;
  /** Run only this shard's share of the per-class work (see schedule.ts). */
  shard?: ShardPlan;
}

interface ScanEntry<R, S extends ScanSummary> {
  /** `method` in the report. */
  method: S['method'];
  /** How logs, tables and findings name it. */
  title: string;
  /** Whether its statistic enters the verdict (the Hessian scan reports only). */
  votes: boolean;
  /** Whether it reads the probe images (the data-free scan synthesises its own inputs). */
  readsProbes: boolean;
  run(input: ScanInput): Promise<R>;
  summarise(result: R): S;
  /**
   * One summary from shards' summaries of a K-class model: per class the entry of the shard that
   * ran it in full, and the statistics across classes computed again over all of them.
   */
  combine(parts: readonly S[], numClasses: number): S;
}

function rounded(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? Number(v.toPrecision(6)) : String(v);
  if (Array.isArray(v)) return v.map(rounded);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (typeof x === 'function' ? [] : [[k, rounded(x)]])));
  return v;
}

/** The inverse of `rounded` for the numbers JSON cannot hold: "Infinity", "-Infinity" and "NaN" are numbers again. */
export function revived<T>(v: T): T {
  if (v === 'Infinity' || v === '-Infinity' || v === 'NaN') return Number(v) as T;
  if (Array.isArray(v)) return v.map(revived) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revived(x)])) as T;
  return v;
}

/**
 * The fields every part shares, with the options of the whole scan: a shard's `classes` are its
 * share; together they are every class (a whole scan records none) or the schedule's full-budget ones.
 */
function combined<S extends { seconds: number; options: { classes?: readonly number[] } }>(parts: readonly S[], K: number): S {
  const classes = [...new Set(parts.flatMap((p) => p.options.classes ?? [...Array(K).keys()]))].sort((a, b) => a - b);
  const { classes: _, ...options } = parts[0].options;
  return { ...parts[0], options: classes.length < K ? { ...options, classes } : options, seconds: parts.reduce((s, p) => s + p.seconds, 0) };
}

/** `result` without the keys in `drop`, rounded; functions (callbacks) left out. */
function summary<R extends object, D extends keyof R>(result: R, drop: readonly D[]): Omit<R, D> {
  return rounded(Object.fromEntries(Object.entries(result).filter(([k]) => !(drop as readonly string[]).includes(k)))) as Omit<R, D>;
}

/**
 * Whether this mask inversion runs the untargeted row: the model has at most
 * UNTARGETED_MAX_CLASSES classes, every class gets the full budget (`planned`: a shard's view of
 * the full-budget classes; `classes`: the ones this run inverts, none meaning all), and this run
 * holds the last of them, so exactly one shard runs it.
 */
export function untargetedHere(K: number, planned: readonly number[] | undefined, classes: readonly number[] | undefined): boolean {
  const fullBudget = planned ?? classes;
  if (K > UNTARGETED_MAX_CLASSES || (fullBudget && fullBudget.length < K)) return false;
  return !planned || !classes || classes.includes(planned[planned.length - 1]);
}

/** A schedule's screen by the maximum-margin scan at its screening budget (4 starts of 25 steps per class, the large-input budget). */
function marginScreen({ model, budgets: { maxMargin: b }, rows, seed, progress }: ScanInput) {
  return {
    screen: () =>
      maximumMargins(model, {
        seed,
        rows,
        inits: Math.min(b.inits, 4),
        steps: Math.min(b.steps, 25),
        onProgress: progress('maximum margin (screening every class)', 'step'),
      }),
    rank: (r: MaxMarginResult) => [...r.perClass].sort((a, c) => c.maxMargin - a.maxMargin).map((p) => p.class),
  };
}

export const SCANS: {
  inversion: ScanEntry<InversionResult, TriggerInversionSummary>;
  'mask-inversion': ScanEntry<MaskInversionResult, MaskInversionSummary>;
  hessian: ScanEntry<HessianResult, HessianSummary>;
  'max-margin': ScanEntry<MaxMarginResult, MaxMarginSummary>;
} = {
  inversion: {
    method: 'trigger-inversion',
    title: 'trigger inversion',
    votes: true,
    readsProbes: true,
    run: ({ model, probe, budgets: { inversion: b, schedule }, rows, seed, progress, shard }) => {
      const invert = (images: number, phase: string, classes?: readonly number[]) =>
        reconstructTriggers(model, sliceImages(probe, 0, Math.min(probe.count, images)), {
          seed,
          rows,
          epochs: b.epochs,
          batchSize: b.batchSize,
          epsilon: b.epsilon,
          classes,
          onProgress: progress(phase, 'step'),
        });
      return runScheduled(
        model.numClasses,
        schedule,
        seed,
        {
          // The screen: a quarter of the images (at most 64), so a few steps per class.
          screen: () => invert(Math.min(64, Math.ceil(b.images / 4)), 'trigger inversion (screening every class)'),
          rank: (r) => [...r.perClass].sort((a, c) => c.asr - a.asr || a.loss - c.loss).map((p) => p.class),
          run: (classes) => invert(b.images, 'trigger inversion', classes),
          merge: (full, screen, classes) => ({
            ...full,
            perClass: mergeScreened(full.perClass, screen.perClass),
            triggers: mergeRows(full.triggers, screen.triggers, classes, full.triggers.length / model.numClasses),
            seconds: screen.seconds + full.seconds,
          }),
        },
        shard,
      );
    },
    summarise: (r) => summary(r, ['triggers']),
    combine: (parts, K) => rounded({ ...combined(parts, K), ...triggerStatistics(combinePerClass(parts.map((p) => p.perClass))) }) as TriggerInversionSummary,
  },
  'mask-inversion': {
    method: 'mask-inversion',
    title: 'mask inversion',
    votes: true,
    readsProbes: true,
    run: (input) => {
      const { model, probe, rows, seed, progress } = input;
      const b = input.budgets.maskInversion;
      // The untargeted mask is one more row of the batch, not per class: of a sharded scan's jobs,
      // the one holding the last full-budget class runs it (the Hessian's shard, the first, holds
      // the first), and the merge takes it from there. It runs only where its thresholds were
      // measured (every class's mask in full, at most UNTARGETED_MAX_CLASSES classes): elsewhere
      // the verdict could only report it.
      let planned: readonly number[] | undefined;
      const shard = input.shard && {
        ...input.shard,
        planned: (all: readonly number[], ran: readonly number[]) => {
          planned = all;
          input.shard!.planned(all, ran);
        },
      };
      return runScheduled(
        model.numClasses,
        input.budgets.schedule,
        seed,
        {
          // Masks move too slowly to rank classes at a small budget; the maximum-margin scan at its
          // screening budget does (a patch target is reachable with an outstanding margin).
          ...marginScreen(input),
          run: (classes) =>
            reconstructMasks(model, probe, {
              seed,
              rows,
              maxImages: b.images,
              epochs: b.epochs,
              batchSize: b.batchSize,
              classes,
              untargeted: untargetedHere(model.numClasses, planned, classes),
              onProgress: progress('mask inversion', 'epoch'),
            }),
          // The mask scan reports the classes it did not run itself (screened, with their probe share).
          merge: (full, screen) => ({ ...full, seconds: full.seconds + screen.seconds }),
        },
        shard,
      );
    },
    summarise: (r) => summary(r, ['masks', 'patterns']),
    combine: (parts, K) => {
      const { untargeted: _, ...whole } = combined(parts, K);
      const untargeted = parts.find((p) => p.untargeted)?.untargeted;
      return rounded({
        ...whole,
        options: { ...whole.options, untargeted: parts.some((p) => p.options.untargeted) },
        ...maskStatistics(combinePerClass(parts.map((p) => p.perClass)), parts[0].options.asrTarget),
        ...(untargeted ? { untargeted } : {}),
      }) as MaskInversionSummary;
    },
  },
  hessian: {
    method: 'input-hessian',
    title: 'input Hessian',
    votes: false,
    readsProbes: true,
    run: ({ model, probe, budgets, rows }) => hessianSpectrum(model, probe, { rows, maxInputs: budgets.hessian.inputs }),
    summarise: (r) => summary(r, ['topEigenvector']),
    // Not per class: one shard runs it (see gate.ts), and its summary stands.
    combine: ([only]) => only,
  },
  'max-margin': {
    method: 'max-margin',
    title: 'maximum margin (data-free)',
    votes: true,
    readsProbes: false,
    run: (input) => {
      const { model, rows, seed, progress } = input;
      const b = input.budgets.maxMargin;
      return runScheduled(
        model.numClasses,
        input.budgets.schedule,
        seed,
        {
          ...marginScreen(input),
          run: (classes) => maximumMargins(model, { seed, rows, inits: b.inits, steps: b.steps, classes, onProgress: progress('maximum margin', 'step') }),
          merge: (full, screen) => ({ ...full, perClass: mergeScreened(full.perClass, screen.perClass), seconds: screen.seconds + full.seconds }),
        },
        input.shard,
      );
    },
    summarise: (r) => summary(r, []),
    combine: (parts, K) => rounded({ ...combined(parts, K), ...marginStatistics(combinePerClass(parts.map((p) => p.perClass)), K) }) as MaxMarginSummary,
  },
};

/** The input with its model's weights held constant: scans differentiate with respect to their inputs only. */
export const withInputGradientsOnly = (input: ScanInput): ScanInput => ({ ...input, model: withConstantWeights(input.model) });

/**
 * Runs one scan into `results` (the key the verdict and the images read) and returns its report
 * summary; none for a shard that has no class of it to run.
 */
export async function runScan(name: ScanName, input: ScanInput, results: ScanResults): Promise<ScanSummary | undefined> {
  try {
    return await runScanEntry(name, withInputGradientsOnly(input), results);
  } catch (err) {
    if (err instanceof EmptyShare) return undefined;
    throw err;
  }
}

async function runScanEntry(name: ScanName, input: ScanInput, results: ScanResults): Promise<ScanSummary> {
  // One branch per entry keeps each result's type tied to its key.
  switch (name) {
    case 'inversion':
      return SCANS.inversion.summarise((results.dense = await SCANS.inversion.run(input)));
    case 'mask-inversion':
      return SCANS['mask-inversion'].summarise((results.mask = await SCANS['mask-inversion'].run(input)));
    case 'hessian':
      return SCANS.hessian.summarise((results.hessian = await SCANS.hessian.run(input)));
    case 'max-margin':
      return SCANS['max-margin'].summarise((results.maxMargin = await SCANS['max-margin'].run(input)));
  }
}

const BY_METHOD = new Map<string, { title: string; votes: boolean }>(Object.values(SCANS).map((s) => [s.method, s]));

/** A scan's title by its report `method` (reports from other versions may name scans this one lacks). */
export const scanTitle = (method: string): string => BY_METHOD.get(method)?.title ?? method;

/** Whether the scan a report names enters the verdict. */
export const scanVotes = (method: string): boolean => BY_METHOD.get(method)?.votes ?? false;

type SummaryOf<M extends ScanMethod> = Extract<ScanSummary, { method: M }>;

/** The verdict's evidence from a report's scan summaries (numbers JSON wrote as names made numbers again). */
export function evidenceOf(scans: readonly ScanSummary[]) {
  const find = <M extends ScanMethod>(method: M) => {
    const found = scans.find((s): s is SummaryOf<M> => s.method === method);
    return found && revived(found);
  };
  return { dense: find('trigger-inversion'), mask: find('mask-inversion'), hessian: find('input-hessian'), maxMargin: find('max-margin') };
}

/** One scan's summary from the shards' summaries of it (all of one method) on a K-class model. */
export function combineSummaries(parts: readonly ScanSummary[], numClasses: number): ScanSummary {
  const all = <M extends ScanMethod>(method: M) => parts.map((p) => revived(p)).filter((p): p is SummaryOf<M> => p.method === method);
  switch (parts[0].method) {
    case 'trigger-inversion':
      return SCANS.inversion.combine(all('trigger-inversion'), numClasses);
    case 'mask-inversion':
      return SCANS['mask-inversion'].combine(all('mask-inversion'), numClasses);
    case 'input-hessian':
      return SCANS.hessian.combine(all('input-hessian'), numClasses);
    case 'max-margin':
      return SCANS['max-margin'].combine(all('max-margin'), numClasses);
  }
}
