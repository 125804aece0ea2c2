// ONP-style pruning (after Li, Yu & Yi, "Rethinking Pruning for Backdoor Mitigation: An
// Optimization Perspective", arXiv 2405.17746). The paper publishes no code and leaves details
// open; this is our design of what it describes, so reports call it "ONP-style":
// 1. Graph: per layer, one node per neuron (conv channel or dense unit). A neuron's connection
//    vector is the L1 norm of its incoming weights per input channel; two neurons are linked
//    when the cosine similarity of their vectors is in the layer's top `edgeQuantile` of pairs
//    (connection vectors are non-negative, so a fixed cosine cut would link almost everything).
// 2. Node features (z-scored per layer): mean activation on clean images, on the same images
//    stamped with the recovered trigger, their difference, and the incoming weights' L1 norm.
// 3. Policy: a two-layer mean-aggregation graph network (GraphSAGE-style) gives each neuron a
//    logit; each neuron is pruned with probability sigmoid(logit).
// 4. REINFORCE: sample masks, reward = clean accuracy − ASR of the recovered trigger (on the
//    cleaning set: no poisoned data) − prunePenalty × share of neurons pruned, advantage =
//    reward − batch mean, Adam on the network.
// 5. The best mask seen is applied for good; then a short recovery fine-tune (distillation
//    from the original model plus trigger unlearning, see unlearn.ts) with the mask held.
import * as tf from '@tensorflow/tfjs';
import { withoutClass, type LabelledImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { mulberry32 } from '../util/random.js';
import { applyNeuronMask, asLayersModel, connectionVectors, meanActivations, neuronLayers, type NeuronLayer } from './neurons.js';
import { accuracyOf, distillationPool, perClassSubset, sentToTarget } from './training.js';
import type { RecoveredTrigger } from './triggers.js';
import { DEFAULT_UNLEARN, unlearnTriggers, type CleanLog, type UnlearnHooks, type UnlearnOptions } from './unlearn.js';
import { percent, plural } from '../util/words.js';

export interface OnpOptions {
  iterations: number;
  /** Masks sampled per policy update. */
  samples: number;
  learningRate: number;
  hidden: number;
  edgeQuantile: number;
  /** Prune probability of every neuron before learning. */
  initialPruneProbability: number;
  /**
   * Reward cost of the share of neurons pruned. Accuracy right after pruning undercounts what
   * pruning destroys (the recovery wins most of it back, not all): without this cost the policy
   * pruned 17 of bn-cnn-blended-t9's 68 neurons (test accuracy −2.35 points after auto), with it
   * 5 (−1.60), at the same ASR (README, cleaning).
   */
  prunePenalty: number;
  /** Clean images per class the reward is measured on (the first ones of the cleaning set). */
  rewardImagesPerClass: number;
  /** Recovery fine-tune after pruning (0 epochs: prune only). */
  recovery: Partial<UnlearnOptions>;
  /**
   * `learned`: the graph policy, updated by REINFORCE. `uniform`: the ablation that keeps every
   * neuron at `initialPruneProbability` and only keeps the best mask sampled: random search at the
   * same sample budget, which the learned policy has to beat to be worth its cost.
   */
  policy: 'learned' | 'uniform';
  seed: number;
}

export const DEFAULT_ONP: OnpOptions = {
  iterations: 24,
  samples: 10,
  learningRate: 0.05,
  hidden: 16,
  edgeQuantile: 0.1,
  initialPruneProbability: 0.03,
  prunePenalty: 1,
  rewardImagesPerClass: 20,
  recovery: { epochs: 10 },
  policy: 'learned',
  seed: 0,
};

/** What ONP-style pruning reports: the neurons it switched off and how the policy's search went. */
export interface OnpDetails {
  prunedNeurons: Array<{ layer: string; units: number[] }>;
  pruned: number;
  of: number;
  afterPruning: { accuracy: number; recoveredTriggerAsr: number };
  /** Per policy iteration: mean and best reward, mean neurons pruned. */
  history: Array<{ meanReward: number; bestReward: number; meanPruned: number }>;
}

/** Row-normalised adjacency [n, n] of one layer's neuron graph. */
export function neuronGraph(layer: NeuronLayer, edgeQuantile: number): Float32Array {
  const vecs = connectionVectors(layer);
  const n = vecs.length;
  const norms = vecs.map((v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1);
  const cos = new Float32Array(n * n);
  const pairs: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let dot = 0;
      for (let k = 0; k < vecs[i].length; k++) dot += vecs[i][k] * vecs[j][k];
      cos[i * n + j] = cos[j * n + i] = dot / (norms[i] * norms[j]);
      pairs.push(cos[i * n + j]);
    }
  pairs.sort((a, b) => b - a);
  const cut = pairs.length ? pairs[Math.min(pairs.length - 1, Math.floor(edgeQuantile * pairs.length))] : Infinity;
  const adj = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    let deg = 0;
    for (let j = 0; j < n; j++) if (i !== j && cos[i * n + j] >= cut) deg++;
    for (let j = 0; j < n; j++) if (i !== j && cos[i * n + j] >= cut) adj[i * n + j] = 1 / deg;
  }
  return adj;
}

function zScore(values: number[]): number[] {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length) || 1;
  return values.map((v) => (v - m) / sd);
}

export async function onpPrune(
  model: ModelUnderTest,
  clean: LabelledImageSet,
  triggers: RecoveredTrigger[],
  options: Partial<OnpOptions> = {},
  hooks: Pick<UnlearnHooks, 'alsoUnlearn'> = {},
): Promise<CleanLog<OnpDetails>> {
  const opts = { ...DEFAULT_ONP, ...options };
  if (!triggers.length) throw new Error('ONP-style pruning needs a recovered trigger for its reward: the scans found none');
  const t0 = performance.now();
  const layersModel = asLayersModel(model, 'ONP-style pruning');
  const layers = neuronLayers(layersModel);
  if (!layers.length) throw new Error('ONP-style pruning found no Conv2D or Dense layer before the head to prune');
  // Made before pruning: the recovery distils from the original model.
  const recovery = { ...DEFAULT_UNLEARN, seed: opts.seed, ...opts.recovery };
  const pool = distillationPool(model, clean, recovery.views, recovery.seed);
  const original = layers.map((l) => l.masked.map((v) => tf.keep(v.clone())));
  const target = triggers[0].target;
  const rewardSet = perClassSubset(clean, opts.rewardImagesPerClass);
  const others = withoutClass(rewardSet, target);

  // Features and graphs.
  const cleanMean = meanActivations(layersModel, layers, clean);
  const stampedMean = triggers.map((t) => meanActivations(layersModel, layers, clean, (x) => t.stamp(x)));
  const features = layers.map((l, i) => {
    const l1 = tf.tidy(() => Array.from(tf.sum(tf.abs(l.kernel), [...Array(l.kernel.rank - 1).keys()]).dataSync()));
    const c = Array.from(cleanMean[i]);
    const s = c.map((_, u) => Math.max(...stampedMean.map((m) => m[i][u])));
    const cols = [c, s, s.map((v, u) => v - c[u]), l1].map(zScore);
    return tf.keep(
      tf.tensor2d(
        c.map((_, u) => cols.map((col) => col[u])),
        [l.units, cols.length],
      ),
    );
  });
  const graphs = layers.map((l) => tf.keep(tf.tensor2d(neuronGraph(l, opts.edgeQuantile), [l.units, l.units])));

  // Policy network, shared by all layers.
  const F = 4;
  const rand = mulberry32(opts.seed + 17);
  const init = (r: number, c: number) =>
    tf.variable(
      tf.tensor2d(
        Float32Array.from({ length: r * c }, () => (rand() - 0.5) * Math.sqrt(6 / (r + c)) * 2),
        [r, c],
      ),
    );
  const params = {
    self1: init(F, opts.hidden),
    neigh1: init(F, opts.hidden),
    self2: init(opts.hidden, opts.hidden),
    neigh2: init(opts.hidden, opts.hidden),
    out: init(opts.hidden, 1),
    bias: tf.variable(tf.scalar(Math.log(opts.initialPruneProbability / (1 - opts.initialPruneProbability)))),
  };
  const policyLogits = () =>
    tf.concat(
      features.map((x, i) => {
        const h1 = tf.relu(tf.add(tf.matMul(x, params.self1), tf.matMul(tf.matMul(graphs[i], x), params.neigh1)));
        const h2 = tf.relu(tf.add(tf.matMul(h1, params.self2), tf.matMul(tf.matMul(graphs[i], h1), params.neigh2)));
        return tf.reshape(tf.add(tf.matMul(h2, params.out), params.bias), [-1]);
      }),
    ) as tf.Tensor1D;

  const total = layers.reduce((a, l) => a + l.units, 0);
  const split = (flat: Float32Array) => {
    let o = 0;
    return layers.map((l) => flat.slice(o, (o += l.units)));
  };
  const reward = (keep: Float32Array) => {
    applyNeuronMask(layers, original, split(keep));
    const acc = accuracyOf(model, rewardSet);
    const asr = others.count ? Math.max(...triggers.map((t) => sentToTarget(model, others, t))) : 0;
    const prunedShare = keep.reduce((a, k) => a + (1 - k), 0) / keep.length;
    return { acc, asr, value: acc - asr - opts.prunePenalty * prunedShare };
  };

  const optimizer = tf.train.adam(opts.learningRate);
  let best = { keep: new Float32Array(total).fill(1), ...reward(new Float32Array(total).fill(1)) };
  const history: OnpDetails['history'] = [];
  for (let it = 0; it < opts.iterations; it++) {
    const probs =
      opts.policy === 'learned'
        ? tf.tidy(() => tf.sigmoid(policyLogits()).dataSync() as Float32Array)
        : new Float32Array(total).fill(opts.initialPruneProbability);
    const masks: Float32Array[] = [];
    const rewards: number[] = [];
    for (let s = 0; s < opts.samples; s++) {
      await tf.nextFrame(); // each sample's reward is a pass over the clean set: let the host breathe (see forEachBatch)
      const keep = Float32Array.from(probs, (p) => (rand() < p ? 0 : 1));
      const r = reward(keep);
      masks.push(keep);
      rewards.push(r.value);
      if (r.value > best.value) best = { keep, ...r };
    }
    const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    history.push({ meanReward: mean, bestReward: best.value, meanPruned: masks.reduce((a, m) => a + m.filter((k) => k === 0).length, 0) / masks.length });
    if (opts.policy === 'uniform') continue;
    const sd = Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / rewards.length) || 1;
    const adv = tf.tensor1d(rewards.map((r) => (r - mean) / sd));
    const pruned = tf.tensor2d(
      masks.flatMap((m) => Array.from(m, (k) => 1 - k)),
      [masks.length, total],
    );
    optimizer.minimize(
      () => {
        const logits = policyLogits();
        // log π(mask) = Σ_i [pruned_i·log σ(z_i) + (1 − pruned_i)·log σ(−z_i)], log σ(z) = −softplus(−z)
        // (tf.logSigmoid's gradient fails on the wasm backend).
        const logp = tf.neg(tf.sum(tf.add(tf.mul(pruned, tf.softplus(tf.neg(logits))), tf.mul(tf.sub(1, pruned), tf.softplus(logits))), 1));
        return tf.neg(tf.mean(tf.mul(adv, logp))) as tf.Scalar;
      },
      false,
      Object.values(params),
    );
    tf.dispose([adv, pruned]);
  }
  optimizer.dispose();
  Object.values(params).forEach((p) => p.dispose());
  tf.dispose([...features, ...graphs]);

  const keep = split(best.keep);
  applyNeuronMask(layers, original, keep);
  const prunedNeurons = layers.map((l, i) => ({ layer: l.name, units: [...keep[i].keys()].filter((u) => keep[i][u] === 0) })).filter((p) => p.units.length);
  const details: OnpDetails = {
    prunedNeurons,
    pruned: total - best.keep.reduce((a, b) => a + b, 0),
    of: total,
    afterPruning: { accuracy: best.acc, recoveredTriggerAsr: best.asr },
    history,
  };
  let steps = opts.iterations;
  let epochLoss: number[] = [];
  if (recovery.epochs > 0) {
    // Pruned neurons stay at zero through the recovery: the mask is re-applied after each step.
    const current = layers.map((l) => l.masked);
    const log = await unlearnTriggers(model, clean, triggers, recovery, { ...hooks, pool, afterStep: () => applyNeuronMask(layers, current, keep) });
    steps += log.steps;
    epochLoss = log.epochLoss;
  }
  original.flat().forEach((t) => t.dispose());
  const summary =
    `ONP-style pruning at class ${target}: pruned ${details.pruned} of ${total} neurons` +
    (details.pruned
      ? ` (${prunedNeurons.map((p) => `${p.units.length} in ${p.layer}`).join(', ')}; the recovered trigger then sent ${percent(best.asr)} of the reward images there)`
      : ` (no mask sampled scored better than keeping every neuron: the recovered trigger still sent ${percent(best.asr)} of the reward images there)`) +
    (recovery.epochs > 0
      ? `; then ${plural(recovery.epochs, 'epoch')} of trigger unlearning${details.pruned ? ' with the pruned neurons held at zero' : ''}`
      : '');
  return { method: 'onp', summary, options: opts, steps, epochLoss, seconds: (performance.now() - t0) / 1000, details };
}
