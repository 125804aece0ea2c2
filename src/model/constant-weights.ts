// Input-only gradients through a layers model's convolutions. tfjs-layers runs a Conv2D layer
// whose activation is linear (every convolution before a batch norm) through tf.fused.conv2d,
// whose gradient is one closure that always computes the filter and bias gradients too
// (Conv2DBackpropFilter: about a fifth of a batch-norm CNN's scan step). The scans only ever
// differentiate with respect to the input, so while weights are held constant such a layer runs
// the same forward kernel with a gradient for its input alone: the same numbers, less work.
// A batch norm in inference mode is an affine map per channel, so it can be folded into the
// linear convolution whose output it alone reads (filter and bias scaled per output channel, the
// batch norm then an identity), in held passes and, differentiably, in training steps that keep
// the batch norms in inference mode: tfjs' wasm kernels for the batch norm and its gradient's
// broadcast products run on one thread, the convolution on every core. Folding rounds differently
// (the same function to float precision), and it skips the batch norms' inputs, so passes that
// read those (DeepInversion's statistics) do not fold.
import * as tf from '@tensorflow/tfjs';

/** The fields of a tfjs-layers Conv2D that its call reads (not in the public typings). */
interface Conv2DLayer {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  rank: number;
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string; apply(x: tf.Tensor): tf.Tensor };
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: unknown): tf.Tensor | tf.Tensor[];
}

/** The fields of a tfjs-layers BatchNormalization that its inference reads. */
interface BatchNormLayer {
  gamma?: { read(): tf.Tensor } | null;
  beta?: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor };
  movingVariance: { read(): tf.Tensor };
  epsilon: number;
  axis: number;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor | tf.Tensor[];
}

/** How the call in progress uses a layers model's weights. */
export type WeightUse =
  /** Every layer as tfjs runs it (hidden activations, batch norms' inputs, training mode). */
  | 'trainable'
  /** Trained through, batch norms (inference mode) folded into the convolutions before them; their gradients reach γ and β through the fold. */
  | 'trainable-folded'
  /** Held constant: convolutions differentiate their input alone. */
  | 'constant'
  /** Held constant, and batch norms folded as in 'trainable-folded'. */
  | 'constant-folded';

/**
 * Activations tfjs-layers hands to tf.fused.conv2d, which fuses them only outside a gradient tape:
 * under one such a layer already runs unfused ops. Any other activation is applied after a fused
 * linear convolution.
 */
const UNFUSED_UNDER_TAPE = new Set(['relu', 'elu']);

/** Layers of a model, nested models' included. */
function allLayers(layers: readonly tf.layers.Layer[]): tf.layers.Layer[] {
  return layers.flatMap((l) => [l, ...('layers' in l ? allLayers((l as unknown as { layers: tf.layers.Layer[] }).layers) : [])]);
}

/**
 * The batch norm that alone reads a linear channels-last `conv`'s output and normalises its
 * channels, where `conv` is called once in the model: it can be folded into `conv`.
 */
function batchNormAfter(conv: Conv2DLayer & tf.layers.Layer): BatchNormLayer | undefined {
  if (conv.activation.getClassName() !== 'linear' || conv.inboundNodes.length !== 1 || conv.outboundNodes.length !== 1) return undefined;
  const next = conv.outboundNodes[0].outboundLayer;
  if (next.getClassName() !== 'BatchNormalization' || next.inboundNodes.length !== 1) return undefined;
  const bn = next as unknown as BatchNormLayer;
  return bn.axis === -1 || bn.axis === 3 ? bn : undefined;
}

/** `layer`'s filter and bias with `bn` (inference mode) folded in: scale s = γ/√(σ² + ε) per output channel. */
function foldedWeights(layer: Conv2DLayer, bn: BatchNormLayer): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  const variance = bn.movingVariance.read();
  const scale = tf.mul(bn.gamma?.read() ?? tf.onesLike(variance), tf.rsqrt(tf.add(variance, bn.epsilon)));
  const bias = tf.sub(layer.bias?.read() ?? tf.zerosLike(variance), bn.movingMean.read());
  return {
    filter: tf.mul(layer.kernel.read(), scale) as tf.Tensor4D,
    bias: tf.add(tf.mul(bias, scale), bn.beta?.read() ?? tf.zerosLike(variance)) as tf.Tensor1D,
  };
}

/** `layer`'s strides and padding as tf.fused.conv2d takes them. */
function geometry(layer: Conv2DLayer): { strides: [number, number]; pad: 'same' | 'valid' } {
  return { strides: layer.strides as [number, number], pad: layer.padding === 'same' ? 'same' : 'valid' };
}

/** The convolution of `layer` on x with the fused kernel tfjs would run, differentiable in x only. */
function inputOnlyConvolution(layer: Conv2DLayer, x: tf.Tensor4D, folded?: { filter: tf.Tensor4D; bias: tf.Tensor1D }): tf.Tensor {
  const filter = folded?.filter ?? (layer.kernel.read() as tf.Tensor4D);
  const bias = folded?.bias ?? layer.bias?.read();
  const { strides, pad } = geometry(layer);
  const convolve = tf.customGrad((input, save) => {
    const image = input as tf.Tensor4D;
    // Saved for the backward pass: a folded filter is disposed with the layer call's scope.
    (save as tf.GradSaveFunc)([filter]);
    return {
      value: tf.fused.conv2d({ x: image, filter, strides, pad, bias, activation: 'linear' }),
      // tf.fused.conv2d's own input gradient: the same op and attributes.
      gradFunc: (dy, [saved]) => tf.conv2dTranspose(dy as tf.Tensor4D, saved as tf.Tensor4D, image.shape, strides, pad),
    };
  });
  const y = convolve(x);
  return layer.activation.getClassName() === 'linear' ? y : layer.activation.apply(y);
}

/**
 * Makes the model's channels-last 2-D convolutions that tfjs would differentiate through
 * tf.fused.conv2d (any activation but ReLU and ELU) run as `use()` says: `inputOnlyConvolution`
 * while it is 'constant' or 'constant-folded', and, while it is a folded use and the call is not
 * in training mode, with the batch norm that alone follows the convolution folded in; other
 * calls, and other layers, are unchanged. Returns the number of convolutions changed.
 */
export function patchConvolutions(model: tf.LayersModel, use: () => WeightUse): number {
  let changed = 0;
  for (const layer of allLayers(model.layers)) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const conv = layer as unknown as Conv2DLayer & tf.layers.Layer;
    const dilations = Array.isArray(conv.dilationRate) ? conv.dilationRate : [conv.dilationRate];
    if (conv.rank !== 2 || conv.dataFormat !== 'channelsLast' || dilations.some((d) => d !== 1)) continue;
    if (UNFUSED_UNDER_TAPE.has(conv.activation.getClassName())) continue;
    const bn = batchNormAfter(conv);
    // The folded convolutions' outputs: the batch norm passes exactly these through.
    const folded = new WeakSet<tf.Tensor>();
    // Whether this call folds: a folded use, outside training mode, with a batch norm to fold.
    const folding = (kwargs: unknown) => {
      const now = use();
      return bn !== undefined && (now === 'constant-folded' || now === 'trainable-folded') && !(kwargs as { training?: boolean } | undefined)?.training;
    };
    const call = conv.call.bind(conv);
    conv.call = (inputs, kwargs) => {
      const now = use();
      const held = now === 'constant' || now === 'constant-folded';
      const fold = folding(kwargs);
      if (!held && !fold) return call(inputs, kwargs);
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const y = tf.tidy(() => {
        const weights = fold ? foldedWeights(conv, bn!) : undefined;
        if (held) return inputOnlyConvolution(conv, x, weights);
        // Trained through the fold: the kernel's, γ's and β's gradients are the unfolded ones.
        return tf.fused.conv2d({ x, ...weights!, ...geometry(conv) });
      });
      if (fold) folded.add(y);
      return y;
    };
    if (bn) {
      const normalise = bn.call.bind(bn);
      bn.call = (inputs, kwargs) => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return folded.has(x) && folding(kwargs) ? x : normalise(inputs, kwargs);
      };
    }
    changed++;
  }
  return changed;
}
