// Experiments behind docs/cleaning.md's "FT-SAM against SAU" and "FST against SAU" (issue 21's
// trigger-agnostic cleaning: "SAU, or ANP / FT-SAM; measure, keep what wins"): two fine-tuning
// defences run on the eval's cleaning set beside SAU (src/clean/sau.ts, as `auto` and
// `--method sau` run it).
//
// FT-SAM after Zhu, Wei, Shen, Fan & Wu, "Enhancing Fine-Tuning Based Backdoor Defense with
// Sharpness-Aware Minimization" (ICCV 2023), objective and defaults from BackdoorBench
// (defense/ft-sam.py, config/defense/ft-sam/*.yaml, utils/defense_utils/sam/sam.py): fine-tuning on
// the clean set with adaptive SAM. Per batch:
//   g = ∇L(w);  e = ρ · w² ⊙ g / ‖ |w| ⊙ g ‖₂ (over all weights);  g' = ∇L(w + e);
//   SGD with momentum on g' + wd·w (weight decay as PyTorch's SGD adds it), cosine learning rate.
// L = cross-entropy with label smoothing. Their defaults: ρ = 2, label smoothing 0.1, SGD lr 0.01,
// momentum 0.9, weight decay 5e-4, batch 256, 100 epochs of 5 % of CIFAR-10 (about 1,000 steps),
// batch norms in training mode.
//
// FST after Min, Qin, Shen & Cheng, "Towards Stable Backdoor Purification through Feature Shift
// Tuning" (NeurIPS 2023), objective and defaults from AISafety-HKUST/stable_backdoor_purification
// (fine_tune/ft.py, --ft_mode fst): the linear head is re-initialised (uniform ±1/√fan-in, bias
// too), then every weight is tuned on L = CE + α · Σ W ⊙ W₀ (W₀ the original head's weights), SGD
// lr 0.01 with momentum 0.9 and no weight decay, a cosine learning rate stepped per epoch, and
// after every step W is rescaled to W₀'s Frobenius norm. Their defaults: α 0.2 (README example
// 0.1), 10 epochs, batch 128, 2 % of CIFAR-10, batch norms in training mode.
//
// Here: batch 128, EPOCHS epochs (FST: its own count, `fst:<α>:<epochs>`) of the eval's cleaning
// set, batch norms in inference mode (as every cleaner here runs them), the policy's accuracy
// guard as SAU has it. The cleaning set: 4/5 of the eval's labelled set (5 % of the training
// size) and the 256 probes labelled by the model; true-trigger ASR and accuracy on the domain's
// 2,000 test images, then after the benchmark's one-epoch re-tune (scripts/eval-clean.ts RETUNE).
//   npm run zoo -- --only signs10-cnn-blended-t0-s321
//   METHODS=sau,ft-sam:1,fst:0.2:10 EPOCHS=40 tsx scripts/experiments/fine-tuning-defences.ts signs10-cnn-blended-t0-s321 [more models]
import * as tf from '@tensorflow/tfjs';
import { accuracyGuard, sauUnlearn } from '../../src/clean/sau.js';
import { accuracyOf, forEachBatch } from '../../src/clean/training.js';
import type { LabelledImageSet } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';
import type { TaskData } from '../../src/zoo/domains.js';
import { trainEpochs } from '../../src/zoo/train.js';
import { evalCleaningSet, RETUNE, testAccuracyAndAsr } from '../eval-cleaning-data.js';

const EPOCHS = Number(process.env.EPOCHS ?? 40);
const LR = Number(process.env.LR ?? 0.01);
/** `sau`, `ft-sam:<ρ>` for each ρ to try, or `fst:<α>[:<epochs>]`. */
const METHODS = (process.env.METHODS ?? 'sau,ft-sam:0.5,ft-sam:1,ft-sam:2,ft-sam:4').split(',');
const FT_SAM = { batchSize: 128, momentum: 0.9, weightDecay: 5e-4, labelSmoothing: 0.1, maxAccuracyDrop: 0.02, seed: 0 };
// MAX_DROP=1 turns the guard off (to see where an unguarded run ends).
const FST = { batchSize: 128, momentum: 0.9, maxAccuracyDrop: Number(process.env.MAX_DROP ?? 0.02), seed: 0 };

function smoothedCrossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D, smoothing: number): tf.Scalar {
  const K = logits.shape[1];
  const target = tf.add(tf.mul(oneHot, 1 - smoothing), smoothing / K);
  return tf.mean(tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), -1))) as tf.Scalar;
}

/** FST on `model` in place, under SAU's accuracy guard (the last epoch within the limit is kept). */
async function fst(model: ModelUnderTest, clean: LabelledImageSet, alpha: number, epochs: number): Promise<FineTuneRun> {
  const t0 = performance.now();
  const head = [...model.editableLayers!.model.layers].reverse().find((l) => l.getClassName() === 'Dense');
  if (!head) throw new Error('FST needs a Dense classifier head');
  const [kernel, bias] = head.trainableWeights.map((w) => w.read() as tf.Variable);
  const original = tf.clone(kernel);
  const norm = tf.norm(original);
  // The guard's snapshot is the model as it came (re-initialising the head is part of the method).
  const guard = accuracyGuard(model, clean, FST.maxAccuracyDrop);
  const bound = 1 / Math.sqrt(kernel.shape[0]);
  kernel.assign(tf.randomUniform(kernel.shape, -bound, bound, 'float32', FST.seed));
  bias.assign(tf.randomUniform(bias.shape, -bound, bound, 'float32', FST.seed + 1));
  const vars = model.trainableVariables();
  const velocity = vars.map((v) => tf.variable(tf.zerosLike(v)));
  const K = model.numClasses;
  const loss = (x: tf.Tensor4D, y: tf.Tensor2D) => () =>
    tf.add(smoothedCrossEntropy(model.logits(x), y, 0), tf.mul(alpha, tf.sum(tf.mul(kernel, original)))) as tf.Scalar;
  await forEachBatch(
    clean,
    K,
    { epochs, batchSize: FST.batchSize, seed: FST.seed },
    (x, y, epoch) => {
      // PyTorch's CosineAnnealingLR stepped once an epoch.
      const lr = 0.5 * LR * (1 + Math.cos((Math.PI * epoch) / epochs));
      const g = tf.variableGrads(loss(x, y), vars).grads;
      vars.forEach((v, i) => {
        velocity[i].assign(tf.add(tf.mul(velocity[i], FST.momentum), g[v.name]));
        v.assign(tf.sub(v, tf.mul(velocity[i], lr)));
      });
      kernel.assign(tf.mul(kernel, tf.div(norm, tf.norm(kernel))));
    },
    guard.afterEpoch,
  );
  guard.finish();
  [original, norm, ...velocity].forEach((t) => t.dispose());
  return { seconds: (performance.now() - t0) / 1000, ...(guard.restored ? { restoredTo: guard.keptEpochs } : {}), accuracy: guard.accuracy };
}

/** FT-SAM on `model` in place, under SAU's accuracy guard (the last epoch within the limit is kept). */
interface FineTuneRun {
  seconds: number;
  restoredTo?: number;
  /** The cleaning set's accuracy after each epoch. */
  accuracy: number[];
}

async function ftSam(model: ModelUnderTest, clean: LabelledImageSet, rho: number): Promise<FineTuneRun> {
  const t0 = performance.now();
  const vars = model.trainableVariables();
  const velocity = vars.map((v) => tf.variable(tf.zerosLike(v)));
  const K = model.numClasses;
  const steps = EPOCHS * Math.ceil(clean.count / FT_SAM.batchSize);
  let step = 0;
  const guard = accuracyGuard(model, clean, FT_SAM.maxAccuracyDrop);
  const loss = (x: tf.Tensor4D, y: tf.Tensor2D) => () => smoothedCrossEntropy(model.logits(x), y, FT_SAM.labelSmoothing);
  await forEachBatch(
    clean,
    K,
    { epochs: EPOCHS, batchSize: FT_SAM.batchSize, seed: FT_SAM.seed },
    (x, y) => {
      const lr = 0.5 * LR * (1 + Math.cos((Math.PI * step) / steps));
      step++;
      const g = tf.variableGrads(loss(x, y), vars).grads;
      const gs = vars.map((v) => g[v.name]);
      // Adaptive SAM: the ascent step is scaled by |w| per weight, so ρ is relative to the weights.
      const norm = tf.sqrt(tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.mul(tf.abs(v), gs[i]))))));
      const scale = tf.div(rho, tf.add(norm, 1e-12));
      const e = vars.map((v, i) => tf.mul(tf.mul(tf.square(v), gs[i]), scale));
      vars.forEach((v, i) => v.assign(tf.add(v, e[i])));
      const g2 = tf.variableGrads(loss(x, y), vars).grads;
      vars.forEach((v, i) => {
        v.assign(tf.sub(v, e[i]));
        const d = tf.add(g2[v.name], tf.mul(v, FT_SAM.weightDecay));
        velocity[i].assign(tf.add(tf.mul(velocity[i], FT_SAM.momentum), d));
        v.assign(tf.sub(v, tf.mul(velocity[i], lr)));
      });
    },
    guard.afterEpoch,
  );
  guard.finish();
  velocity.forEach((t) => t.dispose());
  return { seconds: (performance.now() - t0) / 1000, ...(guard.restored ? { restoredTo: guard.keptEpochs } : {}), accuracy: guard.accuracy };
}

await selectBackend({ choice: 'wasm', logger: new MemoryLogger(), wasmThreads: Number(process.env.THREADS ?? 1) });
for (const name of process.argv.slice(2)) {
  const { card, test, labelled, cleaningSet } = evalCleaningSet(name);
  const measure = (m: ModelUnderTest) => testAccuracyAndAsr(m.editableLayers!.model, test, card);
  const pct = (v: number | null) => (v === null ? '–' : (100 * v).toFixed(1));
  for (const method of METHODS) {
    const { model } = await loadModel(`zoo/${name}`);
    // What runClean cleans with: 4/5 of the labelled set (the rest is held out) and the probes.
    const clean = cleaningSet(model, 4 / 5);
    const before = measure(model);
    let note: string;
    let seconds: number;
    let record: object = {};
    const start = accuracyOf(model, clean);
    const [kind, a, e] = method.split(':');
    const epochs = kind === 'fst' ? Number(e ?? EPOCHS) : EPOCHS;
    if (kind === 'sau') {
      const { model: reference } = await loadModel(`zoo/${name}`);
      const log = await sauUnlearn(model, reference, clean, { seed: 0, maxAccuracyDrop: FT_SAM.maxAccuracyDrop });
      reference.dispose();
      seconds = log.seconds;
      note = typeof log.details?.restored === 'string' ? 'restored' : '';
    } else {
      const r = kind === 'fst' ? await fst(model, clean, Number(a), epochs) : await ftSam(model, clean, Number(a));
      seconds = r.seconds;
      const lowest = Math.min(...r.accuracy);
      note = `${r.restoredTo !== undefined ? `restored to epoch ${r.restoredTo}; ` : ''}cleaning-set acc ${(100 * start).toFixed(1)} → lowest ${(100 * lowest).toFixed(1)} → last ${(100 * r.accuracy.at(-1)!).toFixed(1)}`;
      record = { start, lowest, last: r.accuracy.at(-1)!, restoredTo: r.restoredTo };
    }
    const after = measure(model);
    trainEpochs(model.editableLayers!.model, labelled as TaskData, { ...RETUNE, head: card.head, outputs: card.outputs });
    const retuned = measure(model);
    console.log(
      `${name} ${method}${method === 'sau' ? '' : ` ${epochs} ep lr ${LR}`}: acc ${pct(before.accuracy)} → ${pct(after.accuracy)} (drop ${(100 * (before.accuracy - after.accuracy)).toFixed(2)}), ASR ${pct(before.asr)} → ${pct(after.asr)} → re-tuned ${pct(retuned.asr)} (acc ${pct(retuned.accuracy)}); ${clean.count} images, ${seconds.toFixed(0)} s ${note}`,
    );
    console.log(`JSON ${JSON.stringify({ model: name, family: card.attack?.family ?? 'clean', method, epochs, before, after, retuned, seconds, ...record })}`);
    model.dispose();
  }
}
