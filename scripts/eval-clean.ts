// `npm run eval:clean`: every cleaning method on the zoo's backdoored models (and, as a control,
// on clean ones): clean accuracy on 2,000 test digits and the true trigger's ASR before and
// after, the recovered trigger's ASR, runtime, and whether the re-scan passes. The defender's
// data: 600 labelled held-out digits (60 per class) to clean with, 256 held-out digits as probes.
//   tsx scripts/eval-clean.ts [--zoo zoo] [--methods auto,unlearn,onp,sau,d3,par] [--only a,b] [--out eval-clean-results.json]
//   tsx scripts/eval-clean.ts --merge a.json,b.json [--out eval-clean-results.json]
// With --split test (or tuning, validation): the benchmark's split, cleaned as the action cleans
// (see benchmark() below); add --true-target to clean each all-to-one backdoor at its true target
// instead of the gate's verdicts.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  AUTO_METHOD,
  autoClean,
  cleanWith,
  DEFAULT_CLEAN_POLICY,
  JUDGE_PROBES,
  runClean,
  scanForTriggers,
  type CleanMethod,
  type CleanRequest,
} from '../src/clean/pipeline.js';
import { cleanedModelPasses, phasesText, type CleanReport } from '../src/clean/report.js';
import { accuracyOf, perClassIndices, perClassSubset } from '../src/clean/training.js';
import { recoveredTriggers } from '../src/clean/triggers.js';
import type { CleanLog } from '../src/clean/unlearn.js';
import { mnistSplit } from '../src/data/mnist.js';
import { writeNpy } from '../src/data/npy.js';
import { pickImages, sliceImages, type LabelledImageSet } from '../src/data/types.js';
import { selectBackend } from '../src/engine/backend.js';
import { planRows } from '../src/engine/memory.js';
import { MemoryLogger } from '../src/logger.js';
import type { ModelUnderTest } from '../src/model/adapter.js';
import { loadModel } from '../src/model/load.js';
import type { AttackSpec } from '../src/zoo/attacks.js';
import { domain, type Domain, type TaskData } from '../src/zoo/domains.js';
import { attackSuccessRate, trainEpochs } from '../src/zoo/train.js';
import { wilson } from '../src/core/intervals.js';
import { EVAL_PROBES, evalLabelledSet, RETUNE, testAccuracyAndAsr } from './eval-cleaning-data.js';
import { roleOf, unusable, type Role } from './eval-summary.js';
import type { ZooCard } from './zoo.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    methods: { type: 'string', default: 'auto,unlearn,onp,d3,par' },
    only: { type: 'string' },
    out: { type: 'string', default: 'eval-clean-results.json' },
    // Summarise earlier runs' rows together (e.g. two processes, one per architecture).
    merge: { type: 'string' },
    split: { type: 'string' },
    /** Benchmark mode: also hand runClean the eval's unlabelled probes, as the action does. */
    probes: { type: 'boolean', default: false },
    /**
     * With --probes: hand over JUDGE_PROBES more held-out images (used neither as probes nor as
     * labelled data) after the probes, which runClean then holds back for its judging re-scan.
     */
    'judge-probes': { type: 'boolean', default: false },
    /** The method the benchmark mode asks runClean for. */
    method: { type: 'string', default: 'auto' },
    'eval-results': { type: 'string', default: 'eval-results.json' },
    /**
     * Benchmark mode: hand runClean each all-to-one backdoor's true target as the flagged class
     * (a `backdoored` finding) instead of the gate's verdicts, to measure the cleaning apart from
     * the detection (e.g. on tuning networks the gate does not flag). Other models are forced.
     */
    'true-target': { type: 'boolean', default: false },
    cache: { type: 'string', default: '.cache/eval-clean' },
  },
});

/** The zoo's true trigger's ASR, measured as the zoo measures it (the adapter wraps its layers model). */
const trueAsr = (model: ModelUnderTest, test: LabelledImageSet, attack: AttackSpec) => attackSuccessRate(model.editableLayers!.model, test, attack);

function report(rows: Row[], methods: string[]): void {
  if (rows.some((r) => r.mode)) {
    const summary = summariseSplit(rows);
    writeFileSync(values.out!, `${JSON.stringify({ summary, rows, tfjs: tf.version.tfjs }, null, 2)}\n`);
    console.log(splitTables(summary, rows));
    return;
  }
  const summary = Object.fromEntries(methods.map((m) => [m, summarise(rows.filter((r) => r.method === m))]));
  writeFileSync(values.out!, `${JSON.stringify({ summary, rows, tfjs: tf.version.tfjs }, null, 2)}\n`);
  console.log(table(summary));
  console.log(JSON.stringify(summary, null, 2));
}

async function main(): Promise<void> {
  if (values.merge) {
    const rows = values.merge.split(',').flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { rows: Row[] }).rows);
    report(rows, [...new Set(rows.map((r) => r.method))]);
    return;
  }
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  if (values.split) return benchmark(values.split as Role);
  const manifest = path.join(values.zoo!, 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`${manifest} not found: run npm run zoo first`);
  const only = values.only?.split(',');
  const cards = (JSON.parse(readFileSync(manifest, 'utf8')) as { models: ZooCard[] }).models.filter((c) =>
    only ? only.includes(c.name) : c.attack || c.name.endsWith('-s1'),
  );
  const heldout = mnistSplit('heldout');
  const cleanSet = perClassSubset(heldout, 60);
  const probe = sliceImages(heldout, 0, 256);
  const test = mnistSplit('test');
  const methods = values.methods!.split(',') as CleanMethod[];
  const rows: Row[] = [];
  for (const card of cards) {
    // One scan per model: every method starts from the same recovered trigger.
    const first = await loadModel(path.join(values.zoo!, card.name));
    const plan = await planRows(first.model);
    const before = { accuracy: accuracyOf(first.model, test), asr: card.attack ? trueAsr(first.model, test, card.attack) : null };
    const found = await scanForTriggers(first.model, probe, plan, 0);
    // A clean model has no suspected target; its smallest mask stands in ("cleaned by mistake").
    const target = found.decision.suspectedTarget ?? found.mask.suspectedTarget ?? found.dense.suspectedTarget;
    const triggers = recoveredTriggers(first.model.inputShape, found).filter((t) => t.target === target);
    first.model.dispose();
    for (const method of methods) {
      const { model } = await loadModel(path.join(values.zoo!, card.name));
      let log: CleanLog;
      let rescanned: Awaited<ReturnType<typeof scanForTriggers>> | undefined;
      try {
        // auto runs as the pipeline does: rounds of clean + re-scan. A clean model's verdict would
        // stop it at once, so controls get one forced round of its method ("cleaned by mistake").
        if (method === 'auto' && card.attack) {
          const auto = await autoClean(model, cleanSet, probe, plan, found, 0);
          ({ log, last: rescanned } = auto);
          console.log(`${card.name}: auto's phases: ${phasesText(auto.phases)}`);
        } else if (method === 'sau') {
          // sau trains against a frozen copy of the model as it was.
          const { model: reference } = await loadModel(path.join(values.zoo!, card.name));
          try {
            log = await cleanWith('sau', model, cleanSet, triggers, 0, {}, {}, { reference, maxAccuracyDrop: DEFAULT_CLEAN_POLICY.maxAccuracyDrop });
          } finally {
            reference.dispose();
          }
        } else log = await cleanWith(method === 'auto' ? AUTO_METHOD : method, model, cleanSet, triggers, 0);
      } catch (err) {
        rows.push({ model: card.name, family: card.attack?.family ?? 'clean', method, skipped: err instanceof Error ? err.message : String(err), before });
        model.dispose();
        continue;
      }
      const after = { accuracy: accuracyOf(model, test), asr: card.attack ? trueAsr(model, test, card.attack) : null };
      const rescan = rescanned ?? (await scanForTriggers(model, probe, plan, 0));
      const row: Row = {
        model: card.name,
        family: card.attack?.family ?? 'clean',
        method,
        before,
        after,
        accuracyDropPoints: 100 * (before.accuracy - after.accuracy),
        verdictBefore: found.decision.verdict,
        verdictAfter: rescan.decision.verdict,
        seconds: log.seconds,
        steps: log.steps,
      };
      rows.push(row);
      console.log(
        `${card.name.padEnd(24)} ${method.padEnd(8)} acc ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)}  ASR ${before.asr === null ? '  -  ' : (100 * before.asr).toFixed(1)} → ${after.asr === null ? '-' : (100 * after.asr).toFixed(1)}  verdict ${row.verdictBefore} → ${row.verdictAfter}  ${log.seconds.toFixed(1)}s`,
      );
      model.dispose();
    }
  }
  report(rows, methods);
}

interface Row {
  model: string;
  family: string;
  method: string;
  skipped?: string;
  before: { accuracy: number; asr: number | null };
  after?: { accuracy: number; asr: number | null };
  /** Benchmark rows: how the cleaning was asked for (see benchmark()). */
  mode?: 'flagged' | 'forced';
  /** The method that ran (auto's choice: onp, unlearn or sau). */
  ran?: string;
  domain?: string;
  arch?: string;
  gateVerdict?: string;
  /** The clean pipeline's own report (scan of the labelled set, phases, re-scan). */
  clean?: Pick<
    CleanReport,
    'verdictBefore' | 'verdictAfter' | 'flaggedTarget' | 'forcedTarget' | 'skipped' | 'data' | 'rescannedImages' | 'retuneTrial' | 'accuracyCost' | 'steps'
  > & { passes: boolean };
  /** After one more epoch of plain fine-tuning on the labelled clean set. */
  retuned?: { accuracy: number; asr: number | null };
  labelled?: { images: number; perClass: number; percentOfTraining: number };
  accuracyDropPoints?: number;
  verdictBefore?: string;
  verdictAfter?: string;
  seconds?: number;
  steps?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/**
 * value ≤ bar, up to float rounding: accuracies are counts over 2,000 digits, so a drop of 10
 * digits is 0.5 points, but 100 × (0.974 − 0.969) is 0.5000000000000004.
 */
const within = (value: number, bar: number) => value <= bar + 1e-9;

/** One method's figures: backdoored models (the issue's bar) and clean controls. */
export function summarise(rows: Row[]) {
  const bad = rows.filter((r) => r.family !== 'clean' && !r.skipped);
  const ctrl = rows.filter((r) => r.family === 'clean' && !r.skipped);
  const perFamily = Object.fromEntries(
    [...new Set(bad.map((r) => r.family))].map((f) => {
      const fr = bad.filter((r) => r.family === f);
      return [f, { asrAfterPct: 100 * mean(fr.map((r) => r.after!.asr!)), dropPoints: mean(fr.map((r) => r.accuracyDropPoints!)) }];
    }),
  );
  const meanAsrAfterPct = 100 * mean(bad.map((r) => r.after!.asr!));
  const meanAccuracyDropPoints = mean(bad.map((r) => r.accuracyDropPoints!));
  const rescanPasses = bad.filter((r) => r.verdictAfter === 'clean').length;
  const cleanModelsDropPoints = ctrl.map((r) => r.accuracyDropPoints!);
  return {
    models: bad.length,
    skipped: rows.filter((r) => r.skipped).map((r) => `${r.model}: ${r.skipped}`),
    meanAsrAfterPct,
    meanAccuracyDropPoints,
    rescanPasses: `${rescanPasses}/${bad.length}`,
    perFamily,
    cleanModelsDropPoints,
    meanSeconds: mean(bad.map((r) => r.seconds!)),
    meetsBar:
      bad.length > 0 &&
      within(meanAsrAfterPct, 2) &&
      within(meanAccuracyDropPoints, 1) &&
      Object.values(perFamily).every((f) => within(f.asrAfterPct, 5) && within(f.dropPoints, 2)) &&
      rescanPasses === bad.length &&
      cleanModelsDropPoints.every((d) => within(d, 0.5)),
  };
}

/** The per-method table: the trade-offs side by side. */
function table(summary: Record<string, ReturnType<typeof summarise>>): string {
  const families = [...new Set(Object.values(summary).flatMap((s) => Object.keys(s.perFamily)))];
  const head = ['method', 'mean ASR %', 'mean drop pts', ...families.map((f) => `${f} ASR/drop`), 're-scan clean', 'controls drop', 's/model', 'bar'];
  const lines = Object.entries(summary).map(([m, s]) => [
    m,
    s.meanAsrAfterPct.toFixed(1),
    s.meanAccuracyDropPoints.toFixed(2),
    ...families.map((f) => (s.perFamily[f] ? `${s.perFamily[f].asrAfterPct.toFixed(1)} / ${s.perFamily[f].dropPoints.toFixed(2)}` : '-')),
    s.rescanPasses,
    s.cleanModelsDropPoints.map((d) => d.toFixed(2)).join(', ') || '-',
    s.meanSeconds.toFixed(0),
    s.meetsBar ? 'yes' : 'no',
  ]);
  return [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// The benchmark's split (--split test), cleaned the way the action cleans: the gate's verdict on
// each model comes from `npm run eval` (eval-results.json: the scan of 256 unlabelled held-out
// probes); a flagged model goes to runClean with `auto` and the gate's target, exactly as
// src/main.ts passes them. The defender's labelled clean set is 5 % of the model's training size
// (at least MIN_IMAGES_PER_CLASS per class; eval-cleaning-data.ts), drawn from held-out images the probes do not use;
// runClean cleans on 4/5 of it and re-scans on the other fifth. Measured on the domain's test
// split with the true trigger: accuracy and ASR before, after, and after one more epoch of plain
// fine-tuning on the labelled set at the zoo's learning rate (does the backdoor come back?).
// Models the gate did not flag (clean controls, and backdoors it missed) are cleaned with
// --force, as a user who knows better would; they are reported apart from the flagged ones.

/** The labelled clean set for a domain, written once as x.npy + y.npy for runClean. */
function labelledSet(d: Domain): { spec: string; set: LabelledImageSet; perClass: number; percentOfTraining: number } {
  const { set, perClass, percentOfTraining } = evalLabelledSet(d);
  const spec = path.resolve(values.cache!, 'data', `${d.name}-${perClass}`);
  if (!existsSync(path.join(spec, 'y.npy'))) {
    mkdirSync(spec, { recursive: true });
    writeNpy(path.join(spec, 'x.npy'), set.x, [set.count, ...d.shape]);
    writeNpy(path.join(spec, 'y.npy'), set.labels, [set.count]);
  }
  return { spec, set, perClass, percentOfTraining };
}

/**
 * The eval's probes (unlabelled), written once as x.npy: what the action hands the cleaning besides
 * clean-data. With --judge-probes, JUDGE_PROBES more held-out images follow them, ones the
 * labelled set does not take, so runClean cleans with the same probes and judges on the rest.
 */
function probeSet(d: Domain, perClass: number): string {
  const judge = values['judge-probes'];
  const dir = path.resolve(values.cache!, judge ? 'probes-judge' : 'probes', d.name);
  if (!existsSync(path.join(dir, 'x.npy'))) {
    mkdirSync(dir, { recursive: true });
    const held = d.split('heldout');
    const indices = [...Array(EVAL_PROBES).keys()];
    if (judge) {
      // The images after the probes that labelledSet's perClassSubset does not take are free.
      const labelled = new Set(perClassIndices(held.labels.subarray(EVAL_PROBES), perClass).map((i) => EVAL_PROBES + i));
      const free = [...Array(held.count).keys()].filter((i) => i >= EVAL_PROBES && !labelled.has(i));
      if (free.length < JUDGE_PROBES) throw new Error(`${d.name}: the held-out pool has too few images for ${JUDGE_PROBES} judging probes`);
      indices.push(...free.slice(0, JUDGE_PROBES));
    }
    writeNpy(path.join(dir, 'x.npy'), pickImages(held, indices).x, [indices.length, ...d.shape]);
  }
  return dir;
}

interface GateRow {
  name: string;
  verdict: string;
  suspectedTarget: number | null;
}

function gateVerdicts(): Map<string, GateRow> {
  if (!existsSync(values['eval-results']!)) throw new Error(`${values['eval-results']} not found: run npm run eval first (the gate's verdicts)`);
  const rows = (JSON.parse(readFileSync(values['eval-results']!, 'utf8')) as { rows: GateRow[] }).rows;
  return new Map(rows.map((r) => [r.name, r]));
}

/** --true-target: every all-to-one backdoor flagged `backdoored` at its true target; the rest unflagged. */
function trueTargetVerdicts(cards: ZooCard[]): Map<string, GateRow> {
  const allToOne = (c: ZooCard) => c.attack && c.attack.family !== 'all-to-all';
  return new Map(
    cards.map((c) => [
      c.name,
      allToOne(c) ? { name: c.name, verdict: 'backdoored', suspectedTarget: c.attack!.target } : { name: c.name, verdict: 'clean', suspectedTarget: null },
    ]),
  );
}

async function benchmark(split: Role): Promise<void> {
  const manifest = path.join(values.zoo!, 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`${manifest} not found: run npm run zoo first`);
  const only = values.only?.split(',');
  const cards = (JSON.parse(readFileSync(manifest, 'utf8')) as { models: ZooCard[] }).models.filter(
    (c) => roleOf(c) === split && (!only || only.includes(c.name)),
  );
  const gate = values['true-target'] ? trueTargetVerdicts(cards) : gateVerdicts();
  const rows: Row[] = [];
  for (const card of cards) {
    const method = values.method as CleanMethod;
    const base = { model: card.name, family: card.attack?.family ?? 'clean', method, domain: card.domain, arch: card.arch };
    const excluded =
      unusable(card) ??
      (card.head === 'multi-label' ? 'multi-label head: cleaning is built for single-label classifiers' : undefined) ??
      (gate.has(card.name) ? undefined : `not in ${values['eval-results']}`);
    if (excluded) {
      rows.push({ ...base, skipped: excluded, before: { accuracy: card.cleanAccuracy, asr: card.attackSuccessRate } });
      continue;
    }
    const verdict = gate.get(card.name)!;
    const v = verdict.verdict;
    const flagged: CleanRequest['flagged'] =
      (v === 'suspicious' || v === 'backdoored') && verdict.suspectedTarget !== null ? { verdict: v, target: verdict.suspectedTarget } : undefined;
    const d = domain(card.domain);
    const test = d.split('test');
    const labelled = labelledSet(d);
    const measure = (m: tf.LayersModel) => testAccuracyAndAsr(m, test, card);
    const dir = path.join(values.zoo!, card.name);
    const original = await loadModel(dir);
    const before = measure(original.model.editableLayers!.model);
    original.model.dispose();
    const out = path.resolve(values.cache!, 'out', card.name);
    rmSync(out, { recursive: true, force: true });
    const report = await runClean(
      {
        model: dir,
        data: labelled.spec,
        out,
        method,
        seed: 0,
        policy: DEFAULT_CLEAN_POLICY,
        ...(flagged ? { flagged } : { force: true }),
        ...(values.probes ? { unlabelled: probeSet(d, labelled.perClass) } : {}),
      },
      new MemoryLogger(),
    );
    const row: Row = {
      ...base,
      mode: flagged ? 'flagged' : 'forced',
      gateVerdict: verdict.verdict,
      before,
      labelled: { images: labelled.set.count, perClass: labelled.perClass, percentOfTraining: labelled.percentOfTraining },
      clean: {
        verdictBefore: report.verdictBefore,
        verdictAfter: report.verdictAfter,
        flaggedTarget: report.flaggedTarget,
        forcedTarget: report.forcedTarget,
        skipped: report.skipped,
        data: report.data,
        rescannedImages: report.rescannedImages,
        retuneTrial: report.retuneTrial,
        accuracyCost: report.accuracyCost,
        steps: report.steps,
        // What the action would ship: a clean re-scan within the policy's accuracy cost.
        passes: cleanedModelPasses(report),
      },
      ...(report.skipped ? { skipped: `not cleaned: ${report.skipped}` } : {}),
      ...(report.log ? { ran: report.log.method } : {}),
      seconds: report.log?.seconds,
    };
    if (report.output) {
      const cleaned = await loadModel(out);
      const layers = cleaned.model.editableLayers!.model;
      row.after = measure(layers);
      row.accuracyDropPoints = 100 * (before.accuracy - row.after.accuracy);
      row.verdictAfter = report.verdictAfter;
      trainEpochs(layers, labelled.set as TaskData, { ...RETUNE, head: card.head, outputs: card.outputs });
      row.retuned = measure(layers);
      cleaned.model.dispose();
    }
    rows.push(row);
    const pct = (v: number | null | undefined) => (v == null ? '-' : (100 * v).toFixed(1));
    console.log(
      `${card.name.padEnd(40)} ${row.mode!.padEnd(7)} gate ${verdict.verdict.padEnd(10)} acc ${pct(before.accuracy)} → ${pct(row.after?.accuracy)}  ASR ${pct(before.asr)} → ${pct(row.after?.asr)} → retune ${pct(row.retuned?.asr)}  re-scan ${row.verdictAfter ?? row.skipped}  ${(row.seconds ?? 0).toFixed(0)}s`,
    );
  }
  report(rows, [values.method!]);
}

const PASS_ASR = 0.05;
const PASS_DROP = 2;

/** The issue's figures over one group of benchmark rows (backdoored ones; controls: drop only). */
function splitFigures(rows: Row[]) {
  const bad = rows.filter((r) => r.family !== 'clean');
  const done = bad.filter((r) => r.after);
  const pass = done.filter((r) => r.after!.asr! <= PASS_ASR && within(r.accuracyDropPoints!, PASS_DROP)).length;
  const pct1 = (v: number) => Math.round(10 * v) / 10;
  return {
    backdoored: bad.length,
    cleaned: done.length,
    notCleaned: bad.filter((r) => !r.after).map((r) => `${r.model}: ${r.skipped}`),
    meanAsrBeforePct: pct1(100 * mean(done.map((r) => r.before.asr!))),
    meanAsrAfterPct: pct1(100 * mean(done.map((r) => r.after!.asr!))),
    meanAccuracyDropPoints: pct1(mean(done.map((r) => r.accuracyDropPoints!))),
    atMost5PctWithin2Points: { k: pass, n: done.length, ci95: wilson(pass, done.length).map((v) => pct1(100 * v)) },
    meanAsrAfterRetunePct: pct1(100 * mean(done.map((r) => r.retuned!.asr!))),
    rescanClean: done.filter((r) => r.verdictAfter === 'clean').length,
    gateWouldShip: done.filter((r) => r.clean?.passes).length,
    controlsDropPoints: rows.filter((r) => r.family === 'clean' && r.after).map((r) => pct1(r.accuracyDropPoints!)),
    meanSeconds: Math.round(mean(rows.filter((r) => r.seconds !== undefined).map((r) => r.seconds!))),
  };
}

export function summariseSplit(rows: Row[]) {
  return {
    flagged: splitFigures(rows.filter((r) => r.mode === 'flagged')),
    forced: splitFigures(rows.filter((r) => r.mode === 'forced')),
    excluded: rows.filter((r) => !r.mode).map((r) => `${r.model}: ${r.skipped}`),
  };
}

/** One line per cleaned model, then the two groups' figures. */
function splitTables(summary: ReturnType<typeof summariseSplit>, rows: Row[]): string {
  const pct = (v: number | null | undefined) => (v == null ? '–' : (100 * v).toFixed(1));
  const head = ['model', 'family', 'gate', 'how', 'acc before → after', 'ASR before → after → re-tuned', 're-scan', 's'];
  const lines = rows
    .filter((r) => r.mode)
    .map((r) => [
      r.model,
      r.family,
      r.gateVerdict!,
      `${r.method}${r.ran && r.ran !== r.method ? ` (${r.ran})` : ''}${r.mode === 'flagged' ? (r.clean?.flaggedTarget !== undefined ? ' at the gate target' : '') : ' --force'}`,
      `${pct(r.before.accuracy)} → ${pct(r.after?.accuracy)}`,
      `${pct(r.before.asr)} → ${pct(r.after?.asr)} → ${pct(r.retuned?.asr)}`,
      r.verdictAfter ?? `not cleaned (${r.clean?.verdictBefore})`,
      r.seconds === undefined ? '–' : r.seconds.toFixed(0),
    ]);
  const table = [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
  return `${table}\n\n${JSON.stringify(summary, null, 2)}`;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
