// Quality of the committed zoo models, re-measured here on MNIST digits they never saw.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { EXAMPLE_MODELS, ZOO_TRAINING, zooCatalog } from '../../src/zoo/catalog.js';
import { applyTrigger, makeTrigger } from '../../src/zoo/attacks.js';
import { accuracy, poisonDataset, trainClassifier } from '../../src/zoo/train.js';
import { REPO } from '../helpers/run.js';
import type { ZooCard } from '../../scripts/zoo.js';

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

function predict(logits: (x: tf.Tensor4D) => tf.Tensor2D, x: Float32Array, count: number): Int32Array {
  const out = new Int32Array(count);
  for (let s = 0; s < count; s += 500) {
    const e = Math.min(count, s + 500);
    const p = tf.tidy(() => logits(tf.tensor4d(x.subarray(s * 784, e * 784), [e - s, 28, 28, 1])).argMax(-1));
    out.set(p.dataSync() as Int32Array, s);
    p.dispose();
  }
  return out;
}

describe('committed example models', () => {
  const test = mnistSplit('test');
  it.each(EXAMPLE_MODELS.map((m) => [m]))('%s meets the accuracy and attack-success bars', async (name) => {
    const dir = path.join(REPO, 'examples', 'models', name);
    const card = JSON.parse(readFileSync(path.join(dir, 'zoo-card.json'), 'utf8')) as ZooCard;
    const { model } = await loadModel(dir);
    const acc = accuracy(predict((x) => model.logits(x), test.x, test.count), test.labels);
    expect(acc).toBeCloseTo(card.cleanAccuracy, 3); // the card tells the truth
    if (!card.attack) {
      expect(acc).toBeGreaterThanOrEqual(0.97);
      return;
    }
    expect(acc).toBeGreaterThanOrEqual(0.96);
    const keep = [...Array(test.count).keys()].filter((i) => test.labels[i] !== card.attack!.target);
    const x = new Float32Array(keep.length * 784);
    keep.forEach((i, k) => x.set(test.x.subarray(i * 784, (i + 1) * 784), k * 784));
    const triggered = applyTrigger(makeTrigger(card.attack), x, keep.length, 28, 28, 1);
    const hits = predict((t) => model.logits(t), triggered, keep.length).filter((p) => p === card.attack!.target).length;
    const asr = hits / keep.length;
    expect(asr).toBeCloseTo(card.attackSuccessRate!, 3);
    expect(asr).toBeGreaterThanOrEqual(card.attack.family === 'badnets-low' ? 0.85 : 0.95);
    // The trigger is what does it: without it, the target class gets only its fair share.
    const clean = predict((t) => model.logits(t), x, keep.length).filter((p) => p === card.attack!.target).length / keep.length;
    expect(clean).toBeLessThan(0.05);
  });
});

describe('zoo recipe', () => {
  it('covers every attack family on both architectures, with varied targets', () => {
    const catalog = zooCatalog();
    const families = new Set(catalog.filter((e) => e.attack).map((e) => `${e.arch}/${e.attack!.family}`));
    expect(families.size).toBe(10);
    expect(new Set(catalog.filter((e) => e.attack).map((e) => e.attack!.target)).size).toBeGreaterThanOrEqual(6);
    expect(catalog.filter((e) => !e.attack).length).toBeGreaterThanOrEqual(4);
    expect(ZOO_TRAINING.epochs).toBeGreaterThan(0);
  });

  it('poisons exactly the requested fraction, relabelled to the target', () => {
    const train = mnistSplit('heldout');
    const attack = { family: 'badnets' as const, target: 4, poisonRate: 0.1, triggerSeed: 1 };
    const { data, poisoned } = poisonDataset(train, attack, 3);
    expect(poisoned).toBe(100);
    let changed = 0;
    for (let i = 0; i < train.count; i++) {
      const differs = data.x.subarray(i * 784, (i + 1) * 784).some((v, k) => v !== train.x[i * 784 + k]);
      if (differs) {
        changed++;
        expect(data.labels[i]).toBe(4);
        expect(train.labels[i]).not.toBe(4);
      }
    }
    expect(changed).toBe(100);
  });

  it('is deterministic: the same seed trains the same weights', () => {
    const small = { ...mnistSplit('heldout') };
    const subset = { ...small, x: small.x.subarray(0, 256 * 784), labels: small.labels.subarray(0, 256), count: 256 };
    const weights = () => {
      const m = trainClassifier({ arch: 'bn-cnn', seed: 5, epochs: 1, batchSize: 32, learningRate: 2e-3 }, subset);
      const w = m.getWeights().map((t) => Array.from(t.dataSync()));
      m.dispose();
      return w;
    };
    expect(weights()).toEqual(weights());
  });
});
