// The input gradients of clipped activations as one pass each. tfjs writes ClipByValue's
// gradient as where(logicalAnd(x ≥ lo, x ≤ hi), dy, 0) and Relu6's as dy·cast((x ≤ 6)·step(x)):
// four or five elementwise kernels whose broadcast comparisons are slow on wasm (ReLU6 after a
// Keras ReLU layer made them two fifths of a MobileNetV2 input-gradient step). The kernels here
// give the same values (the same selection, the same products, NaN included) in one loop over x
// and dy; on a backend without them the gradients are tfjs' own.
import * as tf from '@tensorflow/tfjs';
import { ioFor } from './register.js';
import { simdClipGradient, wasmMemoryOf } from './simd.js';

type TensorInfo = tf.TensorInfo;
type KernelArgs = { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs?: Record<string, unknown> };

const CLIP_GRADIENT = 'BackdoorGateClipByValueGrad';
const RELU6_GRADIENT = 'BackdoorGateRelu6Grad';

// The loops select with comparison bits instead of branching: activations fall on either side
// of a bound unpredictably, and mispredicted branches cost 3× the loop.

/**
 * ClipByValue's gradient: dy where lo ≤ x ≤ hi, else +0 (a NaN x compares false), from element
 * `start` on. The bounds compare as float32, as tfjs' own gradient compares x with them.
 */
export function clipGradient(dy: Float32Array, x: Float32Array, lo: number, hi: number, out: Float32Array, start = 0): void {
  const [lo32, hi32] = [Math.fround(lo), Math.fround(hi)];
  // dy's bits kept or cleared by an all-ones or all-zeros word: the same values as a selection.
  const dyBits = new Int32Array(dy.buffer, dy.byteOffset, dy.length);
  const outBits = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let i = start; i < x.length; i++) {
    const v = x[i];
    outBits[i] = dyBits[i] & -(+(v >= lo32) & +(v <= hi32));
  }
}

/** Relu6's mask by (0 < x ≤ 6) + 2·isNaN(x): step(NaN) is NaN in tfjs, and so is the product. */
const RELU6_MASK = new Float32Array([0, 1, NaN, NaN]);

/** Relu6's gradient: dy · mask, multiplied as tfjs does (−0 and NaN kept). */
export function relu6Gradient(dy: Float32Array, x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = dy[i] * RELU6_MASK[(+(v > 0) & +(v <= 6)) | (+(v !== v) << 1)];
  }
}

/** A kernel (dy, x) → dx on `backendName`, computed in place on the wasm heap or over cpu arrays. */
function elementwiseKernel(
  backendName: 'cpu' | 'wasm',
  compute: (dy: Float32Array, x: Float32Array, out: Float32Array, attrs: Record<string, unknown>, backend: unknown) => void,
) {
  return ({ inputs, backend, attrs = {} }: KernelArgs): TensorInfo => {
    const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
    return ioFor(backendName, backend).compute([...x.shape], [dy, x], (out, dyValues, xValues) => compute(dyValues, xValues, out, attrs, backend), false);
  };
}

/** ClipByValue's gradient on the wasm heap: SIMD over whole 4-element blocks where it can, the loop for the rest. */
function wasmClipGradient(dy: Float32Array, x: Float32Array, out: Float32Array, attrs: Record<string, unknown>, backend: unknown): void {
  const [lo, hi] = [attrs.lo as number, attrs.hi as number];
  const memory = wasmMemoryOf(backend);
  const done = memory ? simdClipGradient(memory, dy, x, lo, hi, out) : 0;
  clipGradient(dy, x, lo, hi, out, done);
}

const hasKernel = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined;
/** float32 inputs only: the loops read float32 arrays. */
const fused = (name: string, dy: tf.Tensor, x: tf.Tensor) => hasKernel(name) && dy.dtype === 'float32' && x.dtype === 'float32';

let registered = false;

/** Registers the kernels on cpu and wasm, and ClipByValue's and Relu6's gradients to use them where present. */
export function registerActivationGradients(): void {
  if (registered) return;
  for (const backendName of ['cpu', 'wasm'] as const) {
    tf.registerKernel({
      kernelName: CLIP_GRADIENT,
      backendName,
      kernelFunc: elementwiseKernel(
        backendName,
        backendName === 'wasm' ? wasmClipGradient : (dy, x, out, attrs) => clipGradient(dy, x, attrs.lo as number, attrs.hi as number, out),
      ) as tf.KernelFunc,
    });
    tf.registerKernel({
      kernelName: RELU6_GRADIENT,
      backendName,
      kernelFunc: elementwiseKernel(backendName, (dy, x, out) => relu6Gradient(dy, x, out)) as tf.KernelFunc,
    });
  }
  tf.registerGradient({
    kernelName: 'ClipByValue',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const { clipValueMin: lo, clipValueMax: hi } = attrs as unknown as { clipValueMin: number; clipValueMax: number };
      const grad = dy as tf.Tensor;
      return {
        x: () =>
          fused(CLIP_GRADIENT, grad, x)
            ? (tf.engine().runKernel(CLIP_GRADIENT, { dy: grad, x }, { lo, hi }) as tf.Tensor)
            : tf.where(tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)), grad, tf.zerosLike(grad)),
      };
    },
  });
  tf.registerGradient({
    kernelName: 'Relu6',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const grad = dy as tf.Tensor;
      return {
        x: () =>
          fused(RELU6_GRADIENT, grad, x)
            ? (tf.engine().runKernel(RELU6_GRADIENT, { dy: grad, x }) as tf.Tensor)
            : tf.mul(grad, tf.cast(tf.mul(tf.lessEqual(x, 6), tf.step(x)), 'float32')),
      };
    },
  });
  registered = true;
}
