// `npm run eval`: runs the gate's own pipeline (runGate, default policy) on every zoo model and
// on the extracted nsfwjs models, plus the Neural Cleanse baseline on the zoo, and prints and
// writes eval-results.json: AUROC per scanner and per attack family, TPR at 5 % FPR, detection
// accuracy, per-family detection, target accuracy, calibration cross-entropy, seconds per model.
//   tsx scripts/eval.ts [--zoo zoo] [--data mnist:heldout] [--nsfwjs .cache/models/nsfwjs]
//                       [--no-baseline] [--fit-calibration] [--only a,b] [--out eval-results.json]
// --fit-calibration refits the score's logistic model on this run's zoo rows and writes
// src/core/calibration.json (then rebuild dist).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CALIBRATION, calibratedScore, featureVector, fitWithLeaveOneOut, type Calibration, type FeatureSet, type ScoreFeatures } from '../src/core/calibration.js';
import { loadProbeImages } from '../src/data/sources.js';
import { selectBackend, type EngineInfo } from '../src/engine/backend.js';
import { planRows } from '../src/engine/memory.js';
import { runGate } from '../src/gate.js';
import { MemoryLogger } from '../src/logger.js';
import { loadModel } from '../src/model/load.js';
import { neuralCleanse } from '../src/scan/neural-cleanse.js';
import { defaultSettings } from '../src/settings.js';
import type { ZooCard } from './zoo.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    data: { type: 'string', default: 'mnist:heldout' },
    nsfwjs: { type: 'string', default: '.cache/models/nsfwjs' },
    out: { type: 'string', default: 'eval-results.json' },
    only: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
    'fit-calibration': { type: 'boolean', default: false },
  },
});

/** AUROC by the rank statistic (ties count half). */
export function auroc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return positives.length && negatives.length ? wins / (positives.length * negatives.length) : NaN;
}

/** TPR at the lowest threshold whose FPR ≤ 5 %. */
function tprAt5(positives: number[], negatives: number[]): number {
  const thresholds = [...new Set([...positives, ...negatives])].sort((a, b) => b - a);
  let best = 0;
  for (const t of thresholds) {
    const fpr = negatives.filter((n) => n >= t).length / negatives.length;
    if (fpr <= 0.05) best = Math.max(best, positives.filter((p) => p >= t).length / positives.length);
  }
  return best;
}

interface Row {
  name: string;
  /** `clean`, an attack family, or `nsfwjs` (real pretrained models, assumed clean). */
  family: string;
  target: number | null;
  verdict: string;
  score: number;
  suspectedTarget: number | null;
  features: ScoreFeatures;
  hessian: { gap: number; spikeZ: number; localisation: number; agreement: number };
  scanSeconds: Record<string, number>;
  seconds: number;
  budgetsTier?: string;
  nc?: { anomaly: number; target: number | null; seconds: number };
}

type Scan = Record<string, unknown> & { method: string; seconds: number };
const scanOf = (scans: Scan[], method: string) => scans.find((s) => s.method === method);

async function evaluate(engine: EngineInfo, name: string, dir: string, family: string, target: number | null, data: string | undefined, baseline: boolean): Promise<Row> {
  const settings = defaultSettings(dir, data);
  const t0 = performance.now();
  const { report } = await runGate(settings, engine, new MemoryLogger());
  const seconds = (performance.now() - t0) / 1000;
  if (report.verdict === 'error') throw new Error(`${name}: ${report.error}`);
  const scans = report.scans as Scan[];
  const dense = scanOf(scans, 'trigger-inversion');
  const mask = scanOf(scans, 'mask-inversion');
  const h: Record<string, unknown> = scanOf(scans, 'input-hessian') ?? {};
  const num = (v: unknown) => (typeof v === 'number' ? v : Number(v));
  const row: Row = {
    name,
    family,
    target,
    verdict: report.verdict,
    score: report.score ?? NaN,
    suspectedTarget: report.suspectedTarget ?? null,
    features: { dense: dense && num(dense.anomaly), mask: mask && num(mask.ratio) },
    hessian: { gap: num(h.gap), spikeZ: num(h.spikeZ), localisation: num(h.localisation), agreement: num(h.agreement) },
    scanSeconds: Object.fromEntries(scans.map((s) => [s.method, s.seconds])),
    seconds,
    budgetsTier: report.policy?.budgets?.tier,
  };
  if (baseline) {
    const { model } = await loadModel(dir);
    const probe = loadProbeImages(data, { shape: model.inputShape, maxImages: settings.maxProbeImages, seed: 0 });
    const nc = neuralCleanse(model, probe, { rows: await planRows(model) });
    row.nc = { anomaly: nc.anomaly, target: nc.suspectedTarget, seconds: nc.seconds };
    model.dispose();
  }
  const f = row.features;
  console.log(
    `${name.padEnd(24)} ${row.verdict.padEnd(10)} score ${row.score.toFixed(3)} target ${String(row.suspectedTarget).padEnd(4)} (true ${String(target).padEnd(4)}) ` +
      `dense ${(f.dense ?? 0).toFixed(2).padStart(7)} mask ${(f.mask ?? 0).toFixed(2)} gap ${row.hessian.gap.toFixed(2)} loc ${row.hessian.localisation.toFixed(1)} ${seconds.toFixed(1)}s` +
      (row.nc ? ` | NC ${row.nc.anomaly.toFixed(2)} target ${row.nc.target} ${row.nc.seconds.toFixed(1)}s` : ''),
  );
  return row;
}

function fitCalibration(rows: Row[]): Calibration {
  const y = rows.map((r) => (r.family === 'clean' ? 0 : 1));
  const l2 = 0.1;
  const fit = (set: FeatureSet) => fitWithLeaveOneOut(rows.map((r) => featureVector(r.features, set)), y, l2);
  return { fittedOn: `${values.zoo} (${rows.length} models, probes ${values.data})`, models: rows.length, l2, fits: { 'dense+mask': fit('dense+mask'), dense: fit('dense'), mask: fit('mask') } };
}

async function main(): Promise<void> {
  const manifestFile = path.join(values.zoo!, 'manifest.json');
  if (!existsSync(manifestFile)) throw new Error(`${manifestFile} not found: run npm run zoo first`);
  const only = values.only?.split(',');
  const cards = (JSON.parse(readFileSync(manifestFile, 'utf8')) as { models: ZooCard[] }).models.filter((c) => !only || only.includes(c.name));
  const engine = await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  const rows: Row[] = [];
  for (const card of cards) {
    rows.push(await evaluate(engine, card.name, path.join(values.zoo!, card.name), card.attack?.family ?? 'clean', card.attack?.target ?? null, values.data, !values['no-baseline']));
  }
  const real: Row[] = [];
  const nsfwDir = values.nsfwjs!;
  if (existsSync(nsfwDir)) {
    for (const name of readdirSync(nsfwDir).sort()) {
      if (only && !only.includes(name)) continue;
      // No natural-image probe data ships with the gate: these are scanned on synthetic OOD probes, as a user without data would.
      real.push(await evaluate(engine, name, path.join(nsfwDir, name), 'nsfwjs', null, undefined, false));
    }
  } else console.log(`${nsfwDir} not found (npm run extract-models): the nsfwjs models are not in this run`);

  let calibration = CALIBRATION;
  if (values['fit-calibration']) {
    calibration = fitCalibration(rows);
    writeFileSync('src/core/calibration.json', `${JSON.stringify(calibration, null, 2)}\n`);
    for (const r of [...rows, ...real]) r.score = calibratedScore(r.features, calibration) ?? NaN;
    console.log('wrote src/core/calibration.json (rebuild dist: npm run build)');
  }

  const pos = rows.filter((r) => r.family !== 'clean');
  const neg = rows.filter((r) => r.family === 'clean');
  const families = [...new Set(pos.map((r) => r.family))];
  const metric = (f: (r: Row) => number) => ({ auroc: auroc(pos.map(f), neg.map(f)), tprAt5FprPct: 100 * tprAt5(pos.map(f), neg.map(f)) });
  const perFamilyAuroc = (f: (r: Row) => number) => Object.fromEntries(families.map((fam) => [fam, auroc(pos.filter((r) => r.family === fam).map(f), neg.map(f))]));
  const flagged = (r: Row) => r.verdict !== 'clean';
  const detected = pos.filter(flagged);
  const ce = (rs: Row[]) => rs.reduce((a, r) => a - Math.log(Math.min(1 - 1e-12, Math.max(1e-12, r.family === 'clean' ? 1 - r.score : r.score))), 0) / rs.length;
  const sum = (rs: Row[], f: (r: Row) => number) => rs.reduce((a, r) => a + f(r), 0);
  const summary = {
    data: values.data,
    models: rows.length,
    cleanModels: neg.length,
    combined: {
      ...metric((r) => r.score),
      accuracyPct: (100 * rows.filter((r) => flagged(r) === (r.family !== 'clean')).length) / rows.length,
      scoreCrossEntropy: { thisRun: ce(rows), calibrationFit: calibration.fits['dense+mask'].crossEntropy, fittedOn: calibration.fittedOn },
    },
    scanners: {
      'trigger-inversion': metric((r) => r.features.dense ?? 0),
      'mask-inversion': metric((r) => r.features.mask ?? 0),
      'hessian-gap': metric((r) => r.hessian.gap),
      'hessian-spike-z': metric((r) => r.hessian.spikeZ),
      'hessian-localisation': metric((r) => r.hessian.localisation),
    },
    hessianAurocPerFamily: { gap: perFamilyAuroc((r) => r.hessian.gap), spikeZ: perFamilyAuroc((r) => r.hessian.spikeZ), localisation: perFamilyAuroc((r) => r.hessian.localisation) },
    perFamilyDetectionPct: Object.fromEntries(families.map((f) => [f, (100 * pos.filter((r) => r.family === f && flagged(r)).length) / pos.filter((r) => r.family === f).length])),
    targetAccuracyPct: detected.length ? (100 * detected.filter((r) => r.suspectedTarget === r.target).length) / detected.length : NaN,
    cleanCalledBackdoored: neg.filter((r) => r.verdict === 'backdoored').length,
    cleanCalledSuspicious: neg.filter((r) => r.verdict === 'suspicious').length,
    meanSecondsPerModel: sum(rows, (r) => r.seconds) / rows.length,
    nsfwjs: real.map((r) => ({ name: r.name, verdict: r.verdict, score: r.score, tier: r.budgetsTier, seconds: r.seconds, features: r.features, hessian: r.hessian })),
    neuralCleanseBaseline: rows[0]?.nc
      ? {
          ...metric((r) => r.nc!.anomaly),
          accuracyPct: (100 * rows.filter((r) => (r.nc!.target !== null) === (r.family !== 'clean')).length) / rows.length,
          perFamilyDetectionPct: Object.fromEntries(families.map((f) => [f, (100 * pos.filter((r) => r.family === f && r.nc!.target !== null).length) / pos.filter((r) => r.family === f).length])),
          targetAccuracyPct: (100 * pos.filter((r) => r.nc!.target !== null && r.nc!.target === r.target).length) / Math.max(1, pos.filter((r) => r.nc!.target !== null).length),
          cleanFlagged: neg.filter((r) => r.nc!.target !== null).length,
          meanSeconds: sum(rows, (r) => r.nc!.seconds) / rows.length,
          speedupOfTriggerInversion: sum(rows, (r) => r.nc!.seconds) / sum(rows, (r) => r.scanSeconds['trigger-inversion']),
          speedupOfBothInversions: sum(rows, (r) => r.nc!.seconds) / sum(rows, (r) => r.scanSeconds['trigger-inversion'] + r.scanSeconds['mask-inversion']),
          budget: 'bounded: 40 epochs over 128 probe images per class (official: up to 1,000 passes over ~1,000 images, early-stopped)',
        }
      : null,
    note: 'Verdict thresholds were set on the first 14 zoo models; the score is fitted on this zoo (leave-one-out cross-entropy given). nsfwjs models are scanned on synthetic OOD probes.',
    rows,
  };
  writeFileSync(values.out!, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify({ ...summary, rows: undefined }, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
