// Trigger unlearning (CLIP-Inspector's repair, for classifiers): fine-tune the whole model on the
// clean labelled images, half of each batch stamped with a recovered trigger of the suspected
// target and kept at its true label, so the trigger stops meaning "target". The mixing ratio is
// not given in the paper; half is the usual choice (Neural Cleanse's unlearning used 20 %).
// Our addition (option `distill`, on by default): the unstamped half is fitted to the original
// model's own softmax outputs rather than to the labels. The backdoored model is accurate on
// clean images, so copying it there keeps clean accuracy that 600 labels alone would erode.
import * as tf from '@tensorflow/tfjs';
import type { LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { crossEntropyPerSample, forEachBatch, predictProbabilities } from './training.js';
import type { RecoveredTrigger } from './triggers.js';

export interface UnlearnOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Fraction of each batch stamped with a trigger. */
  triggeredFraction: number;
  /** Fit the unstamped images to the original model's outputs (self-distillation) instead of their labels. */
  distill: boolean;
  seed: number;
}

export const DEFAULT_UNLEARN: UnlearnOptions = { epochs: 10, batchSize: 32, learningRate: 5e-4, triggeredFraction: 0.5, distill: true, seed: 0 };

export interface CleanLog {
  method: string;
  options: object;
  steps: number;
  /** Mean training loss per epoch. */
  epochLoss: number[];
  seconds: number;
}

export function unlearnTriggers(model: ModelUnderTest, clean: LabelledImageSet, triggers: RecoveredTrigger[], options: Partial<UnlearnOptions> = {}): CleanLog {
  const opts = { ...DEFAULT_UNLEARN, ...options };
  if (!triggers.length) throw new Error('trigger unlearning needs a recovered trigger: the scans found none to unlearn');
  const t0 = performance.now();
  const vars = model.trainableVariables();
  const optimizer = tf.train.adam(opts.learningRate);
  const epochLoss = new Array<number>(opts.epochs).fill(0);
  const batches = new Array<number>(opts.epochs).fill(0);
  let steps = 0;
  const teacher = opts.distill ? predictProbabilities(model, clean) : undefined;
  const K = model.numClasses;
  forEachBatch(clean, K, opts, (x, y, epoch, indices) => {
    const k = Math.round(x.shape[0] * opts.triggeredFraction);
    const trigger = triggers[steps % triggers.length];
    // Targets: true labels for the stamped part; the original outputs (or labels) for the rest.
    const targets = teacher ? tf.concat([tf.slice(y, 0, k), tf.tensor2d(indices.slice(k).flatMap((i) => Array.from(teacher.subarray(i * K, (i + 1) * K))), [indices.length - k, K])]) : y;
    const loss = optimizer.minimize(() => {
      const stamped = k > 0 ? tf.concat([trigger.stamp(tf.slice(x, 0, k)), tf.slice(x, k)]) : x;
      return tf.mean(crossEntropyPerSample(model.logits(stamped as tf.Tensor4D, { training: true }), targets as tf.Tensor2D)) as tf.Scalar;
    }, true, vars)!;
    epochLoss[epoch] += loss.dataSync()[0];
    batches[epoch]++;
    steps++;
  });
  optimizer.dispose();
  return { method: 'unlearn', options: opts, steps, epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])), seconds: (performance.now() - t0) / 1000 };
}
