// Every common head reads as the scans expect: one sigmoid unit as the two logits [0, z], several
// sigmoids as independent labels (or one-vs-rest when gate.json says so), checked against the
// network's own output; and trigger inversion on a multi-label head against a closed form.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { writeGateJson } from '../../src/model/gate-json.js';
import { loadModel } from '../../src/model/load.js';
import { directoryWriter } from '../../src/model/save.js';
import { reconstructTriggers } from '../../src/scan/inversion.js';
import { mulberry32 } from '../../src/util/random.js';

beforeAll(async () => {
  await selectBackend({ choice: 'cpu', logger: new MemoryLogger() });
});

async function saved(units: number, activation: 'sigmoid' | 'linear' | 'softmax', gate?: object, seed = 1): Promise<{ dir: string; net: tf.LayersModel }> {
  const net = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [4, 4, 1] }),
      tf.layers.dense({ units, activation, kernelInitializer: tf.initializers.randomNormal({ seed, stddev: 1 }) }),
    ],
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-head-'));
  await net.save(directoryWriter(dir));
  if (gate) writeGateJson(dir, { input: { range: [0, 1] }, ...gate });
  return { dir, net };
}

const probes = (n: number, seed = 2) => {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * 16 }, () => 0.3 + 0.4 * rand());
};

describe('model heads', () => {
  it('one sigmoid unit: two classes whose softmax is [1 − p, p], p the network output', async () => {
    const { dir, net } = await saved(1, 'sigmoid');
    const { model } = await loadModel(dir);
    expect([model.head, model.decision, model.numClasses]).toEqual(['sigmoid', 'single-label', 2]);
    const x = tf.tensor4d(probes(8), [8, 4, 4, 1]);
    const p = (net.predict(x) as tf.Tensor).dataSync();
    const q = tf.softmax(model.logits(x)).arraySync() as number[][];
    q.forEach(([a, b], i) => {
      expect(b).toBeCloseTo(p[i], 5);
      expect(a).toBeCloseTo(1 - p[i], 5);
    });
  });

  it('one raw output unit is a binary logit too', async () => {
    const { dir, net } = await saved(1, 'linear');
    const { model } = await loadModel(dir);
    expect(model.head).toBe('sigmoid');
    const x = tf.tensor4d(probes(4), [4, 4, 4, 1]);
    const z = (net.predict(x) as tf.Tensor).dataSync();
    (tf.softmax(model.logits(x)).arraySync() as number[][]).forEach(([, b], i) => expect(b).toBeCloseTo(1 / (1 + Math.exp(-z[i])), 5));
  });

  it('several sigmoids: independent labels whose sigmoid is the network output; one-vs-rest when gate.json says so', async () => {
    const { dir, net } = await saved(3, 'sigmoid');
    const { model } = await loadModel(dir);
    expect([model.head, model.decision, model.numClasses]).toEqual(['multi-label', 'multi-label', 3]);
    const x = tf.tensor4d(probes(6), [6, 4, 4, 1]);
    const p = (net.predict(x) as tf.Tensor).dataSync();
    const q = tf.sigmoid(model.logits(x)).dataSync();
    q.forEach((v, i) => expect(v).toBeCloseTo(p[i], 5));
    const ovr = await saved(3, 'sigmoid', { head: 'one-vs-rest' });
    const { model: m2 } = await loadModel(ovr.dir);
    expect([m2.head, m2.decision]).toEqual(['one-vs-rest', 'single-label']);
  });

  it('trigger inversion on a multi-label head turns a label on as the closed form says', async () => {
    // A linear multi-label head z = Wx + b: the best ℓ∞ trigger for label c is ε·sign(W_c), so the
    // expected ASR is the share of probes (label c off) with z_c(x + ε·sign(W_c)) > 0.
    const { net } = await saved(3, 'sigmoid', undefined, 7);
    const [W, b] = net.layers[1].getWeights().map((t) => t.arraySync()) as [number[][], number[]];
    // Shift the biases so each label is off on most probes and a trigger of size ε can flip some.
    const n = 256;
    const x = probes(n, 5);
    const eps = 0.15;
    const zOf = (img: Float32Array, c: number, delta = 0) => b[c] + img.reduce((a, v, d) => a + (v + delta * Math.sign(W[d][c])) * W[d][c], 0);
    const mean = [0, 1, 2].map((c) => [...Array(n).keys()].reduce((a, i) => a + zOf(x.subarray(i * 16, (i + 1) * 16), c), 0) / n);
    const gain = [0, 1, 2].map((c) => eps * W.reduce((a, row) => a + Math.abs(row[c]), 0));
    const bias = b.map((v, c) => v - mean[c] - 0.6 * gain[c]);
    net.layers[1].setWeights([tf.tensor2d(W), tf.tensor1d(bias)]);
    const dir2 = mkdtempSync(path.join(os.tmpdir(), 'bg-head-'));
    await net.save(directoryWriter(dir2));
    const { model } = await loadModel(dir2);
    const r = await reconstructTriggers(model, { x, count: n, height: 4, width: 4, channels: 1, source: 'test' }, { epsilon: eps, batchSize: 32, epochs: 2 });
    for (let c = 0; c < 3; c++) {
      const z = (i: number, delta = 0) => bias[c] + x.subarray(i * 16, (i + 1) * 16).reduce((a, v, d) => a + (v + delta * Math.sign(W[d][c])) * W[d][c], 0);
      const off = [...Array(n).keys()].filter((i) => z(i) <= 0);
      const expected = off.filter((i) => z(i, eps) > 0).length / off.length;
      expect(r.perClass[c].share).toBeCloseTo(1 - off.length / n, 6);
      expect(r.perClass[c].asr).toBeCloseTo(expected, 2);
    }
  });
});
