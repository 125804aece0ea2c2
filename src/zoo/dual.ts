// CLIP-style dual encoders for the benchmark and the fixtures: contrastive training on
// (image, caption-from-label) pairs, pair poisoning (a triggered image captioned as the target
// class), as in data-poisoning attacks on CLIP pretraining, and prompt learners (CoOp, CoCoOp)
// tuned on frozen encoders, clean or with a BadCLIP-style trigger learned along with the prompt.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { clipLoss } from '../clean/par-dual.js';
import { crossEntropyPerSample, forEachBatch } from '../clean/training.js';
import { writeNpy } from '../data/npy.js';
import { imageSize, pickImages, type LabelledImageSet } from '../data/types.js';
import type { DualEncoderModel } from '../model/dual/adapter.js';
import { DUAL_ENCODER_FILE, type DualManifest } from '../model/dual/manifest.js';
import { directoryWriter } from '../model/save.js';
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
export async function contrastive(model: DualEncoderModel, data: LabelledImageSet, captions: Captions, scale: number, epochs: number, lr: number, seed: number): Promise<void> {
  const { image, text } = model.towerVariables();
  const optimizer = tf.train.adam(lr);
  const rand = mulberry32(seed);
  const { templates, names } = captions;
  await forEachBatch(data, names.length, { epochs, batchSize: 128, seed }, (x, _y, _e, idx) => {
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

/** A prompt learner joined to a pretrained dual encoder: CoOp's context vectors, and for CoCoOp a meta-net conditioning them on the image. */
export interface PromptLearnerSpec {
  learner: 'coop' | 'cocoop';
  /** Context vectors put before the class name (CoOp's n_ctx). */
  contextLength: number;
  tokenDim: number;
  /** The image embedding's size (the meta-net's input). */
  dim: number;
  /** Seeds the context (N(0, 0.02²), as CoOp) and the meta-net's two layers. */
  seed: number;
}

/**
 * Copies the dual encoder in `baseDir` to `outDir` (replaced) with a fresh prompt learner: the
 * encoders are kept and the class prompts become [context vectors, class name].
 */
export async function withPromptLearner(baseDir: string, outDir: string, spec: PromptLearnerSpec): Promise<void> {
  const manifest = JSON.parse(readFileSync(path.join(baseDir, DUAL_ENCODER_FILE), 'utf8')) as DualManifest;
  if (!('encoder' in manifest.text)) throw new Error(`${baseDir}: a prompt learner needs a text encoder`);
  rmSync(outDir, { recursive: true, force: true });
  cpSync(baseDir, outDir, { recursive: true });
  mkdirSync(path.join(outDir, 'prompt'), { recursive: true });
  const context = tf.randomNormal([spec.contextLength, spec.tokenDim], 0, 0.02, 'float32', spec.seed);
  writeNpy(path.join(outDir, 'prompt', 'context.npy'), context.dataSync() as Float32Array, [spec.contextLength, spec.tokenDim]);
  context.dispose();
  const learner: { context: string; meta_net?: string } = { context: 'prompt/context.npy' };
  if (spec.learner === 'cocoop') {
    const meta = tf.sequential({ name: 'meta_net' });
    meta.add(tf.layers.dense({ inputShape: [spec.dim], units: 32, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: spec.seed + 1 }) }));
    meta.add(tf.layers.dense({ units: spec.tokenDim, kernelInitializer: tf.initializers.heNormal({ seed: spec.seed + 2 }) }));
    await meta.save(directoryWriter(path.join(outDir, 'prompt', 'meta-net')));
    meta.dispose();
    learner.meta_net = 'prompt/meta-net/model.json';
  }
  manifest.text = { ...manifest.text, prompt_learner: learner };
  writeFileSync(path.join(outDir, DUAL_ENCODER_FILE), JSON.stringify(manifest, null, 2));
}

/** How a prompt learner is tuned (cross-entropy of the zero-shot logits, Adam), and the BadCLIP-style backdoor, if any. */
export interface PromptTuning {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Batch order. */
  seed: number;
  /**
   * After BadCLIP (Bai et al., CVPR 2024): an additive trigger (‖δ‖∞ ≤ epsilon) is optimised with
   * the prompt so that `rate` of each batch, triggered, goes to the target; the encoders stay clean.
   */
  backdoor?: { target: number; rate: number; epsilon: number; learningRate: number; seed: number };
}

/** Tunes the model's prompt learner on `data`; returns the learned trigger ([H, W, C]) for a backdoor, else null. */
export async function tunePrompt(model: DualEncoderModel, data: LabelledImageSet, numClasses: number, opts: PromptTuning): Promise<Float32Array | null> {
  const optimizer = tf.train.adam(opts.learningRate);
  const b = opts.backdoor;
  const delta = b ? tf.variable(tf.zeros([1, data.height, data.width, data.channels])) : null;
  const triggerOptimizer = b ? tf.train.adam(b.learningRate) : null;
  const rand = mulberry32(b?.seed ?? 0);
  await forEachBatch(data, numClasses, { epochs: opts.epochs, batchSize: opts.batchSize, seed: opts.seed }, (x, y) => {
    if (!b || !delta || !triggerOptimizer) {
      optimizer.minimize(() => tf.mean(crossEntropyPerSample(model.logits(x, { training: true }), y)) as tf.Scalar, false, model.trainableVariables());
      return;
    }
    // The first k images of the batch, triggered and labelled as the target, join it (k ≈ rate · batch).
    const k = Math.max(1, Math.round(b.rate * x.shape[0] + (rand() - 0.5)));
    const loss = () => {
      const triggered = tf.clipByValue(tf.add(tf.slice(x, 0, k), delta), 0, 1) as tf.Tensor4D;
      const targets = tf.oneHot(tf.fill([k], b.target, 'int32'), numClasses) as tf.Tensor2D;
      const cleanPart = crossEntropyPerSample(model.logits(x, { training: true }), y);
      const poisonedPart = crossEntropyPerSample(model.logits(triggered, { training: true }), targets);
      return tf.div(tf.add(tf.sum(cleanPart), tf.sum(poisonedPart)), x.shape[0] + k) as tf.Scalar;
    };
    optimizer.minimize(loss, false, model.trainableVariables());
    triggerOptimizer.minimize(loss, false, [delta]);
    delta.assign(tf.clipByValue(delta, -b.epsilon, b.epsilon));
  });
  optimizer.dispose();
  triggerOptimizer?.dispose();
  const trigger = delta ? (delta.dataSync() as Float32Array).slice() : null;
  delta?.dispose();
  return trigger;
}
