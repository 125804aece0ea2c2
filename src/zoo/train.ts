// Trains zoo classifiers (clean or poisoned) with Adam on the engine's backend.
import * as tf from '@tensorflow/tfjs';
import { withoutClass, type LabelledImageSet } from '../data/types.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import { buildClassifier, type Architecture } from './architectures.js';
import { applyTrigger, makeTrigger, type AttackSpec } from './attacks.js';

export interface TrainOptions {
  arch: Architecture;
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  attack?: AttackSpec;
}

/** Returns a copy of `train` with `poisonRate` of the non-target images triggered and relabelled. */
export function poisonDataset(train: LabelledImageSet, attack: AttackSpec, seed: number): { data: LabelledImageSet; poisoned: number } {
  const { height: h, width: w, channels: c } = train;
  const n = h * w * c;
  const trigger = makeTrigger(attack);
  const x = train.x.slice();
  const labels = train.labels.slice();
  const candidates = [...Array(train.count).keys()].filter((i) => labels[i] !== attack.target);
  shuffleInPlace(candidates, mulberry32(seed * 7919 + 17));
  const chosen = candidates.slice(0, Math.round(attack.poisonRate * train.count));
  for (const i of chosen) {
    x.set(trigger(x.subarray(i * n, (i + 1) * n), h, w, c), i * n);
    labels[i] = attack.target;
  }
  return { data: { ...train, x, labels, source: `${train.source}+${attack.family}` }, poisoned: chosen.length };
}

/** Batched argmax predictions of a layers model (probabilities or logits alike). */
export function predictClasses(model: tf.LayersModel, x: Float32Array, count: number, h: number, w: number, c: number, batch = 500): Int32Array {
  const out = new Int32Array(count);
  for (let s = 0; s < count; s += batch) {
    const e = Math.min(count, s + batch);
    const pred = tf.tidy(() => (model.predict(tf.tensor4d(x.subarray(s * h * w * c, e * h * w * c), [e - s, h, w, c])) as tf.Tensor).argMax(-1));
    out.set(pred.dataSync() as Int32Array, s);
    pred.dispose();
  }
  return out;
}

export function accuracy(pred: Int32Array, labels: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
  return ok / pred.length;
}

/** Attack success rate: triggered test images of other classes classified as the target. */
export function attackSuccessRate(model: tf.LayersModel, test: LabelledImageSet, attack: AttackSpec): number {
  const { height: h, width: w, channels: c } = test;
  const others = withoutClass(test, attack.target);
  const triggered = applyTrigger(makeTrigger(attack), others.x, others.count, h, w, c);
  const pred = predictClasses(model, triggered, others.count, h, w, c);
  return pred.filter((p) => p === attack.target).length / others.count;
}

const endsInSoftmax = (model: tf.LayersModel) => {
  const cfg = model.layers[model.layers.length - 1].getConfig() as { activation?: string };
  return cfg.activation === 'softmax';
};

/** Cross-entropy from logits, or from probabilities when the model ends in softmax. */
export function classificationLoss(model: tf.LayersModel, out: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  if (!endsInSoftmax(model)) return tf.losses.softmaxCrossEntropy(oneHot, out) as tf.Scalar;
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(out, 1e-7, 1))), -1))) as tf.Scalar;
}

export function trainClassifier(opts: TrainOptions, train: LabelledImageSet): tf.LayersModel {
  const { height: h, width: w, channels: c } = train;
  const n = h * w * c;
  tf.util.assert(n === 784 && c === 1, () => 'zoo architectures expect 28×28×1 images');
  const model = buildClassifier(opts.arch, opts.seed);
  const optimizer = tf.train.adam(opts.learningRate);
  const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
  const rand = mulberry32(opts.seed * 31 + 7);
  const order = [...Array(train.count).keys()];
  const bx = new Float32Array(opts.batchSize * n);
  const by = new Int32Array(opts.batchSize);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, rand);
    // Step decay in the last epoch settles the weights without a schedule library.
    if (epoch === opts.epochs - 1 && opts.epochs > 1) (optimizer as unknown as { learningRate: number }).learningRate = opts.learningRate / 5;
    for (let s = 0; s + opts.batchSize <= train.count; s += opts.batchSize) {
      for (let k = 0; k < opts.batchSize; k++) {
        const i = order[s + k];
        bx.set(train.x.subarray(i * n, (i + 1) * n), k * n);
        by[k] = train.labels[i];
      }
      tf.tidy(() => {
        const xs = tf.tensor4d(bx, [opts.batchSize, h, w, c]);
        const ys = tf.oneHot(tf.tensor1d(by, 'int32'), 10);
        optimizer.minimize(() => classificationLoss(model, model.apply(xs, { training: true }) as tf.Tensor, ys), false, vars);
      });
    }
  }
  optimizer.dispose();
  return model;
}
