// Shared adversarial unlearning (after Wei, Zhang, Zha & Wu, "Shared Adversarial Unlearning:
// Backdoor Mitigation by Unlearning Shared Adversarial Examples", NeurIPS 2023; objectives and
// defaults checked against the authors' BackdoorBench implementation). Trigger-agnostic: it needs
// no recovered trigger, only the small clean set, so it is what cleans a model whose scans
// recovered nothing that works.
// Per mini-batch:
// 1. Shared PGD (ℓ∞ ball of `epsilon`, started at +epsilon, `pgdSteps` signed steps): a
//    perturbation that both the model being cleaned and the frozen original get wrong, the same
//    way. It minimises β₁·L_adv + β₂·L_cross, where L_adv = −CE on the images either model still
//    gets right, and L_cross = the Jensen–Shannon divergence of the two models' softmaxes on the
//    images where they do not yet agree on a wrong class.
// 2. Unlearning: λ₁·CE(clean) + λ₃·L_shared, where L_shared, over the images the original is
//    fooled on (its answer on the perturbed image is neither the label nor its clean answer),
//    pushes the model's probability of the original's wrong answer down: −½[log Σ_{k≠ŷ₀} p_k +
//    log(1 − p_ŷ₀)], the two clamped as the authors do. A backdoor is the perturbation every
//    image shares, so unlearning shared adversarial examples removes it without knowing it.
import * as tf from '@tensorflow/tfjs';
import type { LabelledImageSet } from '../data/types.js';
import { withConstantWeights, type ModelUnderTest } from '../model/adapter.js';
import { pickImages } from '../data/types.js';
import { accuracyOf, crossEntropyPerSample, distillationPool, forEachBatch, poolRows } from './training.js';
import type { CleanLog } from './unlearn.js';
import { plural } from '../util/words.js';

export interface SauOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** ℓ∞ radius of the shared adversarial perturbation, in input units ([0, 1] images). */
  epsilon: number;
  pgdStep: number;
  pgdSteps: number;
  /** Weight of the adversarial loss in the perturbation's objective (β₁). */
  adversarialWeight: number;
  /** Weight of the two models' disagreement in the perturbation's objective (β₂). */
  sharedWeight: number;
  /** Weight of the clean cross-entropy in the unlearning loss (λ₁). */
  cleanWeight: number;
  /** Weight of the shared adversarial risk in the unlearning loss (λ₃). */
  unlearnWeight: number;
  /**
   * Distillation temperature of the clean term (0: the authors' cross-entropy with the labels).
   * At T > 0 the clean images and mixups of them are fitted to the original model's softmax at T,
   * as trigger unlearning does (unlearn.ts): a few hundred labels alone let accuracy erode.
   */
  distillTemperature: number;
  /** Mixup views per clean image in the distillation pool. */
  views: number;
  /**
   * Whose softened answers the clean term distils: the frozen original's (`reference`), or the
   * model's own as it is when the round starts (`model`: a model already cleaned of a trigger,
   * whose original would teach the backdoor back).
   */
  distillFrom: 'reference' | 'model';
  /**
   * Accuracy guard: the most the cleaning set's accuracy may fall (a fraction; 1: no guard).
   * The caller passes the policy's cleaning.max-accuracy-drop.
   */
  maxAccuracyDrop: number;
  /**
   * The cleaning set's accuracy the guard's drop is measured from: the original model's, for a
   * round that follows another cleaning (the policy's limit is on the whole of it). Absent: the
   * model's own when the round starts.
   */
  accuracyBaseline?: number;
  seed: number;
}

/**
 * The authors' defaults (BackdoorBench config: 5 PGD steps started at +ε, β 0.01 / 1, λ 1 / 1,
 * Adam) except three, each measured on the example models (tuning split; docs/cleaning.md):
 * - ε = 0.1 (theirs 0.2): on 28-px digits an ℓ∞ ball of 0.2 holds natural adversarial examples
 *   for most images (the original was fooled on 64 % of them), and unlearning them all cost
 *   2.1 points of accuracy against 0.45 at 0.1;
 * - the schedule: they run 100 epochs of 5 % of CIFAR-10 (about 1,000 steps) at 1e-4; a few
 *   hundred clean images on a CPU runner get 10 epochs at 1e-3;
 * - the clean term distils from the original (distillTemperature), as our other cleaners do.
 */
export const DEFAULT_SAU: SauOptions = {
  epochs: 10,
  batchSize: 128,
  learningRate: 1e-3,
  epsilon: 0.1,
  pgdStep: 0.1,
  pgdSteps: 5,
  adversarialWeight: 0.01,
  sharedWeight: 1,
  cleanWeight: 1,
  unlearnWeight: 1,
  distillTemperature: 4,
  views: 4,
  distillFrom: 'reference',
  maxAccuracyDrop: 1,
  seed: 0,
};

const argMaxOf = (z: tf.Tensor2D) => tf.argMax(z, -1) as tf.Tensor1D;
const notEqual = (a: tf.Tensor1D, b: tf.Tensor1D) => tf.cast(tf.notEqual(a, b), 'float32') as tf.Tensor1D;

/** Σ over classes of the Jensen–Shannon divergence of two softmaxes, per image. */
function jensenShannon(p: tf.Tensor2D, q: tf.Tensor2D): tf.Tensor1D {
  const pc = tf.clipByValue(p, 1e-8, 1);
  const qc = tf.clipByValue(q, 1e-8, 1);
  const logMix = tf.log(tf.mul(tf.add(pc, qc), 0.5));
  return tf.mul(tf.sum(tf.add(tf.mul(pc, tf.sub(tf.log(pc), logMix)), tf.mul(qc, tf.sub(tf.log(qc), logMix))), -1), 0.5) as tf.Tensor1D;
}

/** The shared adversarial perturbation of one batch (kept by the caller's tidy). */
export function sharedPerturbation(given: ModelUnderTest, givenReference: ModelUnderTest, x: tf.Tensor4D, y: tf.Tensor2D, opts: SauOptions): tf.Tensor4D {
  // Only the perturbation is optimised here: no weight gradients (same values, less work).
  const model = withConstantWeights(given);
  const reference = withConstantWeights(givenReference);
  const cleanAnswer = argMaxOf(model.logits(x));
  const cleanAnswerRef = argMaxOf(reference.logits(x));
  let pert = tf.fill(x.shape, opts.epsilon) as tf.Tensor4D;
  for (let s = 0; s < opts.pgdSteps; s++) {
    const previous = pert;
    pert = tf.tidy(() => step(previous));
    previous.dispose();
  }
  return pert;

  function step(pert: tf.Tensor4D): tf.Tensor4D {
    // Which images are fooled, and shared, are read at the current perturbation and held fixed
    // for its gradient (the authors' boolean indexing).
    const z = model.logits(tf.add(x, pert) as tf.Tensor4D);
    const zRef = reference.logits(tf.add(x, pert) as tf.Tensor4D);
    const fooled = notEqual(argMaxOf(z), cleanAnswer);
    const fooledRef = notEqual(argMaxOf(zRef), cleanAnswerRef);
    const shared = tf.mul(tf.mul(fooled, fooledRef), tf.cast(tf.equal(argMaxOf(z), argMaxOf(zRef)), 'float32'));
    const batch = x.shape[0];
    const grad = tf.grad((p: tf.Tensor) => {
      const zp = model.logits(tf.add(x, p) as tf.Tensor4D);
      const zpRef = reference.logits(tf.add(x, p) as tf.Tensor4D);
      const adv = tf.div(
        tf.neg(tf.add(tf.sum(tf.mul(tf.sub(1, fooled), crossEntropyPerSample(zp, y))), tf.sum(tf.mul(tf.sub(1, fooledRef), crossEntropyPerSample(zpRef, y))))),
        2 * batch,
      );
      const cross = tf.div(tf.sum(tf.mul(tf.sub(1, shared), jensenShannon(tf.softmax(zp) as tf.Tensor2D, tf.softmax(zpRef) as tf.Tensor2D))), batch);
      return tf.add(tf.mul(adv, opts.adversarialWeight), tf.mul(cross, opts.sharedWeight)) as tf.Scalar;
    })(pert);
    return tf.clipByValue(tf.sub(pert, tf.mul(tf.sign(grad), opts.pgdStep)), -opts.epsilon, opts.epsilon) as tf.Tensor4D;
  }
}

/** What SAU reports: per epoch how often a shared perturbation fooled the original and the cleaning set's accuracy, and what the accuracy guard kept. */
export interface SauDetails {
  /** Share of each epoch's images on which the original was fooled by a shared perturbation. */
  fooledShare: number[];
  /** The cleaning set's accuracy after each epoch. */
  cleanSetAccuracy: number[];
  /** Epochs whose weights were kept. */
  keptEpochs: number;
  /** Why the guard restored earlier weights, when it did. */
  restored?: string;
  phases: { perturbationSeconds: number; unlearningSeconds: number };
}

/** Cleans `model` in place; `reference` is a frozen copy of it as it was (never trained). */
export async function sauUnlearn(
  model: ModelUnderTest,
  reference: ModelUnderTest,
  clean: LabelledImageSet,
  options: Partial<SauOptions> = {},
): Promise<CleanLog<SauDetails>> {
  const opts = { ...DEFAULT_SAU, ...options };
  const t0 = performance.now();
  const vars = model.trainableVariables();
  if (!vars.length) throw new Error('shared adversarial unlearning needs trainable weights, and this model has none');
  const optimizer = tf.train.adam(opts.learningRate);
  const K = model.numClasses;
  const epochLoss = new Array<number>(opts.epochs).fill(0);
  const batches = new Array<number>(opts.epochs).fill(0);
  const fooledShare = new Array<number>(opts.epochs).fill(0);
  const T = opts.distillTemperature;
  const pool = T > 0 ? distillationPool(opts.distillFrom === 'model' ? model : reference, clean, opts.views, opts.seed) : null;
  let steps = 0;
  let pgdSeconds = 0;
  const guard = accuracyGuard(model, clean, opts.maxAccuracyDrop, opts.accuracyBaseline);
  await forEachBatch(
    clean,
    K,
    opts,
    (x, y, epoch, indices) => {
      const tp = performance.now();
      const pert = sharedPerturbation(model, reference, x, y, opts);
      const perturbed = tf.add(x, pert) as tf.Tensor4D;
      pgdSeconds += (performance.now() - tp) / 1000;
      const labels = argMaxOf(y);
      const zRef = reference.logits(perturbed);
      const answerRef = argMaxOf(zRef);
      // Images the original is fooled on: its answer is neither the label nor its clean answer.
      const potential = tf.mul(notEqual(answerRef, labels), notEqual(answerRef, argMaxOf(reference.logits(x))));
      const wrong = tf.cast(tf.oneHot(answerRef, K), 'float32');
      const batch = x.shape[0];
      // The clean term's images and targets: the batch at its labels, or its pool rows at the
      // original model's softened answers.
      const rows = pool ? poolRows(pool, clean.count, indices, epoch) : null;
      const cleanX = pool ? tf.tensor4d(pickImages(pool.images, rows!).x, [rows!.length, clean.height, clean.width, clean.channels]) : x;
      const cleanY = pool
        ? (tf.softmax(
            tf.div(
              tf.tensor2d(
                rows!.flatMap((r) => Array.from(pool.logProbabilities.subarray(r * K, (r + 1) * K))),
                [rows!.length, K],
              ),
              T,
            ),
          ) as tf.Tensor2D)
        : y;
      const n = cleanX.shape[0];
      const loss = optimizer.minimize(
        () => {
          const z = model.logits(tf.concat([cleanX, perturbed]) as tf.Tensor4D);
          const zClean = tf.slice(z, [0, 0], [n, K]) as tf.Tensor2D;
          const p = tf.softmax(tf.slice(z, [n, 0], [batch, K]));
          const pos = tf.sum(tf.mul(p, wrong), -1);
          const neg = tf.sum(tf.mul(p, tf.sub(1, wrong)), -1);
          const perImage = tf.div(tf.neg(tf.add(tf.log(tf.add(1e-6, tf.minimum(neg, 0.999))), tf.log(tf.sub(1 + 1e-6, tf.maximum(pos, 0.001))))), 2);
          const sharedRisk = tf.div(tf.sum(tf.mul(potential, perImage)), batch);
          const ce = pool
            ? tf.mul(tf.mean(crossEntropyPerSample(tf.div(zClean, T) as tf.Tensor2D, cleanY)), T * T)
            : tf.mean(crossEntropyPerSample(zClean, cleanY));
          return tf.add(tf.mul(ce, opts.cleanWeight), tf.mul(sharedRisk, opts.unlearnWeight)) as tf.Scalar;
        },
        true,
        vars,
      )!;
      epochLoss[epoch] += loss.dataSync()[0];
      fooledShare[epoch] += tf.mean(potential).dataSync()[0];
      batches[epoch]++;
      steps++;
    },
    guard.afterEpoch,
  );
  guard.finish();
  optimizer.dispose();
  const seconds = (performance.now() - t0) / 1000;
  return {
    method: 'sau',
    summary: `shared adversarial unlearning (ℓ∞ ε ${opts.epsilon}): ${guard.restored ?? `${plural(opts.epochs, 'epoch')}, the clean images held to ${T > 0 ? `${opts.distillFrom === 'model' ? "the cleaned model's" : "the original's"} answers` : 'their labels'}`}`,
    options: opts,
    steps,
    epochLoss: epochLoss.map((l, i) => l / Math.max(1, batches[i])),
    seconds,
    details: {
      fooledShare: fooledShare.map((s, i) => s / Math.max(1, batches[i])),
      cleanSetAccuracy: guard.accuracy,
      keptEpochs: guard.keptEpochs,
      ...(guard.restored ? { restored: guard.restored } : {}),
      phases: { perturbationSeconds: pgdSeconds, unlearningSeconds: seconds - pgdSeconds },
    },
  };
}

/**
 * Unlearning shared adversarial examples also unlearns the task when most clean images have
 * natural adversarial examples inside ε (two-class models: SAU cost them 15–20 points). The guard
 * measures the cleaning set's accuracy (its labels; the model's own answers for unlabelled
 * images) after each epoch and, if the last epoch ends more than the limit below where it
 * started, restores the weights of the last epoch within it (or the model as it was). It does
 * not stop at the first epoch past the limit: removing a backdoor can cost accuracy for an epoch
 * or two and win it back. With a baseline (the original's accuracy) the limit is measured from it,
 * and a round that starts past it may keep an epoch no worse than where it began.
 */
export function accuracyGuard(model: ModelUnderTest, clean: LabelledImageSet, maxAccuracyDrop: number, baseline?: number) {
  const roundStart = accuracyOf(model, clean);
  const start = baseline ?? roundStart;
  const vars = model.trainableVariables();
  const on = maxAccuracyDrop < 1;
  let kept = on ? vars.map((v) => tf.clone(v)) : [];
  const state = {
    accuracy: [] as number[],
    keptEpochs: 0,
    restored: undefined as string | undefined,
    afterEpoch(epoch: number): void {
      const now = accuracyOf(model, clean);
      state.accuracy.push(now);
      // Within the limit, or (a round already past it from the baseline) no worse than it began.
      if (start - now > maxAccuracyDrop && now < roundStart) return;
      state.keptEpochs = epoch + 1;
      if (on) {
        kept.forEach((t) => t.dispose());
        kept = vars.map((v) => tf.clone(v));
      }
    },
    /** Restores the kept weights when the last epoch is past the limit; then frees them. */
    finish(): void {
      const ran = state.accuracy.length;
      if (on && state.keptEpochs < ran) {
        vars.forEach((v, i) => v.assign(kept[i]));
        const drop = 100 * (start - state.accuracy[ran - 1]);
        // An epoch is kept within the limit, or (past it) for being no worse than the round began.
        const keptWithinLimit = start - state.accuracy[state.keptEpochs - 1] <= maxAccuracyDrop;
        state.restored = `after ${ran} epochs the cleaning set's accuracy was ${drop.toFixed(1)} points below ${baseline === undefined ? 'where it started' : "the original model's, and below where this round began"} (the limit is ${(100 * maxAccuracyDrop).toFixed(1)}), so the weights ${state.keptEpochs ? `of epoch ${state.keptEpochs}, the last ${keptWithinLimit ? 'within it' : 'no worse than where this round began'},` : 'the model had before unlearning'} were kept`;
      }
      kept.forEach((t) => t.dispose());
      kept = [];
    },
  };
  return state;
}
