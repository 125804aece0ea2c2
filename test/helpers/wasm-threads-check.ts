// Child-process check for the multithreaded wasm build: tfjs starts a backend once per process,
// so each thread count needs its own process. Prints one JSON line and exits by itself (the
// pthread workers must not keep a finished run alive).
//   node --import tsx test/helpers/wasm-threads-check.ts <threads> <model dir>
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { simdClipGradient, wasmMemoryOf } from '../../src/engine/kernels/simd.js';

const [threads, dir] = process.argv.slice(2);
const logger = new MemoryLogger();
const engine = await selectBackend({ choice: 'wasm', logger, wasmThreads: Number(threads) });
const digest = (t: tf.Tensor) => createHash('sha256').update(new Uint8Array(t.dataSync().buffer)).digest('hex');
const x = tf.randomUniform([8, 12, 12, 16], -1, 1, 'float32', 1) as tf.Tensor4D;
const w = tf.randomUniform([3, 3, 16, 24], -1, 1, 'float32', 2) as tf.Tensor4D;
const dw = tf.randomUniform([3, 3, 16, 1], -1, 1, 'float32', 3) as tf.Tensor4D;
const a = tf.randomUniform([96, 200], -1, 1, 'float32', 4) as tf.Tensor2D;
const b = tf.randomUniform([200, 64], -1, 1, 'float32', 5) as tf.Tensor2D;
const { model } = await loadModel(dir);
const [h, wd, c] = model.inputShape;
const images = tf.randomUniform([16, h, wd, c], 0, 1, 'float32', 6) as tf.Tensor4D;
const toClass3 = tf.oneHot(tf.fill([16], 3, 'int32'), model.numClasses);
const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.logSoftmax(model.logits(input as tf.Tensor4D)), toClass3)))(images);
// ReLU6's gradient, by the SIMD loop on the backend's memory (shared on the threaded build).
const clipped = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(input, -0.5, 0.5), a)))(tf.mul(a, 2));
const memory = wasmMemoryOf(tf.backend());
const heap = (t: tf.Tensor) => (tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array }).typedArrayFromHeap(t);
const simdElements = memory ? simdClipGradient(memory, heap(a), heap(a), 0, 1, heap(tf.zerosLike(a))) : 0;
console.log(
  JSON.stringify({
    backend: engine.backend,
    reason: engine.reason,
    warnings: logger.lines.filter((l) => l.startsWith('warning: ')),
    digests: {
      conv2d: digest(tf.conv2d(x, w, 1, 'same')),
      depthwise: digest(tf.depthwiseConv2d(x, dw, 1, 'same')),
      matMul: digest(tf.matMul(a, b)),
      logits: digest(model.logits(images)),
      inputGradient: digest(gradient),
      clipGradient: digest(clipped),
    },
    simdElements,
  }),
);
