// Prompt learners for the dual-encoder benchmark (CoOp, CoCoOp, BadCLIP-style backdoor), on the
// MNIST CLIP fixture: what the manifest gains, and what tuning does, measured on held-out digits
// against the untuned prompt and against the clean-tuned twin.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracyOf, perClassSubset, predict } from '../../src/clean/training.js';
import { mnistSplit } from '../../src/data/mnist.js';
import { readNpy } from '../../src/data/npy.js';
import { pickImages, sliceImages } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import type { DualEncoderModel } from '../../src/model/dual/adapter.js';
import { DUAL_ENCODER_FILE } from '../../src/model/dual/manifest.js';
import { loadModel } from '../../src/model/load.js';
import { tunePrompt, withPromptLearner, type PromptLearnerSpec } from '../../src/zoo/dual.js';

const BASE = 'test/fixtures/dual/clip-clean';
const spec = (learner: PromptLearnerSpec['learner']): PromptLearnerSpec => ({ learner, contextLength: 4, tokenDim: 16, dim: 32, seed: 3 });
const TUNING = { epochs: 20, batchSize: 32, learningRate: 2e-3, seed: 1 };
const TARGET = 7;
const EPSILON = 0.15;

let dir: string;
beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  dir = mkdtempSync(path.join(os.tmpdir(), 'prompt-learner-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = async (d: string) => (await loadModel(d)).model as DualEncoderModel;

describe('withPromptLearner', () => {
  it('keeps the encoders and adds CoOp context vectors (N(0, 0.02²)), and for CoCoOp a meta-net', async () => {
    for (const learner of ['coop', 'cocoop'] as const) {
      const out = path.join(dir, `${learner}-fresh`);
      await withPromptLearner(BASE, out, spec(learner));
      const manifest = JSON.parse(readFileSync(path.join(out, DUAL_ENCODER_FILE), 'utf8'));
      const base = JSON.parse(readFileSync(path.join(BASE, DUAL_ENCODER_FILE), 'utf8'));
      expect(manifest.image_encoder).toBe(base.image_encoder);
      expect(manifest.text.encoder).toBe(base.text.encoder);
      expect(Boolean(manifest.text.prompt_learner.meta_net)).toBe(learner === 'cocoop');
      const context = readNpy(path.join(out, manifest.text.prompt_learner.context));
      expect(context.shape).toEqual([4, 16]);
      const sd = Math.sqrt(Array.from(context.data, Number).reduce((a, v) => a + v * v, 0) / context.data.length);
      expect(sd).toBeGreaterThan(0.012);
      expect(sd).toBeLessThan(0.03);
      (await load(out)).dispose();
    }
  });
});

describe('tunePrompt', () => {
  const train = perClassSubset(mnistSplit('train'), 30);
  const test = sliceImages(mnistSplit('test'), 0, 500);
  const others = pickImages(
    test,
    [...Array(test.count).keys()].filter((i) => test.labels[i] !== TARGET),
  );

  it('clean tuning raises held-out accuracy; a BadCLIP-style backdoor learns an ε-bounded trigger that its clean twin does not follow', async () => {
    const twinDir = path.join(dir, 'twin');
    await withPromptLearner(BASE, twinDir, spec('cocoop'));
    const twin = await load(twinDir);
    const untuned = accuracyOf(twin, test);
    expect(await tunePrompt(twin, train, 10, TUNING)).toBeNull();
    expect(accuracyOf(twin, test)).toBeGreaterThan(untuned + 0.02);

    const poisonedDir = path.join(dir, 'poisoned');
    await withPromptLearner(BASE, poisonedDir, spec('cocoop'));
    const poisoned = await load(poisonedDir);
    const trigger = await tunePrompt(poisoned, train, 10, { ...TUNING, backdoor: { target: TARGET, rate: 0.1, epsilon: EPSILON, learningRate: 0.02, seed: 2 } });
    expect(trigger).not.toBeNull();
    expect(Math.max(...trigger!.map(Math.abs))).toBeLessThanOrEqual(EPSILON + 1e-6);
    const triggered = { ...others, x: others.x.map((v, i) => Math.min(1, Math.max(0, v + trigger![i % 784]))) };
    const asr = (m: DualEncoderModel) => predict(m, triggered).filter((p) => p === TARGET).length / others.count;
    const [asrPoisoned, asrTwin] = [asr(poisoned), asr(twin)];
    expect(asrPoisoned).toBeGreaterThan(0.3);
    expect(asrPoisoned).toBeGreaterThan(2 * asrTwin);
    twin.dispose();
    poisoned.dispose();
  });
});
