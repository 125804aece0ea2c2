// Experiment behind docs/cleaning.md's "Adversarial neuron pruning, measured and not kept" (issue
// 21's trigger-agnostic cleaning: "SAU, or ANP / FT-SAM; measure, keep what wins"). ANP after Wu &
// Wang, "Adversarial Neuron Perturbations Expose Backdoor Models" (NeurIPS 2021), objective and
// defaults from the authors' code (csdongxian/ANP_backdoor: optimize_mask_cifar.py,
// models/anp_batchnorm.py, prune_neuron_cifar.py).
// Per neuron k, with its last per-unit affine map (a batch norm's γ_k and β_k; where no batch
// norm follows, the layer's kernel column and bias):
//   γ_k ← (m_k + δ_k)·γ_k,  β_k ← (1 + ξ_k)·β_k,  δ, ξ drawn in [−ε, ε], then one signed ascent
//   step of ε on the cross-entropy (the authors' single step, not clipped back, as in their code);
//   m ← m − lr·(α·∇L(m, 0) + (1 − α)·∇L(m, δ, ξ)), SGD with momentum 0.9, m clipped to [0, 1].
// The authors then prune the neurons of lowest mask (γ set to 0), by a threshold or a count. Here
// the batch norms run in inference mode (theirs in training mode) and the data is the eval's
// cleaning set: 5 % of the training size, labelled, and the 256 probes labelled by the model.
// For each zoo model it prints the true trigger's ASR and the accuracy on the domain's test split
// after pruning the n lowest-mask neurons, for a range of n.
//   npm run zoo -- --only signs10-cnn-blended-t0-s321
//   EPS=0.1 ITERATIONS=1000 tsx scripts/experiments/adversarial-neuron-pruning.ts signs10-cnn-blended-t0-s321
//   MODE=gradients tsx scripts/experiments/adversarial-neuron-pruning.ts   (checks ∂L/∂m against finite differences)
import * as tf from '@tensorflow/tfjs';
import { asLayersModel, neuronLayers } from '../../src/clean/neurons.js';
import { coefficientGradients, perturbedLayer, writeCoefficients, type PerturbedLayer } from './neuron-perturbation.js';
import { crossEntropyPerSample, forEachBatch } from '../../src/clean/training.js';
import { loadLabelledImages } from '../../src/data/sources.js';
import type { LabelledImageSet } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';
import { mulberry32 } from '../../src/util/random.js';
import { evalCleaningSet, testAccuracyAndAsr } from '../eval-cleaning-data.js';

const EPS = Number(process.env.EPS ?? 0.4);
const ITERATIONS = Number(process.env.ITERATIONS ?? 2000);
const OPTIONS = { batchSize: 128, learningRate: 0.2, alpha: 0.2, seed: 0 };

function perturbedLayers(model: ModelUnderTest): PerturbedLayer[] {
  const adapter = asLayersModel(model, 'ANP');
  const { layers } = adapter.model;
  return neuronLayers(adapter).map((layer) => {
    // The batch norm right after the layer, if any (one later in the chain neurons.ts follows,
    // after a ReLU, is not this neuron's affine map: the kernel and bias are used then).
    const next = layers[layers.findIndex((l) => l.name === layer.name) + 1];
    const bn = next?.getClassName() === 'BatchNormalization' ? next : undefined;
    const named = (suffix: string) => bn?.trainableWeights.find((w) => w.originalName.endsWith(suffix))?.read() as tf.Variable | undefined;
    const gamma = named('gamma');
    return perturbedLayer(layer.name, gamma ?? layer.kernel, gamma ? named('beta') : layer.masked.find((v) => v.rank === 1));
  });
}

/** The masks ANP learns, one a neuron (all layers in a row); the model is left as it was. */
async function anpMasks(model: ModelUnderTest, layers: PerturbedLayer[], clean: LabelledImageSet): Promise<Float32Array> {
  const total = layers.reduce((a, l) => a + l.units, 0);
  const mask = new Float32Array(total).fill(1);
  const velocity = new Float32Array(total);
  const rand = mulberry32(OPTIONS.seed * 7919 + 71);
  const uniform = () => Float32Array.from({ length: total }, () => (2 * rand() - 1) * EPS);
  const epochs = Math.ceil(ITERATIONS / Math.ceil(clean.count / OPTIONS.batchSize));
  let steps = 0;
  await forEachBatch(clean, model.numClasses, { epochs, batchSize: OPTIONS.batchSize, seed: OPTIONS.seed }, (x, y) => {
    if (steps++ >= ITERATIONS) return;
    const delta = uniform();
    const xi = uniform();
    const perturbed = () =>
      writeCoefficients(
        layers,
        mask.map((m, i) => m + delta[i]),
        xi.map((v) => 1 + v),
      );
    perturbed();
    const ascent = coefficientGradients(model, layers, x, y);
    for (let i = 0; i < total; i++) {
      delta[i] += EPS * Math.sign(ascent.scale[i]);
      xi[i] += EPS * Math.sign(ascent.shift[i]);
    }
    perturbed();
    const robust = coefficientGradients(model, layers, x, y);
    writeCoefficients(layers, mask, null);
    const natural = coefficientGradients(model, layers, x, y);
    for (let i = 0; i < total; i++) {
      velocity[i] = 0.9 * velocity[i] + OPTIONS.alpha * natural.scale[i] + (1 - OPTIONS.alpha) * robust.scale[i];
      mask[i] = Math.min(1, Math.max(0, mask[i] - OPTIONS.learningRate * velocity[i]));
    }
  });
  writeCoefficients(layers, new Float32Array(total).fill(1), null);
  return mask;
}

await selectBackend({ choice: process.env.MODE === 'gradients' ? 'cpu' : 'wasm', logger: new MemoryLogger(), wasmThreads: Number(process.env.THREADS ?? 1) });

if (process.env.MODE === 'gradients') {
  // The chain rule against central differences of the loss, at coefficients away from 1.
  for (const name of ['bn-cnn-badnets-t6', 'cnn-blended-t4']) {
    const { model } = await loadModel(`examples/models/${name}`);
    const digits = loadLabelledImages('examples/data/mnist-probe', { shape: [28, 28, 1], maxImages: 64, seed: 0 });
    const x = tf.tensor4d(digits.x, [64, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(digits.labels, 'int32'), 10).toFloat() as tf.Tensor2D;
    const layers = perturbedLayers(model);
    const total = layers.reduce((a, l) => a + l.units, 0);
    const a = Float32Array.from({ length: total }, (_, i) => 0.7 + 0.05 * (i % 7));
    const b = Float32Array.from({ length: total }, (_, i) => 1.1 - 0.03 * (i % 5));
    writeCoefficients(layers, a, b);
    const g = coefficientGradients(model, layers, x, y);
    const loss = (aa: Float32Array, bb: Float32Array) => {
      writeCoefficients(layers, aa, bb);
      return tf.tidy(() => tf.mean(crossEntropyPerSample(model.logits(x), y)).dataSync()[0]);
    };
    const h = 1e-2;
    for (const i of [0, 3, Math.floor(total / 2), total - 1]) {
      const moved = (v: Float32Array, by: number) => v.map((e, j) => (j === i ? e + by : e));
      const fa = (loss(moved(a, h), b) - loss(moved(a, -h), b)) / (2 * h);
      const fb = (loss(a, moved(b, h)) - loss(a, moved(b, -h))) / (2 * h);
      console.log(
        `${name} neuron ${i}: ∂L/∂scale ${g.scale[i].toExponential(3)} (differences ${fa.toExponential(3)}), ∂L/∂shift ${g.shift[i].toExponential(3)} (${fb.toExponential(3)})`,
      );
    }
  }
} else {
  for (const name of process.argv.slice(2)) {
    const { card, test, cleaningSet } = evalCleaningSet(name);
    const { model } = await loadModel(`zoo/${name}`);
    // The eval's labelled set (5 % of the training size) and the probes labelled by the model.
    const clean = cleaningSet(model);
    const layers = perturbedLayers(model);
    const t0 = performance.now();
    const mask = await anpMasks(model, layers, clean);
    const seconds = (performance.now() - t0) / 1000;
    const order = [...mask.keys()].sort((i, j) => mask[i] - mask[j]);
    const sweep: string[] = [];
    for (const n of [0, 1, 2, 4, 6, 8, 12, 16, 24, 32].filter((n) => n < mask.length)) {
      const keep = new Float32Array(mask.length).fill(1);
      for (const i of order.slice(0, n)) keep[i] = 0;
      writeCoefficients(layers, keep, null);
      const m = model.editableLayers!.model;
      const { accuracy: acc, asr } = testAccuracyAndAsr(m, test, card);
      sweep.push(`${n} (m ≤ ${n ? mask[order[n - 1]].toFixed(2) : '–'}): ${(100 * acc).toFixed(1)} / ${(100 * (asr ?? NaN)).toFixed(1)}`);
    }
    console.log(`${name}: ε ${EPS}, ${ITERATIONS} iterations on ${clean.count} images, ${mask.length} neurons, ${seconds.toFixed(0)} s`);
    console.log(`  pruned (lowest masks first): accuracy / true-trigger ASR %  ${sweep.join(' | ')}`);
    model.dispose();
  }
}
