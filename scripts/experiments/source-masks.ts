// Experiment for issue 19's source-specific blind spot (docs/detection.md, "One untargeted mask per
// source class"): a TaCT-style backdoor moves only its source class's images to the target, so no
// per-class mask moves most probes and the per-class scans call it `clean`. Pair masks (one per
// source and target) found it, at Neural Cleanse's cost (pair-masks.ts). This asks a cheaper
// question, K masks instead of K²: per source class s, the smallest mask that takes ≥ 90 % of the
// probes the model puts in s off s, to any class (the scan's untargeted row, run on s's probes
// alone). Each probe is stamped by its own source's mask only, so the K masks cost about as many
// differentiated rows as a third of the scan's mask inversion.
//
// Fixed before any backdoored model was measured (2026-12-07):
//   statistic  ln(median_s u_s / min_s u_s) over the sources with ≥ 8 probes (u_s the image area
//              when no mask reached 90 %): how many times cheaper than usual the easiest exit is;
//   threshold  thresholdLevel (the scans' recipe: the larger of mean + 3 SD and the largest + ¼ of
//              the clean tuning models, rounded up to a quarter) on the clean tuning models;
//   judged on  the clean validation and test models (false alarms), the source-specific models
//              (no tuning model has that attack) and the all-to-one backdoors.
// A second statistic is printed, not judged: ln(smallest per-class mask of the eval's scan / min_s u_s).
// Records cached in .cache/experiments/source-masks.
//   tsx scripts/experiments/source-masks.ts [--shard i/n] [--rows .cache/eval-untargeted/rows] [--analyse] NAME…|--all
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../src/model/load.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { median } from '../../src/scan/robust.js';
import { auroc, thresholdLevel, unusable } from '../eval-summary.js';
import { cardOf, evalMasks, evalProbes, identityOf, measureShard, readRecords, zooCards } from './records.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    shard: { type: 'string' },
    analyse: { type: 'boolean' },
    all: { type: 'boolean' },
    rows: { type: 'string', default: '.cache/eval-untargeted/rows' },
    epochs: { type: 'string', default: '32' },
    batch: { type: 'string', default: '8' },
  },
});
const EPOCHS = Number(values.epochs);
const BATCH = Number(values.batch);
const MIN_PROBES = 8;
const CACHE = `.cache/experiments/source-masks/e${EPOCHS}-b${BATCH}`;

interface SourceRecord extends ReturnType<typeof identityOf> {
  /** Per source class: probes the model puts there, and the smallest mask taking ≥ 90 % of them off it (null: too few probes). */
  sources: Array<{ class: number; probes: number; maskL1: number | null; asr: number | null }>;
  source: number | null;
  /** The eval scan's targeted masks, per class. */
  targetedL1: number[];
  area: number;
  seconds: number;
}

async function measure(name: string): Promise<SourceRecord> {
  const card = cardOf(name);
  const { model } = await loadModel(`zoo/${name}`);
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const { x, count } = evalProbes(values.rows, card.domain);
  const own = tf.tidy(() => tf.argMax(model.logits(tf.tensor4d(x, [count, H, W, C])), 1)).dataSync();
  const t0 = performance.now();
  const sources: SourceRecord['sources'] = [];
  for (let s = 0; s < model.numClasses; s++) {
    const idx = [...own.keys()].filter((i) => own[i] === s);
    if (idx.length < MIN_PROBES) {
      sources.push({ class: s, probes: idx.length, maskL1: null, asr: null });
      continue;
    }
    const sub = new Float32Array(idx.length * n);
    idx.forEach((i, j) => sub.set(x.subarray(i * n, (i + 1) * n), j * n));
    const probe = { x: sub, count: idx.length, height: H, width: W, channels: C, source: `eval probes of class ${s}` };
    const { untargeted } = await reconstructMasks(model, probe, { classes: [], untargeted: true, epochs: EPOCHS, batchSize: BATCH, maxImages: count });
    sources.push({ class: s, probes: idx.length, maskL1: untargeted!.maskL1, asr: untargeted!.asr });
  }
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  const attack = card.attack as { source?: number } | undefined;
  return { ...identityOf(card), sources, source: attack?.source ?? null, targetedL1: evalMasks(values.rows, name), area: H * W, seconds };
}

const candidates = () =>
  values.all
    ? zooCards()
        .filter((c) => c.head !== 'multi-label' && c.outputs === 10 && !unusable(c))
        .map((c) => c.name)
    : positionals;

const measured = (r: SourceRecord) => r.sources.filter((s) => s.maskL1 !== null) as Array<{ class: number; probes: number; maskL1: number; asr: number }>;
/** The fixed statistic: ln(median / smallest) of the per-source masks. */
const statistic = (r: SourceRecord) => {
  const l1 = measured(r).map((s) => Math.max(s.maskL1, 1));
  return Math.log(median(l1) / Math.min(...l1));
};
const easiest = (r: SourceRecord) => measured(r).reduce((a, s) => (s.maskL1 < a.maskL1 ? s : a));
const againstTargeted = (r: SourceRecord) => Math.log(Math.min(...r.targetedL1) / Math.max(easiest(r).maskL1, 1));

if (!values.analyse)
  await measureShard(
    CACHE,
    candidates(),
    values.shard,
    measure,
    (name, r) =>
      `${name} [${r.role}] ${r.family}: statistic ${statistic(r).toFixed(2)}, easiest source ${easiest(r).class} (${easiest(r).maskL1.toFixed(1)} px), ${r.seconds.toFixed(1)} s`,
  );

if (values.analyse) {
  const records = readRecords<SourceRecord>(CACHE).sort((a, b) => statistic(b) - statistic(a));
  for (const r of records)
    console.log(
      `${r.name.padEnd(40)} ${r.role.padEnd(10)} ${r.family.padEnd(15)} ${statistic(r).toFixed(2).padStart(5)}  easiest ${String(easiest(r).class).padStart(2)}${r.source === null ? '' : ` (source ${r.source})`} ${easiest(r).maskL1.toFixed(1).padStart(6)} px, median ${median(
        measured(r).map((s) => s.maskL1),
      )
        .toFixed(1)
        .padStart(6)}; against targeted ${againstTargeted(r).toFixed(2)}; ${r.seconds.toFixed(0)} s`,
    );
  const cleanTuning = records.filter((r) => r.family === 'clean' && r.role === 'tuning');
  const threshold = thresholdLevel(cleanTuning.map(statistic), 0.5).suspicious;
  const cleanOther = records.filter((r) => r.family === 'clean' && r.role !== 'tuning');
  const sourceSpecific = records.filter((r) => r.family === 'source-specific');
  const allToOne = records.filter((r) => r.family !== 'clean' && r.family !== 'source-specific' && r.family !== 'all-to-all');
  const above = (rs: SourceRecord[]) => rs.filter((r) => statistic(r) > threshold);
  console.log(
    `threshold ${threshold.toFixed(2)} (recipe on ${cleanTuning.length} clean tuning models, largest ${Math.max(...cleanTuning.map(statistic)).toFixed(2)})`,
  );
  console.log(
    `clean validation/test above: ${above(cleanOther).length} of ${cleanOther.length} (largest ${Math.max(...cleanOther.map(statistic)).toFixed(2)})`,
  );
  console.log(
    `source-specific above: ${above(sourceSpecific).length} of ${sourceSpecific.length}; easiest source = planted source on ${sourceSpecific.filter((r) => easiest(r).class === r.source).length}`,
  );
  console.log(`all-to-one backdoors above: ${above(allToOne).length} of ${allToOne.length}`);
  const clean = records.filter((r) => r.family === 'clean');
  console.log(
    `AUROC source-specific vs all clean: ${auroc(sourceSpecific.map(statistic), clean.map(statistic)).toFixed(3)}; against targeted: ${auroc(sourceSpecific.map(againstTargeted), clean.map(againstTargeted)).toFixed(3)}`,
  );
}
