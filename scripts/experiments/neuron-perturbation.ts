// Multiplicative noise on every hidden neuron, shared by the ANP and BAN experiments: a neuron's
// last per-unit affine map (a batch norm's γ and β; where no batch norm follows, the layer's
// kernel columns and bias) is scaled per unit, scale = scale0·a and shift = shift0·b.
import * as tf from '@tensorflow/tfjs';
import { crossEntropyPerSample } from '../../src/clean/training.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';

/** A layer's neurons: the variables of their last affine map, and those variables as they were. */
export interface PerturbedLayer {
  name: string;
  units: number;
  scale: tf.Variable;
  shift?: tf.Variable;
  scale0: tf.Tensor;
  shift0?: tf.Tensor;
}

export function perturbedLayer(name: string, scale: tf.Variable, shift?: tf.Variable): PerturbedLayer {
  return { name, units: scale.shape[scale.rank - 1], scale, shift, scale0: tf.keep(scale.clone()), shift0: shift && tf.keep(shift.clone()) };
}

/** scale = scale0·a, shift = shift0·b per unit (one coefficient a neuron, all layers in a row; b null: 1). */
export function writeCoefficients(layers: PerturbedLayer[], a: Float32Array, b: Float32Array | null): void {
  let o = 0;
  tf.tidy(() => {
    for (const l of layers) {
      const u = l.units;
      l.scale.assign(tf.mul(l.scale0, tf.tensor1d(a.subarray(o, o + u))));
      if (l.shift && l.shift0) l.shift.assign(b ? tf.mul(l.shift0, tf.tensor1d(b.subarray(o, o + u))) : l.shift0);
      o += u;
    }
  });
}

/** ∂L/∂a_k = Σ ∂L/∂scale ⊙ scale0 over unit k's entries (chain rule through scale = scale0·a); the same for the shift. */
export function coefficientGradients(model: ModelUnderTest, layers: PerturbedLayer[], x: tf.Tensor4D, y: tf.Tensor2D) {
  return tf.tidy(() => {
    const vars = layers.flatMap((l) => [l.scale, ...(l.shift ? [l.shift] : [])]);
    const { value, grads } = tf.variableGrads(() => tf.mean(crossEntropyPerSample(model.logits(x), y)) as tf.Scalar, vars);
    const perUnit = (g: tf.Tensor, v0: tf.Tensor) => tf.sum(tf.mul(g, v0), [...Array(v0.rank - 1).keys()]);
    const scale = tf.concat(layers.map((l) => perUnit(grads[l.scale.name], l.scale0)));
    const shift = tf.concat(layers.map((l) => (l.shift && l.shift0 ? perUnit(grads[l.shift.name], l.shift0) : tf.zeros([l.units]))));
    return { scale: scale.dataSync() as Float32Array, shift: shift.dataSync() as Float32Array, loss: value.dataSync()[0] };
  });
}

export function restoreLayers(layers: PerturbedLayer[]): void {
  for (const l of layers) {
    l.scale.assign(l.scale0);
    if (l.shift && l.shift0) l.shift.assign(l.shift0);
    tf.dispose([l.scale0, l.shift0].filter((t): t is tf.Tensor => t !== undefined));
  }
}
