// The neurons a pruning cleaner can switch off: every output channel of a Conv2D and every unit
// of a Dense layer before the classifier head, each with the variables whose last axis is that
// neuron (kernel, bias, and the scale and offset of a batch norm right after it: with those at
// zero the neuron outputs 0 whatever its input). Its activation is read after that batch norm
// and ReLU, where the next layer sees it.
import * as tf from '@tensorflow/tfjs';
import type { ImageSet } from '../data/types.js';
import type { EditableLayers, ModelUnderTest } from '../model/adapter.js';
import { spans } from '../scan/batching.js';

export interface NeuronLayer {
  name: string;
  units: number;
  /** Incoming weights, last axis = units: [kh, kw, in, units] or [in, units]. */
  kernel: tf.Variable;
  /** Every variable whose last axis is the units (kernel, bias, batch-norm γ and β). */
  masked: tf.Variable[];
  /** The activation the next layer reads. */
  output: tf.SymbolicTensor;
}

const FOLLOWERS = new Set(['BatchNormalization', 'ReLU', 'Activation', 'LeakyReLU']);

export function asLayersModel(model: ModelUnderTest, method: string): EditableLayers {
  if (!model.editableLayers) throw new Error(`${method} needs a tfjs layers model (it reads and edits hidden layers); this is a ${model.format}`);
  return model.editableLayers;
}

export function neuronLayers(model: EditableLayers): NeuronLayer[] {
  const layers = model.model.layers;
  const withKernel = layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName()));
  const head = withKernel.at(-1);
  const out: NeuronLayer[] = [];
  for (const layer of withKernel) {
    if (layer === head) continue;
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const kernel = vars.find((v) => v.rank >= 2);
    if (!kernel) continue;
    const units = kernel.shape[kernel.rank - 1];
    const masked = vars.filter((v) => v.shape[v.rank - 1] === units);
    let output = layer.output as tf.SymbolicTensor;
    // Follow a chain of per-unit layers fed only by this one (sequential models and plain blocks).
    for (let i = layers.indexOf(layer) + 1; i < layers.length && FOLLOWERS.has(layers[i].getClassName()) && layers[i].input === output; i++) {
      if (layers[i].getClassName() === 'BatchNormalization') masked.push(...layers[i].trainableWeights.map((w) => w.read() as tf.Variable));
      output = layers[i].output as tf.SymbolicTensor;
    }
    out.push({ name: layer.name, units, kernel, masked, output });
  }
  return out;
}

/** Mean activation of every unit of every layer over the images (after `transform`), per layer. */
export function meanActivations(
  model: EditableLayers,
  layers: NeuronLayer[],
  set: ImageSet,
  transform?: (x: tf.Tensor4D) => tf.Tensor4D,
  batch = 128,
): Float64Array[] {
  const sums = layers.map((l) => new Float64Array(l.units));
  const n = set.height * set.width * set.channels;
  for (const [s, e] of spans(set.count, batch)) {
    const means = tf.tidy(() => {
      let x = tf.tensor4d(set.x.subarray(s * n, e * n), [e - s, set.height, set.width, set.channels]);
      if (transform) x = transform(x);
      return model
        .hidden(
          x,
          layers.map((l) => l.output),
        )
        .map((a) => tf.sum(a, a.rank === 4 ? [0, 1, 2] : [0]).dataSync());
    });
    means.forEach((m, i) => {
      const shape = layers[i].output.shape;
      const positions = shape.length === 4 ? (shape[1] ?? 1) * (shape[2] ?? 1) : 1;
      for (let u = 0; u < m.length; u++) sums[i][u] += m[u] / (set.count * positions);
    });
  }
  return sums;
}

/** Per unit, the L1 norm of its incoming weights from each input channel: [units][in]. */
export function connectionVectors(layer: NeuronLayer): Float32Array[] {
  const k = layer.kernel;
  const byInput = tf.tidy(() => {
    const abs = tf.abs(k);
    const folded = k.rank === 4 ? tf.sum(abs, [0, 1]) : abs; // [in, units]
    return tf.transpose(folded).arraySync() as number[][];
  });
  return byInput.map((row) => Float32Array.from(row));
}

/** Keep-masks (1 keep, 0 prune) per layer written into the masked variables, from `original` values. */
export function applyNeuronMask(layers: NeuronLayer[], original: tf.Tensor[][], keep: Float32Array[]): void {
  tf.tidy(() => {
    layers.forEach((l, i) => {
      const m = tf.tensor1d(keep[i]);
      l.masked.forEach((v, j) => v.assign(tf.mul(original[i][j], m)));
    });
  });
}
