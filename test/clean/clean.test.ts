// Cleaning: D3's invariants, and the effect of trigger unlearning, ONP-style pruning and PAR-style
// recovery, on the committed example models with the bundled probe digits as the small clean
// labelled set. The zoo-wide figures come from `npm run eval:clean` (README).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { d3, d3Loss, headKernel } from '../../src/clean/d3.js';
import {
  autoRound,
  autoRoundName,
  DEFAULT_CLEAN_POLICY,
  holdBackForJudging,
  joinLabelled,
  JUDGE_PROBES,
  judgedOnHeldOut,
  revivedInTrial,
  scanForTriggers,
  splitHeldOut,
  usableUnlabelled,
  type CleanPolicy,
} from '../../src/clean/pipeline.js';
import { retuneTrial } from '../../src/clean/lasting.js';
import { DEFAULT_SAU, sauUnlearn, sharedPerturbation, type SauDetails, type SauOptions } from '../../src/clean/sau.js';
import type { Decision } from '../../src/core/verdict.js';
import { DEFAULT_MAX_ACCURACY_DROP, DEFAULT_THRESHOLDS } from '../../src/core/policy.js';
import { planRows } from '../../src/engine/memory.js';
import { accuracyOf, distillationPool, perClassSubset, poolRows, predict, triggerAsr } from '../../src/clean/training.js';
import { recoveredTriggers, regionTrigger, type RecoveredTrigger } from '../../src/clean/triggers.js';
import { unlearnTriggers, type CleanLog } from '../../src/clean/unlearn.js';
import { asLayersModel, neuronLayers } from '../../src/clean/neurons.js';
import { neuronGraph, onpPrune } from '../../src/clean/onp.js';
import { parLearningRate, parRecover } from '../../src/clean/par.js';
import { loadLabelledImages } from '../../src/data/sources.js';
import { sliceImages, type LabelledImageSet } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import type { DualEncoderModel } from '../../src/model/dual/adapter.js';
import { readNpy } from '../../src/data/npy.js';
import { reconstructTriggers } from '../../src/scan/inversion.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { CLEAN_DATA, EXAMPLES, PROBE, REPO } from '../helpers/run.js';
import { domain } from '../../src/zoo/domains.js';
import { settleVitestRpc } from '../helpers/settle.js';
import { accuracyAndAsr } from '../helpers/measure.js';
import { applyTrigger, makeTrigger, type AttackSpec } from '../../src/zoo/attacks.js';

let digits: LabelledImageSet;
const SURFACE_CLEAN = path.join(REPO, 'test/fixtures/models/surface-bn-cnn-clean-s1');
// The cleaners yield to the event loop between batches, but the work around them (loading, distillation
// pools, accuracy passes) still runs for seconds at a time: see settleVitestRpc.
beforeEach(settleVitestRpc);
beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  digits = loadLabelledImages(PROBE, { shape: [28, 28, 1], maxImages: 256, seed: 0 });
});

describe('D3', () => {
  it('pushes the head away from its backdoored weights on the sphere of its initial norm', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const head = headKernel(model);
    expect(head.shape).toEqual([64, 10]);
    const w0 = head.clone();
    const norm0 = tf.norm(w0).dataSync()[0];
    const log = await d3(model, perClassSubset(digits, 12), { epochs: 4, batchSize: 64 });
    expect(log.steps).toBe(4 * 2);
    expect(tf.norm(head).dataSync()[0]).toBeCloseTo(norm0, 3);
    // Far from where it started: a random warm start on the sphere is about √2·‖W⁰‖ away.
    expect(tf.norm(tf.sub(head, w0)).dataSync()[0]).toBeGreaterThan(norm0);
    expect(log.epochLoss.every(Number.isFinite)).toBe(true);
    model.dispose();
  }, 120_000);

  it('learns: from the same random warm start, training recovers the accuracy a learning rate of 0 leaves at chance', async () => {
    const after = async (learningRate: number) => {
      const { model } = await loadModel(EXAMPLES.blendedCnn);
      const w0 = headKernel(model).clone();
      await d3(model, perClassSubset(digits, 12), { epochs: 20, batchSize: 64, learningRate });
      const r = { accuracy: accuracyOf(model, digits), distance: tf.norm(tf.sub(headKernel(model), w0)).dataSync()[0], norm: tf.norm(w0).dataSync()[0] };
      model.dispose();
      return r;
    };
    const [still, trained] = [await after(0), await after(0.01)];
    expect(still.accuracy).toBeLessThan(0.3);
    expect(trained.accuracy).toBeGreaterThan(still.accuracy + 0.4);
    // It stays far from the backdoored head while it learns.
    expect(trained.distance).toBeGreaterThan(trained.norm);
  }, 120_000);

  it('has the official loss: λ·mean(max(0, CE − ε)) − dist, divided by λ + 1 when λ > 1', () => {
    const ce = tf.tensor1d([0.05, 0.3, 1.0]);
    const dist = tf.scalar(2);
    // hinge = mean(0, 0.2, 0.9) = 0.36667
    expect(d3Loss(ce, dist, { lambda: 0.5, epsilon: 0.1 }).dataSync()[0]).toBeCloseTo(0.5 * 0.366667 - 2, 5);
    expect(d3Loss(ce, dist, { lambda: 3, epsilon: 0.1 }).dataSync()[0]).toBeCloseTo((3 * 0.366667 - 2) / 4, 5);
    expect(d3Loss(ce, dist, { lambda: 1, epsilon: 2 }).dataSync()[0]).toBeCloseTo(-2, 6);
  });
});

describe('trigger unlearning', () => {
  it('makes the recovered trigger stop working on held-out digits', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const probe = sliceImages(digits, 0, 128);
    const found = await reconstructTriggers(model, probe);
    expect(found.suspectedTarget).toBe(4);
    const [trigger] = recoveredTriggers(model.inputShape, { dense: found });
    const asr = () => triggerAsr(model, sliceImages(digits, 128, 256), trigger)!;
    const before = asr();
    const heldoutAccuracy = accuracyOf(model, sliceImages(digits, 128, 256));
    const clean = sliceImages(digits, 0, 128);
    await unlearnTriggers(model, clean, [trigger], { epochs: 10 });
    console.log(
      `unlearning on 128 digits: recovered-trigger ASR ${(100 * before).toFixed(1)} → ${(100 * asr()).toFixed(1)} %, accuracy ${(100 * heldoutAccuracy).toFixed(1)} → ${(100 * accuracyOf(model, sliceImages(digits, 128, 256))).toFixed(1)} %`,
    );
    // Held-out digits (the second half), stamped with the same recovered trigger.
    expect(before).toBeGreaterThan(0.5);
    expect(asr()).toBeLessThan(before / 4);
    // Tuned on 128 digits only, the distillation still holds accuracy (measured 98.4 → 99.2 %);
    // the eval's 600-image runs are in the README.
    expect(accuracyOf(model, sliceImages(digits, 128, 256))).toBeGreaterThan(heldoutAccuracy - 0.03);
    model.dispose();
  }, 120_000);

  it("also unlearns the kept triggers (a warp phase's warps), on every other step", async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const stamped: string[] = [];
    const counting = (name: string): RecoveredTrigger => ({ target: 4, source: 'warp-inversion', stamp: (x) => (stamped.push(name), x) });
    const log = await unlearnTriggers(
      model,
      sliceImages(digits, 0, 128),
      [counting('recovered')],
      { epochs: 2, region: false },
      { alsoUnlearn: [counting('warp A'), counting('warp B')] },
    );
    expect(log.steps).toBe(8);
    expect(stamped).toEqual(['recovered', 'warp A', 'recovered', 'warp B', 'recovered', 'warp A', 'recovered', 'warp B']);
    model.dispose();
  }, 120_000);
});

describe('neurons and the ONP-style graph', () => {
  it('lists every conv channel and hidden unit before the head, with the variables that switch each off', async () => {
    const { model } = await loadModel(EXAMPLES.badnetsBn);
    const layers = neuronLayers(asLayersModel(model, 'test'));
    // bn-cnn: conv 12 → BN → ReLU, conv 24 → BN → ReLU, dense 32, head 10 (not a candidate).
    expect(layers.map((l) => l.units)).toEqual([12, 24, 32]);
    // The convs have no bias: kernel + BN γ and β; the dense layer: kernel + bias.
    expect(layers.map((l) => l.masked.length)).toEqual([3, 3, 2]);
    for (const l of layers) {
      const adj = neuronGraph(l, 0.1);
      const n = l.units;
      for (let i = 0; i < n; i++) {
        const row = adj.subarray(i * n, (i + 1) * n);
        const sum = row.reduce((a, b) => a + b, 0);
        // Row-normalised mean aggregation; the top decile of pairs gives every layer some edges.
        expect(sum === 0 || Math.abs(sum - 1) < 1e-5).toBe(true);
        expect(row[i]).toBe(0);
        for (let j = 0; j < n; j++) expect(row[j] > 0).toBe(adj[j * n + i] > 0);
      }
      expect(adj.some((v) => v > 0)).toBe(true);
    }
    model.dispose();
  });
});

describe('ONP-style pruning', () => {
  // Small budgets (the defaults are 24 × 10 masks on 200 images and 10 recovery epochs) keep the
  // file quick. The default recipe on 600 digits is tested end to end through the CLI
  // (test/cli/clean.test.ts, `clean --method auto`).
  let probe: LabelledImageSet;
  beforeAll(() => {
    probe = sliceImages(digits, 0, 128);
  });

  it('learns a pruning mask that breaks the recovered trigger on held-out digits, and holds it through recovery', async () => {
    const { model } = await loadModel(EXAMPLES.badnetsBn);
    const mask = await reconstructMasks(model, probe);
    expect(mask.suspectedTarget).toBe(6);
    const triggers = recoveredTriggers(model.inputShape, { mask });
    const asr = () => triggerAsr(model, sliceImages(digits, 128, 256), triggers[0])!;
    const before = asr();
    await settleVitestRpc();
    const log = await onpPrune(model, probe, triggers, { iterations: 8, samples: 6, rewardImagesPerClass: 6, recovery: { epochs: 1 } });
    const details = log.details!;
    expect(log.epochLoss).toHaveLength(1);
    // Pruned neurons are still at zero after the recovery fine-tune (the mask is re-applied).
    const layers = neuronLayers(asLayersModel(model, 'test'));
    for (const p of details.prunedNeurons) {
      const layer = layers.find((l) => l.name === p.layer)!;
      for (const v of layer.masked) {
        const values = v.dataSync();
        for (let i = 0; i < values.length; i++) if (p.units.includes(i % layer.units)) expect(Math.abs(values[i])).toBe(0);
      }
    }
    // What the report says it pruned: the units whose every variable is now zero, counted over all layers.
    const switchedOff = layers.reduce(
      (sum, l) => sum + [...Array(l.units).keys()].filter((u) => l.masked.every((v) => v.dataSync().every((x, i) => i % l.units !== u || x === 0))).length,
      0,
    );
    expect(log.summary).toContain(`ONP-style pruning at class 6: pruned ${switchedOff} of 68 neurons (`);
    expect(log.summary).toMatch(/; then 1 epoch of trigger unlearning with the pruned neurons held at zero$/);
    expect(details.of).toBe(12 + 24 + 32);
    expect(details.pruned).toBeGreaterThan(0);
    expect(details.pruned).toBeLessThan(details.of / 2);
    expect(details.afterPruning.recoveredTriggerAsr).toBeLessThan(0.5);
    // On digits the reward never saw, too.
    expect(before).toBeGreaterThan(0.8);
    expect(asr()).toBeLessThan(before / 2);
    model.dispose();
  });
});

describe('ONP-style pruning against random masks', () => {
  // The ablation the policy has to beat: the same number of masks (24 × 10, the defaults), drawn
  // at the initial prune probability and never learned from, best one kept by the same reward.
  // Measured with the model's real BadNets patch on the 2,000 test digits, right after pruning
  // (no recovery fine-tune, which would hide what the mask alone does), over three seeds.
  it("prunes the real trigger's neurons where random search at the same budget does not", async () => {
    const card = JSON.parse(readFileSync(path.join(EXAMPLES.badnetsBn, 'zoo-card.json'), 'utf8')) as { attack: AttackSpec };
    const stamp = (x: Float32Array) => applyTrigger(makeTrigger(card.attack), x, x.length / 784, 28, 28, 1);
    const clean = loadLabelledImages(CLEAN_DATA, { shape: [28, 28, 1], maxImages: 600, seed: 0 });
    // One mask inversion: the recovered trigger the reward uses is the same for every run.
    const first = await loadModel(EXAMPLES.badnetsBn);
    const triggers = recoveredTriggers(first.model.inputShape, { mask: await reconstructMasks(first.model, sliceImages(clean, 0, 256)) });
    first.model.dispose();
    expect(triggers[0].target).toBe(card.attack.target);
    const runs = { learned: [] as Array<{ asr: number; recovered: number }>, uniform: [] as Array<{ asr: number; recovered: number }> };
    for (const seed of [0, 1, 2])
      for (const policy of ['learned', 'uniform'] as const) {
        const { model } = await loadModel(EXAMPLES.badnetsBn);
        await settleVitestRpc();
        const log = await onpPrune(model, clean, triggers, { recovery: { epochs: 0 }, policy, seed });
        const details = log.details!;
        expect(details.history).toHaveLength(24);
        runs[policy].push({ asr: accuracyAndAsr(model, stamp, card.attack.target).asr, recovered: details.afterPruning.recoveredTriggerAsr });
        model.dispose();
      }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const realAsr = { learned: mean(runs.learned.map((r) => r.asr)), uniform: mean(runs.uniform.map((r) => r.asr)) };
    console.log(
      `ONP vs random masks, real-trigger ASR after pruning: learned ${runs.learned.map((r) => r.asr.toFixed(3))}, uniform ${runs.uniform.map((r) => r.asr.toFixed(3))}`,
    );
    expect(realAsr.learned).toBeLessThan(realAsr.uniform - 0.2);
    expect(mean(runs.learned.map((r) => r.recovered))).toBeLessThan(mean(runs.uniform.map((r) => r.recovered)) / 2);
  }, 300_000);
});

describe('shared adversarial unlearning (SAU)', () => {
  // Trigger-agnostic: nothing here hands it the trigger. Measured with the example Blended model's
  // real trigger on the 2,000 test digits; the cleaning set is what the pipeline cleans with (4/5
  // of the 60 labelled digits per class plus the 256 probes labelled by the model).
  let clean: LabelledImageSet;
  let stamp: (x: Float32Array) => Float32Array;
  beforeAll(async () => {
    const labelled = loadLabelledImages(CLEAN_DATA, { shape: [28, 28, 1], maxImages: 600, seed: 0 });
    const [part] = splitHeldOut(labelled);
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    clean = joinLabelled(part, { ...digits, labels: predict(model, digits) });
    model.dispose();
    const card = JSON.parse(readFileSync(path.join(EXAMPLES.blendedCnn, 'zoo-card.json'), 'utf8')) as { attack: AttackSpec };
    expect(card.attack).toMatchObject({ family: 'blended', target: 4 });
    stamp = (x: Float32Array) => applyTrigger(makeTrigger(card.attack), x, x.length / 784, 28, 28, 1);
  });

  it('finds shared adversarial examples inside the ε ball, and for a Blended backdoor they point at its target', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const { model: reference } = await loadModel(EXAMPLES.blendedCnn);
    const batch = sliceImages(clean, 0, 128);
    const [largest, toTarget] = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [128, 28, 28, 1]);
      const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 10).toFloat() as tf.Tensor2D;
      const pert = sharedPerturbation(model, reference, x, y, DEFAULT_SAU);
      const answers = tf.argMax(reference.logits(tf.add(x, pert) as tf.Tensor4D), -1).dataSync();
      const notTarget = [...batch.labels].filter((l) => l !== 4).length;
      return [tf.max(tf.abs(pert)).dataSync()[0], [...answers].filter((a, i) => a === 4 && batch.labels[i] !== 4).length / notTarget];
    });
    expect(largest).toBeLessThanOrEqual(DEFAULT_SAU.epsilon + 1e-6);
    // At this ε, a per-image perturbation reaches the backdoor's target for most digits: the shared
    // direction is the trigger's, which is what SAU unlearns.
    expect(toTarget).toBeGreaterThan(0.5);
    model.dispose();
    reference.dispose();
  });

  it('removes the real Blended trigger it was never given, and the shared term is what removes it', async () => {
    const run = async (options: Partial<SauOptions>) => {
      const { model } = await loadModel(EXAMPLES.blendedCnn);
      const { model: reference } = await loadModel(EXAMPLES.blendedCnn);
      await settleVitestRpc();
      const log = await sauUnlearn(model, reference, clean, { epochs: 5, ...options });
      const measured = accuracyAndAsr(model, stamp, 4);
      model.dispose();
      reference.dispose();
      return { ...measured, log };
    };
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const before = accuracyAndAsr(model, stamp, 4);
    model.dispose();
    const cleaned = await run({});
    // Without the shared adversarial risk it is plain distillation from the backdoored model.
    const ablated = await run({ unlearnWeight: 0, epochs: 2 });
    console.log(
      `SAU on cnn-blended-t4 (5 epochs): real-trigger ASR ${(100 * before.asr).toFixed(1)} → ${(100 * cleaned.asr).toFixed(1)} %, accuracy ${(100 * before.accuracy).toFixed(2)} → ${(100 * cleaned.accuracy).toFixed(2)} %; without the shared term ${(100 * ablated.asr).toFixed(1)} %`,
    );
    expect(before.asr).toBeGreaterThan(0.95);
    expect(cleaned.asr).toBeLessThan(0.1);
    expect(before.accuracy - cleaned.accuracy).toBeLessThan(0.015);
    expect(ablated.asr).toBeGreaterThan(0.9);
    expect(cleaned.log.epochLoss).toHaveLength(5);
    // Under the default policy's accuracy guard (2 points) the removal goes through: removing a
    // backdoor changes clean answers too little to trip it.
    const guarded = await run({ maxAccuracyDrop: DEFAULT_MAX_ACCURACY_DROP / 100 });
    console.log(`SAU under the default policy's guard: ASR ${(100 * guarded.asr).toFixed(1)} %, cleaning-set accuracy per epoch ${fmtAccuracies(guarded.log)}`);
    expect(guarded.log.details?.restored).toBeUndefined();
    expect(guarded.asr).toBeLessThan(0.1);
  }, 300_000);

  it('distils the clean term from the model as the round finds it when asked, and measures the accuracy limit from the baseline it is given', async () => {
    // auto's second round (after the trial fine-tune) runs on a model already cleaned, against
    // the backdoored original. Here a clean example model stands in for the cleaned one.
    const test = loadLabelledImages('mnist:test', { shape: [28, 28, 1], maxImages: 2000, seed: 0 });
    const distilled = async (options: Partial<SauOptions>) => {
      const { model } = await loadModel(EXAMPLES.cleanCnn);
      const { model: original } = await loadModel(EXAMPLES.blendedCnn);
      const was = predict(model, test);
      await settleVitestRpc();
      // The clean term alone (no shared adversarial risk): what it distils is all that moves the model.
      const log = await sauUnlearn(model, original, clean, { epochs: 2, unlearnWeight: 0, ...options });
      const now = predict(model, test);
      const taught = predict(original, test);
      const same = (a: Int32Array, b: Int32Array) => a.filter((v, i) => v === b[i]).length / a.length;
      const r = { log, kept: same(now, was), likeOriginal: same(now, taught), originalWas: same(was, taught) };
      model.dispose();
      original.dispose();
      return r;
    };
    const fromOriginal = await distilled({});
    const fromItself = await distilled({ distillFrom: 'model' });
    console.log(
      `the clean term alone, 2 epochs: distilled from the original, the model keeps ${(100 * fromOriginal.kept).toFixed(2)} % of its answers and agrees with the original on ${(100 * fromOriginal.likeOriginal).toFixed(2)} % (${(100 * fromOriginal.originalWas).toFixed(2)} % before); from itself ${(100 * fromItself.kept).toFixed(2)} % and ${(100 * fromItself.likeOriginal).toFixed(2)} %`,
    );
    // Self-distillation keeps the model's answers; the original's answers move them (deterministic: 20 of 2,000 here).
    expect(fromItself.kept - fromOriginal.kept).toBeGreaterThan(0.005);

    // The limit is measured from the baseline when one is given (the pipeline gives the original's
    // accuracy). One epoch costs the cleaning set about 4 points: past the 2-point limit from the
    // round's start, so the model stays as it was; within it from a baseline 3 points lower.
    const { model: probe } = await loadModel(EXAMPLES.blendedCnn);
    const start = accuracyOf(probe, clean);
    probe.dispose();
    const guarded = async (options: Partial<SauOptions>) => {
      const { model } = await loadModel(EXAMPLES.blendedCnn);
      const { model: reference } = await loadModel(EXAMPLES.blendedCnn);
      await settleVitestRpc();
      const log = await sauUnlearn(model, reference, clean, { epochs: 1, maxAccuracyDrop: DEFAULT_MAX_ACCURACY_DROP / 100, ...options });
      const measured = accuracyAndAsr(model, stamp, 4);
      model.dispose();
      reference.dispose();
      return { ...measured, log };
    };
    const fromStart = await guarded({});
    const fromBaseline = await guarded({ accuracyBaseline: start - 0.03 });
    console.log(
      `SAU, 1 epoch: cleaning-set accuracy ${(100 * start).toFixed(1)} → ${fmtAccuracies(fromStart.log)}; limit from the start: ${String(fromStart.log.details?.restored)} (ASR ${(100 * fromStart.asr).toFixed(1)} %); from ${(100 * (start - 0.03)).toFixed(1)} %: kept (ASR ${(100 * fromBaseline.asr).toFixed(1)} %)`,
    );
    expect(fromStart.log.details?.restored).toMatch(/the model had before unlearning/);
    expect(fromStart.asr).toBeGreaterThan(0.95);
    expect(fromBaseline.log.details?.restored).toBeUndefined();
    expect(fromBaseline.log.details?.keptEpochs).toBe(1);

    // A round that starts past the limit (here a model whose first convolution was knocked about,
    // as pruning can) keeps an epoch that leaves it better than it began, though still past it.
    const { model: damaged } = await loadModel(EXAMPLES.blendedCnn);
    const { model: original } = await loadModel(EXAMPLES.blendedCnn);
    const kernel = damaged.trainableVariables().find((v) => v.rank === 4)!;
    tf.tidy(() => kernel.assign(tf.mul(kernel, tf.add(1, tf.mul(2, tf.randomNormal(kernel.shape, 0, 1, 'float32', 7))))));
    const [baseline, began] = [accuracyOf(original, clean), accuracyOf(damaged, clean)];
    await settleVitestRpc();
    const recovering = await sauUnlearn(damaged, original, clean, {
      epochs: 1,
      unlearnWeight: 0,
      maxAccuracyDrop: DEFAULT_MAX_ACCURACY_DROP / 100,
      accuracyBaseline: baseline,
    });
    const ended = recovering.details!.cleanSetAccuracy[0];
    console.log(
      `a round past the limit: the original ${(100 * baseline).toFixed(1)} %, the round began at ${(100 * began).toFixed(1)} % and ended at ${(100 * ended).toFixed(1)} %`,
    );
    expect(baseline - ended).toBeGreaterThan(DEFAULT_MAX_ACCURACY_DROP / 100);
    expect(ended).toBeGreaterThan(began);
    expect(recovering.details?.restored).toBeUndefined();
    expect(recovering.details?.keptEpochs).toBe(1);
    expect(accuracyOf(damaged, clean)).toBeCloseTo(ended, 6);
    damaged.dispose();
    original.dispose();
  }, 300_000);

  it('keeps what the accuracy guard allows: on a two-class model whose task SAU unlearns, the model as it was', async () => {
    // A tuning-split two-class model of the benchmark's surface domain. At SAU's ε nearly every
    // image has a natural adversarial example, and unlearning them unlearns the task. Its
    // cleaning set is the pipeline's: 4/5 of 60 labelled images per class and 256 probes
    // labelled by the model; the test images are the domain's 2,000 that no model trained on.
    const surface = domain('surface');
    const held = surface.split('heldout');
    const [part] = splitHeldOut(perClassSubset(sliceImages(held, 256, held.count), 60));
    const probes = sliceImages(held, 0, 256);
    const test = surface.split('test');
    const run = async (options: Partial<SauOptions>) => {
      const { model } = await loadModel(SURFACE_CLEAN);
      const { model: reference } = await loadModel(SURFACE_CLEAN);
      const set = joinLabelled(part, { ...probes, labels: predict(reference, probes) });
      await settleVitestRpc();
      const log = await sauUnlearn(model, reference, set, { epochs: 3, ...options });
      const r = {
        log,
        accuracy: accuracyOf(model, test),
        answers: predict(model, test),
        was: predict(reference, test),
        wasAccuracy: accuracyOf(reference, test),
      };
      model.dispose();
      reference.dispose();
      return r;
    };
    const free = await run({});
    const guarded = await run({ maxAccuracyDrop: DEFAULT_MAX_ACCURACY_DROP / 100 });
    console.log(
      `SAU on ${path.basename(SURFACE_CLEAN)}: test accuracy ${(100 * free.wasAccuracy).toFixed(2)} → ${(100 * free.accuracy).toFixed(2)} % unguarded, ${(100 * guarded.accuracy).toFixed(2)} % guarded (${String(guarded.log.details?.restored)})`,
    );
    expect(free.wasAccuracy - free.accuracy).toBeGreaterThan(0.1);
    expect(guarded.log.details?.restored).toMatch(/the model had before unlearning/);
    expect(guarded.log.details?.keptEpochs).toBe(0);
    // The weights went back: every test image is answered as the untouched copy answers it.
    expect([...guarded.answers]).toEqual([...guarded.was]);
  }, 300_000);
});

const fmtAccuracies = (log: CleanLog<SauDetails>) => (log.details?.cleanSetAccuracy ?? []).map((v) => `${(100 * v).toFixed(1)} %`).join(', ');

describe("auto's trial fine-tune (does the removal last?)", () => {
  it('fine-tunes a copy, never the model, and measures the trigger on both', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const labelled = loadLabelledImages(CLEAN_DATA, { shape: [28, 28, 1], maxImages: 600, seed: 0 });
    const [part, heldOut] = splitHeldOut(labelled);
    const mask = await reconstructMasks(model, sliceImages(part, 0, 256));
    const triggers = recoveredTriggers(model.inputShape, { mask }).filter((t) => t.target === 4);
    const weights = model.trainableVariables().map((v) => Array.from(v.dataSync()));
    const trial = await retuneTrial(model, part, heldOut, triggers, 0);
    // The model is untouched; its own ASR is what an independent measurement gives.
    model.trainableVariables().forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(weights[i]));
    expect(trial.asrCleaned).toBeCloseTo(Math.max(...triggers.map((t) => triggerAsr(model, heldOut, t)!)), 9);
    // Measured on the held-out digits that are not of the target: 12 per class, nine classes.
    expect(trial.images).toBe(9 * 12);
    // An uncleaned backdoor keeps its trigger through a fine-tune.
    expect(trial.asrCleaned).toBeGreaterThan(0.5);
    expect(trial.asrRetuned).toBeGreaterThan(0.5);
    model.dispose();
  }, 120_000);

  it('a trigger that still comes back after the round of shared adversarial unlearning fails the cleaned model', () => {
    const decision = (verdict: Decision['verdict']): Decision => ({
      verdict,
      score: 0.01,
      suspectedTarget: null,
      reasons: [],
      statistics: {},
      ...(verdict === 'unassessed' ? { unassessed: ['few'] } : {}),
    });
    const trial = (relearned: boolean) => ({
      asrCleaned: 0,
      asrRetuned: 0.3,
      images: 300,
      relearned: true,
      seconds: 1,
      sau: { seconds: 60, after: { asrCleaned: 0.02, asrRetuned: relearned ? 0.25 : 0.03, images: 300, relearned, seconds: 1 } },
    });
    expect(revivedInTrial(decision('clean'), trial(true))).toMatchObject({
      verdict: 'suspicious',
      reasons: [expect.stringMatching(/brings the recovered trigger back to 25\.0 % of 300 images it was not cleaned with/)],
    });
    expect(revivedInTrial(decision('unassessed'), trial(true)).unassessed).toBeUndefined();
    expect(revivedInTrial(decision('clean'), trial(false)).verdict).toBe('clean');
    expect(revivedInTrial(decision('clean'), undefined).verdict).toBe('clean');
    expect(revivedInTrial(decision('backdoored'), trial(true)).verdict).toBe('backdoored');
  });
});

describe('PAR-style recovery', () => {
  it("follows PAR's schedule: linear to a tenth over the first half, cosine to zero after", () => {
    expect(parLearningRate(1e-3, 0, 100)).toBeCloseTo(1e-3, 9);
    expect(parLearningRate(1e-3, 50, 100)).toBeCloseTo(1e-4, 9);
    expect(parLearningRate(1e-3, 75, 100)).toBeCloseTo(5e-5, 9);
    expect(parLearningRate(1e-3, 100, 100)).toBeCloseTo(0, 9);
  });

  it('pushes the embedding away from the original up to the gate τ while keeping the task', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const heldout = sliceImages(digits, 128, 256);
    const accuracy = accuracyOf(model, heldout);
    const log = await parRecover(model, sliceImages(digits, 0, 128), { epochs: 12, tau: 0.1 });
    const { finalEpochMeanDistance } = log.details!;
    // The gate lets S grow to about τ and no further (it oscillates around it).
    expect(finalEpochMeanDistance).toBeGreaterThan(0.05);
    expect(finalEpochMeanDistance).toBeLessThan(0.2);
    expect(accuracyOf(model, heldout)).toBeGreaterThan(accuracy - 0.15);
    model.dispose();
  }, 120_000);
});

describe("auto's cleaner by kind of model", () => {
  it('repairs a prompt learner by unlearning in the prompt, then in the image tower, unlearns in both towers then runs PAR otherwise, and prunes a tfjs classifier', async () => {
    const dual = (name: string) => path.join(REPO, 'test/fixtures/dual', name);
    const names = [];
    for (const dir of [dual('cocoop-clean'), dual('clip-clean'), EXAMPLES.blendedCnn]) {
      const { model } = await loadModel(dir);
      names.push(autoRoundName(model));
      model.dispose();
    }
    expect(names).toEqual(['unlearn, then unlearn (image tower)', 'unlearn, then par', 'onp']);
  });

  it("unlearns in a prompt learner's prompt or its image tower alone, and auto's round does both", async () => {
    const { model } = await loadModel(path.join(REPO, 'test/fixtures/dual/cocoop-badclip-t7'));
    const dual = model as DualEncoderModel;
    const pattern = readNpy(path.join(REPO, 'test/fixtures/dual/cocoop-badclip-t7/trigger.npy')).data;
    const delta = tf.tensor4d(Float32Array.from(pattern, Number), [1, 28, 28, 1]);
    const trigger: RecoveredTrigger = { target: 7, source: 'trigger-inversion', stamp: (x) => tf.clipByValue(tf.add(x, delta), 0, 1) as tf.Tensor4D };
    const prompt = dual.trainableVariables();
    const { image } = dual.towerVariables();
    const values = (vars: tf.Variable[]) => vars.map((v) => Float32Array.from(v.dataSync()));
    const changed = (a: Float32Array[], b: Float32Array[]) => a.some((v, i) => v.some((x, k) => x !== b[i][k]));
    const data = sliceImages(digits, 0, 64);
    // Each stage alone: the prompt learner's own variables, then the image tower's.
    const [prompt0, image0] = [values(prompt), values(image)];
    await unlearnTriggers(dual, data, [trigger], { epochs: 1 });
    const [prompt1, image1] = [values(prompt), values(image)];
    expect(changed(prompt0, prompt1)).toBe(true);
    expect(changed(image0, image1)).toBe(false);
    await unlearnTriggers(dual, data, [trigger], { epochs: 1 }, { variables: image });
    const [prompt2, image2] = [values(prompt), values(image)];
    expect(changed(prompt1, prompt2)).toBe(false);
    expect(changed(image1, image2)).toBe(true);
    // auto's round runs both.
    const log = await autoRound(dual, data, [trigger], 0, {}, { epochs: 1 });
    expect(log.method).toBe('unlearn, then unlearn (image tower)');
    expect(Object.keys(log.options)).toEqual(['unlearn', 'unlearn (image tower)']);
    expect(changed(prompt2, values(prompt))).toBe(true);
    expect(changed(image2, values(image))).toBe(true);
    delta.dispose();
    model.dispose();
  }, 120_000);
});

describe('what the cleaners distil from, and the region trigger', () => {
  it('mixes clean images only, and labels them with the model as it was', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const clean = sliceImages(digits, 0, 20);
    const pool = distillationPool(model, clean, 4, 0);
    expect(pool.images.count).toBe(100);
    // Every pixel of a view lies between the values of two clean images (a convex mix).
    const n = 784;
    const lo = new Float32Array(n).fill(1);
    const hi = new Float32Array(n);
    for (let i = 0; i < 20; i++)
      for (let p = 0; p < n; p++) {
        lo[p] = Math.min(lo[p], clean.x[i * n + p]);
        hi[p] = Math.max(hi[p], clean.x[i * n + p]);
      }
    for (let k = 20 * n; k < 100 * n; k++) {
      expect(pool.images.x[k]).toBeGreaterThanOrEqual(lo[k % n] - 1e-6);
      expect(pool.images.x[k]).toBeLessThanOrEqual(hi[k % n] + 1e-6);
    }
    expect(poolRows(pool, 20, [3, 5], 0)).toEqual([3, 5, 23, 25, 43, 45]);
    expect(poolRows(pool, 20, [3, 5], 1)).toEqual([3, 5, 63, 65, 83, 85]);
    model.dispose();
  });

  it('fills the grown mask region with fresh random black and white, and leaves the rest alone', () => {
    const mask = new Float32Array(28 * 28);
    mask[20 * 28 + 20] = 0.9;
    const region = regionTrigger({ target: 1, source: 'mask-inversion', mask, stamp: (x) => x }, [28, 28, 1], 0)!;
    const x = tf.fill([2, 28, 28, 1], 0.5) as tf.Tensor4D;
    const a = region.stamp(x).dataSync();
    const b = region.stamp(x).dataSync();
    let inside = 0;
    for (let k = 0; k < 2 * 784; k++) {
      const p = k % 784;
      const [i, j] = [Math.floor(p / 28), p % 28];
      if (Math.abs(i - 20) <= 1 && Math.abs(j - 20) <= 1) {
        expect([0, 1]).toContain(a[k]);
        inside++;
      } else expect(a[k]).toBe(0.5);
    }
    expect(inside).toBe(2 * 9);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });
});

describe('the cleaning scans follow the policy', () => {
  it("run the policy's budgets and judge by its thresholds: a stricter policy flags what the default passes", async () => {
    const { model } = await loadModel(EXAMPLES.cleanCnn);
    const rows = await planRows(model);
    const budgets = { inversion: { epsilon: 0.1 }, maskInversion: { images: 64 }, hessian: {} };
    const lenient = await scanForTriggers(model, digits, rows, 0, { ...DEFAULT_CLEAN_POLICY, budgets });
    // Every class's mask statistic above 0 is suspicious under this policy; the default needs 1.25.
    const strict: CleanPolicy = {
      ...DEFAULT_CLEAN_POLICY,
      budgets,
      thresholds: { ...DEFAULT_THRESHOLDS, maskInversion: { suspicious: 0, backdoored: 100 }, inversion: { suspicious: 0, backdoored: 100 } },
    };
    const judged = await scanForTriggers(model, digits, rows, 0, strict);
    expect(lenient.dense.options).toMatchObject({ epsilon: 0.1 });
    expect(lenient.mask.options).toMatchObject({ maxImages: 64 });
    // Same scans (same seed and budgets), so only the thresholds differ.
    expect(judged.decision.statistics).toEqual(lenient.decision.statistics);
    expect(lenient.decision.statistics.mask!.value).toBeGreaterThan(0);
    expect(lenient.decision.verdict).toBe('clean');
    expect(judged.decision.verdict).toBe('suspicious');
    model.dispose();
  });

  it("judge a residual network by the policy's residual thresholds, as the gate's scan does, not the plain ones", async () => {
    const { model } = await loadModel('test/fixtures/onnx/resnet-mnist');
    expect(model.structure).toEqual({ residual: true, depthwise: false });
    const rows = await planRows(model);
    const budgets = { inversion: { epsilon: 0.1 }, maskInversion: { images: 32, epochs: 4 }, hessian: {} };
    // Any statistic with a target crosses it, whatever its sign under the networks' own parameters.
    const anything = { suspicious: -1000, backdoored: 1000 };
    const nothing = { suspicious: 1000, backdoored: 2000 };
    const plainStrict: CleanPolicy = {
      ...DEFAULT_CLEAN_POLICY,
      budgets,
      thresholds: { ...DEFAULT_THRESHOLDS, inversion: anything, maskInversion: anything, residual: { inversion: nothing, maskInversion: nothing } },
    };
    const residualStrict: CleanPolicy = {
      ...DEFAULT_CLEAN_POLICY,
      budgets,
      thresholds: { ...DEFAULT_THRESHOLDS, residual: { inversion: anything, maskInversion: anything } },
    };
    const plain = await scanForTriggers(model, digits, rows, 0, plainStrict);
    const residual = await scanForTriggers(model, digits, rows, 0, residualStrict);
    expect(residual.decision.statistics).toEqual(plain.decision.statistics);
    expect([plain.decision.statistics.dense!.target, plain.decision.statistics.mask!.target].some((t) => t !== null)).toBe(true);
    expect(plain.decision.verdict, plain.decision.reasons.join('\n')).not.toMatch(/suspicious|backdoored/);
    expect(residual.decision.verdict).toBe('suspicious');
    model.dispose();
  });
});

describe('the unlabelled images cleaning also takes', () => {
  it('are real probe images other than the labelled set: never synthetic ones, never the labelled data again', () => {
    expect(usableUnlabelled({ data: 'clean', unlabelled: 'probes' })).toBe('probes');
    expect(usableUnlabelled({ data: 'clean', unlabelled: ' synthetic ' })).toBeNull();
    expect(usableUnlabelled({ data: 'clean', unlabelled: '' })).toBeNull();
    expect(usableUnlabelled({ data: 'clean' })).toBeNull();
    // The same folder written two ways would put the held-out fifth into the cleaning set.
    expect(usableUnlabelled({ data: 'data/clean', unlabelled: './data/clean/' })).toBeNull();
    expect(usableUnlabelled({ data: 'mnist:heldout', unlabelled: 'mnist:heldout' })).toBeNull();
  });
});

describe('the re-scan that judges a cleaned model', () => {
  const labelled = (perClass: number): LabelledImageSet => {
    const labels = Int32Array.from({ length: 10 * perClass }, (_, i) => i % 10);
    return { x: new Float32Array(labels.length), count: labels.length, height: 1, width: 1, channels: 1, labels, source: 'labels only' };
  };
  const clean: Decision = { verdict: 'clean', score: 0.01, suspectedTarget: null, reasons: ['scans quiet'], statistics: {} };

  it('reads held-out images only, and says unassessed, not clean, with fewer per class than it was tested with', () => {
    // A fifth of 60 labelled images per class is 12 held out; of 30, 6.
    const [, heldOut60] = splitHeldOut(labelled(60));
    const [cleanWith30, heldOut30] = splitHeldOut(labelled(30));
    expect([heldOut60.count, heldOut30.count, cleanWith30.count]).toEqual([120, 60, 240]);
    expect(judgedOnHeldOut(clean, heldOut60, 10).verdict).toBe('clean');
    const thin = judgedOnHeldOut(clean, heldOut30, 10);
    expect(thin.verdict).toBe('unassessed');
    expect(thin.reasons.at(-1)).toMatch(/as few as 6 held-out images of a class \(tested with 12\): give at least 60 labelled images per class/);
    // A re-scan that still flags the model keeps its verdict, however thin the data.
    expect(judgedOnHeldOut({ ...clean, verdict: 'suspicious' }, heldOut30, 10).verdict).toBe('suspicious');
  });

  it('keeps the last 256 unlabelled images for itself when given at least 512, and then may call a thinly labelled model clean', () => {
    // Image i is a one-pixel image of value i: which images went where is read off the pixels.
    const unlabelled = (n: number) => ({ x: Float32Array.from({ length: n }, (_, i) => i), count: n, height: 1, width: 1, channels: 1, source: 'probes' });
    const [all, none] = holdBackForJudging(unlabelled(511));
    expect([all.count, none]).toEqual([511, null]);
    const [cleanWith, judge] = holdBackForJudging(unlabelled(700));
    expect(JUDGE_PROBES).toBe(256);
    expect(Array.from(cleanWith.x)).toEqual([...Array(444).keys()]);
    expect(Array.from(judge!.x)).toEqual([...Array(256).keys()].map((i) => 444 + i));
    const [, heldOut30] = splitHeldOut(labelled(30));
    expect(judgedOnHeldOut(clean, heldOut30, 10, 256).verdict).toBe('clean');
    const short = judgedOnHeldOut(clean, heldOut30, 10, 255);
    expect(short.verdict).toBe('unassessed');
    expect(short.reasons.at(-1)).toMatch(/or at least 512 unlabelled images \(the last 256 then judge the cleaned model\)/);
  });
});
