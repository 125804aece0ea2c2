// Experiment for issue 19's clean-model false alarms (docs/detection.md, "What did not
// separate"): does BAN's adversarial neuron noise (Xu et al., "BAN: Detecting Backdoors Activated
// by Adversarial Neuron Noise", NeurIPS 2024) tell a backdoor's target from a clean model's
// naturally easy class? Objective and defaults from the authors' ban_detection.py and
// models/perb_batchnorm.py (xiaoyunxxy/ban): every neuron's batch-norm γ and β are scaled by
// (1 + δ_k) and (1 + ξ_k), δ and ξ drawn in [−ε, ε], then `steps` signed ascent steps of ε/steps
// on the cross-entropy of clean images (ε = 0.3, 30 steps in their README; not clipped, as in
// their code); the noisy model's predictions on other clean images are then read: a backdoored
// model's collapse onto its target. Departures: the labels are the model's own predictions on
// the eval's 256 unlabelled probes (the gate has no labels), half crafting the noise and half
// measuring it; where no batch norm follows a layer its kernel columns and bias are scaled; BAN's
// feature-mask step is left out (it decouples features for its mitigation, not the noise).
// Per model it prints one JSON line: per class, the share of measuring probes of other classes
// the noise sends to it (mean over restarts), and the noisy accuracy against the clean predictions.
//   tsx scripts/experiments/neuron-noise.ts [--split tuning,validation] [--eval /tmp/eval-full.json] [names…] > rows.jsonl
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { asLayersModel } from '../../src/clean/neurons.js';
import { predict } from '../../src/clean/training.js';
import { sliceImages, type ImageSet } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';
import { mulberry32 } from '../../src/util/random.js';
import { domain, type DomainName } from '../../src/zoo/domains.js';
import { EVAL_PROBES } from '../eval-cleaning-data.js';
import { coefficientGradients, perturbedLayer, restoreLayers, writeCoefficients, type PerturbedLayer } from './neuron-perturbation.js';

const EPS = (process.env.EPS ?? '0.3').split(',').map(Number);
const STEPS = Number(process.env.STEPS ?? 30);
const RESTARTS = Number(process.env.RESTARTS ?? 3);

/** Every hidden neuron's last affine map: a batch norm's γ, β where one reads the layer, else its kernel columns and bias. */
function allNeurons(model: ModelUnderTest): PerturbedLayer[] {
  const { layers } = asLayersModel(model, 'BAN').model;
  const withKernel = layers.filter((l) => ['Conv2D', 'Dense', 'SeparableConv2D'].includes(l.getClassName()));
  const head = withKernel.at(-1);
  const out: PerturbedLayer[] = [];
  for (const layer of withKernel) {
    if (layer === head) continue;
    const bn = layers.find((l) => l.getClassName() === 'BatchNormalization' && l.input === layer.output);
    const vars = (bn ?? layer).trainableWeights;
    const named = (suffix: string) =>
      vars.find((w) => w.originalName.endsWith(suffix) && !w.originalName.endsWith(`depthwise_${suffix}`))?.read() as tf.Variable | undefined;
    const scale = bn ? named('gamma') : named('kernel');
    if (!scale) continue;
    out.push(perturbedLayer(layer.name, scale, bn ? named('beta') : named('bias')));
  }
  return out;
}

function images(set: ImageSet): tf.Tensor4D {
  return tf.tensor4d(set.x, [set.count, set.height, set.width, set.channels]);
}

/** Per class, the share of `measure` images predicted elsewhere before the noise that the noise sends to it. */
function noisyShares(model: ModelUnderTest, layers: PerturbedLayer[], craft: ImageSet, measure: ImageSet, eps: number, seed: number) {
  const k = model.numClasses;
  const craftLabels = predict(model, craft);
  const before = predict(model, measure);
  const x = images(craft);
  const y = tf.oneHot(tf.tensor1d(craftLabels, 'int32'), k).toFloat() as tf.Tensor2D;
  const total = layers.reduce((a, l) => a + l.units, 0);
  const shares = new Float64Array(k);
  let agree = 0;
  for (let r = 0; r < RESTARTS; r++) {
    const rand = mulberry32(seed * 7919 + r);
    const a = Float32Array.from({ length: total }, () => 1 + (2 * rand() - 1) * eps);
    const b = Float32Array.from({ length: total }, () => 1 + (2 * rand() - 1) * eps);
    for (let s = 0; s < STEPS; s++) {
      writeCoefficients(layers, a, b);
      const g = coefficientGradients(model, layers, x, y);
      for (let i = 0; i < total; i++) {
        a[i] += (eps / STEPS) * Math.sign(g.scale[i]);
        b[i] += (eps / STEPS) * Math.sign(g.shift[i]);
      }
    }
    writeCoefficients(layers, a, b);
    const after = predict(model, measure);
    writeCoefficients(layers, new Float32Array(total).fill(1), null);
    for (let c = 0; c < k; c++) {
      let others = 0;
      let moved = 0;
      for (let i = 0; i < measure.count; i++) {
        if (before[i] === c) continue;
        others++;
        if (after[i] === c) moved++;
      }
      shares[c] += others ? moved / others / RESTARTS : 0;
    }
    for (let i = 0; i < measure.count; i++) if (after[i] === before[i]) agree += 1 / measure.count / RESTARTS;
  }
  tf.dispose([x, y]);
  return { shares: [...shares].map((v) => Number(v.toFixed(3))), agree: Number(agree.toFixed(3)) };
}

interface EvalRow {
  name: string;
  split: string;
  domain: string;
  arch: string;
  head: string;
  classes: number;
  family: string | null;
  target: number | null;
  verdict: string;
  suspectedTarget: number | null;
}

function argument(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

await selectBackend({ choice: 'wasm', logger: new MemoryLogger(), wasmThreads: Number(process.env.THREADS ?? 1) });
const evalRows = (JSON.parse(readFileSync(argument('--eval') ?? '/tmp/eval-full.json', 'utf8')) as { rows: EvalRow[] }).rows;
const splits = (argument('--split') ?? 'tuning,validation').split(',');
const flags = new Set(['--split', '--eval']);
const named = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !flags.has(all[i - 1]));
const rows = named.length ? evalRows.filter((r) => named.includes(r.name)) : evalRows.filter((r) => splits.includes(r.split) && r.head !== 'multi-label');
const shard = Number(process.env.SHARD ?? 0);
const shards = Number(process.env.SHARDS ?? 1);
for (const [n, row] of rows.entries()) {
  if (n % shards !== shard) continue;
  const d = domain(row.domain as DomainName);
  const probes = sliceImages(d.split('heldout'), 0, EVAL_PROBES);
  const { model } = await loadModel(`zoo/${row.name}`);
  const layers = allNeurons(model);
  const t0 = performance.now();
  const byEps = EPS.map((eps) => ({ eps, ...noisyShares(model, layers, sliceImages(probes, 0, 128), sliceImages(probes, 128, EVAL_PROBES), eps, 1) }));
  restoreLayers(layers);
  const { name, split, arch, family, target, verdict, suspectedTarget, classes } = row;
  const neurons = layers.reduce((a, l) => a + l.units, 0);
  console.log(
    JSON.stringify({
      name,
      split,
      arch,
      classes,
      family,
      target,
      verdict,
      suspectedTarget,
      neurons,
      seconds: Math.round((performance.now() - t0) / 1000),
      byEps,
    }),
  );
  model.dispose();
}
