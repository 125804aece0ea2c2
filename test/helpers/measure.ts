// Clean accuracy on the 2,000 MNIST test digits and a real trigger's ASR (the share of non-target
// digits it sends to the target), measured through a model adapter: what cleaning tests assert on.
import { readFileSync } from 'node:fs';
import path from 'node:path';
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

/**
 * Units of a saved tfjs layers model whose incoming weights are all exactly zero (the last axis of
 * every kernel of rank ≥ 2), read from model.json and its shards directly: what pruning left
 * switched off, counted without the gate's code.
 */
export function zeroUnits(dir: string): number {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
    weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
  };
  let zero = 0;
  for (const group of manifest.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(path.join(dir, p))));
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32') throw new Error(`${dir}: ${w.name} is ${w.dtype}; zeroUnits reads float32 weights only`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + 4 * n));
      offset += 4 * n;
      if (w.shape.length < 2) continue;
      const units = w.shape[w.shape.length - 1];
      for (let u = 0; u < units; u++) {
        let all = true;
        for (let i = u; i < n && all; i += units) all = values[i] === 0;
        if (all) zero++;
      }
    }
  }
  return zero;
}
