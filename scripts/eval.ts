// `npm run eval`: runs every scanner and the combined verdict on the zoo (npm run zoo first);
// prints and writes eval-results.json: AUROC per scanner, TPR at 5 % FPR, detection accuracy,
// per-family detection, target accuracy, seconds per model.
//   tsx scripts/eval.ts [--zoo zoo] [--data mnist:heldout] [--out eval-results.json]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decide } from '../src/core/verdict.js';
import { loadProbeImages } from '../src/data/sources.js';
import { selectBackend } from '../src/engine/backend.js';
import { ConsoleLogger } from '../src/logger.js';
import { loadModel } from '../src/model/load.js';
import { hessianSpectrum } from '../src/scan/hessian.js';
import { reconstructTriggers } from '../src/scan/inversion.js';
import { reconstructMasks } from '../src/scan/mask-inversion.js';
import { neuralCleanse } from '../src/scan/neural-cleanse.js';
import type { ZooCard } from './zoo.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    data: { type: 'string', default: 'mnist:heldout' },
    out: { type: 'string', default: 'eval-results.json' },
    'no-baseline': { type: 'boolean', default: false },
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
  family: string;
  target: number | null;
  verdict: string;
  score: number;
  suspectedTarget: number | null;
  dense: number;
  mask: number;
  hessianGap: number;
  hessianLocalisation: number;
  /** Neural Cleanse baseline: anomaly index, its flag (> 2) and target. */
  nc?: { anomaly: number; target: number | null; seconds: number };
  scanSeconds: { inversion: number; mask: number; hessian: number };
  seconds: number;
}

async function main(): Promise<void> {
  const manifestFile = path.join(values.zoo!, 'manifest.json');
  if (!existsSync(manifestFile)) throw new Error(`${manifestFile} not found: run npm run zoo first`);
  const cards = (JSON.parse(readFileSync(manifestFile, 'utf8')) as { models: ZooCard[] }).models;
  const logger = new ConsoleLogger();
  await selectBackend({ choice: 'auto', logger });
  const rows: Row[] = [];
  for (const card of cards) {
    const t0 = performance.now();
    const { model } = await loadModel(path.join(values.zoo!, card.name));
    const probe = loadProbeImages(values.data, { shape: model.inputShape, maxImages: 256, seed: 0 });
    const dense = reconstructTriggers(model, probe);
    const mask = reconstructMasks(model, probe);
    const hessian = hessianSpectrum(model, probe);
    const d = decide({ dense, mask, hessian });
    const nc = values['no-baseline'] ? undefined : neuralCleanse(model, probe);
    const row: Row = {
      name: card.name,
      family: card.attack?.family ?? 'clean',
      target: card.attack?.target ?? null,
      verdict: d.verdict,
      score: d.score,
      suspectedTarget: d.suspectedTarget,
      dense: dense.suspectedTarget === null ? 0 : dense.anomaly,
      mask: mask.ratio,
      hessianGap: hessian.gap,
      hessianLocalisation: hessian.localisation,
      nc: nc && { anomaly: nc.anomaly, target: nc.suspectedTarget, seconds: nc.seconds },
      scanSeconds: { inversion: dense.seconds, mask: mask.seconds, hessian: hessian.seconds },
      seconds: (performance.now() - t0) / 1000 - (nc?.seconds ?? 0),
    };
    rows.push(row);
    model.dispose();
    console.log(`${row.name.padEnd(24)} ${row.verdict.padEnd(10)} score ${row.score.toFixed(3)} target ${String(row.suspectedTarget).padEnd(4)} (true ${String(row.target).padEnd(4)}) dense ${row.dense.toFixed(2).padStart(7)} mask ${row.mask.toFixed(2)} gap ${row.hessianGap.toFixed(2)} loc ${row.hessianLocalisation.toFixed(1)} ${row.seconds.toFixed(1)}s${nc ? ` | NC ${nc.anomaly.toFixed(2)} target ${nc.suspectedTarget} ${nc.seconds.toFixed(1)}s` : ''}`);
  }
  const pos = rows.filter((r) => r.family !== 'clean');
  const neg = rows.filter((r) => r.family === 'clean');
  const metric = (f: (r: Row) => number) => ({ auroc: auroc(pos.map(f), neg.map(f)), tprAt5FprPct: 100 * tprAt5(pos.map(f), neg.map(f)) });
  const flagged = (r: Row) => r.verdict !== 'clean';
  const detected = pos.filter(flagged);
  const families = [...new Set(pos.map((r) => r.family))];
  const summary = {
    data: values.data,
    models: rows.length,
    combined: { ...metric((r) => r.score), accuracyPct: (100 * rows.filter((r) => flagged(r) === (r.family !== 'clean')).length) / rows.length },
    scanners: {
      'trigger-inversion': metric((r) => r.dense),
      'mask-inversion': metric((r) => r.mask),
      'hessian-gap': metric((r) => r.hessianGap),
      'hessian-localisation': metric((r) => r.hessianLocalisation),
    },
    perFamilyDetectionPct: Object.fromEntries(families.map((f) => [f, (100 * pos.filter((r) => r.family === f && flagged(r)).length) / pos.filter((r) => r.family === f).length])),
    targetAccuracyPct: detected.length ? (100 * detected.filter((r) => r.suspectedTarget === r.target).length) / detected.length : NaN,
    cleanCalledBackdoored: neg.filter((r) => r.verdict === 'backdoored').length,
    meanSecondsPerModel: rows.reduce((a, r) => a + r.seconds, 0) / rows.length,
    neuralCleanseBaseline: rows[0].nc
      ? {
          ...metric((r) => r.nc!.anomaly),
          accuracyPct: (100 * rows.filter((r) => (r.nc!.target !== null) === (r.family !== 'clean')).length) / rows.length,
          perFamilyDetectionPct: Object.fromEntries(families.map((f) => [f, (100 * pos.filter((r) => r.family === f && r.nc!.target !== null).length) / pos.filter((r) => r.family === f).length])),
          targetAccuracyPct: (100 * pos.filter((r) => r.nc!.target !== null && r.nc!.target === r.target).length) / Math.max(1, pos.filter((r) => r.nc!.target !== null).length),
          meanSeconds: rows.reduce((a, r) => a + r.nc!.seconds, 0) / rows.length,
          speedupOfTriggerInversion: rows.reduce((a, r) => a + r.nc!.seconds, 0) / rows.reduce((a, r) => a + r.scanSeconds.inversion, 0),
          speedupOfBothInversions: rows.reduce((a, r) => a + r.nc!.seconds, 0) / rows.reduce((a, r) => a + r.scanSeconds.inversion + r.scanSeconds.mask, 0),
          budget: 'bounded: 40 epochs over 128 probe images per class (official: 1,000 passes over ~1,000 images)',
        }
      : null,
    note: 'Thresholds were chosen on this same zoo (in-sample); the nsfwjs models are not in this run.',
    rows,
  };
  writeFileSync(values.out!, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify({ ...summary, rows: undefined }, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
