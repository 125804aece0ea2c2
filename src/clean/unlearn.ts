// Trigger unlearning (CLIP-Inspector's repair, for classifiers): fine-tune the whole model on
// clean images stamped with the recovered trigger of the suspected target, kept at their true
// labels, so the trigger stops meaning "target". Our additions, each measured on the zoo
// (README, cleaning):
// - the clean images, and augmented views of them (mixup, noise), are fitted to the original
//   model's own softmax outputs (distillation): 600 labels alone let clean accuracy erode;
// - a recovered mask is also unlearned as a region (random fills, see regionTrigger): the mask
//   search finds a few cells of a patch, and unlearning only those leaves the patch working.
import * as tf from '@tensorflow/tfjs';
import { pickImages, type LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { crossEntropyPerSample, distillationPool, forEachBatch, poolRows, type DistillationPool } from './training.js';
import { regionTrigger, type RecoveredTrigger } from './triggers.js';
import { plural } from '../util/words.js';

export interface UnlearnOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Weight of a stamped image's loss against a distilled one's. */
  unlearnWeight: number;
  /** Augmented views per clean image in the distillation pool (0: the clean images only). */
  views: number;
  /** Also unlearn each recovered mask's region with random fills. */
  region: boolean;
  /**
   * Run the model in training mode while fine-tuning (batch norm on batch statistics, updating
   * its moving averages; dropout). Off by default: batches of mixups and stamped images are not
   * the clean distribution the moving averages should describe, and 600 images cannot re-estimate
   * them (it cost accuracy on the zoo's batch-norm models: docs/cleaning.md).
   */
  trainingMode: boolean;
  /**
   * Temperature of the distillation (Hinton et al.: both softmaxes at T, the loss scaled by T²).
   * At 1 the student copies the teacher's near one-hot answers; at 4 it also copies how the
   * teacher ranks the other classes, which holds more of its clean behaviour from 600 images
   * (it halved the mean accuracy drop under auto on the zoo: docs/cleaning.md).
   * Warp-flagged models distil at 1 (WARP_TUNING in warp.ts).
   */
  distillTemperature: number;
  seed: number;
}

export const DEFAULT_UNLEARN: UnlearnOptions = {
  epochs: 10,
  batchSize: 32,
  learningRate: 5e-4,
  unlearnWeight: 1,
  views: 4,
  region: true,
  trainingMode: false,
  distillTemperature: 4,
  seed: 0,
};
/**
 * CLIP-Inspector's repair of a prompt learner (dual encoders): only its few weights train, so a
 * larger step and more epochs (a smaller step left most of the ASR; CoCoOp itself tunes prompts
 * at 2e-3; docs/cleaning.md). Distillation at T = 1, as measured there (the temperature was
 * measured on classifiers only).
 */
export const PROMPT_REPAIR: Partial<UnlearnOptions> = { learningRate: 5e-3, epochs: 20, distillTemperature: 1 };
/**
 * Trigger unlearning in both towers of a dual encoder without a prompt learner: a backdoor
 * planted in contrastive pretraining needs more and larger steps than a classifier's fine-tune
 * (the classifier defaults left most of a patch backdoor on a colour-domain CLIP tuning model;
 * docs/cleaning.md).
 */
export const TOWER_REPAIR: Partial<UnlearnOptions> = { learningRate: 2e-3, epochs: 20 };
/**
 * Trigger unlearning in the image tower after a prompt learner's repair, where the backdoor it
 * inherits from pretraining lives: the tower repair's epochs at a larger step. Chosen on the two
 * tuning CoCoOp models that inherit one, against the tower repair and against twice its epochs
 * (docs/cleaning.md).
 */
export const INHERITED_REPAIR: Partial<UnlearnOptions> = { ...TOWER_REPAIR, learningRate: 5e-3 };

/** A cleaner's record; `D` is what the method reports about this model (each cleaner names its own). */
export interface CleanLog<D extends object = object> {
  method: string;
  /** What the method did to this model, in a sentence a reviewer reads (the report's steps). */
  summary: string;
  options: object;
  steps: number;
  /** Mean training loss per epoch. */
  epochLoss: number[];
  seconds: number;
  /** Method-specific facts for the report (e.g. what was pruned). */
  details?: D;
}

export interface UnlearnHooks {
  /** Distil from this pool (made before the model was changed) instead of making one now. */
  pool?: DistillationPool;
  /** Runs after every optimiser step (a pruner re-applies its mask here). */
  afterStep?: () => void;
  /** Triggers unlearned on every other step besides `triggers` (the warps a warp phase found). */
  alsoUnlearn?: RecoveredTrigger[];
  /** Trains these instead of the model's trainableVariables() (a dual encoder's image tower, see autoRound). */
  variables?: tf.Variable[];
}

export async function unlearnTriggers(
  model: ModelUnderTest,
  clean: LabelledImageSet,
  triggers: RecoveredTrigger[],
  options: Partial<UnlearnOptions> = {},
  hooks: UnlearnHooks = {},
): Promise<CleanLog> {
  const opts = { ...DEFAULT_UNLEARN, ...options };
  if (!triggers.length) throw new Error('trigger unlearning needs a recovered trigger: the scans found none to unlearn');
  const t0 = performance.now();
  const all = opts.region
    ? [...triggers, ...triggers.map((t, i) => regionTrigger(t, model.inputShape, opts.seed * 1000 + i)).filter((t) => t !== null)]
    : triggers;
  const pool = hooks.pool ?? distillationPool(model, clean, opts.views, opts.seed);
  const vars = hooks.variables ?? model.trainableVariables();
  const optimizer = tf.train.adam(opts.learningRate);
  const epochLoss = new Array<number>(opts.epochs).fill(0);
  const batches = new Array<number>(opts.epochs).fill(0);
  const K = model.numClasses;
  let steps = 0;
  await forEachBatch(clean, K, opts, (x, y, epoch, indices) => {
    const rows = poolRows(pool, clean.count, indices, epoch);
    const distilled = pickImages(pool.images, rows);
    const T = opts.distillTemperature;
    const teacher = tf.tensor2d(
      rows.flatMap((r) => Array.from(pool.logProbabilities.subarray(r * K, (r + 1) * K))),
      [rows.length, K],
    );
    const soft = tf.softmax(tf.div(teacher, T)) as tf.Tensor2D;
    const kept = hooks.alsoUnlearn ?? [];
    const trigger = kept.length ? (steps % 2 ? kept[(steps >> 1) % kept.length] : all[(steps >> 1) % all.length]) : all[steps % all.length];
    const inputs = tf.concat([tf.tensor4d(distilled.x, [rows.length, clean.height, clean.width, clean.channels]), trigger.stamp(x)]) as tf.Tensor4D;
    const loss = optimizer.minimize(
      () => {
        const z = model.logits(inputs, { training: opts.trainingMode });
        const student = tf.div(tf.slice(z, [0, 0], [rows.length, K]), T) as tf.Tensor2D;
        const stamped = tf.slice(z, [rows.length, 0], [x.shape[0], K]) as tf.Tensor2D;
        const distill = tf.mul(tf.sum(crossEntropyPerSample(student, soft)), T * T);
        const unlearn = tf.mul(tf.sum(crossEntropyPerSample(stamped, y)), opts.unlearnWeight);
        return tf.div(tf.add(distill, unlearn), rows.length + x.shape[0]) as tf.Scalar;
      },
      true,
      vars,
    )!;
    hooks.afterStep?.();
    epochLoss[epoch] += loss.dataSync()[0];
    batches[epoch]++;
    steps++;
  });
  optimizer.dispose();
  const regions = all.length - triggers.length;
  const warps = hooks.alsoUnlearn?.length ?? 0;
  return {
    method: 'unlearn',
    summary: `trigger unlearning: ${plural(opts.epochs, 'epoch')} of fine-tuning on clean images stamped with ${plural(triggers.length, 'recovered trigger')} of class ${triggers[0].target}${regions ? ` (and ${plural(regions, 'mask region')})` : ''}${warps ? ` and ${plural(warps, 'warp')}` : ''} at their true labels, the clean images held to the model's earlier answers`,
    options: opts,
    steps,
    epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])),
    seconds: (performance.now() - t0) / 1000,
  };
}
