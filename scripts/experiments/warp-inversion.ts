// Experiment, not part of the product (session 4, for issue 4's WaNet gap): invert a smooth warp
// trigger (k×k displacement grid, bilinear sampling, tanh-bounded shift) for the zoo card's target,
// then unlearn it (MODE=recovered|random|both, WARPS=n restarts, EPOCHS=n). Prints the recovered
// warp's ASR, and the true trigger's ASR and accuracy before and after.
//   tsx scripts/experiments/warp-inversion.ts cnn-wanet-t0 bn-cnn-wanet-t5 cnn-clean-s1
import * as tf from '@tensorflow/tfjs';
import { readNpy } from '../../src/data/npy.js';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import type { LayersModelAdapter, ModelUnderTest } from '../../src/model/adapter.js';
import { attackSuccessRate } from '../../src/zoo/train.js';
import { accuracyOf, distillationPool } from '../../src/clean/training.js';
import { unlearnTriggers } from '../../src/clean/unlearn.js';
import type { RecoveredTrigger } from '../../src/clean/triggers.js';
import type { LabelledImageSet } from '../../src/data/types.js';
import { readFileSync } from 'node:fs';
import { mulberry32, gaussian } from '../../src/util/random.js';

await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });

/** Bilinear upsampling matrix [(h*w), k*k] from a k×k grid (corner-aligned, as WaNet's). */
function upsampler(h: number, w: number, k: number): tf.Tensor2D {
  const u = new Float32Array(h * w * k * k);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const gy = (i / (h - 1)) * (k - 1);
      const gx = (j / (w - 1)) * (k - 1);
      const y0 = Math.min(k - 2, Math.floor(gy));
      const x0 = Math.min(k - 2, Math.floor(gx));
      const ty = gy - y0;
      const tx = gx - x0;
      const row = (i * w + j) * k * k;
      u[row + y0 * k + x0] += (1 - ty) * (1 - tx);
      u[row + y0 * k + x0 + 1] += (1 - ty) * tx;
      u[row + (y0 + 1) * k + x0] += ty * (1 - tx);
      u[row + (y0 + 1) * k + x0 + 1] += ty * tx;
    }
  return tf.tensor2d(u, [h * w, k * k]);
}

/** Warps x [n,h,w,c] by flow [h*w, 2] (dy, dx in pixels) with bilinear sampling; differentiable in flow. */
function warp(x: tf.Tensor4D, flow: tf.Tensor2D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const f = flow.dataSync();
  const idx = [new Int32Array(h * w), new Int32Array(h * w), new Int32Array(h * w), new Int32Array(h * w)];
  const base = new Float32Array(h * w * 2);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) {
      const p = i * w + j;
      const sy = Math.min(h - 1, Math.max(0, i + f[p * 2]));
      const sx = Math.min(w - 1, Math.max(0, j + f[p * 2 + 1]));
      const y0 = Math.min(h - 2, Math.floor(sy));
      const x0 = Math.min(w - 2, Math.floor(sx));
      idx[0][p] = y0 * w + x0;
      idx[1][p] = y0 * w + x0 + 1;
      idx[2][p] = (y0 + 1) * w + x0;
      idx[3][p] = (y0 + 1) * w + x0 + 1;
      // sy - y0 = (i + fy) - y0 where clipping is ignored for the gradient (a constant offset).
      base[p * 2] = Math.min(h - 1, Math.max(0, i + f[p * 2])) - f[p * 2] - y0;
      base[p * 2 + 1] = Math.min(w - 1, Math.max(0, j + f[p * 2 + 1])) - f[p * 2 + 1] - x0;
    }
  return tf.tidy(() => {
    const t = tf.add(flow, tf.tensor2d(base, [h * w, 2])); // [hw, 2]: ty, tx (differentiable in flow)
    const ty = tf.reshape(tf.slice(t, [0, 0], [h * w, 1]), [1, h * w, 1]);
    const tx = tf.reshape(tf.slice(t, [0, 1], [h * w, 1]), [1, h * w, 1]);
    const flat = tf.reshape(x, [n, h * w, c]);
    const g = (k: number) => tf.gather(flat, tf.tensor1d(idx[k], 'int32'), 1);
    const one = tf.scalar(1);
    const out = tf.addN([
      tf.mul(tf.mul(tf.sub(one, ty), tf.sub(one, tx)), g(0)),
      tf.mul(tf.mul(tf.sub(one, ty), tx), g(1)),
      tf.mul(tf.mul(ty, tf.sub(one, tx)), g(2)),
      tf.mul(tf.mul(ty, tx), g(3)),
    ]);
    return tf.reshape(out, [n, h, w, c]) as tf.Tensor4D;
  });
}

function invertWarp(model: ModelUnderTest, set: LabelledImageSet, target: number, opts = { k: 4, steps: 150, lr: 0.05, maxShift: 2.5, penalty: 0.02, seed: 0 }) {
  const { height: h, width: w, channels: c } = set;
  const U = upsampler(h, w, opts.k);
  const normal = gaussian(mulberry32(opts.seed + 5));
  const grid = tf.variable(tf.tensor2d(Float32Array.from({ length: opts.k * opts.k * 2 }, () => 0.1 * normal()), [opts.k * opts.k, 2]));
  const others: number[] = [];
  for (let i = 0; i < set.count; i++) if (set.labels[i] !== target) others.push(i);
  const n = h * w * c;
  const optimizer = tf.train.adam(opts.lr);
  const rand = mulberry32(opts.seed);
  const flowOf = () => tf.mul(tf.tanh(tf.matMul(U, grid)), opts.maxShift) as tf.Tensor2D;
  for (let step = 0; step < opts.steps; step++) {
    const batch = Array.from({ length: 64 }, () => others[Math.floor(rand() * others.length)]);
    const xb = new Float32Array(batch.length * n);
    batch.forEach((b, r) => xb.set(set.x.subarray(b * n, (b + 1) * n), r * n));
    const x = tf.tensor4d(xb, [batch.length, h, w, c]);
    const yt = tf.oneHot(tf.fill([batch.length], target, 'int32'), model.numClasses);
    optimizer.minimize(() => {
      const flow = flowOf();
      const logits = model.logits(warp(x, flow));
      const ce = tf.mean(tf.sum(tf.mul(yt, tf.neg(tf.logSoftmax(logits))), -1));
      return tf.add(ce, tf.mul(opts.penalty, tf.mean(tf.square(flow)))) as tf.Scalar;
    }, false, [grid]);
    x.dispose();
    yt.dispose();
  }
  const flow = tf.keep(flowOf());
  const trigger: RecoveredTrigger = { target, source: 'trigger-inversion', stamp: (x) => warp(x, flow) };
  return { trigger, flow };
}

const clean = (() => {
  const x = readNpy('examples/data/mnist-clean/x.npy');
  const y = readNpy('examples/data/mnist-clean/y.npy');
  return { x: Float32Array.from(x.data, (v) => (x.dtype === 'uint8' ? v / 255 : v)), labels: Int32Array.from(y.data), count: x.shape[0], height: 28, width: 28, channels: 1, source: 'clean' } as unknown as LabelledImageSet;
})();
const test = mnistSplit('test');

/** Share of 2,000 test images (target class left out) the trigger sends to its target. */
function asrOf(model: ModelUnderTest, trigger: RecoveredTrigger): number {
  let sent = 0;
  let total = 0;
  const n = 784;
  for (let s = 0; s < 2000; s += 200) {
    const idx = [];
    for (let i = s; i < s + 200; i++) if (test.labels[i] !== trigger.target) idx.push(i);
    const xb = new Float32Array(idx.length * n);
    idx.forEach((b, r) => xb.set(test.x.subarray(b * n, (b + 1) * n), r * n));
    const pred = tf.tidy(() => tf.argMax(model.logits(trigger.stamp(tf.tensor4d(xb, [idx.length, 28, 28, 1]))), -1).dataSync());
    sent += Array.from(pred).filter((p) => p === trigger.target).length;
    total += idx.length;
  }
  return sent / total;
}

for (const name of process.argv.slice(2)) {
  const card = JSON.parse(readFileSync(`zoo/${name}/zoo-card.json`, 'utf8'));
  if (!card.attack) card.attack = { family: 'wanet', target: 0, poisonRate: 0, triggerSeed: 1013 };
  const { model } = await loadModel(`zoo/${name}`);
  const layers = (model as LayersModelAdapter).model;
  const accBefore = accuracyOf(model, test);
  const asrBefore = attackSuccessRate(layers, test, card.attack);
  const t0 = performance.now();
  const nWarps = Number(process.env.WARPS ?? 1);
  const inv = Array.from({ length: nWarps }, (_, i) => invertWarp(model, clean, card.attack.target, { k: 4, steps: 150, lr: 0.05, maxShift: 2.5, penalty: 0.02, seed: i }));
  const { trigger, flow } = inv[0];
  const f = flow.dataSync();
  let maxShift = 0;
  for (const v of f) maxShift = Math.max(maxShift, Math.abs(v));
  console.log(`${name}: target ${card.attack.target}; recovered warp ASR ${(asrOf(model, trigger) * 100).toFixed(1)} % (max shift ${maxShift.toFixed(2)} px) in ${((performance.now() - t0) / 1000).toFixed(1)} s; true ASR ${(asrBefore * 100).toFixed(1)} %, acc ${(accBefore * 100).toFixed(2)} %`);
  // Random smooth warps (fresh grid per call, max 2 px): warps must not change the class.
  const U = upsampler(28, 28, 4);
  let calls = 0;
  const randomWarp: RecoveredTrigger = {
    target: card.attack.target,
    source: 'trigger-inversion',
    stamp: (x) => {
      const normal = gaussian(mulberry32(9000 + calls++));
      const g = Float32Array.from({ length: 32 }, () => normal());
      let m = 0;
      for (const v of g) m = Math.max(m, Math.abs(v));
      const flow = tf.tidy(() => tf.mul(tf.matMul(U, tf.tensor2d(g, [16, 2])), (2 / m) * (0.5 + Math.random())) as tf.Tensor2D);
      const out = warp(x, flow);
      flow.dispose();
      return out;
    },
  };
  const mode = process.env.MODE ?? 'recovered';
  if (mode === 'none') continue;
  if (mode === 'iterative') {
    // Adversarial rounds: re-invert on the current model, unlearn every warp found so far.
    const pool = distillationPool(model, clean, 4, 0);
    const found = inv.map((v) => v.trigger);
    for (let r = 0; r < Number(process.env.ROUNDS ?? 4); r++) {
      unlearnTriggers(model, clean, found, { region: false, epochs: Number(process.env.EPOCHS ?? 3), seed: r }, { pool });
      const fresh = Array.from({ length: nWarps }, (_, i) => invertWarp(model, clean, card.attack.target, { k: 4, steps: 150, lr: 0.05, maxShift: 2.5, penalty: 0.02, seed: 100 * (r + 1) + i }));
      found.push(...fresh.map((v) => v.trigger));
      const recovered = fresh.map((v) => (asrOf(model, v.trigger) * 100).toFixed(1)).join('/');
      console.log(`  round ${r + 1}: true ASR ${(attackSuccessRate(layers, test, card.attack) * 100).toFixed(1)} %, acc ${(accuracyOf(model, test) * 100).toFixed(2)} %, fresh warps' ASR ${recovered} % (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    continue;
  }
  const used = mode === 'random' ? [randomWarp] : mode === 'both' ? [...inv.map((v) => v.trigger), randomWarp] : inv.map((v) => v.trigger);
  unlearnTriggers(model, clean, used, { region: false, epochs: Number(process.env.EPOCHS ?? 10) });
  console.log(`  after unlearning the warp: true ASR ${(attackSuccessRate(layers, test, card.attack) * 100).toFixed(1)} %, acc ${(accuracyOf(model, test) * 100).toFixed(2)} %`);
}
