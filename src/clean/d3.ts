// D3, distance-driven detoxification (Wei, Liu & Zha, ICCV 2025), as the official code does it
// (defense/d3.py): the selected layers' weights are pushed as far as possible from their
// backdoored values while a per-sample hinge keeps the clean loss under ε:
//   L_clean = mean_i max(0, CE_i − ε),  dist = Σ_l ‖W_l − W⁰_l‖₂ (Frobenius, not squared),
//   loss = λ·L_clean − dist (λ ≤ 1), else (λ·L_clean − dist)/(λ + 1);
// a random warm start on each layer's norm sphere, SGD with momentum 0.9 over all weights,
// projection back to ‖W⁰_l‖ after every step, cosine learning rate per epoch, BN in train mode.
// Selected layers: the official default is the classifier head; here, the kernel of the last
// layer that outputs the classes.
import * as tf from '@tensorflow/tfjs';
import type { LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { mulberry32 } from '../util/random.js';
import { crossEntropyPerSample, forEachBatch } from './training.js';
import type { CleanLog } from './unlearn.js';
import { plural } from '../util/words.js';

export interface D3Options {
  epochs: number;
  batchSize: number;
  learningRate: number;
  momentum: number;
  lambda: number;
  epsilon: number;
  warmStart: 'random' | 'near' | 'far';
  /** Names of the variables pushed away; empty = the head kernel. */
  selected: string[];
  seed: number;
}

/** D3's loss for one batch: the per-sample clean losses under the hinge ε, against the distance (see the header). */
export function d3Loss(ce: tf.Tensor1D, dist: tf.Scalar, { lambda, epsilon }: Pick<D3Options, 'lambda' | 'epsilon'>): tf.Scalar {
  const hinge = tf.mean(tf.relu(tf.sub(ce, epsilon)));
  const raw = tf.sub(tf.mul(hinge, lambda), dist);
  return (lambda <= 1 ? raw : tf.div(raw, lambda + 1)) as tf.Scalar;
}

/** The official config.yaml defaults. */
export const DEFAULT_D3: D3Options = {
  epochs: 100,
  batchSize: 256,
  learningRate: 0.01,
  momentum: 0.9,
  lambda: 0.5,
  epsilon: 0.1,
  warmStart: 'random',
  selected: [],
  seed: 0,
};

/**
 * The classifier head's kernel: the last rank-2 variable with a side of one row or column per
 * class (tfjs Dense kernels are [in, classes]; PyTorch Linear weights in ONNX are [classes, in]).
 */
export function headKernel(model: ModelUnderTest): tf.Variable {
  const K = model.numClasses;
  const head = model
    .trainableVariables()
    .filter((v) => v.rank === 2 && (v.shape[1] === K || v.shape[0] === K))
    .at(-1);
  if (!head) throw new Error(`D3 found no dense head with ${model.numClasses} outputs to select; name the variables with the selected option`);
  return head;
}

export async function d3(model: ModelUnderTest, clean: LabelledImageSet, options: Partial<D3Options> = {}): Promise<CleanLog> {
  const opts = { ...DEFAULT_D3, ...options };
  const t0 = performance.now();
  const vars = model.trainableVariables();
  const selected = opts.selected.length ? vars.filter((v) => opts.selected.includes(v.name)) : [headKernel(model)];
  if (opts.selected.length && selected.length !== opts.selected.length)
    throw new Error(`D3: selected variables not found: ${opts.selected.filter((n) => !vars.some((v) => v.name === n)).join(', ')}`);
  const initial = selected.map((v) => tf.keep(v.clone()));
  const norms = initial.map((w) => tf.keep(tf.norm(w)));
  const rand = mulberry32(opts.seed + 101);
  selected.forEach((v, i) => {
    if (opts.warmStart === 'near') return;
    tf.tidy(() => {
      const start =
        opts.warmStart === 'far'
          ? tf.neg(initial[i])
          : tf.tensor(
              Float32Array.from({ length: v.size }, () => rand() - 0.5),
              v.shape,
            );
      v.assign(tf.mul(start, tf.div(norms[i], tf.norm(start))));
    });
  });
  const optimizer = tf.train.momentum(opts.learningRate, opts.momentum);
  const epochLoss = new Array<number>(opts.epochs).fill(0);
  const batches = new Array<number>(opts.epochs).fill(0);
  let steps = 0;
  let lastEpoch = -1;
  await forEachBatch(clean, model.numClasses, opts, (x, y, epoch) => {
    if (epoch !== lastEpoch) {
      optimizer.setLearningRate(0.5 * opts.learningRate * (1 + Math.cos((Math.PI * epoch) / opts.epochs)));
      lastEpoch = epoch;
    }
    const loss = optimizer.minimize(
      () => {
        const ce = crossEntropyPerSample(model.logits(x, { training: true }), y);
        const dist = tf.addN(selected.map((v, i) => tf.norm(tf.sub(v, initial[i])))) as tf.Scalar;
        return d3Loss(ce, dist, opts);
      },
      true,
      vars,
    )!;
    selected.forEach((v, i) => v.assign(tf.mul(v, tf.div(norms[i], tf.norm(v)))));
    epochLoss[epoch] += loss.dataSync()[0];
    batches[epoch]++;
    steps++;
  });
  optimizer.dispose();
  tf.dispose([...initial, ...norms]);
  return {
    method: 'd3',
    summary: `D3: ${plural(opts.epochs, 'epoch')} pushing ${selected.length === 1 ? 'one layer' : `${selected.length} layers`}' weights away from where they were (their norms kept) while the clean loss stays within its margin`,
    options: { ...opts, selected: selected.map((v) => v.name) },
    steps,
    epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])),
    seconds: (performance.now() - t0) / 1000,
  };
}
