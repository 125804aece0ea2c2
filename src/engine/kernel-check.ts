// The kernels a scan and a clean lean on (convolutions, pools, batch norm, dense, the mask-and-
// pattern blend of trigger inversion, softmax cross-entropy), each run forward and differentiated
// with respect to its input (and its weights, where cleaning trains them) on a backend under test
// and on tfjs' cpu backend, an independent implementation. Reads are asynchronous, so a GPU backend
// can be checked; each case is timed on both.
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../util/random.js';

type Inputs = Record<string, tf.Tensor>;

export interface KernelCase {
  name: string;
  /** Input shapes; values are drawn from a seeded uniform(-1, 1). */
  shapes: Record<string, number[]>;
  /** Differentiated with respect to `wrt` (by name); returns the tensors compared. */
  run(x: Inputs): tf.Tensor;
  wrt: string[];
}

const nhwc = (n: number, s: number, c: number) => [n, s, s, c];

export const KERNEL_CASES: readonly KernelCase[] = [
  {
    name: 'conv2d 3×3 same + bias + relu',
    shapes: { x: nhwc(4, 28, 3), w: [3, 3, 3, 16], b: [16] },
    run: ({ x, w, b }) => tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), b)),
    wrt: ['x', 'w', 'b'],
  },
  {
    name: 'conv2d 3×3 stride 2 valid',
    shapes: { x: nhwc(2, 33, 8), w: [3, 3, 8, 12] },
    run: ({ x, w }) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid'),
    wrt: ['x', 'w'],
  },
  {
    name: 'fused conv2d (bias, relu6)',
    shapes: { x: nhwc(2, 20, 6), w: [1, 1, 6, 10], b: [10] },
    run: ({ x, w, b }) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'relu6' }),
    wrt: ['x', 'w', 'b'],
  },
  {
    name: 'depthwise conv2d 3×3 same',
    shapes: { x: nhwc(2, 24, 8), w: [3, 3, 8, 1] },
    run: ({ x, w }) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
    wrt: ['x', 'w'],
  },
  {
    name: 'max pool 2×2',
    shapes: { x: nhwc(3, 26, 5) },
    run: ({ x }) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'),
    wrt: ['x'],
  },
  {
    name: 'average pool 3×3 stride 2 same',
    shapes: { x: nhwc(3, 17, 5) },
    run: ({ x }) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same'),
    wrt: ['x'],
  },
  {
    name: 'batch norm (inference statistics)',
    shapes: { x: nhwc(4, 9, 7), mean: [7], variance: [7], scale: [7], offset: [7] },
    run: ({ x, mean, variance, scale, offset }) => tf.batchNorm(x, mean, tf.add(tf.abs(variance), 0.5), offset, scale, 1e-3),
    wrt: ['x', 'scale', 'offset'],
  },
  {
    name: 'dense + softmax cross-entropy',
    shapes: { x: [16, 48], w: [48, 10], b: [10] },
    run: ({ x, w, b }) =>
      tf.losses.softmaxCrossEntropy(
        tf.oneHot(
          tf.tensor1d(
            [...Array(16).keys()].map((i) => i % 10),
            'int32',
          ),
          10,
        ),
        tf.add(tf.matMul(x, w), b),
      ),
    wrt: ['x', 'w', 'b'],
  },
  {
    // Trigger inversion's blend: x·(1 − m) + m·p with m and p squashed from free variables.
    name: 'mask-and-pattern blend',
    shapes: { x: nhwc(4, 16, 3), m: [1, 16, 16, 1], p: [1, 16, 16, 3] },
    run: ({ x, m, p }) => {
      const mask = tf.sigmoid(m);
      return tf.add(tf.mul(x, tf.sub(1, mask)), tf.mul(mask, tf.div(tf.add(tf.tanh(p), 1), 2)));
    },
    wrt: ['x', 'm', 'p'],
  },
  {
    name: 'bilinear resize 16 → 28',
    shapes: { x: nhwc(2, 16, 3) },
    run: ({ x }) => tf.image.resizeBilinear(x as tf.Tensor4D, [28, 28]),
    wrt: ['x'],
  },
];

/** A seeded uniform(-1, 1) fill: the same numbers on every backend. */
function values(shape: number[], seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1);
}

interface Outcome {
  outputs: Float32Array[];
  seconds: number;
}

async function runCase(c: KernelCase, backend: string): Promise<Outcome> {
  await tf.setBackend(backend);
  const inputs: Inputs = Object.fromEntries(Object.entries(c.shapes).map(([name, shape], i) => [name, tf.tensor(values(shape, 7919 * (i + 1)), shape)]));
  const t0 = performance.now();
  const order = c.wrt;
  const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => tf.sum(c.run({ ...inputs, ...Object.fromEntries(order.map((n, i) => [n, xs[i]])) })))(
    order.map((n) => inputs[n]),
  );
  const forward = tf.tidy(() => c.run(inputs));
  const outputs = [await forward.data(), await value.data(), ...(await Promise.all(grads.map((g) => g.data())))].map((v) => Float32Array.from(v));
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([forward, value, grads, Object.values(inputs)]);
  return { outputs, seconds };
}

export interface KernelCheck {
  name: string;
  /** Largest |ours − cpu| / max(1, |cpu|) over the output, the loss and every gradient. */
  worstError: number;
  seconds: number;
  cpuSeconds: number;
}

/** Runs every case on `backend` and on cpu; leaves `backend` active. */
export async function checkKernels(backend: string, cases: readonly KernelCase[] = KERNEL_CASES): Promise<KernelCheck[]> {
  const checks: KernelCheck[] = [];
  for (const c of cases) {
    const reference = await runCase(c, 'cpu');
    const ours = await runCase(c, backend);
    let worstError = 0;
    reference.outputs.forEach((r, k) => {
      const o = ours.outputs[k];
      if (o.length !== r.length) worstError = Infinity;
      else
        for (let i = 0; i < r.length; i++) {
          const error = Math.abs(o[i] - r[i]) / Math.max(1, Math.abs(r[i]));
          worstError = Math.max(worstError, Number.isNaN(error) ? Infinity : error);
        }
    });
    checks.push({ name: c.name, worstError, seconds: ours.seconds, cpuSeconds: reference.seconds });
  }
  return checks;
}
