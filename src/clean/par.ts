// PAR-style recovery for classifiers (after Singh, Croce & Hein, "Perturb and Recover",
// arXiv 2412.00727, whose official code does this for CLIP's two towers). Here the one tower is
// the classifier's penultimate embedding (the input of its head), and the task loss is the
// cross-entropy on the clean labelled images:
//   S = mean_n ‖u_n − u⁰_n‖²  (u, u⁰: L2-normalised embeddings of the model and of the frozen
//       original, on the same image),  thr(S) = S if S ≤ τ else 0 (the gate is a constant mask:
//       no gradient flows through it, as with torch.where),
//   loss = CE − thr(S).
// While S ≤ τ the push away from the original embedding dominates; past τ only the task loss
// acts (recovery). Differences from the CLIP recipe, and why:
// - τ: PAR's 2.15 (mean cosine −0.075) cannot be reached by post-ReLU embeddings, which are
//   non-negative (‖u − u⁰‖² ≤ 2); the default here is 1.0 (mean cosine 0.5).
// - Adam, not AdamW (tfjs has none), and a larger learning rate (1e-3 → 1e-4 linearly over the
//   first half, then cosine to 0: PAR's schedule shape) for a small net fine-tuned from 600
//   images rather than CLIP from 250k pairs.
// - No augmentation: the original's embeddings are computed once on the clean images.
import * as tf from '@tensorflow/tfjs';
import type { LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { spans } from '../scan/batching.js';
import { asLayersModel } from './neurons.js';
import { crossEntropyPerSample, forEachBatch } from './training.js';
import type { CleanLog } from './unlearn.js';
import { plural } from '../util/words.js';

export interface ParOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  tau: number;
  seed: number;
}

export const DEFAULT_PAR: ParOptions = { epochs: 10, batchSize: 32, learningRate: 1e-3, tau: 1.0, seed: 0 };

/** PAR's learning rate: linear from lr to lr/10 over the first half of the steps, cosine to `final` after. */
export function parLearningRate(lr: number, step: number, total: number, final = 0): number {
  const half = total / 2;
  if (step < half) return lr - ((lr - lr / 10) * step) / half;
  return final + 0.5 * (lr / 10 - final) * (1 + Math.cos((Math.PI * (step - half)) / Math.max(1, total - half)));
}

/** What PAR reports: the embedding it held and the last epoch's mean distance to the original's. */
export interface ParDetails {
  embedding: string;
  finalEpochMeanDistance: number;
}

export async function parRecover(model: ModelUnderTest, clean: LabelledImageSet, options: Partial<ParOptions> = {}): Promise<CleanLog<ParDetails>> {
  const opts = { ...DEFAULT_PAR, ...options };
  const t0 = performance.now();
  const layersModel = asLayersModel(model, 'PAR-style recovery');
  const layers = layersModel.model.layers;
  const head = [...layers].reverse().find((l) => l.getClassName() === 'Dense');
  if (!head) throw new Error('PAR-style recovery needs a Dense classifier head whose input is the embedding');
  const node = head.input as tf.SymbolicTensor;
  const embed = (x: tf.Tensor4D, training = false) => {
    const e = layersModel.hidden(x, [node], { training })[0];
    return tf.div(e, tf.add(tf.norm(e, 2, -1, true), 1e-12)) as tf.Tensor2D;
  };
  const n = clean.height * clean.width * clean.channels;
  const frozen = new Float32Array(clean.count * (node.shape.at(-1) ?? 0));
  const d = node.shape.at(-1) ?? 0;
  for (const [s, e] of spans(clean.count, 128))
    tf.tidy(() => {
      frozen.set(embed(tf.tensor4d(clean.x.subarray(s * n, e * n), [e - s, clean.height, clean.width, clean.channels])).dataSync(), s * d);
    });

  const vars = model.trainableVariables();
  const optimizer = tf.train.adam(opts.learningRate);
  const total = opts.epochs * Math.ceil(clean.count / opts.batchSize);
  const epochLoss = new Array<number>(opts.epochs).fill(0);
  const batches = new Array<number>(opts.epochs).fill(0);
  const distance: number[] = [];
  let steps = 0;
  await forEachBatch(clean, model.numClasses, opts, (x, y, epoch, indices) => {
    // tfjs' Adam reads its (protected) learningRate at every step; it has no setter.
    (optimizer as unknown as { learningRate: number }).learningRate = parLearningRate(opts.learningRate, steps, total);
    const u0 = tf.tensor2d(
      indices.flatMap((i) => Array.from(frozen.subarray(i * d, (i + 1) * d))),
      [indices.length, d],
    );
    let s = 0;
    const loss = optimizer.minimize(
      () => {
        const ce = tf.mean(crossEntropyPerSample(model.logits(x, { training: true }), y));
        const S = tf.mean(tf.sum(tf.square(tf.sub(embed(x, true), u0)), -1));
        s = S.dataSync()[0];
        const gate = s <= opts.tau ? 1 : 0; // constant: no gradient through the gate
        return tf.sub(ce, tf.mul(S, gate)) as tf.Scalar;
      },
      true,
      vars,
    )!;
    distance.push(s);
    epochLoss[epoch] += loss.dataSync()[0];
    batches[epoch]++;
    steps++;
  });
  optimizer.dispose();
  const last = distance.slice(-Math.ceil(clean.count / opts.batchSize));
  return {
    method: 'par',
    summary: `PAR: ${plural(opts.epochs, 'epoch')} of perturb-and-recover at the embedding ${node.name}`,
    options: opts,
    steps,
    epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])),
    seconds: (performance.now() - t0) / 1000,
    details: { embedding: node.name, finalEpochMeanDistance: last.reduce((a, b) => a + b, 0) / Math.max(1, last.length) },
  };
}
