// Input-Hessian spectrum scan (after Granziol & Flynn, "A Linear Approach to Data Poisoning"):
// a backdoor shows up as an outlier eigenvalue of the loss Hessian with respect to the input,
// aligned with the trigger. For piecewise-linear networks (ReLU, max-pool) the cross-entropy
// input Hessian is exactly the Gauss–Newton matrix H_i = J_iᵀ (diag p_i − p_i p_iᵀ) J_i, so no
// second-order autodiff is needed (tfjs has none through MaxPool). We average over the probe
// inputs, H̄ = (1/N) Σ H_i, and take its spectrum on whichever side is smaller: the D×D input
// side, or the (N·K)×(N·K) Gram side B Bᵀ with B = [A_i^{1/2} J_i / √N].
//
// The paper gives no outlier rule; ours (documented in the README) reports:
//  - gap: λ₁ / λ₂ (a lone spike),
//  - spikeZ: robust z-score of log λ₁ against the log-spectrum of the top `bulkSize` eigenvalues,
//  - localisation: inverse participation ratio of the top eigenvector's per-pixel energy, scaled by
//    the pixel count (1 = spread evenly over the image, large = concentrated on a few pixels, as a
//    patch trigger is),
//  - agreement: mean |cos| between the top eigenvector and each input's own top direction.
import * as tf from '@tensorflow/tfjs';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { ImageSet } from '../data/types.js';
import type { ModelUnderTest } from '../model/adapter.js';
import { spans, UNLIMITED_ROWS, type RowLimits } from './batching.js';
import { readAndDispose } from '../engine/read.js';
import { median } from './robust.js';
import { symmetricSpectrum } from './symmetric-eigen.js';

export interface HessianOptions {
  /** Probe inputs averaged over. */
  maxInputs: number;
  batchSize: number;
  /** Eigenvalues counted as the bulk the top one is compared with. */
  bulkSize: number;
  histogramBins: number;
  /** Cap on N·K·D (entries of B, 8 bytes each): large inputs get fewer probe inputs. */
  maxEntries: number;
  /**
   * Per input, the classes of highest probability whose logits enter H_i (all when K is at most
   * this). diag(p) − ppᵀ weighs class k by p_k, so the classes left out carry only their small
   * probability; without the cap the Jacobians and the eigenproblem grow with K.
   */
  maxClasses: number;
  /** Rows per differentiated pass that fit in memory. */
  rows: RowLimits;
}

export const DEFAULT_HESSIAN: HessianOptions = {
  maxInputs: 64,
  batchSize: 16,
  bulkSize: 50,
  histogramBins: 24,
  maxEntries: 32 * 1024 * 1024,
  maxClasses: 10,
  rows: UNLIMITED_ROWS,
};

export interface HessianResult {
  method: 'input-hessian';
  options: HessianOptions;
  inputs: number;
  /** The side whose eigenproblem was solved. */
  side: 'input' | 'gram';
  topEigenvalues: number[];
  /** Histogram of log10 eigenvalues (those above 1e-12 of λ₁): bin edges and counts. */
  histogram: { log10Edges: number[]; counts: number[] };
  gap: number;
  spikeZ: number;
  localisation: number;
  agreement: number;
  /** Top eigenvector, H×W×C, unit norm. */
  topEigenvector: Float32Array;
  seconds: number;
}

/**
 * For a batch, each input's `m` classes (all K in order when m = K, else those of highest
 * probability), their logits' input gradients J [B, m, D] and their probabilities [B, m]. Inputs
 * are independent in inference mode, so the classes share passes: the batch is repeated once per
 * class of a pass, as many classes a pass as `maxRows` allows.
 */
async function jacobians(model: ModelUnderTest, x: tf.Tensor4D, m: number, maxRows: number): Promise<{ J: Float32Array; probs: Float32Array }> {
  const K = model.numClasses;
  const [B] = x.shape;
  const D = x.size / B;
  // Multi-label heads are independent Bernoullis (sigmoid cross-entropy), the rest one softmax.
  const all = (await readAndDispose(
    tf.tidy(() => (model.decision === 'multi-label' ? tf.sigmoid(model.logits(x)) : tf.softmax(model.logits(x)))),
  )) as Float32Array;
  const chosen = Array.from({ length: B }, (_, b) => {
    const order = [...Array(K).keys()];
    return m < K ? order.sort((i, j) => all[b * K + j] - all[b * K + i]).slice(0, m) : order;
  });
  const J = new Float32Array(B * m * D);
  const probs = new Float32Array(B * m);
  const perPass = Math.max(1, Math.min(m, Math.floor(maxRows / B)));
  for (let r0 = 0; r0 < m; r0 += perPass) {
    const rs = Math.min(perPass, m - r0);
    // Rows class-major: row j·B + b is input b's (r0 + j)-th class.
    const pick = Array.from({ length: rs * B }, (_, i) => chosen[i % B][r0 + Math.floor(i / B)]);
    const g = tf.tidy(() => {
      const onehot = tf.oneHot(tf.tensor1d(pick, 'int32'), K);
      const xs = rs === 1 ? x : tf.concat(Array<tf.Tensor4D>(rs).fill(x), 0);
      return tf.grad((input: tf.Tensor) => tf.sum(tf.mul(model.logits(input as tf.Tensor4D), onehot)))(xs);
    });
    const data = await readAndDispose(g);
    for (let j = 0; j < rs; j++)
      for (let b = 0; b < B; b++) {
        const r = r0 + j;
        J.set(data.subarray((j * B + b) * D, (j * B + b + 1) * D), (b * m + r) * D);
        probs[b * m + r] = all[b * K + chosen[b][r]];
      }
  }
  return { J, probs };
}

/** Symmetric square root of the output Fisher: diag(p) − ppᵀ, or diag(p(1−p)) for independent labels (PSD, K×K). */
function sqrtFisher(p: Float32Array | number[], independent = false): Matrix {
  const K = p.length;
  const A = new Matrix(K, K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) A.set(i, j, independent ? (i === j ? p[i] * (1 - p[i]) : 0) : (i === j ? p[i] : 0) - p[i] * p[j]);
  const evd = new EigenvalueDecomposition(A, { assumeSymmetric: true });
  const V = evd.eigenvectorMatrix;
  const s = evd.realEigenvalues.map((l) => Math.sqrt(Math.max(0, l)));
  return V.mmul(Matrix.diag(s)).mmul(V.transpose());
}

export async function hessianSpectrum(model: ModelUnderTest, probe: ImageSet, options: Partial<HessianOptions> = {}): Promise<HessianResult> {
  const opts = { ...DEFAULT_HESSIAN, ...options };
  const t0 = performance.now();
  // Classes per input: rows of B per input.
  const K = Math.min(model.numClasses, opts.maxClasses);
  const [H, W, C] = model.inputShape;
  const D = H * W * C;
  const N = Math.max(1, Math.min(opts.maxInputs, probe.count, Math.floor(opts.maxEntries / (K * D))));
  // B: rows A_i^{1/2} J_i / √N, (N·K) × D.
  const Bm = new Float64Array(N * K * D);
  const perInputTop: Float64Array[] = [];
  for (const [s, e] of spans(N, Math.min(opts.batchSize, opts.rows.gradient))) {
    const x = tf.tensor4d(probe.x.subarray(s * D, e * D), [e - s, H, W, C]);
    const { J, probs } = await jacobians(model, x, K, opts.rows.gradient);
    x.dispose();
    for (let b = 0; b < e - s; b++) {
      const S = sqrtFisher(probs.subarray(b * K, (b + 1) * K), model.decision === 'multi-label');
      const rows = new Float64Array(K * D);
      for (let r = 0; r < K; r++)
        for (let k = 0; k < K; k++) {
          const w = S.get(r, k) / Math.sqrt(N);
          if (w === 0) continue;
          const src = (b * K + k) * D;
          for (let d = 0; d < D; d++) rows[r * D + d] += w * J[src + d];
        }
      Bm.set(rows, (s + b) * K * D);
      // This input's own top direction: the row of largest norm of A^{1/2} J (a cheap proxy).
      let best = 0;
      let bestNorm = -1;
      for (let r = 0; r < K; r++) {
        let nrm = 0;
        for (let d = 0; d < D; d++) nrm += rows[r * D + d] ** 2;
        if (nrm > bestNorm) [best, bestNorm] = [r, nrm];
      }
      perInputTop.push(rows.slice(best * D, (best + 1) * D));
    }
  }
  const R = N * K;
  let top: Float64Array;
  // Eigenproblem on the smaller side: H̄ = BᵀB (D×D) or the Gram matrix BBᵀ (R×R), same spectrum.
  const side: HessianResult['side'] = D <= R ? 'input' : 'gram';
  const size = side === 'input' ? D : R;
  const entry =
    side === 'input'
      ? (i: number, j: number) => {
          let acc = 0;
          for (let r = 0; r < R; r++) acc += Bm[r * D + i] * Bm[r * D + j];
          return acc;
        }
      : (a: number, b: number) => {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += Bm[a * D + d] * Bm[b * D + d];
          return acc;
        };
  const M = new Float64Array(size * size);
  for (let i = 0; i < size; i++)
    for (let j = i; j < size; j++) {
      const v = entry(i, j);
      M[i * size + j] = v;
      M[j * size + i] = v;
    }
  const { values, vector: u } = symmetricSpectrum(M, size);
  const eigenvalues = Array.from(values, (v) => Math.max(0, v));
  if (side === 'input') top = u;
  else {
    // Input-space eigenvector from the Gram one: Bᵀu (normalised below).
    top = new Float64Array(D);
    for (let r = 0; r < R; r++) for (let d = 0; d < D; d++) top[d] += u[r] * Bm[r * D + d];
  }
  // A loop, not Math.hypot(...top): spreading 150k arguments overflows the stack on 224-px inputs.
  let sq = 0;
  for (let d = 0; d < D; d++) sq += top[d] * top[d];
  const norm = Math.sqrt(sq) || 1;
  for (let d = 0; d < D; d++) top[d] /= norm;

  const l1 = eigenvalues[0] || 0;
  const positive = eigenvalues.filter((v) => v > l1 * 1e-12);
  const logs = positive.slice(0, opts.bulkSize).map((v) => Math.log10(v));
  const m = median(logs);
  const mad = Math.max(1.4826 * median(logs.map((v) => Math.abs(v - m))), 1e-6);
  // Per-pixel energy of the top eigenvector (channels summed), then its participation ratio.
  const pixel = new Float64Array(H * W);
  for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) pixel[i] += top[i * C + c] ** 2;
  const ipr = pixel.reduce((acc, v) => acc + v * v, 0);
  const agreement =
    perInputTop.reduce((acc, v) => {
      let dot = 0;
      let vn = 0;
      for (let d = 0; d < D; d++) {
        dot += v[d] * top[d];
        vn += v[d] * v[d];
      }
      return acc + Math.abs(dot) / (Math.sqrt(vn) || 1);
    }, 0) / Math.max(1, perInputTop.length);
  const lo = Math.log10(positive.at(-1) ?? 1e-12);
  const hi = Math.log10(l1 || 1);
  const width = (hi - lo) / opts.histogramBins || 1;
  const counts = new Array<number>(opts.histogramBins).fill(0);
  for (const v of positive) counts[Math.min(opts.histogramBins - 1, Math.floor((Math.log10(v) - lo) / width))]++;
  return {
    method: 'input-hessian',
    options: opts,
    inputs: N,
    side,
    topEigenvalues: eigenvalues.slice(0, 20),
    histogram: { log10Edges: Array.from({ length: opts.histogramBins + 1 }, (_, i) => lo + i * width), counts },
    gap: eigenvalues[1] > 0 ? l1 / eigenvalues[1] : Infinity,
    spikeZ: logs.length ? (Math.log10(l1) - m) / mad : 0,
    localisation: ipr * H * W,
    agreement,
    topEigenvector: Float32Array.from(top),
    seconds: (performance.now() - t0) / 1000,
  };
}
