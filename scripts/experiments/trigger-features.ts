// Experiment behind docs/detection.md's "Residual networks' mask inversion" (issue 19): the masks a
// residual network's clean natural trigger and a planted one need look alike (a few adversarial
// pixels on the stride grid), so does what the trigger does *inside* the network differ? The idea
// was that a planted trigger, a feature the network answers with the target whatever the image,
// collapses the stamped images' penultimate features onto one point (on the residual tuning
// networks it spread them more instead). For each class whose mask (the scan's mask inversion: 16
// epochs, the first 128 of the eval's probes, seed 0) reaches 90 % ASR, stamped on the probes of the
// other classes and compared with the clean probes of the class:
//   spread   = tr Cov(stamped features) / tr Cov(the clean images of the class),
//   distance = |mean stamped − mean clean of the class| / √tr Cov(clean of the class),
// on the penultimate layer (the last dense layer's input; tfjs layers models) and on the logits.
// Cached in .cache/experiments/trigger-features/<model>.json; `--analyse` prints them for the class
// of the smallest mask, as ratios to the other classes' median, with AUROCs per split and
// architecture beside the scan's mask statistic. Run `npm run eval` first (it writes the probes).
//   tsx scripts/experiments/trigger-features.ts [--shard i/n] [--analyse] NAME…|--all (the usable 10-class MNIST and sign models)
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { LayersModelAdapter, toModelInput } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { median } from '../../src/scan/robust.js';
import { auroc, unusable } from '../eval-summary.js';
import { cardOf, EVAL_ROWS, evalProbes, identityOf, maskStatisticOf, measureShard, readRecords, zooCards } from './records.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { shard: { type: 'string' }, analyse: { type: 'boolean' }, all: { type: 'boolean' } },
});
const CACHE = '.cache/experiments/trigger-features';

interface FeatureRecord {
  name: string;
  role: string;
  family: string;
  target: number | null;
  arch: string;
  l1: number[];
  asr: number[];
  /** Per class, null where its mask missed 90 % or fewer than 5 clean probes are the class's. */
  spread: Array<number | null>;
  distance: Array<number | null>;
  /** The same on the logits. */
  logitSpread: Array<number | null>;
  logitDistance: Array<number | null>;
}

function candidates(): string[] {
  if (!values.all) return positionals;
  return zooCards()
    .filter((c) => c.outputs === 10 && c.head !== 'multi-label' && ['mnist', 'signs10'].includes(c.domain ?? 'mnist') && !unusable(c))
    .map((c) => c.name);
}

/** Rows' mean and the trace of their covariance. */
function moments(f: number[][]): { mean: number[]; trace: number } {
  const D = f[0].length;
  const mean = Array.from({ length: D }, (_, d) => f.reduce((a, r) => a + r[d], 0) / f.length);
  const trace = f.reduce((a, r) => a + r.reduce((b, v, d) => b + (v - mean[d]) ** 2, 0), 0) / Math.max(f.length - 1, 1);
  return { mean, trace };
}

async function measure(name: string): Promise<FeatureRecord> {
  const card = cardOf(name);
  const { model } = await loadModel(`zoo/${name}`);
  if (!(model instanceof LayersModelAdapter)) throw new Error(`${name}: a tfjs layers model is needed`);
  const layers = model.model.layers;
  const dense = [...layers].reverse().find((l) => l.getClassName() === 'Dense');
  if (!dense) throw new Error(`${name}: no dense layer`);
  const body = tf.model({ inputs: model.model.inputs, outputs: dense.input as tf.SymbolicTensor });
  const [H, W, C] = model.inputShape;
  const { x, count: probeCount } = evalProbes(EVAL_ROWS, card.domain);
  const count = Math.min(probeCount, 128);
  const probes = tf.tensor4d(x.subarray(0, count * H * W * C), [count, H, W, C]);
  const features = (t: tf.Tensor4D) => tf.tidy(() => body.predict(toModelInput(t, model.inputSpec)) as tf.Tensor2D).array();
  const clean = await features(probes);
  const logitsOf = (t: tf.Tensor4D) => tf.tidy(() => model.logits(t)).array();
  const cleanLogits = await logitsOf(probes);
  const predicted = (await tf.tidy(() => model.logits(probes).argMax(-1)).data()) as Int32Array;
  const result = await reconstructMasks(model, { x, count: probeCount, height: H, width: W, channels: C, source: 'eval probes' }, { seed: 0 });
  const K = model.numClasses;
  const spread: FeatureRecord['spread'] = [];
  const distance: FeatureRecord['distance'] = [];
  const logitSpread: FeatureRecord['spread'] = [];
  const logitDistance: FeatureRecord['distance'] = [];
  const compare = (moved: number[][], own: number[][]) => {
    const [a, b] = [moments(moved), moments(own)];
    return { spread: a.trace / b.trace, distance: Math.sqrt(a.mean.reduce((s, v, d) => s + (v - b.mean[d]) ** 2, 0) / b.trace) };
  };
  for (let c = 0; c < K; c++) {
    const own = clean.filter((_, i) => predicted[i] === c);
    if (result.perClass[c].asr < 0.9 || own.length < 5) {
      for (const list of [spread, distance, logitSpread, logitDistance]) list.push(null);
      continue;
    }
    const m = tf.tensor4d(result.masks.subarray(c * H * W, (c + 1) * H * W), [1, H, W, 1]);
    const p = tf.tensor4d(result.patterns.subarray(c * H * W * C, (c + 1) * H * W * C), [1, H, W, C]);
    const stamped = tf.tidy(() => tf.add(tf.mul(tf.sub(1, m), probes), tf.mul(m, p)) as tf.Tensor4D);
    const others = (rows: number[][]) => rows.filter((_, i) => predicted[i] !== c);
    const inFeatures = compare(others(await features(stamped)), own);
    const inLogits = compare(
      others(await logitsOf(stamped)),
      cleanLogits.filter((_, i) => predicted[i] === c),
    );
    tf.dispose([m, p, stamped]);
    spread.push(inFeatures.spread);
    distance.push(inFeatures.distance);
    logitSpread.push(inLogits.spread);
    logitDistance.push(inLogits.distance);
  }
  probes.dispose();
  return {
    ...identityOf(card),
    l1: result.perClass.map((c) => c.maskL1),
    asr: result.perClass.map((c) => c.asr),
    spread,
    distance,
    logitSpread,
    logitDistance,
  };
}

if (!values.analyse) {
  await measureShard(CACHE, candidates(), values.shard, measure, (name, _, seconds) => `${name}: ${seconds.toFixed(1)} s`);
} else {
  const records = readRecords<FeatureRecord>(CACHE);
  const rows = records.map((r) => {
    const valid = r.l1.map((_, c) => c).filter((c) => r.spread[c] !== null);
    const c = valid.reduce((a, o) => (r.l1[o] < r.l1[a] ? o : a), valid[0]);
    const others = (v: Array<number | null>) => median(valid.filter((o) => o !== c).map((o) => v[o]!));
    return {
      r,
      c,
      spread: r.spread[c]!,
      distance: r.distance[c]!,
      spreadOthers: others(r.spread),
      distanceOthers: others(r.distance),
      logitSpread: r.logitSpread[c]! / others(r.logitSpread),
    };
  });
  for (const x of rows)
    console.log(
      `${x.r.role.slice(0, 4)} ${x.r.name.padEnd(42)} ${x.r.family.padEnd(15)} ${String(x.r.target ?? '-').padStart(2)} ${String(x.c).padStart(2)}  spread ${x.spread.toFixed(3)} (others ${x.spreadOthers.toFixed(3)}; ratio ${(x.spread / x.spreadOthers).toFixed(2)})  logit ratio ${x.logitSpread.toFixed(2)}  distance ${x.distance.toFixed(2)} (others ${x.distanceOthers.toFixed(2)})`,
    );
  const measures: Array<[string, (x: (typeof rows)[number]) => number]> = [
    // The records keep no image size: the sign models are 32 px, the MNIST ones 28.
    ['mask statistic', (x) => maskStatisticOf(x.r.l1, x.r.asr, x.r.name.startsWith('signs') ? [32, 32] : [28, 28]).value],
    ['spread', (x) => x.spread],
    ['spread / others', (x) => x.spread / x.spreadOthers],
    ['logit spread / others', (x) => x.logitSpread],
    ['distance', (x) => x.distance],
    ['distance / others', (x) => x.distance / x.distanceOthers],
  ];
  const groupsOf = (x: (typeof rows)[number]) => [`${x.r.role} ${x.r.arch}`, `${x.r.role} (every architecture)`];
  for (const group of new Set(rows.flatMap(groupsOf))) {
    const inGroup = rows.filter((x) => groupsOf(x).includes(group));
    const [bd, clean] = [inGroup.filter((x) => x.r.family !== 'clean'), inGroup.filter((x) => x.r.family === 'clean')];
    if (!bd.length || !clean.length) continue;
    for (const [name, f] of measures) {
      const top = Math.max(...clean.map(f));
      console.log(
        `${group} ${name}: AUROC ${auroc(bd.map(f), clean.map(f)).toFixed(3)} (${bd.length} backdoored, ${clean.length} clean), ${bd.filter((x) => f(x) > top).length} backdoored above every clean one`,
      );
    }
  }
}
