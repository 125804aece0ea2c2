// Clean accuracy on the 2,000 MNIST test digits and a real trigger's ASR (the share of non-target
// digits it sends to the target), measured through a model adapter: what cleaning tests assert on.
import * as tf from '@tensorflow/tfjs';
import { mnistSplit } from '../../src/data/mnist.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';

const test = mnistSplit('test');

/** `stamp` maps a flat batch of 28×28 digits to the same digits with the trigger on. */
export function accuracyAndAsr(model: ModelUnderTest, stamp: (x: Float32Array) => Float32Array, target: number): { accuracy: number; asr: number } {
  let correct = 0;
  let sent = 0;
  let others = 0;
  for (let s = 0; s < test.count; s += 250) {
    const x = test.x.subarray(s * 784, (s + 250) * 784);
    const [clean, stamped] = tf.tidy(() => [x, stamp(x)].map((v) => tf.argMax(model.logits(tf.tensor4d(v, [250, 28, 28, 1])), -1).dataSync()));
    for (let i = 0; i < 250; i++) {
      const label = test.labels[s + i];
      if (clean[i] === label) correct++;
      if (label !== target) {
        others++;
        if (stamped[i] === target) sent++;
      }
    }
  }
  return { accuracy: correct / test.count, asr: sent / others };
}
