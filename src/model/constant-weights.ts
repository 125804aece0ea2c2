// Input-only gradients through a layers model's convolutions. tfjs-layers runs a Conv2D layer
// whose activation is linear (every convolution before a batch norm) through tf.fused.conv2d,
// whose gradient is one closure that always computes the filter and bias gradients too
// (Conv2DBackpropFilter: about a fifth of a batch-norm CNN's scan step). The scans only ever
// differentiate with respect to the input, so while weights are held constant such a layer runs
// the same forward kernel with a gradient for its input alone: the same numbers, less work.
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

/** The convolution of `layer` on x with the fused kernel tfjs would run, differentiable in x only. */
function inputOnlyConvolution(layer: Conv2DLayer, x: tf.Tensor4D): tf.Tensor {
  const filter = layer.kernel.read() as tf.Tensor4D;
  const bias = layer.bias?.read();
  const strides = layer.strides as [number, number];
  const pad = layer.padding === 'same' ? 'same' : 'valid';
  const convolve = tf.customGrad((input) => {
    const image = input as tf.Tensor4D;
    return {
      value: tf.fused.conv2d({ x: image, filter, strides, pad, bias, activation: 'linear' }),
      // tf.fused.conv2d's own input gradient: the same op and attributes.
      gradFunc: (dy) => tf.conv2dTranspose(dy as tf.Tensor4D, filter, image.shape, strides, pad),
    };
  });
  const y = convolve(x);
  return layer.activation.getClassName() === 'linear' ? y : layer.activation.apply(y);
}

/**
 * Makes the model's channels-last 2-D convolutions that tfjs would differentiate through
 * tf.fused.conv2d (any activation but ReLU and ELU) run `inputOnlyConvolution`
 * while `held()` is true; other calls, and other layers, are unchanged. Returns the number of
 * layers changed.
 */
export function holdConvolutionWeights(model: tf.LayersModel, held: () => boolean): number {
  let changed = 0;
  for (const layer of allLayers(model.layers)) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const conv = layer as unknown as Conv2DLayer;
    const dilations = Array.isArray(conv.dilationRate) ? conv.dilationRate : [conv.dilationRate];
    if (conv.rank !== 2 || conv.dataFormat !== 'channelsLast' || dilations.some((d) => d !== 1)) continue;
    if (UNFUSED_UNDER_TAPE.has(conv.activation.getClassName())) continue;
    const call = conv.call.bind(conv);
    conv.call = (inputs, kwargs) => {
      if (!held()) return call(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.tidy(() => inputOnlyConvolution(conv, x as tf.Tensor4D));
    };
    changed++;
  }
  return changed;
}
