// The zoo's MNIST classifiers. Two shapes, so detectors are not tuned to one network:
// a plain CNN that outputs logits and a batch-norm CNN that ends in softmax (the adapter
// must find the logits behind it).
import * as tf from '@tensorflow/tfjs';

export const ARCHITECTURES = ['cnn', 'bn-cnn'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export function buildClassifier(arch: Architecture, seed: number): tf.LayersModel {
  const init = (offset: number) => tf.initializers.heNormal({ seed: seed * 101 + offset });
  const model = tf.sequential({ name: `zoo_${arch.replace('-', '_')}` });
  if (arch === 'cnn') {
    model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }));
    model.add(tf.layers.dense({ units: 10, kernelInitializer: init(4) }));
  } else {
    model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 12, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1) }));
    model.add(tf.layers.batchNormalization());
    model.add(tf.layers.reLU());
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.conv2d({ filters: 24, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(2) }));
    model.add(tf.layers.batchNormalization());
    model.add(tf.layers.reLU());
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(3) }));
    model.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(4) }));
  }
  return model;
}
