// CLIP-style dual encoders for the benchmark and the fixtures: contrastive training on
// (image, caption-from-label) pairs, and pair poisoning (a triggered image captioned as the
// target class), as in data-poisoning attacks on CLIP pretraining.
import * as tf from '@tensorflow/tfjs';
import { clipLoss } from '../clean/par-dual.js';
import { forEachBatch } from '../clean/training.js';
import { imageSize, pickImages, type LabelledImageSet } from '../data/types.js';
import type { DualEncoderModel } from '../model/dual/adapter.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import { applyTrigger, type Trigger } from './attacks.js';

/** A small text tower: a per-token MLP, then the whole (position-ordered) sequence of `length` token embeddings to the embedding. */
export function textEncoder(seed: number, length: number, tokenDim: number, dim: number): tf.LayersModel {
  const init = (k: number) => tf.initializers.heNormal({ seed: seed * 211 + k });
  const m = tf.sequential({ name: 'text_encoder' });
  m.add(tf.layers.dense({ inputShape: [length, tokenDim], units: 32, activation: 'relu', kernelInitializer: init(1) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(2) }));
  m.add(tf.layers.dense({ units: dim, kernelInitializer: init(3) }));
  return m;
}

/** What a caption is made from: one template (with `{}`) filled with the class's name. */
export interface Captions {
  templates: readonly string[];
  names: readonly string[];
}

/** Contrastive training (both towers, CLIP's symmetric loss at `scale`), one random template per pair. */
export function contrastive(model: DualEncoderModel, data: LabelledImageSet, captions: Captions, scale: number, epochs: number, lr: number, seed: number): void {
  const { image, text } = model.towerVariables();
  const optimizer = tf.train.adam(lr);
  const rand = mulberry32(seed);
  const { templates, names } = captions;
  forEachBatch(data, names.length, { epochs, batchSize: 128, seed }, (x, _y, _e, idx) => {
    const ids = idx.map((i) => model.tokenizeCaption(templates[Math.floor(rand() * templates.length)].replace('{}', names[data.labels[i]])));
    optimizer.minimize(() => clipLoss(model.encodeImages(x, true), model.encodeTokenIds(ids, true), scale), false, [...image, ...text]);
  });
  optimizer.dispose();
}

/** A copy of `set` in which `rate` of all images, drawn from the non-target ones, carry the trigger and the target's label. */
export function poisonPairs(set: LabelledImageSet, trigger: Trigger, target: number, rate: number, seed: number): LabelledImageSet {
  const rand = mulberry32(seed);
  const candidates = shuffleInPlace(
    [...Array(set.count).keys()].filter((i) => set.labels[i] !== target),
    rand,
  ).slice(0, Math.round(rate * set.count));
  const out = { ...set, x: set.x.slice(), labels: set.labels.slice() };
  const n = imageSize(set);
  const stamped = applyTrigger(trigger, pickImages(set, candidates).x, candidates.length, set.height, set.width, set.channels);
  candidates.forEach((i, k) => {
    out.x.set(stamped.subarray(k * n, (k + 1) * n), i * n);
    out.labels[i] = target;
  });
  return out;
}
