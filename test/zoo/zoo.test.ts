// Quality of the committed zoo models, re-measured here on MNIST digits they never saw.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { EXAMPLE_MODELS, KIND_TUNING_ARCHITECTURES, TEST_ONLY_ARCHITECTURES, zooCatalog } from '../../src/zoo/catalog.js';
import { ARCHITECTURES } from '../../src/zoo/architectures.js';
import { applyTrigger, ATTACK_FAMILIES, makeTrigger, TEST_ONLY_FAMILIES, TUNING_FAMILIES } from '../../src/zoo/attacks.js';
import { domain } from '../../src/zoo/domains.js';
import { renderSign, signClasses } from '../../src/zoo/procedural.js';
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

describe('the benchmark (zoo catalog)', () => {
  const catalog = zooCatalog();
  const tuning = catalog.filter((e) => e.split === 'tuning');
  const test = catalog.filter((e) => e.split === 'test');

  it('keeps the tuning split free of the test-only architectures and attack families', () => {
    expect(new Set(catalog.map((e) => e.name)).size).toBe(catalog.length);
    for (const e of tuning) {
      expect(TEST_ONLY_ARCHITECTURES, e.name).not.toContain(e.arch);
      if (e.attack) expect(TEST_ONLY_FAMILIES as readonly string[], e.name).not.toContain(e.attack.family);
    }
    expect(new Set(test.map((e) => e.arch))).toEqual(new Set(ARCHITECTURES));
    expect(new Set(test.filter((e) => e.attack).map((e) => e.attack!.family))).toEqual(new Set(ATTACK_FAMILIES));
  });

  it('draws the fresh test subset (round 2) from seeds the first round never used, over unseen architectures and families', () => {
    const fresh = test.filter((e) => e.round === 2);
    const firstSeeds = new Set(catalog.filter((e) => e.round === 1).map((e) => `${e.domain}:${e.arch}:${e.seed}`));
    for (const e of fresh) expect(firstSeeds.has(`${e.domain}:${e.arch}:${e.seed}`), e.name).toBe(false);
    expect(new Set(fresh.map((e) => e.arch))).toEqual(new Set(ARCHITECTURES.filter((a) => a !== 'invres')));
    for (const f of TEST_ONLY_FAMILIES) expect(fresh.some((e) => e.attack?.family === f), f).toBe(true);
    // Every class count and head the acceptance names, clean and backdoored.
    for (const backdoored of [false, true]) {
      const part = fresh.filter((e) => Boolean(e.attack) === backdoored);
      expect(new Set(part.map((e) => domain(e.domain).outputs)), `backdoored ${backdoored}`).toEqual(new Set([10, 43, 2, 3]));
      expect(new Set(part.map((e) => e.head)), `backdoored ${backdoored}`).toEqual(new Set(['logits', 'softmax', 'sigmoid', 'multi-label']));
    }
  });

  it('draws round 3 from unused seeds: the per-kind networks again, and an architecture no tuning model has, clean and backdoored', () => {
    const round3 = catalog.filter((e) => e.round === 3);
    expect(round3.every((e) => e.split === 'test')).toBe(true);
    const earlier = new Set(catalog.filter((e) => e.round !== 3).map((e) => `${e.domain}:${e.arch}:${e.seed}`));
    for (const e of round3) expect(earlier.has(`${e.domain}:${e.arch}:${e.seed}`), e.name).toBe(false);
    // The tuning models of every role: the tuning split and the first round's per-kind networks.
    const tuningArchs = new Set([...tuning.map((e) => e.arch), ...KIND_TUNING_ARCHITECTURES]);
    const unseen = round3.filter((e) => !tuningArchs.has(e.arch));
    expect(new Set(unseen.map((e) => e.arch))).toEqual(new Set(TEST_ONLY_ARCHITECTURES));
    for (const backdoored of [false, true]) expect(unseen.filter((e) => Boolean(e.attack) === backdoored).length, `backdoored ${backdoored}`).toBeGreaterThanOrEqual(6);
    expect(new Set(round3.map((e) => e.arch))).toEqual(new Set([...KIND_TUNING_ARCHITECTURES, ...TEST_ONLY_ARCHITECTURES]));
  });

  it('draws round 4 from unused seeds: more tuning networks of each kind on tuning attacks only, and a fresh test round', () => {
    const round4 = catalog.filter((e) => e.round === 4);
    const earlier = new Set(catalog.filter((e) => e.round !== 4).map((e) => `${e.domain}:${e.arch}:${e.seed}`));
    for (const e of round4) expect(earlier.has(`${e.domain}:${e.arch}:${e.seed}`), e.name).toBe(false);
    const tuning4 = round4.filter((e) => e.split === 'tuning');
    expect(new Set(tuning4.map((e) => e.arch))).toEqual(new Set(KIND_TUNING_ARCHITECTURES));
    for (const e of tuning4) if (e.attack) expect(TUNING_FAMILIES as readonly string[], e.name).toContain(e.attack.family);
    const test4 = round4.filter((e) => e.split === 'test');
    expect(new Set(test4.map((e) => e.arch))).toEqual(new Set([...KIND_TUNING_ARCHITECTURES, ...TEST_ONLY_ARCHITECTURES]));
    // Both splits, both domains, clean and backdoored networks of every kind.
    for (const part of [tuning4, test4])
      for (const dom of ['mnist', 'signs10'])
        for (const backdoored of [false, true])
          for (const arch of new Set(part.map((e) => e.arch)))
            expect(part.some((e) => e.domain === dom && e.arch === arch && Boolean(e.attack) === backdoored), `${dom} ${arch} ${backdoored}`).toBe(true);
  });

  it('draws round 5 from unused seeds: fresh all-to-all backdoors with clean twins of the same networks, test only', () => {
    const round5 = catalog.filter((e) => e.round === 5);
    expect(round5.every((e) => e.split === 'test')).toBe(true);
    const earlier = new Set(catalog.filter((e) => e.round !== 5).map((e) => `${e.domain}:${e.arch}:${e.seed}`));
    for (const e of round5) expect(earlier.has(`${e.domain}:${e.arch}:${e.seed}`), e.name).toBe(false);
    const backdoored = round5.filter((e) => e.attack);
    expect(new Set(backdoored.map((e) => e.attack!.family))).toEqual(new Set(['all-to-all']));
    // A clean twin for each backdoored network, 10 and 43 classes.
    const kinds = (es: typeof round5) => es.map((e) => `${e.domain}:${e.arch}`).sort();
    expect(kinds(round5.filter((e) => !e.attack))).toEqual(kinds(backdoored));
    expect(new Set(round5.map((e) => domain(e.domain).outputs))).toEqual(new Set([10, 43]));
  });

  it('has at least 20 clean models per data domain, three domains, 43 and 2 classes, every head', () => {
    const cleanPer = (prefix: string) => catalog.filter((e) => !e.attack && e.domain.startsWith(prefix)).length;
    expect(cleanPer('mnist')).toBeGreaterThanOrEqual(20);
    expect(cleanPer('signs')).toBeGreaterThanOrEqual(20);
    expect(cleanPer('surface')).toBeGreaterThanOrEqual(20);
    expect(new Set(catalog.map((e) => domain(e.domain).outputs))).toEqual(new Set([10, 43, 2, 3]));
    expect(new Set(catalog.map((e) => e.head))).toEqual(new Set(['logits', 'softmax', 'sigmoid', 'multi-label']));
    // Targets vary, so no detector can learn one class.
    expect(new Set(catalog.filter((e) => e.attack && e.domain === 'signs43').map((e) => e.attack!.target)).size).toBeGreaterThanOrEqual(8);
  });

  it('draws each domain deterministically, with balanced classes and disjoint splits', () => {
    const d = domain('signs10');
    const a = d.split('test');
    expect(Array.from(a.x.subarray(0, 64))).toEqual(Array.from(renderSign(signClasses(10)[0], 3 + 1000, 0).subarray(0, 64)));
    const counts = new Array(10).fill(0);
    for (const l of a.labels) counts[l]++;
    expect(Math.min(...counts)).toBe(Math.max(...counts));
    const train = d.split('train');
    expect(train.x.subarray(0, 3072).some((v, i) => v !== a.x[i])).toBe(true);
    expect(a.x.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});

describe('poisoning', () => {
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

  const changedImages = (a: Float32Array, b: Float32Array, n: number) => [...Array(a.length / n).keys()].filter((i) => a.subarray(i * n, (i + 1) * n).some((v, k) => v !== b[i * n + k]));

  it('all-to-all maps y to y + 1; source-specific moves only the source class and adds unchanged-label covers', () => {
    const train = mnistSplit('heldout');
    const all = poisonDataset(train, { family: 'all-to-all', target: 0, poisonRate: 0.1, triggerSeed: 1 }, 3);
    for (const i of changedImages(all.data.x, train.x, 784)) expect(all.data.labels[i]).toBe((train.labels[i] + 1) % 10);
    const src = poisonDataset(train, { family: 'source-specific', target: 2, source: 5, poisonRate: 0.05, triggerSeed: 1 }, 3);
    const changed = changedImages(src.data.x, train.x, 784);
    const moved = changed.filter((i) => src.data.labels[i] !== train.labels[i]);
    expect(moved.length).toBe(src.poisoned);
    for (const i of moved) expect([train.labels[i], src.data.labels[i]]).toEqual([5, 2]);
    const covers = changed.filter((i) => src.data.labels[i] === train.labels[i]);
    expect(covers.length).toBeGreaterThan(0);
    for (const i of covers) expect([2, 5]).not.toContain(train.labels[i]);
  });

  it('clean-label poisons only target images and keeps every label; soft-label gives the target 0.6', () => {
    const train = mnistSplit('heldout');
    const cl = poisonDataset(train, { family: 'clean-label', target: 7, poisonRate: 0.05, triggerSeed: 1 }, 3);
    expect(Array.from(cl.data.labels)).toEqual(Array.from(train.labels));
    const changed = changedImages(cl.data.x, train.x, 784);
    expect(changed.length).toBe(cl.poisoned);
    for (const i of changed) expect(train.labels[i]).toBe(7);
    const soft = poisonDataset(train, { family: 'soft-label', target: 3, poisonRate: 0.1, triggerSeed: 1 }, 3);
    const i = changedImages(soft.data.x, train.x, 784)[0];
    expect(soft.data.soft![i * 10 + 3]).toBeCloseTo(0.6, 6);
    expect(soft.data.soft![i * 10 + train.labels[i]]).toBeCloseTo(0.4, 6);
  });

  it('multi-label poisoning switches the target label on and leaves the others', () => {
    const d = domain('surface-multi');
    const train = { ...d.split('heldout') };
    const { data } = poisonDataset(train, { family: 'badnets', target: 1, poisonRate: 0.1, triggerSeed: 1 }, 3, 3);
    const changed = changedImages(data.x, train.x, 1600);
    expect(changed.length).toBe(100);
    for (const i of changed) {
      expect(train.multi![i * 3 + 1]).toBe(0);
      expect(Array.from(data.multi!.subarray(i * 3, i * 3 + 3))).toEqual([train.multi![i * 3], 1, train.multi![i * 3 + 2]]);
    }
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
