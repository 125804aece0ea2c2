// Many classes (issue 20): a scan of some classes gives each the result a scan of all classes
// gives it (the schedule and, later, shards rest on that), the schedule keeps a planted target
// among the classes it scans in full, and screened classes neither vote nor enter the null.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CALIBRATION } from '../../src/core/calibration.js';
import { decide, maskStatistic, maxMarginStatistic, type MaskEvidence } from '../../src/core/verdict.js';
import { DEFAULT_BUDGETS } from '../../src/core/policy.js';
import { loadProbeImages } from '../../src/data/sources.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { LayersModelAdapter } from '../../src/model/adapter.js';
import { DEFAULT_GATE_JSON } from '../../src/model/gate-json.js';
import { loadModel } from '../../src/model/load.js';
import { reconstructTriggers } from '../../src/scan/inversion.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { maximumMargins } from '../../src/scan/max-margin.js';
import { SCANS } from '../../src/scan/registry.js';
import {
  DEFAULT_SCHEDULE,
  EmptyShare,
  fullBudgetClasses,
  usefulShards,
  mergeScreened,
  referenceClasses,
  runScheduled,
  shardShare,
} from '../../src/scan/schedule.js';
import { UNLIMITED_ROWS } from '../../src/scan/batching.js';
import { EXAMPLES, PROBE } from '../helpers/run.js';

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

describe('class schedule', () => {
  it('draws reference classes reproducibly, adds the top candidates, and marks what was only screened', () => {
    const ref = referenceClasses(100, 12, 7);
    expect(ref).toEqual(referenceClasses(100, 12, 7));
    expect(new Set(ref).size).toBe(12);
    expect(ref.every((c) => c >= 0 && c < 100)).toBe(true);
    expect(referenceClasses(100, 12, 8)).not.toEqual(ref);
    const outside = [...Array(100).keys()].filter((c) => !ref.includes(c));
    const full = fullBudgetClasses(100, { allClassesUpTo: 48, reference: 12, candidates: 2 }, 7, [outside[5], outside[9], outside[1]]);
    expect(full).toEqual([...ref, outside[5], outside[9]].sort((a, b) => a - b));
    const merged = mergeScreened(
      [{ class: 2, v: 1 }],
      [0, 1, 2].map((c) => ({ class: c, v: 0 })),
    );
    expect(merged).toEqual([
      { class: 0, v: 0, screened: true },
      { class: 1, v: 0, screened: true },
      { class: 2, v: 1 },
    ]);
  });

  it('gives a class scanned with a few others the result a scan of every class gives it', async () => {
    const { model } = await loadModel(EXAMPLES.blendedCnn);
    const probe = loadProbeImages(PROBE, { shape: model.inputShape, maxImages: 32, seed: 0 });
    const some = [1, 4, 8];
    const all = await reconstructTriggers(model, probe, { batchSize: 16 });
    const part = await reconstructTriggers(model, probe, { batchSize: 16, classes: some });
    expect(part.perClass.map((p) => p.class)).toEqual(some);
    for (const p of part.perClass) {
      const w = all.perClass[p.class];
      expect(p.asr).toBe(w.asr);
      expect(p.loss).toBeCloseTo(w.loss, 4);
    }
    const mAll = await reconstructMasks(model, probe, { epochs: 3, maxImages: 16, batchSize: 8 });
    const mPart = await reconstructMasks(model, probe, { epochs: 3, maxImages: 16, batchSize: 8, classes: some });
    const masked = mPart.perClass.filter((p) => !p.screened);
    expect(masked.map((p) => p.class)).toEqual(some);
    for (const p of masked) expect(p.maskL1).toBeCloseTo(mAll.perClass[p.class].maskL1, 2);
    // The classes it did not run are listed, marked, with the share of probes they take.
    expect(mPart.perClass.filter((p) => p.screened).map((p) => p.share)).toEqual(mAll.perClass.filter((p) => !some.includes(p.class)).map((p) => p.share));
    const xAll = await maximumMargins(model, { inits: 3, steps: 10 });
    const xPart = await maximumMargins(model, { inits: 3, steps: 10, classes: some });
    for (const p of xPart.perClass) expect(p.maxMargin).toBeCloseTo(xAll.perClass[p.class].maxMargin, 3);
    model.dispose();
  }, 120_000);

  it('keeps a planted target among the classes scanned in full on a 40-class model, and the verdict finds it', async () => {
    // A linear 40-class model whose class 29 a bright corner patch drives hard (a planted
    // patch backdoor); the others are random, small weights.
    const K = 40;
    const target = 29;
    const kernel = tf.randomNormal([16, K], 0, 0.3, 'float32', 11).arraySync() as number[][];
    for (const px of [0, 1, 4, 5]) kernel[px][target] = 12;
    const m = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: K, weights: [tf.tensor2d(kernel), tf.zeros([K])] })],
    });
    const model = new LayersModelAdapter(m, DEFAULT_GATE_JSON, 'planted');
    const schedule = { allClassesUpTo: 10, reference: 8, candidates: 2 };
    const budgets = { ...DEFAULT_BUDGETS['small-input'], tier: 'small-input' as const, schedule };
    const empty = { x: new Float32Array(0), count: 0, height: 4, width: 4, channels: 1, source: 'none' };
    const r = await SCANS['max-margin'].run({ model, probe: empty, budgets, rows: UNLIMITED_ROWS, seed: 3, progress: () => () => {} });
    const full = r.perClass.filter((c) => !c.screened).map((c) => c.class);
    expect(r.perClass).toHaveLength(K);
    expect(full.length).toBeLessThanOrEqual(schedule.reference + schedule.candidates);
    expect(full).toContain(target);
    const d = decide({ maxMargin: r }, { inputShape: [4, 4, 1], numClasses: K, probes: 'none', tier: 'small-input' });
    expect(d.verdict).toBe('backdoored');
    expect(d.suspectedTarget).toBe(target);
    // Screened classes carry no statistic.
    expect(maxMarginStatistic(r)!.perClass!.filter((v) => v === null)).toHaveLength(K - full.length);
  });

  it('neither votes a screened class nor counts it in the null', () => {
    const cls = (c: number, maskL1: number, screened = false) => ({ class: c, maskL1, asr: 1, share: 0.02, testable: true, ...(screened ? { screened } : {}) });
    // Class 0 was only screened: its tiny mask must not vote; class 3 is judged against classes 1–5 only.
    const m: MaskEvidence = {
      options: { asrTarget: 0.9 },
      perClass: [cls(0, 0.5, true), cls(1, 100), cls(2, 100), cls(3, 10), cls(4, 100), cls(5, 100), cls(6, 1, true), cls(7, 1, true)],
      classesReached: 5,
      inconclusive: false,
    };
    const s = maskStatistic(m, [28, 28, 1], { ...CALIBRATION.statistics, maskAreaShare: 1 });
    expect(s.target).toBe(3);
    // Against the judged classes' median (100), not one pulled down by the screened ones' 1s.
    expect(s.value).toBeCloseTo(Math.log(100 / 10), 6);
    expect(s.perClass![0]).toBeNull();
  });
});

describe('shards of the schedule', () => {
  // A scan that records what it was asked to run; its "result" is the classes it ran.
  const fakeScan = (log: string[], K: number) => ({
    screen: async () => {
      log.push('screen');
      return [...Array(K).keys()].reverse();
    },
    rank: (screen: number[]) => screen,
    run: async (classes?: readonly number[]) => [...(classes ?? [...Array(K).keys()])],
    merge: (full: number[]) => full,
  });

  it("splits every class, or the schedule's full-budget classes, into disjoint shares that cover them", async () => {
    for (const K of [10, 100]) {
      const whole = await runScheduled(K, DEFAULT_SCHEDULE, 3, fakeScan([], K));
      const plans: Array<{ all: readonly number[]; ran: readonly number[] }> = [];
      const shares: number[][] = [];
      for (const index of [1, 2, 3]) {
        const log: string[] = [];
        shares.push(await runScheduled(K, DEFAULT_SCHEDULE, 3, fakeScan(log, K), { index, count: 3, planned: (all, r) => plans.push({ all, ran: r }) }));
        // Under the schedule every shard screens every class itself, so all plan the same classes.
        expect(log).toEqual(K > DEFAULT_SCHEDULE.allClassesUpTo ? ['screen'] : []);
      }
      expect(shares.flat().sort((a, b) => a - b)).toEqual([...whole].sort((a, b) => a - b));
      expect(new Set(shares.flat()).size).toBe(shares.flat().length);
      expect(plans.every((p) => JSON.stringify(p.all) === JSON.stringify(plans[0].all))).toBe(true);
      expect(Math.max(...shares.map((s) => s.length)) - Math.min(...shares.map((s) => s.length))).toBeLessThanOrEqual(1);
    }
    expect(shardShare([3, 5, 8, 13, 21], { index: 2, count: 2 })).toEqual([5, 13]);
  });

  it("counts the shards that get work: every class, or the schedule's full-budget ones", async () => {
    expect(usefulShards(2, DEFAULT_SCHEDULE)).toBe(2);
    expect(usefulShards(43, DEFAULT_SCHEDULE)).toBe(43);
    // Above the threshold at least the 12 reference classes run in full, whatever the screen ranks.
    expect(usefulShards(100, DEFAULT_SCHEDULE)).toBe(12);
    const plans: number[] = [];
    for (let index = 1; index <= 12; index++)
      await runScheduled(100, DEFAULT_SCHEDULE, 9, fakeScan([], 100), { index, count: 12, planned: (_, ran) => plans.push(ran.length) });
    expect(plans.every((n) => n > 0)).toBe(true);
  });

  it('runs nothing in a shard left with no class, after planning none for it', async () => {
    const plans: number[][] = [];
    await expect(runScheduled(10, DEFAULT_SCHEDULE, 0, fakeScan([], 10), { index: 11, count: 11, planned: (_, ran) => plans.push([...ran]) })).rejects.toThrow(
      EmptyShare,
    );
    expect(plans).toEqual([[]]);
  });
});
