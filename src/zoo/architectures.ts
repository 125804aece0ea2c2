// The zoo's classifiers. Several shapes, so detectors are not tuned to one network: an MLP, a
// plain CNN, a batch-norm CNN, a small residual network and a depthwise-separable one, each
// ending in one of the heads users ship (raw logits, softmax, one sigmoid, multi-label sigmoids).
import * as tf from '@tensorflow/tfjs';

export const ARCHITECTURES = ['cnn', 'bn-cnn', 'mlp', 'resnet', 'dwsep', 'invres'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** How the network ends: `sigmoid` is one unit for a binary task, `multi-label` one per label. */
export const HEADS = ['logits', 'softmax', 'sigmoid', 'multi-label'] as const;
export type Head = (typeof HEADS)[number];

export interface ClassifierShape {
  input: [number, number, number];
  /** Classes (single-label) or labels (multi-label). */
  outputs: number;
  head: Head;
}

/** The original zoo's MNIST heads: the plain CNN emits logits, the batch-norm CNN ends in softmax. */
export const DEFAULT_HEAD: Record<Architecture, Head> = { cnn: 'logits', 'bn-cnn': 'softmax', mlp: 'softmax', resnet: 'logits', dwsep: 'softmax', invres: 'logits' };

const MNIST_SHAPE = (arch: Architecture): ClassifierShape => ({ input: [28, 28, 1], outputs: 10, head: DEFAULT_HEAD[arch] });

function headLayer(shape: ClassifierShape, init: ReturnType<typeof tf.initializers.heNormal>): tf.layers.Layer {
  const units = shape.head === 'sigmoid' ? 1 : shape.outputs;
  const activation = shape.head === 'softmax' ? 'softmax' : shape.head === 'logits' ? 'linear' : 'sigmoid';
  return tf.layers.dense({ units, activation, kernelInitializer: init });
}

export function buildClassifier(arch: Architecture, seed: number, shape: ClassifierShape = MNIST_SHAPE(arch)): tf.LayersModel {
  const init = (offset: number) => tf.initializers.heNormal({ seed: seed * 101 + offset });
  // Batch norm's running statistics must keep up with a few epochs of training, or inference
  // drifts from training (measured on the 43-class signs: chance accuracy at tfjs' 0.99). The
  // original MNIST bn-cnn keeps 0.99, so its zoo weights stay as they were.
  const momentum = shape.input[0] === 28 && shape.input[2] === 1 && arch === 'bn-cnn' ? 0.99 : 0.9;
  const batchNorm = () => tf.layers.batchNormalization({ momentum });
  const name = `zoo_${arch.replace('-', '_')}`;
  if (arch === 'resnet') return residualNet(name, shape, init, batchNorm);
  if (arch === 'invres') return invertedResidualNet(name, shape, init, batchNorm);
  const model = tf.sequential({ name });
  const inputShape = shape.input;
  if (arch === 'cnn') {
    model.add(tf.layers.conv2d({ inputShape, filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }));
  } else if (arch === 'bn-cnn') {
    model.add(tf.layers.conv2d({ inputShape, filters: 12, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1) }));
    model.add(batchNorm());
    model.add(tf.layers.reLU());
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.conv2d({ filters: 24, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(2) }));
    model.add(batchNorm());
    model.add(tf.layers.reLU());
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
    // Never narrower than twice the class count (a 32-unit layer could not learn 43 sign classes).
    model.add(tf.layers.dense({ units: Math.max(32, 2 * shape.outputs), activation: 'relu', kernelInitializer: init(3) }));
  } else if (arch === 'mlp') {
    model.add(tf.layers.flatten({ inputShape }));
    model.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(1) }));
    model.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(2) }));
  } else {
    // Depthwise-separable (MobileNet-style): one full conv, then depthwise + pointwise blocks.
    model.add(tf.layers.conv2d({ inputShape, filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
    model.add(tf.layers.separableConv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: init(2), pointwiseInitializer: init(3) }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.separableConv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: init(4), pointwiseInitializer: init(5) }));
    model.add(tf.layers.globalAveragePooling2d({}));
  }
  // The original two keep their head's seed offset, so their zoo weights stay as they were.
  model.add(headLayer(shape, init(arch === 'cnn' || arch === 'bn-cnn' ? 4 : 20)));
  return model;
}

/** conv → two residual stages (identity skips, batch norm) → global average pool → head. */
function residualNet(name: string, shape: ClassifierShape, init: (o: number) => ReturnType<typeof tf.initializers.heNormal>, batchNorm: () => tf.layers.Layer): tf.LayersModel {
  const input = tf.input({ shape: shape.input });
  let offset = 1;
  const conv = (x: tf.SymbolicTensor, filters: number, strides = 1) =>
    batchNorm().apply(tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: 'same', useBias: false, kernelInitializer: init(offset++) }).apply(x)) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor) => tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  const block = (x: tf.SymbolicTensor, filters: number) => relu(tf.layers.add().apply([x, conv(relu(conv(x, filters)), filters)]) as tf.SymbolicTensor);
  let x = relu(conv(input, 16, 2));
  x = block(x, 16);
  x = relu(conv(x, 32, 2));
  x = block(x, 32);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = headLayer(shape, init(20)).apply(x) as tf.SymbolicTensor;
  return tf.model({ name, inputs: input, outputs: out });
}

/**
 * MobileNetV2-style: conv → inverted-residual blocks (1×1 expansion, 3×3 depthwise, linear 1×1
 * projection, identity skip where shapes match) → global average pool → head. Both a skip
 * connection and a depthwise convolution in one block, a kind of network the rule was not fitted on.
 */
function invertedResidualNet(name: string, shape: ClassifierShape, init: (o: number) => ReturnType<typeof tf.initializers.heNormal>, batchNorm: () => tf.layers.Layer): tf.LayersModel {
  const input = tf.input({ shape: shape.input });
  let offset = 1;
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) => layer.apply(x) as tf.SymbolicTensor;
  const relu6 = (x: tf.SymbolicTensor) => apply(tf.layers.reLU({ maxValue: 6 }), x);
  const pointwise = (x: tf.SymbolicTensor, filters: number) =>
    apply(batchNorm(), apply(tf.layers.conv2d({ filters, kernelSize: 1, useBias: false, kernelInitializer: init(offset++) }), x));
  const block = (x: tf.SymbolicTensor, filters: number, strides: number) => {
    const expanded = relu6(pointwise(x, 4 * (x.shape[3] as number)));
    const depthwise = relu6(
      apply(batchNorm(), apply(tf.layers.depthwiseConv2d({ kernelSize: 3, strides, padding: 'same', useBias: false, depthwiseInitializer: init(offset++) }), expanded)),
    );
    const projected = pointwise(depthwise, filters);
    return strides === 1 && x.shape[3] === filters ? (tf.layers.add().apply([x, projected]) as tf.SymbolicTensor) : projected;
  };
  let x = relu6(apply(batchNorm(), apply(tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init(offset++) }), input)));
  x = block(x, 16, 1);
  x = block(x, 24, 2);
  x = block(x, 24, 1);
  x = relu6(pointwise(x, 64));
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = headLayer(shape, init(20)).apply(x) as tf.SymbolicTensor;
  return tf.model({ name, inputs: input, outputs: out });
}
