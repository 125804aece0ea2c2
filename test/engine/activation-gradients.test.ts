import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initWasm } from '../../src/engine/backend.js';
import { clipGradient, registerActivationGradients } from '../../src/engine/kernels/activation-gradients.js';
import { simdClipGradient, wasmMemoryOf } from '../../src/engine/kernels/simd.js';
import { mulberry32 } from '../../src/util/random.js';

// Values at the clip bounds, on both sides of them, zero, NaN, and dy of both signs (a product
// with a negative dy and a zero mask is −0, which the reference keeps too).
// The last two sit on bounds a float32 cannot hold exactly (−0.1 and 0.3), which compare as float32.
const X = [-1, -0, 0, 1e-7, 0.5, 2, 5.999, 6, 6.0001, 7, NaN, -3, 3, 6, 0, Infinity, -Infinity, 4.5, Math.fround(0.3), Math.fround(-0.1)];
const DY = [0.3, -1.5, 2, -0.25, 1, -2, 0.75, -0.5, 3, -4, 1.25, -1, 0, -0, -7, 2.5, -2.5, Infinity, 1.5, -2.25];

/** tfjs' own gradient definitions (ClipByValue_grad.ts, Relu6_grad.ts), written out: the reference. */
const reference = {
  clip: (dy: tf.Tensor, x: tf.Tensor, lo: number, hi: number) => tf.where(tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)), dy, tf.zerosLike(dy)),
  relu6: (dy: tf.Tensor, x: tf.Tensor) => tf.mul(dy, tf.cast(tf.mul(tf.lessEqual(x, 6), tf.step(x)), 'float32')),
};

/** Object.is equality element by element: NaN equals NaN, −0 differs from 0. */
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).every((v, i) => Object.is(v, b[i]));

describe('one-pass gradients of clipped activations', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`on ${backend}, give tfjs' own gradients of clipByValue and relu6, bit for bit, in one kernel`, async () => {
      await initWasm();
      registerActivationGradients();
      await tf.setBackend(backend);
      const x = tf.tensor2d(X, [4, 5]);
      const dy = tf.tensor2d(DY, [4, 5]);
      for (const [lo, hi] of [
        [0, 6],
        [-1, 0.5],
        [-0.1, 0.3],
      ]) {
        let got: ArrayLike<number> = [];
        const profile = await tf.profile(() => {
          got = tf
            .grad((v: tf.Tensor) => tf.mul(tf.clipByValue(v, lo, hi), dy))(x)
            .dataSync() as Float32Array;
        });
        const want = reference.clip(dy, x, lo, hi).dataSync();
        expect(same(got, want), `clip [${lo}, ${hi}]: ${Array.from(got)} vs ${Array.from(want)}`).toBe(true);
        expect(profile.kernels.map((k) => k.name)).toContain('BackdoorGateClipByValueGrad');
        expect(profile.kernels.map((k) => k.name)).not.toContain('LogicalAnd');
      }
      const got = tf
        .grad((v: tf.Tensor) => tf.mul(tf.relu6(v), dy))(x)
        .dataSync();
      const want = reference.relu6(dy, x).dataSync();
      expect(same(got, want), `relu6: ${Array.from(got)} vs ${Array.from(want)}`).toBe(true);
      // The reference does differ from a plain selection: −0 and NaN are where a shortcut would slip.
      expect(Array.from(want).some((v) => Object.is(v, -0))).toBe(true);
      expect(Array.from(want).some((v) => Number.isNaN(v))).toBe(true);
      await tf.setBackend('cpu');
    });
  }
});

describe("the SIMD loop of ClipByValue's gradient on wasm", () => {
  it("does every whole block of four on the wasm heap, the JS loop the rest, and gives tfjs' own gradient bit for bit", async () => {
    await initWasm();
    await tf.setBackend('wasm');
    const memory = wasmMemoryOf(tf.backend());
    expect(memory, "tfjs-wasm's memory").toBeDefined();
    const rand = mulberry32(5);
    const n = 4099; // three left for the JS loop
    const values = Array.from({ length: n }, (_, i) => (i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : rand() * 10 - 2));
    const x = tf.tensor1d(values);
    const dy = tf.tensor1d(values.map((v, i) => (i % 83 === 0 ? Infinity : v * 0.5 - 1)));
    const out = tf.zerosLike(x);
    const heap = (t: tf.Tensor) => (tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array }).typedArrayFromHeap(t);
    const [xs, dys, outs] = [heap(x), heap(dy), heap(out)];
    const done = simdClipGradient(memory!, dys, xs, 0, 6, outs);
    expect(done).toBe(4096);
    clipGradient(dys, xs, 0, 6, outs, done);
    const want = reference.clip(dy, x, 0, 6).dataSync();
    expect(same(outs, want)).toBe(true);
    expect(Array.from(outs.subarray(0, done)).some((v) => v !== 0)).toBe(true);
    tf.dispose([x, dy, out]);
    await tf.setBackend('cpu');
  });
});
