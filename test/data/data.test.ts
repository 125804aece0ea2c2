import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import * as tf from '@tensorflow/tfjs';
import { encodePng, fitPixels } from '../../src/data/images.js';
import { MNIST_SPLITS, mnistSplit } from '../../src/data/mnist.js';
import { parseNpy, readNpy, writeNpy } from '../../src/data/npy.js';
import { loadLabelledImages, loadProbeImages } from '../../src/data/sources.js';
import { syntheticImages } from '../../src/data/synthetic.js';
import { MemoryLogger } from '../../src/logger.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-data-'));
const opts = (shape: [number, number, number], maxImages = 1000) => ({ shape, maxImages, seed: 1 });

beforeAll(async () => {
  await selectBackend({ choice: 'cpu', logger: new MemoryLogger() });
});

describe('mnist', () => {
  it('splits the 10,000 digits into disjoint train / held-out / test sets with every class', () => {
    const all = mnistSplit('all');
    expect(all.count).toBe(10_000);
    const test = mnistSplit('test');
    expect(test.count).toBe(MNIST_SPLITS.test[1] - MNIST_SPLITS.test[0]);
    expect(new Set(test.labels).size).toBe(10);
    // Disjoint: no test image appears in the training split.
    const key = (x: Float32Array, i: number) => x.subarray(i * 784, (i + 1) * 784).join(',');
    const train = mnistSplit('train');
    const trainKeys = new Set(Array.from({ length: train.count }, (_, i) => key(train.x, i)));
    const overlap = Array.from({ length: 200 }, (_, i) => key(test.x, i)).filter((k) => trainKeys.has(k)).length;
    expect(overlap).toBe(0);
  });
});

describe('npy', () => {
  it('round-trips float32 images and int32 labels', () => {
    const dir = tmp();
    const x = Float32Array.from({ length: 2 * 4 * 4 }, (_, i) => (i % 17) / 16);
    writeNpy(path.join(dir, 'x.npy'), x, [2, 4, 4]);
    writeNpy(path.join(dir, 'y.npy'), Int32Array.from([3, 7]), [2]);
    const arr = readNpy(path.join(dir, 'x.npy'));
    expect(arr.shape).toEqual([2, 4, 4]);
    expect(Array.from(arr.data)).toEqual(Array.from(x));
    const set = loadLabelledImages(dir, opts([4, 4, 1]));
    expect(Array.from(set.labels)).toEqual([3, 7]);
    expect(set.count).toBe(2);
  });

  it('rejects truncated data, bad magic, and floats outside [0, 1]', () => {
    const dir = tmp();
    writeNpy(path.join(dir, 'x.npy'), Float32Array.from([0.5, 2]), [1, 1, 2]);
    expect(() => loadProbeImages(path.join(dir, 'x.npy'), opts([1, 2, 1]))).toThrow(/x\.npy: holds the value 2 at element 1/);
    expect(() => parseNpy(Buffer.from('not numpy at all'), 'bad.npy')).toThrow(/bad\.npy: is not a \.npy file/);
    writeNpy(path.join(dir, 't.npy'), Float32Array.from([0.1, 0.2]), [2]);
    const whole = readFileSync(path.join(dir, 't.npy'));
    expect(() => parseNpy(whole.subarray(0, whole.length - 4), 't.npy')).toThrow(/t\.npy: holds 4 data bytes but its header declares 8/);
  });
});

describe('image folders', () => {
  it('reads PNGs, resizes them to the model and maps grey to RGB', () => {
    const dir = tmp();
    const img = Float32Array.from({ length: 8 * 8 }, (_, i) => (i % 8) / 7);
    writeFileSync(path.join(dir, 'a.png'), encodePng(img, 8, 8, 1));
    writeFileSync(
      path.join(dir, 'b.png'),
      encodePng(
        img.map((v) => 1 - v),
        8,
        8,
        1,
      ),
    );
    writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    const set = loadProbeImages(dir, opts([4, 4, 3]));
    expect(set.count).toBe(2);
    expect([set.height, set.width, set.channels]).toEqual([4, 4, 3]);
    // grey → RGB: the three channels are equal
    expect(set.x[0]).toBeCloseTo(set.x[1], 6);
    expect(set.x[1]).toBeCloseTo(set.x[2], 6);
  });

  it('reads an ImageFolder with class labels, balanced under a cap', () => {
    const dir = tmp();
    for (const cls of ['0', '1', '2']) {
      mkdirSync(path.join(dir, cls));
      for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, cls, `${i}.png`), encodePng(new Float32Array(16).fill(Number(cls) / 2), 4, 4, 1));
    }
    const set = loadLabelledImages(dir, opts([4, 4, 1], 6));
    expect(set.count).toBe(6);
    expect(Array.from(set.labels).sort()).toEqual([0, 0, 1, 1, 2, 2]);
    expect(set.x[0]).toBeCloseTo(0, 2);
  });

  it('names the file that is not an image', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'fake.png'), 'this is text');
    expect(() => loadProbeImages(dir, opts([4, 4, 1]))).toThrow(/fake\.png: is not a valid PNG image/);
    expect(() => loadLabelledImages(tmp(), opts([4, 4, 1]))).toThrow(/is not labelled data/);
  });
});

describe('fitting images to the model input', () => {
  it("resizes and maps channels as tfjs' bilinear resize (aligned corners) and luminance do", async () => {
    await tf.setBackend('cpu');
    const cases: Array<[number, number, number, number, number, number]> = [
      [5, 7, 3, 11, 4, 1],
      [28, 28, 1, 224, 224, 3],
      [9, 9, 3, 9, 9, 3],
      [3, 3, 1, 1, 1, 1],
      [6, 1, 3, 2, 5, 3],
    ];
    for (const [h, w, c, H, W, C] of cases) {
      const src = Float32Array.from({ length: h * w * c }, (_, i) => ((i * 7919) % 101) / 100);
      const reference = tf.tidy(() => {
        let t: tf.Tensor3D = tf.tensor3d(src, [h, w, c]);
        if (h !== H || w !== W) t = tf.image.resizeBilinear(t, [H, W], true);
        if (c === 3 && C === 1) t = tf.sum(tf.mul(t, tf.tensor1d([0.299, 0.587, 0.114])), -1, true);
        else if (c === 1 && C === 3) t = tf.tile(t, [1, 1, 3]);
        return t.dataSync();
      });
      const ours = fitPixels(src, h, w, c, H, W, C);
      expect(ours.length, `${h}×${w}×${c} → ${H}×${W}×${C}`).toBe(reference.length);
      let worst = 0;
      for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - reference[i]));
      expect(worst, `${h}×${w}×${c} → ${H}×${W}×${C}`).toBeLessThan(1e-5);
    }
    expect(() => fitPixels(new Float32Array(8), 2, 2, 2, 2, 2, 3)).toThrow(/cannot map 2 channels to 3/);
  });
});

describe('synthetic OOD images', () => {
  it('are deterministic by seed, in range, and varied', () => {
    const a = syntheticImages(16, [12, 12, 3], 9);
    const b = syntheticImages(16, [12, 12, 3], 9);
    const c = syntheticImages(16, [12, 12, 3], 10);
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
    expect(Array.from(a.x)).not.toEqual(Array.from(c.x));
    expect(a.x.every((v) => v >= 0 && v <= 1)).toBe(true);
    const means = Array.from({ length: 16 }, (_, i) => a.x.subarray(i * 432, (i + 1) * 432).reduce((s, v) => s + v, 0) / 432);
    expect(Math.max(...means) - Math.min(...means)).toBeGreaterThan(0.1);
  });
});
