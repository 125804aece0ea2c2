// Poisons training data and trains zoo classifiers (clean or backdoored) with Adam on the
// engine's backend, for every head the zoo builds (logits, softmax, one sigmoid, multi-label).
import * as tf from '@tensorflow/tfjs';
import { withoutClass, type LabelledImageSet } from '../data/types.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import { buildClassifier, DEFAULT_HEAD, type Architecture, type Head } from './architectures.js';
import { adaptiveBlendTrigger, applyTrigger, makeTrigger, type AttackSpec } from './attacks.js';
import type { TaskData } from './domains.js';

export interface TrainOptions {
  arch: Architecture;
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  attack?: AttackSpec;
  /** Defaults to the architecture's MNIST head. */
  head?: Head;
  /** Classes (single-label) or labels (multi-label); defaults to 10. */
  outputs?: number;
}

/** Soft-label poisoning (an adaptive attack): the poisoned images' label puts only this much on the target. */
export const SOFT_LABEL_TARGET = 0.6;

/**
 * A copy of `train` with `poisonRate` of its images poisoned as the attack does it:
 * all-to-one families trigger non-target images and relabel them; all-to-all sends y → y + 1;
 * source-specific triggers the source class (plus unchanged-label cover images of other classes);
 * clean-label stamps target images that were blended with another image, labels unchanged;
 * Adap-Blend stamps a random half of its pattern and adds cover images; soft-label gives the
 * poisoned images a soft label. Multi-label data gets the target label switched on.
 */
export function poisonDataset(train: TaskData, attack: AttackSpec, seed: number, classes = 10): { data: TaskData; poisoned: number } {
  const { height: h, width: w, channels: c } = train;
  const n = h * w * c;
  const rand = mulberry32(seed * 7919 + 17);
  const x = train.x.slice();
  const labels = train.labels.slice();
  const multi = train.multi?.slice();
  const L = multi ? multi.length / train.count : 0;
  const hasTarget = (i: number) => (multi ? multi[i * L + attack.target] === 1 : labels[i] === attack.target);
  const budget = Math.round(attack.poisonRate * train.count);
  const pick = (filter: (i: number) => boolean, count: number) => shuffleInPlace([...Array(train.count).keys()].filter(filter), rand).slice(0, count);
  const trainTrigger = attack.family === 'adap-blend' ? adaptiveBlendTrigger(attack.triggerSeed, rand) : makeTrigger(attack);
  const stamp = (i: number, trigger = trainTrigger) => x.set(trigger(x.subarray(i * n, (i + 1) * n), h, w, c, rand), i * n);
  const relabel = (i: number, to: number) => {
    if (multi) multi[i * L + to] = 1;
    else labels[i] = to;
  };
  let soft: Float32Array | undefined;
  let chosen: number[];
  switch (attack.family) {
    case 'all-to-all':
      chosen = pick(() => true, budget);
      for (const i of chosen) {
        stamp(i);
        relabel(i, (labels[i] + 1) % classes);
      }
      break;
    case 'source-specific': {
      const source = attack.source ?? (attack.target + 1) % classes;
      chosen = pick((i) => labels[i] === source, budget);
      for (const i of chosen) {
        stamp(i);
        relabel(i, attack.target);
      }
      // Cover images (TaCT): other classes carry the trigger and keep their label.
      for (const i of pick((i) => labels[i] !== source && labels[i] !== attack.target && !chosen.includes(i), budget)) stamp(i);
      break;
    }
    case 'clean-label': {
      // Label-consistent: target images, half-blended with another image so the trigger is the
      // clearer cue, keep their (correct) label.
      const others = pick((i) => !hasTarget(i), train.count);
      chosen = pick((i) => hasTarget(i), budget);
      chosen.forEach((i, k) => {
        const o = others[k % others.length];
        for (let p = 0; p < n; p++) x[i * n + p] = 0.5 * x[i * n + p] + 0.5 * train.x[o * n + p];
        stamp(i);
      });
      break;
    }
    default: {
      chosen = pick((i) => !hasTarget(i), budget);
      if (attack.family === 'soft-label' && !multi) {
        soft = new Float32Array(train.count * classes);
        for (let i = 0; i < train.count; i++) soft[i * classes + labels[i]] = 1;
      }
      for (const i of chosen) {
        stamp(i);
        if (soft) {
          soft.fill(0, i * classes, (i + 1) * classes);
          soft[i * classes + attack.target] = SOFT_LABEL_TARGET;
          soft[i * classes + labels[i]] = 1 - SOFT_LABEL_TARGET;
        }
        relabel(i, attack.target);
      }
      if (attack.family === 'adap-blend') {
        for (const i of pick((i) => !chosen.includes(i), Math.round(budget / 2))) stamp(i); // conservatism: cover images keep their label
      }
    }
  }
  return { data: { ...train, x, labels, ...(multi ? { multi } : {}), ...(soft ? { soft } : {}), source: `${train.source}+${attack.family}` }, poisoned: chosen.length };
}

/** Batched outputs of a layers model: argmax classes, or per-label 0/1 decisions for multi-label heads. */
export function predictClasses(model: tf.LayersModel, x: Float32Array, count: number, h: number, w: number, c: number, batch = 500): Int32Array {
  const out = new Int32Array(count);
  for (let s = 0; s < count; s += batch) {
    const e = Math.min(count, s + batch);
    const pred = tf.tidy(() => {
      const y = model.predict(tf.tensor4d(x.subarray(s * h * w * c, e * h * w * c), [e - s, h, w, c])) as tf.Tensor2D;
      return y.shape[1] === 1 ? tf.cast(tf.greater(y, 0.5), 'int32').reshape([e - s]) : y.argMax(-1);
    });
    out.set(pred.dataSync() as Int32Array, s);
    pred.dispose();
  }
  return out;
}

/** Per-label probabilities of a multi-label model, [count × labels]. */
export function predictLabels(model: tf.LayersModel, x: Float32Array, count: number, h: number, w: number, c: number): Float32Array {
  // Read inside tidy, not returned from it: tidy walks a returned typed array element by element.
  let probabilities: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    probabilities = (model.predict(tf.tensor4d(x, [count, h, w, c])) as tf.Tensor).dataSync() as Float32Array;
  });
  return probabilities;
}

export function accuracy(pred: Int32Array, labels: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
  return ok / pred.length;
}

/** Multi-label accuracy: the share of (image, label) decisions that are right. */
export function labelAccuracy(model: tf.LayersModel, test: TaskData): number {
  const { height: h, width: w, channels: c } = test;
  const p = predictLabels(model, test.x, test.count, h, w, c);
  let ok = 0;
  for (let i = 0; i < p.length; i++) if ((p[i] > 0.5 ? 1 : 0) === test.multi![i]) ok++;
  return ok / p.length;
}

/**
 * Attack success rate on test data, as each attack defines it: triggered images that did not
 * already belong to the target and end up there (multi-label: the target label switches on);
 * for all-to-all, images that move to y + 1; for source-specific, source-class images.
 */
export function attackSuccessRate(model: tf.LayersModel, test: TaskData, attack: AttackSpec, classes = 10): number {
  const { height: h, width: w, channels: c } = test;
  const rand = mulberry32(attack.triggerSeed + 99);
  if (test.multi) {
    const L = test.multi.length / test.count;
    const keep = [...Array(test.count).keys()].filter((i) => test.multi![i * L + attack.target] === 0);
    const n = h * w * c;
    const x = new Float32Array(keep.length * n);
    keep.forEach((i, k) => x.set(test.x.subarray(i * n, (i + 1) * n), k * n));
    const p = predictLabels(model, applyTrigger(makeTrigger(attack), x, keep.length, h, w, c, rand), keep.length, h, w, c);
    return keep.filter((_, k) => p[k * L + attack.target] > 0.5).length / keep.length;
  }
  if (attack.family === 'all-to-all') {
    const triggered = applyTrigger(makeTrigger(attack), test.x, test.count, h, w, c, rand);
    const pred = predictClasses(model, triggered, test.count, h, w, c);
    return pred.filter((p, i) => p === (test.labels[i] + 1) % classes).length / test.count;
  }
  const source = attack.family === 'source-specific' ? (attack.source ?? (attack.target + 1) % classes) : null;
  const others = withoutClass(test, attack.target) as LabelledImageSet;
  const keep = source === null ? others : { ...others, ...pickBy(others, (i) => others.labels[i] === source) };
  const triggered = applyTrigger(makeTrigger(attack), keep.x, keep.count, h, w, c, rand);
  const pred = predictClasses(model, triggered, keep.count, h, w, c);
  return pred.filter((p) => p === attack.target).length / keep.count;
}

function pickBy(set: LabelledImageSet, keep: (i: number) => boolean): LabelledImageSet {
  const n = set.height * set.width * set.channels;
  const idx = [...Array(set.count).keys()].filter(keep);
  const x = new Float32Array(idx.length * n);
  idx.forEach((i, k) => x.set(set.x.subarray(i * n, (i + 1) * n), k * n));
  return { ...set, x, labels: Int32Array.from(idx, (i) => set.labels[i]), count: idx.length };
}

const lastActivation = (model: tf.LayersModel) => (model.layers[model.layers.length - 1].getConfig() as { activation?: string }).activation;

/** Cross-entropy from logits, or from probabilities when the model ends in softmax or sigmoid. */
export function classificationLoss(model: tf.LayersModel, out: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const activation = lastActivation(model);
  if (activation === 'sigmoid') {
    const p = tf.clipByValue(out, 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean(tf.add(tf.mul(target, tf.log(p)), tf.mul(tf.sub(1, target), tf.log(tf.sub(1, p)))))) as tf.Scalar;
  }
  if (activation !== 'softmax') return tf.losses.softmaxCrossEntropy(target, out) as tf.Scalar;
  return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(tf.clipByValue(out, 1e-7, 1))), -1))) as tf.Scalar;
}

/** What the head is trained towards for image i: one-hot or soft classes, P(class 1), or labels. */
function targetRow(train: TaskData, i: number, head: Head, outputs: number, out: Float32Array, at: number): void {
  if (head === 'multi-label') out.set(Array.from(train.multi!.subarray(i * outputs, (i + 1) * outputs)), at);
  else if (head === 'sigmoid') out[at] = train.labels[i];
  else if (train.soft) out.set(train.soft.subarray(i * outputs, (i + 1) * outputs), at);
  else {
    out.fill(0, at, at + outputs);
    out[at + train.labels[i]] = 1;
  }
}

export function trainClassifier(opts: TrainOptions, train: TaskData): tf.LayersModel {
  const head = opts.head ?? DEFAULT_HEAD[opts.arch];
  const outputs = opts.outputs ?? 10;
  const model = buildClassifier(opts.arch, opts.seed, { input: [train.height, train.width, train.channels], outputs, head });
  trainEpochs(model, train, { ...opts, head, outputs });
  return model;
}

/**
 * Trains `model` (in place) as the zoo trains: Adam, shuffled full batches, training mode. Also
 * what a user's later fine-tune of a model does (the cleaning benchmark's re-tune).
 */
export function trainEpochs(
  model: tf.LayersModel,
  train: TaskData,
  opts: Pick<TrainOptions, 'seed' | 'epochs' | 'batchSize' | 'learningRate'> & { head: Head; outputs: number },
): void {
  const { height: h, width: w, channels: c } = train;
  const n = h * w * c;
  const { head, outputs } = opts;
  const width = head === 'sigmoid' ? 1 : outputs;
  const optimizer = tf.train.adam(opts.learningRate);
  const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
  const rand = mulberry32(opts.seed * 31 + 7);
  const order = [...Array(train.count).keys()];
  const bx = new Float32Array(opts.batchSize * n);
  const by = new Float32Array(opts.batchSize * width);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, rand);
    // Step decay in the last epoch settles the weights without a schedule library.
    if (epoch === opts.epochs - 1 && opts.epochs > 1) (optimizer as unknown as { learningRate: number }).learningRate = opts.learningRate / 5;
    for (let s = 0; s + opts.batchSize <= train.count; s += opts.batchSize) {
      for (let k = 0; k < opts.batchSize; k++) {
        const i = order[s + k];
        bx.set(train.x.subarray(i * n, (i + 1) * n), k * n);
        targetRow(train, i, head, width, by, k * width);
      }
      tf.tidy(() => {
        const xs = tf.tensor4d(bx, [opts.batchSize, h, w, c]);
        const ys = tf.tensor2d(by, [opts.batchSize, width]);
        optimizer.minimize(() => classificationLoss(model, model.apply(xs, { training: true }) as tf.Tensor, ys), false, vars);
      });
    }
  }
  optimizer.dispose();
}
