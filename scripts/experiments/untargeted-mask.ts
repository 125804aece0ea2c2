// Experiment for issue 19's all-to-all blind spot (docs/detection.md, "An untargeted mask"): the
// per-class mask inversion looks for one patch that sends most images to one class, which an
// all-to-all backdoor (y → y + 1) does not have. An untargeted mask, one patch that takes most
// images away from the class the model gives them (to any other), does: it is the planted patch.
// On a clean model it has to move every class at once, and within this budget it ends larger than
// the per-class masks. The statistic is ln(median per-class mask / untargeted mask). Same objective and schedule as the scan's mask inversion (hinge at
// margin 1, λ up ×2 while ≥ 90 % of the probes leave their class, down ÷1.5 otherwise, Adam 0.1,
// 16 epochs over the first 128 of the eval's probes); the targeted masks are read from the eval's
// cached 256-probe scans (`npm run eval` first). Records cached in .cache/experiments/untargeted-mask.
//   tsx scripts/experiments/untargeted-mask.ts [--shard i/n] [--analyse] NAME…|--all
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readNpy } from '../../src/data/npy.js';
import { loadModel } from '../../src/model/load.js';
import { DEFAULT_MASK_INVERSION } from '../../src/scan/mask-inversion.js';
import { presentClasses, targetMargins } from '../../src/scan/objective.js';
import { spans } from '../../src/scan/batching.js';
import { median } from '../../src/scan/robust.js';
import { auroc, unusable } from '../eval-summary.js';
import { cardOf, identityOf, measureShard, readRecords, zooCards } from './records.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { shard: { type: 'string' }, analyse: { type: 'boolean' }, all: { type: 'boolean' } },
});
const CACHE = '.cache/experiments/untargeted-mask';

interface UntargetedRecord extends ReturnType<typeof identityOf> {
  /** Smallest untargeted mask (pixels) moving ≥ 90 % of the probes off their class; the image area when none did. */
  untargetedL1: number;
  untargetedAsr: number;
  /** The eval scan's targeted masks, per class. */
  targetedL1: number[];
  area: number;
  seconds: number;
}

async function measure(name: string): Promise<UntargetedRecord> {
  const card = cardOf(name);
  const { model } = await loadModel(`zoo/${name}`);
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const opts = DEFAULT_MASK_INVERSION;
  const npy = readNpy(`.cache/eval/probes/${card.domain ?? 'mnist'}/x.npy`);
  const count = Math.min(npy.shape[0], opts.maxImages);
  const x = (npy.data as Float32Array).subarray(0, count * n);
  const logits = tf.tidy(() => model.logits(tf.tensor4d(x, [count, H, W, C])));
  const own = (await presentClasses(logits, model.decision)).map((cs) => cs[0] ?? 0);
  logits.dispose();
  const t0 = performance.now();
  const maskVar = tf.variable(tf.fill([1, H, W, 1], -2));
  const patternVar = tf.variable(tf.randomNormal([1, H, W, C], 0, 0.5, 'float32', opts.seed + 1));
  const toUnit = (v: tf.Tensor) => tf.add(tf.div(tf.tanh(v), 2), 0.5);
  const optimizer = tf.train.adam(opts.learningRate, 0.5, 0.9);
  let lambda = 0;
  let best = Infinity;
  let bestAsr = 0;
  let top = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    let moved = 0;
    for (const [s, e] of spans(count, opts.batchSize)) {
      const xs = tf.tensor4d(x.subarray(s * n, e * n), [e - s, H, W, C]);
      const sources = own.slice(s, e);
      optimizer.minimize(
        () => {
          const m = toUnit(maskVar);
          const z = model.logits(tf.add(tf.mul(tf.sub(1, m), xs), tf.mul(m, toUnit(patternVar))) as tf.Tensor4D);
          // targetMargins(z, own class) = best other − own: the image has left its class when > 0.
          const away = targetMargins(z, sources, model.decision);
          moved += tf.tidy(() => tf.sum(tf.cast(tf.greater(away, 0), 'float32')).dataSync()[0]);
          return tf.add(tf.div(tf.sum(tf.relu(tf.sub(1, away))), e - s), tf.mul(lambda, tf.sum(m))) as tf.Scalar;
        },
        false,
        [maskVar, patternVar],
      );
      xs.dispose();
    }
    const asr = moved / count;
    top = Math.max(top, asr);
    const l1 = tf.tidy(() => tf.sum(toUnit(maskVar)).dataSync()[0]);
    if (asr >= opts.asrTarget) {
      if (l1 < best) [best, bestAsr] = [l1, asr];
      lambda = lambda === 0 ? opts.initialLambda : lambda * 2;
    } else if (lambda > 0) lambda /= 1.5;
  }
  optimizer.dispose();
  maskVar.dispose();
  patternVar.dispose();
  model.dispose();
  const cached = JSON.parse(readFileSync(`.cache/eval/rows/${name}.json`, 'utf8')) as {
    report: { scans: Array<{ method: string; perClass: Array<{ maskL1: number }> }> };
  };
  const targeted = cached.report.scans.find((s) => s.method === 'mask-inversion')!.perClass.map((p) => p.maskL1);
  return {
    ...identityOf(card),
    untargetedL1: Number.isFinite(best) ? best : H * W,
    untargetedAsr: Number.isFinite(best) ? bestAsr : top,
    targetedL1: targeted,
    area: H * W,
    seconds: (performance.now() - t0) / 1000,
  };
}

const candidates = () =>
  values.all
    ? zooCards()
        .filter((c) => c.head !== 'multi-label' && c.outputs > 2 && !unusable(c))
        .map((c) => c.name)
    : positionals;

if (!values.analyse)
  await measureShard(
    CACHE,
    candidates(),
    values.shard,
    measure,
    (name, r) =>
      `${name} [${r.role}] ${r.family}: untargeted ${r.untargetedL1.toFixed(1)} px, smallest targeted ${Math.min(...r.targetedL1).toFixed(1)} px, ${r.seconds.toFixed(1)} s`,
  );

/** The documented statistic: ln(median per-class mask / untargeted mask). */
const statistic = (r: UntargetedRecord) => Math.log(median(r.targetedL1) / Math.max(r.untargetedL1, 1));
/** The variant against the smallest per-class mask, which needs a margin (docs/detection.md). */
const againstSmallest = (r: UntargetedRecord) => Math.log(Math.min(...r.targetedL1) / Math.max(r.untargetedL1, 1));

if (values.analyse) {
  const records = readRecords<UntargetedRecord>(CACHE).sort((a, b) => statistic(b) - statistic(a));
  for (const r of records)
    console.log(
      `${r.name.padEnd(36)} ${r.role.padEnd(10)} ${r.family.padEnd(14)} statistic ${statistic(r).toFixed(2).padStart(5)} (against the smallest ${againstSmallest(r).toFixed(2).padStart(5)})  untargeted ${r.untargetedL1.toFixed(1).padStart(6)} px (${(100 * r.untargetedAsr).toFixed(0)} %)  per-class median ${median(r.targetedL1).toFixed(1).padStart(6)}`,
    );
  // The threshold is the largest clean tuning model's value; the other splits are judged by it.
  const cleanTuning = records.filter((r) => r.family === 'clean' && r.role === 'tuning').map(statistic);
  const threshold = Math.max(...cleanTuning);
  const above = (rs: UntargetedRecord[]) => rs.filter((r) => statistic(r) > threshold).length;
  const cleanOther = records.filter((r) => r.family === 'clean' && r.role !== 'tuning');
  const allToAll = records.filter((r) => r.family === 'all-to-all');
  console.log(
    `threshold ${threshold.toFixed(2)} (largest of ${cleanTuning.length} clean tuning models); clean validation/test models above it: ${above(cleanOther)} of ${cleanOther.length}; all-to-all above it: ${above(allToAll)} of ${allToAll.length} (${allToAll.map((r) => `${r.name} ${statistic(r).toFixed(2)}`).join(', ')}); AUROC all-to-all vs all clean ${auroc(allToAll.map(statistic), records.filter((r) => r.family === 'clean').map(statistic)).toFixed(3)}`,
  );
}
