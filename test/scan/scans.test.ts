import * as tf from '@tensorflow/tfjs';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TriggerSize } from '../../src/core/calibration.js';
import {
  decide,
  denseCeiling,
  denseHeadroom,
  denseStatistic,
  fewestProbeImages,
  maskStatistic,
  untargetedMaskStatistic,
  type DenseEvidence,
} from '../../src/core/verdict.js';
import { loadProbeImages } from '../../src/data/sources.js';
import { syntheticImages } from '../../src/data/synthetic.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { LayersModelAdapter, type ModelUnderTest } from '../../src/model/adapter.js';
import { DEFAULT_GATE_JSON } from '../../src/model/gate-json.js';
import { loadModel } from '../../src/model/load.js';
import { hessianSpectrum, type HessianResult } from '../../src/scan/hessian.js';
import { reconstructTriggers } from '../../src/scan/inversion.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { madScores, median } from '../../src/scan/robust.js';
import { DEFAULT_THRESHOLDS, UNTARGETED_MAX_CLASSES } from '../../src/core/policy.js';
import { untargetedHere } from '../../src/scan/registry.js';
import { calibration, ctx, dense, levels, mask, P, quiet, T, tied } from '../helpers/evidence.js';
import { EXAMPLES, PROBE } from '../helpers/run.js';

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

describe('robust statistics', () => {
  it('median and MAD scores', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const scores = madScores([1, 1, 2, 2, 10]);
    expect(scores[4]).toBeCloseTo((10 - 2) / 1.4826, 6);
    expect(scores[2]).toBe(0);
  });
});

describe('input-Hessian spectrum', () => {
  // Linear softmax model: the cross-entropy input Hessian is exactly W (diag p − ppᵀ) Wᵀ.
  const D = 16;
  const K = 3;
  const linear = (classes = K, stddev = 0.05) => {
    const m = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [4, 4, 1] }),
        tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.randomNormal({ seed: 3, stddev }) }),
      ],
    });
    return new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'linear');
  };
  /** The closed form; with `m`, each input's A restricted to its m most probable classes (the principal submatrix). */
  const expectedEigenvalues = (model: LayersModelAdapter, x: Float32Array, n: number, m = Infinity) => {
    const W = model.model.layers[1].getWeights()[0].arraySync() as number[][]; // D × K
    const probs = tf.softmax(model.logits(tf.tensor4d(x.subarray(0, n * D), [n, 4, 4, 1]))).arraySync() as number[][];
    const H = Matrix.zeros(D, D);
    for (const p of probs) {
      const k = p.length;
      const kept = new Set([...p.keys()].sort((i, j) => p[j] - p[i]).slice(0, m));
      const A = new Matrix(k, k);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (kept.has(i) && kept.has(j)) A.set(i, j, (i === j ? p[i] : 0) - p[i] * p[j]);
      H.add(new Matrix(W).mmul(A).mmul(new Matrix(W).transpose()).div(n));
    }
    return new EigenvalueDecomposition(H, { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
  };

  it("keeps each input's most probable classes on a many-class model, as the truncated closed form says", async () => {
    const model = linear(12, 1);
    const probe = syntheticImages(6, [4, 4, 1], 5);
    const r = await hessianSpectrum(model, probe, { maxInputs: 6, batchSize: 4, bulkSize: 10, maxClasses: 4 });
    const want = expectedEigenvalues(model, probe.x, 6, 4);
    for (let i = 0; i < 5; i++) expect(r.topEigenvalues[i] / want[0]).toBeCloseTo(want[i] / want[0], 5);
    // Not the full Hessian: the classes left out carry probability here.
    const full = expectedEigenvalues(model, probe.x, 6);
    expect(Math.abs(full[0] - want[0]) / full[0]).toBeGreaterThan(1e-4);
  });

  it.each([
    ['input side', 12],
    ['gram side', 4],
  ] as const)('matches the closed form on the %s', async (side, n) => {
    const model = linear();
    const probe = syntheticImages(n, [4, 4, 1], 1);
    const r: HessianResult = await hessianSpectrum(model, probe, { maxInputs: n, batchSize: 5, bulkSize: 10 });
    expect(r.side).toBe(side === 'input side' ? 'input' : 'gram');
    const want = expectedEigenvalues(model, probe.x, n);
    for (let i = 0; i < K - 1; i++) expect(r.topEigenvalues[i]).toBeCloseTo(want[i], 5);
    // Rank ≤ K − 1 per input, and here ≤ K − 1 overall (shared W): the rest vanish.
    expect(r.topEigenvalues[K]).toBeLessThan(1e-6 * want[0]);
    expect(r.histogram.counts.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    let norm = 0;
    for (const v of r.topEigenvector) norm += v * v;
    expect(norm).toBeCloseTo(1, 4);
  });
});

describe('input-Hessian spectrum on a 224×224×3 input', () => {
  it('computes on the Gram side without overflowing (regression: Math.hypot spread)', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [224, 224, 3] }),
        tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.randomNormal({ seed: 4, stddev: 0.01 }) }),
      ],
    });
    const model = new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'wide');
    const r = await hessianSpectrum(model, syntheticImages(2, [224, 224, 3], 2), { maxInputs: 2, batchSize: 2, bulkSize: 4 });
    expect(r.side).toBe('gram');
    expect(r.topEigenvector.length).toBe(224 * 224 * 3);
    expect(r.topEigenvalues[0]).toBeGreaterThan(0);
  });
});

describe('mask inversion', () => {
  it('in blocks of pixels: every mask is constant over its 2×2 blocks, its L1 counts pixels, and the BadNets target still needs the smallest', async () => {
    const { model } = await loadModel(EXAMPLES.badnetsBn);
    const probe = loadProbeImages(PROBE, { shape: model.inputShape, maxImages: 128, seed: 0 });
    const r = await reconstructMasks(model, probe, { block: 2 });
    const [H, W] = model.inputShape;
    for (const c of r.perClass.filter((p) => p.asr >= r.options.asrTarget)) {
      const m = r.masks.subarray(c.class * H * W, (c.class + 1) * H * W);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(m[y * W + x]).toBe(m[(y & ~1) * W + (x & ~1)]);
      expect(m.reduce((a, v) => a + v, 0)).toBeCloseTo(c.maskL1, 1);
    }
    expect(r.suspectedTarget).toBe(6);
  });

  /**
   * The clean example CNN with an all-to-all backdoor planted by hand: as the top-left 3×3 patch
   * brightens, every class's logit moves to the next class (y → y + 1), smoothly, as a trained
   * backdoor's response does. The trigger is known exactly: the white patch (9 pixels).
   */
  const plantAllToAll = (base: ModelUnderTest): ModelUnderTest =>
    Object.assign(Object.create(base) as ModelUnderTest, {
      logits: (x: tf.Tensor4D) =>
        tf.tidy(() => {
          const z = base.logits(x);
          const K = z.shape[1];
          const on = tf.expandDims(tf.sigmoid(tf.mul(tf.sub(tf.mean(tf.slice(x, [0, 0, 0, 0], [-1, 3, 3, -1]), [1, 2, 3]), 0.35), 8)), 1);
          const next = tf.concat([tf.slice(z, [0, K - 1], [-1, 1]), tf.slice(z, [0, 0], [-1, K - 1])], 1); // next[:, c] = z[:, c − 1]
          return tf.add(tf.mul(tf.sub(1, on), z), tf.mul(on, next)) as tf.Tensor2D;
        }),
    });

  it('the untargeted mask finds a planted all-to-all trigger that no per-class mask can use, and stays large on the clean model', async () => {
    const { model } = await loadModel(EXAMPLES.cleanCnn);
    const probe = loadProbeImages(PROBE, { shape: model.inputShape, maxImages: 128, seed: 0 });
    const backdoored = plantAllToAll(model);
    // The reference: the white patch itself takes (nearly) every probe to the next class.
    const [H, W] = model.inputShape;
    const stamped = Float32Array.from(probe.x);
    for (let i = 0; i < probe.count; i++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) stamped[i * H * W + y * W + x] = 1;
    const predict = (m: ModelUnderTest, xs: Float32Array) => tf.tidy(() => tf.argMax(m.logits(tf.tensor4d(xs, [probe.count, H, W, 1])), -1).dataSync());
    const own = predict(backdoored, probe.x);
    const moved = predict(backdoored, stamped).filter((c, i) => c === (own[i] + 1) % 10).length / probe.count;
    expect(moved).toBeGreaterThan(0.95);
    const planted = await reconstructMasks(backdoored, probe, { untargeted: true });
    // No larger than the known trigger, and far smaller than the classes' own masks.
    expect(planted.untargeted!.asr).toBeGreaterThanOrEqual(0.9);
    expect(planted.untargeted!.maskL1).toBeLessThanOrEqual(9);
    const stat = untargetedMaskStatistic(planted)!;
    expect(stat.value).toBeCloseTo(Math.log(Math.min(...planted.perClass.map((p) => p.maskL1)) / planted.untargeted!.maskL1), 9);
    expect(stat.value).toBeGreaterThan(DEFAULT_THRESHOLDS.untargetedMask.suspicious);
    const clean = await reconstructMasks(model, probe, { untargeted: true });
    expect(clean.untargeted!.maskL1).toBeGreaterThan(3 * planted.untargeted!.maskL1);
    expect(untargetedMaskStatistic(clean)!.value).toBeLessThan(DEFAULT_THRESHOLDS.untargetedMask.suspicious);
    // The extra row changes no class's mask, and is left out unless asked for.
    const without = await reconstructMasks(model, probe, { epochs: 2 });
    const withRow = await reconstructMasks(model, probe, { epochs: 2, untargeted: true });
    expect(withRow.perClass).toEqual(without.perClass);
    expect(without.untargeted).toBeUndefined();
    model.dispose();
  }, 240_000);

  it('runs the untargeted row once per scan, and only where its thresholds were measured', () => {
    const all = (k: number) => [...Array(k).keys()];
    // A whole scan of every class, up to 43 classes.
    expect(untargetedHere(10, undefined, undefined)).toBe(true);
    expect(untargetedHere(UNTARGETED_MAX_CLASSES, undefined, undefined)).toBe(true);
    expect(untargetedHere(UNTARGETED_MAX_CLASSES + 1, undefined, undefined)).toBe(false);
    // Shards of every class: the one holding the last class.
    expect(untargetedHere(10, all(10), [0, 2, 4, 6, 8])).toBe(false);
    expect(untargetedHere(10, all(10), [1, 3, 5, 7, 9])).toBe(true);
    // A schedule that screened classes (a policy's allClassesUpTo below K): neither whole nor sharded.
    expect(untargetedHere(20, undefined, [3, 7, 11])).toBe(false);
    expect(untargetedHere(20, [3, 7, 11], [11])).toBe(false);
  });
});

describe('trigger inversion', () => {
  it('reconstructs the blended backdoor of an example model, with its target', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const probe = loadProbeImages(PROBE, { shape: model.inputShape, maxImages: 256, seed: 0 });
    const r = await reconstructTriggers(model, probe);
    expect(r.suspectedTarget).toBe(4);
    expect(r.perClass[4].asr).toBeGreaterThan(0.9);
    expect(r.anomaly).toBeGreaterThan(4);
    // Every trigger respects the ℓ∞ bound.
    expect(Math.max(...r.triggers.map(Math.abs))).toBeLessThanOrEqual(r.options.epsilon + 1e-6);
  });

  it('finds no valid trigger on a clean example model', async () => {
    const { model } = await loadModel(EXAMPLES.cleanCnn);
    const probe = loadProbeImages(PROBE, { shape: model.inputShape, maxImages: 256, seed: 0 });
    const r = await reconstructTriggers(model, probe);
    expect(r.suspectedTarget).toBeNull();
    expect(Math.max(...r.perClass.map((p) => p.asr))).toBeLessThan(0.5);
    // In-distribution probes spread over the classes: every class is testable.
    expect(r.perClass.reduce((a, p) => a + p.share, 0)).toBeCloseTo(1, 6);
    expect(r.perClass.every((p) => p.testable && p.share < 0.2)).toBe(true);
  });
});

describe('verdict', () => {
  const calibrationPlain = calibration;
  /** Ten testable classes moving every source: class 2 wins on 98 % at full size alone (a natural trigger), class 5 at [full, half, quarter] size (a backdoor), the rest at `rest`. */
  const naturalAndBackdoor = (backdoor: [number, number, number], rest: [number, number, number]) =>
    Array.from({ length: 10 }, (_, c) => {
      const [asr, halfAsr, quarterAsr] = c === 5 ? backdoor : rest;
      return { class: c, asr: c === 2 ? 0.98 : asr, halfAsr, quarterAsr, share: 0.1, testable: true, sourceCoverage: 1 };
    });

  it('the trigger statistic is the robust z above the other classes, less √(2 ln K), times the source coverage', () => {
    // Nine classes tie at 0.05 (MAD 0): the spread floor 0.1 applies.
    const s = denseStatistic(dense(tied(3, 0.95), 0.8), P);
    expect(s.target).toBe(3);
    expect(s.value).toBeCloseTo(((0.95 - 0.05) / 0.1 - Math.sqrt(2 * Math.log(10))) * 0.8, 9);
    // Below 50 % ASR no class qualifies.
    expect(denseStatistic(dense(tied(3, 0.45)), P).target).toBeNull();
  });

  it('where ε lets every class win, the half-size trigger still separates the backdoor, and a scan that saturates even there has no power', () => {
    // Colour signs: nearly every class's trigger wins at full size; at half size only the target's does.
    const full = Array.from({ length: 10 }, (_, c) => (c === 7 ? 1 : 0.95));
    const half = Array.from({ length: 10 }, (_, c) => (c === 7 ? 0.99 : 0.3));
    const ev: DenseEvidence = {
      options: { epsilon: 0.15 },
      perClass: full.map((a, c) => ({ class: c, asr: a, halfAsr: half[c], share: 0.1, testable: true, sourceCoverage: 1 })),
    };
    const s = denseStatistic(ev, P);
    expect(s.target).toBe(7);
    expect(s.value).toBeCloseTo((0.99 - 0.3) / 0.1 - Math.sqrt(2 * Math.log(10)), 9);
    // Power: what a backdoor whose trigger always wins would score. Here, at half size, against a
    // median of 0.3 (one class at 0.99: spread 0, so the floor), with K = 11 for the chance term.
    const chance11 = Math.sqrt(2 * Math.log(11));
    expect(denseHeadroom(ev, P)).toBeCloseTo((1 - 0.3) / 0.1 - chance11, 9);
    // A typical backdoor weaker than that (the fit's reference ASR per size) has less headroom.
    expect(denseHeadroom(ev, { ...P, denseReferenceAsr: [1, 0.6, 0.2] })).toBeCloseTo((0.6 - 0.3) / 0.1 - chance11, 9);
    const saturated: DenseEvidence = { ...ev, perClass: ev.perClass.map((c) => ({ ...c, halfAsr: 0.9 })) };
    expect(denseHeadroom(saturated, P)).toBeCloseTo((1 - 0.9) / 0.1 - chance11, 9);
    const d = decide({ dense: saturated, mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]) }, ctx(), T, { calibration });
    expect(d.verdict).toBe('unassessed');
    expect(d.unassessed!.join('\n')).toMatch(/trigger inversion had no power.*set a smaller budgets\.inversion\.epsilon/);
  });

  it('takes the trigger statistic at the sizes the fit chose: a class that stands out only at full size does not count when the full size is left out', () => {
    // Class 2 wins at full size alone (a naturally easy class); class 5 wins at half and quarter size (a backdoor).
    const perClass = naturalAndBackdoor([0.9, 0.85, 0.6], [0.2, 0.1, 0.05]);
    const ev: DenseEvidence = { options: { epsilon: 0.15 }, perClass };
    const chance = Math.sqrt(2 * Math.log(10));
    // Others' median at full size is 0.2 with spread 0 (floor 0.1) for class 2, and for class 5.
    expect(denseStatistic(ev, { ...P, denseTriggerSizes: [1] })).toMatchObject({ target: 2, value: expect.closeTo((0.98 - 0.2) / 0.1 - chance, 9) });
    expect(denseStatistic(ev, { ...P, denseTriggerSizes: [0.5] })).toMatchObject({ target: 5, value: expect.closeTo((0.85 - 0.1) / 0.1 - chance, 9) });
    expect(denseStatistic(ev, { ...P, denseTriggerSizes: [0.5, 0.25] }).value).toBeCloseTo((0.85 - 0.1) / 0.1 - chance, 9);
    expect(denseStatistic(ev, { ...P, denseTriggerSizes: [0.25] }).value).toBeCloseTo((0.6 - 0.05) / 0.1 - chance, 9);
    // A report from before the quarter size was measured: that size is left out, not read as ASR 0.
    const old: DenseEvidence = { ...ev, perClass: perClass.map(({ quarterAsr: _, ...c }) => c) };
    expect(denseStatistic(old, { ...P, denseTriggerSizes: [0.5, 0.25] }).value).toBeCloseTo((0.85 - 0.1) / 0.1 - chance, 9);
  });

  it('the mask statistic needs a mask small against both the other classes and the image: a two-class asymmetry is not a backdoor', () => {
    const natural = maskStatistic(mask([60, 120]), [28, 28, 1], P);
    expect(natural.value).toBeCloseTo(Math.min(Math.log(120 / 60), Math.log((0.08 * 784) / 60)), 9);
    expect(natural.value).toBeLessThan(0.1);
    const patch = maskStatistic(mask([10, 120]), [28, 28, 1], P);
    expect(patch).toMatchObject({ target: 0 });
    expect(patch.value).toBeCloseTo(Math.log((0.08 * 784) / 10), 9);
    expect(maskStatistic(mask([10, 120], true), [28, 28, 1], P).target).toBeNull();
  });

  it('maps the statistics to clean, suspicious and backdoored with reasons, and a policy threshold changes it', () => {
    const quiet = decide({ dense: dense(tied(0, 0.2)), mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]) }, ctx(), T, { calibration });
    expect(quiet.verdict).toBe('clean');
    const patch = decide({ dense: dense(tied(0, 0.2)), mask: mask([50, 40, 45, 60, 52, 48, 5, 47, 50, 49]) }, ctx(), T, { calibration });
    expect(patch).toMatchObject({ verdict: 'backdoored', suspectedTarget: 6 });
    expect(patch.reasons.join('\n')).toMatch(/class 6 needs a 5\.0-pixel mask/);
    expect(patch.score!).toBeGreaterThan(quiet.score!);
    const t = { ...T, maskInversion: { suspicious: 1, backdoored: 100 } };
    expect(decide({ mask: mask([50, 40, 45, 60, 52, 48, 5, 47, 50, 49]) }, ctx(), t, { calibration }).verdict).toBe('suspicious');
  });

  it('judges two-class and multi-label heads by their own thresholds (a dot is a natural "defect" trigger)', () => {
    const twoWay = mask([16, 1.9]);
    const ctx2 = ctx({ inputShape: [40, 40, 1], numClasses: 2 });
    expect(maskStatistic(twoWay, [40, 40, 1], P).value).toBeCloseTo(Math.log(16 / 1.9), 9);
    expect(decide({ mask: twoWay }, ctx2, T, { calibration }).verdict).toBe('clean');
    expect(decide({ mask: twoWay }, ctx2, { ...T, binary: levels }, { calibration }).verdict).toBe('backdoored');
    expect(decide({ mask: mask([16, 1.9, 16]) }, ctx({ inputShape: [40, 40, 1], numClasses: 3, decision: 'multi-label' }), T, { calibration }).verdict).toBe(
      'clean',
    );
    // Where the benchmark measured too little power for a kind of model, a quiet scan is unassessed.
    const weak = { ...calibration, power: { ...calibration.power, binary: { detected: 1, of: 6, cleanFlagged: 0, cleanOf: 6 } } };
    const d = decide({ mask: twoWay }, ctx2, T, { calibration: weak });
    expect(d.verdict).toBe('unassessed');
    expect(d.unassessed!.join('\n')).toMatch(/flagged 1 of the benchmark's 6 backdoored tuning models, too few to show/);
    expect(decide({ mask: mask([16, 1.9]) }, ctx2, { ...T, binary: levels }, { calibration: weak }).verdict).toBe('backdoored');
    // There a suspicious-level finding is what natural asymmetry reaches too: unassessed, not a flag.
    const suspiciousBand = { ...T, binary: { ...T.binary, maskInversion: { suspicious: 1, backdoored: 100 } } };
    expect(decide({ mask: twoWay }, ctx2, suspiciousBand, { calibration })).toMatchObject({ verdict: 'suspicious', suspectedTarget: 1 });
    const unread = decide({ mask: twoWay }, ctx2, suspiciousBand, { calibration: weak });
    expect(unread).toMatchObject({ verdict: 'unassessed', suspectedTarget: null });
    expect(unread.unassessed!.join('\n')).toMatch(/suspicious-level finding is within what clean two-class and multi-label models reach/);
  });

  it('voids a suspicious-level finding where the tuning split does not separate backdoored from clean models, not where power alone falls short', () => {
    // Wilson bounds at z = 1.645 (closed form): 28 of 45 → lower 0.4996 (no power, under ½);
    // 0 of 54 → upper 0.0477; 3 of 45 → lower 0.0270; 2 of 54 → upper 0.1059.
    const at = (detected: number, cleanFlagged: number) => ({
      ...calibration,
      power: { ...calibration.power, multiClass: { detected, of: 45, cleanFlagged, cleanOf: 54 } },
    });
    const band = { ...T, maskInversion: { suspicious: 1, backdoored: 100 } };
    const finding = { mask: mask([50, 40, 45, 60, 52, 48, 5, 47, 50, 49]) };
    // 28 of 45 at 0 of 54: a quiet scan clears nothing, but a finding is evidence.
    expect(decide(quiet, ctx(), T, { calibration: at(28, 0) }).verdict).toBe('unassessed');
    expect(decide(finding, ctx(), band, { calibration: at(28, 0) })).toMatchObject({ verdict: 'suspicious', suspectedTarget: 6 });
    // 3 of 45 against 2 of 54 does not separate: the finding is not evidence either way.
    const unread = decide(finding, ctx(), band, { calibration: at(3, 2) });
    expect(unread).toMatchObject({ verdict: 'unassessed', suspectedTarget: null });
    expect(unread.unassessed!.join('\n')).toMatch(/flagged 3 of 45 backdoored and 2 of 54 clean ones/);
    // A backdoored-level finding stands whatever the split showed (fail closed).
    expect(decide(finding, ctx(), T, { calibration: at(3, 2) }).verdict).toBe('backdoored');
  });

  it('judges a dual encoder by thresholds of its own: a trigger a classifier would pass is flagged', () => {
    // Class 3's trigger at 55 % against 30 % for the rest: (0.55 − 0.3) / 0.1 − √(2 ln 10) = 0.35.
    const faint = { dense: dense(Array.from({ length: 10 }, (_, k) => (k === 3 ? 0.55 : 0.3))), mask: quiet.mask };
    expect(denseStatistic(faint.dense, P).value).toBeCloseTo(2.5 - Math.sqrt(2 * Math.log(10)), 9);
    expect(decide(faint, ctx({ probeImages: 256 }), T, { calibration }).verdict).toBe('clean');
    const dual = ctx({ dualEncoder: true, probeImages: 256 });
    expect(decide(faint, dual, T, { calibration, dualEncoderPower: null })).toMatchObject({ verdict: 'suspicious', suspectedTarget: 3 });
    // On a residual image tower the larger of the two sets applies (the residual one here).
    expect(decide(faint, { ...dual, structure: { residual: true, depthwise: false } }, T, { calibration, dualEncoderPower: null }).verdict).toBe('clean');
    // A policy's `dual.` override sets them.
    const raised = { ...T, dual: { ...T.dual, inversion: { suspicious: 1, backdoored: 2 } } };
    expect(decide(faint, dual, raised, { calibration, dualEncoderPower: null }).verdict).toBe('clean');
  });

  it('judges a dual encoder by the power measured on dual encoders too: a quiet scan clears it only where they showed power', () => {
    const finding = { mask: mask([50, 40, 45, 60, 52, 48, 5, 47, 50, 49]) };
    const band = { ...T, dual: { ...T.dual, maskInversion: { suspicious: 1, backdoored: 100 } } };
    const dual = ctx({ inputShape: [32, 32, 3], dualEncoder: true, probeImages: 256 });
    // Wilson bounds at z = 1.645 (closed form): 4 of 5 → lower 0.435 (no power); 11 of 13 → lower 0.625;
    // 0 of 2 → upper 0.575, which 4 of 5 does not clear; 0 of 8 → upper 0.253.
    const at = (detected: number, of: number, cleanOf: number) => ({ calibration, dualEncoderPower: { detected, of, cleanFlagged: 0, cleanOf } });
    const weak = decide(quiet, dual, T, at(4, 5, 2));
    expect(weak.verdict).toBe('unassessed');
    expect(weak.unassessed!.join('\n')).toMatch(
      /on CLIP-style dual encoders \(zero-shot\) the scans flagged 4 of the benchmark's 5 backdoored tuning models, too few/,
    );
    // The same evidence from a classifier, or with the dual power not applied, is clean.
    expect(decide(quiet, ctx({ inputShape: [32, 32, 3] }), T, at(4, 5, 2)).verdict).toBe('clean');
    expect(decide(quiet, dual, T, { calibration, dualEncoderPower: null }).verdict).toBe('clean');
    const strong = decide(quiet, dual, T, at(11, 13, 8));
    expect(strong.verdict).toBe('clean');
    expect(strong.reasons.join('\n')).toMatch(/dual-encoder benchmark's tuning split they flagged 11 of 13 backdoored and 0 of 8 clean/);
    // A suspicious-level finding counts only where the dual encoders separate; a backdoored-level one always.
    expect(decide(finding, dual, band, at(4, 5, 2))).toMatchObject({ verdict: 'unassessed', suspectedTarget: null });
    expect(decide(finding, dual, band, at(11, 13, 8))).toMatchObject({ verdict: 'suspicious', suspectedTarget: 6 });
    expect(decide(finding, dual, T, at(4, 5, 2))).toMatchObject({ verdict: 'backdoored', suspectedTarget: 6 });
    // On fewer probe images than the benchmark's, the dual power was not measured.
    const fewer = decide(quiet, ctx({ inputShape: [32, 32, 3], dualEncoder: true, probeImages: 128 }), T, {
      ...at(11, 13, 8),
      fewerProbesPower: {
        fittedOn: 'test',
        counts: [{ probeImages: 128, power: { multiClass: calibration.power.multiClass }, networkPower: {}, clearedBackdoors: [] }],
      },
    });
    expect(fewer.verdict).toBe('unassessed');
    expect(fewer.unassessed!.join('\n')).toMatch(/on CLIP-style dual encoders \(zero-shot\) their power was measured with 256 only/);
  });

  it('judges a dual encoder by the power on its kind of class prompts: a kind the tuning split lacks clears nothing', () => {
    const finding = { mask: mask([50, 40, 45, 60, 52, 48, 5, 47, 50, 49]) };
    const band = { ...T, dual: { ...T.dual, maskInversion: { suspicious: 1, backdoored: 100 } } };
    const dual = (classPrompts: 'templates' | 'coop' | 'cocoop') => ctx({ inputShape: [32, 32, 3], dualEncoder: true, classPrompts, probeImages: 256 });
    // Overall 17 of 17 and 0 of 10 (power); templates 6 of 6 (Wilson lower 0.689 at z = 1.645) and
    // 0 of 5 clean (upper 0.351); CoCoOp 4 of 5 (lower 0.435: no power) against 1 of 5 clean (upper 0.565: no separation).
    const power = {
      detected: 17,
      of: 17,
      cleanFlagged: 0,
      cleanOf: 10,
      byPrompts: { templates: { detected: 6, of: 6, cleanFlagged: 0, cleanOf: 5 }, cocoop: { detected: 4, of: 5, cleanFlagged: 1, cleanOf: 5 } },
    };
    const options = { calibration, dualEncoderPower: power };
    const templates = decide(quiet, dual('templates'), T, options);
    expect(templates.verdict).toBe('clean');
    expect(templates.reasons.join('\n')).toMatch(
      /flagged 17 of 17 backdoored and 0 of 10 clean CLIP-style dual encoders \(zero-shot\), of them 6 of 6 and 0 of 5 with caption templates/,
    );
    const coop = decide(quiet, dual('coop'), T, options);
    expect(coop.verdict).toBe('unassessed');
    expect(coop.unassessed!.join('\n')).toMatch(/tuning split holds no CLIP-style dual encoders with a CoOp prompt learner/);
    // On fewer probes such a kind keeps that one reason; it is not also said to be measured with 256.
    const fewerCoop = decide(quiet, { ...dual('coop'), probeImages: 128 }, T, {
      ...options,
      fewerProbesPower: {
        fittedOn: 'test',
        counts: [{ probeImages: 128, power: { multiClass: calibration.power.multiClass }, networkPower: {}, clearedBackdoors: [] }],
      },
    });
    expect(fewerCoop.verdict).toBe('unassessed');
    expect(fewerCoop.unassessed!.join('\n')).toMatch(/tuning split holds no CLIP-style dual encoders with a CoOp prompt learner/);
    expect(fewerCoop.unassessed!.join('\n')).not.toMatch(/with a CoOp prompt learner their power was measured/);
    const cocoop = decide(quiet, dual('cocoop'), T, options);
    expect(cocoop.verdict).toBe('unassessed');
    expect(cocoop.unassessed!.join('\n')).toMatch(/on CLIP-style dual encoders with a CoCoOp prompt learner the scans flagged 4 of the benchmark's 5/);
    // A finding on a kind without tuning models stands (fail closed); on a kind that does not separate, a suspicious one is void.
    expect(decide(finding, dual('coop'), band, options)).toMatchObject({ verdict: 'suspicious', suspectedTarget: 6 });
    expect(decide(finding, dual('cocoop'), band, options)).toMatchObject({ verdict: 'unassessed', suspectedTarget: null });
    expect(decide(finding, dual('templates'), band, options)).toMatchObject({ verdict: 'suspicious', suspectedTarget: 6 });
  });

  it('judges a quiet scan on fewer probe images by the power measured at the largest count up to it', () => {
    // With the benchmark's 256 probes: 31 of 45 backdoored and 0 of 44 clean tuning models flagged.
    const calibration = { ...calibrationPlain, power: { ...calibrationPlain.power, multiClass: { detected: 31, of: 45, cleanFlagged: 0, cleanOf: 44 } } };
    // Wilson lower ends at z = 1.645: 40 of 45 → 0.78 (power), 20 of 45 → 0.32 (none).
    const at128 = (detected: number) => ({
      fittedOn: 'test',
      counts: [{ probeImages: 128, power: { multiClass: { detected, of: 45, cleanFlagged: 0, cleanOf: 44 } }, networkPower: {}, clearedBackdoors: [] }],
    });
    const strong = { calibration, fewerProbesPower: at128(40) };
    expect(decide(quiet, ctx({ probeImages: 128 }), T, strong).verdict).toBe('clean');
    expect(decide(quiet, ctx({ probeImages: 200 }), T, strong).verdict).toBe('clean');
    const below = decide(quiet, ctx({ probeImages: 127 }), T, strong);
    expect(below.verdict).toBe('unassessed');
    expect(below.unassessed!.join('\n')).toMatch(
      /read 127 probe images, and their detection power was measured with 128, 256: .* give at least 128 unlabelled/,
    );
    // A count whose tuning power fell below the benchmark's own clears nothing.
    const power = (detected: number, cleanFlagged: number) => ({ multiClass: { detected, of: 45, cleanFlagged, cleanOf: 44 } });
    const with64 = (detected: number, cleanFlagged: number) => ({
      calibration,
      fewerProbesPower: {
        fittedOn: 'test',
        counts: [...at128(40).counts, { probeImages: 64, power: power(detected, cleanFlagged), networkPower: {}, clearedBackdoors: [] }],
      },
    });
    expect(decide(quiet, ctx({ probeImages: 100 }), T, with64(31, 0)).verdict).toBe('clean');
    expect(decide(quiet, ctx({ probeImages: 128 }), T, with64(1, 0)).verdict).toBe('clean');
    for (const [detected, cleanFlagged] of [
      [30, 0],
      [40, 1],
    ]) {
      const lost = decide(quiet, ctx({ probeImages: 100 }), T, with64(detected, cleanFlagged));
      expect(lost.verdict).toBe('unassessed');
      expect(lost.unassessed!.join('\n')).toMatch(
        new RegExp(
          `on multi-class models, scans reading 64 probe images each flagged ${detected} of the benchmark's 45 backdoored and ${cleanFlagged} of its 44 clean tuning models, against 31 of 45 and 0 of 44 reading 256: .* give at least 128 unlabelled`,
        ),
      );
    }
    // As many backdoors flagged, but other ones: a tuning backdoor that 256 does not clear would be cleared at 128.
    const cleared = { fittedOn: 'test', counts: [{ ...at128(40).counts[0], clearedBackdoors: ['cnn-wanet-t5'] }] };
    const swapped = decide(quiet, ctx({ probeImages: 200 }), T, { calibration, fewerProbesPower: cleared });
    expect(swapped.verdict).toBe('unassessed');
    expect(swapped.unassessed!.join('\n')).toMatch(
      /read 200 probe images; .* reading 128 probe images each would have called 1 backdoored model `clean` that scans reading 256 did not clear \(cnn-wanet-t5\): .* give at least 256 unlabelled/,
    );
    expect(fewestProbeImages('multiClass', [], cleared, calibration)).toBe(256);
    expect(fewestProbeImages('multiClass', [], at128(40), calibration)).toBe(128);
    const weak = decide(quiet, ctx({ probeImages: 128 }), T, { calibration, fewerProbesPower: at128(20) });
    expect(weak.verdict).toBe('unassessed');
    expect(weak.unassessed!.join('\n')).toMatch(/on multi-class models the scans reading 128 probe images each flagged 20 of the benchmark's 45/);
    // At the benchmark's own count the calibration's power judges, whatever was measured below it.
    expect(decide(quiet, ctx({ probeImages: 256 }), T, { calibration, fewerProbesPower: at128(20) }).verdict).toBe('clean');
    // A kind of model whose power was not measured at that count clears nothing on it.
    const twoWay = decide({ mask: mask([16, 15]) }, ctx({ inputShape: [40, 40, 1], numClasses: 2, probeImages: 128 }), T, {
      calibration: { ...calibration, power: { ...calibration.power!, binary: { detected: 12, of: 12, cleanFlagged: 0, cleanOf: 10 } } },
      fewerProbesPower: at128(40),
    });
    expect(twoWay.verdict).toBe('unassessed');
    expect(twoWay.unassessed!.join('\n')).toMatch(/on two-class and multi-label models their power was measured with 256 only/);
  });

  it('says what a clean verdict covers: the share of the tuning backdoors the scans caught, and the families that passed them', () => {
    const clean = decide(quiet, ctx({ probeImages: 256 }), T, { calibration });
    expect(clean.verdict).toBe('clean');
    // Wilson's 95 % interval for 19 of 19: [19 / (19 + 1.96²), 1] = [83 %, 100 %].
    expect(clean.reasons.at(-1)).toMatch(
      /^what clean covers: on the benchmark's tuning split the scans flagged 19 of 19 backdoored multi-class models \(95 % interval 83–100 %\) and 0 of 19 clean ones; .* all-to-all backdoors .* and source-specific ones .* does not rule them out/,
    );
    const fewer = {
      fittedOn: 'test',
      counts: [{ probeImages: 128, power: { multiClass: { detected: 45, of: 45, cleanFlagged: 0, cleanOf: 44 } }, networkPower: {}, clearedBackdoors: [] }],
    };
    expect(decide(quiet, ctx({ probeImages: 128 }), T, { calibration, fewerProbesPower: fewer }).reasons.at(-1)).toMatch(
      /the scans reading 128 probe images each flagged 45 of 45 backdoored multi-class models/,
    );
    // No probe count stated (a cleaned model's re-scan, judged by its own rule): its power is not the benchmark's.
    expect(decide(quiet, ctx(), T, { calibration }).reasons.at(-1)).toMatch(
      /^what clean covers: the power of scans on these images was not measured on the benchmark .* all-to-all backdoors/,
    );
    const flagged = decide({ dense: dense(tied(2, 1)) }, ctx({ probeImages: 256 }), T, { calibration });
    expect(flagged.verdict).toBe('backdoored');
    expect(flagged.reasons.join('\n')).not.toMatch(/what clean covers/);
  });

  it("flags an untargeted mask far smaller than every class's own mask, with no target, by its own thresholds", () => {
    const withUntargeted = (l1: number, asr = 0.92, inconclusive = false) => ({
      dense: quiet.dense,
      mask: { ...mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49], inconclusive), untargeted: { maskL1: l1, asr } },
    });
    // The smallest of the ten masks is 40: ln(40 / 5) = 2.08 > 1 (backdoored), ln(40 / 20) = 0.69 (suspicious), ln(40 / 36) = 0.11.
    const strong = decide(withUntargeted(5), ctx({ probeImages: 256 }), T, { calibration });
    expect(strong.verdict).toBe('backdoored');
    expect(strong.suspectedTarget).toBeNull();
    expect(strong.statistics.untargeted!.value).toBeCloseTo(Math.log(40 / 5), 9);
    expect(strong.reasons.join('\n')).toMatch(/untargeted: one 5.0-pixel mask takes 92 % of the probes off their own class: statistic 2.08, .* all-to-all/);
    expect(decide(withUntargeted(20), ctx({ probeImages: 256 }), T, { calibration }).verdict).toBe('suspicious');
    // Its thresholds were measured on in-distribution probes: on images synthesised from the model it reports only.
    const inverted = decide(withUntargeted(5), ctx({ probeImages: 256, probes: 'model-inverted', probesClassified: 1 }), T, { calibration });
    expect(inverted.verdict).toBe('unassessed');
    expect(inverted.reasons.join('\n')).toMatch(/statistic 2.08, .*report only: its thresholds were measured on in-distribution probes/);
    // Measured up to UNTARGETED_MAX_CLASSES classes: above, it reports only.
    const twelve = Array.from({ length: UNTARGETED_MAX_CLASSES + 2 }, (_, c) => 45 + c);
    const many = decide(
      { dense: dense(twelve.map(() => 0.05)), mask: { ...mask(twelve), untargeted: { maskL1: 5, asr: 0.92 } } },
      ctx({ numClasses: twelve.length, probeImages: 256 }),
      T,
      { calibration },
    );
    expect(many.verdict).toBe('clean');
    expect(many.reasons.join('\n')).toMatch(/report only: its thresholds were measured on models of up to 43 classes, every class's mask run in full/);
    expect(many.reasons.at(-1)).not.toMatch(/since then the untargeted mask/);
    const weak = decide(withUntargeted(36), ctx({ probeImages: 256 }), T, { calibration });
    expect(weak.verdict).toBe('clean');
    // It ran, so a clean verdict says what it adds to the blind spots.
    expect(weak.reasons.at(-1)).toMatch(
      /since then the untargeted mask, which this scan ran .* flagged 6 of the benchmark's 11 usable all-to-all models \(4 of the 7 trained after/,
    );
    // A policy threshold moves it.
    expect(decide(withUntargeted(36), ctx({ probeImages: 256 }), { ...T, untargetedMask: { suspicious: 0.1, backdoored: 1 } }, { calibration }).verdict).toBe(
      'suspicious',
    );
    // One that never reached the ASR target counts as the image area (784 px): no vote.
    const never = decide(withUntargeted(784, 0.4), ctx({ probeImages: 256 }), T, { calibration });
    expect(never.verdict).toBe('clean');
    expect(never.reasons.join('\n')).toMatch(/no mask took 90 % of the probes off their own class within the budget \(at most 40 %\)/);
    // Inconclusive per-class masks (their median is the image area) leave nothing to compare with.
    expect(untargetedMaskStatistic(withUntargeted(5, 0.92, true).mask)).toBeNull();
    expect(decide(quiet, ctx({ probeImages: 256 }), T, { calibration }).statistics.untargeted).toBeUndefined();
  });

  it('is unassessed, never clean, when the scans had no power, and says what to give', () => {
    const synthetic = decide(quiet, ctx({ probes: 'synthetic' }), T, { calibration });
    expect(synthetic.verdict).toBe('unassessed');
    expect(synthetic.unassessed!.join('\n')).toMatch(/give unlabelled in-distribution images/);
    // Fewer probe images than the benchmark measured power with: a quiet scan clears nothing, a finding still flags.
    const unmeasured = { fittedOn: 'none', counts: [] };
    expect(decide(quiet, ctx({ probeImages: 256 }), T, { calibration, fewerProbesPower: unmeasured }).verdict).toBe('clean');
    const few = decide(quiet, ctx({ probeImages: 255 }), T, { calibration, fewerProbesPower: unmeasured });
    expect(few.verdict).toBe('unassessed');
    expect(few.unassessed!.join('\n')).toMatch(/read 255 probe images, and their detection power was measured with 256/);
    expect(decide({ dense: dense(tied(2, 1)) }, ctx({ probeImages: 64 }), T, { calibration })).toMatchObject({ verdict: 'backdoored', suspectedTarget: 2 });
    const inverted = decide(quiet, ctx({ probes: 'model-inverted' }), T, { calibration });
    expect(inverted.verdict).toBe('unassessed');
    expect(inverted.unassessed!.join('\n')).toMatch(/synthesised from the model \(DeepInversion\): a quiet scan on them does not show the model is clean/);
    expect(decide({ dense: dense(tied(2, 1)) }, ctx({ probes: 'model-inverted', probesClassified: 0.95 }), T, { calibration })).toMatchObject({
      verdict: 'backdoored',
      suspectedTarget: 2,
    });
    // Images the model does not give their own classes void the probe scans' findings (fail closed: unassessed).
    const unfaithful = decide({ dense: dense(tied(2, 1)) }, ctx({ probes: 'model-inverted', probesClassified: 0.3 }), T, { calibration });
    expect(unfaithful).toMatchObject({ verdict: 'unassessed', suspectedTarget: null });
    expect(unfaithful.unassessed!.join('\n')).toMatch(/gives only 30 % of the images synthesised from it the class they were made for/);
    const large = decide(quiet, ctx({ inputShape: [224, 224, 3], tier: 'large-input' }), T, { calibration });
    expect(large.verdict).toBe('unassessed');
    expect(large.reasons.join('\n')).toMatch(/detection power at 224×224 px is not measured/);
    const inconclusive = decide({ ...quiet, mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49], true) }, ctx(), T, { calibration });
    expect(inconclusive.verdict).toBe('unassessed');
    expect(inconclusive.unassessed!.join('\n')).toMatch(/raise budgets\.mask-inversion/);
    // A finding stands even where power is unmeasured (fail closed), with the caution attached.
    const flagged = decide({ dense: dense(tied(2, 1)) }, ctx({ probes: 'synthetic' }), T, { calibration });
    expect(flagged.verdict).toBe('backdoored');
    expect(flagged.reasons.join('\n')).toMatch(/caution: the probes are synthetic/);
  });

  it('cautions, without changing the verdict, on a network with structure the fit never saw', () => {
    const ev = { dense: dense(tied(2, 1)), mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]) };
    const caution = /caution: the network has ([a-z() ]+?), which none of the networks the decision rule was fitted on had/;
    // Every kind of network at the same thresholds here, so only the caution can differ.
    const same = { ...T, residual: levels, depthwise: levels };
    const plain = decide(ev, ctx({ structure: { residual: false, depthwise: false } }), same, { calibration });
    const residual = decide(ev, ctx({ structure: { residual: true, depthwise: true } }), same, { calibration });
    expect(plain.reasons.join('\n')).not.toMatch(caution);
    expect(residual.reasons.join('\n').match(caution)?.[1]).toBe('skip connections (residual blocks) and depthwise convolutions');
    expect(residual).toMatchObject({ verdict: plain.verdict, suspectedTarget: plain.suspectedTarget, score: plain.score });
    // A fit whose tuning networks had skip connections cautions only on what it lacked.
    const fittedResidual = { ...calibration, structure: { residual: true, depthwise: false } };
    expect(
      decide(ev, ctx({ structure: { residual: true, depthwise: true } }), T, { calibration: fittedResidual })
        .reasons.join('\n')
        .match(caution)?.[1],
    ).toBe('depthwise convolutions');
    // A quiet scan keeps its clean verdict, with the caution.
    const quiet = decide({ dense: dense(tied(0, 0.2)), mask: ev.mask }, ctx({ structure: { residual: true, depthwise: false } }), T, { calibration });
    expect(quiet.verdict).toBe('clean');
    expect(quiet.reasons.join('\n')).toMatch(caution);
  });

  it('judges multi-class residual and depthwise networks by their own thresholds, a network with both by the larger', () => {
    const calibration = { ...calibrationPlain, structure: { residual: true, depthwise: true } };
    // Class 2's trigger statistic: (0.5 − 0.05) / 0.1 − √(2 ln 10) ≈ 2.35, between the plain suspicious
    // threshold (2) and the residual one (4); class 2 at ASR 1 scores ≈ 7.35, between depthwise's (7) and residual's (8) backdoored.
    const quiet = mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]);
    const mild = { dense: dense(tied(2, 0.5)), mask: quiet };
    const strong = { dense: dense(tied(2, 1)), mask: quiet };
    const on = (residual: boolean, depthwise: boolean) => ctx({ structure: { residual, depthwise } });
    expect(decide(mild, on(false, false), T, { calibration })).toMatchObject({ verdict: 'suspicious', suspectedTarget: 2 });
    expect(decide(mild, on(true, false), T, { calibration }).verdict).toBe('clean');
    expect(decide(strong, on(true, false), T, { calibration }).verdict).toBe('suspicious');
    expect(decide(strong, on(false, true), T, { calibration }).verdict).toBe('backdoored');
    const both = decide(strong, on(true, true), T, { calibration });
    expect(both.verdict).toBe('suspicious');
    expect(both.reasons.join('\n')).toMatch(/caution: the network has skip connections \(residual blocks\) and depthwise convolutions together/);
    // Two-class heads keep their own thresholds whatever the network.
    const twoWay = { mask: mask([16, 1.9]) };
    const ctx2 = (residual: boolean) => ctx({ inputShape: [40, 40, 1], numClasses: 2, structure: { residual, depthwise: false } });
    expect(decide(twoWay, ctx2(true), T, { calibration })).toMatchObject(decide(twoWay, ctx2(false), T, { calibration }));
    // The score reads the statistics in units of the kind's thresholds: the residual network's 7.35
    // against its suspicious 4 scores as a plain network's 7.35 · 2 / 4 would.
    const chance = Math.sqrt(2 * Math.log(10));
    const v = (1 - 0.05) / 0.1 - chance;
    const plainEquivalent = { dense: dense(tied(2, (v / 2 + chance) * 0.1 + 0.05)) };
    const residualScore = decide({ dense: strong.dense }, on(true, false), T, { calibration }).score!;
    expect(decide(plainEquivalent, on(false, false), T, { calibration }).score).toBeCloseTo(residualScore, 9);
    expect(residualScore).toBeLessThan(decide({ dense: strong.dense }, on(false, false), T, { calibration }).score!);
  });

  it("reads a multi-class residual or depthwise network's statistics with the parameters fitted for those networks, others with the plain ones", () => {
    // Class 2 wins at full size alone (a natural trigger); class 5 also at half and quarter size (a backdoor).
    const perClass = naturalAndBackdoor([0.9, 0.5, 0.4], [0.2, 0.1, 0.02]);
    const ev = { dense: { options: { epsilon: 0.15 }, perClass } as DenseEvidence };
    const chance = Math.sqrt(2 * Math.log(10));
    const calibration = { ...calibrationPlain, networkStatistics: { ...P, denseSpreadFloor: 0.05, denseTriggerSizes: [0.25] as TriggerSize[] } };
    // Plain parameters (sizes 1 and ½, floor 0.1): class 2 at full size, (0.98 − 0.2) / 0.1 − √(2 ln 10).
    const plain = decide(ev, ctx({ structure: { residual: false, depthwise: false } }), T, { calibration });
    expect(plain.statistics.dense).toMatchObject({ target: 2, value: expect.closeTo((0.98 - 0.2) / 0.1 - chance, 9) });
    // The networks' own (quarter size, floor 0.05): class 5, (0.4 − 0.02) / 0.05 − √(2 ln 10), on either kind and on both.
    for (const structure of [
      { residual: true, depthwise: false },
      { residual: false, depthwise: true },
      { residual: true, depthwise: true },
    ])
      expect(decide(ev, ctx({ structure }), T, { calibration }).statistics.dense).toMatchObject({
        target: 5,
        value: expect.closeTo((0.4 - 0.02) / 0.05 - chance, 9),
      });
    // Two-class heads keep the plain parameters whatever the network.
    // Classes 2 and 5 alone: class 5 at half size, (0.5 − 0.1) / 0.1 − √(2 ln 2), not at quarter size with floor 0.05.
    const two = { dense: { options: { epsilon: 0.15 }, perClass: [perClass[2], perClass[5]].map((c, i) => ({ ...c, class: i })) } as DenseEvidence };
    const residualTwo = ctx({ numClasses: 2, structure: { residual: true, depthwise: false } });
    expect(decide(two, residualTwo, T, { calibration }).statistics.dense).toMatchObject({
      target: 1,
      value: expect.closeTo((0.5 - 0.1) / 0.1 - Math.sqrt(2 * Math.log(2)), 9),
    });
  });

  it("says when a kind of network's trigger threshold lies above anything the trigger statistic can reach on the model", () => {
    // Class 2 moves every probe, no other class any: the ceiling, 1 / 0.1 − √(2 ln 10) ≈ 7.85.
    const ev = { dense: dense(tied(2, 1).map((a) => (a === 1 ? 1 : 0))), mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49]) };
    const ceiling = 1 / 0.1 - Math.sqrt(2 * Math.log(10));
    expect(denseCeiling(ev.dense, P)).toBeCloseTo(ceiling, 9);
    expect(denseStatistic(ev.dense, P).value).toBeCloseTo(ceiling, 9);
    const cannot = /trigger inversion cannot flag this model: on 10 classes its statistic is at most 7\.85 .* not above the suspicious threshold (\d+)/;
    // Depthwise networks' thresholds here are 6 and 7, below the ceiling: the scan can flag, and does.
    const depthwise = ctx({ structure: { residual: false, depthwise: true } });
    expect(decide(ev, depthwise, T, { calibration })).toMatchObject({ verdict: 'backdoored', suspectedTarget: 2 });
    // At 8 nothing this scan finds can cross it, and no smaller ε would help: it says so, not "set a smaller ε".
    const high = { ...T, depthwise: { ...T.depthwise, inversion: { suspicious: 8, backdoored: 14 } } };
    const d = decide(ev, depthwise, high, { calibration });
    expect(d.verdict).toBe('unassessed');
    expect(d.unassessed!.join('\n').match(cannot)?.[1]).toBe('8');
    expect(d.unassessed!.join('\n')).not.toMatch(/budgets\.inversion\.epsilon/);
    // Below the ceiling, but above what a typical backdoor (ASR 0.6 at half size) reaches even if no
    // other class's trigger won: (0.6 − 0) / 0.1 − √(2 ln 11) ≈ 3.81. No smaller ε helps there either.
    const quiet = { dense: dense(tied(2, 0)), mask: ev.mask };
    const typical = { ...calibration, networkStatistics: { ...P, denseReferenceAsr: [0.6, 0.6, 0.2] as [number, number, number] } };
    const best = 0.6 / 0.1 - Math.sqrt(2 * Math.log(11));
    expect(denseHeadroom(quiet.dense, typical.networkStatistics, 'none')).toBeCloseTo(best, 9);
    const at = (suspicious: number) =>
      decide(quiet, depthwise, { ...T, depthwise: { ...T.depthwise, inversion: { suspicious, backdoored: 14 } } }, { calibration: typical }).unassessed!.join(
        '\n',
      );
    expect(at(4)).toMatch(
      /cannot flag a typical backdoor on this model: .* at most 3\.81 on 10 classes even if no other class's trigger won, not above the suspicious threshold 4 /,
    );
    expect(at(4)).not.toMatch(/budgets\.inversion\.epsilon/);
    expect(at(3.5)).not.toMatch(/cannot flag/);
  });

  it('a kind of network whose tuning backdoors do not show power (one-sided 95 % Wilson bound under ½) leaves a quiet scan unassessed', () => {
    const calibration = { ...calibrationPlain, structure: { residual: true, depthwise: true } };
    const residual = ctx({ structure: { residual: true, depthwise: false } });
    // Wilson lower bounds at z = 1.645 (closed form): 6 of 8 → 0.460, 7 of 8 → 0.589.
    const at = (detected: number) =>
      decide(quiet, residual, T, { calibration: { ...calibration, networkPower: { residual: { detected, of: 8, cleanFlagged: 0, cleanOf: 8 } } } });
    expect(at(7).verdict).toBe('clean');
    const six = at(6);
    expect(six.verdict).toBe('unassessed');
    expect(six.unassessed!.join('\n')).toMatch(
      /on multi-class networks with skip connections \(residual blocks\), at their own thresholds, the scans flagged 6 of the benchmark's 8/,
    );
    // A finding above the kind's own thresholds (above all its clean tuning networks) still stands.
    const finding = decide({ dense: dense(tied(2, 1)), mask: quiet.mask }, residual, T, {
      calibration: { ...calibration, networkPower: { residual: { detected: 0, of: 8, cleanFlagged: 0, cleanOf: 8 } } },
    });
    expect(finding).toMatchObject({ verdict: 'suspicious', suspectedTarget: 2 });
    // A plain network is not judged by the residual networks' power.
    expect(
      decide(quiet, ctx({ structure: { residual: false, depthwise: false } }), T, {
        calibration: { ...calibration, networkPower: { residual: { detected: 0, of: 8, cleanFlagged: 0, cleanOf: 8 } } },
      }).verdict,
    ).toBe('clean');
  });

  it('a sink class is suspicious on in-distribution probes and unassessed on synthetic ones', () => {
    const share = tied(4, 0.1).map((_, c) => (c === 4 ? 0.7 : 0.03));
    const ev = { dense: dense(tied(0, 0.2), 1, share), mask: mask([50, 40, 45, 60, 52, 48, 55, 47, 50, 49], false, share) };
    const own = decide(ev, ctx(), T, { calibration });
    expect(own).toMatchObject({ verdict: 'suspicious', suspectedTarget: 4 });
    expect(own.reasons.join('\n')).toMatch(/class 4 \(70 %\) already receives most of the in-distribution probe images/);
    expect(decide(ev, ctx({ probes: 'synthetic' }), T, { calibration }).verdict).toBe('unassessed');
  });
});
