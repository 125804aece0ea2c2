// Patch-trigger inversion: per class c a mask m_c ∈ [0,1]^{H×W} and pattern p_c ∈ [0,1]^{H×W×C},
// x' = (1−m)⊙x + m⊙p, minimising margin(x', c) + λ_c·|m_c|₁ (Neural Cleanse's objective with
// CLIP-Inspector's margin loss), all classes in one batched tensor. λ_c adapts per class after
// every epoch (up ×2 while the trigger works, down ÷1.5 while it does not, as NC does per step);
// the smallest mask reaching ASR ≥ `asrTarget` is kept. A backdoor target needs an anomalously
// small mask. NC's MAD anomaly index is reported per class, but with 10 classes some digits are
// naturally cheap targets and the MAD is wide, so the decision statistic is the log ratio
// ln(median L1 / smallest L1): how many times smaller than usual the easiest trigger is.
// An all-to-all backdoor (y → y + 1) has no such class: its patch sends each class somewhere
// else. The optional untargeted row asks for that directly, one mask and pattern that take the
// probes off the class the model gives them (to any other), in the same batch and schedule; the
// verdict compares it with the per-class masks (docs/detection.md, "An untargeted mask").
import * as tf from '@tensorflow/tfjs';
import { sliceImages, type ImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { accumulatedStep, blocks, spans, UNLIMITED_ROWS, type RowLimits } from './batching.js';
import { maxTestableShare } from './inversion.js';
import { classMajor, presentClasses, targetMargins, winMask } from './objective.js';
import { readAndDispose } from '../engine/read.js';
import { median } from './robust.js';

export interface MaskInversionOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** First λ once a class's trigger works; NC's init_cost. */
  initialLambda: number;
  asrTarget: number;
  /** Probe images used (the first ones); each epoch passes over all of them. */
  maxImages: number;
  seed: number;
  /** Rows per pass that fit in memory; a bigger step is accumulated over blocks. */
  rows: RowLimits;
  /** Called after each epoch with (epochs done, epochs in all), for progress lines. */
  onProgress?: (done: number, total: number) => void;
  /** The classes to invert (all when absent); the others are listed as screened, with no mask (see schedule.ts). */
  classes?: readonly number[];
  /**
   * Side of the square blocks of pixels the mask is made of (1, the scans': one value per pixel).
   * Larger blocks make a scatter of single pixels cost as much as a patch; measured on residual
   * networks (scripts/experiments/mask-form.ts) and not used by the scans.
   */
  block?: number;
  /**
   * Also invert the untargeted mask (single-label heads of 3+ classes; ignored otherwise). A
   * sharded scan runs it in one shard only (src/scan/registry.ts).
   */
  untargeted?: boolean;
}

export const DEFAULT_MASK_INVERSION: MaskInversionOptions = {
  epochs: 16,
  batchSize: 16,
  learningRate: 0.1,
  initialLambda: 1e-3,
  asrTarget: 0.9,
  maxImages: 128,
  seed: 0,
  rows: UNLIMITED_ROWS,
};

export interface ClassMask {
  class: number;
  /** L1 norm of the best mask (pixels), or the image area when no mask reached the ASR target. */
  maskL1: number;
  /** ASR of the best mask; for a class that never reached the target, the highest ASR any epoch's mask reached. */
  asr: number;
  /** NC anomaly index: (median − L1) / (1.4826·MAD); large = suspiciously small trigger. */
  anomaly: number;
  /** Fraction of the probes already predicted as the class; above half it is not voted (see inversion.ts). */
  share: number;
  testable: boolean;
  /** Inverted at the screening budget only (many classes, see schedule.ts): reported, not voted. */
  screened?: boolean;
}

/** The untargeted mask: one patch taking the probes off their own class, to any other. */
export interface UntargetedMask {
  /** L1 of the smallest mask that took ≥ `asrTarget` of the probes off their class; the image area when none did. */
  maskL1: number;
  /** Its share of probes moved; for a mask that never reached the target, the highest share any epoch's reached. */
  asr: number;
}

export interface MaskInversionResult {
  method: 'mask-inversion';
  options: MaskInversionOptions;
  perClass: ClassMask[];
  suspectedTarget: number | null;
  /** ln(median L1 / smallest valid L1); 0 when no class reached the ASR target. */
  ratio: number;
  /** Classes whose mask reached the ASR target within the budget. */
  classesReached: number;
  /**
   * Fewer than half the classes reached the target: the median is then the image area, not a
   * typical mask, and the ratio says nothing (0). Happens with small budgets on large models.
   */
  inconclusive: boolean;
  /** Present when the scan inverted it (see MaskInversionOptions.untargeted). */
  untargeted?: UntargetedMask;
  /** Best masks [K, H, W] and patterns [K, H, W, C] (pixel space). */
  masks: Float32Array;
  patterns: Float32Array;
  seconds: number;
}

/**
 * The statistics across the classes run in full (a schedule's screened ones keep their entry): NC's
 * anomaly index, how many reached the ASR target (a class reached it exactly when its ASR is at
 * least the target), and the log ratio of the median mask to the smallest valid one. A function of
 * the per-class entries alone, so a merge of shards computes what one scan would.
 */
export function maskStatistics<T extends Omit<ClassMask, 'anomaly'> & { anomaly?: number }>(
  entries: readonly T[],
  asrTarget: number,
): Pick<MaskInversionResult, 'suspectedTarget' | 'ratio' | 'classesReached' | 'inconclusive'> & { perClass: Array<T & { anomaly: number }> } {
  const full = entries.filter((p) => !p.screened);
  const l1 = full.map((p) => p.maskL1);
  const med = median(l1);
  const mad = Math.max(1.4826 * median(l1.map((v) => Math.abs(v - med))), 1e-6);
  const perClass = entries.map((p) => ({ ...p, anomaly: p.screened ? (p.anomaly ?? 0) : (med - p.maskL1) / mad }));
  const classesReached = full.filter((p) => p.asr >= asrTarget).length;
  const inconclusive = classesReached < full.length / 2;
  const best = perClass
    .filter((p) => !p.screened && p.asr >= asrTarget && p.testable)
    .reduce<(typeof perClass)[number] | null>((a, p) => (!a || p.maskL1 < a.maskL1 ? p : a), null);
  return {
    perClass,
    suspectedTarget: best && !inconclusive ? best.class : null,
    ratio: best && !inconclusive ? Math.log(med / Math.max(best.maskL1, 1e-3)) : 0,
    classesReached,
    inconclusive,
  };
}

export async function reconstructMasks(model: ModelUnderTest, allProbes: ImageSet, options: Partial<MaskInversionOptions> = {}): Promise<MaskInversionResult> {
  const opts = { ...DEFAULT_MASK_INVERSION, ...options };
  const probe = sliceImages(allProbes, 0, Math.min(allProbes.count, opts.maxImages));
  const t0 = performance.now();
  const K = model.numClasses;
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const classes = opts.classes ? [...opts.classes] : [...Array(K).keys()];
  // Slots: one mask and pattern per class in `classes`, then the untargeted one when asked for.
  // "Off its own class" is a single-label notion (a multi-label image may have none), and with two
  // classes it is the other class's mask.
  const untargeted = opts.untargeted === true && model.decision === 'single-label' && K >= 3;
  const slots = classes.length + (untargeted ? 1 : 0);
  const u = classes.length; // the untargeted slot, when there is one
  // tanh parametrisation keeps m and p in [0,1] without projection (as NC does). A class's
  // starting pattern is the one a scan of all classes would give it.
  const side = opts.block ?? 1;
  const [hb, wb] = [Math.ceil(H / side), Math.ceil(W / side)];
  const maskVar = tf.variable(tf.fill([slots, hb, wb, 1], -2)); // m ≈ 0.12 at start
  const patternVar = tf.variable(
    tf.tidy(() => {
      const all = tf.randomNormal([K, H, W, C], 0, 0.5, 'float32', opts.seed + 1);
      const perClass = opts.classes ? tf.gather(all, classes) : all;
      // The untargeted slot's own draw (the one the experiment measured: docs/detection.md).
      return untargeted ? tf.concat([perClass, tf.randomNormal([1, H, W, C], 0, 0.5, 'float32', opts.seed + 1)]) : perClass;
    }),
  );
  // Per slot: λ, the smallest mask that reached the target and its ASR, and the highest ASR any
  // epoch's mask reached (what a slot that never reached the target reports).
  const lambda = new Float64Array(slots);
  const bestL1 = new Float64Array(slots).fill(Infinity);
  const bestAsr = new Float64Array(slots);
  const topAsr = new Float64Array(slots);
  const masks = new Float32Array(K * H * W);
  const patterns = new Float32Array(K * n);
  const optimizer = tf.train.adam(opts.learningRate, 0.5, 0.9);
  const share = new Float64Array(K);
  // Each probe's own class (the model's answer on it): what the untargeted mask moves it off.
  const own: number[] = [];
  for (const [s, e] of spans(probe.count, opts.rows.forward)) {
    const logits = tf.tidy(() => model.logits(tf.tensor4d(probe.x.subarray(s * n, e * n), [e - s, H, W, C])));
    const present = await presentClasses(logits, model.decision);
    logits.dispose();
    for (const cs of present) {
      for (const c of cs) share[c] += 1 / probe.count;
      own.push(cs[0] ?? 0);
    }
  }
  const toMask = (v: tf.Tensor) => tf.add(tf.div(tf.tanh(v), 2), 0.5);
  /** A mask variable's blocks spread onto the pixels: [k', H, W, 1]. */
  const toPixelMask = (v: tf.Tensor) => {
    const m = toMask(v);
    if (side === 1) return m;
    const kk = v.shape[0];
    const spread = tf.reshape(tf.mul(tf.reshape(m, [kk, hb, 1, wb, 1, 1]), tf.ones([1, 1, side, 1, side, 1])), [kk, hb * side, wb * side, 1]);
    return hb * side === H && wb * side === W ? spread : tf.slice(spread, [0, 0, 0, 0], [kk, H, W, 1]);
  };
  /** x stamped with the masks of slots [c0, c1): [(c1−c0)·B, H, W, C], slot-major. */
  const stamp = (x: tf.Tensor4D, c0: number, c1: number) => {
    const m = toPixelMask(tf.slice(maskVar, [c0, 0, 0, 0], [c1 - c0, hb, wb, 1]));
    const p = toMask(tf.slice(patternVar, [c0, 0, 0, 0], [c1 - c0, H, W, C]));
    const xs = tf.add(tf.mul(tf.sub(1, tf.expandDims(m, 1)), tf.expandDims(x, 0)), tf.expandDims(tf.mul(m, p), 1)); // [k,B,H,W,C]
    return tf.reshape(xs, [(c1 - c0) * x.shape[0], H, W, C]) as tf.Tensor4D;
  };

  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const hits = new Float64Array(slots);
    // Each block's wins per row (a class slot's row wins when the class does, the untargeted
    // slot's when the image's own class no longer does), kept past the step and read once the
    // epoch is done.
    const won: Array<{ slots: number[]; mask: tf.Tensor }> = [];
    let seen = 0;
    const lam = tf.tensor1d(Array.from(lambda));
    for (const [s, e] of spans(probe.count, opts.batchSize)) {
      const b = e - s;
      // Loss: Σ_slot [mean_i hinge(slot, i) + λ_slot·|m_slot|₁], summed block by block (λ terms once per slot).
      const parts = blocks(slots, b, opts.rows.gradient).map((blk) => () => {
        const nb = blk.e - blk.s;
        const x = tf.tensor4d(probe.x.subarray((s + blk.s) * n, (s + blk.e) * n), [nb, H, W, C]);
        const slotOfRow = classMajor(
          Array.from({ length: blk.c1 - blk.c0 }, (_, j) => blk.c0 + j),
          nb,
        );
        const targets = slotOfRow.map((j, r) => (j === u ? own[s + blk.s + (r % nb)] : classes[j]));
        const logits = model.logits(stamp(x, blk.c0, blk.c1));
        // targetMargins is "best other − target": a class row wants it below −1, the untargeted
        // row (its target being the image's own class) above 1.
        const margins = targetMargins(logits, targets, model.decision);
        const wins = winMask(logits, targets, model.decision);
        // The untargeted slot's rows (present when this block reaches it) win when the own class loses.
        const awayRows = untargeted && blk.c1 > u ? slotOfRow.map((j) => j === u) : undefined;
        const away = awayRows && tf.tensor1d(awayRows.map(Number), 'bool');
        won.push({ slots: slotOfRow, mask: tf.keep(away ? tf.where(away, tf.sub(1, wins), wins) : wins) });
        const signed = away ? tf.where(away, tf.neg(margins), margins) : margins;
        const hinge = tf.div(tf.sum(tf.relu(tf.add(signed, 1))), b); // hinge at margin 1
        if (blk.s > 0) return hinge as tf.Scalar;
        const l1 = tf.sum(toPixelMask(tf.slice(maskVar, [blk.c0, 0, 0, 0], [blk.c1 - blk.c0, hb, wb, 1])), [1, 2, 3]);
        return tf.add(hinge, tf.sum(tf.mul(tf.slice(lam, [blk.c0], [blk.c1 - blk.c0]), l1))) as tf.Scalar;
      });
      tf.tidy(() => {
        accumulatedStep(optimizer, [maskVar, patternVar], parts);
      });
      seen += b;
    }
    lam.dispose();
    for (const { slots: of, mask } of won) (await readAndDispose(mask)).forEach((w, r) => w > 0 && hits[of[r]]++);
    const l1Now = await readAndDispose(tf.tidy(() => tf.sum(toPixelMask(maskVar), [1, 2, 3])));
    const m = await readAndDispose(tf.tidy(() => toPixelMask(maskVar)));
    const p = await readAndDispose(tf.tidy(() => toMask(patternVar)));
    for (let j = 0; j < slots; j++) {
      const asr = hits[j] / seen;
      topAsr[j] = Math.max(topAsr[j], asr);
      if (asr >= opts.asrTarget) {
        if (l1Now[j] < bestL1[j]) {
          bestL1[j] = l1Now[j];
          bestAsr[j] = asr;
          if (j < u) {
            const c = classes[j];
            masks.set(m.subarray(j * H * W, (j + 1) * H * W), c * H * W);
            patterns.set(p.subarray(j * n, (j + 1) * n), c * n);
          }
        }
        lambda[j] = lambda[j] === 0 ? opts.initialLambda : lambda[j] * 2;
      } else if (lambda[j] > 0) {
        lambda[j] /= 1.5;
      }
    }
    opts.onProgress?.(epoch + 1, opts.epochs);
  }
  optimizer.dispose();
  maskVar.dispose();
  patternVar.dispose();

  // Every class is listed; one not run (a schedule's screened one) with its probe share and no mask.
  const slotOf = new Map(classes.map((c, j) => [c, j]));
  const reachedAt = (j: number) => (Number.isFinite(bestL1[j]) ? { maskL1: bestL1[j], asr: bestAsr[j] } : { maskL1: H * W, asr: topAsr[j] });
  const perClass = [...Array(K).keys()].map((c) => {
    const testable = share[c] <= maxTestableShare(K, model.decision);
    const j = slotOf.get(c);
    if (j === undefined) return { class: c, maskL1: H * W, asr: 0, share: share[c], testable, screened: true };
    return { class: c, ...reachedAt(j), share: share[c], testable };
  });
  return {
    method: 'mask-inversion',
    options: opts,
    ...maskStatistics(perClass, opts.asrTarget),
    ...(untargeted ? { untargeted: reachedAt(u) } : {}),
    masks,
    patterns,
    seconds: (performance.now() - t0) / 1000,
  };
}
