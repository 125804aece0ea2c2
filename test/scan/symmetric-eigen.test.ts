// The Hessian scan's eigensolver against ml-matrix's full symmetric decomposition (the reference
// it replaced) and against matrices with a known spectrum.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { symmetricSpectrum } from '../../src/scan/symmetric-eigen.js';
import { mulberry32 } from '../../src/util/random.js';

/** BᵀB for a random r×n B (PSD, rank min(r, n)), row-major, plus `spike`·wwᵀ for a random unit w. */
function gram(n: number, r: number, seed: number, spike = 0): Float64Array {
  const rand = mulberry32(seed);
  const b = Float64Array.from({ length: r * n }, () => rand() - 0.5);
  const w = Float64Array.from({ length: n }, () => rand() - 0.5);
  const wn = Math.hypot(...w);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let acc = (spike * w[i] * w[j]) / (wn * wn);
      for (let k = 0; k < r; k++) acc += b[k * n + i] * b[k * n + j];
      m[i * n + j] = acc;
    }
  return m;
}

function reference(m: Float64Array, n: number) {
  const evd = new EigenvalueDecomposition(new Matrix(Array.from({ length: n }, (_, i) => Array.from(m.subarray(i * n, (i + 1) * n)))), {
    assumeSymmetric: true,
  });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  return { values: order.map(([v]) => v), vector: evd.eigenvectorMatrix.getColumn(order[0][1]) };
}

describe('symmetricSpectrum', () => {
  for (const [name, n, r, spike] of [
    ['full rank', 60, 90, 0],
    ['rank deficient (Gram of fewer rows)', 80, 30, 0],
    ['a spiked top eigenvalue', 70, 70, 40],
    ['1×1', 1, 3, 0],
  ] as const) {
    it(`matches ml-matrix's decomposition: ${name}`, () => {
      const m = gram(n, r, n + r, spike);
      const ours = symmetricSpectrum(m, n);
      const ref = reference(m, n);
      const top = Math.abs(ref.values[0]);
      for (let i = 0; i < n; i++) expect(Math.abs(ours.values[i] - ref.values[i]) / top, `eigenvalue ${i}`).toBeLessThan(1e-10);
      const cos = Math.abs(ours.vector.reduce((acc, v, i) => acc + v * ref.vector[i], 0));
      expect(cos).toBeGreaterThan(1 - 1e-9);
      expect(Math.hypot(...ours.vector)).toBeCloseTo(1, 12);
    });
  }

  it('finds a known spectrum: Q diag(λ) Qᵀ with a Householder Q', () => {
    const n = 40;
    const lambda = Array.from({ length: n }, (_, i) => (i === 0 ? 50 : 10 / (i + 1)));
    const rand = mulberry32(7);
    const h = Float64Array.from({ length: n }, () => rand() - 0.5);
    const hn = h.reduce((a, v) => a + v * v, 0);
    const q = (i: number, j: number) => (i === j ? 1 : 0) - (2 * h[i] * h[j]) / hn;
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) m[i * n + j] += q(i, k) * lambda[k] * q(j, k);
    const { values, vector } = symmetricSpectrum(m, n);
    const sorted = [...lambda].sort((a, b) => b - a);
    values.forEach((v, i) => expect(v).toBeCloseTo(sorted[i], 10));
    // The top eigenvector is Q's first column.
    const cos = Math.abs(vector.reduce((acc, v, i) => acc + v * q(i, 0), 0));
    expect(cos).toBeGreaterThan(1 - 1e-12);
  });

  it('returns zeros and a unit vector for the zero matrix', () => {
    const { values, vector } = symmetricSpectrum(new Float64Array(9), 3);
    expect(Array.from(values)).toEqual([0, 0, 0]);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 12);
  });
});
